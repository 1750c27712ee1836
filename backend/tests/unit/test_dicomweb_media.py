"""Content negotiation, multipart bodies and the STOW-RS response, without I/O."""

from __future__ import annotations

import pytest

from pacs.dicomweb.media import (
    DICOM_JSON,
    DICOM_XML,
    MultipartCollector,
    multipart_body,
    negotiate_model,
    parse_accept,
)
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


MULTIPART_XML = 'multipart/related; type="application/dicom+xml"'


@pytest.mark.parametrize(
    ("accept", "multipart", "expected"),
    [
        (None, True, DICOM_JSON),
        ("", False, DICOM_JSON),
        ("*/*", True, DICOM_JSON),
        ("application/json", True, DICOM_JSON),
        (MULTIPART_XML, True, DICOM_XML),
        ("multipart/related", True, DICOM_XML),
        (f"application/dicom+json;q=0.4, {MULTIPART_XML};q=0.9", True, DICOM_XML),
        (f"{MULTIPART_XML};q=0.4, application/dicom+json", True, DICOM_JSON),
        (f"text/html, {MULTIPART_XML};q=0.2", True, DICOM_XML),
        ("application/dicom+xml", False, DICOM_XML),
        ("application/dicom+xml;q=0.5, application/dicom+json", False, DICOM_JSON),
        ("application/dicom+xml, */*;q=0.1", False, DICOM_XML),
    ],
)
def test_dicom_json_or_xml_by_accept_and_q(accept, multipart, expected):
    """JSON is the default; XML when it is asked for with the higher q (PS3.18 8.7.3, Table 8.7.3-2)."""
    assert negotiate_model(accept, multipart=multipart) == expected


@pytest.mark.parametrize(
    ("accept", "multipart"),
    [
        ("application/xml", True),
        ("application/xml", False),
        ("text/html", True),
        ("text/html", False),
        (
            "application/dicom+xml",
            True,
        ),  # several data sets: only the multipart XML representation holds them
        (MULTIPART_XML, False),  # the STOW-RS response is one application/dicom+xml document
        ('multipart/related; type="application/dicom"', True),
        (f"{MULTIPART_XML};q=0", True),
    ],
)
def test_no_acceptable_dicom_model_is_406(accept, multipart):
    with pytest.raises(NotAcceptableError):
        negotiate_model(accept, multipart=multipart)


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
