"""The one write path's SQL: a batch of instances in a fixed, small number of round trips.

Called by ``pacs.ingest`` inside one transaction. Rows are sorted by UID before upserting so that concurrent
batches lock in the same order (no deadlocks). Study and series counters are updated incrementally
(``n = n + delta``), which stays correct when concurrent transactions add to the same study.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ARRAY, BigInteger, Connection, Text, bindparam, select, text
from sqlalchemy.dialects.postgresql import insert

from pacs.dicom.attributes import InstanceRecord
from pacs.index.tables import instances, patients, series, studies

EVENTS_CHANNEL = "pacs_events"
_BIGINT_ARRAY = ARRAY(BigInteger)
_TEXT_ARRAY = ARRAY(Text)


@dataclass
class IndexItem:
    record: InstanceRecord
    storage_key: str
    size_bytes: int
    transfer_syntax_uid: str
    metadata: dict[str, Any]


def existing_sop_instance_uids(conn: Connection, uids: list[str]) -> set[str]:
    if not uids:
        return set()
    rows = conn.execute(
        select(instances.c.sop_instance_uid).where(instances.c.sop_instance_uid.in_(uids))
    ).scalars()
    return set(rows)


def index_instances(conn: Connection, items: list[IndexItem]) -> set[str]:
    """Index ``items``; return the SOP Instance UIDs that were new (others already existed: idempotent)."""
    if not items:
        return set()
    items = sorted(items, key=lambda it: it.record.instance["sop_instance_uid"])

    # 1. patients
    pat_rows: dict[tuple[str, str], dict[str, Any]] = {}
    for it in items:
        p = it.record.patient
        pat_rows.setdefault((p["patient_id"], p["issuer_of_patient_id"]), p)
    ins_p = insert(patients).values([pat_rows[k] for k in sorted(pat_rows)])
    upsert_p = ins_p.on_conflict_do_update(
        constraint="patients_identity", set_={"patient_id": ins_p.excluded.patient_id}
    ).returning(patients.c.id, patients.c.patient_id, patients.c.issuer_of_patient_id)
    patient_ids = {(r.patient_id, r.issuer_of_patient_id): r.id for r in conn.execute(upsert_p)}

    # 2. studies
    study_rows: dict[str, dict[str, Any]] = {}
    for it in items:
        s = it.record.study
        p = it.record.patient
        if s["study_instance_uid"] not in study_rows:
            study_rows[s["study_instance_uid"]] = {
                **s,
                "patient_fk": patient_ids[(p["patient_id"], p["issuer_of_patient_id"])],
            }
    upsert_st = (
        insert(studies)
        .values([study_rows[k] for k in sorted(study_rows)])
        .on_conflict_do_update(
            index_elements=[studies.c.study_instance_uid], set_={"updated_at": text("now()")}
        )
        .returning(studies.c.id, studies.c.study_instance_uid)
    )
    study_ids = {r.study_instance_uid: r.id for r in conn.execute(upsert_st)}

    # 3. series
    series_rows: dict[str, dict[str, Any]] = {}
    for it in items:
        se_rec = it.record.series
        if se_rec["series_instance_uid"] not in series_rows:
            series_rows[se_rec["series_instance_uid"]] = {
                **se_rec,
                "study_fk": study_ids[it.record.study["study_instance_uid"]],
            }
    ins_se = insert(series).values([series_rows[k] for k in sorted(series_rows)])
    upsert_se = ins_se.on_conflict_do_update(
        index_elements=[series.c.series_instance_uid], set_={"modality": ins_se.excluded.modality}
    ).returning(series.c.id, series.c.series_instance_uid, series.c.study_fk, text("(xmax = 0) AS inserted"))
    series_info: dict[str, Any] = {r.series_instance_uid: r for r in conn.execute(upsert_se)}

    # 4. instances (idempotent: an existing SOP Instance UID is left as it is)
    inst_rows = []
    for it in items:
        se_info = series_info[it.record.series["series_instance_uid"]]
        inst_rows.append(
            {
                **it.record.instance,
                "series_fk": se_info.id,
                "study_fk": se_info.study_fk,
                "transfer_syntax_uid": it.transfer_syntax_uid,
                "storage_key": it.storage_key,
                "size_bytes": it.size_bytes,
                "metadata": it.metadata,
            }
        )
    insert_i = (
        insert(instances)
        .values(inst_rows)
        .on_conflict_do_nothing(index_elements=[instances.c.sop_instance_uid])
        .returning(
            instances.c.sop_instance_uid, instances.c.series_fk, instances.c.study_fk, instances.c.size_bytes
        )
    )
    new = list(conn.execute(insert_i))
    if not new:
        return set()

    # 5. derived attributes, incrementally
    per_series: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    per_study: dict[int, list[Any]] = defaultdict(lambda: [0, 0, 0, set()])
    for r in new:
        per_series[r.series_fk][0] += 1
        per_series[r.series_fk][1] += r.size_bytes
        per_study[r.study_fk][0] += 1
        per_study[r.study_fk][1] += r.size_bytes
    for uid, se_row in series_info.items():
        if se_row.inserted:
            per_study[se_row.study_fk][2] += 1
        if se_row.id in per_series and series_rows[uid]["modality"]:
            per_study[se_row.study_fk][3].add(series_rows[uid]["modality"])
    sids = sorted(per_series)
    conn.execute(
        text(
            "UPDATE series SET number_of_instances = series.number_of_instances + v.n, "
            "size_bytes = series.size_bytes + v.s "
            "FROM unnest(:ids, :ns, :ss) AS v(id, n, s) WHERE series.id = v.id"
        ).bindparams(
            bindparam("ids", [sid for sid in sids], type_=_BIGINT_ARRAY),
            bindparam("ns", [per_series[s][0] for s in sids], type_=_BIGINT_ARRAY),
            bindparam("ss", [per_series[s][1] for s in sids], type_=_BIGINT_ARRAY),
        )
    )
    tids = sorted(per_study)
    conn.execute(
        text(
            "UPDATE studies SET number_of_instances = studies.number_of_instances + v.n, "
            "size_bytes = studies.size_bytes + v.s, number_of_series = studies.number_of_series + v.ns, "
            "modalities_in_study = ARRAY(SELECT DISTINCT m FROM unnest(studies.modalities_in_study "
            "|| string_to_array(v.mods, '\\')) AS m WHERE m <> '' ORDER BY m), updated_at = now() "
            "FROM unnest(:ids, :ns, :ss, :nss, :mods) AS v(id, n, s, ns, mods) WHERE studies.id = v.id"
        ).bindparams(
            bindparam("ids", tids, type_=_BIGINT_ARRAY),
            bindparam("ns", [per_study[t][0] for t in tids], type_=_BIGINT_ARRAY),
            bindparam("ss", [per_study[t][1] for t in tids], type_=_BIGINT_ARRAY),
            bindparam("nss", [per_study[t][2] for t in tids], type_=_BIGINT_ARRAY),
            bindparam("mods", ["\\".join(sorted(per_study[t][3])) for t in tids], type_=_TEXT_ARRAY),
        )
    )
    uids_by_id = {v: k for k, v in study_ids.items()}
    notify(
        conn,
        {
            "type": "instances_stored",
            "count": len(new),
            "studies": sorted(uids_by_id[t] for t in tids if t in uids_by_id)[:50],
        },
    )
    return {r.sop_instance_uid for r in new}


def notify(conn: Connection, payload: dict[str, Any]) -> None:
    """Signal other replicas (delivered at commit; works through a transaction-mode pooler)."""
    conn.execute(
        text("SELECT pg_notify(:channel, :payload)"),
        {"channel": EVENTS_CHANNEL, "payload": json.dumps(payload)[:7900]},
    )
