"""STOW-RS Metadata and Bulkdata requests (PS3.18 10.5.1.4) through the live server: DICOM JSON or DICOM XML
metadata plus bulk data parts, stored, then found by QIDO-RS and retrieved by WADO-RS as the instance sent."""

from __future__ import annotations

import json
from io import BytesIO
from typing import Any

import numpy as np
import pydicom
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.encaps import generate_frames
from pydicom.uid import ExplicitVRLittleEndian, JPEGBaseline8Bit, RLELossless, generate_uid

from pacs.dicom.xml import dicom_xml
from tests.dicomfactory import ct_bytes

JSON_TYPE = "application/dicom+json"
XML_TYPE = "application/dicom+xml"
OCTETS = "application/octet-stream"
ANY_SYNTAX = 'multipart/related; type="application/dicom"; transfer-syntax=*'


# --- request building -----------------------------------------------------------------------------------


def _body(parts: list[tuple[dict[str, str], bytes]], related: str) -> tuple[bytes, str]:
    """A multipart/related body from (header fields, bytes) parts."""
    boundary = "pacs-bulk-test-boundary"
    body = b""
    for headers, data in parts:
        head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        body += f"--{boundary}\r\n{head}\r\n".encode() + data + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    return body, f'multipart/related; type="{related}"; boundary={boundary}'


def _ct(**kw: Any) -> Dataset:
    """A synthetic CT as the archive would read it back (VRs resolved), with a fresh set of UIDs."""
    return pydicom.dcmread(BytesIO(ct_bytes(**kw)))


def _split(ds: Dataset, prefix: str) -> tuple[dict[str, Any], dict[str, bytes]]:
    """The instance as metadata (DICOM JSON, Pixel Data by BulkDataURI ``{prefix}/{tag}``) and its bulk data."""
    bulk: dict[str, bytes] = {}

    def uri(elem: Any) -> str:
        bulk[f"{prefix}/{elem.tag:08X}"] = elem.value
        return f"{prefix}/{elem.tag:08X}"

    return ds.to_json_dict(bulk_data_threshold=1024, bulk_data_element_handler=uri), bulk


def _bulk_parts(bulk: dict[str, bytes], ctype: str = OCTETS) -> list[tuple[dict[str, str], bytes]]:
    return [({"Content-Type": ctype, "Content-Location": uri}, data) for uri, data in bulk.items()]


def _json_request(models: list[dict[str, Any]], bulk_parts: list[tuple[dict[str, str], bytes]]):
    return _body([({"Content-Type": JSON_TYPE}, json.dumps(models).encode()), *bulk_parts], JSON_TYPE)


def _stow(live, body: bytes, ctype: str, study: str | None = None):
    with live.client() as c:
        path = "/dicom-web/studies" + (f"/{study}" if study else "")
        return c.post(path, content=body, headers={"Content-Type": ctype, "Accept": JSON_TYPE})


# --- checks ---------------------------------------------------------------------------------------------


def _path(ds: Dataset) -> str:
    return f"/dicom-web/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}/instances/{ds.SOPInstanceUID}"


def _found(live, sop: str) -> int:
    with live.client() as c:
        r = c.get("/dicom-web/instances", params={"SOPInstanceUID": sop}, headers={"Accept": JSON_TYPE})
    assert r.status_code in (200, 204), r.text
    return len(r.json()) if r.status_code == 200 else 0


def _retrieve(live, ds: Dataset) -> Dataset:
    """WADO-RS Retrieve Instance, as stored (transfer-syntax=*): the one PS3.10 part, parsed."""
    with live.client() as c:
        r = c.get(_path(ds), headers={"Accept": ANY_SYNTAX})
    assert r.status_code == 200, r.text
    boundary = r.headers["content-type"].split("boundary=")[1].split(";")[0].strip('"')
    [part] = r.content.split(f"--{boundary}".encode())[1:-1]
    head, _, data = part.partition(b"\r\n\r\n")
    assert b"application/dicom" in head
    return pydicom.dcmread(BytesIO(data.removesuffix(b"\r\n")))


def _metadata(live, ds: Dataset) -> dict[str, Any]:
    with live.client() as c:
        r = c.get(_path(ds) + "/metadata", headers={"Accept": JSON_TYPE})
    assert r.status_code == 200, r.text
    [model] = r.json()
    return model


def _assert_stored_as_sent(live, original: Dataset, model: dict[str, Any]) -> None:
    """Found by QIDO-RS; retrieved as a PS3.10 object whose data set is the original, element for element and
    pixel byte for pixel byte; its WADO-RS metadata is the metadata that was sent."""
    sop = str(original.SOPInstanceUID)
    assert _found(live, sop) == 1
    got = _retrieve(live, original)
    assert got.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    assert got.file_meta.MediaStorageSOPInstanceUID == sop
    assert got.file_meta.MediaStorageSOPClassUID == original.SOPClassUID
    assert [e.tag for e in got] == [e.tag for e in original]
    for elem in original:
        assert got[elem.tag] == elem, elem.tag
    assert got == original
    assert got.PixelData == original.PixelData
    meta = _metadata(live, original)
    assert meta["7FE00010"]["BulkDataURI"].endswith(f"/instances/{sop}/bulkdata/7FE00010")
    assert {t: a for t, a in meta.items() if t != "7FE00010"} == {
        t: a for t, a in model.items() if t != "7FE00010"
    }


def _failed(resp) -> list[tuple[str, int]]:
    return [
        (f["00081155"].get("Value", [""])[0], f["00081197"]["Value"][0])
        for f in resp.json().get("00081198", {}).get("Value", [])
    ]


def _referenced(resp) -> list[str]:
    return [r["00081155"]["Value"][0] for r in resp.json().get("00081199", {}).get("Value", [])]


# --- tests ----------------------------------------------------------------------------------------------


def test_json_metadata_with_octet_stream_pixel_data(live_server, clean_db):
    original = _ct(seed=3)
    sop = str(original.SOPInstanceUID)
    # an absolute BulkDataURI, as a client that names its own resources sends it
    model, bulk = _split(original, f"https://client.example/upload/{sop}")
    assert set(bulk) == {f"https://client.example/upload/{sop}/7FE00010"}
    body, ctype = _json_request([model], _bulk_parts(bulk))
    resp = _stow(live_server, body, ctype)
    assert resp.status_code == 200, resp.text
    assert _referenced(resp) == [sop]
    assert "Warning" not in resp.headers
    _assert_stored_as_sent(live_server, original, model)


def test_two_instances_with_bulk_parts_in_another_order(live_server, clean_db):
    study = generate_uid()
    first, second = _ct(study_uid=study, seed=1), _ct(study_uid=study, seed=2, instance_number=2)
    assert first.PixelData != second.PixelData
    # relative BulkDataURIs and Content-Locations (resolved against the request URL alike)
    model1, bulk1 = _split(first, "bulk/1")
    model2, bulk2 = _split(second, "bulk/2")
    extra = [({"Content-Type": OCTETS, "Content-Location": "bulk/unused"}, b"\x00" * 16)]
    body, ctype = _json_request([model1, model2], _bulk_parts(bulk2) + extra + _bulk_parts(bulk1))
    resp = _stow(live_server, body, ctype, study)
    assert resp.status_code == 200, resp.text
    assert _referenced(resp) == [first.SOPInstanceUID, second.SOPInstanceUID]
    assert "1 bulk data part" in resp.headers["Warning"]
    for original, model in ((first, model1), (second, model2)):
        _assert_stored_as_sent(live_server, original, model)


def test_xml_metadata_with_octet_stream_pixel_data(live_server, clean_db):
    original = _ct(seed=5, patient_name="Müller^Jürgen^^Dr.")
    model, bulk = _split(original, "/dicom-web/upload/xml")  # a path-absolute URI
    body, ctype = _body([({"Content-Type": XML_TYPE}, dicom_xml(model)), *_bulk_parts(bulk)], XML_TYPE)
    resp = _stow(live_server, body, ctype)
    assert resp.status_code == 200, resp.text
    assert _referenced(resp) == [original.SOPInstanceUID]
    _assert_stored_as_sent(live_server, original, model)


def test_missing_bulk_part_fails_that_instance_only(live_server, clean_db):
    kept, lost = _ct(seed=1), _ct(seed=2)
    model1, bulk1 = _split(kept, "bulk/kept")
    model2, _ = _split(lost, "bulk/lost")
    body, ctype = _json_request([model1, model2], _bulk_parts(bulk1))
    resp = _stow(live_server, body, ctype)
    assert resp.status_code == 202, resp.text
    assert _referenced(resp) == [kept.SOPInstanceUID]
    assert _failed(resp) == [(lost.SOPInstanceUID, 0xA900)]
    [failure] = resp.json()["00081198"]["Value"]
    assert "bulk/lost/7FE00010" in failure["0040A160"]["Value"][0]
    assert _found(live_server, kept.SOPInstanceUID) == 1
    assert _found(live_server, lost.SOPInstanceUID) == 0


def test_invalid_json_metadata_is_400_and_nothing_is_stored(live_server, clean_db):
    """The one JSON metadata part is every instance's: unreadable, the request is bad syntax (PS3.18 10.5.3)."""
    original = _ct()
    _, bulk = _split(original, "bulk/x")
    body, ctype = _body(
        [({"Content-Type": JSON_TYPE}, b'[{"00080016": {"vr": "UI", "Value": ['), *_bulk_parts(bulk)],
        JSON_TYPE,
    )
    resp = _stow(live_server, body, ctype)
    assert resp.status_code == 400, resp.text
    assert resp.json()["error"] == "bad_request"
    assert "not valid JSON" in resp.json()["detail"]
    assert _found(live_server, original.SOPInstanceUID) == 0
    with live_server.client() as c:
        assert c.get("/healthz").status_code == 200


def test_study_in_the_url_fails_an_instance_of_another_study(live_server, clean_db):
    target = generate_uid()
    inside, outside = _ct(study_uid=target, seed=1), _ct(seed=2)
    model1, bulk1 = _split(inside, "bulk/in")
    model2, bulk2 = _split(outside, "bulk/out")
    body, ctype = _json_request([model1, model2], _bulk_parts(bulk1) + _bulk_parts(bulk2))
    resp = _stow(live_server, body, ctype, study=target)
    assert resp.status_code == 202, resp.text
    assert _referenced(resp) == [inside.SOPInstanceUID]
    assert _failed(resp) == [(outside.SOPInstanceUID, 0xA900)]  # as the application/dicom path answers
    assert _found(live_server, outside.SOPInstanceUID) == 0


def test_jpeg_baseline_frame_is_encapsulated_as_sent(live_server, clean_db):
    source = pydicom.dcmread(get_testdata_file("SC_rgb_jpeg_dcmtk.dcm"))
    source.SOPInstanceUID = generate_uid()
    frame = next(generate_frames(source.PixelData, number_of_frames=1))
    model, _ = _split(source, "bulk/jpeg")
    model["7FE00010"] = {"vr": "OB", "BulkDataURI": "bulk/jpeg/7FE00010"}
    # no transfer-syntax parameter: the JPEG process is read from the frame's SOF marker
    part = ({"Content-Type": "image/jpeg", "Content-Location": "bulk/jpeg/7FE00010"}, frame)
    body, ctype = _json_request([model], [part])
    resp = _stow(live_server, body, ctype)
    assert resp.status_code == 200, resp.text
    got = _retrieve(live_server, source)
    assert got.file_meta.TransferSyntaxUID == JPEGBaseline8Bit
    assert next(generate_frames(got.PixelData, number_of_frames=1)) == frame
    assert np.array_equal(got.pixel_array, source.pixel_array)
    for elem in source:
        if elem.tag != 0x7FE00010:
            assert got[elem.tag] == elem, elem.tag


def test_rle_frames_by_frame_uri_make_a_multi_frame_instance(live_server, clean_db):
    source = pydicom.dcmread(get_testdata_file("SC_rgb_rle_2frame.dcm"))
    source.SOPInstanceUID = generate_uid()
    frames = list(generate_frames(source.PixelData, number_of_frames=2))
    model, _ = _split(source, "bulk/rle")
    model["7FE00010"] = {"vr": "OB", "BulkDataURI": "bulk/rle/7FE00010"}
    parts = [
        (
            {"Content-Type": "image/dicom-rle", "Content-Location": f"bulk/rle/7FE00010/frames/{n}"},
            frames[n - 1],
        )
        for n in (2, 1)
    ]
    body, ctype = _json_request([model], parts)
    resp = _stow(live_server, body, ctype)
    assert resp.status_code == 200, resp.text
    got = _retrieve(live_server, source)
    assert got.file_meta.TransferSyntaxUID == RLELossless
    assert list(generate_frames(got.PixelData, number_of_frames=2)) == frames
    assert np.array_equal(got.pixel_array, source.pixel_array)


def test_content_id_names_a_part_and_an_unsupported_media_type_is_c122(live_server, clean_db):
    by_cid, video = _ct(seed=1), _ct(seed=2)
    model1, bulk1 = _split(by_cid, "unused")
    model1["7FE00010"]["BulkDataURI"] = "cid:pixels-1@client.example"  # RFC 2392: the part's Content-ID
    model2, bulk2 = _split(video, "bulk/video")
    [(_, pixels)] = bulk1.items()
    parts = [({"Content-Type": OCTETS, "Content-ID": "<pixels-1@client.example>"}, pixels)]
    parts += _bulk_parts(bulk2, "video/mp4")
    body, ctype = _json_request([model1, model2], parts)
    resp = _stow(live_server, body, ctype)
    assert resp.status_code == 202, resp.text
    assert _referenced(resp) == [by_cid.SOPInstanceUID]
    assert _failed(resp) == [(video.SOPInstanceUID, 0xC122)]
    _assert_stored_as_sent(live_server, by_cid, model1)


def test_bad_xml_part_fails_that_instance_and_xml_answer(live_server, clean_db):
    good = _ct(seed=4)
    model, bulk = _split(good, "bulk/good")
    parts = [
        ({"Content-Type": XML_TYPE}, b"<NativeDicomModel><DicomAttribute tag="),
        ({"Content-Type": XML_TYPE}, dicom_xml(model)),
        *_bulk_parts(bulk),
    ]
    body, ctype = _body(parts, XML_TYPE)
    resp = _stow(live_server, body, ctype)
    assert resp.status_code == 202, resp.text
    assert _failed(resp) == [("", 0xC000)]
    assert _referenced(resp) == [good.SOPInstanceUID]


def test_metadata_without_sop_instance_uid_is_a900(live_server, clean_db):
    original = _ct()
    model, bulk = _split(original, "bulk/nouid")
    del model["00080018"]
    body, ctype = _json_request([model], _bulk_parts(bulk))
    resp = _stow(live_server, body, ctype)
    assert resp.status_code == 409, resp.text
    assert _failed(resp) == [("", 0xA900)]


def test_other_related_types_are_still_415(live_server):
    with live_server.client() as c:
        r = c.post(
            "/dicom-web/studies",
            content=b"--x--\r\n",
            headers={"Content-Type": f'multipart/related; type="{OCTETS}"; boundary=x'},
        )
    assert r.status_code == 415
    assert JSON_TYPE in r.json()["detail"] and XML_TYPE in r.json()["detail"]
