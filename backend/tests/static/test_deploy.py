"""Static checks of the deployment files (``make deploy-check``; also part of ``make test``).

- hadolint on both Dockerfiles (settings in deploy/hadolint.yaml), plus the shape the issue asks for:
  multi-stage, Alpine, non-root, a HEALTHCHECK;
- docker-compose.yml against the Compose Specification JSON schema (as vendored by check-jsonschema), plus the
  stack's shape: services, ports, healthchecks, ``depends_on`` conditions, named volumes, no committed password;
- cloudbuild.yaml against the Cloud Build schema;
- ``kustomize build`` (kubectl's built-in kustomize) of every overlay, every object validated against the
  Kubernetes 1.33 schemas (kubernetes-validate, strict: unknown fields are errors); the GKE custom resources
  (BackendConfig, ManagedCertificate), which it has no schema for, against small schemas of their documented
  fields; plus what the issue asks of the manifests (replicas, anti-affinity, PDBs, probes, spot, HPA, ...);
- shellcheck on every shell script; ``haproxy -c`` on the drill's HAProxy config; pgcat.toml renders to valid
  TOML in transaction mode and its Kubernetes copy is identical.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from string import Template
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent
K8S_VERSION = "1.33.0"  # GKE's regular channel at the time of writing
OVERLAYS = sorted(
    p.name for p in (ROOT / "k8s" / "overlays").iterdir() if (p / "kustomization.yaml").exists()
)
# e2-medium: 2 shared vCPUs, 4 GB; GKE leaves about this much to pods.
E2_MEDIUM_ALLOCATABLE = {"cpu_m": 940, "memory_mi": 2800}


def tool(name: str) -> str:
    """A tool from the venv (hadolint, kubectl, check-jsonschema) or the system (shellcheck, haproxy)."""
    path = BIN / name
    if path.exists():
        return str(path)
    found = shutil.which(name) or (f"/usr/sbin/{name}" if Path(f"/usr/sbin/{name}").exists() else None)
    if not found:
        pytest.fail(f"{name} is not installed: run `make install system-deps`")
    return found


def run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=120)


# -- Dockerfiles ------------------------------------------------------------------------------------------------
DOCKERFILES = ["backend/Dockerfile", "frontend/Dockerfile"]


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_hadolint(dockerfile: str) -> None:
    res = run(tool("hadolint"), "--no-color", "--config", "deploy/hadolint.yaml", dockerfile)
    assert res.returncode == 0, res.stdout + res.stderr


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_dockerfile_shape(dockerfile: str) -> None:
    text = (ROOT / dockerfile).read_text()
    froms = re.findall(r"^FROM\s+(\S+)", text, re.M)
    assert len(froms) >= 2, "multi-stage: a build stage and a runtime stage"
    assert all("alpine" in f for f in froms), f"Alpine-based stages: {froms}"
    final = text[text.rindex("\nFROM ") :]
    users = re.findall(r"^USER\s+(\S+)", final, re.M)
    assert users, "the runtime stage sets USER"
    assert users[-1].split(":")[0] not in ("root", "0"), "runs as non-root"
    assert re.search(r"^HEALTHCHECK\s", final, re.M), "the runtime stage has a HEALTHCHECK"


def test_backend_image_keeps_what_pacs_migrate_needs() -> None:
    """`pacs migrate` finds alembic.ini and migrations/ beside src/: the image and its ignore file keep them."""
    text = (ROOT / "backend" / "Dockerfile").read_text()
    for item in ("alembic.ini", "migrations", "src", "requirements.lock"):
        assert item in text
        assert f"!{item}" in (ROOT / "backend" / ".dockerignore").read_text()


# -- compose ----------------------------------------------------------------------------------------------------
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_matches_the_compose_specification() -> None:
    res = run(tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", "docker-compose.yml")
    assert res.returncode == 0, res.stdout + res.stderr


def test_compose_schema_check_catches_mistakes(tmp_path: Path) -> None:
    """The schema check is not a rubber stamp: a wrong depends_on condition fails it."""
    bad = tmp_path / "docker-compose.yml"
    bad.write_text((ROOT / "docker-compose.yml").read_text().replace("service_healthy", "service_is_healthy"))
    res = run(tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(bad))
    assert res.returncode != 0


def test_compose_stack_shape() -> None:
    c = compose()
    s = c["services"]
    assert set(s) >= {"postgres", "pgcat", "migrate", "api", "portal"}
    assert re.search(r"postgres:18\b", s["postgres"]["image"])
    assert "pgcat" in s["pgcat"]["image"]
    assert "./pgcat.toml:" in " ".join(s["pgcat"]["volumes"])
    assert s["migrate"]["command"] == ["migrate"]
    assert s["migrate"]["restart"] == "no"
    assert s["api"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert s["api"]["depends_on"]["pgcat"]["condition"] == "service_healthy"
    assert s["pgcat"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert s["portal"]["depends_on"]["api"]["condition"] == "service_healthy"
    for name in ("postgres", "pgcat", "api", "portal"):
        assert "healthcheck" in s[name], f"{name} has a healthcheck"
    ports = " ".join(" ".join(map(str, svc.get("ports", []))) for svc in s.values())
    for published in ("4200", "8000", "11112"):
        assert re.search(rf"\b{published}\}}?:", ports), f"port {published} published"
    assert set(c["volumes"]) >= {"pgdata", "storage"}
    assert any(v.startswith("pgdata:") for v in s["postgres"]["volumes"])
    assert any(v.startswith("storage:") for v in s["api"]["volumes"])
    # Settings from the root .env, passwords never in the file.
    for name in ("migrate", "api"):
        assert any(e["path"] == ".env" for e in s[name]["env_file"])
    assert s["postgres"]["environment"]["POSTGRES_PASSWORD"].startswith("${POSTGRES_PASSWORD:?")
    assert "@pgcat:6432/" in s["api"]["environment"]["PACS_DATABASE_URL"]
    assert "@postgres:5432/" in s["api"]["environment"]["PACS_MIGRATE_DATABASE_URL"]


def test_cloudbuild_matches_its_schema() -> None:
    res = run(tool("check-jsonschema"), "--builtin-schema", "vendor.cloudbuild", "cloudbuild.yaml")
    assert res.returncode == 0, res.stdout + res.stderr
    steps = yaml.safe_load((ROOT / "cloudbuild.yaml").read_text())["steps"]
    scripts = " ".join(" ".join(st.get("args", [])) for st in steps)
    assert "backend/deploy-backend.sh" in scripts and "frontend/deploy-frontend.sh" in scripts


# -- PgCat ------------------------------------------------------------------------------------------------------
def test_pgcat_toml_renders_to_transaction_pooling() -> None:
    text = (ROOT / "pgcat.toml").read_text()
    assert (ROOT / "k8s" / "base" / "pgcat.toml").read_text() == text, "k8s/base/pgcat.toml is a copy"
    values = {
        "POSTGRES_HOST": "postgres",
        "POSTGRES_PORT": "5432",
        "POSTGRES_USER": "pacs",
        "POSTGRES_PASSWORD": "s3cret/&|x",
        "POSTGRES_DB": "pacs",
        "PGCAT_ADMIN_PASSWORD": "admin",
    }
    # the same substitution the containers run (perl -pe 's/__([A-Z_]+)__/$ENV{$1}/g')
    res = subprocess.run(
        ["perl", "-pe", "s/__([A-Z_]+)__/$ENV{$1}/g"],
        input=text,
        capture_output=True,
        text=True,
        env={**os.environ, **values},
        check=True,
    )
    assert "__" not in re.sub(r"#.*", "", res.stdout), "every placeholder filled in"
    cfg = tomllib.loads(res.stdout)
    pool = cfg["pools"]["pacs"]
    assert pool["pool_mode"] == "transaction"
    assert pool["users"]["0"]["password"] == values["POSTGRES_PASSWORD"]
    assert pool["shards"]["0"]["servers"] == [["postgres", 5432, "primary"]]
    assert cfg["general"]["shutdown_timeout"] <= 15000, "PgCat's drain fits a spot VM's 15 s"


# -- Kubernetes -------------------------------------------------------------------------------------------------
# The GKE custom resources kubernetes-validate has no schema for: their documented fields.
CRD_SCHEMAS: dict[str, dict[str, Any]] = {
    "cloud.google.com/v1/BackendConfig": {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {
            "spec": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "timeoutSec": {"type": "integer", "minimum": 1},
                    "connectionDraining": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {"drainingTimeoutSec": {"type": "integer", "minimum": 0}},
                    },
                    "healthCheck": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["requestPath"],
                        "properties": {
                            "type": {"enum": ["HTTP", "HTTPS", "HTTP2"]},
                            "requestPath": {"type": "string", "pattern": "^/"},
                            "port": {"type": "integer"},
                            "checkIntervalSec": {"type": "integer"},
                            "timeoutSec": {"type": "integer"},
                            "healthyThreshold": {"type": "integer"},
                            "unhealthyThreshold": {"type": "integer"},
                        },
                    },
                    "cdn": {"type": "object"},
                    "securityPolicy": {"type": "object"},
                    "logging": {"type": "object"},
                    "sessionAffinity": {"type": "object"},
                    "iap": {"type": "object"},
                },
            }
        },
    },
    "networking.gke.io/v1/ManagedCertificate": {
        "type": "object",
        "required": ["spec"],
        "properties": {
            "spec": {
                "type": "object",
                "additionalProperties": False,
                "required": ["domains"],
                "properties": {"domains": {"type": "array", "minItems": 1, "items": {"type": "string"}}},
            }
        },
    },
}


def build_overlay(name: str) -> list[dict[str, Any]]:
    res = run(tool("kubectl"), "kustomize", f"k8s/overlays/{name}")
    assert res.returncode == 0, res.stderr
    return [d for d in yaml.safe_load_all(res.stdout) if d]


def by_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def test_there_are_dev_and_prod_overlays() -> None:
    assert {"dev", "prod"} <= set(OVERLAYS)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_validates_against_kubernetes_schemas(overlay: str) -> None:
    docs = build_overlay(overlay)
    assert len(docs) > 10
    errors = []
    for doc in docs:
        key = f"{doc['apiVersion']}/{doc['kind']}"
        name = f"{key} {doc['metadata']['name']}"
        if key in CRD_SCHEMAS:
            try:
                jsonschema.validate(doc, CRD_SCHEMAS[key])
            except jsonschema.ValidationError as exc:
                errors.append(f"{name}: {exc.message}")
            continue
        try:
            kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            errors.append(f"{name}: {exc.message}")
        except kubernetes_validate.SchemaNotFoundError:
            errors.append(f"{name}: no schema (not a Kubernetes {K8S_VERSION} kind nor a known GKE one)")
    assert not errors, "\n".join(errors)


def test_kubernetes_validation_catches_mistakes() -> None:
    """Strict validation is not a rubber stamp: a misspelt field fails it."""
    deploy = by_kind(build_overlay("dev"), "Deployment")["pacs-api"]
    deploy["spec"]["template"]["spec"]["terminationGracePeriodSecond"] = 30
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deploy, K8S_VERSION, strict=True)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_runs_on_spot_vms_and_survives_preemption(overlay: str) -> None:
    docs = build_overlay(overlay)
    deployments = by_kind(docs, "Deployment")
    assert set(deployments) == {"pacs-api", "pacs-portal", "pacs-pgcat"}
    pdbs = {
        d["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"]
        for d in by_kind(docs, "PodDisruptionBudget").values()
    }
    secrets_used: set[str] = set()
    per_node = {"cpu_m": 0, "memory_mi": 0}
    for name, d in deployments.items():
        spec = d["spec"]
        assert spec["replicas"] >= 2, f"{name}: at least 2 replicas"
        pod = spec["template"]["spec"]
        assert pod["nodeSelector"] == {"cloud.google.com/gke-spot": "true"}, name
        assert any(t["key"] == "cloud.google.com/gke-spot" for t in pod["tolerations"]), name
        terms = pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
        assert any(
            t["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
            and t["podAffinityTerm"]["labelSelector"]["matchLabels"] == spec["selector"]["matchLabels"]
            for t in terms
        ), f"{name}: anti-affinity across nodes"
        assert 15 <= pod["terminationGracePeriodSeconds"] <= 60, name
        assert name in pdbs, f"{name}: a PodDisruptionBudget"
        assert pod["securityContext"]["runAsNonRoot"] is True
        for c in pod["containers"]:
            for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                assert probe in c, f"{name}/{c['name']}: {probe}"
            req, lim = c["resources"]["requests"], c["resources"]["limits"]
            assert "memory" in lim, f"{name}: a memory limit"
            per_node["cpu_m"] += _cpu_m(req["cpu"])
            per_node["memory_mi"] += _mem_mi(lim["memory"])
            for env in c.get("env", []):
                ref = env.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    secrets_used.add(ref["name"])
    # One replica of everything fits on one e2-medium, even at its memory limits.
    assert per_node["cpu_m"] <= E2_MEDIUM_ALLOCATABLE["cpu_m"], per_node
    assert per_node["memory_mi"] <= E2_MEDIUM_ALLOCATABLE["memory_mi"], per_node
    api = deployments["pacs-api"]["spec"]["template"]["spec"]["containers"][0]
    assert api["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert {p["containerPort"] for p in api["ports"]} == {8000, 11112}
    # Secrets are referenced, never committed.
    assert not by_kind(docs, "Secret"), "no Secret in the manifests"
    assert secrets_used == {"pacs-secrets"}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_services_ingress_job_hpa(overlay: str) -> None:
    docs = build_overlay(overlay)
    services = by_kind(docs, "Service")
    dimse = services["pacs-dimse"]
    assert dimse["spec"]["type"] == "LoadBalancer"
    assert dimse["spec"]["ports"] == [
        {"name": "dimse", "port": 11112, "targetPort": "dimse", "protocol": "TCP"}
    ]
    backend_configs = by_kind(docs, "BackendConfig")
    ingress = by_kind(docs, "Ingress")["pacs"]
    assert ingress["metadata"]["annotations"]["kubernetes.io/ingress.class"] == "gce"
    routed = {
        p["path"]: p["backend"]["service"]["name"]
        for r in ingress["spec"]["rules"]
        for p in r["http"]["paths"]
    }
    assert (
        routed["/"] == "pacs-portal" and routed["/api"] == "pacs-api" and routed["/dicom-web"] == "pacs-api"
    )
    for svc_name in set(routed.values()):
        ann = services[svc_name]["metadata"]["annotations"]
        bc = yaml.safe_load(ann["cloud.google.com/backend-config"])["default"]
        assert bc in backend_configs, f"{svc_name}: its BackendConfig exists"
    assert backend_configs["pacs-api"]["spec"]["healthCheck"]["requestPath"] == "/readyz"
    job = by_kind(docs, "Job")["pacs-migrate"]
    assert job["spec"]["template"]["spec"]["containers"][0]["args"] == ["migrate"]
    hpa = by_kind(docs, "HorizontalPodAutoscaler")["pacs-api"]
    assert hpa["spec"]["scaleTargetRef"]["name"] == "pacs-api" and hpa["spec"]["minReplicas"] >= 2
    configmaps = by_kind(docs, "ConfigMap")
    config = next(v for k, v in configmaps.items() if k.startswith("pacs-config"))
    drain = float(config["data"]["PACS_SHUTDOWN_DRAIN_SECONDS"])
    timeout = float(config["data"]["PACS_SHUTDOWN_TIMEOUT_SECONDS"])
    assert drain + timeout <= 15, "graceful shutdown fits the 15 s GKE gives pods of a preempted spot VM"
    assert all(d["metadata"].get("namespace") for d in docs), "the overlay sets a namespace"


def _cpu_m(v: str | int) -> int:
    s = str(v)
    return int(s[:-1]) if s.endswith("m") else int(float(s) * 1000)


def _mem_mi(v: str) -> int:
    units = {"Mi": 1, "Gi": 1024}
    return int(float(v[:-2]) * units[v[-2:]])


# -- scripts and the drill --------------------------------------------------------------------------------------
def shell_scripts() -> list[str]:
    found = [*ROOT.glob("deploy/**/*.sh"), *ROOT.glob("scripts/**/*.sh"), *ROOT.glob("*/deploy-*.sh")]
    return sorted(str(p.relative_to(ROOT)) for p in found)


def test_shellcheck() -> None:
    scripts = shell_scripts()
    assert {"backend/deploy-backend.sh", "frontend/deploy-frontend.sh", "deploy/rollback.sh"} <= set(scripts)
    res = run(tool("shellcheck"), "-x", *scripts)
    assert res.returncode == 0, res.stdout + res.stderr
    res = run(tool("shellcheck"), "-x", "-s", "bash", ".ci/run")
    assert res.returncode == 0, res.stdout + res.stderr


def test_drill_haproxy_config_is_valid(tmp_path: Path) -> None:
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(
        Template((ROOT / "deploy" / "drill" / "haproxy.cfg.tmpl").read_text()).substitute(
            lb_port=18080,
            port_a=18081,
            port_b=18082,
            stats_socket=tmp_path / "s.sock",
            pidfile=tmp_path / "p",
        )
    )
    res = run(tool("haproxy"), "-c", "-f", str(cfg))
    assert res.returncode == 0, res.stdout + res.stderr
    text = cfg.read_text()
    assert "option httpchk GET /readyz" in text
    assert re.search(r"retry-on .*conn-failure.*empty-response.*response-timeout", text)
    assert "option redispatch" in text
