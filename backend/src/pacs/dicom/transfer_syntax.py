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
