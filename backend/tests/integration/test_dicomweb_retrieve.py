"""WADO-RS (PS3.18 10.4): instances with transfer syntax negotiation, metadata, frames, bulk data, rendered."""

from __future__ import annotations

import os
from io import BytesIO

import numpy as np
import pydicom
import pytest
from dicomweb_client.api import DICOMwebClient
from PIL import Image
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian

from tests.dicomfactory import bundled_with_new_uid, ct_bytes, multipart

FILES = [
    "CT_small.dcm",
    "MR_small_RLE.dcm",
    "JPEG2000.dcm",
    "SC_rgb_rle_2frame.dcm",
    "MR_small_implicit.dcm",
    "SC_rgb_jpeg_dcmtk.dcm",  # JPEG baseline
    "ExplVR_BigEnd.dcm",  # explicit VR big endian
]


@pytest.fixture(scope="module")
def stored(live_server, database_url):
    from tests.conftest import truncate_all

    truncate_all(database_url)
    out = {}
    parts = []
    for name in FILES:
        raw = bundled_with_new_uid(name)
        ds = pydicom.dcmread(BytesIO(raw))
        out[name] = (raw, ds)
        parts.append(raw)
    ct = ct_bytes(size=128)
    ds = pydicom.dcmread(BytesIO(ct))
    out["synthetic_ct"] = (ct, ds)
    parts.append(ct)
    body, ctype = multipart(parts)
    with live_server.client() as c:
        assert c.post("/dicom-web/studies", content=body, headers={"Content-Type": ctype}).status_code == 200
    return out


def _path(ds: Dataset) -> str:
    return f"/dicom-web/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}/instances/{ds.SOPInstanceUID}"


def _parts(resp) -> list[tuple[str, bytes]]:
    ctype = resp.headers["content-type"]
    boundary = ctype.split("boundary=")[1].split(";")[0].strip('"')
    chunks = resp.content.split(f"--{boundary}".encode())[1:-1]
    out = []
    for ch in chunks:
        head, _, body = ch.partition(b"\r\n\r\n")
        out.append((head.decode().split(":", 1)[1].strip(), body[:-2]))
    return out


def test_default_transfer_syntax_is_explicit_vr_little_endian(live_server, stored):
    _raw, ds = stored["MR_small_RLE.dcm"]
    with live_server.client() as c:
        r = c.get(_path(ds), headers={"Accept": 'multipart/related; type="application/dicom"'})
    assert r.status_code == 200
    [(ctype, body)] = _parts(r)
    assert f"transfer-syntax={ExplicitVRLittleEndian}" in ctype
    got = pydicom.dcmread(BytesIO(body))
    assert got.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    assert got.SOPInstanceUID == ds.SOPInstanceUID  # decoding is lossless: the same instance
    assert got.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
    assert np.array_equal(got.pixel_array, ds.pixel_array)


def test_star_returns_bytes_as_stored(live_server, stored):
    for raw, ds in stored.values():
        with live_server.client() as c:
            r = c.get(
                _path(ds),
                headers={"Accept": 'multipart/related; type="application/dicom"; transfer-syntax=*'},
            )
        [(ctype, body)] = _parts(r)
        assert body == raw
        assert f"transfer-syntax={ds.file_meta.TransferSyntaxUID}" in ctype


def test_unavailable_transfer_syntax_is_406(live_server, stored):
    _, ds = stored["CT_small.dcm"]
    with live_server.client() as c:
        r = c.get(
            _path(ds),
            headers={
                "Accept": 'multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.4.80'
            },
        )
    assert r.status_code == 406
    assert r.json()["error"] == "not_acceptable"


def test_study_retrieval_through_dicomweb_client(live_server, stored):
    _, ds = stored["synthetic_ct"]
    client = DICOMwebClient(live_server.dicomweb)
    [inst] = client.retrieve_study(ds.StudyInstanceUID)
    assert inst.SOPInstanceUID == ds.SOPInstanceUID


def test_metadata_is_valid_dicom_json(live_server, stored):
    client = DICOMwebClient(live_server.dicomweb)
    for _raw, ds in stored.values():
        meta = client.retrieve_instance_metadata(ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID)
        assert meta["7FE00010"]["BulkDataURI"].endswith("/bulkdata/7FE00010")
        parsed = Dataset.from_json(meta, bulk_data_uri_handler=lambda tag, vr, uri: b"")
        assert parsed.SOPInstanceUID == ds.SOPInstanceUID
        assert parsed.Rows == ds.Rows
    _, ds = stored["synthetic_ct"]
    study_meta = client.retrieve_study_metadata(ds.StudyInstanceUID)
    assert len(study_meta) == 1
    _, mr = stored["MR_small_RLE.dcm"]
    series_meta = client.retrieve_series_metadata(mr.StudyInstanceUID, mr.SeriesInstanceUID)
    assert {m["00080018"]["Value"][0] for m in series_meta} >= {mr.SOPInstanceUID}


def test_bulkdata_returns_pixel_data(live_server, stored):
    _raw, ds = stored["synthetic_ct"]
    with live_server.client() as c:
        [meta] = c.get(_path(ds) + "/metadata").json()
        uri = meta["7FE00010"]["BulkDataURI"]
        assert uri.startswith(live_server.url)  # absolute, from the request's Host
        r = c.get(uri)
        single = c.get(uri, headers={"Accept": "application/octet-stream"})
        refused = c.get(uri, headers={"Accept": "application/json"})
    [(_, body)] = _parts(r)
    assert body == ds.PixelData
    assert single.status_code == 200 and single.headers["content-type"] == "application/octet-stream"
    assert single.content == ds.PixelData
    assert refused.status_code == 406 and "octet-stream" in refused.json()["detail"]


def test_frames_native_and_compressed(live_server, stored):
    _, ds = stored["synthetic_ct"]
    client = DICOMwebClient(live_server.dicomweb)
    [frame] = client.retrieve_instance_frames(
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID, [1]
    )
    assert frame == ds.PixelData
    _, rle = stored["SC_rgb_rle_2frame.dcm"]
    with live_server.client() as c:
        r = c.get(
            _path(rle) + "/frames/2",
            headers={"Accept": 'multipart/related; type="application/octet-stream"'},
        )
        assert r.status_code == 200
        [(_ctype, body)] = _parts(r)
        assert len(body) == rle.Rows * rle.Columns * 3
        assert np.array_equal(
            np.frombuffer(body, np.uint8).reshape(rle.Rows, rle.Columns, 3), rle.pixel_array[1]
        )
        r = c.get(
            _path(rle) + "/frames/1,2",
            headers={"Accept": 'multipart/related; type="application/octet-stream"; transfer-syntax=*'},
        )
        parts = _parts(r)
        assert len(parts) == 2 and "1.2.840.10008.1.2.5" in parts[0][0]
        assert c.get(_path(rle) + "/frames/3").status_code == 404
        assert c.get(_path(rle) + "/frames/0,x").status_code == 400


def test_frames_in_a_compressed_media_type_only_as_stored(live_server, stored):
    """PS3.18 8.7.3.5: a compressed frame media type is answered when it is the stored one; no transcoding to
    another compressed syntax, so asking only for that is 406, and a lower-q fallback is honoured."""
    _, jpeg = stored["SC_rgb_jpeg_dcmtk.dcm"]
    _, rle = stored["MR_small_RLE.dcm"]
    with live_server.client() as c:
        r = c.get(_path(jpeg) + "/frames/1", headers={"Accept": 'multipart/related; type="image/jpeg"'})
        assert r.status_code == 200
        assert r.headers["content-type"].startswith('multipart/related; type="image/jpeg"')
        [(ctype, body)] = _parts(r)
        assert ctype.startswith("image/jpeg") and body[:2] == b"\xff\xd8"  # the JPEG bitstream as stored
        for accept in ('multipart/related; type="image/jp2"', 'multipart/related; type="image/jpeg"'):
            path = _path(jpeg) if "jp2" in accept else _path(rle)
            r = c.get(path + "/frames/1", headers={"Accept": accept})
            assert r.status_code == 406, (accept, r.status_code)
            assert "octet-stream" in r.json()["detail"]
        both = 'multipart/related; type="image/jp2", multipart/related; type="application/octet-stream";q=0.5'
        r = c.get(_path(jpeg) + "/frames/1", headers={"Accept": both})
        assert r.status_code == 200
        [(ctype, body)] = _parts(r)
        assert ctype.startswith("application/octet-stream") and len(body) == jpeg.Rows * jpeg.Columns * 3


def test_frames_of_a_big_endian_instance_are_little_endian(live_server, stored):
    _, ds = stored["ExplVR_BigEnd.dcm"]
    client = DICOMwebClient(live_server.dicomweb)
    [frame] = client.retrieve_instance_frames(
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID, [1]
    )
    expected = ds.pixel_array.astype(ds.pixel_array.dtype.newbyteorder("<")).tobytes()
    assert frame == expected and frame != bytes(ds.PixelData)


@pytest.mark.parametrize("accept,fmt", [("image/jpeg", "JPEG"), ("image/png", "PNG")])
def test_rendered_decodes_to_requested_size(live_server, stored, accept, fmt):
    _, ds = stored["synthetic_ct"]
    with live_server.client() as c:
        r = c.get(_path(ds) + "/rendered", params={"viewport": "64,64"}, headers={"Accept": accept})
    assert r.status_code == 200 and r.headers["content-type"] == accept
    img = Image.open(BytesIO(r.content))
    assert img.format == fmt and img.size == (64, 64)
    assert np.asarray(img).std() > 5  # not a uniform image


def test_window_changes_rendered_pixels(live_server, stored):
    _, ds = stored["synthetic_ct"]
    with live_server.client() as c:
        a = c.get(_path(ds) + "/rendered", params={"window": "40,400"}, headers={"Accept": "image/png"})
        b = c.get(
            _path(ds) + "/rendered", params={"window": "1000,100,linear"}, headers={"Accept": "image/png"}
        )
        bad = c.get(_path(ds) + "/rendered", params={"window": "40"})
        badq = c.get(_path(ds) + "/rendered", params={"quality": "0"})
    pa, pb = np.asarray(Image.open(BytesIO(a.content))), np.asarray(Image.open(BytesIO(b.content)))
    assert pa.shape == (128, 128) and not np.array_equal(pa, pb)
    assert bad.status_code == 400 and badq.status_code == 400


def test_thumbnails_and_colour_multiframe_rendering(live_server, stored):
    _, ds = stored["SC_rgb_rle_2frame.dcm"]
    with live_server.client() as c:
        for url in (
            f"/dicom-web/studies/{ds.StudyInstanceUID}/thumbnail",
            f"/dicom-web/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}/thumbnail",
            _path(ds) + "/frames/2/rendered",
        ):
            r = c.get(url)
            assert r.status_code == 200, url
            img = Image.open(BytesIO(r.content))
            assert img.mode == "RGB" and max(img.size) <= max(ds.Rows, ds.Columns)


def test_rendered_gif_the_third_required_type(live_server, stored):
    """PS3.18 Table 8.7.4-1: a RESTful origin server renders single-frame images as JPEG (default), PNG and GIF."""
    _, ds = stored["synthetic_ct"]
    with live_server.client() as c:
        r = c.get(_path(ds) + "/rendered", params={"viewport": "64,64"}, headers={"Accept": "image/gif"})
        thumb = c.get(f"/dicom-web/studies/{ds.StudyInstanceUID}/thumbnail", headers={"Accept": "image/gif"})
        webp = c.get(_path(ds) + "/rendered", headers={"Accept": "image/webp"})
    assert r.status_code == 200 and r.headers["content-type"] == "image/gif"
    img = Image.open(BytesIO(r.content))
    assert img.format == "GIF" and img.size == (64, 64) and np.asarray(img.convert("L")).std() > 5
    assert thumb.status_code == 200 and Image.open(BytesIO(thumb.content)).format == "GIF"
    assert webp.status_code == 406 and "image/gif" in webp.json()["detail"]


def _images(resp) -> list[Image.Image]:
    return [Image.open(BytesIO(body)) for _, body in _parts(resp)]


def test_several_frames_a_series_and_a_study_render_as_multipart(live_server, stored):
    """Rendered resources of several images (frames/1,2, a series, a study, a multi-frame instance asked as
    multipart) answer multipart/related, one image per part, in order; a single-part Accept is 406 for them."""
    _, ds = stored["SC_rgb_rle_2frame.dcm"]
    study = f"/dicom-web/studies/{ds.StudyInstanceUID}"
    series = f"{study}/series/{ds.SeriesInstanceUID}"
    expected = [np.asarray(ds.pixel_array[i]) for i in range(2)]
    with live_server.client() as c:
        frames = c.get(
            _path(ds) + "/frames/2,1/rendered", headers={"Accept": 'multipart/related; type="image/png"'}
        )
        default = c.get(_path(ds) + "/frames/1,2/rendered")
        single_type = c.get(_path(ds) + "/frames/1,2/rendered", headers={"Accept": "image/jpeg"})
        whole = c.get(_path(ds) + "/rendered", headers={"Accept": 'multipart/related; type="image/gif"'})
        first = c.get(_path(ds) + "/rendered")
        of_series = c.get(series + "/rendered")
        of_study = c.get(study + "/rendered", headers={"Accept": 'multipart/related; type="image/*"'})
        series_single = c.get(series + "/rendered", headers={"Accept": "image/png"})
        missing = c.get("/dicom-web/studies/1.2.3.4/rendered")
    assert frames.status_code == 200 and frames.headers["content-type"].startswith(
        'multipart/related; type="image/png"'
    )
    got = [np.asarray(img) for img in _images(frames)]
    assert [p[0] for p in _parts(frames)] == ["image/png", "image/png"]
    # PNG is lossless: the frames come back exact, in the order asked
    assert np.array_equal(got[0], expected[1]) and np.array_equal(got[1], expected[0])
    assert default.status_code == 200 and [img.format for img in _images(default)] == ["JPEG", "JPEG"]
    assert single_type.status_code == 406
    assert whole.status_code == 200 and [img.format for img in _images(whole)] == ["GIF", "GIF"]
    assert first.status_code == 200 and first.headers["content-type"] == "image/jpeg"

    def frames_in(uid_keyword: str) -> int:  # the stored images sharing this series / study
        return sum(
            int(d.get("NumberOfFrames", 1) or 1)
            for _, d in stored.values()
            if d.get(uid_keyword) == ds.get(uid_keyword) and "PixelData" in d
        )

    for resp, keyword in ((of_series, "SeriesInstanceUID"), (of_study, "StudyInstanceUID")):
        imgs = _images(resp)
        assert resp.status_code == 200 and len(imgs) == frames_in(keyword) >= 2
        assert all(i.format == "JPEG" and i.size == (ds.Columns, ds.Rows) for i in imgs[:2])
    assert series_single.status_code == 406 and missing.status_code == 404


def test_a_study_without_images_has_nothing_to_render(live_server, stored):
    from pydicom.uid import generate_uid

    from tests.dicomfactory import ct_dataset, to_bytes

    report = ct_dataset(study_uid=generate_uid())
    for keyword in (
        "PixelData",
        "Rows",
        "Columns",
        "BitsAllocated",
        "BitsStored",
        "HighBit",
        "PixelRepresentation",
        "SamplesPerPixel",
        "PhotometricInterpretation",
    ):
        if keyword in report:
            delattr(report, keyword)
    report.SOPClassUID = report.file_meta.MediaStorageSOPClassUID = (
        "1.2.840.10008.5.1.4.1.1.88.11"  # Basic Text SR
    )
    report.Modality = "SR"
    body, ctype = multipart([to_bytes(report)])
    with live_server.client() as c:
        assert c.post("/dicom-web/studies", content=body, headers={"Content-Type": ctype}).status_code == 200
        r = c.get(f"/dicom-web/studies/{report.StudyInstanceUID}/rendered")
    assert r.status_code == 406 and "no image" in r.json()["detail"]


def test_missing_resources_are_404(live_server, stored):
    with live_server.client() as c:
        assert c.get("/dicom-web/studies/1.2.3.4").status_code == 404
        r = c.get("/dicom-web/studies/1.2.3.4/metadata")
        assert r.status_code == 404 and r.json()["error"] == "not_found"


def test_health_endpoints(live_server):
    with live_server.client() as c:
        assert c.get("/healthz").json() == {"status": "ok", "pid": os.getpid()}  # live_server runs in-process
        assert c.get("/readyz").json()["status"] == "ok"


def test_a_structured_report_renders_as_html_text_and_xml(live_server, stored):
    """PS3.18 Table 8.7.4-1, the Text category: a report renders as text/html (the default), text/plain and
    text/xml, its content tree in document order, its text escaped."""
    from xml.etree import ElementTree as ET

    raw = bundled_with_new_uid("test-SR.dcm")
    ds = pydicom.dcmread(BytesIO(raw))
    body, ctype = multipart([raw])
    with live_server.client() as c:
        assert c.post("/dicom-web/studies", content=body, headers={"Content-Type": ctype}).status_code == 200
        html_r = c.get(_path(ds) + "/rendered")
        plain = c.get(_path(ds) + "/rendered", headers={"Accept": "text/plain"})
        xml = c.get(_path(ds) + "/rendered", params={"accept": "text/xml"})
        jpeg = c.get(_path(ds) + "/rendered", headers={"Accept": "image/jpeg"})
    assert html_r.status_code == 200 and html_r.headers["content-type"] == "text/html; charset=utf-8"
    page = html_r.text
    assert "<h1>Diagnosis</h1>" in page and "<b>Diameter:</b> 3 cm" in page
    assert "&amp;%$§&quot;!()&lt;&gt;{}/;" in page and "<>{}" not in page  # the report's text, escaped
    assert plain.status_code == 200 and plain.headers["content-type"].startswith("text/plain")
    lines = plain.text.splitlines()
    assert lines[0] == "Diagnosis" and "  Text Code: A mass of" in lines
    assert lines.index("  Text Code: A mass of") < lines.index("  Diameter: 3 cm")  # document order
    root = ET.fromstring(xml.content)
    assert root.tag == "report" and root.get("title") == "Diagnosis"
    assert any(i.get("name") == "Diameter" and i.get("value") == "3 cm" for i in root.iter("item"))
    assert jpeg.status_code == 406 and "text/html" in jpeg.json()["detail"]
