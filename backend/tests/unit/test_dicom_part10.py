"""PS3.10 objects from a DICOM JSON model and its bulk data; transfer syntaxes of compressed frames (no I/O)."""

from __future__ import annotations

import struct
from io import BytesIO

import pydicom
import pytest
from pydicom.encaps import generate_frames
from pydicom.uid import (
    JPEG2000,
    PYDICOM_IMPLEMENTATION_UID,
    ExplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLossless,
    JPEGLosslessSV1,
    JPEGLSLossless,
    JPEGLSNearLossless,
    RLELossless,
)

from pacs.dicom.part10 import (
    UnsupportedEncodingError,
    bulk_data_uris,
    dataset_from_json,
    encapsulated,
    frame_transfer_syntax,
    part10_bytes,
)

CT = "1.2.840.10008.5.1.4.1.1.2"


def _model(**extra):
    return {
        "00080005": {"vr": "CS", "Value": ["ISO_IR 100"]},
        "00080016": {"vr": "UI", "Value": [CT]},
        "00080018": {"vr": "UI", "Value": ["1.2.3.4"]},
        "0020000D": {"vr": "UI", "Value": ["1.2.3"]},
        **extra,
    }


def test_bulk_values_of_any_vr_come_back_as_values():
    """OB as is; FD, US and text as their Value Field, text in the Specific Character Set (here Latin-1)."""
    bulk = {
        "b/fd": struct.pack("<2d", 1.5, -2.25),
        "b/us": struct.pack("<3H", 1, 2, 3),
        "b/lo": "Schädel".encode("latin-1"),
        "b/ds": b"0.50\\12 ",
        "b/ob": b"\x00\x01\x02\x03",
    }
    model = _model(
        **{
            "00081030": {"vr": "LO", "BulkDataURI": "b/lo"},
            "00189219": {"vr": "FD", "BulkDataURI": "b/fd"},
            "00281050": {"vr": "DS", "BulkDataURI": "b/ds"},
            "00283002": {"vr": "US", "BulkDataURI": "b/us"},
            "00081110": {"vr": "SQ", "Value": [{"00420011": {"vr": "OB", "BulkDataURI": "b/ob"}}]},
        }
    )
    assert sorted(bulk_data_uris(model)) == sorted(bulk)
    ds = dataset_from_json(model, bulk.__getitem__)
    assert ds.StudyDescription == "Schädel"
    assert list(ds[0x00189219].value) == [1.5, -2.25]
    assert list(ds.LUTDescriptor) == [1, 2, 3]
    assert [str(v) for v in ds.WindowCenter] == ["0.50", "12"]
    assert ds.ReferencedStudySequence[0].EncapsulatedDocument == b"\x00\x01\x02\x03"


def test_part10_bytes_writes_file_meta_from_the_data_set():
    model = _model(**{"00020010": {"vr": "UI", "Value": ["1.2.840.10008.1.2.4.50"]}})
    ds = dataset_from_json(model, {}.__getitem__)
    assert "TransferSyntaxUID" not in ds  # group 0002 of the model is not the data set's
    back = pydicom.dcmread(BytesIO(part10_bytes(ds, ExplicitVRLittleEndian)))
    meta = back.file_meta
    assert (meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID) == (CT, "1.2.3.4")
    assert meta.TransferSyntaxUID == ExplicitVRLittleEndian
    assert meta.ImplementationClassUID == PYDICOM_IMPLEMENTATION_UID
    assert back.StudyInstanceUID == "1.2.3"


def test_compressed_frames_are_encapsulated_as_ob():
    """One fragment per frame; an odd-length frame gets the one trailing pad byte items need (PS3.5 A.4)."""
    frames = [b"\xff\xd8frame one\xff\xd9", b"\xff\xd8frame 2\xff\xd9\x00"]
    model = _model(**{"7FE00010": {"vr": "OW", "BulkDataURI": "px"}})
    ds = dataset_from_json(model, {"px": encapsulated(frames)}.__getitem__)
    back = pydicom.dcmread(BytesIO(part10_bytes(ds, JPEGBaseline8Bit)))
    assert back["PixelData"].VR == "OB" and back["PixelData"].is_undefined_length
    assert list(generate_frames(back.PixelData, number_of_frames=2)) == [frames[0] + b"\x00", frames[1]]


def _jpeg(sof: int, ss: int) -> bytes:
    """SOI, a DQT-like segment to skip, SOFn of one 2x2 component, SOS with Ss = ``ss``."""
    return (
        b"\xff\xd8"
        + b"\xff\xdb\x00\x04\x00\x00"
        + bytes([0xFF, sof])
        + b"\x00\x0b\x08\x00\x02\x00\x02\x01\x01\x11\x00"
        + b"\xff\xda\x00\x08\x01\x01\x00"
        + bytes([ss])
        + b"\x00\x00"
    )


def _j2k(transform: int) -> bytes:
    """SOC, a short SIZ, COD whose SPcod transformation byte is ``transform``, SOT."""
    cod = b"\xff\x52\x00\x0c" + b"\x00" + b"\x00\x00\x01\x00" + b"\x05\x04\x04\x00" + bytes([transform])
    return b"\xff\x4f\xff\x51\x00\x04\x00\x00" + cod + b"\xff\x90\x00\x0a"


@pytest.mark.parametrize(
    ("media_type", "frame", "expected"),
    [
        ("image/jpeg", _jpeg(0xC0, 0), JPEGBaseline8Bit),
        ("image/jpeg", _jpeg(0xC1, 0), JPEGExtended12Bit),
        ("image/jpeg", _jpeg(0xC3, 1), JPEGLosslessSV1),
        ("image/jpeg", _jpeg(0xC3, 6), JPEGLossless),
        ("image/jls", _jpeg(0xF7, 0), JPEGLSLossless),
        ("image/jls", _jpeg(0xF7, 3), JPEGLSNearLossless),
        ("image/jp2", _j2k(1), JPEG2000Lossless),
        ("image/jp2", _j2k(0), JPEG2000),
        ("image/dicom-rle", b"", RLELossless),
        ("image/x-dicom-rle", b"", RLELossless),
    ],
)
def test_transfer_syntax_read_from_the_bitstream(media_type, frame, expected):
    assert frame_transfer_syntax(media_type, None, frame) == expected


def test_transfer_syntax_parameter_wins_if_the_media_type_allows_it():
    assert frame_transfer_syntax("image/jpeg", str(JPEGLossless), _jpeg(0xC0, 0)) == JPEGLossless
    with pytest.raises(UnsupportedEncodingError):
        frame_transfer_syntax("image/jpeg", str(JPEG2000), _jpeg(0xC0, 0))


@pytest.mark.parametrize(
    ("media_type", "frame", "error"),
    [
        ("image/jpeg", _jpeg(0xC2, 0), UnsupportedEncodingError),  # progressive
        ("image/jls", _jpeg(0xC0, 0), UnsupportedEncodingError),
        ("video/mp4", b"", UnsupportedEncodingError),
        ("image/jpx", b"", UnsupportedEncodingError),
        ("image/jpeg", b"\x89PNG\r\n", ValueError),
        ("image/jpeg", _jpeg(0xC0, 0)[:12], ValueError),  # cut before SOS
        ("image/jp2", b"\x00\x00\x00\x0cjP  ", ValueError),  # a JP2 file, not a codestream
    ],
)
def test_frames_the_archive_cannot_store(media_type, frame, error):
    with pytest.raises(error):
        frame_transfer_syntax(media_type, None, frame)
