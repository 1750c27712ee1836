"""DICOMweb endpoints (PS3.18 10.4 Retrieve, 10.5 Store, 10.6 Search)."""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterator, MutableMapping
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from fastapi.routing import APIRoute
from pydicom.datadict import dictionary_VR
from pydicom.uid import UID
from starlette.concurrency import run_in_threadpool

from pacs.dicom.attributes import PATIENT_KEYWORDS, SERIES_KEYWORDS, STUDY_KEYWORDS
from pacs.dicom.json import INSTANCE_URL
from pacs.dicom.part10 import bulk_data_uris
from pacs.dicom.transfer_syntax import EXPLICIT_LE
from pacs.dicom.xml import dicom_xml
from pacs.dicomweb import media
from pacs.dicomweb.media import DICOM, DICOM_JSON, DICOM_XML
from pacs.dicomweb.stow import store_response
from pacs.dicomweb.stow_bulk import store_metadata_and_bulkdata
from pacs.exceptions import BadRequestError, NotAcceptableError, NotFoundError, PayloadTooLargeError
from pacs.ingest import StoreOutcome
from pacs.query.engine import Level
from pacs.query.results import LOWER_LEVEL_TAGS, tag_hex
from pacs.query.sequences import SequenceKey, parse_path
from pacs.retrieve import RENDERED_TYPES, TEXT_TYPES, RenderParams, is_structured_report
from pacs.retrieve.service import InstanceRef
from pacs.services import Services

router = APIRouter(tags=["dicomweb"])

#: VRs whose values cannot hold a comma: there a comma separates the values of a list
_LIST_VRS = ("UI", "CS")
_RESERVED = {
    "limit",
    "offset",
    "includefield",
    "fuzzymatching",
    "emptyvaluematching",
    "multiplevaluematching",
    "accept",
    "charset",
}
#: Search parameters of PS3.18 Table 8.3.4-1 that this origin server does not support, with the Warning their
#: value "true" brings (PS3.18 8.3.4.5 Empty Value Matching, 8.3.4.6 Multiple Value Matching).
_UNSUPPORTED_MATCHING = {
    "emptyvaluematching": "The emptyvaluematching parameter is not supported. "
    "Empty Value Matching has not been performed.",
    "multiplevaluematching": "The multiplevaluematching parameter is not supported. "
    "Multiple Value Matching has not been performed.",
}
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
    headers = request.headers
    proxied = "x-forwarded-for" in headers or "x-forwarded-host" in headers or "forwarded" in headers
    key = (scope["scheme"], headers.get("host"), scope.get("server"), scope.get("root_path", ""), proxied)
    url = _BASE_URLS.get(key)
    if url is None:
        url = str(request.base_url).rstrip("/")
        url = _with_listening_port(url, scope, headers.get("host"), proxied) + "/dicom-web"
        if len(_BASE_URLS) >= 256:  # bounded: Host is client-controlled
            _BASE_URLS.clear()
        _BASE_URLS[key] = url
    return url


_BASE_URLS: dict[tuple[object, ...], str] = {}
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _with_listening_port(url: str, scope: MutableMapping[str, Any], host: str | None, proxied: bool) -> str:
    """``url`` with the port this server listens on, when a direct request's Host header names none.

    A Host without a port means the scheme's default port (RFC 7230 5.4), yet dicomweb-client sends
    ``Host: <hostname>`` without the port on every GET and STOW-RS request (dicomweb_client.web). The URLs this
    server writes (RetrieveURL, BulkDataURI, the STOW-RS response's RetrieveURL: PS3.18 10.6.3.3, F.2.6,
    10.5.3) would then point at port 80 and not be retrievable. The port is added only where the Host can
    only mean this socket: an IP address (this server's or any), ``localhost``. A name (a virtual host, a
    proxy's public name) and a request that came through a proxy (X-Forwarded-*, Forwarded) keep the Host as
    it is.
    """
    server = scope.get("server")
    if proxied or not host or not server or server[1] is None:
        return url
    if host.startswith("["):
        hostname, has_port = host[1:].partition("]")[0], ":" in host.rpartition("]")[2]
    else:
        hostname, has_port = host.partition(":")[0], ":" in host
    if has_port or not _names_this_socket(hostname, str(server[0])):
        return url
    port = int(server[1])
    if port == _DEFAULT_PORTS.get(scope["scheme"]):
        return url
    scheme, _, rest = url.partition("://")
    authority, slash, path = rest.partition("/")
    return f"{scheme}://{authority}:{port}{slash}{path}"


def _names_this_socket(hostname: str, server_host: str) -> bool:
    """Whether a Host's name can only be this server's socket: an IP literal, localhost, its own address.

    >>> [_names_this_socket(h, "127.0.0.1") for h in ("127.0.0.1", "::1", "localhost", "pacs.example")]
    [True, True, True, False]
    """
    name = hostname.lower().rstrip(".")
    if name == server_host.lower() or name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


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


def _sequence_kept(level: Level, keyword: str) -> bool:
    """Whether the index keeps ``keyword`` (a sequence) where a search at ``level`` can match in it: the
    study's and patient's attributes, a series' attributes, an instance's whole data set."""
    if level == Level.IMAGE:
        return True
    kept = STUDY_KEYWORDS + PATIENT_KEYWORDS + (SERIES_KEYWORDS if level == Level.SERIES else ())
    return keyword in kept


#: the largest limit / offset taken (PostgreSQL's LIMIT and OFFSET are bigint)
_UINT_MAX = 2**62


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
    # limit and offset are any uint (PS3.18 8.3.4.4); the response holds min(matches - offset, maxResults,
    # limit) results (8.3.4.4.1), maxResults being PACS_MAX_QUERY_LIMIT: a larger limit is not an error. Without
    # a limit, or with a larger one, the answer is bounded by maxResults and says so in a Warning.
    asked_limit = _int_param(request, "limit", None, _UINT_MAX)
    limit = settings.max_query_limit if asked_limit is None else min(asked_limit, settings.max_query_limit)
    offset = _int_param(request, "offset", 0, _UINT_MAX) or 0
    fuzzy_raw = request.query_params.get("fuzzymatching", "false").lower()
    if fuzzy_raw not in ("true", "false"):
        raise BadRequestError(f"fuzzymatching={fuzzy_raw!r}; use true or false")
    warnings: list[str] = []
    for name, text in _UNSUPPORTED_MATCHING.items():
        flag = request.query_params.get(name, "false").lower()
        if flag not in ("true", "false"):
            raise BadRequestError(f"{name}={flag!r}; use true or false")
        if flag == "true":  # the search is made without it, and says so (PS3.18 8.3.4.5, 8.3.4.6)
            warnings.append(f'299 pacs "{text}"')
    include: set[str] = set()
    include_all = False
    keys: dict[str, str] = {}
    sequence_keys: list[SequenceKey] = []
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
        if "." in name:
            # An attribute path: Sequence Matching (PS3.18 8.3.4.1, PS3.4 C.2.2.2.6), e.g. 00400275.00400009
            # (Request Attributes Sequence > Scheduled Procedure Step ID, PS3.18 Table 10.6.1-5).
            path = parse_path(name, _keyword)
            if path is None or not _sequence_kept(level, path[0]):
                unsupported.append(name)
                continue
            sequence_keys.append(SequenceKey(path, value))
            include.add(tag_hex(path[0]))
            continue
        kw = _keyword(name)
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
    # Attributes of a lower level are matched (a study by its series' Modality) but not returned (PS3.18
    # 10.6.3.3.1, 10.6.3.3.2)
    include -= LOWER_LEVEL_TAGS.get(level, frozenset())
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
        with_series=level == Level.IMAGE and "SeriesInstanceUID" not in fixed,
        sequence_keys=sequence_keys,
    )
    if unsupported:
        # header-safe: printable ASCII, no quote or backslash (the names come from the URL)
        names = re.sub(r'[^\x20-\x7e]|["\\]', "?", ", ".join(sorted(set(unsupported))))[:500]
        warnings.append(f'299 pacs "Unsupported query parameters were ignored: {names}"')
    if ignored:
        warnings.append(
            f'299 pacs "The following attributes are not supported for matching: {", ".join(ignored)}"'
        )
    if (asked_limit is None or asked_limit > limit) and len(results) == limit:
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


def _instance_url(request: Request, ref: InstanceRef) -> str:
    """The instance's WADO-RS URL: the Content-Location of its parts (PS3.18 8.6.1.2) and its RetrieveURL."""
    return (
        f"{base_url(request)}/studies/{ref.study_instance_uid}/series/{ref.series_instance_uid}"
        f"/instances/{ref.sop_instance_uid}"
    )


def _instance_choices(accept: str | None) -> list[tuple[str | None, bool]]:
    """The acceptable representations of DICOM instances, best first: (transfer syntax, single part).

    The transfer syntax is None (the default), ``"*"`` (as stored) or a UID. Every acceptable range counts, in
    q order (RFC 7231 5.3.2), so that one the origin server cannot produce (a transfer syntax it does not
    transcode to, a single part for several instances) falls back to the next (PS3.18 8.7.5, 8.6.1.1).
    None acceptable: 406. Implicit VR Little Endian is not offered to web services (PS3.18 8.7.3.5.2).
    """
    choices: list[tuple[str | None, bool]] = []
    for r in media.parse_accept(accept):
        if r.type in ("*/*", "multipart/*") or (
            r.type == "multipart/related" and r.related_type in (None, "application/dicom", "*/*")
        ):
            choices.append((r.transfer_syntax, False))
        elif r.type in ("application/dicom", "application/*"):
            choices.append((r.transfer_syntax, True))
    usable = [c for c in choices if c[0] != "1.2.840.10008.1.2"]
    if not usable:
        if choices:
            raise NotAcceptableError("Implicit VR Little Endian is not used with web services (PS3.18 8.7.3)")
        raise NotAcceptableError(
            f'cannot answer {accept!r}; use multipart/related; type="application/dicom"[; transfer-syntax=...]'
        )
    return usable


def _encode_first(
    services: Services, ref: InstanceRef, data: bytes, wanted: list[str | None]
) -> tuple[bytes, str]:
    """The instance in the first of the ``wanted`` transfer syntaxes it can be given in; none: the last 406."""
    failure: NotAcceptableError | None = None
    for ts in dict.fromkeys(wanted):
        try:
            return services.retrieve.encode(ref, data, ts)
        except NotAcceptableError as exc:
            failure = exc
    assert failure is not None
    raise failure


def _retrieve(request: Request, study: str, series: str | None, sop: str | None) -> Response:
    services = _services(request)
    accept = request.query_params.get("accept") or request.headers.get("accept")
    choices = _instance_choices(accept)
    refs = services.retrieve.locate(study, series, sop)
    # application/dicom (single part) is for a resource of exactly one instance (PS3.18 8.6.1.1)
    if len(refs) != 1:
        choices = [c for c in choices if not c[1]]
        if not choices:
            raise NotAcceptableError(
                "application/dicom (single part) is only for one instance; use multipart"
            )
    single = choices[0][1]
    # the transfer syntaxes acceptable in the part type chosen, best first
    wanted = [ts for ts, one in choices if one == single]
    if single:
        data, ts = _encode_first(services, refs[0], services.retrieve.read(refs[0]), wanted)
        return Response(
            data,
            media_type=f"application/dicom; transfer-syntax={ts}",
            headers={"Content-Location": _instance_url(request, refs[0])},
        )
    boundary = media.new_boundary()
    media_type = f'multipart/related; type="application/dicom"; boundary={boundary}'

    def part(ref: InstanceRef) -> tuple[str, bytes, str]:
        data, ts = _encode_first(services, ref, services.retrieve.read(ref), wanted)
        return f"application/dicom; transfer-syntax={ts}", data, _instance_url(request, ref)

    if sum(r.size_bytes for r in refs) <= BUFFERED_RESPONSE_BYTES:
        # Small answers are built whole and sent with a Content-Length: once written they are in the kernel's
        # socket buffer, so a replica killed right after still delivers them (the preemption drill relies on it).
        body = b"".join(media.multipart_body([part(ref) for ref in refs], boundary))
        return Response(body, media_type=media_type)
    # Large answers stream; the first instance is encoded eagerly so a 406 is still possible before streaming.
    first = part(refs[0])

    def parts() -> Iterator[tuple[str, bytes, str]]:
        yield first
        for ref in refs[1:]:
            yield part(ref)

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
    ranges: list[media.MediaRange], stored_ts: str, accept: str | None, one: bool = False
) -> tuple[str | None, str, bool]:
    """(transfer syntax wanted, part media type, single part) for a frames request (PS3.18 8.7.3.5, Table
    8.7.3-5).

    ``application/octet-stream`` asks for uncompressed pixels (or, with ``transfer-syntax=*``, the frames as
    stored); a compressed media type is answered only when it is the stored one (``image/jpeg`` for a JPEG
    baseline instance, ...), as the archive does not transcode to other compressed syntaxes. An empty part
    type means "the stored syntax's own media type". A single-part type (``application/octet-stream``,
    ``image/jpeg``, ...) fits a request for ``one`` frame only: a single part payload is for exactly one item
    (PS3.18 8.6.1.1). Nothing acceptable: 406.
    """
    native = _FRAME_MEDIA.get(stored_ts)  # None: stored uncompressed

    def same_type(mt: str) -> bool:
        return native is not None and (mt == native or mt == native.split("/")[0] + "/*")

    for r in ranges:
        if r.type in ("*/*", "multipart/*"):
            return "*", "", False
        if r.type != "multipart/related":
            if not one:
                continue
            if r.type in ("application/octet-stream", "application/*"):
                return r.transfer_syntax, "application/octet-stream", True
            if same_type(r.type) and r.transfer_syntax in (None, "*", stored_ts):
                return "*", "", True
            continue
        rel = r.related_type or "application/octet-stream"
        if rel == "application/octet-stream":
            return r.transfer_syntax, rel, False
        if rel == "*/*":
            return r.transfer_syntax or "*", "", False
        if same_type(rel) and r.transfer_syntax in (None, "*", stored_ts):
            return "*", "", False
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
    wanted, part_type, single = _frame_media(ranges, ref.transfer_syntax_uid, accept, one=len(numbers) == 1)
    data, ts = _services(request).retrieve.frames(ref, numbers, wanted)
    ctype = part_type or _FRAME_MEDIA.get(ts, "application/octet-stream")
    url = _instance_url(request, ref)
    if single:
        return Response(
            data[0],
            media_type=f"{ctype}; transfer-syntax={ts}",
            headers={"Content-Location": f"{url}/frames/{numbers[0]}"},
        )
    boundary = media.new_boundary()
    parts = (
        (f"{ctype}; transfer-syntax={ts}", d, f"{url}/frames/{n}")
        for d, n in zip(data, numbers, strict=False)
    )
    body = b"".join(media.multipart_body(parts, boundary))
    return Response(body, media_type=f'multipart/related; type="{ctype}"; boundary={boundary}')


@router.get("/studies/{study}/series/{series}/instances/{sop}/bulkdata/{tag}", summary="WADO-RS: bulk data")
def retrieve_bulkdata(request: Request, study: str, series: str, sop: str, tag: str) -> Response:
    accept = request.query_params.get("accept") or request.headers.get("accept")
    ref = _one(request, study, series, sop)
    # "Bulkdata in a multipart response shall have a Content-Location header field that corresponds to the URI
    # contained in the corresponding Element in the Metadata" (PS3.18 10.4.3.3.5): the BulkDataURI written by
    # the Retrieve Metadata answer, {instance URL}/bulkdata/{tag}.
    location = f"{_instance_url(request, ref)}/bulkdata/{tag.upper()}"
    stored = UID(ref.transfer_syntax_uid)
    if tag.upper() == "7FE00010" and (stored.is_compressed or not stored.is_little_endian):
        return _pixel_bulkdata(request, ref, accept, location)
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
    data = _services(request).retrieve.bulkdata(ref, tag)
    if single:
        return Response(data, media_type="application/octet-stream", headers={"Content-Location": location})
    boundary = media.new_boundary()
    body = b"".join(media.multipart_body([("application/octet-stream", data, location)], boundary))
    return Response(
        body, media_type=f'multipart/related; type="application/octet-stream"; boundary={boundary}'
    )


def _pixel_parts(
    request: Request, ref: InstanceRef, accept: str | None, location: str, *, one: bool
) -> tuple[list[tuple[str, bytes, str]], str, bool]:
    """An instance's Pixel Data as bulk data parts, their media type, and whether one single part is asked.

    Uncompressed bulk data (``application/octet-stream``, the default) is little endian native pixels
    (PS3.18 8.7.3.3.1), so encapsulated or big endian Pixel Data is decoded, every frame in one part, as the
    frames resource does. With ``transfer-syntax=*`` or the stored syntax's media type (``image/jp2``, ...) it
    is the compressed octet stream of each frame, "without the fragment delimiters" (8.7.3.3.2), one part per
    frame at ``{BulkDataURI}/frames/{n}``; never the encapsulated value with its item tags. ``one``: a single
    part may be asked for (the resource is this one instance).
    """
    numbers = list(range(1, (ref.number_of_frames or 1) + 1))
    ranges = media.parse_accept(accept)
    wanted, part_type, single = _frame_media(ranges, ref.transfer_syntax_uid, accept, one=one)
    frames, ts = _services(request).retrieve.frames(ref, numbers, wanted)
    if ts == EXPLICIT_LE:  # native pixels: the whole value is one item
        return [("application/octet-stream", b"".join(frames), location)], "application/octet-stream", single
    ctype = part_type or _FRAME_MEDIA.get(ts, "application/octet-stream")
    if single and len(frames) == 1:  # one compressed frame: the compressed bulk data itself
        return [(f"{ctype}; transfer-syntax={ts}", frames[0], location)], ctype, True
    parts = [
        (f"{ctype}; transfer-syntax={ts}", f, f"{location}/frames/{n}")
        for f, n in zip(frames, numbers, strict=False)
    ]
    return parts, ctype, False


def _pixel_bulkdata(request: Request, ref: InstanceRef, accept: str | None, location: str) -> Response:
    """Compressed or big endian Pixel Data (7FE0,0010) at its BulkDataURI (see :func:`_pixel_parts`)."""
    parts, ctype, single = _pixel_parts(request, ref, accept, location, one=True)
    if single:
        return Response(parts[0][1], media_type=parts[0][0], headers={"Content-Location": location})
    return _parts_response(parts, ctype)


def _parts_response(parts: list[tuple[str, bytes, str]], ctype: str) -> Response:
    boundary = media.new_boundary()
    body = b"".join(media.multipart_body(parts, boundary))
    return Response(body, media_type=f'multipart/related; type="{ctype}"; boundary={boundary}')


def _pixeldata(request: Request, study: str, series: str | None, sop: str | None) -> Response:
    """Study, Series and Instance Pixel Data resources (PS3.18 10.4.1.1.6, payload 10.4.3.3.6): the top level
    Pixel Data of each instance, each part at the BulkDataURI its metadata gives; instances without Pixel
    Data (reports, documents) have none. A resource without any: 404."""
    accept = request.query_params.get("accept") or request.headers.get("accept")
    refs = _services(request).retrieve.locate(study, series, sop)
    parts: list[tuple[str, bytes, str]] = []
    ctype = ""
    for ref in refs:
        location = f"{_instance_url(request, ref)}/bulkdata/7FE00010"
        try:
            got, got_type, _ = _pixel_parts(request, ref, accept, location, one=False)
        except NotFoundError:  # no Pixel Data in this instance
            continue
        parts += got
        ctype = ctype or got_type
    if not parts:
        raise NotFoundError("no pixel data in this resource")
    return _parts_response(parts, ctype)


@router.get("/studies/{study}/pixeldata", summary="WADO-RS: a study's pixel data")
def study_pixeldata(request: Request, study: str) -> Response:
    return _pixeldata(request, study, None, None)


@router.get("/studies/{study}/series/{series}/pixeldata", summary="WADO-RS: a series' pixel data")
def series_pixeldata(request: Request, study: str, series: str) -> Response:
    return _pixeldata(request, study, series, None)


@router.get(
    "/studies/{study}/series/{series}/instances/{sop}/pixeldata", summary="WADO-RS: an instance's pixel data"
)
def instance_pixeldata(request: Request, study: str, series: str, sop: str) -> Response:
    return _pixeldata(request, study, series, sop)


def _all_bulkdata(request: Request, study: str, series: str | None, sop: str | None) -> Response:
    """Study, Series and Instance Bulkdata resources (PS3.18 10.4.1.1.5, payload 10.4.3.3.5): every bulk data
    of the instances, each part at the BulkDataURI of its element in the metadata, uncompressed."""
    accept = request.query_params.get("accept") or request.headers.get("accept")
    for r in media.parse_accept(accept):
        if r.type in ("*/*", "multipart/*") or (
            r.type == "multipart/related" and r.related_type in (None, "application/octet-stream", "*/*")
        ):
            break
    else:
        raise NotAcceptableError(
            f'cannot answer {accept!r}; use multipart/related; type="application/octet-stream"'
        )
    services = _services(request)
    parts: list[tuple[str, bytes, str]] = []
    for ref in services.retrieve.locate(study, series, sop, with_metadata=True):
        url = _instance_url(request, ref)
        model = json.loads((ref.metadata_json or "{}").replace(INSTANCE_URL, url))
        stored = UID(ref.transfer_syntax_uid)
        native: list[str] = []  # read from the file as stored, all in one read
        for uri in dict.fromkeys(bulk_data_uris(model)):
            tag = uri.rsplit("/", 1)[-1].upper()
            if tag == "7FE00010" and (stored.is_compressed or not stored.is_little_endian):
                accept_native = 'multipart/related; type="application/octet-stream"'
                parts += _pixel_parts(request, ref, accept_native, uri, one=False)[0]
            else:
                native.append(uri)
        tags = [uri.rsplit("/", 1)[-1].upper() for uri in native]
        values = services.retrieve.bulkdata_many(ref, tags) if tags else []
        parts += [("application/octet-stream", value, uri) for value, uri in zip(values, native, strict=True)]
    if not parts:
        raise NotFoundError("no bulk data in this resource")
    return _parts_response(parts, "application/octet-stream")


@router.get("/studies/{study}/bulkdata", summary="WADO-RS: a study's bulk data")
def study_bulkdata(request: Request, study: str) -> Response:
    return _all_bulkdata(request, study, None, None)


@router.get("/studies/{study}/series/{series}/bulkdata", summary="WADO-RS: a series' bulk data")
def series_bulkdata(request: Request, study: str, series: str) -> Response:
    return _all_bulkdata(request, study, series, None)


@router.get(
    "/studies/{study}/series/{series}/instances/{sop}/bulkdata", summary="WADO-RS: an instance's bulk data"
)
def instance_bulkdata(request: Request, study: str, series: str, sop: str) -> Response:
    return _all_bulkdata(request, study, series, sop)


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


# --- HEAD (RFC 7231 4.3.2) ----------------------------------------------------------------------------------


def _add_head_routes() -> None:
    """Answer HEAD on every GET resource: the GET's status and header fields, without the payload.

    A general-purpose server supports GET and HEAD (RFC 7231 4.1), and PS3.18 8.1 builds on HTTP as RFC 7230-7235
    define it; FastAPI routes a GET only. The server leaves the body out of a HEAD response (uvicorn), so the
    GET's handler answers both. The HEAD routes stay out of the OpenAPI schema (one operation per resource).
    """
    for route in list(router.routes):
        if isinstance(route, APIRoute) and "GET" in (route.methods or ()):
            router.add_api_route(
                route.path,
                route.endpoint,
                methods=["HEAD"],
                include_in_schema=False,
                name=f"{route.name}_head",
            )


_add_head_routes()
