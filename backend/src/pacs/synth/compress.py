"""Compressed transfer syntaxes through pydicom's encoders (PS3.5 8.2): RLE Lossless (pydicom's own encoder),
JPEG 2000 Lossless (pylibjpeg-openjpeg) and JPEG-LS Lossless (pyjpegls, when installed)."""

from __future__ import annotations

from pydicom.dataset import Dataset
from pydicom.uid import JPEG2000Lossless, JPEGLSLossless, RLELossless

TRANSFER_SYNTAXES = {"rle": RLELossless, "j2k": JPEG2000Lossless, "jpeg-ls": JPEGLSLossless}


def encode(ds: Dataset, compression: str) -> Dataset:
    """``ds`` with its Pixel Data compressed losslessly (in place); ``compression`` is rle, j2k or jpeg-ls."""
    try:
        ts = TRANSFER_SYNTAXES[compression]
    except KeyError:
        raise ValueError(
            f"unknown compression {compression!r}; use one of {sorted(TRANSFER_SYNTAXES)}"
        ) from None
    ds.compress(ts, generate_instance_uid=False)
    return ds
