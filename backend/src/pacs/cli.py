"""The ``pacs`` command line (Typer)."""

from __future__ import annotations

import logging
import time
from enum import StrEnum
from functools import partial
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from pacs import lifecycle, malloc
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


def _finish_associations(dimse: Any, timeout: float) -> None:
    """Stop hook: let active DIMSE associations finish (up to ``timeout``), then stop the DIMSE server."""
    deadline = time.monotonic() + timeout
    while dimse.active_associations and time.monotonic() < deadline:
        time.sleep(0.1)
    dimse.stop()


@app.command()
def serve(
    only: Only | None = typer.Option(None, help="Run only the HTTP side or only the DIMSE side."),
    migrate_first: bool = typer.Option(False, "--migrate", help="Apply migrations before starting."),
    host: str | None = typer.Option(None, help="HTTP bind address (default PACS_HTTP_HOST)."),
    port: int | None = typer.Option(None, help="HTTP port (default PACS_HTTP_PORT, 8000)."),
    dimse_port: int | None = typer.Option(None, help="DIMSE port (default PACS_DIMSE_PORT, 11112)."),
    workers: int | None = typer.Option(
        None,
        min=0,
        help="HTTP worker processes sharing the port (default PACS_HTTP_WORKERS; 0: one per CPU core).",
    ),
    listen_fd: int | None = typer.Option(None, "--listen-fd", hidden=True, help="Worker: inherited socket."),
) -> None:
    """Start the archive: DICOMweb at :8000/dicom-web, the portal API at :8000/api, DIMSE on :11112.

    Both sides run over the same services by default; ``--only http`` / ``--only dimse`` run one alone, so
    each can be deployed and scaled on its own. The HTTP side runs in one process per CPU core
    (``--workers`` / ``PACS_HTTP_WORKERS``, see :mod:`pacs.workers`); DIMSE runs in the first one.
    """
    import uvicorn

    from pacs import workers as worker_procs
    from pacs.app import create_app
    from pacs.dimse import DimseServer
    from pacs.http_protocol import CoalescingHttpProtocol
    from pacs.services import Services

    _logging()
    malloc.tune()  # large DICOM buffers stay in the heap (see pacs.malloc)
    settings = get_settings()
    http_host, http_port = host or settings.http_host, port or settings.http_port
    sock = None
    extra: worker_procs.HttpWorkers | None = None
    if listen_fd is not None:  # an HTTP worker started by another ``pacs serve`` (pacs.workers)
        worker_procs.die_with_parent()
        only = Only.http
        sock = worker_procs.inherited_socket(listen_fd)
    else:
        if migrate_first:
            run_migrations()
        n = worker_procs.worker_count(settings.http_workers if workers is None else workers)
        if only != Only.dimse and n > 1:
            try:
                sock = worker_procs.listen_socket(http_host, http_port)
            except OSError as exc:
                console.print(f"[red]cannot listen on {http_host}:{http_port}: {exc}[/red]")
                raise typer.Exit(1) from exc
            env = {}
            if not settings.database_url:  # the embedded PostgreSQL: started once, here; the workers share it
                from pacs.db import database_url

                env["PACS_DATABASE_URL"] = database_url(settings)
            extra = worker_procs.HttpWorkers(sock, n - 1, host=http_host, port=http_port, env=env)
            extra.start()
            lifecycle.on_signal(extra.forward)
    services = Services.create(settings)
    dimse: DimseServer | None = None
    try:
        if only != Only.http:
            dimse = DimseServer(settings, services, host=settings.http_host, port=dimse_port)
            dimse.start()
            console.print(
                f"[bold]PACS Portal[/bold] DIMSE SCP {settings.ae_title} on port {dimse.port} "
                "(C-ECHO, C-STORE, C-FIND, C-MOVE, C-GET)"
            )
        if only == Only.dimse:
            assert dimse is not None
            lifecycle.on_stop(partial(_finish_associations, dimse))
            lifecycle.wait_for_signal(settings.shutdown_drain_seconds, settings.shutdown_timeout_seconds)
            return
        if listen_fd is None:
            _start_demo_seed()  # first start: synthetic demo studies, in the background
            procs = 1 + (extra.count if extra else 0)
            console.print(
                f"[bold]PACS Portal[/bold] HTTP on {http_host}:{http_port} (DICOMweb at /dicom-web), "
                f"{procs} process{'es' if procs > 1 else ''}. Synthetic data only; not for clinical use."
            )
        # Graceful shutdown (pacs.lifecycle): SIGTERM → /readyz 503 while still serving for the drain period,
        # then uvicorn finishes in-flight requests while the stop hooks let DIMSE associations finish.
        if dimse is not None:
            lifecycle.on_stop(partial(_finish_associations, dimse))
        server = lifecycle.DrainingServer(
            uvicorn.Config(
                create_app(settings, services),
                host=http_host,
                port=http_port,
                log_level=settings.log_level.lower(),
                http=CoalescingHttpProtocol,
                timeout_graceful_shutdown=int(settings.shutdown_timeout_seconds),
            ),
            drain_seconds=settings.shutdown_drain_seconds,
            stop_timeout=settings.shutdown_timeout_seconds,
            accept_one=sock is not None,
        )
        server.run(sockets=[sock] if sock is not None else None)
        server.wait_stopped()
    finally:
        if extra is not None:  # the workers drain and stop in parallel; the first process exits last
            extra.stop(settings.shutdown_drain_seconds + settings.shutdown_timeout_seconds + 5.0)
        if dimse is not None:
            dimse.stop()
        services.close()


# --- synthetic data (pacs.synth) -------------------------------------------------------------------------


class Compression(StrEnum):
    none = "none"
    rle = "rle"
    j2k = "j2k"
    jpeg_ls = "jpeg-ls"


@app.command()
def synth(
    studies: int = typer.Option(10, "--studies", "-n", min=0, help="Number of studies."),
    seed: int = typer.Option(0, help="Random seed: the same seed gives the same files, byte for byte."),
    out: Path | None = typer.Option(None, help="Write Part-10 files under this directory."),
    to_archive: bool = typer.Option(False, "--to-archive", help="Send the studies through the ingest path."),
    compression: Compression = typer.Option(Compression.none, help="Transfer syntax of the pixel data."),
    max_instances: int = typer.Option(0, help="At most this many instances per series (0: as planned)."),
    bulk: bool = typer.Option(
        False,
        "--bulk",
        help="Fill the index directly (COPY), pixel data shared per kind: 1M studies in minutes.",
    ),
    instances_per_series: int = typer.Option(1, help="Bulk: instances indexed per series."),
    chunk: int = typer.Option(2000, help="Bulk: studies per transaction (the unit of resumption)."),
    workers: int = typer.Option(0, help="Bulk: worker processes (0: one per core)."),
    defer_indexes: bool | None = typer.Option(
        None,
        "--defer-indexes/--keep-indexes",
        help="Bulk: build secondary indexes once at the end (default: from 50,000 studies).",
    ),
) -> None:
    """Synthetic, fictitious DICOM studies (Faker): files, the archive via ingest, or a bulk index."""
    _logging()
    settings = get_settings()
    if bulk:
        _bulk(studies, seed, instances_per_series, chunk, workers, defer_indexes)
        return
    if out is None and not to_archive:
        raise typer.BadParameter("say where the studies go: --out DIR and/or --to-archive (or use --bulk)")
    from pacs.synth.run import generate

    report = generate(
        studies=studies,
        seed=seed,
        out=out,
        to_archive=to_archive,
        settings=settings,
        compression=compression.value,
        console=console,
        max_instances_per_series=max_instances,
    )
    console.print(
        f"[green]{report.studies} studies, {report.instances} instances, {report.bytes / 1e6:.1f} MB in "
        f"{report.seconds:.1f} s[/green]"
        + (f" [red]{report.failures} failed[/red]" if report.failures else "")
    )
    if report.failures:
        raise typer.Exit(1)


def _start_demo_seed() -> None:
    """``serve``: seed the synthetic demo studies in a background thread when the archive is empty.

    Never blocks startup or readiness; ``PACS_SEED_DEMO=false`` turns it off (see :mod:`pacs.synth.demo`).
    """
    settings = get_settings()
    if settings.seed_demo:
        from pacs.synth.demo import start_demo_seed

        start_demo_seed(settings)


def _bulk(
    studies: int, seed: int, instances_per_series: int, chunk: int, workers: int, defer: bool | None = None
) -> None:
    from pacs.synth.run import bulk_load

    report = bulk_load(
        get_settings(),
        studies=studies,
        seed=seed,
        instances_per_series=instances_per_series,
        chunk_studies=chunk,
        workers=workers or None,
        console=console,
        defer_indexes=defer,
    )
    console.print(
        f"[green]bulk: {report.studies:,} studies ({report.skipped_chunks} chunks already there), "
        f"{report.instances:,} instances in {report.seconds:.1f} s; index now {report.rows}; "
        f"database {report.database_bytes / 1e9:.2f} GB[/green]"
    )


@app.command()
def seed(
    studies: int | None = typer.Option(None, "--studies", "-n", help="Default PACS_SEED_DEMO_STUDIES."),
    seed_value: int = typer.Option(0, "--seed", help="Random seed."),
    bulk: bool = typer.Option(False, "--bulk", help="Bulk index instead of full studies (see `synth`)."),
) -> None:
    """Seed the archive with synthetic demo studies (applies migrations first). Idempotent per seed."""
    _logging()
    settings = get_settings()
    run_migrations()
    n = settings.seed_demo_studies if studies is None else studies
    if bulk:
        _bulk(n, seed_value, 1, 2000, 0)
        return
    from time import perf_counter

    from pacs.services import Services
    from pacs.synth.demo import seed_studies
    from pacs.synth.run import progress_bar

    services = Services.create(settings)
    t0 = perf_counter()
    try:
        with progress_bar(console) as bar:
            task = bar.add_task("demo studies", total=n, rate="")
            stored = seed_studies(
                services, n, seed=seed_value, on_study=lambda i: bar.update(task, completed=i + 1)
            )
    finally:
        services.close()
    console.print(
        f"[green]{stored} new studies stored ({n - stored} were there) in {perf_counter() - t0:.1f} s[/green]"
    )


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
