"""Shared fixtures: a real PostgreSQL database built by the Alembic migrations, a real HTTP server on loopback,
and pgbouncer in transaction mode in front of PostgreSQL (the stand-in for PgCat).

Environment:
- ``PACS_TEST_ADMIN_URL``: a PostgreSQL URL allowed to CREATE DATABASE (default the machine's PostgreSQL on
  127.0.0.1:5432 as ``postgres``). Each test session creates its own database and drops it at the end.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn
from sqlalchemy import create_engine, text

from pacs.app import create_app
from pacs.cli import run_migrations
from pacs.config import Settings
from pacs.http_protocol import CoalescingHttpProtocol
from pacs.services import Services

ADMIN_URL = os.environ.get("PACS_TEST_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _url_for(db: str, host: str = "127.0.0.1", port: int | None = None) -> str:
    from sqlalchemy.engine import make_url

    u = make_url(ADMIN_URL).set(database=db)
    if port is not None:
        u = u.set(host=host, port=port)
    return u.render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """A fresh database for this test session, migrated with ``alembic upgrade head``."""
    name = f"pacs_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(
        ADMIN_URL.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = _url_for(name)
    run_migrations(url.replace("postgresql://", "postgresql+psycopg://"))
    yield url
    with admin.connect() as conn:
        conn.exec_driver_sql(
            f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}' AND pid <> pg_backend_pid()"
        )
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
    admin.dispose()


@pytest.fixture(scope="session")
def pgbouncer(database_url: str) -> Iterator[str]:
    """pgbouncer 1.18+ in transaction mode in front of the test database; yields its URL."""
    exe = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
    if not Path(exe).exists():
        pytest.fail(
            "pgbouncer is not installed: run `make test` (it installs it) or apt-get install pgbouncer"
        )
    from sqlalchemy.engine import make_url

    u = make_url(database_url)
    port = free_port()
    workdir = Path(tempfile.mkdtemp(prefix="pgbouncer-"))
    ini = workdir / "pgbouncer.ini"
    ini.write_text(
        f"""[databases]
{u.database} = host={u.host} port={u.port or 5432} dbname={u.database} user={u.username}
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = any
pool_mode = transaction
default_pool_size = 10
max_client_conn = 500
server_reset_query =
ignore_startup_parameters = extra_float_digits,options,statement_timeout,application_name
logfile = {workdir}/pgbouncer.log
pidfile = {workdir}/pgbouncer.pid
"""
    )
    cmd = [exe, str(ini)]
    if os.geteuid() == 0:
        shutil.chown(workdir, "postgres", "postgres")
        shutil.chown(ini, "postgres", "postgres")
        cmd = [exe, "-u", "postgres", str(ini)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            if proc.poll() is not None:
                pytest.fail(f"pgbouncer exited: {proc.stderr.read().decode() if proc.stderr else ''}")
            time.sleep(0.05)
    yield _url_for(u.database or "", port=port)
    proc.terminate()
    proc.wait(timeout=10)
    shutil.rmtree(workdir, ignore_errors=True)


def truncate_all(url: str) -> None:
    eng = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    with eng.begin() as conn:
        conn.execute(text("TRUNCATE instances, series, studies, patients RESTART IDENTITY CASCADE"))
    eng.dispose()


@dataclass
class LiveServer:
    url: str
    services: Services
    settings: Settings

    @property
    def dicomweb(self) -> str:
        return f"{self.url}/dicom-web"

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=60)


def start_server(settings: Settings) -> tuple[LiveServer, uvicorn.Server, threading.Thread]:
    services = Services.create(settings)
    app = create_app(settings, services)
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", lifespan="on", http=CoalescingHttpProtocol
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 20
    while not server.started and time.time() < deadline:
        time.sleep(0.02)
    return LiveServer(f"http://127.0.0.1:{port}", services, settings), server, thread


def make_settings(db_url: str, storage: Path, **extra: object) -> Settings:
    return Settings(
        database_url=db_url,
        migrate_database_url=None,
        storage_url=str(storage),
        var_dir=storage.parent,
        seed_demo=False,
        _env_file=None,  # type: ignore[call-arg]
        **extra,  # type: ignore[arg-type]
    )


@pytest.fixture(scope="session", params=["direct", "pgbouncer"])
def live_server(
    request: pytest.FixtureRequest, database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """The HTTP service on loopback, once straight on PostgreSQL and once through pgbouncer (transaction mode)."""
    db_url = database_url if request.param == "direct" else request.getfixturevalue("pgbouncer")
    storage = tmp_path_factory.mktemp(f"store-{request.param}")
    live, server, thread = start_server(make_settings(db_url, storage, max_request_bytes=64 * 1024 * 1024))
    yield live
    server.should_exit = True
    thread.join(timeout=10)
    live.services.close()


@pytest.fixture
def clean_db(database_url: str) -> None:
    """Empty tables before a test (tests that count rows need it)."""
    truncate_all(database_url)
