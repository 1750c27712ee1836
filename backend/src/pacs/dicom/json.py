"""DICOM JSON (PS3.18 F.2) for stored metadata.

Bulk data (Pixel Data and other large binary values) is not inlined: it becomes a ``BulkDataURI`` relative to
the instance, written with the placeholder ``INSTANCE_URL`` that the retrieve service replaces with the
instance's WADO-RS URL when it answers.
"""

from __future__ import annotations

from typing import Any

from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset

INSTANCE_URL = "@@INSTANCE_URL@@"
BULK_DATA_THRESHOLD = 1024
PIXEL_TAGS = ("7FE00008", "7FE00009", "7FE00010")


def _bulk_uri(elem: DataElement) -> str:
    return f"{INSTANCE_URL}/bulkdata/{elem.tag:08X}"


def metadata_json(ds: Dataset) -> dict[str, Any]:
    """The instance's DICOM JSON, with the File Meta group removed and bulk data referenced by URI."""
    out = ds.to_json_dict(bulk_data_threshold=BULK_DATA_THRESHOLD, bulk_data_element_handler=_bulk_uri)
    for tag in PIXEL_TAGS:  # pixel data is always bulk data, however small
        if tag in out and "InlineBinary" in out[tag]:
            out[tag] = {"vr": out[tag]["vr"], "BulkDataURI": f"{INSTANCE_URL}/bulkdata/{tag}"}
    return out
