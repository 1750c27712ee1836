"""What the index keeps of a DICOM header: one record per instance, split by level.

Values are kept as DICOM strings (DA as ``YYYYMMDD``, TM as ``HHMMSS.F``) so that lexical order is
chronological and QIDO-RS answers exactly what was stored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

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


def subset_json(ds: Dataset, keywords: tuple[str, ...]) -> dict[str, Any]:
    """DICOM JSON (PS3.18 F.2) of the named top-level attributes present in ``ds``."""
    sub = Dataset()
    for kw in keywords:
        if kw in ds:
            sub[kw] = ds[kw]
    return sub.to_json_dict(bulk_data_threshold=10_000_000)


@dataclass
class InstanceRecord:
    """Everything the index layer needs to store one instance."""

    patient: dict[str, Any] = field(default_factory=dict)
    study: dict[str, Any] = field(default_factory=dict)
    series: dict[str, Any] = field(default_factory=dict)
    instance: dict[str, Any] = field(default_factory=dict)


def instance_record(ds: Dataset) -> InstanceRecord:
    """Split a parsed header into patient / study / series / instance rows (without storage fields)."""
    patient_name = _str(ds, "PatientName")
    patient = {
        "patient_id": _str(ds, "PatientID"),
        "issuer_of_patient_id": _str(ds, "IssuerOfPatientID"),
        "patient_name": patient_name,
        "patient_name_norm": fold(patient_name),
        "patient_birth_date": _str(ds, "PatientBirthDate"),
        "patient_sex": _str(ds, "PatientSex"),
        "attrs": subset_json(ds, PATIENT_KEYWORDS),
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
        "attrs": subset_json(ds, PATIENT_KEYWORDS + STUDY_KEYWORDS),
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
        "attrs": subset_json(ds, ("SpecificCharacterSet", "StudyInstanceUID", *SERIES_KEYWORDS)),
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
