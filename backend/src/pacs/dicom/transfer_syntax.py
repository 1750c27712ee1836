"""Transfer syntaxes the archive knows about (PS3.5 A, PS3.18 8.7.3)."""

from __future__ import annotations

from pydicom.uid import (
    JPEG2000,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLossless,
    JPEGLosslessSV1,
    JPEGLSLossless,
    JPEGLSNearLossless,
    RLELossless,
)

EXPLICIT_LE = str(ExplicitVRLittleEndian)
IMPLICIT_LE = str(ImplicitVRLittleEndian)

#: Kept as received by STOW-RS and C-STORE.
STORABLE = [
    str(u)
    for u in (
        ImplicitVRLittleEndian,
        ExplicitVRLittleEndian,
        DeflatedExplicitVRLittleEndian,
        ExplicitVRBigEndian,
        JPEGBaseline8Bit,
        JPEGExtended12Bit,
        JPEGLossless,
        JPEGLosslessSV1,
        JPEGLSLossless,
        JPEGLSNearLossless,
        JPEG2000Lossless,
        JPEG2000,
        RLELossless,
    )
]

#: Lossy syntaxes: PS3.18 8.7.3.4 lets the origin server return these as received by default.
LOSSY = {str(JPEGBaseline8Bit), str(JPEGExtended12Bit), str(JPEGLSNearLossless), str(JPEG2000)}

UNCOMPRESSED = {IMPLICIT_LE, EXPLICIT_LE, str(ExplicitVRBigEndian), str(DeflatedExplicitVRLittleEndian)}

#: Compressed Bulkdata media types (PS3.18 Table 8.7.3-5) -> the transfer syntaxes the archive stores a frame sent
#: in that type as, the media type's default first. image/x-dicom-rle is the name PS3.18 used before image/dicom-rle.
BULK_MEDIA_TYPES: dict[str, tuple[str, ...]] = {
    "image/jpeg": (str(JPEGLosslessSV1), str(JPEGBaseline8Bit), str(JPEGExtended12Bit), str(JPEGLossless)),
    "image/jls": (str(JPEGLSLossless), str(JPEGLSNearLossless)),
    "image/jp2": (str(JPEG2000Lossless), str(JPEG2000)),
    "image/dicom-rle": (str(RLELossless),),
    "image/x-dicom-rle": (str(RLELossless),),
}
