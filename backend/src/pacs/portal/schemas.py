"""The portal API's response models (the front end's typed client is generated from this OpenAPI)."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, Field


def iso_date(value: str | None) -> str | None:
    """DICOM DA ``YYYYMMDD`` -> ``YYYY-MM-DD``; other stored values are passed through; empty -> None.

    >>> iso_date("20240131"), iso_date(""), iso_date("2024")
    ('2024-01-31', None, '2024')
    """
    if not value:
        return None
    if re.fullmatch(r"\d{8}", value):
        return f"{value[:4]}-{value[4:6]}-{value[6:]}"
    return value


def iso_time(value: str | None) -> str | None:
    """DICOM TM ``HHMMSS.FFFFFF`` -> ``HH:MM:SS`` (seconds optional); other values passed through.

    >>> iso_time("083015.123"), iso_time("0830"), iso_time("")
    ('08:30:15', '08:30', None)
    """
    if not value:
        return None
    m = re.fullmatch(r"(\d{2})(\d{2})?(\d{2})?(\.\d+)?", value)
    if not m:
        return value
    return ":".join(p for p in m.groups()[:3] if p)


class StudyRead(BaseModel):
    """One row of the study list (patient attributes as stored on the study)."""

    study_instance_uid: str
    patient_name: str = Field(description="DICOM PN as stored, e.g. 'Doe^John' (family^given^middle)")
    patient_id: str = Field(description="PatientID (MRN)")
    patient_birth_date: str | None = Field(description="YYYY-MM-DD when the stored value is a full date")
    patient_sex: str
    accession_number: str
    study_date: str | None = Field(description="YYYY-MM-DD when the stored value is a full date")
    study_time: str | None = Field(description="HH:MM[:SS] when parseable")
    modalities: list[str]
    study_description: str
    referring_physician_name: str
    institution_name: str
    number_of_series: int
    number_of_instances: int
    size_bytes: int

    @classmethod
    def from_row(cls, r: dict[str, Any]) -> StudyRead:
        return cls(
            study_instance_uid=r["study_instance_uid"],
            patient_name=r["patient_name"],
            patient_id=r["patient_id"],
            patient_birth_date=iso_date(r["patient_birth_date"]),
            patient_sex=r["patient_sex"],
            accession_number=r["accession_number"],
            study_date=iso_date(r["study_date"]),
            study_time=iso_time(r["study_time"]),
            modalities=list(r["modalities_in_study"] or []),
            study_description=r["study_description"],
            referring_physician_name=r["referring_physician_name"],
            institution_name=r["institution_name"],
            number_of_series=r["number_of_series"],
            number_of_instances=r["number_of_instances"],
            size_bytes=r["size_bytes"],
        )


class StudyPage(BaseModel):
    """A page of the study list; pass ``next_cursor`` / ``prev_cursor`` back as ``cursor``."""

    items: list[StudyRead]
    next_cursor: str | None = Field(description="Cursor of the next page; null on the last page")
    prev_cursor: str | None = Field(description="Cursor of the previous page; null on the first page")
    total: int = Field(
        description="Matching studies: exact, or the planner's estimate (see total_is_estimate)"
    )
    total_is_estimate: bool
    sort: str = Field(description="The sort applied, e.g. '-study_date'")
    limit: int


class SeriesRead(BaseModel):
    series_instance_uid: str
    series_number: int | None
    modality: str
    series_description: str
    body_part_examined: str
    series_date: str | None
    series_time: str | None
    number_of_instances: int
    size_bytes: int
    thumbnail_url: str = Field(description="WADO-RS thumbnail of the series (PS3.18 10.4.1.1.4)")


class StudyDetailRead(BaseModel):
    """The study page: patient/study header and its series."""

    study: StudyRead
    study_id: str
    series: list[SeriesRead]
    retrieve_url: str = Field(description="WADO-RS URL of the study (what the viewer loads)")


class ModalityStat(BaseModel):
    modality: str
    studies: int = Field(description="Studies that contain this modality")
    instances: int
    bytes: int


class ArchiveSummary(BaseModel):
    studies: int
    instances: int
    bytes: int


class TimeBucket(BaseModel):
    start: str = Field(description="First day (YYYY-MM-DD) or minute (YYYY-MM-DDTHH:MM, UTC) of the bucket")
    studies: int


class IngestBucket(BaseModel):
    start: str = Field(description="Minute (YYYY-MM-DDTHH:MM) or day (YYYY-MM-DD), UTC")
    studies: int = Field(description="Studies created in the bucket")
    instances: int = Field(description="Instances stored in the bucket")
    bytes: int


class NameCount(BaseModel):
    name: str
    studies: int
