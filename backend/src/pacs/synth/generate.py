"""Part-10 bytes for planned instances: header + pixel data, optionally compressed; deterministic."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from io import BytesIO

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, ExplicitVRLittleEndian

from pacs.synth.header import KINDS, header
from pacs.synth.pixels import pixels_for
from pacs.synth.plan import SeriesPlan, StudyPlan

IMPLEMENTATION_VERSION = "PACS_SYNTH_1"


def dataset(
    study: StudyPlan, series: SeriesPlan, instance_number: int, *, with_pixels: bool = True
) -> Dataset:
    """The complete dataset (File Meta included) of one planned instance, uncompressed."""
    ds = header(study, series, instance_number)
    kind = KINDS[series.kind]
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    meta.ImplementationVersionName = IMPLEMENTATION_VERSION
    ds.file_meta = meta
    if with_pixels:
        arr = pixels_for(study, series, instance_number)
    else:
        import numpy as np

        dtype = np.uint8 if kind.bits_allocated == 8 else np.uint16
        shape = (kind.frames, kind.rows, kind.columns) if kind.frames else (kind.rows, kind.columns)
        arr = np.zeros(shape, dtype=dtype)
    ds.PixelData = arr.tobytes()
    ds["PixelData"].VR = "OW" if kind.bits_allocated > 8 else "OB"
    return ds


def to_bytes(ds: Dataset) -> bytes:
    buf = BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def instance_bytes(study: StudyPlan, series: SeriesPlan, instance_number: int) -> bytes:
    return to_bytes(dataset(study, series, instance_number))


def study_files(study: StudyPlan, *, compression: str = "none") -> Iterator[tuple[str, bytes]]:
    """``(relative path, Part-10 bytes)`` of every instance of ``study``, in order."""
    from pacs.synth.compress import encode

    for series in study.series:
        for n in range(1, series.n_instances + 1):
            ds = dataset(study, series, n)
            if compression != "none":
                ds = encode(ds, compression)
            yield f"{study.uid}/{series.uid}/{ds.SOPInstanceUID}.dcm", to_bytes(ds)
