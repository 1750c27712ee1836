"""The study list's SQL: keyset pages over ``studies``, capped counts, planner estimates and the study page.

Filtering reuses :func:`pacs.index.reads.where_clauses` (the same SQL QIDO-RS runs); this module only adds the
ordering, the keyset condition and the counts. Every sort has a ``(columns..., id)`` B-tree (migrations 0001
and 0003), so a page costs the same wherever it starts.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import Any

from sqlalchemy import Column, ColumnElement, Connection, bindparam, func, select, tuple_
from sqlalchemy.sql import visitors
from sqlalchemy.sql.util import ClauseAdapter

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


#: The default sort's covering index (migration 0003): (study_date, study_time, id) INCLUDE these columns, so
#: that a bounded walk whose filter needs only them is an index-only scan (no heap page per row walked).
COVERED_SORT = ("study_date", "study_time")
COVERING = (
    "patient_name_norm",
    "referring_physician_name_norm",
    "study_description_norm",
    "patient_id",
    "accession_number",
    "modalities_in_study",
)


def _studies_columns(clauses: Sequence[Any]) -> set[str] | None:
    """The ``studies`` columns the clauses read, or None when they reach other tables (series EXISTS)."""
    names: set[str] = set()
    for clause in clauses:
        for el in visitors.iterate(clause):
            if isinstance(el, Column):
                if el.table is not studies:
                    return None
                names.add(el.name)
    return names


def _keyset(cols: Sequence[Any], values: Sequence[Any], greater: bool) -> ColumnElement[bool]:
    params = [bindparam(None, v, type_=c.type) for c, v in zip(cols, values, strict=True)]
    left, right = tuple_(*cols), tuple_(*params)
    return left > right if greater else left < right


class Plan(StrEnum):
    """How a page is found (see :func:`page`)."""

    WALK = "walk"  # walk the sort's B-tree, filtering as it goes, until the page is full
    BUDGET = "budget"  # the same, but give up after ``budget`` index entries
    SORT = "sort"  # collect every match (bitmap scans of the filter's indexes), then sort them


def page(
    conn: Connection,
    spec: SearchSpec,
    order_columns: Sequence[str],
    *,
    descending: bool,
    after: Sequence[Any] | None,
    backward: bool,
    limit: int,
    plan: Plan = Plan.WALK,
    budget: int = 5000,
    cap: int | None = None,
) -> tuple[list[dict[str, Any]], int | None, int | None]:
    """Up to ``limit + 1`` rows in the direction of travel; (plan SORT) how many rows match after the key;
    (plan BUDGET) how many index entries the walk read to find them.

    With ``cap`` the SORT plan collects at most ``cap + 1`` matches: a count above ``cap`` means "too many to
    sort" (the rows are then not the page; walk instead), so its cost is bounded whatever the filter.

    ``after`` is the key (order column values then ``id``) of the row the page starts after; ``backward``
    walks towards the start of the list (the caller reverses the rows). Each row carries ``_key``.

    WALK costs ~ page size / selectivity (right when many rows match), SORT costs ~ matches (right when few
    do); BUDGET bounds the walk so that a caller that does not know the selectivity can try it first and
    fall back to SORT when it returns less than a page.
    """
    key_cols = [studies.c[name] for name in order_columns] + [studies.c.id]
    reverse = descending != backward  # walk the index backwards
    where = where_clauses(spec)
    keyset = [_keyset(key_cols, after, greater=not reverse)] if after is not None else []

    def ordered(cols: Sequence[Any]) -> list[Any]:
        return [c.desc() if reverse else c.asc() for c in cols]

    matched: int | None = None
    walked_n: int | None = None
    if plan is Plan.SORT:
        # The matches are collected as sort keys only (with the id), so that when the filter's columns are in
        # the default sort's covering index the collection is an index-only scan (no heap page per entry
        # looked at: a month of studies with no match used to cost ~55 ms of heap reads); the rows are read
        # for the page alone.
        labelled = [c.label(f"_k{i}") for i, c in enumerate(key_cols)]
        inner = select(*labelled).where(*where, *keyset)
        if cap is not None:
            inner = inner.limit(cap + 1)
        m = inner.cte("matches").prefix_with("MATERIALIZED")
        mkeys = [m.c[f"_k{i}"] for i in range(len(key_cols))]
        top = (
            select(*mkeys, func.count().over().label("_matched"))
            .order_by(*ordered(mkeys))
            .limit(limit + 1)
            .subquery("top")
        )
        tkeys = [top.c[f"_k{i}"] for i in range(len(key_cols))]
        stmt = (
            select(*(studies.c[n] for n in ROW_COLUMNS), *tkeys, top.c._matched)
            .join(top, studies.c.id == tkeys[-1])
            .order_by(*ordered(tkeys))
        )
    elif plan is Plan.BUDGET:
        # The LIMIT inside keeps the filter out of the walk: at most ``budget`` index entries are read.
        # Conditions on the sort's leading column (a StudyDate range under the date sort) stay inside: they
        # are index ranges, so the walk starts where they do.
        ranged = [w for w in where if _studies_columns([w]) == {order_columns[0]}]
        rest = [w for w in where if not any(w is r for r in ranged)]
        if _covered(order_columns, where):
            # index-only: only the covering index's columns, the heap is read for the page's rows alone
            needed = sorted((_studies_columns(where) or set()) - {*order_columns, "id"})
            inner_cols = [*key_cols, *(studies.c[n] for n in needed)]
        else:
            inner_cols = [c for c in studies.c if c.name != "attrs"]
        position = func.row_number().over(order_by=ordered(key_cols)).label("_pos")
        walked = (
            select(*inner_cols, position)
            .where(*keyset, *ranged)
            .order_by(*ordered(key_cols))
            .limit(budget)
            .subquery("walked")
        )
        adapt = ClauseAdapter(walked)
        wkeys = [walked.c[c.name] for c in key_cols]
        hits = (
            select(walked.c.id, walked.c._pos)
            .where(*(adapt.traverse(w) for w in rest))
            .order_by(*ordered(wkeys))
            .limit(limit + 1)
            .subquery("hits")
        )
        stmt = (
            select(*(studies.c[n] for n in ROW_COLUMNS), *key_cols, hits.c._pos)
            .join(hits, hits.c.id == studies.c.id)
            .order_by(*ordered(key_cols))
        )
    else:
        stmt = (
            select(*(studies.c[n] for n in ROW_COLUMNS), *key_cols)
            .where(*where, *keyset)
            .order_by(*ordered(key_cols))
            .limit(limit + 1)
        )
    out = []
    n_row = len(ROW_COLUMNS)
    n_key = len(key_cols)
    for row in conn.execute(stmt):
        values = list(row)
        item = dict(zip(ROW_COLUMNS, values[:n_row], strict=True))
        item["_key"] = values[n_row : n_row + n_key]
        if plan is Plan.SORT:
            matched = int(values[-1])
        elif plan is Plan.BUDGET:
            walked_n = max(walked_n or 0, int(values[-1]))
        out.append(item)
    if plan is Plan.SORT and matched is None:
        matched = 0
    return out, matched, walked_n


def _covered(order_columns: Sequence[str], where: Sequence[Any]) -> bool:
    cols = _studies_columns(where)
    return (
        tuple(order_columns) == COVERED_SORT and cols is not None and cols <= {*COVERING, *COVERED_SORT, "id"}
    )


def covered(order_columns: Sequence[str], spec: SearchSpec) -> bool:
    """Whether a bounded walk for this sort and filter is an index-only scan (cheap per entry walked)."""
    return _covered(order_columns, where_clauses(spec))


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
