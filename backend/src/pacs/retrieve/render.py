"""Rendering pixel data to consumer images (PS3.18 8.3.5 rendered resources, PS3.3 C.11.2 VOI LUT)."""

from __future__ import annotations

from dataclasses import dataclass
from io import BytesIO

import numpy as np
from PIL import Image
from pydicom.dataset import Dataset
from pydicom.pixels import apply_modality_lut, pixel_array

#: The rendered media types offered (PS3.18 Table 8.7.4-1, single-frame images: JPEG the default, PNG and GIF
#: required of a RESTful origin server).
RENDERED_TYPES = ("image/jpeg", "image/png", "image/gif")


@dataclass
class RenderParams:
    media_type: str = "image/jpeg"  # image/jpeg | image/png | image/gif (RENDERED_TYPES)
    quality: int = 90
    window: tuple[float, float, str] | None = None  # center, width, function
    viewport: tuple[int, int] | None = None  # vw, vh (fit inside, aspect kept)
    upscale: bool = True  # thumbnails never enlarge small images


def _window(values: np.ndarray, center: float, width: float, function: str) -> np.ndarray:
    """VOI LUT functions of PS3.3 C.11.2.1.2 mapped to 0..255."""
    if function == "sigmoid":
        out = 255.0 / (1.0 + np.exp(-4.0 * (values - center) / max(width, 1e-6)))
    elif function == "linear_exact":
        out = (values - (center - width / 2.0)) / max(width, 1e-6) * 255.0
    else:  # linear
        w = max(width - 1.0, 1e-6)
        out = ((values - (center - 0.5)) / w + 0.5) * 255.0
    return np.clip(out, 0, 255).astype(np.uint8)


def _first(value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        seq = list(value)  # type: ignore[call-overload]
        return float(seq[0]) if seq else None
    return float(value)  # type: ignore[arg-type]


def to_8bit(ds: Dataset, frame: np.ndarray, window: tuple[float, float, str] | None) -> np.ndarray:
    spp = int(ds.get("SamplesPerPixel", 1) or 1)
    if spp > 1:
        if frame.dtype != np.uint8:
            hi = float(frame.max()) or 1.0
            frame = (frame.astype(np.float64) / hi * 255.0).astype(np.uint8)
        return frame
    values = apply_modality_lut(frame, ds).astype(np.float64)
    if window is None:
        center = _first(ds.get("WindowCenter"))
        width = _first(ds.get("WindowWidth"))
        if center is not None and width is not None and width > 0:
            window = (center, width, str(ds.get("VOILUTFunction", "LINEAR")).lower().replace("_", "_"))
    if window is None:
        lo, hi = float(values.min()), float(values.max())
        window = ((lo + hi) / 2.0, max(hi - lo, 1.0), "linear_exact")
    out = _window(values, window[0], window[1], window[2].lower())
    if str(ds.get("PhotometricInterpretation", "")) == "MONOCHROME1":
        out = 255 - out
    return out


def render(ds: Dataset, frame_index: int, params: RenderParams) -> bytes:
    nframes = int(ds.get("NumberOfFrames", 1) or 1)
    arr = pixel_array(ds, index=frame_index) if nframes > 1 else ds.pixel_array
    img8 = to_8bit(ds, np.asarray(arr), params.window)
    image = Image.fromarray(img8)
    if params.viewport:
        vw, vh = params.viewport
        scale = min(vw / image.width, vh / image.height)
        if not params.upscale:
            scale = min(scale, 1.0)
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        image = image.resize(size, Image.Resampling.LANCZOS)
    buf = BytesIO()
    if params.media_type == "image/png":
        image.save(buf, format="PNG")
    elif params.media_type == "image/gif":  # a 256-entry palette: grey levels kept, colour adapted
        (image if image.mode == "L" else image.convert("RGB").quantize(256)).save(buf, format="GIF")
    else:
        image.convert("RGB" if image.mode not in ("L", "RGB") else image.mode).save(
            buf, format="JPEG", quality=params.quality
        )
    return buf.getvalue()
