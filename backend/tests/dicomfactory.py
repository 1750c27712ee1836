"""Small, deterministic DICOM objects for tests (real Part-10 bytes made with pydicom)."""

from __future__ import annotations

from io import BytesIO

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    PYDICOM_IMPLEMENTATION_UID,
    CTImageStorage,
    ExplicitVRLittleEndian,
    generate_uid,
)


def ct_dataset(
    *,
    study_uid: str | None = None,
    series_uid: str | None = None,
    sop_uid: str | None = None,
    patient_name: str = "Doe^John",
    patient_id: str = "MRN0001",
    accession: str = "ACC0001",
    study_date: str = "20240115",
    modality: str = "CT",
    size: int = 64,
    instance_number: int = 1,
    charset: str = "ISO_IR 192",
    seed: int = 0,
) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = CTImageStorage
    sop = sop_uid or generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = sop
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds.SpecificCharacterSet = charset
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = sop
    ds.StudyInstanceUID = study_uid or generate_uid()
    ds.SeriesInstanceUID = series_uid or generate_uid()
    ds.PatientName = patient_name
    ds.PatientID = patient_id
    ds.PatientBirthDate = "19700101"
    ds.PatientSex = "M"
    ds.AccessionNumber = accession
    ds.StudyDate = study_date
    ds.StudyTime = "101500"
    ds.StudyID = "1"
    ds.StudyDescription = "CT HEAD W/O CONTRAST"
    ds.ReferringPhysicianName = "House^Gregory"
    ds.Modality = modality
    ds.SeriesNumber = 1
    ds.InstanceNumber = instance_number
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.PatientIdentityRemoved = "YES"
    ds.Rows = size
    ds.Columns = size
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1
    ds.RescaleIntercept = -1024
    ds.RescaleSlope = 1
    ds.WindowCenter = 40
    ds.WindowWidth = 400
    ds.PixelSpacing = [0.5, 0.5]
    ds.SliceThickness = 1.0
    ds.ImagePositionPatient = [0, 0, float(instance_number)]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    disc = ((yy - size / 2) ** 2 + (xx - size / 2) ** 2) < (size / 3) ** 2
    pixels = np.where(disc, 1064, 24).astype(np.int16) + rng.integers(0, 20, (size, size), dtype=np.int16)
    ds.PixelData = pixels.tobytes()
    return ds


def to_bytes(ds: Dataset) -> bytes:
    buf = BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def ct_bytes(**kw: object) -> bytes:
    return to_bytes(ct_dataset(**kw))  # type: ignore[arg-type]


def multipart(
    parts: list[bytes], boundary: str = "pacs-test-boundary", ctype: str = "application/dicom"
) -> tuple[bytes, str]:
    body = b""
    for p in parts:
        body += f"--{boundary}\r\nContent-Type: {ctype}\r\n\r\n".encode() + p + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    return body, f'multipart/related; type="application/dicom"; boundary={boundary}'


def bundled_with_new_uid(name: str) -> bytes:
    """A pydicom bundled test file, re-saved in its own transfer syntax with a fresh SOP Instance UID
    (several bundled files share one UID)."""
    import pydicom
    from pydicom.data import get_testdata_file

    ds = pydicom.dcmread(get_testdata_file(name))
    uid = generate_uid()
    ds.SOPInstanceUID = uid
    ds.file_meta.MediaStorageSOPInstanceUID = uid
    buf = BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()
