"""Portal analytics (maintained counters) and live events (LISTEN/NOTIFY to server-sent events) on real
PostgreSQL; the SSE test stores through one server instance and listens on another (two replicas)."""

from __future__ import annotations

import json
import queue
import threading
import time
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest
from pydicom.uid import generate_uid
from sqlalchemy import create_engine, text

from pacs.analytics import AnalyticsService
from tests.conftest import make_settings, start_server
from tests.dicomfactory import ct_dataset, multipart, to_bytes


def _study(
    modality: str,
    n: int,
    *,
    study_date: str,
    referring: str = "House^Gregory",
    institution: str = "General Hospital",
    extra_modality: str | None = None,
) -> tuple[str, list[bytes]]:
    uid = generate_uid()
    blobs = []
    series = generate_uid()
    for k in range(n):
        ds = ct_dataset(study_uid=uid, series_uid=series, modality=modality, size=8, instance_number=k + 1)
        ds.StudyDate = study_date
        ds.ReferringPhysicianName = referring
        ds.InstitutionName = institution
        blobs.append(to_bytes(ds))
    if extra_modality:
        ds = ct_dataset(study_uid=uid, modality=extra_modality, size=8)
        ds.StudyDate = study_date
        ds.ReferringPhysicianName = referring
        ds.InstitutionName = institution
        blobs.append(to_bytes(ds))
    return uid, blobs


@pytest.fixture
def archive(live_server, clean_db):
    """CT x3 studies, MR x2 (one with an extra SR series), US x1, stored in several ingest calls."""
    today = datetime.now(UTC).date()
    plan = [
        ("CT", 3, today, "House^Gregory", "General Hospital", None),
        ("CT", 2, today, "House^Gregory", "General Hospital", None),
        ("CT", 1, today - timedelta(days=1), "Wilson^James", "General Hospital", None),
        ("MR", 4, today - timedelta(days=8), "House^Gregory", "St. Elsewhere", "SR"),
        ("MR", 2, date(2024, 2, 29), "Cuddy^Lisa", "St. Elsewhere", None),
        ("US", 1, date(2024, 3, 1), "Wilson^James", "", None),
    ]
    blobs_by_study = []
    for mod, n, d, ref, inst, extra in plan:
        _, blobs = _study(
            mod, n, study_date=d.strftime("%Y%m%d"), referring=ref, institution=inst, extra_modality=extra
        )
        blobs_by_study.append(blobs)
    for blobs in blobs_by_study[:3]:
        assert all(o.ok for o in live_server.services.ingest.store_many(blobs))
    assert all(
        o.ok for o in live_server.services.ingest.store_many([b for bl in blobs_by_study[3:] for b in bl])
    )
    # Idempotent re-store changes nothing.
    assert all(o.ok for o in live_server.services.ingest.store_many(blobs_by_study[0]))
    return {"today": today, "sizes": [sum(len(b) for b in bl) for bl in blobs_by_study]}


def _truth(database_url: str) -> dict[str, dict]:
    """What the archive tables say, computed by full scans (the counters must agree)."""
    eng = create_engine(database_url.replace("postgresql://", "postgresql+psycopg://"))
    with eng.connect() as conn:
        mods = {
            r.modality: {"instances": r.i, "bytes": r.b}
            for r in conn.execute(
                text(
                    "SELECT modality, sum(number_of_instances) i, sum(size_bytes) b FROM series GROUP BY modality"
                )
            )
        }
        for r in conn.execute(
            text("SELECT m, count(*) n FROM studies, unnest(modalities_in_study) m GROUP BY m")
        ):
            mods[r.m]["studies"] = r.n
        stored = conn.execute(text("SELECT count(*), sum(size_bytes) FROM instances")).one()
    eng.dispose()
    return {"modalities": mods, "instances": stored[0], "bytes": stored[1]}


def test_modalities_match_the_archive(live_server, archive, database_url):
    with live_server.client() as c:
        r = c.get("/api/analytics/modalities")
    assert r.status_code == 200
    got = {m["modality"]: m for m in r.json()}
    truth = _truth(database_url)["modalities"]
    assert set(got) == {"CT", "MR", "SR", "US"}
    assert got["CT"]["studies"] == 3 and got["MR"]["studies"] == 2 and got["SR"]["studies"] == 1
    assert got["CT"]["instances"] == 6 and got["MR"]["instances"] == 6 and got["US"]["instances"] == 1
    for m, t in truth.items():
        assert (got[m]["studies"], got[m]["instances"], got[m]["bytes"]) == (
            t["studies"],
            t["instances"],
            t["bytes"],
        )
    assert sum(m["bytes"] for m in got.values()) == sum(archive["sizes"])


def test_summary_and_rebuild_agree(live_server, archive, database_url):
    with live_server.client() as c:
        before = c.get("/api/analytics/summary").json()
        mods_before = c.get("/api/analytics/modalities").json()
        truth = _truth(database_url)
        assert before == {"studies": 6, "instances": truth["instances"], "bytes": truth["bytes"]}
        AnalyticsService(live_server.services.engine).rebuild()  # full recount from the tables
        assert c.get("/api/analytics/summary").json() == before
        assert c.get("/api/analytics/modalities").json() == mods_before


def test_studies_over_time(live_server, archive):
    today = archive["today"]
    with live_server.client() as c:
        days = c.get("/api/analytics/studies", params={"interval": "day"}).json()
        assert len(days) == 30 and days[-1] == {"start": today.isoformat(), "studies": 2}
        assert days[-2] == {"start": (today - timedelta(days=1)).isoformat(), "studies": 1}
        assert sum(d["studies"] for d in days) == 4
        feb = c.get(
            "/api/analytics/studies",
            params={"interval": "month", "date_from": "2024-01-15", "date_to": "2024-04-10"},
        ).json()
        assert feb == [
            {"start": "2024-01-01", "studies": 0},
            {"start": "2024-02-01", "studies": 1},
            {"start": "2024-03-01", "studies": 1},
            {"start": "2024-04-01", "studies": 0},
        ]
        weeks = c.get(
            "/api/analytics/studies",
            params={"interval": "week", "date_from": "2024-02-26", "date_to": "2024-03-03"},
        ).json()
        assert weeks == [{"start": "2024-02-26", "studies": 2}]  # Thu 29 Feb and Fri 1 Mar: one ISO week
        bad = c.get("/api/analytics/studies", params={"interval": "fortnight"})
        assert bad.status_code == 400 and bad.json()["error"] == "bad_request"
        bad = c.get("/api/analytics/studies", params={"date_from": "2024-02-30"})
        assert bad.status_code == 400 and "date_from" in bad.json()["detail"]


def test_ingest_rate_and_top_lists(live_server, archive):
    with live_server.client() as c:
        minutes = c.get("/api/analytics/ingest", params={"interval": "minute", "count": 10}).json()
        assert len(minutes) == 10
        assert sum(m["studies"] for m in minutes) == 6
        assert sum(m["instances"] for m in minutes) == 14
        day = c.get("/api/analytics/ingest", params={"interval": "day", "count": 1}).json()
        assert day[0]["start"] == datetime.now(UTC).date().isoformat() and day[0]["instances"] == 14
        assert c.get("/api/analytics/ingest", params={"count": 0}).status_code == 400
        refs = c.get("/api/analytics/referring", params={"limit": 2}).json()
        assert refs == [{"name": "House^Gregory", "studies": 3}, {"name": "Wilson^James", "studies": 2}]
        insts = c.get("/api/analytics/institutions").json()
        assert insts == [
            {"name": "General Hospital", "studies": 3},
            {"name": "St. Elsewhere", "studies": 2},
        ]
        assert c.get("/api/analytics/referring", params={"limit": 0}).status_code == 400


def _sse_reader(url: str, out: queue.Queue, until: str) -> None:
    """Collect events until one of type ``until`` arrived (then hang up, from this thread)."""
    try:
        with httpx.Client(timeout=httpx.Timeout(30, read=30)) as c, c.stream("GET", url) as r:
            out.put(("status", r.status_code, r.headers.get("content-type", "")))
            event = None
            for line in r.iter_lines():
                if line.startswith("event:"):
                    event = line.split(":", 1)[1].strip()
                elif line.startswith("data:"):
                    out.put((event, json.loads(line.split(":", 1)[1]), None))
                    if event == until:
                        return
    except httpx.HTTPError as exc:
        out.put(("error", str(exc), None))


def _wait_for(q: queue.Queue, pred, timeout: float = 15.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            item = q.get(timeout=max(0.05, deadline - time.time()))
        except queue.Empty:
            break
        if pred(item):
            return item
    raise AssertionError("event not received in time")


def test_sse_hears_a_store_made_on_another_replica(live_server, database_url, pgbouncer, tmp_path, clean_db):
    """Replica B serves the API through pgbouncer (LISTEN over its direct URL); the STOW-RS goes to the
    session's live server: the signal must cross through PostgreSQL."""
    settings = make_settings(pgbouncer, tmp_path / "store").model_copy(
        update={"migrate_database_url": database_url}
    )
    replica, server, thread = start_server(settings)
    events: queue.Queue = queue.Queue()
    reader = threading.Thread(
        target=_sse_reader, args=(f"{replica.url}/api/events", events, "instances_stored"), daemon=True
    )
    try:
        reader.start()
        status = _wait_for(events, lambda e: e[0] == "status")
        assert status[1] == 200 and status[2].startswith("text/event-stream")
        _wait_for(events, lambda e: e[0] == "ready")
        uid, blobs = _study("CT", 2, study_date="20240101")
        body, ctype = multipart(blobs)
        with live_server.client() as c:
            r = c.post("/dicom-web/studies", content=body, headers={"Content-Type": ctype})
        assert r.status_code == 200, r.text
        ev = _wait_for(events, lambda e: e[0] == "instances_stored" and uid in e[1]["studies"])
        assert ev[1]["count"] == 2
        # and replica B's numbers already include it
        with replica.client() as c:
            mods = {m["modality"]: m for m in c.get("/api/analytics/modalities").json()}
            assert mods["CT"]["instances"] == 2
            assert c.get("/api/studies", params={"mrn": "MRN0001"}).json()["total"] == 1
    finally:
        reader.join(timeout=20)
        server.should_exit = True
        thread.join(timeout=30)
        replica.services.close()
