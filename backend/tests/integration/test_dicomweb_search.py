"""QIDO-RS (PS3.18 10.6) matching as PS3.4 C.2.2.2 defines it, through dicomweb-client and raw HTTP."""

from __future__ import annotations

import pytest
from dicomweb_client.api import DICOMwebClient
from pydicom.uid import generate_uid

from tests.dicomfactory import ct_bytes, multipart

PATIENTS = [
    # name, MRN, accession, date, modality
    ("Doe^John", "MRN-1", "ACC-1", "20240110", "CT"),
    ("Doe^Jane", "MRN-2", "ACC-2", "20240115", "MR"),
    ("Müller^Jürgen", "MRN-3", "ACC-3", "20240201", "CT"),
    ("Yamada^Tarou=山田^太郎", "MRN-4", "ACC-4", "20231231", "US"),
    ("Smith^Anna", "MRN-5", "ACC-5", "20240115", "CT"),
    ("Dobson^Jon", "MRN-6", "ACC_6", "20240301", "MR"),
]


@pytest.fixture(scope="module")
def archive(live_server, database_url):
    from tests.conftest import truncate_all

    truncate_all(database_url)
    uids = {}
    parts = []
    for name, mrn, acc, date, mod in PATIENTS:
        study = generate_uid()
        uids[mrn] = study
        parts.append(
            ct_bytes(
                study_uid=study,
                patient_name=name,
                patient_id=mrn,
                accession=acc,
                study_date=date,
                modality=mod,
            )
        )
    body, ctype = multipart(parts)
    with live_server.client() as c:
        r = c.post("/dicom-web/studies", content=body, headers={"Content-Type": ctype})
    assert r.status_code == 200, r.text
    return uids


def _mrns(results):
    return sorted(r["00100020"]["Value"][0] for r in results)


def _q(live_server, path="/dicom-web/studies", **params):
    with live_server.client() as c:
        return c.get(path, params=params, headers={"Accept": "application/dicom+json"})


def test_exact_patient_id_and_accession(live_server, archive):
    client = DICOMwebClient(live_server.dicomweb)
    assert _mrns(client.search_for_studies(search_filters={"PatientID": "MRN-3"})) == ["MRN-3"]
    assert _mrns(client.search_for_studies(search_filters={"AccessionNumber": "ACC-5"})) == ["MRN-5"]
    # '_' is a literal in DICOM, not a SQL wildcard
    assert _mrns(client.search_for_studies(search_filters={"AccessionNumber": "ACC_6"})) == ["MRN-6"]
    assert _mrns(client.search_for_studies(search_filters={"AccessionNumber": "ACC_1"})) == []


def test_wildcards_case_insensitive_person_name(live_server, archive):
    client = DICOMwebClient(live_server.dicomweb)
    assert _mrns(client.search_for_studies(search_filters={"PatientName": "doe*"})) == ["MRN-1", "MRN-2"]
    assert _mrns(client.search_for_studies(search_filters={"PatientName": "D?e^J*"})) == ["MRN-1", "MRN-2"]
    assert _mrns(client.search_for_studies(search_filters={"PatientName": "*ANNA"})) == ["MRN-5"]
    assert _mrns(client.search_for_studies(search_filters={"PatientName": "Doe^John"})) == ["MRN-1"]


def test_non_ascii_names_percent_encoded(live_server, archive):
    # httpx percent-encodes UTF-8; the server must decode it (Orthanc does not)
    r = _q(live_server, PatientName="Müller*")
    assert _mrns(r.json()) == ["MRN-3"]
    r = _q(live_server, PatientName="müller^jürgen")
    assert _mrns(r.json()) == ["MRN-3"]
    r = _q(live_server, PatientName="Yamada*")
    [res] = r.json()
    assert res["00100010"]["Value"][0]["Ideographic"] == "山田^太郎"
    with live_server.client() as c:
        raw = c.get("/dicom-web/studies?PatientName=M%C3%BCller%5EJ%C3%BCrgen")
    assert _mrns(raw.json()) == ["MRN-3"]


def test_fuzzy_matching(live_server, archive):
    r = _q(live_server, PatientName="jo", fuzzymatching="true")
    assert _mrns(r.json()) == ["MRN-1", "MRN-6"]  # word-prefix on any name component
    r = _q(live_server, PatientName="jurg", fuzzymatching="true")
    assert _mrns(r.json()) == ["MRN-3"]  # accent-insensitive


def test_date_ranges_and_uid_lists(live_server, archive):
    assert _mrns(_q(live_server, StudyDate="20240101-20240131").json()) == ["MRN-1", "MRN-2", "MRN-5"]
    assert _mrns(_q(live_server, StudyDate="20240201-").json()) == ["MRN-3", "MRN-6"]
    assert _mrns(_q(live_server, StudyDate="-20231231").json()) == ["MRN-4"]
    assert _mrns(_q(live_server, StudyDate="20240115").json()) == ["MRN-2", "MRN-5"]
    uids = f"{archive['MRN-1']}\\{archive['MRN-4']}"
    assert _mrns(_q(live_server, StudyInstanceUID=uids).json()) == ["MRN-1", "MRN-4"]
    # PS3.18 writes the list comma-separated; dicomweb-client sends a list that way too
    commas = f"{archive['MRN-1']},{archive['MRN-4']},{archive['MRN-6']}"
    assert _mrns(_q(live_server, StudyInstanceUID=commas).json()) == ["MRN-1", "MRN-4", "MRN-6"]
    client = DICOMwebClient(live_server.dicomweb)
    found = client.search_for_studies(
        search_filters={"StudyInstanceUID": [archive["MRN-2"], archive["MRN-3"]]}
    )
    assert _mrns(found) == ["MRN-2", "MRN-3"]
    assert _mrns(_q(live_server, ModalitiesInStudy="CT", StudyDate="20240115").json()) == ["MRN-5"]
    assert _mrns(_q(live_server, ModalitiesInStudy="US,MR").json()) == ["MRN-2", "MRN-4", "MRN-6"]


def test_includefield_limit_offset(live_server, archive):
    r = _q(live_server, PatientID="MRN-1", includefield="00200010,SeriesDescription")
    [res] = r.json()
    assert "00200010" in res
    r = _q(live_server, PatientID="MRN-1", includefield="all")
    [res] = r.json()
    assert res["00100021" if "00100021" in res else "00120062"]  # Patient Identity Removed et al. come back
    assert res["00120062"]["Value"] == ["YES"]
    all_rows = _q(live_server).json()
    assert len(all_rows) == 6
    page1 = _q(live_server, limit=4, offset=0).json()
    page2 = _q(live_server, limit=4, offset=4).json()
    assert len(page1) == 4 and len(page2) == 2
    assert {r["0020000D"]["Value"][0] for r in page1 + page2} == {r["0020000D"]["Value"][0] for r in all_rows}


def test_series_and_instance_levels_nested(live_server, archive):
    study = archive["MRN-2"]
    client = DICOMwebClient(live_server.dicomweb)
    [series] = client.search_for_series(study)
    assert series["00080060"]["Value"] == ["MR"]
    assert series["0020000D"]["Value"] == [study]
    se = series["0020000E"]["Value"][0]
    [inst] = client.search_for_instances(study, se)
    assert inst["00280010"]["Value"] == [64]
    assert inst["00081190"]["Value"][0].endswith(
        f"/studies/{study}/series/{se}/instances/{inst['00080018']['Value'][0]}"
    )
    assert len(client.search_for_series(search_filters={"Modality": "CT"})) == 3
    assert len(client.search_for_instances(search_filters={"PatientID": "MRN-4"})) == 1
    # study level query on a series attribute
    assert _mrns(_q(live_server, Modality="MR").json()) == ["MRN-2", "MRN-6"]


@pytest.mark.parametrize(
    "params",
    [
        {"StudyDate": "2024-01-01"},
        {"StudyDate": "20241301x"},
        {"limit": "-1"},
        {"limit": "abc"},
        {"offset": "-5"},
        {"StudyInstanceUID": "not-a-uid"},
        {"includefield": "Bogus"},
        {"fuzzymatching": "maybe"},
    ],
)
def test_bad_queries_are_400_json(live_server, archive, params):
    r = _q(live_server, **params)
    assert r.status_code == 400, (params, r.text)
    body = r.json()
    assert body["error"] == "bad_request" and body["detail"]


def test_single_document_xml_accept_is_406(live_server, archive):
    """Search results in DICOM XML are multipart/related, one document per result (test_dicomweb_xml.py);
    a single application/dicom+xml document cannot hold them."""
    with live_server.client() as c:
        r = c.get("/dicom-web/studies", headers={"Accept": "application/dicom+xml"})
    assert r.status_code == 406
    assert 'multipart/related; type="application/dicom+xml"' in r.json()["detail"]


def test_unsupported_matching_key_is_ignored_with_a_warning(live_server, archive):
    r = _q(live_server, PatientAge="040Y")
    assert r.status_code == 200 and len(r.json()) == 6
    assert "PatientAge" in r.headers["warning"]
    r = _q(live_server, limit="")
    assert r.status_code == 200 and "warning" not in r.headers


def test_includefield_takes_a_private_tag(live_server, archive):
    """A private attribute is named by its tag (it has no keyword): returned where the instance holds it."""
    from tests.dicomfactory import ct_dataset, to_bytes

    ds = ct_dataset(study_uid=generate_uid())
    block = ds.private_block(0x0009, "PACS PORTAL TEST", create=True)
    block.add_new(0x01, "LO", "vendor value")
    body, ctype = multipart([to_bytes(ds)])
    with live_server.client() as c:
        assert c.post("/dicom-web/studies", content=body, headers={"Content-Type": ctype}).status_code == 200
        r = c.get(f"/dicom-web/studies/{ds.StudyInstanceUID}/instances", params={"includefield": "00091001"})
        plain = c.get(f"/dicom-web/studies/{ds.StudyInstanceUID}/instances")
    assert r.status_code == 200, r.text
    [inst] = r.json()
    assert inst["00091001"] == {"vr": "LO", "Value": ["vendor value"]}
    assert "00091001" not in plain.json()[0]


def test_an_unsupported_query_parameter_is_ignored_with_a_warning(live_server, archive):
    """PS3.18 8.3: the origin server ignores Query Parameters it does not support and answers as if they were
    absent (here with a Warning); a supported parameter with a bad value stays a 400 (above)."""
    plain = _q(live_server, PatientID="MRN-1")
    extra = _q(live_server, PatientID="MRN-1", NoSuchAttribute="x", **{"vendör-param": "1", 'q"x': "2"})
    assert plain.status_code == 200 and extra.status_code == 200, extra.text
    assert extra.json() == plain.json() and len(plain.json()) >= 1
    warning = extra.headers["warning"]
    assert warning.startswith("299 ") and "NoSuchAttribute" in warning and "vend?r-param" in warning
    assert "warning" not in plain.headers
