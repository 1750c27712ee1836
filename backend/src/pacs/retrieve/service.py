"""The retrieve service behind WADO-RS (PS3.18 10.4), C-MOVE and C-GET."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from io import BytesIO
from typing import Any

import pydicom
from pydicom.dataset import Dataset
from pydicom.encaps import generate_frames
from pydicom.uid import UID, ExplicitVRLittleEndian
from sqlalchemy import Engine

from pacs.dicom.json import INSTANCE_URL
from pacs.dicom.transfer_syntax import EXPLICIT_LE, LOSSY
from pacs.exceptions import BadRequestError, NotAcceptableError, NotFoundError
from pacs.index import reads
from pacs.retrieve.render import RenderParams, render, render_report
from pacs.storage import ObjectStore

__all__ = ["InstanceRef", "RenderParams", "RetrieveService"]


@dataclass
class InstanceRef:
    study_instance_uid: str
    series_instance_uid: str
    sop_instance_uid: str
    sop_class_uid: str
    transfer_syntax_uid: str
    storage_key: str
    size_bytes: int
    number_of_frames: int | None
    metadata_json: str | None = None


class RetrieveService:
    def __init__(self, engine: Engine, store: ObjectStore) -> None:
        self.engine = engine
        self.store = store

    # -- lookups -------------------------------------------------------------------------------------------
    def locate(
        self,
        study: str,
        series: str | None = None,
        sop: str | None = None,
        *,
        with_metadata: bool = False,
    ) -> list[InstanceRef]:
        with self.engine.connect() as conn:
            rows = reads.instances_for(conn, study, series, sop, with_metadata=with_metadata)
        if not rows:
            what = "instance" if sop else "series" if series else "study"
            raise NotFoundError(f"no such {what} in the archive")
        return [InstanceRef(**r) for r in rows]

    def read(self, ref: InstanceRef) -> bytes:
        return self.store.get(ref.storage_key)

    # -- instances -----------------------------------------------------------------------------------------
    def encode(self, ref: InstanceRef, data: bytes, wanted: str | None) -> tuple[bytes, str]:
        """The instance in the wanted transfer syntax (PS3.18 8.7.3.4).

        ``wanted``: ``"*"`` (as stored), ``None`` (the default, Explicit VR Little Endian, or as stored when
        lossy), or a UID. Raises :class:`NotAcceptableError` (406) when it cannot be produced.
        """
        stored = ref.transfer_syntax_uid
        if wanted == "*" or wanted == stored:
            return data, stored
        if wanted is None:
            if stored == EXPLICIT_LE or stored in LOSSY:
                return data, stored
            try:
                return self._to_explicit_le(data), EXPLICIT_LE
            except Exception:
                return data, stored  # best effort for the default; an explicit request gets a 406
        if wanted != EXPLICIT_LE:
            raise NotAcceptableError(
                f"transfer syntax {wanted} is not available for instance {ref.sop_instance_uid} "
                f"(stored as {stored}; available: {stored}, {EXPLICIT_LE} for decodable pixel data)"
            )
        try:
            return self._to_explicit_le(data), EXPLICIT_LE
        except Exception as exc:
            raise NotAcceptableError(
                f"cannot transcode instance {ref.sop_instance_uid} from {stored} to {EXPLICIT_LE}: {exc}"
            ) from exc

    @staticmethod
    def _to_explicit_le(data: bytes) -> bytes:
        ds = pydicom.dcmread(BytesIO(data))
        ts = UID(ds.file_meta.TransferSyntaxUID)
        if ts.is_compressed:
            # Lossless decoding keeps the instance's identity (pydicom 3 would mint a new UID by default).
            ds.decompress(generate_instance_uid=False)
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        buf = BytesIO()
        ds.save_as(buf, enforce_file_format=True, implicit_vr=False, little_endian=True)
        return buf.getvalue()

    # -- metadata ------------------------------------------------------------------------------------------
    def metadata(self, study: str, series: str | None, sop: str | None, base_url: str) -> str:
        """A JSON array of the instances' DICOM JSON (PS3.18 10.4.1.1.2), as text."""
        refs = self.locate(study, series, sop, with_metadata=True)
        parts = []
        for r in refs:
            url = f"{base_url}/studies/{r.study_instance_uid}/series/{r.series_instance_uid}/instances/{r.sop_instance_uid}"
            parts.append((r.metadata_json or "{}").replace(INSTANCE_URL, url))
        return "[" + ",".join(parts) + "]"

    # -- frames and bulk data ------------------------------------------------------------------------------
    def frames(self, ref: InstanceRef, numbers: list[int], wanted: str | None) -> tuple[list[bytes], str]:
        """Frames (1-based) as stored (``wanted="*"`` or the stored syntax) or decoded to native pixels."""
        ds = pydicom.dcmread(BytesIO(self.read(ref)))
        if "PixelData" not in ds:
            raise NotFoundError("the instance has no pixel data")
        nframes = int(ds.get("NumberOfFrames", 1) or 1)
        bad = [n for n in numbers if n < 1 or n > nframes]
        if bad:
            raise NotFoundError(f"frame {bad[0]} does not exist (the instance has {nframes})")
        ts = UID(ds.file_meta.TransferSyntaxUID)
        if ts.is_compressed and wanted in ("*", str(ts)):
            frames = list(generate_frames(ds.PixelData, number_of_frames=nframes))
            return [frames[n - 1] for n in numbers], str(ts)
        if wanted not in (None, "*", EXPLICIT_LE, str(ts)):
            raise NotAcceptableError(f"frames are available as {ts} or {EXPLICIT_LE}, not {wanted}")
        if ts.is_compressed or not ts.is_little_endian:  # big endian: swap to little-endian pixels
            try:
                arr = ds.pixel_array
            except Exception as exc:
                raise NotAcceptableError(f"cannot decode the pixel data ({ts}): {exc}") from exc
            arr = arr.astype(arr.dtype.newbyteorder("<"), copy=False)  # Explicit VR Little Endian's bytes
            if nframes == 1:
                return [arr.tobytes()], EXPLICIT_LE
            return [arr[n - 1].tobytes() for n in numbers], EXPLICIT_LE
        raw = bytes(ds.PixelData)
        size = len(raw) // nframes
        return [raw[(n - 1) * size : n * size] for n in numbers], EXPLICIT_LE

    def bulkdata(self, ref: InstanceRef, tag: str) -> bytes:
        return self.bulkdata_many(ref, [tag])[0]

    def bulkdata_many(self, ref: InstanceRef, tags: list[str]) -> list[bytes]:
        """The binary values of ``tags`` (hex), in order, from one read of the instance."""
        ds = pydicom.dcmread(BytesIO(self.read(ref)))
        out = []
        for tag in tags:
            try:
                tag_int = int(tag, 16)
            except ValueError as exc:
                raise BadRequestError(f"{tag!r} is not a tag") from exc
            elem = _find(ds, tag_int)
            if elem is None:
                raise NotFoundError(f"no bulk data for tag {tag}")
            value = elem.value
            if not isinstance(value, (bytes, bytearray)):
                raise NotFoundError(f"tag {tag} holds no binary value")
            out.append(bytes(value))
        return out

    # -- rendered ------------------------------------------------------------------------------------------
    def rendered(self, ref: InstanceRef, frame: int, params: RenderParams) -> bytes:
        return next(self.rendered_frames(ref, [frame], params))

    def rendered_frames(
        self, ref: InstanceRef, frames: list[int] | None, params: RenderParams
    ) -> Iterator[bytes]:
        """The instance's ``frames`` (1-based; None: all of them) rendered one by one, in the order asked.

        The instance is read and the frame numbers checked before this returns (404 / 406 raised here); the
        images are rendered as they are consumed.
        """
        ds = self._renderable(ref)
        if ds is None:
            raise NotAcceptableError("the instance has no pixel data to render")
        nframes = int(ds.get("NumberOfFrames", 1) or 1)
        wanted = list(range(1, nframes + 1)) if frames is None else frames
        missing = [f for f in wanted if f < 1 or f > nframes]
        if missing:
            raise NotFoundError(f"frame {missing[0]} does not exist (the instance has {nframes})")
        return (_render(ds, f, params) for f in wanted)

    def rendered_report(self, ref: InstanceRef, media_type: str) -> bytes:
        """A Structured Report rendered as text (``TEXT_TYPES``)."""
        ds = pydicom.dcmread(BytesIO(self.read(ref)))
        try:
            return render_report(ds, media_type)
        except Exception as exc:
            raise NotAcceptableError(f"cannot render this report: {exc}") from exc

    def rendered_all(self, study: str, series: str | None, params: RenderParams) -> Iterator[bytes]:
        """Every frame of every image of a study or series, rendered, in the index's instance order; instances
        without pixel data (reports, documents) are left out. 406 when there is no image at all."""
        refs = self.locate(study, series)

        def images() -> Iterator[bytes]:
            for ref in refs:
                ds = self._renderable(ref)
                if ds is None:
                    continue
                for f in range(1, int(ds.get("NumberOfFrames", 1) or 1) + 1):
                    yield _render(ds, f, params)

        it = images()
        # the first image is made here, so an empty resource is a 406, not an empty body
        first = next(it, None)
        if first is None:
            raise NotAcceptableError(f"the {'series' if series else 'study'} holds no image to render")
        return itertools.chain([first], it)

    def _renderable(self, ref: InstanceRef) -> Dataset | None:
        ds = pydicom.dcmread(BytesIO(self.read(ref)))
        return ds if "PixelData" in ds else None

    def representative(self, study: str, series: str | None = None) -> InstanceRef:
        """The instance shown for a study or series thumbnail: the middle image of the (first) series."""
        refs = self.locate(study, series)
        first_series = refs[0].series_instance_uid
        in_series = [r for r in refs if r.series_instance_uid == first_series]
        return in_series[len(in_series) // 2]


def _render(ds: Dataset, frame: int, params: RenderParams) -> bytes:
    try:
        return render(ds, frame - 1, params)
    except Exception as exc:
        raise NotAcceptableError(f"cannot render this instance: {exc}") from exc


def _find(ds: Dataset, tag: int) -> Any:
    if tag in ds:
        return ds[tag]
    for elem in ds:
        if elem.VR == "SQ":
            for item in elem.value:
                found = _find(item, tag)
                if found is not None:
                    return found
    return None
