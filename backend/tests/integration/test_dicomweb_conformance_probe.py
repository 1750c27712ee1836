"""DICOMweb deviations from PS3.18 found by probing the archive with real clients, each fixed and kept fixed.

Every test here failed before its fix; the docstrings cite the section of the standard it checks.
"""

from __future__ import annotations

import json
from io import BytesIO

import pydicom
import pytest
from dicomweb_client.api import DICOMwebClient
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from tests.dicomfactory import bundled_with_new_uid, ct_dataset, multipart, to_bytes

JSON = {"Accept": "application/dicom+json"}


@pytest.fixture(scope="module")
def archive(live_server, database_url):
    """Study A: two series (CT with a Request Attributes Sequence, MR), Study B: a two-group person name."""
    from tests.conftest import truncate_all

    truncate_all(database_url)
    study_a, study_b = generate_uid(), generate_uid()
    ct = ct_dataset(study_uid=study_a, patient_name="Probe^Alpha", patient_id="PROBE-A", modality="CT")
    ct.StudyTime = "072730"
    ct.SeriesDescription = "AXIAL"
    request = Dataset()
    request.ScheduledProcedureStepID = "SPS-42"
    request.RequestedProcedureID = "RP-7"
    ct.RequestAttributesSequence = [request]
    mr = ct_dataset(study_uid=study_a, patient_name="Probe^Alpha", patient_id="PROBE-A", modality="MR")
    mr.StudyTime = "072730"
    mr.SeriesNumber = 2
    names = ct_dataset(study_uid=study_b, patient_name="Wang^XiaoDong=王^小東", patient_id="PROBE-B")
    body, ctype = multipart([to_bytes(ct), to_bytes(mr), to_bytes(names)])
    with live_server.client() as c:
        r = c.post("/dicom-web/studies", content=body, headers={"Content-Type": ctype})
    assert r.status_code == 200, r.text
    return {"a": study_a, "b": study_b, "ct": ct, "mr": mr, "names": names}


def _get(live_server, path, **params):
    with live_server.client() as c:
        return c.get(f"/dicom-web{path}", params=params, headers=JSON)


def _value(result, tag):
    return (result.get(tag) or {}).get("Value", [None])[0]


def _parts(resp) -> list[tuple[dict[str, str], bytes]]:
    """(header fields in lower case, body) of each part of a multipart/related response."""
    boundary = resp.headers["content-type"].split("boundary=")[1].split(";")[0].strip('"')
    out = []
    for chunk in resp.content.split(f"--{boundary}".encode())[1:-1]:
        head, _, body = chunk.partition(b"\r\n\r\n")
        fields = dict(
            (name.strip().lower(), value.strip())
            for name, _, value in (line.partition(":") for line in head.decode().split("\r\n") if line)
        )
        out.append((fields, body[:-2]))
    return out


def test_instance_search_returns_series_and_study_attributes(live_server, archive):
    """PS3.18 10.6.3.3.3: a Study's Instances search also returns the Series attributes of Table 10.6.3-4, an
    All Instances search the Study (Table 10.6.3-3) and Series attributes; each instance keeps its own
    Retrieve URL (0008,1190)."""
    results = _get(live_server, f"/studies/{archive['a']}/instances").json()
    assert len(results) == 2
    by_modality = {_value(r, "00080060"): r for r in results}  # Modality, a series attribute
    assert set(by_modality) == {"CT", "MR"}
    ct = by_modality["CT"]
    assert _value(ct, "00200011") == 1  # Series Number
    assert _value(ct, "0008103E") == "AXIAL"  # Series Description
    assert _value(ct, "00201209") == 1  # Number of Series Related Instances
    assert _value(ct, "00081190").endswith(f"/instances/{archive['ct'].SOPInstanceUID}")
    [everything] = _get(live_server, "/instances", PatientID="PROBE-A", Modality="MR").json()
    assert _value(everything, "00080060") == "MR" and _value(everything, "00200011") == 2
    assert _value(everything, "00201206") == 2  # Number of Study Related Series
    assert _value(everything, "00080061") is not None  # Modalities in Study
    assert _value(everything, "00100010") == {"Alphabetic": "Probe^Alpha"}
    # a Series' Instances search stays at the instance's own attributes
    ct_ds = archive["ct"]
    [own] = _get(
        live_server, f"/studies/{ct_ds.StudyInstanceUID}/series/{ct_ds.SeriesInstanceUID}/instances"
    ).json()
    assert "00080060" not in own


def test_all_series_search_knows_the_study_is_online(live_server, archive):
    """PS3.18 10.6.3.3.2: an All Series search returns the Study attributes of Table 10.6.3-3, among them
    Instance Availability (0008,0056), "shall be present if known": it is, ONLINE."""
    results = _get(live_server, "/series", PatientID="PROBE-A").json()
    assert len(results) == 2
    assert all(r["00080056"].get("Value") == ["ONLINE"] for r in results)


def test_time_range_bounds_with_a_fraction_include_the_stored_time(live_server, archive):
    """PS3.4 C.2.2.2.5: a TM range includes its bounds; ``072730.000`` is the stored ``072730``."""
    for key in ("072730.000-072730.999", "072730.0-072731", "-072730.000"):
        results = _get(live_server, "/studies", StudyTime=key).json()
        assert [_value(r, "0020000D") for r in results] == [archive["a"]], key
    later = _get(live_server, "/studies", StudyTime="072730.001-").json()  # study B, at 101500, only
    assert [_value(r, "0020000D") for r in later] == [archive["b"]]


def test_unsupported_empty_and_multiple_value_matching_say_so(live_server, archive):
    """PS3.18 8.3.4.5 and 8.3.4.6 (Table 8.3.4-1, origin server M): an origin server without Empty / Multiple
    Value Matching searches without it and, when the parameter is true, answers with the Warning the standard
    words; false is the default and no warning; another value is not true / false, a 400."""
    r = _get(live_server, "/studies", PatientID="PROBE-A", emptyvaluematching="true")
    assert r.status_code == 200 and len(r.json()) == 1
    assert r.headers["warning"].startswith("299 ")
    assert (
        "The emptyvaluematching parameter is not supported. Empty Value Matching has not been performed."
        in (r.headers["warning"])
    )
    r = _get(live_server, "/studies", PatientID="PROBE-A", multiplevaluematching="true")
    assert "Multiple Value Matching has not been performed." in r.headers["warning"]
    r = _get(
        live_server,
        "/studies",
        PatientID="PROBE-A",
        emptyvaluematching="false",
        multiplevaluematching="false",
    )
    assert r.status_code == 200 and "warning" not in r.headers
    assert _get(live_server, "/studies", emptyvaluematching="maybe").status_code == 400


def test_sequence_matching_on_request_attributes(live_server, archive):
    """PS3.18 Table 10.6.1-5 requires Series matching on Request Attributes Sequence > Scheduled Procedure Step
    ID (0040,0275)(0040,0009) and > Requested Procedure ID (0040,1001), written as attribute paths (8.3.4.1),
    matched as PS3.4 C.2.2.2.6 says: an item matches; the sequence comes back in the result."""
    client = DICOMwebClient(live_server.dicomweb)
    for key, value in (
        ("00400275.00400009", "SPS-42"),
        ("00400275.00400009", "SPS-4*"),
        ("RequestAttributesSequence.RequestedProcedureID", "RP-7"),
    ):
        [found] = client.search_for_series(search_filters={key: value})
        assert _value(found, "0020000E") == archive["ct"].SeriesInstanceUID
        assert found["00400275"]["Value"][0]["00400009"]["Value"] == ["SPS-42"]
    assert client.search_for_series(search_filters={"00400275.00400009": "SPS-1"}) == []
    r = _get(live_server, "/series", **{"00400275.00400009": "SPS-42", "offset": "1"})
    assert r.status_code == 200 and r.json() == []
    found = _get(live_server, f"/studies/{archive['a']}/instances", **{"00400275.00401001": "RP-7"}).json()
    assert [_value(i, "00080018") for i in found] == [archive["ct"].SOPInstanceUID]


def test_head_answers_every_get_resource_without_a_payload(live_server, archive):
    """HTTP (RFC 7231 4.1, 4.3.2, on which PS3.18 8.1 builds): GET and HEAD are supported by every
    general-purpose server, HEAD with the GET's status and header fields and no payload."""
    ct = archive["ct"]
    instance = f"/dicom-web/studies/{ct.StudyInstanceUID}/series/{ct.SeriesInstanceUID}/instances/{ct.SOPInstanceUID}"
    with live_server.client() as c:
        for path in (
            instance,
            instance + "/metadata",
            "/dicom-web/studies?PatientID=PROBE-A",
            instance + "/rendered",
        ):
            got, head = c.get(path), c.head(path)
            assert head.status_code == 200, path
            assert head.content == b""
            assert head.headers["content-type"].split(";")[0] == got.headers["content-type"].split(";")[0]
        assert c.head("/dicom-web/studies/1.2.3/metadata").status_code == 404


def test_bulkdata_parts_are_located_by_their_bulkdata_uri(live_server, archive):
    """PS3.18 10.4.3.3.5: "Bulkdata in a multipart response shall have a Content-Location header field that
    corresponds to the URI contained in the corresponding Element in the Metadata"; the instances and frames
    of a multipart answer are located too (8.6.1.2)."""
    ct = archive["ct"]
    path = f"/dicom-web/studies/{ct.StudyInstanceUID}/series/{ct.SeriesInstanceUID}/instances/{ct.SOPInstanceUID}"
    with live_server.client() as c:
        [meta] = c.get(path + "/metadata").json()
        uri = meta["7FE00010"]["BulkDataURI"]
        [(fields, body)] = _parts(c.get(uri))
        assert fields["content-location"] == uri and body == ct.PixelData
        [(fields, _)] = _parts(c.get(uri.replace("7FE00010", "7fe00010")))
        assert fields["content-location"] == uri
        [(fields, _)] = _parts(c.get(path, headers={"Accept": 'multipart/related; type="application/dicom"'}))
        assert fields["content-location"] == live_server.url + path
        [(fields, _)] = _parts(c.get(path + "/frames/1"))
        assert fields["content-location"] == live_server.url + path + "/frames/1"


def test_retrieve_falls_back_to_the_next_acceptable_representation(live_server, archive):
    """RFC 7231 5.3.2 / PS3.18 8.7.5: every acceptable media range counts in q order. A transfer syntax the
    origin server does not produce falls back to the next range; a single part (application/dicom) is for
    exactly one instance (8.6.1.1), so a study of two falls back to the multipart range."""
    ct = archive["ct"]
    path = f"/dicom-web/studies/{ct.StudyInstanceUID}/series/{ct.SeriesInstanceUID}/instances/{ct.SOPInstanceUID}"
    jpeg_ls = 'multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.4.80'
    with live_server.client() as c:
        r = c.get(path, headers={"Accept": f'{jpeg_ls}, multipart/related; type="application/dicom";q=0.5'})
        assert r.status_code == 200
        [(fields, body)] = _parts(r)
        assert "transfer-syntax=1.2.840.10008.1.2.1" in fields["content-type"]
        assert pydicom.dcmread(BytesIO(body)).SOPInstanceUID == ct.SOPInstanceUID
        assert c.get(path, headers={"Accept": jpeg_ls}).status_code == 406
        study = f"/dicom-web/studies/{archive['a']}"
        accept = 'application/dicom, multipart/related; type="application/dicom";q=0.5'
        r = c.get(study, headers={"Accept": accept})
        assert r.status_code == 200 and r.headers["content-type"].startswith("multipart/related")
        assert len(_parts(r)) == 2
        assert c.get(study, headers={"Accept": "application/dicom"}).status_code == 406


def test_one_frame_as_a_single_part(live_server, archive):
    """PS3.18 8.6.1.1: a single part payload is for a request that returns exactly one item, such as one
    frame asked for as application/octet-stream; several frames stay multipart only."""
    ct = archive["ct"]
    path = f"/dicom-web/studies/{ct.StudyInstanceUID}/series/{ct.SeriesInstanceUID}/instances/{ct.SOPInstanceUID}"
    with live_server.client() as c:
        r = c.get(path + "/frames/1", headers={"Accept": "application/octet-stream"})
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("application/octet-stream")
        assert r.content == ct.PixelData
        assert c.get(path + "/frames/1,1", headers={"Accept": "application/octet-stream"}).status_code == 406


def test_urls_keep_the_port_when_dicomweb_client_omits_it(live_server, archive):
    """dicomweb-client sends ``Host: <hostname>`` without the port; the URLs the archive writes (Retrieve URL,
    PS3.18 10.6.3.3; BulkDataURI, F.2.6; the STOW-RS response's Retrieve URL, 10.5.3) must still reach it, so
    a client can follow them: the metadata's BulkDataURI is retrieved through dicomweb-client itself."""
    ct = archive["ct"]
    client = DICOMwebClient(live_server.dicomweb)
    meta = client.retrieve_instance_metadata(ct.StudyInstanceUID, ct.SeriesInstanceUID, ct.SOPInstanceUID)
    uri = meta["7FE00010"]["BulkDataURI"]
    assert uri.startswith(live_server.dicomweb)
    assert client.retrieve_bulkdata(uri) == [ct.PixelData]
    [study] = client.search_for_studies(search_filters={"PatientID": "PROBE-A"})
    assert _value(study, "00081190") == f"{live_server.dicomweb}/studies/{archive['a']}"
    with live_server.client() as c:
        for host, headers, base in (
            ("pacs.example:8443", {}, "http://pacs.example:8443"),  # a Host with its port: as it is
            ("pacs.example", {}, "http://pacs.example"),  # a name (virtual host): as it is
            ("127.0.0.1", {"X-Forwarded-For": "10.0.0.1"}, "http://127.0.0.1"),  # through a proxy: as it is
        ):
            got = c.get(
                "/dicom-web/studies", params={"PatientID": "PROBE-A"}, headers={"Host": host, **headers}
            )
            assert _value(got.json()[0], "00081190").startswith(f"{base}/dicom-web/studies/"), host


def test_compressed_pixel_data_as_bulk_data_is_never_the_encapsulated_value(live_server, archive):
    """PS3.18 8.7.3.3.1: uncompressed bulk data (application/octet-stream, the default type) is little endian
    native pixels; 8.7.3.3.2: compressed bulk data is "only the compressed octet stream without the fragment
    delimiters". RLE Pixel Data's BulkDataURI answered its encapsulated value, item tags included."""
    raw = bundled_with_new_uid("SC_rgb_rle_2frame.dcm")
    ds = pydicom.dcmread(BytesIO(raw))
    body, ctype = multipart([raw])
    path = f"/dicom-web/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}/instances/{ds.SOPInstanceUID}"
    with live_server.client() as c:
        assert c.post("/dicom-web/studies", content=body, headers={"Content-Type": ctype}).status_code == 200
        [meta] = c.get(path + "/metadata").json()
        uri = meta["7FE00010"]["BulkDataURI"]
        r = c.get(uri, headers={"Accept": 'multipart/related; type="application/octet-stream"'})
        [(fields, native)] = _parts(r)
        assert fields["content-location"] == uri
        assert native == ds.pixel_array.tobytes()  # both frames, 8-bit RGB, decoded
        single = c.get(uri, headers={"Accept": "application/octet-stream"})
        assert single.headers["content-type"] == "application/octet-stream" and single.content == native
        r = c.get(
            uri, headers={"Accept": 'multipart/related; type="application/octet-stream"; transfer-syntax=*'}
        )
        frames = _parts(r)
        assert len(frames) == 2
        for n, (fields, data) in enumerate(frames, start=1):
            assert "transfer-syntax=1.2.840.10008.1.2.5" in fields["content-type"]
            assert fields["content-location"] == f"{uri}/frames/{n}"
            assert not data.startswith(b"\xfe\xff\x00\xe0")  # no Item tag: the RLE segment itself


def test_a_limit_above_the_maximum_is_bounded_not_refused(live_server, archive):
    """PS3.18 8.3.4.4.1: a response holds min(matches - offset, maxResults, limit) results; limit and offset
    are any uint (8.3.4.4), so a limit above the origin server's maximum is answered with at most maxResults
    results and a Warning that more may remain, not a 400; an offset past the matches is an empty answer."""
    r = _get(live_server, "/studies", PatientID="PROBE-*", limit="100000000000")
    assert r.status_code == 200 and len(r.json()) == 2
    r = _get(live_server, "/studies", PatientID="PROBE-*", offset="100000000000")
    assert r.status_code == 200 and r.json() == []
    maximum = live_server.settings.max_query_limit
    live_server.settings.max_query_limit = 1
    try:
        r = _get(live_server, "/studies", PatientID="PROBE-*", limit="5")
    finally:
        live_server.settings.max_query_limit = maximum
    assert r.status_code == 200 and len(r.json()) == 1
    assert r.headers["warning"].startswith("299 ")


def test_lower_level_attributes_are_not_returned(live_server, archive):
    """PS3.18 10.6.3.3.1: "Series or Instance Level Attributes contained in includefield parameters shall not
    be returned" by a Study search; 10.6.3.3.2: Instance Level Attributes not by a Series search. A series
    attribute still matches studies (Modality), and the study-level answer keeps its own keys."""
    [study] = _get(
        live_server,
        "/studies",
        PatientID="PROBE-A",
        Modality="MR",
        includefield="SOPClassUID,Rows,SeriesNumber",
    ).json()
    assert _value(study, "0020000D") == archive["a"]
    assert not {"00080016", "00280010", "00200011", "00080060"} & set(study)
    assert _value(study, "00080061") is not None  # Modalities in Study stays
    series = _get(
        live_server, f"/studies/{archive['a']}/series", includefield="SOPClassUID,Rows,StudyDate"
    ).json()
    assert len(series) == 2
    for s in series:
        assert not {"00080016", "00280010"} & set(s)
        assert _value(s, "00080020") == "20240115"  # a Study attribute asked for is returned


def test_pixel_data_and_bulkdata_resources_of_a_study_series_and_instance(live_server, archive):
    """PS3.18 10.4.1.1.5 / 10.4.1.1.6 (payloads 10.4.3.3.5 / 10.4.3.3.6): the Bulkdata and Pixel Data resources
    of a Study, Series and Instance hold the bulk data (Pixel Data) of their instances, each part with the
    Content-Location of the BulkDataURI in the metadata. They were 404 (no such route)."""
    ct, mr = archive["ct"], archive["mr"]
    study = f"/dicom-web/studies/{archive['a']}"
    series = f"{study}/series/{ct.SeriesInstanceUID}"
    instance = f"{series}/instances/{ct.SOPInstanceUID}"
    with live_server.client() as c:
        [meta] = c.get(instance + "/metadata").json()
        uri = meta["7FE00010"]["BulkDataURI"]
        for path in (instance, series):
            r = c.get(path + "/pixeldata")
            assert r.status_code == 200 and r.headers["content-type"].startswith("multipart/related")
            [(fields, body)] = _parts(r)
            assert fields["content-location"] == uri and body == ct.PixelData
        parts = _parts(c.get(study + "/pixeldata"))
        assert sorted(body for _, body in parts) == sorted([ct.PixelData, mr.PixelData])
        parts = _parts(c.get(instance + "/bulkdata"))
        assert uri in {fields["content-location"] for fields, _ in parts}
        assert len(_parts(c.get(study + "/bulkdata"))) >= 2
        assert c.get("/dicom-web/studies/1.2.3/pixeldata").status_code == 404
        assert c.get(instance + "/bulkdata", headers={"Accept": "image/png"}).status_code == 406


def test_instance_search_bulk_data_uris_are_real_urls(live_server, archive):
    """PS3.18 F.2.6: a BulkDataURI is the URL of the bulk data. An instance search with includefield=all (or a
    bulk data tag) answered the stored placeholder ``@@INSTANCE_URL@@/bulkdata/7FE00010`` instead."""
    ct = archive["ct"]
    path = f"/studies/{ct.StudyInstanceUID}/series/{ct.SeriesInstanceUID}/instances"
    for include in ("all", "7FE00010"):
        [found] = _get(live_server, path, includefield=include).json()
        uri = found["7FE00010"]["BulkDataURI"]
        assert uri == f"{live_server.dicomweb}{path}/{ct.SOPInstanceUID}/bulkdata/7FE00010", include
        assert "@@" not in json.dumps(found)
    with live_server.client() as c:
        [(_, body)] = _parts(c.get(uri))
    assert body == ct.PixelData
