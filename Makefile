# PACS Portal task runner. The README's two commands: `make run` and `make test`.
SHELL := /bin/bash
ROOT := $(abspath .)
VENV := $(ROOT)/.venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
PACS := $(VENV)/bin/pacs
BACKEND := $(ROOT)/backend
FRONTEND := $(ROOT)/frontend
# Debian packages the tests and benchmarks drive (real DICOM peers, the pooler, the browser, Orthanc,
# dicom3tools' dciodvfy for the synthetic IODs, iproute2's ss for the worker-process tests).
APT_PACKAGES := dcmtk pgbouncer chromium orthanc orthanc-dicomweb haproxy shellcheck dicom3tools iproute2

.PHONY: help install system-deps run serve migrate seed test test-backend lint bench clean frontend-install frontend-build \
	deploy-check drill

help:
	@echo "make run     - install, migrate and start PACS Portal (embedded PostgreSQL unless PACS_DATABASE_URL)"
	@echo "make test    - install what the tests need and run them all"
	@echo "make lint    - ruff and mypy"
	@echo "make seed    - synthetic demo studies into the archive (pacs seed; see pacs synth --help)"
	@echo "make bench   - benchmarks against Orthanc (see bench/README.md)"
	@echo "make deploy-check - hadolint, compose/Cloud Build/Kubernetes schemas, shellcheck"
	@echo "make drill   - the preemption drill (DRILL_SECONDS=60)"

$(VENV)/.installed: $(BACKEND)/requirements-dev.lock $(BACKEND)/pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -r $(BACKEND)/requirements-dev.lock
	$(PIP) install -q --no-deps -e $(BACKEND)
	@touch $@

install: $(VENV)/.installed

# Debian packages (needs root or sudo); skipped when everything is already there.
system-deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q $$missing; \
	fi

migrate: install
	$(PACS) migrate

# The portal: the built SPA served by `vite preview` at :4200 (PACS_PORTAL_PORT), proxying /api and /dicom-web to
# the API at :8000; the API runs in the foreground and Ctrl-C stops both.
run: install frontend-build
	@mkdir -p $(ROOT)/var; \
	  (cd $(FRONTEND) && PACS_PORTAL_HOST=$${PACS_PORTAL_HOST:-0.0.0.0} \
	    PACS_API_URL=$${PACS_API_URL:-http://127.0.0.1:$${PACS_HTTP_PORT:-8000}} \
	    exec ./node_modules/.bin/vite preview --strictPort >$(ROOT)/var/portal.log 2>&1) & portal=$$!; \
	  trap 'kill $$portal 2>/dev/null' EXIT INT TERM; \
	  echo "portal: http://127.0.0.1:$${PACS_PORTAL_PORT:-4200} (log var/portal.log)"; \
	  $(PACS) serve --migrate

seed: install
	$(PACS) seed

test: install system-deps frontend-build
	cd $(FRONTEND) && npm test
	cd $(BACKEND) && $(PY) -m pytest -q -p no:cacheprovider tests src/pacs ../frontend/e2e

# Front end (Vite + React + TypeScript): dependencies from package-lock.json, then the production build in frontend/dist.

$(FRONTEND)/node_modules/.installed: $(FRONTEND)/package-lock.json $(FRONTEND)/package.json
	@command -v npm >/dev/null || { echo "npm not found: install Node.js >= 20.19 (https://nodejs.org)"; exit 1; }
	cd $(FRONTEND) && npm ci --no-audit --no-fund
	@touch $@

frontend-install: $(FRONTEND)/node_modules/.installed

frontend-build: frontend-install
	cd $(FRONTEND) && npm run build

lint: install frontend-install
	cd $(FRONTEND) && npm run typecheck && npm run lint
	$(VENV)/bin/ruff check $(FRONTEND)/e2e $(FRONTEND)/scripts && $(VENV)/bin/ruff format --check $(FRONTEND)/e2e $(FRONTEND)/scripts
	cd $(BACKEND) && $(VENV)/bin/ruff check src tests && $(VENV)/bin/ruff format --check src tests && $(VENV)/bin/mypy src
	$(VENV)/bin/ruff check --config $(BACKEND)/pyproject.toml deploy && $(VENV)/bin/ruff format --check --config $(BACKEND)/pyproject.toml deploy

bench: install system-deps
	$(PY) bench/run.py

# Deployment static checks (backend/tests/static, also part of `make test`): hadolint, the Compose Specification
# and Cloud Build schemas, `kustomize build` of every overlay against the Kubernetes schemas, shellcheck.
deploy-check: install system-deps
	cd $(BACKEND) && $(PY) -m pytest -q -p no:cacheprovider tests/static

# The preemption drill (deploy/drill/drill.py): DRILL_SECONDS of mixed load through HAProxy to two API replicas
# (pgbouncer, transaction mode) while one is SIGKILLed and one SIGTERMed. Last line: drill: sent=N failed=F lost=L.
DRILL_SECONDS ?= 60
drill: install system-deps
	$(PY) deploy/drill/drill.py --seconds $(DRILL_SECONDS)

clean:
	rm -rf $(VENV) var
