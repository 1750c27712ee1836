"""The ``pacs`` command line (Typer)."""

from __future__ import annotations

import logging
from enum import StrEnum
from pathlib import Path

import typer
from rich.console import Console

from pacs.config import get_settings

app = typer.Typer(
    help="PACS Portal: a DICOM archive (DICOMweb + DIMSE) with a clinician portal. "
    "All demo data is synthetic; not for clinical use.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
console = Console(stderr=True)


class Only(StrEnum):
    http = "http"
    dimse = "dimse"


def _logging() -> None:
    logging.basicConfig(
        level=get_settings().log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def run_migrations(url: str | None = None) -> None:
    """Apply the Alembic migrations (to a direct, not pooled, connection)."""
    from alembic import command
    from alembic.config import Config

    from pacs.db import direct_url

    ini = Path(__file__).resolve().parents[2] / "alembic.ini"
    cfg = Config(str(ini))
    cfg.set_main_option("script_location", str(ini.parent / "migrations"))
    cfg.attributes["url"] = url or direct_url(get_settings())
    command.upgrade(cfg, "head")


@app.command()
def migrate() -> None:
    """Apply the database migrations (Alembic) to PACS_DATABASE_URL, or to the embedded PostgreSQL."""
    _logging()
    run_migrations()
    console.print("[green]database is at the latest schema[/green]")


@app.command()
def serve(
    only: Only | None = typer.Option(None, help="Run only the HTTP side or only the DIMSE side."),
    migrate_first: bool = typer.Option(False, "--migrate", help="Apply migrations before starting."),
    host: str | None = typer.Option(None, help="HTTP bind address (default PACS_HTTP_HOST)."),
    port: int | None = typer.Option(None, help="HTTP port (default PACS_HTTP_PORT, 8000)."),
) -> None:
    """Start the archive: DICOMweb at :8000/dicom-web, the portal API at :8000/api."""
    import uvicorn

    from pacs.app import create_app

    _logging()
    settings = get_settings()
    if migrate_first:
        run_migrations()
    console.print(
        f"[bold]PACS Portal[/bold] HTTP on {host or settings.http_host}:{port or settings.http_port} "
        f"(DICOMweb at /dicom-web). Synthetic data only; not for clinical use."
    )
    uvicorn.run(
        create_app(settings),
        host=host or settings.http_host,
        port=port or settings.http_port,
        log_level=settings.log_level.lower(),
        timeout_graceful_shutdown=25,
    )


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
