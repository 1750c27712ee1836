"""DICOM XML (PS3.19 Native DICOM Model) answers through the live server: QIDO-RS, Retrieve Metadata, STOW-RS.

Each XML answer is decoded back into the DICOM JSON model by the small decoder below and compared with the
JSON answer to the same request: same results, same order, same attributes and values (PS3.18 8.7.3).
"""

from __future__ import annotations

from io import BytesIO
from typing import Any
from xml.etree import ElementTree as ET

import pydicom
import pytest
from pydicom.datadict import keyword_for_tag
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from tests.dicomfactory import ct_bytes, ct_dataset, multipart, to_bytes

Q = "{http://dicom.nema.org/PS3.19/models/NativeDICOM}"
MULTIPART_XML = 'multipart/related; type="application/dicom+xml"'
JSON = {"Accept": "application/dicom+json"}
XML = {"Accept": MULTIPART_XML}
PN_COMPONENTS = ("FamilyName", "GivenName", "MiddleName", "NamePrefix", "NameSuffix")
INT_VRS = {"IS", "SL", "SS", "SV", "UL", "US", "UV"}
FLOAT_VRS = {"DS", "FL", "FD"}


# --- a small Native DICOM Model decoder ----------------------------------------------------------------


def _model(data_set: ET.Element) -> dict[str, Any]:
    """A NativeDicomModel or Item element back into a DICOM JSON model object (PS3.19 A.1 -> PS3.18 F.2).

    A private element (tag gggg00ee with a privateCreator) gets its block back, the first free one from 10
    in the order creators appear, with the Private Creator element the XML leaves out.
    """
    out: dict[str, Any] = {}
    blocks: dict[tuple[str, str], int] = {}
    for el in data_set:
        assert el.tag == f"{Q}DicomAttribute", el.tag
        tag, vr, creator = el.attrib["tag"], el.attrib["vr"], el.get("privateCreator")
        if creator is not None:
            group = tag[:4]
            assert tag[4:6] == "00" and el.get("keyword") is None
            block = blocks.setdefault((group, creator), 0x10 + sum(g == group for g, _ in blocks))
            out[f"{group}00{block:02X}"] = {"vr": "LO", "Value": [creator]}
            tag = f"{group}{block:02X}{tag[6:]}"
        else:
            assert el.get("keyword") == (keyword_for_tag(int(tag, 16)) or None), tag
        out[tag] = _attribute(el, vr)
    return out


def _attribute(el: ET.Element, vr: str) -> dict[str, Any]:
    children = list(el)
    attr: dict[str, Any] = {"vr": vr}
    if not children:
        return attr
    kinds = {c.tag.removeprefix(Q) for c in children}
    assert len(kinds) == 1, kinds
    kind = kinds.pop()
    if kind in ("BulkData", "InlineBinary"):
        assert len(children) == 1
        if kind == "BulkData":
            attr["BulkDataURI"] = children[0].attrib["uri"]
        else:
            attr["InlineBinary"] = children[0].text
        return attr
    assert [c.get("number") for c in children] == [str(n) for n in range(1, len(children) + 1)]
    assert {"Value": vr not in ("SQ", "PN"), "Item": vr == "SQ", "PersonName": vr == "PN"}[kind]
    if kind == "Item":
        attr["Value"] = [_model(c) for c in children]
    elif kind == "PersonName":
        attr["Value"] = [_person_name(c) for c in children]
    else:
        attr["Value"] = [_value(c.text, vr) for c in children]
    return attr


def _person_name(el: ET.Element) -> dict[str, str]:
    out = {}
    for group in el:
        components = [group.findtext(f"{Q}{name}") or "" for name in PN_COMPONENTS]
        out[group.tag.removeprefix(Q)] = "^".join(components).rstrip("^")
    return out


def _value(text: str | None, vr: str) -> Any:
    if not text:
        return None if vr in INT_VRS | FLOAT_VRS else ""
    if vr in INT_VRS:
        return int(text)
    if vr in FLOAT_VRS:
        return float(text)
    return text


def _comparable(model: dict[str, Any]) -> dict[str, Any]:
    """A JSON model as the XML can say it: an empty Value array is no Value, a null string value is ""."""
    out = {}
    for tag, attr in model.items():
        attr = dict(attr)
        values = attr.pop("Value", None)
        if values:
            if attr["vr"] == "SQ":
                values = [_comparable(item) for item in values]
            elif attr["vr"] not in INT_VRS | FLOAT_VRS | {"PN"}:
                values = ["" if v is None else v for v in values]
            attr["Value"] = values
        out[tag] = attr
    return out


# --- multipart/related ----------------------------------------------------------------------------------


def _parts(resp) -> list[tuple[str, bytes]]:
    """The parts of a multipart/related answer, with a strict check of its framing (RFC 2046)."""
    boundary = resp.headers["content-type"].split("boundary=")[1].split(";")[0].strip('"')
    body = resp.content
    assert body.startswith(f"--{boundary}\r\n".encode()) and body.endswith(f"\r\n--{boundary}--\r\n".encode())
    out = []
    for chunk in body[: -len(f"\r\n--{boundary}--\r\n")].split(f"\r\n--{boundary}\r\n".encode()):
        head, _, data = chunk.removeprefix(f"--{boundary}\r\n".encode()).partition(b"\r\n\r\n")
        headers = dict(line.split(": ", 1) for line in head.decode().split("\r\n"))
        out.append((headers["Content-Type"], data))
    return out


def _assert_multipart_xml(resp) -> None:
    ctype = resp.headers["content-type"]
    assert resp.status_code == 200, resp.text
    assert ctype.startswith("multipart/related;") and 'type="application/dicom+xml"' in ctype, ctype


def _xml_models(resp) -> list[dict[str, Any]]:
    """Each part of a multipart XML answer parsed by xml.etree and decoded to the JSON model."""
    _assert_multipart_xml(resp)
    models = []
    for ctype, data in _parts(resp):
        assert ctype == "application/dicom+xml"
        assert data.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
        root = ET.fromstring(data)
        assert root.tag == f"{Q}NativeDicomModel"
        assert root.get("{http://www.w3.org/XML/1998/namespace}space") == "preserve"
        models.append(_model(root))
    return models


# --- data ----------------------------------------------------------------------------------------------


def _rich_instance(study: str) -> Dataset:
    """A CT with a sequence, a private block (LO and a small OB: InlineBinary), an AT, an empty value in a
    multi-valued CS, CR LF in a text and a name in three character sets."""
    ds = ct_dataset(study_uid=study, patient_name="Yamada^Tarou=山田^太郎", patient_id="MRN-XML-2")
    ds.ImageType = ["ORIGINAL", "", "AXIAL"]
    ds.ImageComments = "first line\r\nsecond line"
    ds.FrameIncrementPointer = 0x00181063
    code = Dataset()
    code.CodeValue = "T-A0100"
    code.CodingSchemeDesignator = "SRT"
    code.CodeMeaning = "Brain"
    ds.AnatomicRegionSequence = [code]
    block = ds.private_block(0x0009, "PACS XML TEST", create=True)
    block.add_new(0x01, "LO", "vendor value")
    block.add_new(0x02, "OB", bytes(range(16)))
    return ds


@pytest.fixture(scope="module")
def archive(live_server, database_url):
    """Study A: Müller, two series (two instances, one); study B: Yamada, one rich instance."""
    from tests.conftest import truncate_all

    truncate_all(database_url)
    study_a, study_b = generate_uid(), generate_uid()
    series_a1, series_a2 = generate_uid(), generate_uid()
    common = {"study_uid": study_a, "patient_name": "Müller^Jürgen", "patient_id": "MRN-XML-1"}
    blobs = [
        ct_bytes(**common, series_uid=series_a1, instance_number=1),
        ct_bytes(**common, series_uid=series_a1, instance_number=2),
        ct_bytes(**common, series_uid=series_a2, instance_number=1, modality="MR"),
        to_bytes(_rich_instance(study_b)),
    ]
    body, ctype = multipart(blobs)
    with live_server.client() as c:
        r = c.post("/dicom-web/studies", content=body, headers={"Content-Type": ctype, **JSON})
    assert r.status_code == 200, r.text
    datasets = [pydicom.dcmread(BytesIO(b)) for b in blobs]
    return {"study_a": study_a, "study_b": study_b, "series_a1": series_a1, "datasets": datasets}


def _both(live_server, path: str, params: dict[str, str] | None = None):
    with live_server.client() as c:
        return c.get(path, params=params, headers=JSON), c.get(path, params=params, headers=XML)


def _assert_same(live_server, path: str, params: dict[str, str] | None = None, count: int | None = None):
    as_json, as_xml = _both(live_server, path, params)
    assert as_json.status_code == 200, as_json.text
    expected = as_json.json()
    models = _xml_models(as_xml)
    assert len(models) == len(expected)
    if count is not None:
        assert len(models) == count
    assert models == [_comparable(m) for m in expected]
    return models


# --- QIDO-RS -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "params", "count"),
    [
        ("/dicom-web/studies", None, 2),
        ("/dicom-web/studies", {"PatientName": "müller*"}, 1),
        ("/dicom-web/studies", {"includefield": "all"}, 2),
        ("/dicom-web/series", None, 3),
        ("/dicom-web/instances", {"includefield": "00091001"}, 4),
        ("/dicom-web/studies/{study_a}/series", None, 2),
        ("/dicom-web/studies/{study_a}/instances", None, 3),
        ("/dicom-web/studies/{study_a}/series/{series_a1}/instances", None, 2),
        ("/dicom-web/studies/{study_b}/instances", {"includefield": "all"}, 1),
    ],
)
def test_search_answers_one_xml_part_per_json_result(live_server, archive, path, params, count):
    _assert_same(live_server, path.format(**archive), params, count)


def test_search_xml_keeps_non_ascii_names(live_server, archive):
    models = _assert_same(live_server, "/dicom-web/studies", {"PatientID": "MRN-XML-*"}, 2)
    names = sorted(m["00100010"]["Value"][0]["Alphabetic"] for m in models)
    assert names == ["Müller^Jürgen", "Yamada^Tarou"]
    [yamada] = [m for m in models if m["00100020"]["Value"] == ["MRN-XML-2"]]
    assert yamada["00100010"]["Value"] == [{"Alphabetic": "Yamada^Tarou", "Ideographic": "山田^太郎"}]


def test_search_xml_keeps_the_warning_header(live_server, archive):
    as_json, as_xml = _both(live_server, "/dicom-web/studies", {"NoSuchParameter": "1", "PatientAge": "040Y"})
    assert as_json.headers["warning"] and as_xml.headers["warning"] == as_json.headers["warning"]
    assert len(_xml_models(as_xml)) == len(as_json.json()) == 2


def test_search_xml_with_no_match_is_an_empty_200(live_server, archive):
    """As the JSON answer ([]), a search without a match is a success: 200 with an empty payload."""
    as_json, as_xml = _both(live_server, "/dicom-web/studies", {"PatientID": "NOBODY"})
    assert as_json.status_code == 200 and as_json.json() == []
    _assert_multipart_xml(as_xml)
    assert as_xml.content == b""


def test_search_accept_query_parameter_and_q_values(live_server, archive):
    with live_server.client() as c:
        by_param = c.get("/dicom-web/studies", params={"accept": MULTIPART_XML})
        xml_preferred = c.get(
            "/dicom-web/studies",
            headers={"Accept": f"application/dicom+json;q=0.5, {MULTIPART_XML};q=0.9"},
        )
        json_preferred = c.get(
            "/dicom-web/studies",
            headers={"Accept": f"application/dicom+json;q=0.9, {MULTIPART_XML};q=0.5"},
        )
        default = c.get("/dicom-web/studies", headers={"Accept": "*/*"})
    assert len(_xml_models(by_param)) == len(_xml_models(xml_preferred)) == 2
    assert json_preferred.headers["content-type"] == "application/dicom+json"
    assert default.headers["content-type"] == "application/dicom+json" and len(default.json()) == 2


@pytest.mark.parametrize("accept", ["application/xml", "text/html", "application/dicom+xml"])
def test_search_with_no_acceptable_type_is_406_json(live_server, archive, accept):
    """application/xml is not DICOM XML; a single application/dicom+xml document cannot hold several results."""
    with live_server.client() as c:
        r = c.get("/dicom-web/studies", headers={"Accept": accept})
    assert r.status_code == 406
    assert r.headers["content-type"].startswith("application/json")
    assert r.json()["error"] == "not_acceptable" and MULTIPART_XML in r.json()["detail"]


# --- WADO-RS metadata ----------------------------------------------------------------------------------


def test_study_series_and_instance_metadata_as_xml(live_server, archive):
    ds_a = archive["datasets"][0]
    a1 = f"/dicom-web/studies/{archive['study_a']}/series/{archive['series_a1']}"
    _assert_same(live_server, f"/dicom-web/studies/{archive['study_a']}/metadata", count=3)
    _assert_same(live_server, f"{a1}/metadata", count=2)
    [model] = _assert_same(live_server, f"{a1}/instances/{ds_a.SOPInstanceUID}/metadata", count=1)
    assert model["00080018"]["Value"] == [ds_a.SOPInstanceUID]
    assert model["7FE00010"]["BulkDataURI"].endswith(f"/instances/{ds_a.SOPInstanceUID}/bulkdata/7FE00010")


def test_rich_instance_metadata_round_trips(live_server, archive):
    """Sequence, private block (privateCreator, InlineBinary), AT, empty value, CR LF, three PN groups."""
    ds = archive["datasets"][3]
    [model] = _assert_same(live_server, f"/dicom-web/studies/{archive['study_b']}/metadata", count=1)
    assert model["00100010"]["Value"] == [{"Alphabetic": "Yamada^Tarou", "Ideographic": "山田^太郎"}]
    assert model["00080008"]["Value"] == ["ORIGINAL", "", "AXIAL"]
    assert model["00204000"]["Value"] == ["first line\r\nsecond line"]
    assert model["00280009"]["Value"] == ["00181063"]
    assert model["00082218"]["Value"][0]["00080104"]["Value"] == ["Brain"]
    assert model["00090010"]["Value"] == ["PACS XML TEST"]
    assert model["00091001"]["Value"] == ["vendor value"]
    assert "InlineBinary" in model["00091002"]
    with live_server.client() as c:
        raw = c.get(
            f"/dicom-web/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}/instances/"
            f"{ds.SOPInstanceUID}/metadata",
            headers=XML,
        )
    [(_, data)] = _parts(raw)
    root = ET.fromstring(data)
    private = root.find(f"{Q}DicomAttribute[@privateCreator='PACS XML TEST']")
    assert private is not None and private.get("tag") == "00090001"
    assert root.find(f"{Q}DicomAttribute[@tag='00090010']") is None  # the creator is not an attribute


def test_metadata_with_no_acceptable_type_is_406_json(live_server, archive):
    with live_server.client() as c:
        for accept in ("application/xml", "text/html"):
            r = c.get(f"/dicom-web/studies/{archive['study_a']}/metadata", headers={"Accept": accept})
            assert r.status_code == 406 and r.json()["error"] == "not_acceptable"


# --- STOW-RS -------------------------------------------------------------------------------------------


def _stow_xml(live_server, blobs: list[bytes], accept: str = "application/dicom+xml"):
    body, ctype = multipart(blobs)
    with live_server.client() as c:
        return c.post("/dicom-web/studies", content=body, headers={"Content-Type": ctype, "Accept": accept})


def _stow_model(resp) -> dict[str, Any]:
    assert resp.headers["content-type"] == "application/dicom+xml", resp.headers["content-type"]
    assert resp.content.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    root = ET.fromstring(resp.content)
    assert root.tag == f"{Q}NativeDicomModel"
    return _model(root)


def _uids(model: dict[str, Any], sequence: str) -> list[str]:
    return [item["00081155"]["Value"][0] for item in model[sequence]["Value"]]


def test_stow_answers_xml_when_asked(live_server, archive):
    study = generate_uid()
    datasets = [ct_dataset(study_uid=study, patient_name="Müller^Jürgen", instance_number=n) for n in (1, 2)]
    r = _stow_xml(live_server, [to_bytes(ds) for ds in datasets])
    assert r.status_code == 200, r.text
    model = _stow_model(r)
    assert sorted(_uids(model, "00081199")) == sorted(ds.SOPInstanceUID for ds in datasets)
    assert "00081198" not in model
    assert model["00081190"]["Value"][0].endswith(f"/dicom-web/studies/{study}")
    with live_server.client() as c:
        assert len(c.get(f"/dicom-web/studies/{study}/instances", headers=JSON).json()) == 2


def test_stow_partial_failure_is_202_with_failed_sop_sequence_in_xml(live_server, archive):
    good = ct_dataset(study_uid=generate_uid())
    r = _stow_xml(live_server, [to_bytes(good), b"this is not a DICOM instance"])
    assert r.status_code == 202, r.text
    model = _stow_model(r)
    assert _uids(model, "00081199") == [good.SOPInstanceUID]
    [failed] = model["00081198"]["Value"]
    assert failed["00081197"]["vr"] == "US" and failed["00081197"]["Value"][0] >= 0xA000


def test_stow_all_failed_is_409_in_xml(live_server, archive):
    r = _stow_xml(live_server, [b"not DICOM", b"nor this"])
    assert r.status_code == 409, r.text
    model = _stow_model(r)
    assert len(model["00081198"]["Value"]) == 2 and "00081199" not in model


@pytest.mark.parametrize("accept", ["application/xml", "text/html", MULTIPART_XML])
def test_stow_with_no_acceptable_type_is_406_json_and_stores_nothing(live_server, archive, accept):
    study = generate_uid()
    r = _stow_xml(live_server, [ct_bytes(study_uid=study)], accept=accept)
    assert r.status_code == 406
    assert r.json()["error"] == "not_acceptable" and "application/dicom+xml" in r.json()["detail"]
    with live_server.client() as c:
        assert c.get("/dicom-web/studies", params={"StudyInstanceUID": study}, headers=JSON).json() == []
