"""Ingest, the one write path: durable, atomic, idempotent (real PostgreSQL, real files)."""

from __future__ import annotations

import time

import pytest
from pydicom.uid import generate_uid
from sqlalchemy import text

from pacs.db import create_db_engine
from pacs.ingest import IngestService
from pacs.storage import FileSystemStore
from tests.conftest import make_settings
from tests.dicomfactory import ct_bytes, ct_dataset, to_bytes


@pytest.fixture
def engine(database_url, tmp_path, clean_db):
    eng = create_db_engine(make_settings(database_url, tmp_path / "store"))
    yield eng
    eng.dispose()


def _counts(engine):
    with engine.connect() as conn:
        return tuple(
            conn.execute(text(f"SELECT count(*) FROM {t}")).scalar()
            for t in ("patients", "studies", "series", "instances")
        )


def _files(root):
    return sorted(p for p in root.rglob("*.dcm"))


class FailingStore(FileSystemStore):
    def put(self, key: str, data: bytes) -> None:
        raise OSError(28, "No space left on device")


def test_object_store_failure_indexes_nothing(engine, tmp_path):
    svc = IngestService(engine, FailingStore(tmp_path / "failing"))
    [out] = svc.store_many([ct_bytes()])
    assert out.failure_status == 0xA700 and "No space left" in out.detail
    assert _counts(engine) == (0, 0, 0, 0)


def test_index_failure_leaves_no_rows_and_no_orphan_bytes(engine, tmp_path, monkeypatch):
    store = FileSystemStore(tmp_path / "s")
    svc = IngestService(engine, store)
    import pacs.ingest.service as service

    def boom(conn, items):
        conn.execute(text("SELECT 1"))
        raise RuntimeError("database went away")

    monkeypatch.setattr(service, "index_instances", boom)
    outs = svc.store_many([ct_bytes(), ct_bytes()])
    assert all(o.failure_status == 0x0110 for o in outs)
    assert _counts(engine) == (0, 0, 0, 0)
    assert _files(store.root) == []


def test_truncated_and_missing_uid_objects_are_refused_and_earlier_data_kept(engine, tmp_path):
    store = FileSystemStore(tmp_path / "s")
    svc = IngestService(engine, store)
    good = ct_bytes(size=128)
    assert svc.store_one(good).ok
    before = _counts(engine)
    no_study = ct_dataset()
    del no_study.StudyInstanceUID
    bad_uid = ct_dataset(sop_uid="1.2.abc")
    outs = svc.store_many([good[: len(good) // 3], to_bytes(no_study), to_bytes(bad_uid), b"DICM" * 10])
    assert [o.failure_status for o in outs] == [0xC000, 0xA900, 0xA900, 0xC000]
    assert _counts(engine) == before
    assert len(_files(store.root)) == 1
    [f] = _files(store.root)
    assert f.read_bytes() == good  # bytes kept exactly as received


def test_same_instance_twice_is_stored_once(engine, tmp_path):
    store = FileSystemStore(tmp_path / "s")
    svc = IngestService(engine, store)
    data = ct_bytes(study_uid=generate_uid())
    first = svc.store_one(data)
    second = svc.store_one(data)
    assert first.ok and first.new and second.ok and not second.new
    assert _counts(engine) == (1, 1, 1, 1)
    assert len(_files(store.root)) == 1


class FlakyStore(FileSystemStore):
    """Fails the write of one chosen instance (its key contains ``bad``)."""

    def __init__(self, root, bad: str) -> None:
        super().__init__(root)
        self.bad = bad

    def put(self, key: str, data: bytes) -> None:
        if self.bad in key:
            raise OSError(5, "Input/output error")
        super().put(key, data)


def test_partial_object_store_failure_indexes_only_what_is_on_disk(engine, tmp_path):
    study = generate_uid()
    good, bad = ct_dataset(study_uid=study), ct_dataset(study_uid=study)
    store = FlakyStore(tmp_path / "s", bad=str(bad.SOPInstanceUID))
    svc = IngestService(engine, store)
    out_good, out_bad = svc.store_many([to_bytes(good), to_bytes(bad)])
    assert out_good.ok and out_good.new
    assert out_bad.failure_status == 0xA700
    with engine.connect() as conn:
        uids = set(conn.execute(text("SELECT sop_instance_uid FROM instances")).scalars())
        n = conn.execute(text("SELECT number_of_instances FROM studies")).scalar()
    assert uids == {str(good.SOPInstanceUID)} and n == 1
    assert len(_files(store.root)) == 1


def test_a_deadlock_with_a_concurrent_batch_is_retried(engine, tmp_path, monkeypatch):
    import psycopg
    from sqlalchemy.exc import OperationalError

    import pacs.ingest.service as service

    real = service.index_instances
    calls = {"n": 0}

    def loses_the_first_race(conn, items):
        calls["n"] += 1
        if calls["n"] == 1:
            raise OperationalError(
                "UPDATE studies ...", {}, psycopg.errors.DeadlockDetected("deadlock detected")
            )
        return real(conn, items)

    monkeypatch.setattr(service, "index_instances", loses_the_first_race)
    store = FileSystemStore(tmp_path / "s")
    [out] = IngestService(engine, store).store_many([ct_bytes()])
    assert out.ok and out.new and calls["n"] == 2
    assert _counts(engine) == (1, 1, 1, 1)
    assert len(_files(store.root)) == 1


def test_prepared_statements_when_the_connection_can_keep_them(database_url, tmp_path, clean_db):
    """PACS_DB_PREPARE_THRESHOLD (direct connections, PgCat with prepared statements): the ingest statements are
    prepared on the server once per connection and reused; reads on the same connection never are (their plans
    depend on the values); unset (the default, safe behind pgbouncer 1.18), nothing is."""
    from pacs.query.engine import Level
    from pacs.query.service import QueryService

    for threshold, expect_prepared in ((0, True), (None, False)):
        settings = make_settings(database_url, tmp_path, db_prepare_threshold=threshold, db_pool_size=1)
        eng = create_db_engine(settings)
        try:
            study = generate_uid()
            # a read first, on the pool's one connection: it is not prepared
            assert QueryService(eng).search(Level.STUDY, {"StudyInstanceUID": study})[0] == []
            ingest = IngestService(
                eng, FileSystemStore(tmp_path / f"store-{threshold}"), prepare_threshold=threshold
            )
            outcomes = ingest.store_many(
                [to_bytes(ct_dataset(study_uid=study, instance_number=i)) for i in (1, 2)]
            )
            outcomes += [ingest.store_one(to_bytes(ct_dataset(study_uid=study, instance_number=3)))]
            assert all(o.ok and o.new for o in outcomes)
            with eng.connect() as conn:  # the same connection: what the ingest prepared is still there
                prepared = conn.execute(text("SELECT statement FROM pg_prepared_statements")).scalars().all()
            assert any("INSERT INTO instances" in p for p in prepared) is expect_prepared, prepared
            assert not any("FROM studies" in p and "INSERT" not in p for p in prepared), prepared
            assert len(QueryService(eng).search(Level.STUDY, {"StudyInstanceUID": study})[0]) == 1
        finally:
            eng.dispose()
    with create_db_engine(make_settings(database_url, tmp_path)).connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM instances")).scalar_one() == 6  # 3 per engine


def test_concurrent_callers_share_one_index_transaction(engine, tmp_path, monkeypatch):
    """Group commit: callers arriving while an index transaction runs are indexed together in the next one,
    each gets its own outcome, and the same instance sent by two of them is indexed once, its bytes kept once."""
    import threading

    import pacs.ingest.service as service

    store = FileSystemStore(tmp_path / "s")
    svc = IngestService(engine, store)
    real = service.index_instances
    first_running = threading.Event()
    release = threading.Event()
    calls: list[int] = []

    def held_first(conn, items):
        calls.append(len(items))
        if len(calls) == 1:  # the leader's transaction waits until the others have queued
            first_running.set()
            assert release.wait(10)
        return real(conn, items)

    monkeypatch.setattr(service, "index_instances", held_first)
    study, series = generate_uid(), generate_uid()
    shared = ct_bytes(study_uid=study, series_uid=series, instance_number=99)
    blobs = [ct_bytes(study_uid=study, series_uid=series, instance_number=i) for i in range(5)] + [
        shared,
        shared,
    ]
    results: dict[int, object] = {}

    def call(i: int) -> None:
        results[i] = svc.store_one(blobs[i])

    leader = threading.Thread(target=call, args=(0,))
    leader.start()
    assert first_running.wait(10)
    others = [threading.Thread(target=call, args=(i,)) for i in range(1, len(blobs))]
    for t in others:
        t.start()
    deadline = time.monotonic() + 10
    while len(svc._queue) < len(others) and time.monotonic() < deadline:  # all queued behind the leader
        time.sleep(0.01)
    release.set()
    for t in [leader, *others]:
        t.join(10)

    assert svc.index_transactions == 2 and calls == [1, len(blobs) - 2]  # 6 callers, 5 distinct instances
    assert all(results[i].ok and results[i].new for i in range(5))
    assert results[5].ok and results[6].ok and [results[5].new, results[6].new].count(True) == 1
    assert _counts(engine) == (1, 1, 1, 6)
    assert len(_files(store.root)) == 6  # no second copy of the shared instance
    with engine.connect() as conn:
        assert conn.execute(text("SELECT number_of_instances FROM studies")).scalar_one() == 6


def test_a_failing_instance_in_a_shared_transaction_fails_alone(engine, tmp_path, monkeypatch):
    """An index error in a group-committed transaction: the others are indexed one by one, the culprit alone
    fails (0x0110) with its bytes removed, every caller gets an answer and the next store leads at once."""
    import threading

    import pacs.ingest.service as service

    store = FileSystemStore(tmp_path / "s")
    svc = IngestService(engine, store)
    real = service.index_instances
    first_running = threading.Event()
    release = threading.Event()
    calls = 0

    def flaky(conn, items):
        nonlocal calls
        calls += 1
        if calls == 1:
            first_running.set()
            assert release.wait(10)
        if any(it.record.instance["instance_number"] == 3 for it in items):
            raise RuntimeError("constraint violated")
        return real(conn, items)

    monkeypatch.setattr(service, "index_instances", flaky)
    study, series = generate_uid(), generate_uid()
    blobs = [ct_bytes(study_uid=study, series_uid=series, instance_number=i) for i in range(5)]
    results: dict[int, object] = {}

    def call(i: int) -> None:
        results[i] = svc.store_one(blobs[i])

    threads = [threading.Thread(target=call, args=(0,))]
    threads[0].start()
    assert first_running.wait(10)
    threads += [threading.Thread(target=call, args=(i,)) for i in range(1, 5)]
    for t in threads[1:]:
        t.start()
    deadline = time.monotonic() + 10
    while len(svc._queue) < 4 and time.monotonic() < deadline:
        time.sleep(0.01)
    release.set()
    for t in threads:
        t.join(10)

    assert [results[i].ok for i in range(5)] == [True, True, True, False, True]
    assert results[3].failure_status == 0x0110
    assert _counts(engine) == (1, 1, 1, 4)
    assert len(_files(store.root)) == 4
    assert svc.store_one(ct_bytes(study_uid=study, series_uid=series, instance_number=7)).ok  # not stuck
    assert svc.index_transactions == 3
