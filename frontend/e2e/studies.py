"""Known synthetic studies for the portal's end-to-end tests (real Part-10 bytes from tests/dicomfactory)."""

from __future__ import annotations

from dataclasses import dataclass

from pydicom.uid import generate_uid

from tests.dicomfactory import ct_dataset, to_bytes


@dataclass
class Study:
    uid: str
    mrn: str
    accession: str
    name: str
    modality: str
    date: str  # YYYYMMDD
    instances: int
    description: str = "CT HEAD W/O CONTRAST"
    referring: str = "House^Gregory"
    institution: str = "General Hospital"
    sex: str = "M"

    def blobs(self, size: int = 16) -> list[bytes]:
        series = generate_uid()
        out = []
        for n in range(1, self.instances + 1):
            ds = ct_dataset(
                study_uid=self.uid,
                series_uid=series,
                patient_name=self.name,
                patient_id=self.mrn,
                accession=self.accession,
                study_date=self.date,
                modality=self.modality,
                size=size,
                instance_number=n,
                seed=n,
            )
            ds.StudyDescription = self.description
            ds.ReferringPhysicianName = self.referring
            ds.InstitutionName = self.institution
            ds.PatientSex = self.sex
            ds.SeriesDescription = f"{self.modality} series"
            out.append(to_bytes(ds))
        return out


def study(**kw: object) -> Study:
    return Study(uid=str(generate_uid()), **kw)  # type: ignore[arg-type]


def blobs_of(studies: list[Study]) -> list[bytes]:
    return [b for s in studies for b in s.blobs()]
