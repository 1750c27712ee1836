"""What the ``pacs synth`` / ``pacs seed`` commands do, with rich progress bars."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from pacs.config import Settings


def progress_bar(console: Console) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )


@dataclass
class BulkReport:
    studies: int
    instances: int
    skipped_chunks: int
    seconds: float
    rows: dict[str, int]
    database_bytes: int


def bulk_load(
    settings: Settings,
    *,
    studies: int,
    seed: int,
    instances_per_series: int,
    chunk_studies: int,
    workers: int | None,
    console: Console,
    defer_indexes: bool | None = None,
) -> BulkReport:
    """Bulk-load ``studies`` planned studies of ``seed`` (resumable), then rebuild deferred indexes.

    ``defer_indexes`` (default: for loads of 50,000 studies or more) drops the secondary indexes and foreign
    keys first and restores them once at the end; an interrupted load keeps them pending until a later run
    completes.
    """
    from pacs.db import direct_url, engine_for
    from pacs.index import bulk as sql
    from pacs.storage import open_store
    from pacs.synth.bulk import BulkJob, ChunkResult, run_bulk, write_shared_objects

    url = direct_url(settings)
    store = open_store(settings.resolved_storage_url)
    shared = write_shared_objects(store, seed)
    job = BulkJob(url, seed, studies, chunk_studies, instances_per_series, shared)
    engine = engine_for(url)
    if defer_indexes is None:
        defer_indexes = studies >= 50_000
    if defer_indexes:
        with engine.begin() as conn:
            deferred = sql.defer_indexes(conn)
        console.print(f"secondary indexes and foreign keys deferred to the end of the load: {len(deferred)}")
    t0 = time.perf_counter()
    done = {"studies": 0, "instances": 0, "skipped": 0}
    with progress_bar(console) as bar:
        task = bar.add_task("bulk index", total=studies, rate="")

        def on_chunk(r: ChunkResult) -> None:
            done["studies"] += r.studies
            done["instances"] += r.instances
            done["skipped"] += int(r.skipped)
            elapsed = time.perf_counter() - t0
            bar.update(
                task,
                advance=r.studies,
                rate=f"{done['studies'] / max(elapsed, 1e-6):,.0f} studies/s, "
                f"{done['instances']:,} instances",
            )

        try:
            run_bulk(job, workers=workers, progress=on_chunk)
        except BaseException:
            console.print(
                "[yellow]bulk load interrupted: what is committed stays; run the same command again to resume "
                "(it also rebuilds any deferred indexes)[/yellow]"
            )
            raise
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            todo = len(sql.pending_indexes(conn))
            if todo:
                itask = bar.add_task("indexes, keys", total=todo, rate="")
                sql.restore_indexes(conn, lambda ddl: bar.update(itask, advance=1, rate=ddl[:70]))
                bar.update(itask, completed=todo, rate="")
    seconds = time.perf_counter() - t0
    with engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE patients, studies, series, instances")
        rows = sql.count_rows(conn)
        size = sql.database_size(conn)
    engine.dispose()
    return BulkReport(done["studies"], done["instances"], done["skipped"], seconds, rows, size)


def _batched(it: Iterator[bytes], n: int) -> Iterator[list[bytes]]:
    batch: list[bytes] = []
    for item in it:
        batch.append(item)
        if len(batch) >= n:
            yield batch
            batch = []
    if batch:
        yield batch


@dataclass
class GenerateReport:
    studies: int
    instances: int
    bytes: int
    failures: int
    seconds: float


def generate(
    *,
    studies: int,
    seed: int,
    out: Path | None,
    to_archive: bool,
    settings: Settings | None,
    compression: str,
    console: Console,
    max_instances_per_series: int = 0,
) -> GenerateReport:
    """Write Part-10 files under ``out`` and/or send them through the ingest service."""
    from pacs.synth.bulk import cap_series
    from pacs.synth.generate import study_files
    from pacs.synth.plan import Planner

    planner = Planner(seed, studies)
    services = None
    if to_archive:
        from pacs.services import Services

        assert settings is not None
        services = Services.create(settings)
    t0 = time.perf_counter()
    n_inst = n_bytes = failures = 0
    try:
        with progress_bar(console) as bar:
            task = bar.add_task("synthetic studies", total=studies, rate="")
            for study in planner:
                study = cap_series(study, max_instances_per_series)
                files = list(study_files(study, compression=compression))
                if out is not None:
                    for rel, data in files:
                        path = out / rel
                        path.parent.mkdir(parents=True, exist_ok=True)
                        path.write_bytes(data)
                if services is not None:
                    for batch in _batched((d for _, d in files), 64):
                        outcomes = services.ingest.store_many(batch)
                        failures += sum(1 for o in outcomes if not o.ok)
                n_inst += len(files)
                n_bytes += sum(len(d) for _, d in files)
                elapsed = time.perf_counter() - t0
                bar.update(
                    task,
                    advance=1,
                    rate=f"{n_inst:,} instances, {n_bytes / 1e6:,.0f} MB, {n_inst / max(elapsed, 1e-6):,.0f}/s",
                )
    finally:
        if services is not None:
            services.close()
    return GenerateReport(studies, n_inst, n_bytes, failures, time.perf_counter() - t0)
