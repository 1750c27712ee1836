"""Media types, content negotiation (PS3.18 8.7) and multipart/related bodies (RFC 2387)."""

from __future__ import annotations

import secrets
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass, field

from python_multipart import MultipartParser

from pacs.exceptions import (
    BadRequestError,
    NotAcceptableError,
    PayloadTooLargeError,
    UnsupportedMediaTypeError,
)

DICOM = "application/dicom"
DICOM_JSON = "application/dicom+json"
DICOM_XML = "application/dicom+xml"
#: the multipart/related types of a STOW-RS request: PS3.10 instances, or Metadata and Bulkdata (PS3.18 10.5.1.4)
STOW_TYPES = (DICOM, DICOM_JSON, DICOM_XML)


@dataclass
class MediaRange:
    type: str
    params: dict[str, str] = field(default_factory=dict)
    q: float = 1.0

    @property
    def related_type(self) -> str | None:
        return self.params.get("type")

    @property
    def transfer_syntax(self) -> str | None:
        return self.params.get("transfer-syntax")


def _split_params(value: str) -> list[str]:
    out: list[str] = []
    buf: list[str] = []
    quoted = False
    for ch in value:
        if ch == '"':
            quoted = not quoted
        if ch == ";" and not quoted:
            out.append("".join(buf))
            buf = []
        else:
            buf.append(ch)
    out.append("".join(buf))
    return out


def parse_media_type(value: str) -> MediaRange:
    """Parse one media type with parameters.

    >>> m = parse_media_type('multipart/related; type="application/dicom"; transfer-syntax=*')
    >>> (m.type, m.related_type, m.transfer_syntax)
    ('multipart/related', 'application/dicom', '*')
    """
    parts = _split_params(value)
    mr = MediaRange(type=parts[0].strip().lower())
    for p in parts[1:]:
        name, _, val = p.partition("=")
        name, val = name.strip().lower(), val.strip().strip('"')
        if not name:
            continue
        if name == "q":
            try:
                mr.q = float(val)
            except ValueError:
                mr.q = 0.0
        else:
            mr.params[name] = val if name != "type" else val.lower()
    return mr


def _split_accept(header: str) -> list[str]:
    out: list[str] = []
    buf: list[str] = []
    quoted = False
    for ch in header:
        if ch == '"':
            quoted = not quoted
        if ch == "," and not quoted:
            out.append("".join(buf))
            buf = []
        else:
            buf.append(ch)
    out.append("".join(buf))
    return [s for s in (o.strip() for o in out) if s]


def parse_accept(header: str | None) -> list[MediaRange]:
    """Acceptable media types, best first; ``*/*`` when the header is absent.

    >>> [m.type for m in parse_accept('application/json;q=0.5, application/dicom+json')]
    ['application/dicom+json', 'application/json']
    """
    if not header or not header.strip():
        return [MediaRange("*/*")]
    ranges = [parse_media_type(p) for p in _split_accept(header)]
    ranges = [r for r in ranges if r.q > 0]
    return sorted(ranges, key=lambda r: -r.q)


def negotiate_model(header: str | None, *, multipart: bool) -> str:
    """DICOM JSON or DICOM XML for an answer made of DICOM data sets (PS3.18 8.7.3, Table 8.7.3-2).

    DICOM JSON is the default (``*/*``, no Accept). DICOM XML is ``multipart/related;
    type="application/dicom+xml"``, one NativeDicomModel part per data set, for an answer that can hold several
    (``multipart``: QIDO-RS, Retrieve Metadata), and a single ``application/dicom+xml`` document for one that is
    one data set (the STOW-RS response, PS3.18 10.5.3). The first acceptable range in q order wins; none is a 406.

    >>> negotiate_model('multipart/related; type="application/dicom+xml"', multipart=True)
    'application/dicom+xml'
    >>> negotiate_model('application/dicom+xml;q=0.5, application/dicom+json', multipart=False)
    'application/dicom+json'
    >>> negotiate_model(None, multipart=True)
    'application/dicom+json'
    """
    for r in parse_accept(header):
        if r.type in (DICOM_JSON, "application/json", "*/*", "application/*"):
            return DICOM_JSON
        if multipart and (
            r.type == "multipart/*" or (r.type == "multipart/related" and r.related_type in (None, DICOM_XML))
        ):
            return DICOM_XML
        if not multipart and r.type == DICOM_XML:
            return DICOM_XML
    offered = f'multipart/related; type="{DICOM_XML}"' if multipart else DICOM_XML
    raise NotAcceptableError(
        f"cannot answer {header!r}; this origin server returns {DICOM_JSON} or {offered}"
    )


def new_boundary() -> str:
    return f"pacs-{secrets.token_hex(12)}"


def multipart_body(
    parts: Iterable[tuple[str, bytes] | tuple[str, bytes, str]], boundary: str
) -> Iterator[bytes]:
    """Stream a multipart/related body from ``(content type, bytes)`` or ``(content type, bytes, location)``
    parts; a location becomes the part's Content-Location (PS3.18 8.6.1.2, 10.4.3.3.5).

    >>> b"".join(multipart_body([("application/octet-stream", b"x", "http://h/b/1")], "B"))
    b'--B\\r\\nContent-Type: application/octet-stream\\r\\nContent-Location: http://h/b/1\\r\\n\\r\\nx\\r\\n--B--\\r\\n'
    """
    for part in parts:
        location = f"Content-Location: {part[2]}\r\n" if len(part) == 3 else ""
        yield f"--{boundary}\r\nContent-Type: {part[0]}\r\n{location}\r\n".encode()
        yield part[1]
        yield b"\r\n"
    yield f"--{boundary}--\r\n".encode()


@dataclass(frozen=True, slots=True)
class Part:
    """One body part of a multipart/related body: Content-Type, its bytes, and all its header fields
    (names in lower case), e.g. the ``content-location`` of a Bulkdata part (PS3.18 8.6.1.2)."""

    content_type: str
    data: bytes
    headers: dict[str, str]


class MultipartCollector:
    """multipart/related body (RFC 2387) -> ``(content type, bytes)`` per part, parsed by python-multipart.

    The body is gathered first (its size checked as it arrives) and parsed in one pass: the parser then reports
    each part's data as offsets into the body, and a part is one slice of it. Feeding the parser chunk by chunk
    and growing a buffer per part copied every byte three times or more; in STOW-RS batches of 10 CT slices
    from 4 clients that was half of the process's GIL time (py-spy).
    """

    def __init__(self, content_type: str, max_bytes: int, related_types: Collection[str] = (DICOM,)) -> None:
        """``related_types``: the ``type`` parameters accepted (415 for any other); none is application/dicom."""
        mt = parse_media_type(content_type)
        types = " or ".join(f'type="{t}"' for t in related_types)
        if mt.type != "multipart/related":
            raise UnsupportedMediaTypeError(
                f"Content-Type {content_type!r} is not supported; send multipart/related; {types}; boundary=..."
            )
        if mt.related_type and mt.related_type not in related_types:
            raise UnsupportedMediaTypeError(
                f"multipart/related type={mt.related_type!r} is not supported; use {types}"
            )
        #: the media type of the root part, the type of the body's representations (RFC 2387 3.1)
        self.related_type = mt.related_type or DICOM
        boundary = mt.params.get("boundary")
        if not boundary:
            raise BadRequestError("the multipart/related Content-Type has no boundary parameter")
        self.boundary = boundary
        self.max_bytes = max_bytes
        self.received = 0
        self._chunks: list[bytes] = []

    def feed(self, chunk: bytes) -> None:
        self.received += len(chunk)
        if self.received > self.max_bytes:
            raise PayloadTooLargeError(
                f"request body exceeds {self.max_bytes} bytes (PACS_MAX_REQUEST_BYTES); send fewer instances "
                "per request"
            )
        if chunk:
            self._chunks.append(chunk)

    def finish(self) -> list[tuple[str, bytes]]:
        """``(content type, bytes)`` per part, in order."""
        return [(p.content_type, p.data) for p in self.finish_parts()]

    def finish_parts(self) -> list[Part]:
        """Each part with all its header fields, in order."""
        body = self._chunks[0] if len(self._chunks) == 1 else b"".join(self._chunks)
        self._chunks = []
        return _split_multipart(body, self.boundary)


def _split_multipart(body: bytes, boundary: str) -> list[Part]:
    parts: list[Part] = []
    headers: dict[str, str] = {}
    hname = bytearray()
    hvalue = bytearray()
    # A part's data as pieces: (start, end) offsets into ``body``, or bytes the parser handed from its own
    # look-behind buffer (a boundary prefix that turned out to be data).
    pieces: list[tuple[int, int] | bytes] = []

    def begin() -> None:
        headers.clear()
        pieces.clear()

    def data(buf: bytes, start: int, end: int) -> None:
        if buf is body:
            if pieces and isinstance(last := pieces[-1], tuple) and last[1] == start:
                pieces[-1] = (last[0], end)
            else:
                pieces.append((start, end))
        else:
            pieces.append(bytes(buf[start:end]))

    def header_end() -> None:
        headers[hname.decode("latin-1").strip().lower()] = hvalue.decode("latin-1").strip()
        hname.clear()
        hvalue.clear()

    def end() -> None:
        if len(pieces) == 1 and isinstance(piece := pieces[0], tuple):
            value = body[piece[0] : piece[1]]
        else:
            value = b"".join(body[p[0] : p[1]] if isinstance(p, tuple) else p for p in pieces)
        parts.append(Part(headers.get("content-type", ""), value, dict(headers)))

    parser = MultipartParser(
        boundary,
        callbacks={
            "on_part_begin": begin,
            "on_part_data": data,
            "on_part_end": end,
            "on_header_field": lambda d, s, e: hname.extend(d[s:e]),
            "on_header_value": lambda d, s, e: hvalue.extend(d[s:e]),
            "on_header_end": header_end,
        },
    )
    try:
        parser.write(body)
        parser.finalize()
    except Exception as exc:
        raise BadRequestError(f"malformed multipart/related body: {exc}") from exc
    return parts
