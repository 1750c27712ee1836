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

    def boom(engine, items, durable):
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        raise RuntimeError("the statement was refused")

    monkeypatch.setattr(service, "index_committed", boom)
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

    real = service.index_committed
    calls = {"n": 0}

    def loses_the_first_race(eng, items, durable):
        calls["n"] += 1
        if calls["n"] == 1:
            raise OperationalError(
                "UPDATE studies ...", {}, psycopg.errors.DeadlockDetected("deadlock detected")
            )
        return real(eng, items, durable)

    monkeypatch.setattr(service, "index_committed", loses_the_first_race)
    store = FileSystemStore(tmp_path / "s")
    [out] = IngestService(engine, store).store_many([ct_bytes()])
    assert out.ok and out.new and calls["n"] == 2
    assert _counts(engine) == (1, 1, 1, 1)
    assert len(_files(store.root)) == 1


def test_concurrent_callers_share_one_index_transaction(engine, tmp_path, monkeypatch):
    """Group commit: callers arriving while an index transaction runs are indexed together in the next one,
    each gets its own outcome, and the same instance sent by two of them is indexed once, its bytes kept once."""
    import threading

    import pacs.ingest.service as service

    store = FileSystemStore(tmp_path / "s")
    svc = IngestService(engine, store)
    real = service.index_committed
    first_running = threading.Event()
    release = threading.Event()
    calls: list[int] = []

    def held_first(eng, items, durable):
        calls.append(len(items))
        if len(calls) == 1:  # the leader's transaction waits until the others have queued
            first_running.set()
            assert release.wait(10)
        return real(eng, items, durable)

    monkeypatch.setattr(service, "index_committed", held_first)
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
    real = service.index_committed
    first_running = threading.Event()
    release = threading.Event()
    calls = 0

    def flaky(eng, items, durable):
        nonlocal calls
        calls += 1
        if calls == 1:
            first_running.set()
            assert release.wait(10)
        if any(it.record.instance["instance_number"] == 3 for it in items):
            raise RuntimeError("constraint violated")
        return real(eng, items, durable)

    monkeypatch.setattr(service, "index_committed", flaky)
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


def test_every_attribute_the_record_holds_is_indexed(engine, tmp_path):
    """``pacs_index_instances`` (migration 0005) lists its columns: every key ``instance_record`` produces must
    land in its column, so an attribute added to the record without a migration that writes it fails here."""
    from pacs.dicom.attributes import instance_record
    from pacs.index.tables import TABLES

    ds = ct_dataset(study_uid=generate_uid(), patient_name="Müller^Jürgen", accession="ACC-77")
    for keyword, value in {
        "IssuerOfPatientID": "HOSP-A",
        "StudyTime": "101500",
        "StudyID": "S77",
        "StudyDescription": "CT Thorax",
        "ReferringPhysicianName": "Ref^Erin",
        "InstitutionName": "General Hospital",
        "TimezoneOffsetFromUTC": "+0100",
        "SeriesNumber": 7,
        "SeriesDescription": "Axial 1mm",
        "BodyPartExamined": "CHEST",
        "SeriesDate": "20240115",
        "SeriesTime": "101600",
        "PerformedProcedureStepStartDate": "20240115",
        "PerformedProcedureStepStartTime": "101400",
        "InstanceNumber": 12,
        "NumberOfFrames": 1,
    }.items():
        setattr(ds, keyword, value)
    data = to_bytes(ds)
    assert IngestService(engine, FileSystemStore(tmp_path / "s")).store_one(data).new
    record = instance_record(ds)
    keys = {
        "patients": ("patient_id", record.patient["patient_id"]),
        "studies": ("study_instance_uid", record.study["study_instance_uid"]),
        "series": ("series_instance_uid", record.series["series_instance_uid"]),
        "instances": ("sop_instance_uid", record.instance["sop_instance_uid"]),
    }
    levels = {"patients": record.patient, "studies": record.study, "series": record.series}
    levels["instances"] = record.instance
    with engine.connect() as conn:
        for table, expected in levels.items():
            column, value = keys[table]
            row = (
                conn.execute(TABLES[table].select().where(TABLES[table].c[column] == value)).mappings().one()
            )
            for key, want in expected.items():
                assert row[key] == want, (table, key)
                assert want not in ("", None), (table, key)  # the dataset above sets every one of them


def test_batches_keep_the_derived_study_and_series_attributes(engine, tmp_path):
    """Counters, modalities and sizes after batches over several studies and series, with an instance sent
    again (counted once)."""
    svc = IngestService(engine, FileSystemStore(tmp_path / "s"))
    st1, st2 = generate_uid(), generate_uid()
    ct, mr, st2_ct = generate_uid(), generate_uid(), generate_uid()
    first = [
        to_bytes(ct_dataset(study_uid=st1, series_uid=ct, modality="CT", instance_number=i)) for i in (1, 2)
    ]
    first += [to_bytes(ct_dataset(study_uid=st2, series_uid=st2_ct, modality="CT"))]
    assert all(o.new for o in svc.store_many(first))
    second = [
        to_bytes(ct_dataset(study_uid=st1, series_uid=mr, modality="MR", instance_number=i))
        for i in (1, 2, 3)
    ]
    outs = svc.store_many([*second, first[0]])
    assert [o.new for o in outs] == [True, True, True, False] and all(o.ok for o in outs)
    with engine.connect() as conn:
        studies = {
            r.study_instance_uid: r
            for r in conn.execute(
                text(
                    "SELECT study_instance_uid, number_of_series, number_of_instances, size_bytes, "
                    "modalities_in_study FROM studies"
                )
            )
        }
        series = dict(conn.execute(text("SELECT series_instance_uid, number_of_instances FROM series")).all())
    sizes = [len(b) for b in first + second]
    assert (studies[st1].number_of_series, studies[st1].number_of_instances) == (2, 5)
    assert studies[st1].size_bytes == sum(sizes[:2]) + sum(sizes[3:])
    assert studies[st1].modalities_in_study == ["CT", "MR"]
    assert (studies[st2].number_of_series, studies[st2].number_of_instances) == (1, 1)
    assert studies[st2].modalities_in_study == ["CT"] and studies[st2].size_bytes == sizes[2]
    assert series == {ct: 2, mr: 3, st2_ct: 1}


def test_an_index_call_whose_answer_is_lost_keeps_the_bytes(engine, tmp_path, monkeypatch):
    """The connection drops after the index statement ran: it may have committed, so the bytes it refers to
    stay and the caller hears of the failure (a retry by the sender is then idempotent)."""
    from sqlalchemy.exc import OperationalError

    import pacs.ingest.service as service

    real = service.index_committed

    def committed_then_lost(eng, items, durable):
        real(eng, items, durable)
        raise OperationalError(
            "SELECT pacs_index_instances(...)",
            {},
            Exception("server closed the connection"),
            connection_invalidated=True,
        )

    monkeypatch.setattr(service, "index_committed", committed_then_lost)
    store = FileSystemStore(tmp_path / "s")
    data = ct_bytes(study_uid=generate_uid())
    with pytest.raises(OperationalError):
        IngestService(engine, store).store_one(data)
    [f] = _files(store.root)
    with engine.connect() as conn:
        key = conn.execute(text("SELECT storage_key FROM instances")).scalar_one()
    assert f == store.root / key and f.read_bytes() == data
    monkeypatch.setattr(service, "index_committed", real)
    again = IngestService(engine, store).store_one(data)  # the sender retries: stored once, bytes kept once
    assert again.ok and not again.new and _files(store.root) == [f]
