"""Content negotiation, multipart bodies and the STOW-RS response, without I/O."""

from __future__ import annotations

import pytest

from pacs.dicomweb.media import MultipartCollector, multipart_body, negotiate_json, parse_accept
from pacs.dicomweb.stow import store_response
from pacs.exceptions import (
    BadRequestError,
    NotAcceptableError,
    PayloadTooLargeError,
    UnsupportedMediaTypeError,
)
from pacs.ingest import StoreOutcome


def test_accept_ordering_and_parameters():
    ranges = parse_accept('multipart/related; type="application/dicom"; transfer-syntax=*;q=0.5, */*;q=0.1')
    assert [r.type for r in ranges] == ["multipart/related", "*/*"]
    assert ranges[0].transfer_syntax == "*"
    assert negotiate_json(None) == "application/dicom+json"
    with pytest.raises(NotAcceptableError):
        negotiate_json("application/dicom+xml")


def test_multipart_roundtrip_in_small_chunks():
    boundary = "b0und"
    body = b"".join(
        multipart_body([("application/dicom", b"A" * 100), ("application/dicom", b"\r\n--x")], boundary)
    )
    col = MultipartCollector(f'multipart/related; type="application/dicom"; boundary={boundary}', 10_000)
    for i in range(0, len(body), 7):
        col.feed(body[i : i + 7])
    assert [p[1] for p in col.finish()] == [b"A" * 100, b"\r\n--x"]


def test_multipart_parts_keep_bytes_and_content_types():
    # Data holding prefixes of the delimiter ("\r\n--b0un") makes the parser hand part of it back from its
    # look-behind buffer: the part must still come out byte for byte.
    boundary = "b0und"
    first = b"\x00" * 50 + b"\r\n--b0un" + b"\xff" * 50 + b"\r\n-" + b"tail"
    second = bytes(range(256)) * 3
    body = b"".join(
        multipart_body([("application/dicom", first), ("application/octet-stream", second)], boundary)
    )
    col = MultipartCollector(f'multipart/related; type="application/dicom"; boundary={boundary}', len(body))
    col.feed(body)
    assert col.finish() == [("application/dicom", first), ("application/octet-stream", second)]


def test_multipart_malformed_body_is_a_bad_request():
    col = MultipartCollector('multipart/related; type="application/dicom"; boundary=x', 1000)
    col.feed(b"--x\r\nContent-Type application/dicom\r\n\r\nAAAA")
    with pytest.raises(BadRequestError):
        col.finish()


def test_multipart_limits_and_types():
    with pytest.raises(UnsupportedMediaTypeError):
        MultipartCollector("application/dicom", 10)
    col = MultipartCollector('multipart/related; type="application/dicom"; boundary=x', 10)
    with pytest.raises(PayloadTooLargeError):
        col.feed(b"x" * 11)


def test_store_response_statuses():
    ok = StoreOutcome("1.2", "1.2.3", "1.2.4", "1.2.5")
    bad = StoreOutcome("1.2", "1.2.6", failure_status=0xC000, detail="cannot understand")
    assert store_response([ok], "http://h/dicom-web", None)[0] == 200
    status, body = store_response([ok, bad], "http://h/dicom-web", None)
    assert status == 202
    assert body["00081198"]["Value"][0]["00081197"]["Value"] == [0xC000]
    assert body["00081190"]["Value"] == ["http://h/dicom-web/studies/1.2.4"]
    assert store_response([bad], "http://h/dicom-web", None)[0] == 409
