"""One settings object for the whole service (12-factor: ``PACS_*`` environment variables and a root ``.env``).

Every setting is documented in ``.env.example`` at the repository root.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def _repo_root() -> Path:
    """The repository root when running from a checkout, else the working directory (containers)."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "Makefile").exists() and (parent / "backend").is_dir():
            return parent
    return Path.cwd()


REPO_ROOT = _repo_root()


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="PACS_",
        env_file=str(REPO_ROOT / ".env"),
        env_file_encoding="utf-8",
        extra="ignore",
    )

    # --- where things live -------------------------------------------------------------------------------
    database_url: str | None = Field(
        default=None,
        description="PostgreSQL URL (postgresql://user:pass@host:port/db). Empty: start an embedded PostgreSQL "
        "under var/.",
    )
    migrate_database_url: str | None = Field(
        default=None,
        description="Direct (not pooled) PostgreSQL URL for migrations and LISTEN/NOTIFY. Defaults to "
        "database_url.",
    )
    storage_url: str | None = Field(
        default=None,
        description="Object store for DICOM bytes: a local path or file:// URL (default var/storage), "
        "s3://bucket/prefix, gs://bucket/prefix or memory://.",
    )
    var_dir: Path = Field(default=REPO_ROOT / "var", description="Local state (embedded database, files).")

    # --- HTTP ----------------------------------------------------------------------------------------------
    http_host: str = "0.0.0.0"
    http_port: int = 8000
    http_workers: int = Field(
        default=0,
        ge=0,
        description="HTTP worker processes sharing the port (pacs.workers); 0: one per CPU core.",
    )
    public_base_url: str | None = Field(
        default=None, description="Base URL used in RetrieveURL values; default: taken from each request."
    )
    max_request_bytes: int = Field(
        default=2 * 1024**3, description="Largest accepted request body (STOW-RS), in bytes."
    )
    max_query_limit: int = Field(default=10_000, description="Largest QIDO-RS limit / page size accepted.")
    secret_key: str = Field(
        default="pacs-portal-dev-secret-change-me",
        description="Signs pagination cursors. Must be the same on every replica; change it in production.",
    )

    # --- DIMSE ---------------------------------------------------------------------------------------------
    dimse_port: int = 11112
    ae_title: str = "PACS"
    dimse_destinations: str = Field(
        default="", description="C-MOVE destinations, comma-separated AET@host:port."
    )
    dimse_allowed_calling_aets: str = Field(
        default="", description="Comma-separated calling AE titles allowed to associate; empty: all."
    )
    dimse_max_associations: int = 32
    dimse_acse_timeout: float = 30.0
    dimse_dimse_timeout: float = 60.0
    dimse_network_timeout: float = 60.0

    # --- database pool -------------------------------------------------------------------------------------
    db_pool_size: int = 10
    db_max_overflow: int = 20

    # --- graceful shutdown (SIGTERM: spot preemption, rolling updates; see pacs.lifecycle) ---------------
    shutdown_drain_seconds: float = Field(
        default=5.0,
        description="After SIGTERM: seconds /readyz answers 503 while everything is still served, so load "
        "balancers stop routing here before anything is refused.",
    )
    shutdown_timeout_seconds: float = Field(
        default=20.0,
        description="Then: the most seconds in-flight HTTP requests and DIMSE associations get to finish.",
    )

    # --- demo ----------------------------------------------------------------------------------------------
    seed_demo: bool = Field(default=True, description="Seed synthetic demo studies on first start if empty.")
    seed_demo_studies: int = 200

    log_level: str = "INFO"

    @field_validator("database_url", "migrate_database_url", "storage_url", "public_base_url", mode="before")
    @classmethod
    def _empty_is_none(cls, v: object) -> object:
        return None if isinstance(v, str) and not v.strip() else v

    @property
    def resolved_storage_url(self) -> str:
        return self.storage_url or str(self.var_dir / "storage")

    @property
    def destinations(self) -> dict[str, tuple[str, int]]:
        """Parse ``PACS_DIMSE_DESTINATIONS`` (``AET@host:port,...``)."""
        out: dict[str, tuple[str, int]] = {}
        for item in filter(None, (p.strip() for p in self.dimse_destinations.split(","))):
            aet, _, hostport = item.partition("@")
            host, _, port = hostport.rpartition(":")
            if not aet or not host or not port.isdigit():
                raise ValueError(
                    f"PACS_DIMSE_DESTINATIONS entry {item!r} is not AET@host:port; fix the setting in .env"
                )
            out[aet.strip()] = (host, int(port))
        return out

    @property
    def allowed_calling_aets(self) -> set[str]:
        return {a.strip() for a in self.dimse_allowed_calling_aets.split(",") if a.strip()}


@lru_cache
def get_settings() -> Settings:
    return Settings()
