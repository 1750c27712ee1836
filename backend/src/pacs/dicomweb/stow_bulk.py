"""STOW-RS Metadata and Bulkdata requests (PS3.18 10.5.1.4, 8.6.1.2): instances sent as metadata plus bulk data.

The body is ``multipart/related; type="application/dicom+json"`` (one part holding an array of DICOM JSON model
objects, PS3.18 F.2) or ``type="application/dicom+xml"`` (one PS3.19 Native DICOM Model part per instance),
followed by the bulk data parts. A metadata element whose value is bulk data carries a BulkDataURI; the part
holding that value has a ``Content-Location`` equal to it (a ``cid:`` URI names a part's ``Content-ID``
instead, RFC 2392). Uncompressed values are ``application/octet-stream``, little endian; compressed Pixel Data
is one part per frame in its image media type (PS3.18 Table 8.7.3-5), ``{BulkDataURI}`` repeated or
``{BulkDataURI}/frames/{n}``.

Ingest takes PS3.10 objects only: each instance is made into one here (:mod:`pacs.dicom.part10`) and the batch
goes to ``IngestService.store_many`` exactly as the parts of an application/dicom request do, so the checks,
the Study Instance UID of the target resource included, and the FailureReasons are the same. An instance that
cannot be made is a failure of its own in the Store Instances Response (PS3.18 I.2.2):

- a BulkDataURI no part answers, or compressed Pixel Data without its Image Pixel Description attributes or
  with fewer frames than Number of Frames: A900, as ingest answers an image that arrives without its Pixel Data;
- metadata that is not a data set (an XML part that is not a Native DICOM Model, a JSON array element that is
  not an object, values pydicom cannot read): C000, Cannot understand;
- compressed pixel data in a media type or JPEG process the archive does not store: C122.

A JSON metadata part that is not JSON, or that is not an array of objects, is a 400: the request's syntax is
bad and no instance in it can be named (PS3.18 10.5.3, Table 10.5.3-1). Bulk data parts that no BulkDataURI
names are ignored, and the response says so in a Warning header field.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urljoin

from pacs.dicom.part10 import (
    PIXEL_DATA,
    PIXEL_DESCRIPTION,
    UnsupportedEncodingError,
    bulk_data_uris,
    dataset_from_json,
    encapsulated,
    frame_transfer_syntax,
    part10_bytes,
)
from pacs.dicom.transfer_syntax import EXPLICIT_LE
from pacs.dicom.xml import parse_dicom_xml
from pacs.dicomweb.media import DICOM_JSON, Part, parse_media_type
from pacs.exceptions import BadRequestError, InvalidDicomError, MissingAttributeError, PacsError
from pacs.ingest import IngestService, StoreOutcome

log = logging.getLogger(__name__)

#: media types of uncompressed bulk data (PS3.18 8.7.3.3.1); a part without a Content-Type is taken as one
UNCOMPRESSED_BULK = ("application/octet-stream", "")


@dataclass
class BulkStoreResult:
    """One outcome per instance, in the order of the metadata, and Warning header field values."""

    outcomes: list[StoreOutcome]
    warnings: list[str] = field(default_factory=list)


def store_metadata_and_bulkdata(
    ingest: IngestService,
    related_type: str,
    parts: list[Part],
    request_url: str,
    expected_study: str | None,
) -> BulkStoreResult:
    """Store the instances of a Metadata and Bulkdata request; relative URIs resolve against ``request_url``.

    Raises :class:`BadRequestError` only for a request with no instance metadata or unreadable JSON metadata;
    every other problem is the failure of one instance.
    """
    metadata, bulk = _split(related_type, parts)
    models = _json_models(metadata) if related_type == DICOM_JSON else [_xml_model(p) for p in metadata]
    if not models:
        raise BadRequestError(
            f"the request holds no {related_type} metadata; its first part must be the metadata"
        )
    index = BulkIndex(bulk, request_url)
    outcomes: list[StoreOutcome] = []
    blobs: list[bytes] = []
    made: list[int] = []
    for i, model in enumerate(models):
        out = StoreOutcome()
        outcomes.append(out)
        try:
            if isinstance(model, PacsError):
                raise model
            out.sop_class_uid, out.sop_instance_uid = _uid(model, "00080016"), _uid(model, "00080018")
            blobs.append(instance_part10(model, index))
            made.append(i)
        except PacsError as exc:
            out.failure_status, out.detail = exc.dicom_status, exc.detail
        except Exception as exc:  # metadata no check above foresaw: still this instance's failure, not a 500
            log.warning("STOW-RS: cannot make instance %d of the metadata", i + 1, exc_info=True)
            out.failure_status, out.detail = 0xC000, f"cannot make a DICOM object of the metadata: {exc}"
    if blobs:
        for i, stored in zip(made, ingest.store_many(blobs, expected_study=expected_study), strict=True):
            outcomes[i] = stored
    result = BulkStoreResult(outcomes)
    if unused := index.unreferenced():
        log.info("STOW-RS: %d bulk data part(s) named by no BulkDataURI were ignored", unused)
        result.warnings.append(f'299 pacs "{unused} bulk data part(s) named by no BulkDataURI were ignored"')
    return result


def _split(related_type: str, parts: list[Part]) -> tuple[list[Part], list[Part]]:
    """Metadata parts (of the request's type, or without Content-Type and not named) and bulk data parts."""
    metadata: list[Part] = []
    bulk: list[Part] = []
    for part in parts:
        kind = parse_media_type(part.content_type).type if part.content_type else ""
        named = "content-location" in part.headers or "content-id" in part.headers
        (metadata if kind == related_type or (not kind and not named) else bulk).append(part)
    return metadata, bulk


def _json_models(metadata: list[Part]) -> list[dict[str, Any] | PacsError]:
    """The DICOM JSON model objects of the JSON metadata part(s): an array each (a lone object is taken too)."""
    models: list[dict[str, Any] | PacsError] = []
    for part in metadata:
        try:
            value = json.loads(part.data)
        except ValueError as exc:
            raise BadRequestError(f"the {DICOM_JSON} metadata part is not valid JSON: {exc}") from exc
        if isinstance(value, dict):
            value = [value]
        if not isinstance(value, list):
            raise BadRequestError(
                f"the {DICOM_JSON} metadata part must be an array of DICOM JSON model objects (PS3.18 F.2), "
                f"not a JSON {type(value).__name__}"
            )
        for n, item in enumerate(value, start=len(models) + 1):
            if isinstance(item, dict) and all(isinstance(a, dict) for a in item.values()):
                models.append(item)
            else:
                models.append(
                    InvalidDicomError(f"metadata array element {n} is not a DICOM JSON model object")
                )
    return models


def _xml_model(part: Part) -> dict[str, Any] | PacsError:
    """One instance's Native DICOM Model part as a DICOM JSON model object, or why it is not one."""
    try:
        return parse_dicom_xml(part.data)
    except ValueError as exc:
        return InvalidDicomError(
            f"the application/dicom+xml part is not a Native DICOM Model (PS3.19 A.1): {exc}"
        )


def _first_value(model: Mapping[str, Any], tag: str) -> Any:
    """The first Value of an attribute of the model, None if it has none."""
    values = (model.get(tag) or {}).get("Value")
    return values[0] if isinstance(values, list) and values else None


def _uid(model: Mapping[str, Any], tag: str) -> str:
    """The first value of a UI attribute of the model, "" if it has none."""
    return str(_first_value(model, tag) or "").strip()


class BulkIndex:
    """The bulk data parts of a request by the URI that names them: ``Content-Location`` resolved against the
    request URL (so relative and absolute URIs for one resource agree), and ``cid:{Content-ID}``."""

    def __init__(self, parts: list[Part], base_url: str) -> None:
        self.base_url = base_url
        self._parts = parts
        self._by_uri: dict[str, list[int]] = {}
        self._used: set[int] = set()
        for i, part in enumerate(parts):
            if location := part.headers.get("content-location"):
                self._by_uri.setdefault(self.resolve(location), []).append(i)
            if content_id := part.headers.get("content-id"):
                self._by_uri.setdefault(f"cid:{content_id.strip().strip('<>')}", []).append(i)

    def resolve(self, uri: str) -> str:
        uri = uri.strip()
        if uri[:4].lower() == "cid:":
            return f"cid:{unquote(uri[4:])}"
        return urljoin(self.base_url, uri)

    def find(self, uri: str) -> list[Part]:
        """The parts holding the value at ``uri``: those at the URI itself, in order (one, or a compressed
        frame each), else those at ``{uri}/frames/1``, ``/frames/2`` … up to the first missing one."""
        key = self.resolve(uri)
        found = list(self._by_uri.get(key, ()))
        if not found:
            n = 1
            while frame := self._by_uri.get(f"{key}/frames/{n}"):
                found.append(frame[0])
                n += 1
        self._used.update(found)
        return [self._parts[i] for i in found]

    def unreferenced(self) -> int:
        """How many parts no :meth:`find` has asked for."""
        return len(self._parts) - len(self._used)


def instance_part10(model: dict[str, Any], index: BulkIndex) -> bytes:
    """The PS3.10 bytes of one instance: its metadata with each BulkDataURI's value from ``index``.

    Explicit VR Little Endian, unless Pixel Data comes as compressed frames: then those are encapsulated in
    the transfer syntax their media type (and its ``transfer-syntax`` parameter, or the bitstream) names.
    """
    pixel = model.get(PIXEL_DATA) or {}
    pixel_uri = pixel.get("BulkDataURI")
    pixel_uri = pixel_uri[0] if isinstance(pixel_uri, list) and pixel_uri else pixel_uri
    found = {uri: index.find(uri) for uri in bulk_data_uris(model)}
    if missing := [uri for uri, parts in found.items() if not parts]:
        raise MissingAttributeError(
            "no bulk data part has the Content-Location of BulkDataURI " + ", ".join(missing[:5])
        )
    for tag, keyword in (("00080016", "SOPClassUID"), ("00080018", "SOPInstanceUID")):
        if not _uid(model, tag):  # the File Meta Information needs them; ingest checks the other UIDs
            raise MissingAttributeError(f"{keyword} is missing or empty")
    values: dict[str, bytes] = {}
    transfer_syntax = EXPLICIT_LE
    for uri, parts in found.items():
        if uri == pixel_uri and parse_media_type(parts[0].content_type).type not in UNCOMPRESSED_BULK:
            transfer_syntax, values[uri] = _compressed_pixel_data(model, parts)
        else:
            values[uri] = parts[0].data if len(parts) == 1 else b"".join(p.data for p in parts)
    try:
        ds = dataset_from_json(model, values.__getitem__)
    except Exception as exc:
        raise InvalidDicomError(f"cannot read the metadata as a data set: {exc}") from exc
    if transfer_syntax != EXPLICIT_LE and (absent := [k for k in PIXEL_DESCRIPTION if k not in ds]):
        raise MissingAttributeError(
            f"compressed Pixel Data needs {', '.join(absent)} in the metadata; this origin server does not "
            "read them from the bitstream"
        )
    try:
        return part10_bytes(ds, transfer_syntax)
    except Exception as exc:
        raise InvalidDicomError(f"cannot encode the data set: {exc}") from exc


def _compressed_pixel_data(model: Mapping[str, Any], frames: list[Part]) -> tuple[str, bytes]:
    """Transfer syntax and encapsulated Pixel Data of compressed frames, one part each (PS3.18 8.7.3.3.2)."""
    media = parse_media_type(frames[0].content_type)
    if any(parse_media_type(p.content_type).type != media.type for p in frames[1:]):
        raise InvalidDicomError("the Pixel Data frames are not all in one media type")
    expected = _number_of_frames(model)
    if len(frames) != expected:
        raise MissingAttributeError(f"{len(frames)} Pixel Data frame part(s) for Number of Frames {expected}")
    try:
        transfer_syntax = frame_transfer_syntax(media.type, media.transfer_syntax, frames[0].data)
    except UnsupportedEncodingError as exc:
        raise InvalidDicomError(str(exc), dicom_status=0xC122) from exc
    except ValueError as exc:
        raise InvalidDicomError(str(exc)) from exc
    return transfer_syntax, encapsulated([p.data for p in frames])


def _number_of_frames(model: Mapping[str, Any]) -> int:
    """Number of Frames (0028,0008) of the model; 1 if absent."""
    value = _first_value(model, "00280008")
    try:
        return max(int(str(value).strip()), 1) if value is not None else 1
    except ValueError as exc:
        raise InvalidDicomError(f"Number of Frames {value!r} is not an integer") from exc
