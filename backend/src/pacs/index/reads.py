"""Read SQL: searches built from the query engine's conditions, and lookups for retrieval."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    Text,
    and_,
    cast,
    exists,
    func,
    literal,
    or_,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY

from pacs.index.tables import TABLES, instances, patients, series, studies
from pacs.query.engine import Condition, Level, SearchSpec


def _condition_sql(cond: Condition) -> ColumnElement[bool]:
    table = TABLES[cond.field.table]
    col = table.c[cond.field.norm] if cond.insensitive and cond.field.norm else table.c[cond.field.column]
    if cond.kind == "exact":
        return col.in_(list(cond.values)) if len(cond.values) > 1 else col == cond.values[0]
    if cond.kind == "wildcard":
        return or_(*(col.like(str(v)) for v in cond.values))
    if cond.kind == "range":
        lo, hi = cond.values
        parts = []
        if lo is not None:
            parts.append(col >= lo)
        if hi is not None:
            parts.append(col <= f"{hi}~")  # '~' sorts after digits: "1200" covers "120000.5"
        return and_(*parts)
    if cond.kind == "fuzzy":
        # Every word must start one of the name's components (family, given, middle ...).
        return and_(*(col.regexp_match(r"(^|[\^ =])" + re.escape(str(w))) for w in cond.values))
    if cond.kind == "contains":
        return and_(*(col.like(f"%{_escape_like(str(w))}%") for w in cond.values))
    if cond.kind == "overlap":
        return col.overlap(cast(list(cond.values), ARRAY(Text)))
    raise ValueError(f"unknown condition kind {cond.kind}")


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def where_clauses(spec: SearchSpec) -> list[ColumnElement[bool]]:
    """SQL for the spec's conditions; series conditions at study level become EXISTS."""
    out: list[ColumnElement[bool]] = []
    series_conds = []
    for cond in spec.conditions:
        if spec.level == Level.STUDY and cond.field.table == "series":
            series_conds.append(_condition_sql(cond))
        else:
            out.append(_condition_sql(cond))
    if series_conds:
        out.append(exists(select(literal(1)).where(series.c.study_fk == studies.c.id, *series_conds)))
    return out


def search_select(spec: SearchSpec, *, with_metadata: bool = False) -> Select[Any]:
    """The SELECT for a QIDO-RS / C-FIND search at the spec's level (ordered by insertion)."""
    where = where_clauses(spec)
    if spec.level == Level.PATIENT:
        n_studies = (
            select(func.count())
            .where(studies.c.patient_fk == patients.c.id)
            .scalar_subquery()
            .label("n_studies")
        )
        n_series = (
            select(func.coalesce(func.sum(studies.c.number_of_series), 0))
            .where(studies.c.patient_fk == patients.c.id)
            .scalar_subquery()
            .label("n_series")
        )
        n_instances = (
            select(func.coalesce(func.sum(studies.c.number_of_instances), 0))
            .where(studies.c.patient_fk == patients.c.id)
            .scalar_subquery()
            .label("n_instances")
        )
        stmt = select(patients.c.id, patients.c.attrs, n_studies, n_series, n_instances).order_by(
            patients.c.id
        )
    elif spec.level == Level.STUDY:
        stmt = select(
            studies.c.id,
            studies.c.study_instance_uid,
            studies.c.modalities_in_study,
            studies.c.number_of_series,
            studies.c.number_of_instances,
            studies.c.attrs.label("study_attrs"),
        ).order_by(studies.c.id)
    elif spec.level == Level.SERIES:
        stmt = (
            select(
                series.c.id,
                series.c.series_instance_uid,
                series.c.number_of_instances,
                series.c.attrs.label("series_attrs"),
                studies.c.study_instance_uid,
                studies.c.attrs.label("study_attrs"),
                studies.c.modalities_in_study,
                studies.c.number_of_series,
                studies.c.number_of_instances.label("study_number_of_instances"),
            )
            .select_from(series.join(studies, studies.c.id == series.c.study_fk))
            .order_by(series.c.id)
        )
    else:
        cols = [
            instances.c.id,
            instances.c.sop_instance_uid,
            instances.c.sop_class_uid,
            instances.c.instance_number,
            instances.c.rows,
            instances.c.columns,
            instances.c.bits_allocated,
            instances.c.number_of_frames,
            instances.c.transfer_syntax_uid,
            series.c.series_instance_uid,
            series.c.attrs.label("series_attrs"),
            series.c.number_of_instances.label("series_number_of_instances"),
            studies.c.study_instance_uid,
            studies.c.attrs.label("study_attrs"),
            studies.c.modalities_in_study,
            studies.c.number_of_series,
            studies.c.number_of_instances.label("study_number_of_instances"),
        ]
        if with_metadata:
            cols.append(instances.c.metadata)
        stmt = (
            select(*cols)
            .select_from(
                instances.join(series, series.c.id == instances.c.series_fk).join(
                    studies, studies.c.id == instances.c.study_fk
                )
            )
            .order_by(instances.c.id)
        )
    if where:
        stmt = stmt.where(*where)
    if spec.after_id is not None:
        level_table = {Level.PATIENT: patients, Level.STUDY: studies, Level.SERIES: series}.get(
            spec.level, instances
        )
        stmt = stmt.where(level_table.c.id > spec.after_id)
    if spec.limit is not None:
        stmt = stmt.limit(spec.limit)
    if spec.offset:
        stmt = stmt.offset(spec.offset)
    return stmt


def search(conn: Connection, spec: SearchSpec, *, with_metadata: bool = False) -> list[dict[str, Any]]:
    return [dict(r) for r in conn.execute(search_select(spec, with_metadata=with_metadata)).mappings()]


def instances_for(
    conn: Connection,
    study_instance_uid: str,
    series_instance_uid: str | None = None,
    sop_instance_uid: str | None = None,
    *,
    with_metadata: bool = False,
) -> list[dict[str, Any]]:
    """Instances under a study / series / one instance, in series and instance-number order."""
    cols: list[Any] = [
        instances.c.sop_instance_uid,
        instances.c.sop_class_uid,
        instances.c.transfer_syntax_uid,
        instances.c.storage_key,
        instances.c.size_bytes,
        instances.c.number_of_frames,
        series.c.series_instance_uid,
        studies.c.study_instance_uid,
    ]
    if with_metadata:
        cols.append(cast(instances.c.metadata, Text).label("metadata_json"))
    stmt = (
        select(*cols)
        .select_from(
            instances.join(series, series.c.id == instances.c.series_fk).join(
                studies, studies.c.id == instances.c.study_fk
            )
        )
        .where(studies.c.study_instance_uid == study_instance_uid)
        .order_by(series.c.series_number, series.c.id, instances.c.instance_number, instances.c.id)
    )
    if series_instance_uid is not None:
        stmt = stmt.where(series.c.series_instance_uid == series_instance_uid)
    if sop_instance_uid is not None:
        stmt = stmt.where(instances.c.sop_instance_uid == sop_instance_uid)
    return [dict(r) for r in conn.execute(stmt).mappings()]


def ping(conn: Connection) -> None:
    conn.execute(select(literal(1)))
