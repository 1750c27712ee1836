"""Media types, content negotiation (PS3.18 8.7) and multipart/related bodies (RFC 2387)."""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from python_multipart import MultipartParser

from pacs.exceptions import (
    BadRequestError,
    NotAcceptableError,
    PayloadTooLargeError,
    UnsupportedMediaTypeError,
)


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


def negotiate_json(header: str | None) -> str:
    """QIDO-RS and metadata answer DICOM JSON; XML is not offered (406)."""
    for r in parse_accept(header):
        if r.type in ("application/dicom+json", "application/json", "*/*", "application/*"):
            return "application/dicom+json"
    raise NotAcceptableError(
        f"cannot answer {header!r}; this origin server returns application/dicom+json only"
    )


def new_boundary() -> str:
    return f"pacs-{secrets.token_hex(12)}"


def multipart_body(parts: Iterable[tuple[str, bytes]], boundary: str) -> Iterator[bytes]:
    """Stream a multipart/related body from ``(content type, bytes)`` parts."""
    for content_type, data in parts:
        yield f"--{boundary}\r\nContent-Type: {content_type}\r\n\r\n".encode()
        yield data
        yield b"\r\n"
    yield f"--{boundary}--\r\n".encode()


class MultipartCollector:
    """Streaming multipart/related parser (python-multipart) that keeps each part's bytes and content type."""

    def __init__(self, content_type: str, max_bytes: int) -> None:
        mt = parse_media_type(content_type)
        if mt.type != "multipart/related":
            raise UnsupportedMediaTypeError(
                f"Content-Type {content_type!r} is not supported; send multipart/related; "
                'type="application/dicom"; boundary=...'
            )
        if mt.related_type and mt.related_type != "application/dicom":
            raise UnsupportedMediaTypeError(
                f'multipart/related type={mt.related_type!r} is not supported; use type="application/dicom"'
            )
        boundary = mt.params.get("boundary")
        if not boundary:
            raise BadRequestError("the multipart/related Content-Type has no boundary parameter")
        self.max_bytes = max_bytes
        self.received = 0
        self.parts: list[tuple[str, bytes]] = []
        self._buf = bytearray()
        self._headers: dict[str, str] = {}
        self._hname = bytearray()
        self._hvalue = bytearray()
        self._parser = MultipartParser(
            boundary,
            callbacks={
                "on_part_begin": self._begin,
                "on_part_data": self._data,
                "on_part_end": self._end,
                "on_header_field": lambda d, s, e: self._hname.extend(d[s:e]),
                "on_header_value": lambda d, s, e: self._hvalue.extend(d[s:e]),
                "on_header_end": self._header_end,
            },
        )

    def _begin(self) -> None:
        self._buf = bytearray()
        self._headers = {}

    def _data(self, data: bytes, start: int, end: int) -> None:
        self._buf.extend(data[start:end])

    def _header_end(self) -> None:
        self._headers[self._hname.decode("latin-1").strip().lower()] = self._hvalue.decode("latin-1").strip()
        self._hname = bytearray()
        self._hvalue = bytearray()

    def _end(self) -> None:
        self.parts.append((self._headers.get("content-type", ""), bytes(self._buf)))
        self._buf = bytearray()

    def feed(self, chunk: bytes) -> None:
        self.received += len(chunk)
        if self.received > self.max_bytes:
            raise PayloadTooLargeError(
                f"request body exceeds {self.max_bytes} bytes (PACS_MAX_REQUEST_BYTES); send fewer instances "
                "per request"
            )
        try:
            self._parser.write(chunk)
        except Exception as exc:
            raise BadRequestError(f"malformed multipart/related body: {exc}") from exc

    def finish(self) -> list[tuple[str, bytes]]:
        try:
            self._parser.finalize()
        except Exception as exc:
            raise BadRequestError(f"malformed multipart/related body: {exc}") from exc
        return self.parts
