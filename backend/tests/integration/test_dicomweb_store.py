"""STOW-RS (PS3.18 10.5) through the dicomweb-client library and raw HTTP; bad input; idempotency."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from io import BytesIO

import pydicom
import pytest
from dicomweb_client.api import DICOMwebClient
from pydicom.uid import generate_uid

from tests.dicomfactory import bundled_with_new_uid, ct_bytes, ct_dataset, multipart, to_bytes

TEST_FILES = [
    "CT_small.dcm",  # explicit VR LE
    "MR_small_implicit.dcm",  # implicit VR LE
    "MR_small_RLE.dcm",  # RLE lossless
    "JPEG2000.dcm",  # JPEG 2000
    "SC_rgb_jpeg_dcmtk.dcm",  # JPEG baseline, colour
    "MR_small_jpeg_ls_lossless.dcm",  # JPEG-LS
    "SC_rgb_rle_2frame.dcm",  # multi-frame colour RLE
    "image_dfl.dcm",  # deflated
    "ExplVR_BigEnd.dcm",  # explicit VR big endian
]


def _stow(live, body: bytes, ctype: str, study: str | None = None):
    with live.client() as c:
        path = "/dicom-web/studies" + (f"/{study}" if study else "")
        return c.post(path, content=body, headers={"Content-Type": ctype, "Accept": "application/dicom+json"})


def test_store_search_retrieve_same_bytes(live_server, clean_db):
    client = DICOMwebClient(live_server.dicomweb)
    originals = {}
    for name in TEST_FILES:
        raw = bundled_with_new_uid(name)
        ds = pydicom.dcmread(BytesIO(raw))
        originals[str(ds.SOPInstanceUID)] = (raw, ds)
    body, ctype = multipart([raw for raw, _ in originals.values()])
    resp = _stow(live_server, body, ctype)
    assert resp.status_code == 200, resp.text
    stored = resp.json()["00081199"]["Value"]
    assert {s["00081155"]["Value"][0] for s in stored} == set(originals)

    for sop, (raw, ds) in originals.items():
        found = client.search_for_instances(search_filters={"SOPInstanceUID": sop})
        assert len(found) == 1
        got = client.retrieve_instance(
            ds.StudyInstanceUID, ds.SeriesInstanceUID, sop, media_types=(("application/dicom", "*"),)
        )
        buf = BytesIO()
        got.save_as(buf, enforce_file_format=False)
        # byte identity through raw HTTP (the client re-encodes datasets)
        with live_server.client() as c:
            r = c.get(
                f"/dicom-web/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}/instances/{sop}",
                headers={"Accept": 'multipart/related; type="application/dicom"; transfer-syntax=*'},
            )
        assert r.status_code == 200
        assert raw in r.content, f"{sop} did not come back byte-identical"


def test_store_many_instances_in_one_request_counts_derived_attributes(live_server, clean_db):
    study = generate_uid()
    series_ct, series_mr = generate_uid(), generate_uid()
    parts = [ct_bytes(study_uid=study, series_uid=series_ct, instance_number=i, seed=i) for i in range(1, 11)]
    parts += [
        ct_bytes(study_uid=study, series_uid=series_mr, modality="MR", instance_number=i) for i in range(1, 6)
    ]
    body, ctype = multipart(parts)
    resp = _stow(live_server, body, ctype, study)
    assert resp.status_code == 200, resp.text
    assert len(resp.json()["00081199"]["Value"]) == 15
    client = DICOMwebClient(live_server.dicomweb)
    [s] = client.search_for_studies(search_filters={"StudyInstanceUID": study})
    assert s["00201206"]["Value"] == [2]
    assert s["00201208"]["Value"] == [15]
    assert s["00080061"]["Value"] == ["CT", "MR"]
    series = client.search_for_series(study)
    assert sorted(x["00201209"]["Value"][0] for x in series) == [5, 10]


def test_store_is_idempotent(live_server, clean_db):
    study = generate_uid()
    data = ct_bytes(study_uid=study)
    for _ in range(3):
        body, ctype = multipart([data, data])
        assert _stow(live_server, body, ctype).status_code == 200
    client = DICOMwebClient(live_server.dicomweb)
    [s] = client.search_for_studies(search_filters={"StudyInstanceUID": study})
    assert s["00201208"]["Value"] == [1]
    assert len(client.search_for_instances(study)) == 1


def test_partial_success_is_202_with_failed_sop_sequence(live_server, clean_db):
    good = ct_bytes()
    missing_sop = ct_dataset()
    del missing_sop.SOPInstanceUID
    body, ctype = multipart([good, b"this is not DICOM at all", to_bytes(missing_sop)])
    resp = _stow(live_server, body, ctype)
    assert resp.status_code == 202, resp.text
    js = resp.json()
    assert len(js["00081199"]["Value"]) == 1
    reasons = [f["00081197"]["Value"][0] for f in js["00081198"]["Value"]]
    assert reasons == [0xC000, 0xA900]


def test_all_failed_is_409(live_server, clean_db):
    truncated = ct_bytes()[:300]
    body, ctype = multipart([b"\x00" * 200, truncated])
    resp = _stow(live_server, body, ctype)
    assert resp.status_code == 409
    assert len(resp.json()["00081198"]["Value"]) == 2


def test_study_uid_mismatch_is_rejected_per_instance(live_server, clean_db):
    target = generate_uid()
    body, ctype = multipart([ct_bytes(study_uid=target), ct_bytes()])
    resp = _stow(live_server, body, ctype, study=target)
    assert resp.status_code == 202
    [failed] = resp.json()["00081198"]["Value"]
    assert failed["00081197"]["Value"] == [0xA900]


@pytest.mark.parametrize(
    "ctype",
    [
        "application/json",
        "multipart/form-data; boundary=x",
        # application/dicom+json and +xml are Metadata and Bulkdata requests (test_dicomweb_stow_bulk.py)
        'multipart/related; type="application/octet-stream"; boundary=x',
    ],
)
def test_wrong_content_type_is_415(live_server, ctype):
    with live_server.client() as c:
        r = c.post("/dicom-web/studies", content=b"--x--", headers={"Content-Type": ctype})
    assert r.status_code == 415
    assert r.json()["error"] == "unsupported_media_type"


def test_malformed_multipart_is_400(live_server):
    with live_server.client() as c:
        r = c.post(
            "/dicom-web/studies",
            content=b"no boundary here",
            headers={"Content-Type": 'multipart/related; type="application/dicom"'},
        )
    assert r.status_code == 400
    assert "boundary" in r.json()["detail"]


def test_oversized_request_is_413_and_server_stays_up(live_server, clean_db):
    data = ct_bytes(size=512)
    body, ctype = multipart([data] * 140)  # ~73 MB > 64 MB test limit
    resp = _stow(live_server, body, ctype)
    assert resp.status_code == 413
    with live_server.client() as c:
        assert c.get("/healthz").status_code == 200
    body, ctype = multipart([ct_bytes()])
    assert _stow(live_server, body, ctype).status_code == 200


def test_concurrent_stores_into_one_study_keep_counts_right(live_server, clean_db):
    study = generate_uid()
    series = [generate_uid() for _ in range(4)]

    def send(k: int) -> int:
        parts = [ct_bytes(study_uid=study, series_uid=series[k], instance_number=i) for i in range(5)]
        body, ctype = multipart(parts)
        return _stow(live_server, body, ctype).status_code

    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(send, range(4))) == [200] * 4
    client = DICOMwebClient(live_server.dicomweb)
    [s] = client.search_for_studies(search_filters={"StudyInstanceUID": study})
    assert s["00201206"]["Value"] == [4]
    assert s["00201208"]["Value"] == [20]


def test_retrieve_urls_follow_the_host_the_client_used(live_server, clean_db):
    """The base URL is kept per origin, not once per process: each client gets URLs for the host it called."""
    for host in ("pacs-a.example:8000", "pacs-b.example", "pacs-a.example:8000"):
        body, ctype = multipart([ct_bytes(study_uid=generate_uid())])
        with live_server.client() as c:
            r = c.post(
                "/dicom-web/studies",
                content=body,
                headers={"Content-Type": ctype, "Accept": "application/dicom+json", "Host": host},
            )
        assert r.status_code == 200, r.text
        url = r.json()["00081199"]["Value"][0]["00081190"]["Value"][0]
        assert url.startswith(f"http://{host}/dicom-web/studies/"), url


def test_an_accept_the_response_cannot_meet_is_406_before_anything_is_stored(live_server, clean_db):
    """The response is DICOM JSON or DICOM XML (application/dicom+xml); plain application/xml is neither."""
    study = generate_uid()
    body, ctype = multipart([ct_bytes(study_uid=study)])
    with live_server.client() as c:
        r = c.post(
            "/dicom-web/studies",
            content=body,
            headers={"Content-Type": ctype, "Accept": "application/xml"},
        )
        assert r.status_code == 406 and r.json()["error"] == "not_acceptable"
        assert c.get("/dicom-web/studies", params={"StudyInstanceUID": study}).json() == []
