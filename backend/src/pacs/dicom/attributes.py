"""What the index keeps of a DICOM header: one record per instance, split by level.

Values are kept as DICOM strings (DA as ``YYYYMMDD``, TM as ``HHMMSS.F``) so that lexical order is
chronological and QIDO-RS answers exactly what was stored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydicom.datadict import tag_for_keyword
from pydicom.dataset import Dataset

from pacs.dicom.text import fold

#: Patient-level attributes (Patient module, PS3.3 C.7.1.1), kept in ``patients.attrs`` / ``studies.attrs``.
PATIENT_KEYWORDS = (
    "PatientName",
    "PatientID",
    "IssuerOfPatientID",
    "TypeOfPatientID",
    "IssuerOfPatientIDQualifiersSequence",
    "OtherPatientIDsSequence",
    "PatientBirthDate",
    "PatientBirthTime",
    "PatientSex",
    "PatientComments",
    "EthnicGroup",
    "PatientIdentityRemoved",
    "DeidentificationMethod",
)

#: Study-level attributes (General Study and Patient Study modules, PS3.3 C.7.2.1/C.7.2.2).
STUDY_KEYWORDS = (
    "SpecificCharacterSet",
    "StudyInstanceUID",
    "StudyDate",
    "StudyTime",
    "AccessionNumber",
    "IssuerOfAccessionNumberSequence",
    "StudyID",
    "StudyDescription",
    "ReferringPhysicianName",
    "ReferringPhysicianIdentificationSequence",
    "NameOfPhysiciansReadingStudy",
    "ProcedureCodeSequence",
    "InstitutionName",
    "TimezoneOffsetFromUTC",
    "PatientAge",
    "PatientSize",
    "PatientWeight",
    "AdmittingDiagnosesDescription",
    "RequestingService",
)

#: Series-level attributes (General Series / General Equipment modules, PS3.3 C.7.3.1, C.7.5.1).
SERIES_KEYWORDS = (
    "SeriesInstanceUID",
    "Modality",
    "SeriesNumber",
    "SeriesDescription",
    "SeriesDate",
    "SeriesTime",
    "BodyPartExamined",
    "Laterality",
    "ProtocolName",
    "PerformedProcedureStepStartDate",
    "PerformedProcedureStepStartTime",
    "PerformedProcedureStepID",
    "RequestAttributesSequence",
    "OperatorsName",
    "PerformingPhysicianName",
    "Manufacturer",
    "ManufacturerModelName",
    "StationName",
    "InstitutionalDepartmentName",
    "FrameOfReferenceUID",
)


def _str(ds: Dataset, keyword: str) -> str:
    value = ds.get(keyword)
    if value is None:
        return ""
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        return "\\".join(str(v) for v in value)
    return str(value).strip()


def _int(ds: Dataset, keyword: str) -> int | None:
    value = ds.get(keyword)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _tags(keywords: tuple[str, ...]) -> tuple[str, ...]:
    out = []
    for kw in keywords:
        tag = tag_for_keyword(kw)
        if tag is None:
            raise KeyError(kw)
        out.append(f"{tag:08X}")
    return tuple(out)


def subset_json(full: dict[str, Any], keywords: tuple[str, ...]) -> dict[str, Any]:
    """The named top-level attributes of an instance's DICOM JSON (PS3.18 F.2)."""
    return {t: full[t] for t in _tags_cached(keywords) if t in full}


_TAG_CACHE: dict[tuple[str, ...], tuple[str, ...]] = {}


def _tags_cached(keywords: tuple[str, ...]) -> tuple[str, ...]:
    tags = _TAG_CACHE.get(keywords)
    if tags is None:
        tags = _TAG_CACHE[keywords] = _tags(keywords)
    return tags


@dataclass
class InstanceRecord:
    """Everything the index layer needs to store one instance."""

    patient: dict[str, Any] = field(default_factory=dict)
    study: dict[str, Any] = field(default_factory=dict)
    series: dict[str, Any] = field(default_factory=dict)
    instance: dict[str, Any] = field(default_factory=dict)


def instance_record(ds: Dataset, full_json: dict[str, Any] | None = None) -> InstanceRecord:
    """Split a parsed header into patient / study / series / instance rows (without storage fields).

    ``full_json`` is the instance's DICOM JSON when the caller already has it (ingest does).
    """
    if full_json is None:
        full_json = ds.to_json_dict(bulk_data_threshold=1024, bulk_data_element_handler=lambda _e: "")
    patient_name = _str(ds, "PatientName")
    patient = {
        "patient_id": _str(ds, "PatientID"),
        "issuer_of_patient_id": _str(ds, "IssuerOfPatientID"),
        "patient_name": patient_name,
        "patient_name_norm": fold(patient_name),
        "patient_birth_date": _str(ds, "PatientBirthDate"),
        "patient_sex": _str(ds, "PatientSex"),
        "attrs": subset_json(full_json, PATIENT_KEYWORDS),
    }
    modality = _str(ds, "Modality")
    study = {
        "study_instance_uid": _str(ds, "StudyInstanceUID"),
        "patient_id": patient["patient_id"],
        "patient_name": patient_name,
        "patient_name_norm": patient["patient_name_norm"],
        "patient_birth_date": patient["patient_birth_date"],
        "patient_sex": patient["patient_sex"],
        "study_date": _str(ds, "StudyDate"),
        "study_time": _str(ds, "StudyTime"),
        "accession_number": _str(ds, "AccessionNumber"),
        "study_id": _str(ds, "StudyID"),
        "study_description": _str(ds, "StudyDescription"),
        "study_description_norm": fold(_str(ds, "StudyDescription")),
        "referring_physician_name": _str(ds, "ReferringPhysicianName"),
        "referring_physician_name_norm": fold(_str(ds, "ReferringPhysicianName")),
        "institution_name": _str(ds, "InstitutionName"),
        "specific_character_set": _str(ds, "SpecificCharacterSet"),
        "timezone_offset_from_utc": _str(ds, "TimezoneOffsetFromUTC"),
        "attrs": subset_json(full_json, PATIENT_KEYWORDS + STUDY_KEYWORDS),
    }
    series = {
        "series_instance_uid": _str(ds, "SeriesInstanceUID"),
        "modality": modality,
        "series_number": _int(ds, "SeriesNumber"),
        "series_description": _str(ds, "SeriesDescription"),
        "body_part_examined": _str(ds, "BodyPartExamined"),
        "series_date": _str(ds, "SeriesDate"),
        "series_time": _str(ds, "SeriesTime"),
        "performed_procedure_step_start_date": _str(ds, "PerformedProcedureStepStartDate"),
        "performed_procedure_step_start_time": _str(ds, "PerformedProcedureStepStartTime"),
        "attrs": subset_json(full_json, ("SpecificCharacterSet", "StudyInstanceUID", *SERIES_KEYWORDS)),
    }
    instance = {
        "sop_instance_uid": _str(ds, "SOPInstanceUID"),
        "sop_class_uid": _str(ds, "SOPClassUID"),
        "instance_number": _int(ds, "InstanceNumber"),
        "rows": _int(ds, "Rows"),
        "columns": _int(ds, "Columns"),
        "bits_allocated": _int(ds, "BitsAllocated"),
        "number_of_frames": _int(ds, "NumberOfFrames"),
    }
    return InstanceRecord(patient=patient, study=study, series=series, instance=instance)
