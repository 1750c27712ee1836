"""Store DICOM instances: validate → put bytes → index, durably, atomically and idempotently.

- Durable: bytes are fsynced in the object store and the index transaction is committed before success is
  returned; the transaction commits only once the bytes it refers to are on disk.
- Atomic: bytes go to a fresh key first; the index rows of a batch are written in one transaction, so a failure
  leaves no half-indexed instance visible and no orphan rows (the fresh bytes are deleted again).
- Idempotent: an SOP Instance UID that is already indexed is reported as stored and not indexed twice; the
  copy just received is deleted, the indexed bytes are kept.
- Batched: a STOW-RS request with many instances costs one index statement (``pacs_index_instances``, a
  server-side function) and one commit, and callers that arrive while an index transaction runs share the
  next one (group commit, ``_group_write``).

The ingest call is its own unit of work (one STOW-RS request, one C-STORE, one seeding batch): it returns once
the index holding its instances is committed, because success may only be reported then.
"""

from __future__ import annotations

import logging
import random
import secrets
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from io import BytesIO

import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError as PydicomInvalidDicomError
from pydicom.uid import UID
from sqlalchemy import Engine

from pacs.dicom.attributes import instance_record
from pacs.dicom.json import metadata_json
from pacs.dicom.uid import is_valid_uid
from pacs.exceptions import (
    InstanceMismatchError,
    InvalidDicomError,
    MissingAttributeError,
    PacsError,
    StudyMismatchError,
)
from pacs.index.writes import IndexItem, index_committed, surely_rolled_back
from pacs.storage import ObjectStore

log = logging.getLogger(__name__)

REQUIRED_UIDS = ("SOPClassUID", "SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID")
#: Attempts for an index transaction that lost a deadlock or serialization race to a concurrent batch.
TRANSIENT_RETRIES = 4


def _transient(exc: BaseException) -> bool:
    """A deadlock (40P01) or serialization failure (40001): PostgreSQL asks the client to run it again."""
    cause = getattr(exc, "orig", None) or exc
    return getattr(cause, "sqlstate", None) in ("40P01", "40001")


@dataclass
class StoreOutcome:
    """The result for one instance, as STOW-RS and C-STORE report it."""

    sop_class_uid: str = ""
    sop_instance_uid: str = ""
    study_instance_uid: str = ""
    series_instance_uid: str = ""
    failure_status: int | None = None  # DICOM status (PS3.4 B.2.3 / PS3.18 I.2.2) when not stored
    detail: str = ""
    new: bool = False

    @property
    def ok(self) -> bool:
        return self.failure_status is None


@dataclass
class _Parsed:
    index: int
    data: bytes
    ds: Dataset
    transfer_syntax_uid: str


@dataclass
class _Pending:
    """One caller's instances waiting for a group commit (see :meth:`IngestService._group_write`)."""

    todo: list[tuple[_Parsed, IndexItem]]
    outcomes: list[StoreOutcome]
    puts: list[Future[Exception | None]]
    done: threading.Event = field(default_factory=threading.Event)
    lead: bool = False  # handed the leader's role instead of a result
    error: BaseException | None = None


def parse_part10(data: bytes) -> tuple[Dataset, str]:
    """Parse a DICOM Part-10 object's header (bulk values deferred) and check what the archive requires.

    Returns the dataset and its transfer syntax; raises :class:`InvalidDicomError` or
    :class:`MissingAttributeError`.
    """
    try:
        ds = pydicom.dcmread(BytesIO(data), defer_size=4096)
    except PydicomInvalidDicomError as exc:
        raise InvalidDicomError(
            "not a DICOM Part-10 object (no 'DICM' preamble and File Meta Information)"
        ) from exc
    except Exception as exc:
        raise InvalidDicomError(f"cannot parse the DICOM object: {exc}") from exc
    meta = getattr(ds, "file_meta", None)
    ts = str(getattr(meta, "TransferSyntaxUID", "") or "")
    if not ts:
        raise InvalidDicomError("the File Meta Information has no TransferSyntaxUID (0002,0010)")
    if not UID(ts).is_transfer_syntax:
        raise InvalidDicomError(f"unknown transfer syntax {ts}", dicom_status=0xC122)
    _check_complete(ds, ts, len(data))
    for keyword in REQUIRED_UIDS:
        try:
            value = str(ds.get(keyword, "") or "").strip()
        except Exception as exc:
            raise InvalidDicomError(f"cannot decode {keyword}: {exc}") from exc
        if not value:
            raise MissingAttributeError(f"{keyword} is missing or empty")
        if not is_valid_uid(value):
            raise MissingAttributeError(f"{keyword} {value!r} is not a valid UID")
    return ds, ts


_PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")


def _check_items(value: bytes) -> None:
    """Encapsulated Pixel Data (PS3.5 A.4) must be whole items: a cut item means a truncated file."""
    offset, n = 0, len(value)
    while offset < n:
        if offset + 8 > n or value[offset : offset + 4] != b"\xfe\xff\x00\xe0":
            raise InvalidDicomError("the object is truncated: encapsulated Pixel Data ends inside an item")
        length = int.from_bytes(value[offset + 4 : offset + 8], "little")
        offset += 8 + length
    if offset != n:
        raise InvalidDicomError("the object is truncated: encapsulated Pixel Data ends inside an item")


def _check_complete(ds: Dataset, ts: str, size: int) -> None:
    """Refuse truncated objects: pydicom silently accepts a value cut short by the end of the file."""
    try:
        for elem in ds.elements():
            tell = getattr(elem, "value_tell", None)
            length = getattr(elem, "length", None)
            if tell is not None and length is not None and length != 0xFFFFFFFF and tell + length > size:
                raise InvalidDicomError(
                    f"the object is truncated: {elem.tag} needs {length} bytes, the file ends first"
                )
        if "PixelData" in ds:
            value = ds.PixelData
            if UID(ts).is_encapsulated:
                _check_items(bytes(value))
            else:
                rows, cols = int(ds.get("Rows", 0) or 0), int(ds.get("Columns", 0) or 0)
                spp = int(ds.get("SamplesPerPixel", 1) or 1)
                bits = int(ds.get("BitsAllocated", 8) or 8)
                frames = int(ds.get("NumberOfFrames", 1) or 1)
                expected = (rows * cols * spp * frames * bits + 7) // 8
                if len(value) < expected:
                    raise InvalidDicomError(
                        f"the object is truncated: Pixel Data holds {len(value)} bytes, "
                        f"{rows}x{cols}x{spp}x{frames} at {bits} bits needs {expected}"
                    )
        elif "Rows" in ds and "Columns" in ds and not any(k in ds for k in _PIXEL_KEYWORDS):
            raise MissingAttributeError(
                "an image (Rows, Columns) without Pixel Data: truncated or incomplete"
            )
    except PacsError:
        raise
    except Exception as exc:
        raise InvalidDicomError(f"cannot read the DICOM object: {exc}") from exc


class IngestService:
    def __init__(
        self,
        engine: Engine,
        store: ObjectStore,
        *,
        io_threads: int = 8,
    ) -> None:
        self.engine = engine
        self.store = store
        self._pool = ThreadPoolExecutor(max_workers=io_threads, thread_name_prefix="ingest-io")
        # group commit: callers whose index writes wait while another caller's transaction runs
        self._queue: list[_Pending] = []
        self._queue_lock = threading.Lock()
        self._leading = False
        #: index transactions run by the group commit (each holds one or more callers' instances)
        self.index_transactions = 0

    # -- public API ---------------------------------------------------------------------------------------
    def store_one(
        self,
        data: bytes,
        *,
        expected_study: str | None = None,
        expected_instance: tuple[str, str] | None = None,
    ) -> StoreOutcome:
        """Store one instance. ``expected_instance``: (SOP Class UID, SOP Instance UID) its data set must carry
        (a C-STORE's Affected SOP Class / Instance UID, PS3.7 9.1.1)."""
        return self.store_many([data], expected_study=expected_study, expected_instance=expected_instance)[0]

    def store_many(
        self,
        blobs: list[bytes],
        *,
        expected_study: str | None = None,
        expected_instance: tuple[str, str] | None = None,
    ) -> list[StoreOutcome]:
        """Store a batch; one outcome per blob, in order. Never raises for a bad instance."""
        outcomes = [StoreOutcome() for _ in blobs]
        parsed: list[_Parsed] = []
        for i, data in enumerate(blobs):
            try:
                ds, ts = parse_part10(data)
                out = outcomes[i]
                out.sop_class_uid = str(ds.SOPClassUID)
                out.sop_instance_uid = str(ds.SOPInstanceUID)
                out.study_instance_uid = str(ds.StudyInstanceUID)
                out.series_instance_uid = str(ds.SeriesInstanceUID)
                if expected_instance and (out.sop_class_uid, out.sop_instance_uid) != expected_instance:
                    raise InstanceMismatchError(
                        f"the data set is SOP Instance {out.sop_instance_uid} of class {out.sop_class_uid}, not the "
                        f"command's Affected SOP Instance {expected_instance[1]} of class {expected_instance[0]}"
                    )
                if expected_study and out.study_instance_uid != expected_study:
                    raise StudyMismatchError(
                        f"StudyInstanceUID {out.study_instance_uid} does not match the request's study "
                        f"{expected_study}"
                    )
                parsed.append(_Parsed(i, data, ds, ts))
            except PacsError as exc:
                self._fail(outcomes[i], exc.dicom_status, exc.detail)
            except Exception as exc:  # any other parse problem is "cannot understand"
                self._fail(outcomes[i], 0xC000, f"cannot parse the DICOM object: {exc}")
        if parsed:
            self._store_parsed(parsed, outcomes)
        return outcomes

    # -- internals ----------------------------------------------------------------------------------------
    @staticmethod
    def _fail(out: StoreOutcome, status: int, detail: str) -> None:
        out.failure_status = status
        out.detail = detail
        log.warning("instance not stored (0x%04X): %s %s", status, out.sop_instance_uid or "-", detail)

    def _prepare(self, p: _Parsed, key: str) -> IndexItem:
        meta = metadata_json(p.ds)
        return IndexItem(
            record=instance_record(p.ds, meta),
            storage_key=key,
            size_bytes=len(p.data),
            transfer_syntax_uid=p.transfer_syntax_uid,
            metadata=meta,
        )

    def _store_parsed(self, parsed: list[_Parsed], outcomes: list[StoreOutcome]) -> None:
        # Duplicates inside the request: the first one is stored, the others report its outcome.
        first: dict[str, _Parsed] = {}
        dupes: list[tuple[_Parsed, _Parsed]] = []
        for p in parsed:
            uid = outcomes[p.index].sop_instance_uid
            if uid in first:
                dupes.append((p, first[uid]))
            else:
                first[uid] = p
        todo: list[tuple[_Parsed, IndexItem]] = []
        puts: list[Future[Exception | None]] = []
        for p in first.values():
            out = outcomes[p.index]
            # bytes to a fresh key (invisible until indexed), written while the header becomes DICOM JSON
            key = f"{out.study_instance_uid}/{out.series_instance_uid}/{out.sop_instance_uid}.{secrets.token_hex(4)}.dcm"
            put = self._pool.submit(self._put, key, p.data)
            try:
                item = self._prepare(p, key)
            except Exception as exc:
                self._fail(out, 0xC000, f"cannot read the DICOM header: {exc}")
                self._discard(key, put)
                continue
            todo.append((p, item))
            puts.append(put)
        if todo:
            self._group_write(_Pending(todo, outcomes, puts))
        for dup, orig in dupes:
            src = outcomes[orig.index]
            dst = outcomes[dup.index]
            dst.failure_status, dst.detail = src.failure_status, src.detail

    def _put(self, key: str, data: bytes) -> Exception | None:
        try:
            self.store.put(key, data)
            return None
        except Exception as exc:  # disk full, permissions, cloud errors
            return exc

    def _discard(self, key: str, put: Future[Exception | None]) -> None:
        """Delete bytes nothing will reference, once their write is over."""
        if put.result() is None:
            self.store.delete(key)

    def _group_write(self, pending: _Pending) -> None:
        """Index ``pending`` in a transaction shared with the callers that arrive meanwhile (group commit).

        A caller that finds no index transaction running leads: it runs one with its instances straight away
        (a caller alone waits for nobody). Callers that arrive while it runs queue up and wait, holding no
        database connection; when the leader is done, the first of them leads the next transaction, for
        everything queued by then. Concurrent single-instance stores (several modalities, several STOW-RS
        clients) so share one transaction and its commit instead of one each. Each caller's outcomes are
        filled in as :meth:`_write` does.
        """
        with self._queue_lock:
            self._queue.append(pending)
            lead = not self._leading
            self._leading = True
        if not lead:
            pending.done.wait()
            if not pending.lead:
                if pending.error is not None:
                    raise pending.error
                return
        self._lead()
        if pending.error is not None:
            raise pending.error

    def _lead(self) -> None:
        """Run one transaction for everything queued, then hand the lead to the first caller queued meanwhile."""
        with self._queue_lock:
            batch, self._queue = self._queue, []
            self.index_transactions += 1
        copies: list[tuple[StoreOutcome, StoreOutcome, str, Future[Exception | None]]] = []
        try:  # whatever happens, every caller of the batch is answered and the lead is passed on (finally)
            todo: list[tuple[_Parsed, IndexItem]] = []
            outcomes: list[StoreOutcome] = []
            puts: list[Future[Exception | None]] = []
            first: dict[str, StoreOutcome] = {}
            for entry in batch:  # one list of instances, each outcome still the caller's own object
                for (p, item), put in zip(entry.todo, entry.puts, strict=True):
                    out = entry.outcomes[p.index]
                    if out.sop_instance_uid in first:  # the same instance from two callers: index it once
                        copies.append((out, first[out.sop_instance_uid], item.storage_key, put))
                        continue
                    first[out.sop_instance_uid] = out
                    todo.append((_Parsed(len(outcomes), p.data, p.ds, p.transfer_syntax_uid), item))
                    outcomes.append(out)
                    puts.append(put)
            self._write(todo, outcomes, puts)
            for out, orig, key, put in copies:  # reported like the one indexed; its bytes are not needed
                out.failure_status, out.detail = orig.failure_status, orig.detail
                self._discard(key, put)
        except BaseException as exc:
            for entry in batch:
                entry.error = exc
            for _out, _orig, key, put in copies:  # no second copy left behind on this path either
                self._discard(key, put)
        finally:
            with self._queue_lock:
                nxt = self._queue[0] if self._queue else None
                if nxt is None:
                    self._leading = False
            for entry in batch:
                entry.done.set()
            if nxt is not None:
                nxt.lead = True
                nxt.done.set()

    def _write(
        self,
        todo: list[tuple[_Parsed, IndexItem]],
        outcomes: list[StoreOutcome],
        puts: list[Future[Exception | None]],
    ) -> None:
        """Index the instances in one statement while their bytes are being written; commit once they are durable.

        ``puts``: the object-store writes of ``todo``'s bytes, already started (or done). The index transaction
        commits only when every byte it refers to is on disk; when a write failed, it rolls back and the
        instances that are on disk are indexed on their own (the failed one is reported). The statement
        indexes all of the batch or none of it, and is run again when it lost a deadlock or serialization race
        to a concurrent batch.
        """
        errors: list[Exception | None] = []

        def durable() -> bool:
            if not errors:
                errors.extend(f.result() for f in puts)
            return all(e is None for e in errors)

        new: set[str] | None = None
        for attempt in range(TRANSIENT_RETRIES):
            try:
                new = index_committed(self.engine, [item for _, item in todo], durable)
                break
            except Exception as exc:
                durable()  # every write is over before anything is decided about the bytes
                if _transient(exc) and attempt < TRANSIENT_RETRIES - 1:
                    log.warning("index transaction retried after %s", type(exc).__name__)
                    time.sleep(0.01 * (attempt + 1) + random.random() * 0.02)
                    continue
                if not surely_rolled_back(exc):
                    raise  # it may have committed: the bytes stay, the caller hears of the failure
                written = self._written(todo, outcomes, errors)
                log.error("index transaction failed for a batch of %d: %s", len(written), exc)
                self._isolate(written, outcomes, exc)
                return
        if new is None:  # a write failed and the transaction rolled back: index what is on disk
            written = self._written(todo, outcomes, errors)
            if written:
                self._write(written, outcomes, [_done(None) for _ in written])
            return
        for p, item in todo:
            out = outcomes[p.index]
            if out.sop_instance_uid in new:
                out.new = True
            else:  # indexed before, or a concurrent request stored it first: keep theirs, drop our copy
                self.store.delete(item.storage_key)

    def _written(
        self,
        todo: list[tuple[_Parsed, IndexItem]],
        outcomes: list[StoreOutcome],
        errors: list[Exception | None],
    ) -> list[tuple[_Parsed, IndexItem]]:
        """The instances whose bytes are on disk; the others are reported failed (0xA700)."""
        written = []
        for (p, item), err in zip(todo, errors, strict=True):
            if err is None:
                written.append((p, item))
            else:
                self._fail(outcomes[p.index], 0xA700, f"object store write failed: {err}")
        return written

    def _isolate(
        self, written: list[tuple[_Parsed, IndexItem]], outcomes: list[StoreOutcome], exc: Exception
    ) -> None:
        """The index statement failed (and indexed nothing): for a batch, index one by one to find the culprit;
        the instance that fails alone is reported and its bytes deleted."""
        if len(written) > 1:
            for pair in written:
                self._write([pair], outcomes, [_done(None)])
            return
        for p, item in written:
            self.store.delete(item.storage_key)
            self._fail(outcomes[p.index], 0x0110, f"indexing failed: {type(exc).__name__}: {exc}")


def _done(value: Exception | None) -> Future[Exception | None]:
    fut: Future[Exception | None] = Future()
    fut.set_result(value)
    return fut
