"""DICOM attribute matching, as PS3.4 C.2.2.2 and PS3.18 8.3.4 define it.

>>> c = parse_condition(field_for(Level.STUDY, "PatientName"), "doe^j*")
>>> (c.kind, c.values)
('wildcard', ('doe^j%',))
>>> parse_condition(field_for(Level.STUDY, "StudyDate"), "20200101-").values
('20200101', None)
>>> parse_condition(field_for(Level.STUDY, "StudyInstanceUID"), "1.2\\\\1.3").values
('1.2', '1.3')
>>> parse_condition(field_for(Level.STUDY, "PatientID"), "") is None
True
>>> parse_condition(field_for(Level.STUDY, "PatientName"), "müll", fuzzy=True).values
('mull',)
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum

from pacs.dicom.text import fold
from pacs.dicom.uid import is_valid_uid
from pacs.exceptions import BadRequestError


class Level(StrEnum):
    PATIENT = "PATIENT"
    STUDY = "STUDY"
    SERIES = "SERIES"
    IMAGE = "IMAGE"


@dataclass(frozen=True)
class Field:
    """Where a DICOM attribute lives in the index.

    ``table`` is one of ``patients``, ``studies``, ``series``, ``instances``; ``norm`` is the case- and
    accent-folded column used for insensitive matching.
    """

    keyword: str
    table: str
    column: str
    vr: str
    norm: str | None = None


@dataclass(frozen=True)
class Condition:
    """One matching condition.

    kinds: ``exact`` (any of values), ``wildcard`` (SQL LIKE patterns, any of), ``range`` ((lo, hi), either
    may be None), ``fuzzy`` (word-prefix on the folded column), ``overlap`` (array column shares a value).
    """

    field: Field
    kind: str
    values: tuple[str | int | None, ...]
    insensitive: bool = False


@dataclass
class SearchSpec:
    level: Level
    conditions: list[Condition] = field(default_factory=list)
    limit: int | None = None
    offset: int = 0
    #: Keyset paging: only matches after this index id (every level is returned in id order).
    after_id: int | None = None


_PATIENT_FIELDS = {
    "PatientName": ("patient_name", "PN", "patient_name_norm"),
    "PatientID": ("patient_id", "LO", None),
    "IssuerOfPatientID": ("issuer_of_patient_id", "LO", None),
    "PatientBirthDate": ("patient_birth_date", "DA", None),
    "PatientSex": ("patient_sex", "CS", None),
}

_FIELDS: dict[str, Field] = {}


def _add(table: str, keyword: str, column: str, vr: str, norm: str | None = None) -> None:
    _FIELDS[f"{table}.{keyword}"] = Field(keyword, table, column, vr, norm)


for _kw, (_col, _vr, _norm) in _PATIENT_FIELDS.items():
    _add("patients", _kw, _col, _vr, _norm)
    if _kw != "IssuerOfPatientID":
        _add("studies", _kw, _col, _vr, _norm)
for _kw, _col, _vr, _norm in (
    ("StudyInstanceUID", "study_instance_uid", "UI", None),
    ("StudyDate", "study_date", "DA", None),
    ("StudyTime", "study_time", "TM", None),
    ("AccessionNumber", "accession_number", "SH", None),
    ("StudyID", "study_id", "SH", None),
    ("StudyDescription", "study_description", "LO", "study_description_norm"),
    ("ReferringPhysicianName", "referring_physician_name", "PN", "referring_physician_name_norm"),
    ("InstitutionName", "institution_name", "LO", None),
    ("ModalitiesInStudy", "modalities_in_study", "CS[]", None),
    ("NumberOfStudyRelatedSeries", "number_of_series", "IS", None),
    ("NumberOfStudyRelatedInstances", "number_of_instances", "IS", None),
):
    _add("studies", _kw, _col, _vr, _norm)
for _kw, _col, _vr in (
    ("SeriesInstanceUID", "series_instance_uid", "UI"),
    ("Modality", "modality", "CS"),
    ("SeriesNumber", "series_number", "IS"),
    ("SeriesDescription", "series_description", "LO"),
    ("BodyPartExamined", "body_part_examined", "CS"),
    ("SeriesDate", "series_date", "DA"),
    ("SeriesTime", "series_time", "TM"),
    ("PerformedProcedureStepStartDate", "performed_procedure_step_start_date", "DA"),
    ("PerformedProcedureStepStartTime", "performed_procedure_step_start_time", "TM"),
    ("NumberOfSeriesRelatedInstances", "number_of_instances", "IS"),
):
    _add("series", _kw, _col, _vr)
for _kw, _col, _vr in (
    ("SOPInstanceUID", "sop_instance_uid", "UI"),
    ("SOPClassUID", "sop_class_uid", "UI"),
    ("InstanceNumber", "instance_number", "IS"),
    ("Rows", "rows", "US"),
    ("Columns", "columns", "US"),
    ("BitsAllocated", "bits_allocated", "US"),
    ("NumberOfFrames", "number_of_frames", "IS"),
):
    _add("instances", _kw, _col, _vr)

#: Which tables a query at each level may match on.
_LEVEL_TABLES = {
    Level.PATIENT: ("patients",),
    Level.STUDY: ("studies", "series"),  # series keys at study level match through EXISTS
    Level.SERIES: ("studies", "series"),
    Level.IMAGE: ("studies", "series", "instances"),
}


def field_for(level: Level, keyword: str) -> Field | None:
    """The index field for ``keyword`` when querying at ``level`` (None if it cannot be matched there)."""
    for table in _LEVEL_TABLES[level]:
        f = _FIELDS.get(f"{table}.{keyword}")
        if f is not None:
            return f
    return None


def matchable_keywords(level: Level) -> list[str]:
    return [k.split(".", 1)[1] for k in _FIELDS if k.split(".", 1)[0] in _LEVEL_TABLES[level]]


_DA = re.compile(r"^\d{8}$")
_TM = re.compile(r"^\d{2}(\d{2}(\d{2}(\.\d{1,6})?)?)?$")
_DT = re.compile(r"^\d{4}(\d{2}(\d{2}(\d{2}(\d{2}(\d{2}(\.\d{1,6})?)?)?)?)?)?([+-]\d{4})?$")


def _like(value: str) -> str:
    """DICOM wildcards (``*``, ``?``) to a SQL LIKE pattern, escaping LIKE's own metacharacters."""
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped.replace("*", "%").replace("?", "_")


def _check_temporal(f: Field, value: str) -> None:
    pattern = {"DA": _DA, "TM": _TM, "DT": _DT}[f.vr]
    if not pattern.match(value):
        fmt = {"DA": "YYYYMMDD", "TM": "HHMMSS[.FFFFFF]", "DT": "YYYYMMDDHHMMSS[.FFFFFF][&ZZXX]"}[f.vr]
        raise BadRequestError(f"{f.keyword}: {value!r} is not a valid {f.vr} value; use {fmt} or a range a-b")


def _range_start(vr: str, value: str) -> str:
    """A TM or DT range's lower bound without trailing zeros in its fraction.

    Values are kept as DICOM strings and compared lexically, so a stored ``"072730"`` sorts before the bound
    ``"072730.000"`` although both are 07:27:30.000, and the range, which includes its bounds (PS3.4
    C.2.2.2.5), missed it. Without the zero fraction the bound sorts at or before every value at that moment.

    >>> _range_start("TM", "072730.000"), _range_start("TM", "072730.500"), _range_start("TM", "0800")
    ('072730', '072730.5', '0800')
    >>> _range_start("DT", "20040119072730.0"), _range_start("DT", "20040119072730.0+0100")
    ('20040119072730', '20040119072730.0+0100')
    """
    if vr not in ("TM", "DT") or "+" in value or "-" in value or "." not in value:
        return value
    whole, _, fraction = value.partition(".")
    fraction = fraction.rstrip("0")
    return f"{whole}.{fraction}" if fraction else whole


def parse_condition(
    f: Field, raw: str, *, fuzzy: bool = False, insensitive: bool = False
) -> Condition | None:
    """Parse one key's value into a condition; None means universal matching (empty value or ``*``)."""
    value = raw.strip()
    if value in ("", "*"):
        return None
    if f.vr == "UI":
        uids = tuple(v.strip() for v in value.split("\\") if v.strip())
        bad = [u for u in uids if not is_valid_uid(u)]
        if bad:
            raise BadRequestError(f"{f.keyword}: {bad[0]!r} is not a valid UID")
        return Condition(f, "exact", uids)
    if f.vr in ("DA", "TM", "DT"):
        if "-" in value and not (
            f.vr == "DT" and re.search(r"\d[+-]\d{4}$", value) and value.count("-") == 1
        ):
            lo, _, hi = value.partition("-")
            lo, hi = lo.strip(), hi.strip()
            if not lo and not hi:
                return None
            for v in (lo, hi):
                if v:
                    _check_temporal(f, v)
            return Condition(f, "range", (_range_start(f.vr, lo) if lo else None, hi or None))
        values = tuple(v for v in value.split("\\") if v)
        for v in values:
            _check_temporal(f, v)
        return Condition(f, "exact", values)
    if f.vr in ("IS", "US"):
        try:
            return Condition(f, "exact", tuple(int(v) for v in value.split("\\") if v))
        except ValueError as exc:
            raise BadRequestError(f"{f.keyword}: {value!r} is not an integer") from exc
    if f.vr == "CS[]":
        return Condition(f, "overlap", tuple(v.strip() for v in value.split("\\") if v.strip()))
    parts = tuple(v for v in value.split("\\") if v)
    use_norm = f.norm is not None and (f.vr == "PN" or insensitive)
    if use_norm:
        parts = tuple(fold(p).rstrip("^ ") if f.vr == "PN" else fold(p) for p in parts)
    if fuzzy and f.vr == "PN" and f.norm is not None and not any("*" in p or "?" in p for p in parts):
        words = tuple(w for p in parts for w in re.split(r"[\^ =]+", p) if w)
        return Condition(f, "fuzzy", words, insensitive=True)
    if any("*" in p or "?" in p for p in parts):
        return Condition(f, "wildcard", tuple(_like(p) for p in parts), insensitive=use_norm)
    return Condition(f, "exact", parts, insensitive=use_norm)


def build_spec(
    level: Level,
    keys: dict[str, str],
    *,
    fuzzy: bool = False,
    limit: int | None = None,
    offset: int = 0,
    insensitive: frozenset[str] = frozenset(),
) -> tuple[SearchSpec, list[str]]:
    """Build a spec from ``{keyword: value}``; returns the spec and the keywords that were ignored."""
    spec = SearchSpec(level=level, limit=limit, offset=offset)
    ignored: list[str] = []
    for keyword, value in keys.items():
        f = field_for(level, keyword)
        if f is None:
            ignored.append(keyword)
            continue
        cond = parse_condition(f, value, fuzzy=fuzzy, insensitive=keyword in insensitive)
        if cond is not None:
            spec.conditions.append(cond)
    return spec, ignored
