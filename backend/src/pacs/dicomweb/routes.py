"""DICOMweb endpoints (PS3.18 10.4 Retrieve, 10.5 Store, 10.6 Search)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydicom.datadict import dictionary_VR
from starlette.concurrency import run_in_threadpool

from pacs.dicom.xml import dicom_xml
from pacs.dicomweb import media
from pacs.dicomweb.media import DICOM, DICOM_JSON, DICOM_XML
from pacs.dicomweb.stow import store_response
from pacs.dicomweb.stow_bulk import store_metadata_and_bulkdata
from pacs.exceptions import BadRequestError, NotAcceptableError, PayloadTooLargeError
from pacs.ingest import StoreOutcome
from pacs.query.engine import Level
from pacs.query.results import tag_hex
from pacs.retrieve import RENDERED_TYPES, TEXT_TYPES, RenderParams, is_structured_report
from pacs.retrieve.service import InstanceRef
from pacs.services import Services

router = APIRouter(tags=["dicomweb"])

#: VRs whose values cannot hold a comma: there a comma separates the values of a list
_LIST_VRS = ("UI", "CS")
_RESERVED = {"limit", "offset", "includefield", "fuzzymatching", "accept", "charset"}
#: WADO-RS answers up to this size are sent whole (Content-Length), larger ones stream.
BUFFERED_RESPONSE_BYTES = 64 * 1024 * 1024


def _services(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


def base_url(request: Request) -> str:
    """The DICOMweb root URL as clients reach it: PACS_PUBLIC_BASE_URL, else from the request (scheme, Host).

    Starlette's ``request.base_url`` (Host header parsed and checked) is built once per distinct origin and
    kept: building it took ~8 % of the GIL time of one-instance STOW-RS requests.
    """
    configured = request.app.state.settings.public_base_url
    if configured:
        return configured.rstrip("/") + "/dicom-web"
    scope = request.scope
    key = (scope["scheme"], request.headers.get("host"), scope.get("server"), scope.get("root_path", ""))
    url = _BASE_URLS.get(key)
    if url is None:
        url = str(request.base_url).rstrip("/") + "/dicom-web"
        if len(_BASE_URLS) >= 256:  # bounded: Host is client-controlled
            _BASE_URLS.clear()
        _BASE_URLS[key] = url
    return url


_BASE_URLS: dict[tuple[object, ...], str] = {}


def _xml_parts(models: list[dict[str, Any]], headers: dict[str, str]) -> Response:
    """DICOM XML for several data sets: multipart/related, one NativeDicomModel part each, in order
    (PS3.18 8.7.3, Table 8.7.3-2; PS3.19 A.1).

    No data set is a 200 with an empty payload, as DICOM JSON answers ``[]`` (PS3.18 CP-2473: a search with
    no match is a success); the Content-Type still names the multipart representation.
    """
    boundary = media.new_boundary()
    media_type = f'multipart/related; type="{DICOM_XML}"; boundary={boundary}'
    parts = ((DICOM_XML, dicom_xml(model)) for model in models)
    body = b"".join(media.multipart_body(parts, boundary)) if models else b""
    return Response(body, media_type=media_type, headers=headers)


# ---------------------------------------------------------------------------------------------------------
# STOW-RS (PS3.18 10.5)
# ---------------------------------------------------------------------------------------------------------


async def _stow(request: Request, study: str | None) -> Response:
    """Store Instances (PS3.18 10.5): PS3.10 instances (``type="application/dicom"``, one per part), or
    Metadata and Bulkdata (``type="application/dicom+json"`` / ``"application/dicom+xml"``, see
    :mod:`pacs.dicomweb.stow_bulk`); any other type is a 415."""
    services = _services(request)
    # The response is DICOM JSON or DICOM XML: refuse an Accept it cannot meet before storing anything.
    representation = media.negotiate_model(request.headers.get("accept"), multipart=False)
    collector = media.MultipartCollector(
        request.headers.get("content-type", ""), services.settings.max_request_bytes, media.STOW_TYPES
    )
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > services.settings.max_request_bytes:
        raise PayloadTooLargeError(
            f"request body of {declared} bytes exceeds PACS_MAX_REQUEST_BYTES="
            f"{services.settings.max_request_bytes}; send fewer instances per request"
        )
    async for chunk in request.stream():
        collector.feed(chunk)
    if collector.related_type != DICOM:
        return await _stow_metadata_and_bulkdata(request, collector, study, representation)
    parts = collector.finish()
    if not parts:
        raise BadRequestError("the multipart/related body holds no parts")
    blobs: list[bytes] = []
    bad_types: list[int] = []
    for i, (ctype, data) in enumerate(parts):
        mt = media.parse_media_type(ctype) if ctype else None
        if mt is not None and mt.type not in ("application/dicom", "application/octet-stream"):
            bad_types.append(i)
        blobs.append(data)
    outcomes = await run_in_threadpool(services.ingest.store_many, blobs, expected_study=study)
    for i in bad_types:
        outcomes[i].failure_status = 0xC000
        outcomes[i].detail = f"part {i + 1} is {parts[i][0]!r}, not application/dicom"
    return _store_instances_response(request, outcomes, study, representation)


async def _stow_metadata_and_bulkdata(
    request: Request, collector: media.MultipartCollector, study: str | None, representation: str
) -> Response:
    """Store Instances sent as Metadata and Bulkdata (PS3.18 10.5.1.4): made into PS3.10, then ingested."""
    result = await run_in_threadpool(
        store_metadata_and_bulkdata,
        _services(request).ingest,
        collector.related_type,
        collector.finish_parts(),
        str(request.url),
        study,
    )
    headers = {"Warning": ", ".join(result.warnings)} if result.warnings else None
    return _store_instances_response(request, result.outcomes, study, representation, headers)


def _store_instances_response(
    request: Request,
    outcomes: list[StoreOutcome],
    study: str | None,
    representation: str,
    headers: dict[str, str] | None = None,
) -> Response:
    """The Store Instances Response (PS3.18 10.5.3) in the negotiated representation."""
    status, body = store_response(outcomes, base_url(request), study)
    if representation == DICOM_XML:
        return Response(dicom_xml(body), status_code=status, media_type=DICOM_XML, headers=headers)
    return JSONResponse(body, status_code=status, media_type=DICOM_JSON, headers=headers)


@router.post("/studies", summary="STOW-RS: store instances")
async def stow_studies(request: Request) -> Response:
    return await _stow(request, None)


@router.post("/studies/{study}", summary="STOW-RS: store instances into a study")
async def stow_study(request: Request, study: str) -> Response:
    return await _stow(request, study)


# ---------------------------------------------------------------------------------------------------------
# QIDO-RS (PS3.18 10.6)
# ---------------------------------------------------------------------------------------------------------

_TAG = re.compile(r"^[0-9A-Fa-f]{8}$")


def _keyword(name: str) -> str | None:
    from pydicom.datadict import keyword_for_tag, tag_for_keyword

    if _TAG.match(name):
        return keyword_for_tag(int(name, 16)) or None
    return name if tag_for_keyword(name) is not None else None


def _int_param(request: Request, name: str, default: int | None, maximum: int) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise BadRequestError(f"{name}={raw!r} is not an integer") from exc
    if value < 0 or value > maximum:
        raise BadRequestError(f"{name}={value} is out of range; use 0..{maximum}")
    return value


def _qido(request: Request, level: Level, fixed: dict[str, str]) -> Response:
    accept = request.query_params.get("accept") or request.headers.get("accept")
    representation = media.negotiate_model(accept, multipart=True)
    services = _services(request)
    settings = services.settings
    asked_limit = _int_param(request, "limit", None, settings.max_query_limit)
    # Without a limit the origin server still bounds the answer (PS3.18 8.3.4.4) and says so in a Warning.
    limit = settings.max_query_limit if asked_limit is None else asked_limit
    offset = _int_param(request, "offset", 0, 1_000_000_000) or 0
    fuzzy_raw = request.query_params.get("fuzzymatching", "false").lower()
    if fuzzy_raw not in ("true", "false"):
        raise BadRequestError(f"fuzzymatching={fuzzy_raw!r}; use true or false")
    include: set[str] = set()
    include_all = False
    keys: dict[str, str] = {}
    unsupported: list[str] = []
    for name, value in request.query_params.multi_items():
        if name == "includefield":
            for item in value.split(","):
                item = item.strip()
                if not item:
                    continue
                if item == "all":
                    include_all = True
                    continue
                kw = _keyword(item.split(".")[0])
                if kw is not None:
                    include.add(tag_hex(kw))
                elif re.fullmatch(r"[0-9A-Fa-f]{8}", item):  # a tag outside the dictionary (private): as is
                    include.add(item.upper())
                else:
                    raise BadRequestError(f"includefield {item!r} is not a DICOM keyword or tag")
            continue
        if name in _RESERVED:
            continue
        kw = _keyword(name.split(".")[0])
        if kw is None:
            # PS3.18 8.3: an unsupported Query Parameter is ignored (the request answered as if it were absent),
            # and the response says so in a Warning; a supported one with an invalid value is a 400.
            unsupported.append(name)
            continue
        if "," in value and dictionary_VR(kw) in _LIST_VRS:
            # A list of values: PS3.18 8.3.4.1 writes a UID list comma-separated, and clients such as
            # dicomweb-client send every list that way (ModalitiesInStudy=CT,MR). A comma is never part of a UID
            # or CS value; the query engine takes DICOM's backslash, as repeated keys also become here.
            value = value.replace(",", "\\")
        keys[kw] = f"{keys[kw]}\\{value}" if kw in keys else value
        include.add(tag_hex(kw))
    for kw, value in fixed.items():
        keys[kw] = value
    results, ignored = services.query.search(
        level,
        keys,
        fuzzy=fuzzy_raw == "true",
        limit=limit,
        offset=offset,
        include=include,
        include_all=include_all,
        base_url=base_url(request),
        with_study=level != Level.STUDY and "StudyInstanceUID" not in fixed,
    )
    warnings = []
    if unsupported:
        # header-safe: printable ASCII, no quote or backslash (the names come from the URL)
        names = re.sub(r'[^\x20-\x7e]|["\\]', "?", ", ".join(sorted(set(unsupported))))[:500]
        warnings.append(f'299 pacs "Unsupported query parameters were ignored: {names}"')
    if ignored:
        warnings.append(
            f'299 pacs "The following attributes are not supported for matching: {", ".join(ignored)}"'
        )
    if asked_limit is None and len(results) == limit:
        warnings.append(f'299 pacs "There are more than {limit} results; use limit and offset to page"')
    headers = {"Warning": ", ".join(warnings)} if warnings else {}
    if representation == DICOM_XML:
        return _xml_parts(results, headers)
    return Response(json.dumps(results), media_type=DICOM_JSON, headers=headers)


@router.get("/studies", summary="QIDO-RS: search studies")
def search_studies(request: Request) -> Response:
    return _qido(request, Level.STUDY, {})


@router.get("/series", summary="QIDO-RS: search all series")
def search_series(request: Request) -> Response:
    return _qido(request, Level.SERIES, {})


@router.get("/instances", summary="QIDO-RS: search all instances")
def search_instances(request: Request) -> Response:
    return _qido(request, Level.IMAGE, {})


@router.get("/studies/{study}/series", summary="QIDO-RS: search a study's series")
def search_study_series(request: Request, study: str) -> Response:
    return _qido(request, Level.SERIES, {"StudyInstanceUID": study})


@router.get("/studies/{study}/instances", summary="QIDO-RS: search a study's instances")
def search_study_instances(request: Request, study: str) -> Response:
    return _qido(request, Level.IMAGE, {"StudyInstanceUID": study})


@router.get("/studies/{study}/series/{series}/instances", summary="QIDO-RS: search a series' instances")
def search_series_instances(request: Request, study: str, series: str) -> Response:
    return _qido(request, Level.IMAGE, {"StudyInstanceUID": study, "SeriesInstanceUID": series})


# ---------------------------------------------------------------------------------------------------------
# WADO-RS (PS3.18 10.4)
# ---------------------------------------------------------------------------------------------------------


def _instance_ts(accept: str | None) -> tuple[str | None, bool]:
    """The transfer syntax asked for DICOM instances and whether a single part was asked.

    Returns (None = default, '*' = as stored, or a UID).
    """
    for r in media.parse_accept(accept):
        if r.type in ("*/*", "multipart/*") or (
            r.type == "multipart/related" and r.related_type in (None, "application/dicom", "*/*")
        ):
            return r.transfer_syntax, False
        if r.type == "application/dicom":
            return r.transfer_syntax, True
    raise NotAcceptableError(
        f'cannot answer {accept!r}; use multipart/related; type="application/dicom"[; transfer-syntax=...]'
    )


def _retrieve(request: Request, study: str, series: str | None, sop: str | None) -> Response:
    services = _services(request)
    accept = request.query_params.get("accept") or request.headers.get("accept")
    wanted, single = _instance_ts(accept)
    if wanted == "1.2.840.10008.1.2":
        raise NotAcceptableError("Implicit VR Little Endian is not used with web services (PS3.18 8.7.3)")
    refs = services.retrieve.locate(study, series, sop)
    if single:
        if len(refs) != 1:
            raise NotAcceptableError(
                "application/dicom (single part) is only for one instance; use multipart"
            )
        data, ts = services.retrieve.encode(refs[0], services.retrieve.read(refs[0]), wanted)
        return Response(data, media_type=f"application/dicom; transfer-syntax={ts}")
    boundary = media.new_boundary()
    media_type = f'multipart/related; type="application/dicom"; boundary={boundary}'
    if sum(r.size_bytes for r in refs) <= BUFFERED_RESPONSE_BYTES:
        # Small answers are built whole and sent with a Content-Length: once written they are in the kernel's
        # socket buffer, so a replica killed right after still delivers them (the preemption drill relies on it).
        encoded = [services.retrieve.encode(ref, services.retrieve.read(ref), wanted) for ref in refs]
        body = b"".join(
            media.multipart_body(
                ((f"application/dicom; transfer-syntax={ts}", d) for d, ts in encoded), boundary
            )
        )
        return Response(body, media_type=media_type)
    # Large answers stream; the first instance is encoded eagerly so a 406 is still possible before streaming.
    first_data, first_ts = services.retrieve.encode(refs[0], services.retrieve.read(refs[0]), wanted)

    def parts() -> Any:
        yield f"application/dicom; transfer-syntax={first_ts}", first_data
        for ref in refs[1:]:
            data, ts = services.retrieve.encode(ref, services.retrieve.read(ref), wanted)
            yield f"application/dicom; transfer-syntax={ts}", data

    return StreamingResponse(media.multipart_body(parts(), boundary), media_type=media_type)


@router.get("/studies/{study}", summary="WADO-RS: retrieve a study")
def retrieve_study(request: Request, study: str) -> Response:
    return _retrieve(request, study, None, None)


@router.get("/studies/{study}/series/{series}", summary="WADO-RS: retrieve a series")
def retrieve_series(request: Request, study: str, series: str) -> Response:
    return _retrieve(request, study, series, None)


@router.get("/studies/{study}/series/{series}/instances/{sop}", summary="WADO-RS: retrieve an instance")
def retrieve_instance(request: Request, study: str, series: str, sop: str) -> Response:
    return _retrieve(request, study, series, sop)


def _metadata(request: Request, study: str, series: str | None, sop: str | None) -> Response:
    """Retrieve Metadata (PS3.18 10.4.1.1.2): DICOM JSON (one array), or DICOM XML (one part per instance)."""
    accept = request.query_params.get("accept") or request.headers.get("accept")
    representation = media.negotiate_model(accept, multipart=True)
    body = _services(request).retrieve.metadata(study, series, sop, base_url(request))
    if representation == DICOM_XML:
        return _xml_parts(json.loads(body), {})
    return Response(body, media_type=DICOM_JSON)


@router.get("/studies/{study}/metadata", summary="WADO-RS: study metadata")
def study_metadata(request: Request, study: str) -> Response:
    return _metadata(request, study, None, None)


@router.get("/studies/{study}/series/{series}/metadata", summary="WADO-RS: series metadata")
def series_metadata(request: Request, study: str, series: str) -> Response:
    return _metadata(request, study, series, None)


@router.get("/studies/{study}/series/{series}/instances/{sop}/metadata", summary="WADO-RS: instance metadata")
def instance_metadata(request: Request, study: str, series: str, sop: str) -> Response:
    return _metadata(request, study, series, sop)


_FRAME_MEDIA = {
    "1.2.840.10008.1.2.4.50": "image/jpeg",
    "1.2.840.10008.1.2.4.51": "image/jpeg",
    "1.2.840.10008.1.2.4.57": "image/jpeg",
    "1.2.840.10008.1.2.4.70": "image/jpeg",
    "1.2.840.10008.1.2.4.80": "image/jls",
    "1.2.840.10008.1.2.4.81": "image/jls",
    "1.2.840.10008.1.2.4.90": "image/jp2",
    "1.2.840.10008.1.2.4.91": "image/jp2",
    "1.2.840.10008.1.2.4.92": "image/jpx",
    "1.2.840.10008.1.2.4.93": "image/jpx",
    "1.2.840.10008.1.2.4.100": "video/mpeg",
    "1.2.840.10008.1.2.4.101": "video/mpeg",
    "1.2.840.10008.1.2.4.102": "video/mp4",
    "1.2.840.10008.1.2.4.103": "video/mp4",
    "1.2.840.10008.1.2.4.104": "video/mp4",
    "1.2.840.10008.1.2.4.105": "video/mp4",
    "1.2.840.10008.1.2.4.106": "video/mp4",
    "1.2.840.10008.1.2.4.107": "video/H265",
    "1.2.840.10008.1.2.4.108": "video/H265",
    "1.2.840.10008.1.2.4.201": "image/jphc",
    "1.2.840.10008.1.2.4.202": "image/jphc",
    "1.2.840.10008.1.2.4.203": "image/jphc",
    "1.2.840.10008.1.2.5": "image/dicom-rle",
}


def _frame_numbers(frames: str) -> list[int]:
    try:
        numbers = [int(f) for f in frames.split(",") if f.strip()]
    except ValueError as exc:
        raise BadRequestError(f"frame list {frames!r} must be comma-separated positive integers") from exc
    if not numbers or any(n < 1 for n in numbers) or len(numbers) > 10_000:
        raise BadRequestError(f"frame list {frames!r} must be comma-separated positive integers")
    return numbers


def _one(request: Request, study: str, series: str, sop: str) -> InstanceRef:
    return _services(request).retrieve.locate(study, series, sop)[0]


def _frame_media(
    ranges: list[media.MediaRange], stored_ts: str, accept: str | None
) -> tuple[str | None, str]:
    """(transfer syntax wanted, part media type) for a frames request (PS3.18 8.7.3.5, Table 8.7.3-5).

    ``application/octet-stream`` asks for uncompressed pixels (or, with ``transfer-syntax=*``, the frames as
    stored); a compressed media type is answered only when it is the stored one (``image/jpeg`` for a JPEG
    baseline instance, ...), as the archive does not transcode to other compressed syntaxes. An empty part
    type means "the stored syntax's own media type". Nothing acceptable: 406.
    """
    native = _FRAME_MEDIA.get(stored_ts)  # None: stored uncompressed
    for r in ranges:
        if r.type in ("*/*", "multipart/*"):
            return "*", ""
        if r.type != "multipart/related":
            continue
        rel = r.related_type or "application/octet-stream"
        if rel == "application/octet-stream":
            return r.transfer_syntax, rel
        if rel == "*/*":
            return r.transfer_syntax or "*", ""
        same_type = native is not None and (rel == native or rel == native.split("/")[0] + "/*")
        if same_type and r.transfer_syntax in (None, "*", stored_ts):
            return "*", ""
    offers = 'multipart/related; type="application/octet-stream"'
    if native:
        offers += f' or multipart/related; type="{native}"'
    raise NotAcceptableError(
        f"cannot answer {accept!r} for these frames (stored as {stored_ts}); use {offers}"
    )


@router.get("/studies/{study}/series/{series}/instances/{sop}/frames/{frames}", summary="WADO-RS: frames")
def retrieve_frames(request: Request, study: str, series: str, sop: str, frames: str) -> Response:
    numbers = _frame_numbers(frames)
    accept = request.query_params.get("accept") or request.headers.get("accept")
    ranges = media.parse_accept(accept)
    ref = _one(request, study, series, sop)
    wanted, part_type = _frame_media(ranges, ref.transfer_syntax_uid, accept)
    data, ts = _services(request).retrieve.frames(ref, numbers, wanted)
    ctype = part_type or _FRAME_MEDIA.get(ts, "application/octet-stream")
    boundary = media.new_boundary()
    body = b"".join(media.multipart_body(((f"{ctype}; transfer-syntax={ts}", d) for d in data), boundary))
    related = ctype
    return Response(body, media_type=f'multipart/related; type="{related}"; boundary={boundary}')


@router.get("/studies/{study}/series/{series}/instances/{sop}/bulkdata/{tag}", summary="WADO-RS: bulk data")
def retrieve_bulkdata(request: Request, study: str, series: str, sop: str, tag: str) -> Response:
    accept = request.query_params.get("accept") or request.headers.get("accept")
    single = False  # multipart/related; type="application/octet-stream" (the default), or the bytes alone
    for r in media.parse_accept(accept):
        if r.type in ("*/*", "multipart/*"):
            break
        if r.type == "multipart/related" and r.related_type in (None, "application/octet-stream", "*/*"):
            break
        if r.type in ("application/octet-stream", "application/*"):
            single = True
            break
    else:
        raise NotAcceptableError(
            f'cannot answer {accept!r}; bulk data is multipart/related; type="application/octet-stream" '
            "or application/octet-stream"
        )
    ref = _one(request, study, series, sop)
    data = _services(request).retrieve.bulkdata(ref, tag)
    if single:
        return Response(data, media_type="application/octet-stream")
    boundary = media.new_boundary()
    body = b"".join(media.multipart_body([("application/octet-stream", data)], boundary))
    return Response(
        body, media_type=f'multipart/related; type="application/octet-stream"; boundary={boundary}'
    )


# --- rendered and thumbnails (PS3.18 8.3.5, 10.4.1.1.3/4) -----------------------------------------------


def _rendered_media(accept: str | None, single: bool) -> tuple[str, bool]:
    """The rendered media type for ``accept`` and whether the answer is multipart/related (PS3.18 8.7.4, 8.7.5).

    A single-part type (``image/jpeg``, ``image/png``, ``image/gif``) only fits a resource that is a single
    image (``single``: an instance's first frame, one frame, a thumbnail); ``multipart/related; type=...``
    fits any resource, one part per image. ``*/*`` and a missing Accept give JPEG, the default, as one image
    or as multipart. No acceptable range left: 406.
    """
    for r in media.parse_accept(accept):
        if r.type == "multipart/related":
            inner = (r.related_type or "*/*").lower()
            if inner in RENDERED_TYPES:
                return inner, True
            if inner in ("image/*", "*/*"):
                return "image/jpeg", True
        elif r.type in RENDERED_TYPES or r.type in ("image/*", "*/*"):
            if single:
                return (r.type if r.type in RENDERED_TYPES else "image/jpeg"), False
            if r.type == "*/*":
                return "image/jpeg", True
    offered = ", ".join(RENDERED_TYPES)
    if single:
        raise NotAcceptableError(f"cannot render as {accept!r}; use {offered}")
    raise NotAcceptableError(
        f"cannot render as {accept!r}: this resource is several images, so ask for "
        f'multipart/related; type="image/jpeg" (or png, gif)'
    )


def _render_params(
    request: Request, thumbnail: bool = False, single: bool = True
) -> tuple[RenderParams, bool]:
    """Rendering parameters from the query (PS3.18 8.3.5.1) and whether the answer is multipart."""
    q = request.query_params
    media_type, multipart = _rendered_media(q.get("accept") or request.headers.get("accept"), single)
    params = RenderParams(media_type=media_type)
    if "quality" in q:
        try:
            params.quality = int(q["quality"])
        except ValueError as exc:
            raise BadRequestError("quality must be an integer 1..100") from exc
        if not 1 <= params.quality <= 100:
            raise BadRequestError("quality must be an integer 1..100")
    if "window" in q:
        bits = q["window"].split(",")
        try:
            center, width = float(bits[0]), float(bits[1])
        except (ValueError, IndexError) as exc:
            raise BadRequestError("window must be center,width[,linear|linear-exact|sigmoid]") from exc
        function = (bits[2] if len(bits) > 2 else "linear").strip().lower().replace("-", "_")
        if function not in ("linear", "linear_exact", "sigmoid") or width <= 0:
            raise BadRequestError("window must be center,width[,linear|linear-exact|sigmoid], width > 0")
        params.window = (center, width, function)
    if "viewport" in q:
        bits = q["viewport"].split(",")
        try:
            vw, vh = int(bits[0]), int(bits[1])
        except (ValueError, IndexError) as exc:
            raise BadRequestError("viewport must be vw,vh") from exc
        if not (1 <= vw <= 8192 and 1 <= vh <= 8192):
            raise BadRequestError("viewport sizes must be 1..8192")
        params.viewport = (vw, vh)
    elif thumbnail:
        params.viewport = (128, 128)
        params.upscale = False
    return params, multipart


def _images_response(images: Iterator[bytes], media_type: str, multipart: bool) -> Response:
    if not multipart:
        return Response(next(images), media_type=media_type)
    boundary = media.new_boundary()
    return StreamingResponse(
        media.multipart_body(((media_type, img) for img in images), boundary),
        media_type=f'multipart/related; type="{media_type}"; boundary={boundary}',
    )


def _rendered(request: Request, ref: InstanceRef, frame: int, thumbnail: bool = False) -> Response:
    params, multipart = _render_params(request, thumbnail)
    data = _services(request).retrieve.rendered(ref, frame, params)
    return _images_response(iter([data]), params.media_type, multipart)


@router.get("/studies/{study}/rendered", summary="WADO-RS: rendered study (every image, multipart)")
def rendered_study(request: Request, study: str) -> Response:
    params, multipart = _render_params(request, single=False)
    images = _services(request).retrieve.rendered_all(study, None, params)
    return _images_response(images, params.media_type, multipart)


@router.get(
    "/studies/{study}/series/{series}/rendered", summary="WADO-RS: rendered series (every image, multipart)"
)
def rendered_series(request: Request, study: str, series: str) -> Response:
    params, multipart = _render_params(request, single=False)
    images = _services(request).retrieve.rendered_all(study, series, params)
    return _images_response(images, params.media_type, multipart)


def _text_media(accept: str | None) -> str:
    """A report's rendered media type (PS3.18 Table 8.7.4-1, Text: HTML the default, plain text, XML)."""
    for r in media.parse_accept(accept):
        if r.type in TEXT_TYPES:
            return r.type
        if r.type in ("text/*", "*/*"):
            return "text/html"
    raise NotAcceptableError(f"a report renders as {', '.join(TEXT_TYPES)}, not {accept!r}")


@router.get("/studies/{study}/series/{series}/instances/{sop}/rendered", summary="WADO-RS: rendered instance")
def rendered_instance(request: Request, study: str, series: str, sop: str) -> Response:
    """An image: the first frame as one image; with a multipart/related Accept, every frame (one part each).
    A Structured Report: its content as HTML, plain text or XML."""
    ref = _one(request, study, series, sop)
    if is_structured_report(ref.sop_class_uid):
        q = request.query_params
        media_type = _text_media(q.get("accept") or request.headers.get("accept"))
        body = _services(request).retrieve.rendered_report(ref, media_type)
        return Response(body, media_type=f"{media_type}; charset=utf-8")
    params, multipart = _render_params(request)
    images = _services(request).retrieve.rendered_frames(ref, None if multipart else [1], params)
    return _images_response(images, params.media_type, multipart)


@router.get(
    "/studies/{study}/series/{series}/instances/{sop}/frames/{frames}/rendered",
    summary="WADO-RS: rendered frames",
)
def rendered_frame(request: Request, study: str, series: str, sop: str, frames: str) -> Response:
    """One frame as one image; several frames as multipart/related, one part each, in the order asked."""
    numbers = _frame_numbers(frames)
    params, multipart = _render_params(request, single=len(numbers) == 1)
    images = _services(request).retrieve.rendered_frames(_one(request, study, series, sop), numbers, params)
    return _images_response(images, params.media_type, multipart)


@router.get("/studies/{study}/thumbnail", summary="WADO-RS: study thumbnail")
def study_thumbnail(request: Request, study: str) -> Response:
    return _rendered(request, _services(request).retrieve.representative(study), 1, thumbnail=True)


@router.get("/studies/{study}/series/{series}/thumbnail", summary="WADO-RS: series thumbnail")
def series_thumbnail(request: Request, study: str, series: str) -> Response:
    return _rendered(request, _services(request).retrieve.representative(study, series), 1, thumbnail=True)


@router.get(
    "/studies/{study}/series/{series}/instances/{sop}/thumbnail", summary="WADO-RS: instance thumbnail"
)
def instance_thumbnail(request: Request, study: str, series: str, sop: str) -> Response:
    return _rendered(request, _one(request, study, series, sop), 1, thumbnail=True)


@router.get(
    "/studies/{study}/series/{series}/instances/{sop}/frames/{frames}/thumbnail",
    summary="WADO-RS: frame thumbnail",
)
def frame_thumbnail(request: Request, study: str, series: str, sop: str, frames: str) -> Response:
    numbers = _frame_numbers(frames)
    return _rendered(request, _one(request, study, series, sop), numbers[0], thumbnail=True)
