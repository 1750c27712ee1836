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


# --- Structured Reports as text (PS3.18 Table 8.7.4-1, the Text category; PS3.3 C.17.3 SR Document Content) --

#: The text media types a report renders to; HTML is the default.
TEXT_TYPES = ("text/html", "text/plain", "text/xml")
_SR_PREFIX = "1.2.840.10008.5.1.4.1.1.88."


def is_structured_report(sop_class_uid: str) -> bool:
    return sop_class_uid.startswith(_SR_PREFIX)


def _meaning(seq: object) -> str:
    items = list(seq or [])  # type: ignore[call-overload]
    return str(items[0].get("CodeMeaning", "") or items[0].get("CodeValue", "")) if items else ""


def _item_value(item: Dataset) -> str:
    """The value of one content item as text (PS3.3 C.17.3.2.1 Value Types)."""
    vt = str(item.get("ValueType", ""))
    if "ReferencedContentItemIdentifier" in item:
        return "(see item " + ".".join(str(n) for n in item.ReferencedContentItemIdentifier) + ")"
    if vt == "TEXT":
        return str(item.get("TextValue", ""))
    if vt == "CODE":
        return _meaning(item.get("ConceptCodeSequence"))
    if vt == "NUM":
        measured = list(item.get("MeasuredValueSequence") or [])
        if not measured:
            return ""
        value = str(measured[0].get("NumericValue", ""))
        units = list(measured[0].get("MeasurementUnitsCodeSequence") or [])
        unit = str(units[0].get("CodeValue", "")) if units else ""
        return f"{value} {unit}".strip()
    if vt in ("DATE", "TIME", "DATETIME"):
        return str(item.get({"DATE": "Date", "TIME": "Time", "DATETIME": "DateTime"}[vt], ""))
    if vt == "PNAME":
        return str(item.get("PersonName", ""))
    if vt == "UIDREF":
        return str(item.get("UID", ""))
    if vt in ("IMAGE", "COMPOSITE", "WAVEFORM"):
        refs = list(item.get("ReferencedSOPSequence") or [])
        return str(refs[0].get("ReferencedSOPInstanceUID", "")) if refs else ""
    if vt in ("SCOORD", "SCOORD3D"):
        return f"{item.get('GraphicType', '')} {list(item.get('GraphicData') or [])}"
    if vt == "TCOORD":
        return str(item.get("TemporalRangeType", ""))
    return ""


def _content(ds: Dataset, depth: int = 0) -> list[tuple[int, str, str, str]]:
    """The content tree as (depth, value type, concept name, value) rows, in document order."""
    rows: list[tuple[int, str, str, str]] = []
    for item in ds.get("ContentSequence") or []:
        vt = str(item.get("ValueType", "")) or "REFERENCE"
        rows.append((depth, vt, _meaning(item.get("ConceptNameCodeSequence")), _item_value(item)))
        rows.extend(_content(item, depth + 1))
    return rows


def render_report(ds: Dataset, media_type: str) -> bytes:
    """A Structured Report's content tree as HTML (headings for containers), plain text (indented) or XML."""
    import html
    from xml.etree import ElementTree as ET

    title = _meaning(ds.get("ConceptNameCodeSequence")) or "Structured Report"
    header = [
        ("Patient", str(ds.get("PatientName", ""))),
        ("Patient ID", str(ds.get("PatientID", ""))),
        ("Study date", str(ds.get("StudyDate", ""))),
        ("Completion", str(ds.get("CompletionFlag", ""))),
        ("Verification", str(ds.get("VerificationFlag", ""))),
    ]
    rows = _content(ds)
    if media_type == "text/plain":
        lines = [title, "=" * len(title)] + [f"{k}: {v}" for k, v in header if v] + [""]
        for depth, vt, name, value in rows:
            indent = "  " * depth
            label = name or vt.lower()
            value = value.replace("\r\n", "\n").rstrip("\n").replace("\n", "\n" + indent + "  ")
            lines.append(indent + (f"{label}: {value}" if value else label))
        return ("\n".join(lines) + "\n").encode("utf-8")
    if media_type == "text/xml":
        root = ET.Element("report", title=title)
        for k, v in header:
            if v:
                ET.SubElement(root, "header", name=k).text = v
        stack = [root]
        for depth, vt, name, value in rows:
            del stack[depth + 1 :]
            el = ET.SubElement(stack[-1], "item", type=vt, name=name)
            if value:
                el.set("value", value)
            stack.append(el)
        return ET.tostring(root, encoding="utf-8", xml_declaration=True)
    esc = html.escape
    out = [
        "<!DOCTYPE html>",
        '<html><head><meta charset="utf-8">',
        f"<title>{esc(title)}</title></head><body>",
        f"<h1>{esc(title)}</h1><dl>",
    ]
    out += [f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in header if v]
    out.append("</dl>")
    for depth, vt, name, value in rows:
        label = esc(name or vt.lower())
        if vt == "CONTAINER":
            level = min(depth + 2, 6)
            out.append(f"<h{level}>{label}</h{level}>")
        else:
            text = esc(value).replace("\n", "<br>")
            out.append(f'<p style="margin-left:{depth * 1.5}em"><b>{label}:</b> {text}</p>')
    out.append("</body></html>")
    return "\n".join(out).encode("utf-8")
