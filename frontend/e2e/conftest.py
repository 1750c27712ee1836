"""End-to-end fixtures: the real backend (uvicorn on a fresh, migrated PostgreSQL database), the BUILT portal served by
``vite preview`` with /api and /dicom-web proxied to it (what ``make run`` does), and Debian's Chromium driven by
Playwright (``executable_path=/usr/bin/chromium``; never ``playwright install``).

Fixtures for test modules here (study list, dashboard, viewer):
- ``portal``: ``.url`` (the SPA origin), ``.api`` (the backend ``LiveServer``: ``.url``, ``.dicomweb``, ``.services``,
  ``.client()``), ``.database_url``, ``.store(list[bytes])`` (ingest through the one write path),
  ``.stow(list[bytes])`` (STOW-RS over HTTP), ``.reset()`` (empty the archive, counters included).
- ``browser`` (session) and ``page`` (a fresh context per test; console errors collected in ``page.console_errors``).

The backend's fixtures (``database_url``) come from backend/tests/conftest.py, so the e2e run gets its own database.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

FRONTEND = Path(__file__).resolve().parents[1]
BACKEND = FRONTEND.parent / "backend"
if str(BACKEND) not in sys.path:  # so `tests.conftest` imports when this directory runs on its own
    sys.path.insert(0, str(BACKEND))

from playwright.sync_api import Browser, Page, expect, sync_playwright  # noqa: E402

from tests.conftest import (  # noqa: E402
    LiveServer,
    database_url,  # noqa: F401  (fixture, re-exported for this directory)
    free_port,
    make_settings,
    start_server,
    truncate_all,
)
from tests.dicomfactory import multipart  # noqa: E402

CHROMIUM = os.environ.get("PACS_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--use-gl=angle",
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
]
DIST = FRONTEND / "dist"
# Assertions retry until this (the machine may be busy: 2 cores shared with the backend under test).
expect.set_options(timeout=15_000)


@dataclass
class Portal:
    url: str
    api: LiveServer
    database_url: str
    log: Path
    extra: dict[str, object] = field(default_factory=dict)

    def store(self, blobs: list[bytes]) -> None:
        outcomes = self.api.services.ingest.store_many(blobs)
        failed = [o for o in outcomes if getattr(o, "failure_status", None)]
        assert not failed, f"ingest failed: {failed}"

    def stow(self, blobs: list[bytes]) -> None:
        body, ctype = multipart(blobs)
        with self.api.client() as c:
            r = c.post("/dicom-web/studies", content=body, headers={"Content-Type": ctype})
        assert r.status_code == 200, r.text

    def reset(self) -> None:
        """Empty the archive (the index tables; the analytics counters reset with them, by trigger)."""
        truncate_all(self.database_url)


def _ensure_built() -> None:
    """`make test` builds the portal first; when pytest runs alone, build it if there is no dist yet."""
    if (DIST / "index.html").exists():
        return
    npm = shutil.which("npm")
    if not npm or not (FRONTEND / "node_modules").exists():
        pytest.fail(
            "the portal is not built: run `make frontend-build` (npm ci && npm run build in frontend/)"
        )
    subprocess.run([npm, "run", "build"], cwd=FRONTEND, check=True, stdout=subprocess.DEVNULL)


def _wait_port(port: int, proc: subprocess.Popen[bytes], log: Path, timeout: float = 30) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"vite preview exited ({proc.returncode}): {log.read_text()[-2000:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    pytest.fail(f"vite preview did not listen on {port}: {log.read_text()[-2000:]}")


@pytest.fixture(scope="session")
def portal(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Portal]:  # noqa: F811
    """The real services: backend on a direct PostgreSQL connection (LISTEN/NOTIFY) + the built portal."""
    _ensure_built()
    # Serve a private copy of the build, so a rebuild during the session (a developer's `npm run build`)
    # cannot pull the files from under the browser.
    dist = tmp_path_factory.mktemp("e2e-dist") / "dist"
    shutil.copytree(DIST, dist)
    storage = tmp_path_factory.mktemp("e2e-store")
    api, server, thread = start_server(make_settings(database_url, storage))
    port = free_port()
    log = tmp_path_factory.mktemp("e2e-vite") / "vite.log"
    env = {**os.environ, "PACS_API_URL": api.url, "PACS_PORTAL_PORT": str(port)}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                str(FRONTEND / "node_modules/.bin/vite"),
                "preview",
                "--port",
                str(port),
                "--strictPort",
                "--outDir",
                str(dist),
            ],
            cwd=FRONTEND,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_port(port, proc, log)
        yield Portal(f"http://127.0.0.1:{port}", api, database_url, log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        server.should_exit = True
        thread.join(timeout=10)
        api.services.close()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: run `make system-deps` (apt-get install chromium)")
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1440, "height": 900}, locale="en-US")
    context.set_default_timeout(15_000)
    pg = context.new_page()
    errors: list[str] = []
    pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.console_errors = errors  # type: ignore[attr-defined]
    yield pg
    context.close()
