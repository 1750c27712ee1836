"""C-FIND / C-MOVE / C-GET identifiers ↔ the query engine's ``{keyword: value}`` keys (PS3.4 C.4.1, C.4.2, C.4.3).

The identifier is turned into the same keys QIDO-RS builds from its query string, so both protocols run the
one matching engine (:func:`pacs.query.engine.build_spec`); results come back as the same DICOM JSON
(:func:`pacs.query.results.row_to_json`) and are turned into a response identifier holding exactly the keys
that were asked for (PS3.4 C.4.1.1.3.2: every requested key is returned, empty when the archive has no value).

>>> ds = Dataset()
>>> ds.QueryRetrieveLevel = "STUDY"
>>> ds.PatientName = "DOE*"
>>> ds.StudyDate = "20200101-20201231"
>>> ds.ModalitiesInStudy = ["CT", "MR"]
>>> ds.StudyInstanceUID = ""
>>> q = parse_identifier(ds, FIND_MODELS[str(StudyRootQueryRetrieveInformationModelFind)])
>>> q.level, q.keys
(<Level.STUDY: 'STUDY'>, {'PatientName': 'DOE*', 'StudyDate': '20200101-20201231', 'ModalitiesInStudy': 'CT\\\\MR', 'StudyInstanceUID': ''})
>>> rsp = response_identifier(q, {"0020000D": {"vr": "UI", "Value": ["1.2.3"]}, "00100010": {"vr": "PN", "Value": [{"Alphabetic": "Doe^Jane"}]}})
>>> str(rsp.PatientName), rsp.StudyInstanceUID, rsp.StudyDate, rsp.QueryRetrieveLevel
('Doe^Jane', '1.2.3', '', 'STUDY')
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

from pydicom.datadict import dictionary_VR, keyword_for_tag
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.tag import BaseTag, Tag
from pynetdicom.sop_class import (  # type: ignore[attr-defined]
    PatientRootQueryRetrieveInformationModelFind,
    PatientRootQueryRetrieveInformationModelGet,
    PatientRootQueryRetrieveInformationModelMove,
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelGet,
    StudyRootQueryRetrieveInformationModelMove,
)

from pacs.exceptions import BadRequestError
from pacs.query.engine import Level

_PATIENT_ROOT = (Level.PATIENT, Level.STUDY, Level.SERIES, Level.IMAGE)
_STUDY_ROOT = (Level.STUDY, Level.SERIES, Level.IMAGE)

#: Levels each information model allows (PS3.4 C.6.1, C.6.2).
FIND_MODELS: dict[str, tuple[Level, ...]] = {
    str(PatientRootQueryRetrieveInformationModelFind): _PATIENT_ROOT,
    str(StudyRootQueryRetrieveInformationModelFind): _STUDY_ROOT,
}
RETRIEVE_MODELS: dict[str, tuple[Level, ...]] = {
    str(PatientRootQueryRetrieveInformationModelMove): _PATIENT_ROOT,
    str(PatientRootQueryRetrieveInformationModelGet): _PATIENT_ROOT,
    str(StudyRootQueryRetrieveInformationModelMove): _STUDY_ROOT,
    str(StudyRootQueryRetrieveInformationModelGet): _STUDY_ROOT,
}

#: Unique keys of each level (PS3.4 C.6.1.1 / C.6.2.1), the only keys a retrieve identifier carries.
UNIQUE_KEYS = {
    Level.PATIENT: "PatientID",
    Level.STUDY: "StudyInstanceUID",
    Level.SERIES: "SeriesInstanceUID",
    Level.IMAGE: "SOPInstanceUID",
}
_LEVEL_ORDER = (Level.PATIENT, Level.STUDY, Level.SERIES, Level.IMAGE)

_QR_LEVEL = Tag("QueryRetrieveLevel")
_CHARSET = Tag("SpecificCharacterSet")
_RETRIEVE_AET = Tag("RetrieveAETitle")
_TEXT_VRS = {"PN", "LO", "SH", "LT", "ST", "UT", "UC"}


@dataclass
class Query:
    level: Level
    #: matching keys as DICOM strings (``""`` = universal matching / return key only)
    keys: dict[str, str] = field(default_factory=dict)
    #: every requested element (tag → VR), in identifier order: they make up each response
    requested: dict[BaseTag, str] = field(default_factory=dict)
    #: keys with a value the archive cannot match on (sequence items); reported as a warning (0xFF01)
    unsupported: list[str] = field(default_factory=list)


def _raw_text(elem: RawDataElement | DataElement) -> str:
    value = elem.value
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("ascii", "replace").strip(" \x00")
    return "" if value is None else str(value)


def _as_string(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list | MultiValue):
        return "\\".join(_as_string(v) for v in value)
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("ascii", "replace")
    return str(value)


def _element_string(ds: Dataset, tag: BaseTag) -> str:
    """A key's value as the DICOM string it was sent as (text VRs decoded with Specific Character Set)."""
    raw = ds.get_item(tag)
    vr = getattr(raw, "VR", None) or dictionary_VR(tag)
    if vr in _TEXT_VRS:
        return _as_string(ds[tag].value).strip()
    # Other VRs straight from the bytes: ranges such as 20200101-20201231 and wildcards are not valid
    # DA / IS values for pydicom's converters, and matching works on the string anyway.
    if isinstance(raw, RawDataElement):
        return _raw_text(raw)
    return _as_string(ds[tag].value).strip()


def level_of(ds: Dataset, allowed: tuple[Level, ...]) -> Level:
    raw = ds.get_item(_QR_LEVEL)
    if raw is None:
        raise BadRequestError("the identifier has no QueryRetrieveLevel (0008,0052)")
    text = _raw_text(raw).upper()
    try:
        level = Level(text)
    except ValueError:
        raise BadRequestError(f"QueryRetrieveLevel {text!r} is not PATIENT, STUDY, SERIES or IMAGE") from None
    if level not in allowed:
        raise BadRequestError(
            f"QueryRetrieveLevel {level} is not part of this information model (allowed: {', '.join(allowed)})"
        )
    return level


def parse_identifier(ds: Dataset, allowed: tuple[Level, ...]) -> Query:
    """Read a C-FIND identifier. Raises :class:`BadRequestError` (→ 0xA900) for a bad level or key."""
    q = Query(level=level_of(ds, allowed))
    for tag in list(ds.keys()):
        if tag in (_QR_LEVEL, _CHARSET) or tag.is_private or tag.element == 0 or tag.group in (0, 2):
            continue
        keyword = keyword_for_tag(tag)
        if not keyword:
            continue
        raw = ds.get_item(tag)
        vr = getattr(raw, "VR", None) or dictionary_VR(tag)
        if " or " in vr:
            vr = ds[tag].VR
        q.requested[tag] = vr
        if tag == _RETRIEVE_AET:
            continue
        if vr == "SQ":
            items = ds[tag].value
            if items and any(len(item) for item in items):
                q.unsupported.append(keyword)
            continue
        try:
            q.keys[keyword] = _element_string(ds, tag)
        except Exception as exc:
            raise BadRequestError(f"cannot decode {keyword}: {exc}") from exc
    return q


def retrieve_keys(ds: Dataset, allowed: tuple[Level, ...]) -> tuple[Level, dict[str, str]]:
    """The unique keys of a C-MOVE / C-GET identifier (PS3.4 C.4.2.2.1).

    The unique key of the requested level is required (a list of UIDs is allowed); unique keys of the levels
    above restrict the match. Other keys are ignored.

    >>> ds = Dataset()
    >>> ds.QueryRetrieveLevel = "SERIES"
    >>> ds.StudyInstanceUID = "1.2.3"
    >>> ds.SeriesInstanceUID = ["1.2.3.1", "1.2.3.2"]
    >>> ds.Modality = "CT"
    >>> retrieve_keys(ds, _STUDY_ROOT)
    (<Level.SERIES: 'SERIES'>, {'StudyInstanceUID': '1.2.3', 'SeriesInstanceUID': '1.2.3.1\\\\1.2.3.2'})
    >>> del ds.SeriesInstanceUID
    >>> retrieve_keys(ds, _STUDY_ROOT)
    Traceback (most recent call last):
    ...
    pacs.exceptions.BadRequestError: a SERIES-level retrieve needs SeriesInstanceUID in the identifier
    >>> ds.QueryRetrieveLevel = "PATIENT"
    >>> retrieve_keys(ds, _STUDY_ROOT)
    Traceback (most recent call last):
    ...
    pacs.exceptions.BadRequestError: QueryRetrieveLevel PATIENT is not part of this information model (allowed: STUDY, SERIES, IMAGE)
    """
    level = level_of(ds, allowed)
    keys: dict[str, str] = {}
    for lvl in _LEVEL_ORDER[: _LEVEL_ORDER.index(level) + 1]:
        keyword = UNIQUE_KEYS[lvl]
        tag = Tag(keyword)
        value = _element_string(ds, tag) if tag in ds else ""
        if value:
            keys[keyword] = value
        elif lvl == level:
            raise BadRequestError(f"a {level}-level retrieve needs {keyword} in the identifier")
    if any(c in v for v in keys.values() for c in "*?"):
        raise BadRequestError("retrieve keys must be unique keys (UIDs / PatientID), not wildcards")
    return level, keys


def _json_value(vr: str, item: dict[str, Any]) -> Any:
    if "Value" in item:
        values = item["Value"]
        if vr == "PN":
            values = [
                "=".join(v.get(g, "") for g in ("Alphabetic", "Ideographic", "Phonetic")).rstrip("=")
                if isinstance(v, dict)
                else str(v)
                for v in values
            ]
        elif vr == "SQ":
            return [Dataset.from_json(v) for v in values]
        return values[0] if len(values) == 1 else values
    if "InlineBinary" in item:
        return base64.b64decode(item["InlineBinary"])
    return None  # absent value or BulkDataURI: returned empty


def response_identifier(q: Query, result: dict[str, Any], *, retrieve_aet: str | None = None) -> Dataset:
    """One C-FIND response identifier (PS3.4 C.4.1.1.3.2): the requested keys, with the archive's values."""
    out = Dataset()
    non_ascii = False
    for tag, req_vr in q.requested.items():
        if tag == _RETRIEVE_AET:
            out.add_new(tag, "AE", retrieve_aet or "")
            continue
        item = result.get(f"{int(tag):08X}")
        vr = req_vr
        value: Any = None
        if item is not None:
            vr = item.get("vr") or req_vr
            value = _json_value(vr, item)
        if vr == "SQ":
            out.add(DataElement(tag, "SQ", value or []))
            continue
        if value is None:
            value = ""
        if (isinstance(value, str) and not value.isascii()) or (
            isinstance(value, list) and any(isinstance(v, str) and not v.isascii() for v in value)
        ):
            non_ascii = True
        out.add(DataElement(tag, vr, value))
    out.QueryRetrieveLevel = str(q.level)
    if non_ascii:
        out.SpecificCharacterSet = "ISO_IR 192"
    return Dataset(dict(sorted(out.items())))
