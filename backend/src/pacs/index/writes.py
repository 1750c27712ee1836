"""The one write path's SQL: a batch of instances in one statement.

Called by ``pacs.ingest`` while the batch's bytes are being written; the transaction commits once they are
durable (:func:`index_committed`). The statements themselves are the server-side function
``pacs_index_instances`` (migration 0005): rows are sorted by UID before upserting so that concurrent batches
lock in the same order (no deadlocks); study and series counters are updated incrementally (``n = n + delta``),
which stays correct when concurrent transactions add to the same study.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError

from pacs.dicom.attributes import InstanceRecord

EVENTS_CHANNEL = "pacs_events"


@dataclass
class IndexItem:
    record: InstanceRecord
    storage_key: str
    size_bytes: int
    transfer_syntax_uid: str
    metadata: dict[str, Any]


#: The batch's rows as JSON arrays, indexed by one server-side function (migration 0005): one round trip,
#: and plans PostgreSQL keeps per server connection, with no protocol-level prepared statement (safe behind a
#: transaction-mode pooler).
_INDEX = text(
    "SELECT pacs_index_instances(CAST(:patients AS jsonb), CAST(:studies AS jsonb), CAST(:series AS jsonb), "
    "CAST(:instances AS jsonb), :channel)"
)


def index_instances(conn: Connection, items: list[IndexItem]) -> set[str]:
    """Index ``items``; return the SOP Instance UIDs that were new (others already existed: idempotent).

    One statement whatever the batch size: ``pacs_index_instances`` upserts patients, studies, series and
    instances, adds the new instances to the study and series counters and signals other replicas (delivered
    at commit). Rows are sorted by UID, so concurrent batches lock in the same order. The caller's transaction
    holds all of the batch or none of it.
    """
    if not items:
        return set()
    items = sorted(items, key=lambda it: it.record.instance["sop_instance_uid"])

    pat_rows: dict[tuple[str, str], dict[str, Any]] = {}
    study_rows: dict[str, dict[str, Any]] = {}
    series_rows: dict[str, dict[str, Any]] = {}
    inst_rows: list[dict[str, Any]] = []
    for it in items:
        p = it.record.patient
        pkey = (p["patient_id"], p["issuer_of_patient_id"])
        pat_rows.setdefault(pkey, p)
        st = it.record.study
        if st["study_instance_uid"] not in study_rows:
            study_rows[st["study_instance_uid"]] = {**st, "_patient_id": pkey[0], "_issuer": pkey[1]}
        se_rec = it.record.series
        if se_rec["series_instance_uid"] not in series_rows:
            series_rows[se_rec["series_instance_uid"]] = {**se_rec, "_study": st["study_instance_uid"]}
        inst_rows.append(
            {
                **it.record.instance,
                "transfer_syntax_uid": it.transfer_syntax_uid,
                "storage_key": it.storage_key,
                "size_bytes": it.size_bytes,
                "metadata": it.metadata,
                "_series": se_rec["series_instance_uid"],
            }
        )
    result = conn.execute(
        _INDEX,
        {
            "patients": json.dumps([pat_rows[k] for k in sorted(pat_rows)]),
            "studies": json.dumps([study_rows[k] for k in sorted(study_rows)]),
            "series": json.dumps([series_rows[k] for k in sorted(series_rows)]),
            "instances": json.dumps(inst_rows),
            "channel": EVENTS_CHANNEL,
        },
    )
    return set(result.scalars())


def index_committed(engine: Engine, items: list[IndexItem], durable: Callable[[], bool]) -> set[str] | None:
    """:func:`index_instances` in its own transaction, committed only if ``durable()`` (called once the
    statement has run: the caller's object-store writes overlap it) says every byte it refers to is on disk;
    else rolled back (returns None). Returns the new SOP Instance UIDs once committed."""
    with engine.connect() as conn:
        new = index_instances(conn, items)
        if not durable():
            conn.rollback()
            return None
        conn.commit()
        return new


def surely_rolled_back(exc: BaseException) -> bool:
    """Whether a failed :func:`index_committed` certainly indexed nothing: raised before the statement reached
    the server, or refused by the server with the connection still up. A lost connection leaves it unknown
    (the commit may have happened), so the bytes the statement refers to must stay."""
    if not isinstance(exc, DBAPIError):
        return True
    if exc.connection_invalidated:
        return False
    sqlstate = getattr(exc.orig, "sqlstate", None)
    return bool(sqlstate) and not str(sqlstate).startswith(("08", "57", "58", "XX"))


def notify(conn: Connection, payload: dict[str, Any]) -> None:
    """Signal other replicas (delivered at commit; works through a transaction-mode pooler)."""
    conn.execute(
        text("SELECT pg_notify(:channel, :payload)"),
        {"channel": EVENTS_CHANNEL, "payload": json.dumps(payload)[:7900]},
    )
