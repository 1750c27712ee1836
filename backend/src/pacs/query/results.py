"""Search results as DICOM JSON (PS3.18 F.2), the one representation QIDO-RS and C-FIND both answer from.

Default return attributes follow PS3.18 Tables 10.6.3-3 (study), 10.6.3-4 (series) and 10.6.3-5 (instance).
"""

from __future__ import annotations

from typing import Any

from pydicom.datadict import dictionary_VR, tag_for_keyword

from pacs.dicom.json import INSTANCE_URL
from pacs.query.engine import Level


def tag_hex(keyword: str) -> str:
    """``"PatientID"`` → ``"00100020"``.

    >>> tag_hex("StudyInstanceUID")
    '0020000D'
    """
    tag = tag_for_keyword(keyword)
    if tag is None:
        raise KeyError(keyword)
    return f"{tag:08X}"


PATIENT_DEFAULTS = (
    "PatientName",
    "PatientID",
    "IssuerOfPatientID",
    "PatientBirthDate",
    "PatientSex",
    "NumberOfPatientRelatedStudies",
    "NumberOfPatientRelatedSeries",
    "NumberOfPatientRelatedInstances",
)
STUDY_DEFAULTS = (
    "SpecificCharacterSet",
    "StudyDate",
    "StudyTime",
    "AccessionNumber",
    "InstanceAvailability",
    "ModalitiesInStudy",
    "ReferringPhysicianName",
    "TimezoneOffsetFromUTC",
    "RetrieveURL",
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "StudyInstanceUID",
    "StudyID",
    "StudyDescription",
    "NumberOfStudyRelatedSeries",
    "NumberOfStudyRelatedInstances",
)
SERIES_DEFAULTS = (
    "SpecificCharacterSet",
    "Modality",
    "TimezoneOffsetFromUTC",
    "SeriesDescription",
    "RetrieveURL",
    "SeriesInstanceUID",
    "SeriesNumber",
    "NumberOfSeriesRelatedInstances",
    "PerformedProcedureStepStartDate",
    "PerformedProcedureStepStartTime",
    "RequestAttributesSequence",
    "StudyInstanceUID",
)
INSTANCE_DEFAULTS = (
    "SpecificCharacterSet",
    "SOPClassUID",
    "SOPInstanceUID",
    "InstanceAvailability",
    "TimezoneOffsetFromUTC",
    "RetrieveURL",
    "InstanceNumber",
    "Rows",
    "Columns",
    "BitsAllocated",
    "NumberOfFrames",
    "StudyInstanceUID",
    "SeriesInstanceUID",
)
DEFAULTS = {
    Level.PATIENT: PATIENT_DEFAULTS,
    Level.STUDY: STUDY_DEFAULTS,
    Level.SERIES: SERIES_DEFAULTS,
    Level.IMAGE: INSTANCE_DEFAULTS,
}
_DEFAULT_TAGS = {level: [tag_hex(k) for k in kws] for level, kws in DEFAULTS.items()}


def _below(level: Level) -> frozenset[str]:
    """Tags of the attributes known to live below ``level``: the Series (at study level) and Instance (at study
    and series level) attributes the index keeps or answers by default."""
    from pacs.dicom.attributes import PATIENT_KEYWORDS, SERIES_KEYWORDS, STUDY_KEYWORDS
    from pacs.query.engine import matchable_keywords

    upper = set(PATIENT_KEYWORDS) | set(STUDY_KEYWORDS) | set(PATIENT_DEFAULTS) | set(STUDY_DEFAULTS)
    series = set(SERIES_KEYWORDS) | set(SERIES_DEFAULTS) | set(matchable_keywords(Level.SERIES))
    instance = set(INSTANCE_DEFAULTS) | set(matchable_keywords(Level.IMAGE))
    if level == Level.SERIES:
        upper |= series
        below = instance - upper
    else:
        below = (series | instance) - upper
    return frozenset(tag_hex(k) for k in below)


#: per level, the tags an includefield or match key names that the response leaves out (PS3.18 10.6.3.3.1:
#: "Series or Instance Level Attributes contained in includefield parameters shall not be returned";
#: 10.6.3.3.2: "Instance Level Attributes ... shall not be returned")
LOWER_LEVEL_TAGS = {Level.STUDY: _below(Level.STUDY), Level.SERIES: _below(Level.SERIES)}


def _el(keyword: str, value: Any) -> dict[str, Any]:
    vr = dictionary_VR(keyword)
    if value is None or value == "" or value == []:
        return {"vr": vr}
    return {"vr": vr, "Value": value if isinstance(value, list) else [value]}


def _pick(attrs: dict[str, Any], tags: list[str], out: dict[str, Any]) -> None:
    for t in tags:
        if t in attrs and t not in out:
            out[t] = attrs[t]


def row_to_json(
    level: Level,
    row: dict[str, Any],
    *,
    include: set[str] | None = None,
    include_all: bool = False,
    base_url: str | None = None,
    with_study: bool = False,
    with_series: bool = False,
) -> dict[str, Any]:
    """One search result as a DICOM JSON object.

    ``include`` holds extra tags (8 hex digits) to return; ``include_all`` returns every attribute the index
    keeps at that level; ``with_study`` adds the study's attributes (Table 10.6.3-3) to series and instance
    results, ``with_series`` the series' attributes (Table 10.6.3-4) to instance results: PS3.18 10.6.3.3.2
    and 10.6.3.3.3 ask for them when the target resource is All Series (study's), Study's Instances (series')
    or All Instances (both).
    """
    include = include or set()
    out: dict[str, Any] = {}
    computed: dict[str, Any] = {}
    if level == Level.PATIENT:
        attrs = row["attrs"]
        computed = {
            "NumberOfPatientRelatedStudies": int(row["n_studies"]),
            "NumberOfPatientRelatedSeries": int(row["n_series"]),
            "NumberOfPatientRelatedInstances": int(row["n_instances"]),
        }
        sources = [attrs]
    elif level == Level.STUDY:
        attrs = row["study_attrs"]
        computed = {
            "InstanceAvailability": "ONLINE",
            "ModalitiesInStudy": list(row["modalities_in_study"]),
            "NumberOfStudyRelatedSeries": row["number_of_series"],
            "NumberOfStudyRelatedInstances": row["number_of_instances"],
        }
        if base_url:
            computed["RetrieveURL"] = f"{base_url}/studies/{row['study_instance_uid']}"
        sources = [attrs]
    elif level == Level.SERIES:
        computed = {"NumberOfSeriesRelatedInstances": row["number_of_instances"]}
        if base_url:
            computed["RetrieveURL"] = (
                f"{base_url}/studies/{row['study_instance_uid']}/series/{row['series_instance_uid']}"
            )
        computed["StudyInstanceUID"] = row["study_instance_uid"]
        sources = [row["series_attrs"], row["study_attrs"]]
    else:
        computed = {
            "InstanceAvailability": "ONLINE",
            "SOPClassUID": row["sop_class_uid"],
            "SOPInstanceUID": row["sop_instance_uid"],
            "InstanceNumber": row["instance_number"],
            "Rows": row["rows"],
            "Columns": row["columns"],
            "BitsAllocated": row["bits_allocated"],
            "NumberOfFrames": row["number_of_frames"],
            "StudyInstanceUID": row["study_instance_uid"],
            "SeriesInstanceUID": row["series_instance_uid"],
        }
        if base_url:
            computed["RetrieveURL"] = (
                f"{base_url}/studies/{row['study_instance_uid']}/series/{row['series_instance_uid']}"
                f"/instances/{row['sop_instance_uid']}"
            )
        sources = [row.get("metadata") or {}, row["series_attrs"], row["study_attrs"]]
    for kw, value in computed.items():
        out[tag_hex(kw)] = _el(kw, value)

    wanted = list(_DEFAULT_TAGS[level]) + sorted(include)
    if with_series and level == Level.IMAGE:
        wanted += _DEFAULT_TAGS[Level.SERIES]
        n_series_instances = row.get("series_number_of_instances")
        out.setdefault(
            tag_hex("NumberOfSeriesRelatedInstances"),
            _el("NumberOfSeriesRelatedInstances", n_series_instances),
        )
    if with_study and level in (Level.SERIES, Level.IMAGE):
        wanted += _DEFAULT_TAGS[Level.STUDY]
        study_computed = {
            "InstanceAvailability": "ONLINE",
            "ModalitiesInStudy": list(row["modalities_in_study"]),
            "NumberOfStudyRelatedSeries": row["number_of_series"],
            "NumberOfStudyRelatedInstances": row.get("study_number_of_instances"),
        }
        for kw, value in study_computed.items():
            out.setdefault(tag_hex(kw), _el(kw, value))
    for src in sources:
        if include_all:
            for t, v in src.items():
                out.setdefault(t, v)
        else:
            _pick(src, wanted, out)
    # Return keys the archive has no value for are still returned, empty (PS3.18 10.6.3.3)
    for t in wanted:
        if t not in out and t != tag_hex("RetrieveURL"):
            try:
                vr = dictionary_VR(int(t, 16))
            except KeyError:
                continue
            out[t] = {"vr": vr}
    if level == Level.STUDY and with_study is False and not include_all:
        pass
    if level == Level.IMAGE and base_url and row.get("metadata"):
        # Bulk data in the instance's stored metadata is referenced relative to a placeholder; a search result
        # (includefield=all, or a bulk data tag) carries the instance's real BulkDataURI (PS3.18 F.2.6), as
        # Retrieve Metadata does.
        instance_url = computed["RetrieveURL"]
        out = {t: _resolve_bulk_uris(v, instance_url) for t, v in out.items()}
    return dict(sorted(out.items()))


def _resolve_bulk_uris(value: Any, instance_url: str) -> Any:
    """``value`` (a DICOM JSON attribute, or anything in one) with the ``INSTANCE_URL`` placeholder of its
    BulkDataURIs, sequence items included, replaced by ``instance_url``.

    >>> _resolve_bulk_uris({"vr": "SQ", "Value": [{"7FE00010": {"vr": "OB", "BulkDataURI": "@@INSTANCE_URL@@/b"}}]},
    ...                    "http://h/i")
    {'vr': 'SQ', 'Value': [{'7FE00010': {'vr': 'OB', 'BulkDataURI': 'http://h/i/b'}}]}
    """
    if isinstance(value, dict):
        uri = value.get("BulkDataURI")
        if isinstance(uri, str) and uri.startswith(INSTANCE_URL):
            return {**value, "BulkDataURI": instance_url + uri[len(INSTANCE_URL) :]}
        if value.get("vr") == "SQ" or all(isinstance(k, str) and len(k) == 8 for k in value):
            return {k: _resolve_bulk_uris(v, instance_url) for k, v in value.items()}
        return value
    if isinstance(value, list):
        return [_resolve_bulk_uris(v, instance_url) for v in value]
    return value
