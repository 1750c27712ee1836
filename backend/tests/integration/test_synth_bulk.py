"""Bulk mode writes the rows ingest would write; it resumes by chunk; its instances are retrievable."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pydicom
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from pacs.config import Settings
from pacs.ingest import IngestService
from pacs.storage import open_store
from pacs.synth import bulk
from pacs.synth.generate import study_files
from pacs.synth.plan import Planner
from tests.conftest import make_settings, truncate_all

IGNORED = {"id", "patient_fk", "study_fk", "series_fk", "created_at", "updated_at"}
SIZE_COLUMNS = {"size_bytes", "storage_key"}


def _sa(url: str) -> str:
    return url.replace("postgresql://", "postgresql+psycopg://")


def _rows(url: str) -> dict[str, dict[str, dict[str, Any]]]:
    """Every row of the four index tables, keyed by its natural key, without surrogate keys and timestamps."""
    keys = {
        "patients": "patient_id",
        "studies": "study_instance_uid",
        "series": "series_instance_uid",
        "instances": "sop_instance_uid",
    }
    eng = create_engine(_sa(url))
    out: dict[str, dict[str, dict[str, Any]]] = {}
    with eng.connect() as conn:
        for table, key in keys.items():
            out[table] = {}
            for r in conn.execute(text(f"SELECT * FROM {table}")).mappings():
                out[table][r[key]] = {k: v for k, v in r.items() if k not in IGNORED}
    eng.dispose()
    return out


def _job(url: str, store_dir: Path, seed: int, n: int, chunk: int = 4, per_series: int = 2) -> bulk.BulkJob:
    shared = bulk.write_shared_objects(open_store(str(store_dir)), seed)
    return bulk.BulkJob(_sa(url), seed, n, chunk, per_series, shared)


def test_bulk_rows_equal_ingest_rows(database_url, clean_db, tmp_path):
    seed, n = 41, 14
    job = _job(database_url, tmp_path / "bulk", seed, n)
    results = bulk.run_bulk(job, workers=1)
    assert sum(r.studies for r in results) == n and not any(r.skipped for r in results)
    bulk_rows = _rows(database_url)

    # the same planned studies, as full Part-10 objects through the one write path
    truncate_all(database_url)
    settings = make_settings(database_url, tmp_path / "ingest")
    from pacs.db import create_db_engine

    engine = create_db_engine(settings)
    ingest = IngestService(engine, open_store(str(tmp_path / "ingest")))
    planned = [bulk.cap_series(s, 2) for s in Planner(seed, n)]
    n_files = 0
    for study in planned:
        outcomes = ingest.store_many([data for _, data in study_files(study)])
        assert all(o.ok and o.new for o in outcomes), [o.detail for o in outcomes if not o.ok]
        n_files += len(outcomes)
    engine.dispose()
    ingest_rows = _rows(database_url)

    assert n_files == sum(s.n_instances for s in planned) == len(bulk_rows["instances"])
    for table in ("patients", "studies", "series", "instances"):
        assert bulk_rows[table].keys() == ingest_rows[table].keys(), table
        for key, b in bulk_rows[table].items():
            i = ingest_rows[table][key]
            for col in b.keys() - SIZE_COLUMNS:
                assert b[col] == i[col], (table, key, col)
    # sizes: bulk instances point to the shared object of their kind, and the counters add them up
    for sop, row in bulk_rows["instances"].items():
        obj = open_store(str(tmp_path / "bulk")).get(row["storage_key"])
        assert row["size_bytes"] == len(obj)
        assert pydicom.dcmread(__import__("io").BytesIO(obj)).SOPClassUID == row["sop_class_uid"], sop
    for uid, st in bulk_rows["studies"].items():
        mine = [r for r in bulk_rows["instances"].values() if r["metadata"]["0020000D"]["Value"][0] == uid]
        assert st["size_bytes"] == sum(r["size_bytes"] for r in mine)
        assert st["number_of_instances"] == len(mine)
        assert st["modalities_in_study"] == sorted({r["metadata"]["00080060"]["Value"][0] for r in mine})


def test_bulk_resumes_by_chunk(database_url, clean_db, tmp_path):
    seed, n = 42, 30
    job = _job(database_url, tmp_path, seed, n, chunk=5, per_series=1)
    planner = Planner(seed, n)
    chunks = bulk.chunk_patients(planner, 5)
    assert len(chunks) >= 3
    # an interrupted run: only the first two chunks made it
    bulk._init_worker(job)
    first = [bulk.load_chunk(0, chunks[0]), bulk.load_chunk(1, chunks[1])]
    bulk._worker.pop("engine").dispose()
    assert not any(r.skipped for r in first)

    results = bulk.run_bulk(job, workers=2)
    skipped = sorted(r.chunk for r in results if r.skipped)
    assert skipped == [0, 1]
    assert sum(r.studies for r in results) == n
    rows = _rows(database_url)
    planned = [bulk.cap_series(s, 1) for s in planner]
    assert len(rows["studies"]) == n
    assert set(rows["studies"]) == {s.uid for s in planned}
    assert len(rows["patients"]) == planner.n_patients
    assert len(rows["series"]) == sum(len(s.series) for s in planned)
    for s in planned:
        row = rows["studies"][s.uid]
        assert row["number_of_series"] == len(s.series)
        assert row["number_of_instances"] == s.n_instances
        assert row["patient_name"] == s.patient.name

    # a third run finds everything there and changes nothing
    again = bulk.run_bulk(job, workers=1)
    assert all(r.skipped for r in again)
    assert len(_rows(database_url)["instances"]) == len(rows["instances"])


def test_bulk_studies_are_searchable_and_retrievable(live_server):
    """Through both server variants: the bulk load COPYs through pgbouncer (transaction mode) too."""
    settings: Settings = live_server.settings
    # a seed per server variant (direct / pgbouncer), so both runs load their own studies
    seed = 43 if make_url(settings.database_url or "").port == 5432 else 44
    shared = bulk.write_shared_objects(live_server.services.store, seed)
    url = settings.database_url or ""
    job = bulk.BulkJob(_sa(url), seed, 6, 3, 1, shared)
    bulk.run_bulk(job, workers=1)
    study = bulk.cap_series(Planner(seed, 6).study(0), 1)
    with live_server.client() as c:
        r = c.get("/dicom-web/studies", params={"StudyInstanceUID": study.uid})
        assert r.status_code == 200, r.text
        found = r.json()
        assert len(found) == 1
        assert found[0]["00100010"]["Value"][0]["Alphabetic"] == study.patient.name
        assert found[0]["00201208"]["Value"][0] == study.n_instances
        se = study.series[0]
        r = c.get(
            f"/dicom-web/studies/{study.uid}/series/{se.uid}/instances/{se.uid}.1",
            headers={"Accept": 'multipart/related; type="application/dicom"; transfer-syntax=*'},
        )
        assert r.status_code == 200, r.text
        assert b"DICM" in r.content[:2000]


def _index_defs(url: str) -> set[str]:
    """Index definitions and foreign keys of the index tables."""
    eng = create_engine(_sa(url))
    with eng.connect() as conn:
        defs = set(
            conn.execute(
                text(
                    "SELECT indexdef FROM pg_indexes WHERE schemaname = 'public' "
                    "AND tablename IN ('patients', 'studies', 'series', 'instances')"
                )
            ).scalars()
        )
        defs |= {
            f"FK {t} {d}"
            for t, d in conn.execute(
                text(
                    "SELECT conrelid::regclass::text, pg_get_constraintdef(oid) FROM pg_constraint "
                    "WHERE contype = 'f' AND conrelid::regclass::text IN ('studies', 'series', 'instances')"
                )
            )
        }
    eng.dispose()
    return defs


def test_deferred_indexes_survive_interruption_and_are_rebuilt(database_url, clean_db, tmp_path):
    from pacs.index import bulk as sql

    before = _index_defs(database_url)
    eng = create_engine(_sa(database_url))
    try:
        with eng.begin() as conn:
            deferred = sql.defer_indexes(conn)
        assert deferred and all("UNIQUE" not in d for d in deferred)
        assert sum(1 for d in deferred if "FOREIGN KEY" in d) == 4
        during = _index_defs(database_url)
        assert not any(d.startswith("FK ") for d in during)
        assert len(during) == len(before) - len(deferred)
        assert any("UNIQUE" in d for d in during)  # the unique indexes keep the load correct
        # a second defer (a resumed load) keeps the pending list whole
        with eng.begin() as conn:
            assert sorted(sql.defer_indexes(conn)) == sorted(deferred)
            assert sorted(sql.pending_indexes(conn)) == sorted(deferred)
        bulk.run_bulk(_job(database_url, tmp_path, 45, 8), workers=1)
    finally:
        with eng.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            built = sql.restore_indexes(conn)
            assert sql.pending_indexes(conn) == []
        eng.dispose()
    assert built == len(deferred)
    assert _index_defs(database_url) == before
