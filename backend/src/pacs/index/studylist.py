"""The study list's SQL: keyset pages over ``studies``, capped counts, planner estimates and the study page.

Filtering reuses :func:`pacs.index.reads.where_clauses` (the same SQL QIDO-RS runs); this module only adds the
ordering, the keyset condition and the counts. Every sort has a ``(columns..., id)`` B-tree (migrations 0001
and 0003), so a page costs the same wherever it starts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Connection, bindparam, func, select, tuple_

from pacs.index.reads import where_clauses
from pacs.index.tables import series, studies
from pacs.query.engine import SearchSpec

#: What a study-list row carries.
ROW_COLUMNS = (
    "study_instance_uid",
    "patient_name",
    "patient_id",
    "patient_birth_date",
    "patient_sex",
    "accession_number",
    "study_date",
    "study_time",
    "modalities_in_study",
    "study_description",
    "referring_physician_name",
    "institution_name",
    "number_of_series",
    "number_of_instances",
    "size_bytes",
)


def _keyset(cols: Sequence[Any], values: Sequence[Any], greater: bool) -> ColumnElement[bool]:
    params = [bindparam(None, v, type_=c.type) for c, v in zip(cols, values, strict=True)]
    left, right = tuple_(*cols), tuple_(*params)
    return left > right if greater else left < right


def page(
    conn: Connection,
    spec: SearchSpec,
    order_columns: Sequence[str],
    *,
    descending: bool,
    after: Sequence[Any] | None,
    backward: bool,
    limit: int,
    materialize: bool = False,
) -> list[dict[str, Any]]:
    """Up to ``limit + 1`` rows in the direction of travel.

    ``after`` is the key (order column values then ``id``) of the row the page starts after; ``backward``
    walks towards the start of the list (the caller reverses the rows). Each row carries ``_key``.

    Two plans, chosen by the caller from the (counted) number of matches: walk the sort's B-tree and filter
    (cost ~ page size / selectivity: right when many rows match), or, with ``materialize``, collect the
    matches first (bitmap scans of the filter's indexes) and sort them (cost ~ matches: right when few do).
    """
    key_cols = [studies.c[name] for name in order_columns] + [studies.c.id]
    reverse = descending != backward  # walk the index backwards
    labelled = [c.label(f"_k{i}") for i, c in enumerate(key_cols)]
    stmt = select(*(studies.c[n] for n in ROW_COLUMNS), *labelled).where(*where_clauses(spec))
    if after is not None:
        stmt = stmt.where(_keyset(key_cols, after, greater=not reverse))
    if materialize:
        m = stmt.cte("matches").prefix_with("MATERIALIZED")
        mkeys = [m.c[f"_k{i}"] for i in range(len(key_cols))]
        stmt = select(m).order_by(*(c.desc() if reverse else c.asc() for c in mkeys)).limit(limit + 1)
    else:
        stmt = stmt.order_by(*(c.desc() if reverse else c.asc() for c in key_cols)).limit(limit + 1)
    out = []
    n_key = len(key_cols)
    for row in conn.execute(stmt):
        values = list(row)
        item = dict(zip(ROW_COLUMNS, values[: len(ROW_COLUMNS)], strict=True))
        item["_key"] = values[len(values) - n_key :]
        out.append(item)
    return out


def count_capped(conn: Connection, spec: SearchSpec, cap: int) -> int:
    """The number of matching studies, counting at most ``cap + 1`` (so the cost is bounded)."""
    inner = select(studies.c.id).where(*where_clauses(spec)).limit(cap + 1).subquery()
    return int(conn.execute(select(func.count()).select_from(inner)).scalar_one())


def estimate(conn: Connection, spec: SearchSpec) -> int:
    """The planner's row estimate for the filter (``EXPLAIN``; nothing is executed)."""
    stmt = select(studies.c.id).where(*where_clauses(spec))
    compiled = stmt.compile(dialect=conn.dialect)
    plan = conn.exec_driver_sql("EXPLAIN (FORMAT JSON) " + str(compiled), compiled.params).scalar_one()
    if isinstance(plan, str):  # pragma: no cover - psycopg parses json, other drivers may not
        import json

        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])


def study(conn: Connection, study_instance_uid: str) -> dict[str, Any] | None:
    row = (
        conn.execute(
            select(*(studies.c[n] for n in ROW_COLUMNS), studies.c.id, studies.c.study_id).where(
                studies.c.study_instance_uid == study_instance_uid
            )
        )
        .mappings()
        .first()
    )
    return dict(row) if row is not None else None


def series_of(conn: Connection, study_pk: int) -> list[dict[str, Any]]:
    stmt = (
        select(
            series.c.series_instance_uid,
            series.c.series_number,
            series.c.modality,
            series.c.series_description,
            series.c.body_part_examined,
            series.c.series_date,
            series.c.series_time,
            series.c.number_of_instances,
            series.c.size_bytes,
        )
        .where(series.c.study_fk == study_pk)
        .order_by(series.c.series_number.asc().nulls_last(), series.c.id)
    )
    return [dict(r) for r in conn.execute(stmt).mappings()]
