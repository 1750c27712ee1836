"""How the service reaches PostgreSQL.

Decision (design.md, boundary 6): every code path uses one synchronous SQLAlchemy engine on psycopg 3.
FastAPI runs our endpoints in its thread pool and pynetdicom runs its handlers in threads, so both reach the
database the same way: ``with engine.begin() as conn`` at the boundary (request, association event, job).

The engine is safe behind a transaction-mode pooler (pgbouncer here, PgCat in containers): psycopg's
``prepare_threshold=None`` disables protocol-level prepared statements (the ingest's statements still get
plans kept per server connection: they run inside the PL/pgSQL function ``pacs_index_instances``), and no session
state (SET, temp tables, advisory locks across transactions) is used. LISTEN/NOTIFY uses its own direct connection (``direct_url``).
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import make_url

from pacs.config import Settings
from pacs.exceptions import ConfigurationError

log = logging.getLogger(__name__)

_lock = threading.Lock()
_embedded_url: str | None = None


def to_sqlalchemy_url(url: str) -> str:
    """Normalise ``postgresql://`` / ``postgres://`` URLs to the psycopg 3 driver.

    >>> to_sqlalchemy_url("postgresql://u@h:5432/db")
    'postgresql+psycopg://u@h:5432/db'
    >>> to_sqlalchemy_url("postgres://u@h/db")
    'postgresql+psycopg://u@h/db'
    >>> to_sqlalchemy_url("postgresql+psycopg://u@h/db")
    'postgresql+psycopg://u@h/db'
    """
    for prefix in ("postgresql+psycopg2://", "postgresql+asyncpg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    if url.startswith("postgresql+psycopg://"):
        return url
    raise ConfigurationError(
        f"PACS_DATABASE_URL must be a postgresql:// URL, got {url.split('://')[0]}://...; fix it in .env"
    )


def start_embedded(var_dir: Path) -> str:
    """Start (or reuse) the embedded PostgreSQL under ``var_dir/pgdata`` and return its URL.

    Uses pgserver (PostgreSQL binaries from PyPI); it listens on a unix socket only.
    """
    global _embedded_url
    with _lock:
        if _embedded_url:
            return _embedded_url
        try:
            import pgserver
        except ImportError as exc:  # pragma: no cover - pgserver is a runtime dependency
            raise ConfigurationError(
                "No PACS_DATABASE_URL set and pgserver is not installed; run `make install` or set "
                "PACS_DATABASE_URL"
            ) from exc
        pgdata = var_dir / "pgdata"
        pgdata.parent.mkdir(parents=True, exist_ok=True)
        log.info("starting embedded PostgreSQL in %s", pgdata)
        srv = pgserver.get_server(str(pgdata), cleanup_mode=None)
        uri = srv.get_uri()
        # pgserver gives postgresql://postgres:@/postgres?host=<socket dir>; use a database of our own.
        with create_engine(to_sqlalchemy_url(uri), isolation_level="AUTOCOMMIT").connect() as conn:
            exists = conn.exec_driver_sql("SELECT 1 FROM pg_database WHERE datname = 'pacs'").scalar()
            if not exists:
                conn.exec_driver_sql("CREATE DATABASE pacs")
        _embedded_url = uri.replace("/postgres?", "/pacs?")
        return _embedded_url


def database_url(settings: Settings) -> str:
    """The pooled URL the service uses (embedded if none is configured)."""
    if settings.database_url:
        return to_sqlalchemy_url(settings.database_url)
    return to_sqlalchemy_url(start_embedded(settings.var_dir))


def direct_url(settings: Settings) -> str:
    """A direct (not pooled) URL: migrations and LISTEN/NOTIFY need session semantics."""
    if settings.migrate_database_url:
        return to_sqlalchemy_url(settings.migrate_database_url)
    return database_url(settings)


def libpq_url(sqlalchemy_url: str) -> str:
    """The same URL in libpq form (for psycopg.connect)."""
    return make_url(sqlalchemy_url).set(drivername="postgresql").render_as_string(hide_password=False)


def engine_for(url: str, *, pool_size: int = 5) -> Engine:
    """An engine on ``url`` with the pooler-safe driver settings (jobs and tools that own their connections)."""
    return create_engine(
        to_sqlalchemy_url(url) if "+psycopg" not in url else url,
        pool_size=pool_size,
        pool_pre_ping=True,
        connect_args={"prepare_threshold": None, "application_name": f"pacs-{os.getpid()}"},
    )


def create_db_engine(settings: Settings, url: str | None = None) -> Engine:
    return create_engine(
        url or database_url(settings),
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_pre_ping=True,
        pool_recycle=1800,
        # Transaction-mode poolers: no protocol-level prepared statements (stack notes, section 3).
        connect_args={"prepare_threshold": None, "application_name": f"pacs-{os.getpid()}"},
    )
