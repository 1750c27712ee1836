"""PS3.10 objects made from a DICOM JSON model object and its bulk data (STOW-RS Metadata and Bulkdata).

A Metadata and Bulkdata request (PS3.18 10.5.1.4) sends each instance as a DICOM JSON model object (PS3.18 F.2)
whose bulk values are ``BulkDataURI`` references, plus the bulk data: uncompressed values little endian
(``application/octet-stream``), compressed pixel data as frames in an image media type (PS3.18 8.7.3.3.2,
Table 8.7.3-5), without the item delimiters of encapsulation. The archive takes PS3.10 objects only, so the
helpers here make one: the data set from the model (:func:`dataset_from_json`), compressed frames encapsulated
(PS3.5 A.4), File Meta Information added and the whole written by pydicom (:func:`part10_bytes`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from io import BytesIO
from typing import Any

from pydicom.charset import convert_encodings
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.tag import Tag
from pydicom.uid import (
    JPEG2000,
    PYDICOM_IMPLEMENTATION_UID,
    UID,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLossless,
    JPEGLosslessSV1,
    JPEGLSLossless,
    JPEGLSNearLossless,
)
from pydicom.values import convert_value

from pacs.dicom.transfer_syntax import BULK_MEDIA_TYPES

PIXEL_DATA = "7FE00010"
#: VRs whose bulk data is the value as is; any other VR's bulk data is its Value Field, decoded by VR
BINARY_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "UN", "OB or OW"})
#: the Image Pixel Description attributes the archive needs beside compressed Pixel Data (PS3.3 C.7.6.3)
PIXEL_DESCRIPTION = ("Rows", "Columns", "SamplesPerPixel", "BitsAllocated", "PhotometricInterpretation")


class UnsupportedEncodingError(ValueError):
    """Bulk data in a media type or transfer syntax the archive does not store (PS3.18 I.2.2: C122)."""


def bulk_data_uris(model: Mapping[str, Any]) -> Iterator[str]:
    """Every BulkDataURI of a DICOM JSON model object, sequence items included, in tag order.

    >>> list(bulk_data_uris({"7FE00010": {"vr": "OW", "BulkDataURI": "b/2"},
    ...     "00081110": {"vr": "SQ", "Value": [{"00420011": {"vr": "OB", "BulkDataURI": "b/1"}}]}}))
    ['b/1', 'b/2']
    """
    for tag in sorted(model):
        attribute = model[tag]
        if not isinstance(attribute, Mapping):
            continue
        uri = attribute.get("BulkDataURI")
        if isinstance(uri, list) and uri:  # pydicom reads a list too: PS3.18 F.4 shows one
            uri = uri[0]
        if isinstance(uri, str):
            yield uri
        items = attribute.get("Value")
        if attribute.get("vr") == "SQ" and isinstance(items, list):
            for item in items:
                if isinstance(item, Mapping):
                    yield from bulk_data_uris(item)


def dataset_from_json(model: Mapping[str, Any], bulk_data: Callable[[str], bytes]) -> Dataset:
    """The data set of a DICOM JSON model object, each BulkDataURI's value given by ``bulk_data(uri)``.

    Bulk data of a binary VR (OB, OW, OF …) is the value; of any other VR (a long UT, a DS or FL list: PS3.18
    10.4.3.3.2 lets those be bulk data too) it is the Value Field, little endian, decoded as pydicom reads
    one, text in the data set's Specific Character Set. File Meta Information (group 0002) in the model is
    left out: :func:`part10_bytes` writes its own. Raises what pydicom raises for a malformed model.
    """
    model = {tag: attribute for tag, attribute in model.items() if not tag.startswith("0002")}
    charset = (model.get("00080005") or {}).get("Value") or ["ISO_IR 6"]
    encodings = convert_encodings([c or "ISO_IR 6" for c in charset])

    def value(tag: str, vr: str, uri: str) -> Any:
        data = bulk_data(uri)
        if vr in BINARY_VRS:
            return data
        raw = RawDataElement(Tag(int(tag, 16)), vr, len(data), data, 0, False, True)
        return convert_value(vr, raw, encodings)

    return Dataset.from_json(model, bulk_data_uri_handler=value)


def encapsulated(frames: list[bytes]) -> bytes:
    """Compressed frames as the value of encapsulated Pixel Data (PS3.5 A.4): one fragment per frame, with a
    Basic Offset Table."""
    return encapsulate(frames, has_bot=True)


def part10_bytes(ds: Dataset, transfer_syntax: str) -> bytes:
    """``ds`` as a PS3.10 file: preamble, File Meta Information (PS3.10 7.1: Media Storage SOP Class and
    Instance UID from the data set, pydicom's Implementation Class UID), then the data set in
    ``transfer_syntax`` (encapsulated Pixel Data, if any, must already be so)."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = UID(transfer_syntax)
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds.file_meta = meta
    if "PixelData" in ds and UID(transfer_syntax).is_encapsulated:
        ds["PixelData"].VR = "OB"  # encapsulated Pixel Data is OB (PS3.5 A.4), whatever the metadata said
    buf = BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def frame_transfer_syntax(media_type: str, transfer_syntax: str | None, frame: bytes) -> str:
    """The transfer syntax of a compressed frame sent as ``media_type`` (PS3.18 Table 8.7.3-5).

    A ``transfer-syntax`` parameter names it; without one it is read from the bitstream: the JPEG process
    from the SOF marker and the predictor (lossless) or NEAR (JPEG-LS) from the first SOS, the JPEG 2000
    wavelet from COD (9-7 irreversible: lossy). Raises :class:`UnsupportedEncodingError` for a media type
    or a JPEG process the archive does not store, :class:`ValueError` for a frame that is not the bitstream
    its media type says.

    >>> frame_transfer_syntax("image/jpeg", None, bytes.fromhex("ffd8ffc0000b080002000201011100ffda0008010100000000"))
    '1.2.840.10008.1.2.4.50'
    >>> frame_transfer_syntax("image/jpeg", "1.2.840.10008.1.2.4.70", b"")
    '1.2.840.10008.1.2.4.70'
    >>> frame_transfer_syntax("video/mp4", None, b"")
    Traceback (most recent call last):
    ...
    pacs.dicom.part10.UnsupportedEncodingError: video/mp4 is not a media type this archive stores pixel data in; send image/jpeg, image/jls, image/jp2, image/dicom-rle or application/octet-stream
    """
    allowed = BULK_MEDIA_TYPES.get(media_type)
    if allowed is None:
        kinds = ", ".join(t for t in BULK_MEDIA_TYPES if not t.startswith("image/x-"))
        raise UnsupportedEncodingError(
            f"{media_type} is not a media type this archive stores pixel data in; send {kinds} or "
            "application/octet-stream"
        )
    if transfer_syntax:
        if transfer_syntax not in allowed:
            raise UnsupportedEncodingError(
                f"transfer-syntax={transfer_syntax} is not one of {media_type}'s this archive stores: "
                + ", ".join(allowed)
            )
        return transfer_syntax
    if len(allowed) == 1:
        return allowed[0]
    if media_type == "image/jp2":
        return _jpeg2000_syntax(frame)
    return _jpeg_syntax(media_type, frame)


def _jpeg_syntax(media_type: str, frame: bytes) -> str:
    """JPEG (PS3.5 8.2.1) or JPEG-LS (8.2.3) frame: its transfer syntax from SOF and the first SOS."""
    markers = _jpeg_sof_and_ss(frame)
    if markers is None:
        raise ValueError(f"the {media_type} frame is not a JPEG bitstream (no SOI, SOF and SOS markers)")
    sof, ss = markers
    if media_type == "image/jls" and sof == 0xF7:
        return str(JPEGLSLossless if ss == 0 else JPEGLSNearLossless)  # ss is NEAR in JPEG-LS
    if media_type == "image/jpeg":
        if sof == 0xC0:
            return str(JPEGBaseline8Bit)
        if sof == 0xC1:
            return str(JPEGExtended12Bit)
        if sof == 0xC3:  # lossless: ss is the predictor (selection value)
            return str(JPEGLosslessSV1 if ss == 1 else JPEGLossless)
    raise UnsupportedEncodingError(
        f"the {media_type} frame uses JPEG process SOF{sof - 0xC0 if sof < 0xF0 else 55}, which this archive "
        "does not store"
    )


def _jpeg_sof_and_ss(frame: bytes) -> tuple[int, int] | None:
    """The SOF marker's second byte and the first SOS's Ss (predictor / NEAR), or None if not JPEG."""
    if frame[:2] != b"\xff\xd8":
        return None
    offset, sof = 2, None
    while offset + 4 <= len(frame):
        if frame[offset] != 0xFF:
            return None
        marker = frame[offset + 1]
        if marker == 0xFF:  # fill byte
            offset += 1
            continue
        if marker == 0xDA:  # SOS: length, Ns, Ns x (Cs, Td/Ta), then Ss
            ss_at = offset + 5 + 2 * frame[offset + 4] if offset + 4 < len(frame) else len(frame)
            return (sof, frame[ss_at]) if sof is not None and ss_at < len(frame) else None
        if (0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC)) or marker == 0xF7:
            sof = marker
        offset += 2 + int.from_bytes(frame[offset + 2 : offset + 4], "big")
    return None


def _jpeg2000_syntax(frame: bytes) -> str:
    """JPEG 2000 codestream (PS3.5 8.2.4): lossless unless COD names the irreversible 9-7 wavelet."""
    if frame[:4] != b"\xff\x4f\xff\x51":
        raise ValueError(
            "the image/jp2 frame is not a JPEG 2000 codestream (SOC, SIZ); send it without jp2 boxes"
        )
    offset = 2
    while offset + 4 <= len(frame) and frame[offset] == 0xFF:
        marker, length = frame[offset + 1], int.from_bytes(frame[offset + 2 : offset + 4], "big")
        if marker == 0x52 and offset + 13 < len(frame):  # COD: ... SPcod's 5th byte is the transformation
            return str(JPEG2000 if frame[offset + 13] == 0 else JPEG2000Lossless)
        if marker == 0x90:  # SOT: the main header is over
            break
        offset += 2 + length
    raise ValueError("the image/jp2 codestream has no COD marker segment in its main header")
