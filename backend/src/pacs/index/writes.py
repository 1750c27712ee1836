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

from sqlalchemy import ARRAY, BigInteger, Connection, Text, bindparam, text

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


#: One statement text whatever the number of UIDs (an ``IN`` list is compiled anew for every length).
_EXISTING = text("SELECT sop_instance_uid FROM instances WHERE sop_instance_uid = ANY(:uids)").bindparams(
    bindparam("uids", type_=_TEXT_ARRAY)
)


def existing_sop_instance_uids(conn: Connection, uids: list[str]) -> set[str]:
    if not uids:
        return set()
    return set(conn.execute(_EXISTING, {"uids": uids}).scalars())


def _ordered_rows(param: str, table: str) -> str:
    """The JSON array parameter ``param`` as rows of ``table`` (``r``), with the element (``e.j``) and its order."""
    return (
        f"jsonb_array_elements(CAST(:{param} AS jsonb)) WITH ORDINALITY AS e(j, ord) "
        f"CROSS JOIN LATERAL jsonb_populate_record(NULL::{table}, e.j) AS r"
    )


_UPSERT_CACHE: dict[tuple[tuple[str, ...], ...], Any] = {}


def _upsert_statement(
    pcols: tuple[str, ...], stcols: tuple[str, ...], secols: tuple[str, ...], icols: tuple[str, ...]
) -> Any:
    """Patients, studies, series and instances in ONE statement (data-modifying CTEs, PostgreSQL 9.1+).

    Each level joins the rows its parent CTE returned (inserted or already there), so a batch costs one round
    trip instead of four; rows are inserted in input (UID) order. The no-op ``DO UPDATE`` of an existing row
    (which returns its id) sets a column outside every unique key: PostgreSQL then locks the row FOR NO KEY
    UPDATE, which does not block the foreign-key checks (KEY SHARE) of concurrent batches for the same patient;
    setting a key column would take FOR UPDATE and let two batches deadlock. The column lists come from
    :func:`pacs.dicom.attributes.instance_record`, never from user input.
    """
    key = (pcols, stcols, secols, icols)
    cached = _UPSERT_CACHE.get(key)
    if cached is not None:
        return cached
    for table, cols in ((patients, pcols), (studies, stcols), (series, secols), (instances, icols)):
        unknown = set(cols) - set(table.c.keys())
        if unknown:
            raise ValueError(f"unknown {table.name} columns {sorted(unknown)}")

    def sel(cols: tuple[str, ...]) -> str:
        return ", ".join(f"r.{c}" for c in cols)

    def names(cols: tuple[str, ...]) -> str:
        return ", ".join(cols)

    sql = f"""
WITH p AS (
    INSERT INTO patients ({names(pcols)})
    SELECT {sel(pcols)} FROM {_ordered_rows("patients", "patients")} ORDER BY e.ord
    ON CONFLICT ON CONSTRAINT patients_identity DO UPDATE SET patient_birth_date = patients.patient_birth_date
    RETURNING id, patient_id, issuer_of_patient_id
), s AS (
    INSERT INTO studies ({names(stcols)}, patient_fk)
    SELECT {sel(stcols)}, p.id FROM {_ordered_rows("studies", "studies")}
    JOIN p ON p.patient_id = e.j->>'_patient_id' AND p.issuer_of_patient_id = e.j->>'_issuer'
    ORDER BY e.ord
    ON CONFLICT (study_instance_uid) DO UPDATE SET updated_at = now()
    RETURNING id, study_instance_uid
), se AS (
    INSERT INTO series ({names(secols)}, study_fk)
    SELECT {sel(secols)}, s.id FROM {_ordered_rows("series", "series")}
    JOIN s ON s.study_instance_uid = e.j->>'_study'
    ORDER BY e.ord
    ON CONFLICT (series_instance_uid) DO UPDATE SET modality = EXCLUDED.modality
    RETURNING id, series_instance_uid, study_fk, (xmax = 0) AS inserted
), i AS (
    INSERT INTO instances ({names(icols)}, series_fk, study_fk)
    SELECT {sel(icols)}, se.id, se.study_fk FROM {_ordered_rows("instances", "instances")}
    JOIN se ON se.series_instance_uid = e.j->>'_series'
    ORDER BY e.ord
    ON CONFLICT (sop_instance_uid) DO NOTHING
    RETURNING sop_instance_uid, series_fk, study_fk, size_bytes
)
SELECT 'i' AS kind, sop_instance_uid AS uid, series_fk AS a, study_fk AS b, size_bytes AS n, NULL::boolean AS inserted
  FROM i
UNION ALL SELECT 'se', series_instance_uid, id, study_fk, NULL, inserted FROM se
UNION ALL SELECT 's', study_instance_uid, id, NULL, NULL, NULL FROM s
"""
    stmt = text(sql)
    _UPSERT_CACHE[key] = stmt
    return stmt


_COUNTERS = text(
    "WITH a AS (UPDATE series SET number_of_instances = series.number_of_instances + v.n, "
    "size_bytes = series.size_bytes + v.s "
    "FROM unnest(:se_ids, :se_ns, :se_ss) AS v(id, n, s) WHERE series.id = v.id RETURNING 1), "
    "b AS (UPDATE studies SET number_of_instances = studies.number_of_instances + v.n, "
    "size_bytes = studies.size_bytes + v.s, number_of_series = studies.number_of_series + v.ns, "
    "modalities_in_study = ARRAY(SELECT DISTINCT m FROM unnest(studies.modalities_in_study "
    "|| string_to_array(v.mods, '\\')) AS m WHERE m <> '' ORDER BY m), updated_at = now() "
    "FROM unnest(:st_ids, :st_ns, :st_ss, :st_nss, :st_mods) AS v(id, n, s, ns, mods) "
    "WHERE studies.id = v.id RETURNING 1) "
    "SELECT pg_notify(:channel, :payload), (SELECT count(*) FROM a), (SELECT count(*) FROM b)"
).bindparams(
    bindparam("se_ids", type_=_BIGINT_ARRAY),
    bindparam("se_ns", type_=_BIGINT_ARRAY),
    bindparam("se_ss", type_=_BIGINT_ARRAY),
    bindparam("st_ids", type_=_BIGINT_ARRAY),
    bindparam("st_ns", type_=_BIGINT_ARRAY),
    bindparam("st_ss", type_=_BIGINT_ARRAY),
    bindparam("st_nss", type_=_BIGINT_ARRAY),
    bindparam("st_mods", type_=_TEXT_ARRAY),
)


def index_instances(conn: Connection, items: list[IndexItem]) -> set[str]:
    """Index ``items``; return the SOP Instance UIDs that were new (others already existed: idempotent).

    Two statements whatever the batch size: one upserts patients, studies, series and instances (data-modifying
    CTEs); the other adds the new instances to the study and series counters and signals other replicas.
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
    pats = [pat_rows[k] for k in sorted(pat_rows)]
    sts = [study_rows[k] for k in sorted(study_rows)]
    ses = [series_rows[k] for k in sorted(series_rows)]

    def cols(rows: list[dict[str, Any]]) -> tuple[str, ...]:
        return tuple(sorted({k for r in rows for k in r if not k.startswith("_")}))

    stmt = _upsert_statement(cols(pats), cols(sts), cols(ses), cols(inst_rows))
    result = conn.execute(
        stmt,
        {
            "patients": json.dumps(pats),
            "studies": json.dumps(sts),
            "series": json.dumps(ses),
            "instances": json.dumps(inst_rows),
        },
    ).all()
    study_ids: dict[str, int] = {}
    series_info: dict[str, Any] = {}
    new = []
    for r in result:
        if r.kind == "i":
            new.append(r)
        elif r.kind == "se":
            series_info[r.uid] = r
        else:
            study_ids[r.uid] = r.a
    if not new:
        return set()

    # derived attributes, incrementally (n = n + delta stays right under concurrent writers)
    per_series: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    per_study: dict[int, list[Any]] = defaultdict(lambda: [0, 0, 0, set()])
    for r in new:
        per_series[r.a][0] += 1
        per_series[r.a][1] += r.n
        per_study[r.b][0] += 1
        per_study[r.b][1] += r.n
    for uid, se_row in series_info.items():
        if se_row.inserted:
            per_study[se_row.b][2] += 1
        if se_row.a in per_series and series_rows[uid]["modality"]:
            per_study[se_row.b][3].add(series_rows[uid]["modality"])
    sids = sorted(per_series)
    tids = sorted(per_study)
    uids_by_id = {v: k for k, v in study_ids.items()}
    payload = {
        "type": "instances_stored",
        "count": len(new),
        "studies": sorted(uids_by_id[t] for t in tids if t in uids_by_id)[:50],
    }
    conn.execute(
        _COUNTERS,
        {
            "se_ids": sids,
            "se_ns": [per_series[s][0] for s in sids],
            "se_ss": [per_series[s][1] for s in sids],
            "st_ids": tids,
            "st_ns": [per_study[t][0] for t in tids],
            "st_ss": [per_study[t][1] for t in tids],
            "st_nss": [per_study[t][2] for t in tids],
            "st_mods": ["\\".join(sorted(per_study[t][3])) for t in tids],
            "channel": EVENTS_CHANNEL,
            "payload": json.dumps(payload)[:7900],
        },
    )
    return {r.uid for r in new}


def notify(conn: Connection, payload: dict[str, Any]) -> None:
    """Signal other replicas (delivered at commit; works through a transaction-mode pooler)."""
    conn.execute(
        text("SELECT pg_notify(:channel, :payload)"),
        {"channel": EVENTS_CHANNEL, "payload": json.dumps(payload)[:7900]},
    )
