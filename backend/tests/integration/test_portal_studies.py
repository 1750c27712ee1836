"""Portal API study list and study page on real PostgreSQL (direct and through pgbouncer): filters, every
sort, keyset paging forward and back, totals, and the 4xx answers."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from pydicom.uid import generate_uid

from pacs.dicom.text import fold
from pacs.query.studylist import SORTS, StudyFilter, StudyListService
from tests.conftest import truncate_all
from tests.dicomfactory import ct_dataset, to_bytes


@dataclass
class S:
    uid: str
    name: str
    mrn: str
    accession: str
    date: str  # YYYYMMDD
    time: str
    modalities: tuple[str, ...]
    description: str
    referring: str
    instances: int


NAMES = [
    "Müller^Hans",
    "MULLER^Anna",
    "Smith^John",
    "Smithers^Waylon",
    "Doe^Jane",
    "Zoë^Ångström",
    "O'Brien^Seán",
]
DESCRIPTIONS = ["CT HEAD W/O CONTRAST", "MR Knee Left", "Chest PA", "ct chest abdomen", "Hand XR"]
REFERRING = ["House^Gregory", "Wilson^James", "Cuddy^Lisa"]
MODS = [("CT",), ("MR",), ("CT", "MR"), ("CR",), ("US",), ("CT", "SR")]


def _corpus() -> list[S]:
    out = []
    for i in range(23):
        out.append(
            S(
                uid=generate_uid(),
                name=NAMES[i % len(NAMES)],
                mrn=f"MRN{i % 9:04d}",
                accession=f"ACC{i:05d}",
                date=f"2024{1 + i % 12:02d}{1 + (i * 7) % 28:02d}",
                time=f"{(i * 5) % 24:02d}{(i * 13) % 60:02d}00",
                modalities=MODS[i % len(MODS)],
                description=DESCRIPTIONS[i % len(DESCRIPTIONS)],
                referring=REFERRING[i % len(REFERRING)],
                instances=1 + i % 3,
            )
        )
    return out


def _ingest(live, corpus: list[S]) -> None:
    blobs = []
    for s in corpus:
        n = 0
        for m in s.modalities:
            series_uid = generate_uid()
            for _ in range(s.instances if m == s.modalities[0] else 1):
                n += 1
                ds = ct_dataset(
                    study_uid=s.uid,
                    series_uid=series_uid,
                    patient_name=s.name,
                    patient_id=s.mrn,
                    accession=s.accession,
                    study_date=s.date,
                    modality=m,
                    size=8,
                    instance_number=n,
                )
                ds.StudyTime = s.time
                ds.StudyDescription = s.description
                ds.ReferringPhysicianName = s.referring
                ds.InstitutionName = "General Hospital" if s.mrn < "MRN0004" else "St. Elsewhere"
                blobs.append(to_bytes(ds))
    outcomes = live.services.ingest.store_many(blobs)
    assert all(o.ok for o in outcomes), [o.detail for o in outcomes if not o.ok]


@pytest.fixture(scope="module")
def corpus(live_server, database_url) -> list[S]:
    """Stored once per server variant; the tests here only read."""
    truncate_all(database_url)
    c = _corpus()
    _ingest(live_server, c)
    return c


def _all(client, params: dict, limit: int = 7) -> list[dict]:
    items: list[dict] = []
    cursor = None
    for _ in range(100):
        r = client.get(
            "/api/studies", params={**params, "limit": limit, **({"cursor": cursor} if cursor else {})}
        )
        assert r.status_code == 200, r.text
        body = r.json()
        items.extend(body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError("paging did not end")


def _uids(items: list[dict]) -> set[str]:
    return {i["study_instance_uid"] for i in items}


def test_items_carry_the_columns(live_server, corpus):
    with live_server.client() as c:
        body = c.get("/api/studies", params={"accession": corpus[2].accession}).json()
    assert body["total"] == 1 and body["total_is_estimate"] is False
    assert body["next_cursor"] is None and body["prev_cursor"] is None
    item = body["items"][0]
    s = corpus[2]
    assert item["study_instance_uid"] == s.uid
    assert item["patient_name"] == s.name
    assert item["patient_id"] == s.mrn
    assert item["patient_birth_date"] == "1970-01-01" and item["patient_sex"] == "M"
    assert item["study_date"] == f"{s.date[:4]}-{s.date[4:6]}-{s.date[6:]}"
    assert item["study_time"] == f"{s.time[:2]}:{s.time[2:4]}:{s.time[4:]}"
    assert item["modalities"] == sorted(s.modalities)
    assert item["study_description"] == s.description
    assert item["referring_physician_name"] == s.referring
    assert item["number_of_series"] == len(s.modalities)
    assert item["number_of_instances"] == s.instances + len(s.modalities) - 1


@pytest.mark.parametrize(
    ("params", "expect"),
    [
        ({"mrn": "MRN0003"}, lambda s: s.mrn == "MRN0003"),
        ({"mrn": "MRN000*"}, lambda s: s.mrn.startswith("MRN000")),
        ({"accession": "ACC00017"}, lambda s: s.accession == "ACC00017"),
        ({"accession": "acc00017"}, lambda s: False),  # AccessionNumber matching is case-sensitive (SH)
        ({"name": "muller"}, lambda s: s.name in ("Müller^Hans", "MULLER^Anna")),
        ({"name": "MÜLLER"}, lambda s: s.name in ("Müller^Hans", "MULLER^Anna")),
        ({"name": "han"}, lambda s: s.name == "Müller^Hans"),  # word prefix of the given name
        ({"name": "smith"}, lambda s: s.name in ("Smith^John", "Smithers^Waylon")),
        ({"name": "smith^j*"}, lambda s: s.name == "Smith^John"),
        ({"name": "zoe angstrom"}, lambda s: s.name == "Zoë^Ångström"),
        ({"name": "ith"}, lambda s: False),  # not a word prefix
        ({"modality": "MR"}, lambda s: "MR" in s.modalities),
        ({"modality": ["CR", "US"]}, lambda s: bool({"CR", "US"} & set(s.modalities))),
        ({"date_from": "2024-03-01", "date_to": "2024-06-30"}, lambda s: "20240301" <= s.date <= "20240630"),
        ({"date_from": "2024-10-01"}, lambda s: s.date >= "20241001"),
        ({"date_to": "2024-02-15"}, lambda s: s.date <= "20240215"),
        ({"description": "chest"}, lambda s: "chest" in s.description.lower()),
        ({"description": "CT*"}, lambda s: s.description.lower().startswith("ct")),
        ({"referring": "wilson"}, lambda s: s.referring == "Wilson^James"),
        (
            {"modality": "CT", "description": "chest", "date_from": "2024-01-01"},
            lambda s: "CT" in s.modalities and "chest" in s.description.lower(),
        ),
    ],
)
def test_filters_select_exactly_the_right_studies(live_server, corpus, params, expect):
    with live_server.client() as c:
        items = _all(c, params)
        first = c.get("/api/studies", params={**params, "limit": 2}).json()  # total beyond the first page
    wanted = {s.uid for s in corpus if expect(s)}
    assert _uids(items) == wanted
    assert len(items) == len(wanted)
    assert first["total"] == len(wanted) and first["total_is_estimate"] is False


def test_study_list_matches_qido(live_server, corpus):
    """The same engine as QIDO-RS: the same filter gives the same studies."""
    with live_server.client() as c:
        portal = _uids(_all(c, {"name": "smith", "modality": "CT"}))
        qido = c.get(
            "/dicom-web/studies",
            params={"PatientName": "smith", "fuzzymatching": "true", "ModalitiesInStudy": "CT"},
        ).json()
    assert portal == {q["0020000D"]["Value"][0] for q in qido}
    assert portal  # the corpus has such studies


_SORT_VALUE = {
    "patient_name": lambda i: fold(i["patient_name"]),
    "patient_id": lambda i: i["patient_id"],
    "patient_birth_date": lambda i: i["patient_birth_date"] or "",
    "patient_sex": lambda i: i["patient_sex"],
    "accession_number": lambda i: i["accession_number"],
    "study_date": lambda i: (i["study_date"] or "", i["study_time"] or ""),
    "study_time": lambda i: i["study_time"] or "",
    "modalities": lambda i: i["modalities"],
    "study_description": lambda i: i["study_description"].lower(),
    "referring_physician_name": lambda i: i["referring_physician_name"].lower(),
    "number_of_series": lambda i: i["number_of_series"],
    "number_of_instances": lambda i: i["number_of_instances"],
    "study_instance_uid": lambda i: i["study_instance_uid"],
}


@pytest.mark.parametrize("sort", [s for name in SORTS for s in (name, f"-{name}")])
def test_every_sort_orders_all_pages(live_server, corpus, sort):
    assert set(_SORT_VALUE) == set(SORTS)
    with live_server.client() as c:
        items = _all(c, {"sort": sort}, limit=4)
    assert len(items) == len(corpus)
    assert _uids(items) == {s.uid for s in corpus}
    values = [_SORT_VALUE[sort.lstrip("-")](i) for i in items]
    assert values == sorted(values, reverse=sort.startswith("-"))


@pytest.mark.parametrize("sort", ["-study_date", "patient_name", "modalities", "-number_of_instances"])
def test_paging_back_lands_on_the_same_rows(live_server, corpus, sort):
    with live_server.client() as c:
        pages: list[list[str]] = []
        prevs: list[str | None] = []
        cursor = None
        while True:
            params = {"sort": sort, "limit": 5, **({"cursor": cursor} if cursor else {})}
            body = c.get("/api/studies", params=params).json()
            pages.append([i["study_instance_uid"] for i in body["items"]])
            prevs.append(body["prev_cursor"])
            cursor = body["next_cursor"]
            if cursor is None:
                break
        assert [len(p) for p in pages] == [5, 5, 5, 5, 3]
        assert prevs[0] is None and all(prevs[1:])
        # walk back from the last page with prev_cursor
        back = [pages[-1]]
        cursor = prevs[-1]
        while cursor:
            body = c.get("/api/studies", params={"sort": sort, "limit": 5, "cursor": cursor}).json()
            back.append([i["study_instance_uid"] for i in body["items"]])
            cursor = body["prev_cursor"]
            assert body["next_cursor"]  # a page reached backwards can go forward again
        assert list(reversed(back)) == pages


def test_cursor_survives_with_filters_and_total_stays(live_server, corpus):
    with live_server.client() as c:
        p1 = c.get("/api/studies", params={"modality": "CT", "limit": 3, "sort": "accession_number"}).json()
        p2 = c.get(
            "/api/studies",
            params={"modality": "CT", "limit": 3, "sort": "accession_number", "cursor": p1["next_cursor"]},
        ).json()
    ct = sorted(s.accession for s in corpus if "CT" in s.modalities)
    assert [i["accession_number"] for i in p1["items"] + p2["items"]] == ct[:6]
    assert p1["total"] == p2["total"] == len(ct)


def test_totals_exact_or_estimated(live_server, corpus):
    eng, key = live_server.services.engine, live_server.settings.secret_key
    # A walk of 5 index entries finds a full page: many rows match, the total is the planner's estimate,
    # and it travels with the cursor.
    # as if the archive were large (and text patterns matched more than a capped sort takes)
    svc = StudyListService(eng, key, walk_budget=5, count_cap=0, few=0, sort_cap=0)
    first = svc.page(StudyFilter(mrn="MRN*"), limit=2, sort="patient_id")
    assert first.total_is_estimate is True and first.total >= 2
    second = svc.page(StudyFilter(mrn="MRN*"), limit=2, sort="patient_id", cursor=first.next_cursor)
    assert (second.total, second.total_is_estimate) == (first.total, True)
    # Under the date sort the walk is index-only; the total is extrapolated from how far it walked.
    smith = svc.page(StudyFilter(name="smith"), limit=2)
    truth = sum(1 for s in corpus if s.name.startswith("Smith"))
    assert smith.total_is_estimate is True
    assert 3 <= smith.total <= len(corpus) and truth >= 3
    # The walk finds less than a page: the matches are collected and counted, exactly.
    few = svc.page(StudyFilter(mrn="MRN0001"), limit=2, sort="accession_number")
    assert few.total_is_estimate is False
    assert few.total == sum(1 for s in corpus if s.mrn == "MRN0001")
    # A text pattern under another sort (a heap walk): the matches are sorted with a cap; fewer than the cap
    # are counted exactly, more give way to a walk (an estimate).
    capped = StudyListService(eng, key, walk_budget=5, count_cap=0, few=0, sort_cap=len(corpus))
    exact = capped.page(StudyFilter(name="smith"), limit=2, sort="patient_id")
    assert (exact.total, exact.total_is_estimate) == (truth, False)
    overflow = StudyListService(eng, key, walk_budget=5, count_cap=0, few=0, sort_cap=1)
    walked = overflow.page(StudyFilter(mrn="MRN*"), limit=2, sort="patient_id")  # every study matches
    assert walked.total_is_estimate is True
    every = capped.page(StudyFilter(mrn="MRN*"), limit=2, sort="patient_id")
    assert (every.total, every.total_is_estimate) == (len(corpus), False)
    assert [i["study_instance_uid"] for i in walked.items] == [i["study_instance_uid"] for i in every.items]
    # Under the default sort a short probe walk decides: few hits in the probe -> sort all matches (exact) ...
    probing = StudyListService(
        eng, key, walk_budget=5, count_cap=0, few=0, sort_cap=len(corpus), probe_budget=2
    )
    probed = probing.page(StudyFilter(name="smith"), limit=2)
    assert (probed.total, probed.total_is_estimate) == (truth, False)
    assert [i["study_instance_uid"] for i in probed.items] == [i["study_instance_uid"] for i in smith.items]
    # ... many -> walk on (every study matches 'MRN*': the probe's hits extrapolate past the cap)
    walking = StudyListService(eng, key, walk_budget=5, count_cap=0, few=0, sort_cap=1, probe_budget=2)
    everyone = walking.page(StudyFilter(mrn="MRN*"), limit=2)
    assert everyone.total_is_estimate is True and len(everyone.items) == 2
    # One modality, a date range, no filter: the maintained counters, exact at any size.
    for flt, expect in (
        (StudyFilter(modality=("CT",)), lambda s: "CT" in s.modalities),
        (
            StudyFilter(date_from="2024-03-01", date_to="2024-08-31"),
            lambda s: "20240301" <= s.date <= "20240831",
        ),
        (StudyFilter(), lambda s: True),
    ):
        counted = StudyListService(eng, key, count_cap=0).page(flt, limit=2)
        assert counted.total_is_estimate is False
        assert counted.total == sum(1 for s in corpus if expect(s))


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"sort": "shoe_size"}, "not a sortable field"),
        ({"sort": "-"}, "not a sortable field"),
        ({"date_from": "2024-13-01"}, "date_from"),
        ({"date_from": "20240101"}, "YYYY-MM-DD"),
        ({"date_to": "yesterday"}, "date_to"),
        ({"date_from": "2024-05-01", "date_to": "2024-04-01"}, "after"),
        ({"limit": 0}, "limit"),
        ({"limit": 100000}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"modality": "C'T"}, "modality"),
    ],
)
def test_bad_input_is_a_clear_400(live_server, params, fragment):
    with live_server.client() as c:
        r = c.get("/api/studies", params=params)
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["error"] == "bad_request"
    assert fragment in body["detail"]


def test_forged_and_foreign_cursors_are_rejected(live_server, corpus):
    with live_server.client() as c:
        body = c.get("/api/studies", params={"limit": 3, "sort": "patient_id"}).json()
        token = body["next_cursor"]
        head, _, mac = token.partition(".")
        import base64
        import json

        data = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
        data["k"][-1] = 1  # jump elsewhere, keep the old signature
        forged = base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode() + "." + mac
        r = c.get("/api/studies", params={"limit": 3, "sort": "patient_id", "cursor": forged})
        assert r.status_code == 400 and "cursor" in r.json()["detail"]
        other = StudyListService(live_server.services.engine, "another-secret").signer
        from pacs.query.studylist import Cursor

        r = c.get(
            "/api/studies",
            params={"sort": "patient_id", "cursor": other.encode(Cursor("patient_id", False, ["x", 1]))},
        )
        assert r.status_code == 400
        r = c.get("/api/studies", params={"limit": 3, "sort": "-patient_id", "cursor": token})
        assert r.status_code == 400 and "sorted by" in r.json()["detail"]
        ok = c.get("/api/studies", params={"limit": 3, "sort": "patient_id", "cursor": token})
        assert ok.status_code == 200 and len(ok.json()["items"]) == 3


def test_study_page(live_server, corpus):
    s = next(x for x in corpus if len(x.modalities) == 2)
    with live_server.client() as c:
        r = c.get(f"/api/studies/{s.uid}")
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["study"]["study_instance_uid"] == s.uid
        assert body["study"]["patient_name"] == s.name
        assert body["retrieve_url"] == f"/dicom-web/studies/{s.uid}"
        assert sorted(se["modality"] for se in body["series"]) == sorted(s.modalities)
        counts = sorted(se["number_of_instances"] for se in body["series"])
        assert counts == sorted([s.instances, 1])
        thumb = c.get(body["series"][0]["thumbnail_url"], headers={"Accept": "image/jpeg"})
        assert thumb.status_code == 200 and thumb.content[:2] == b"\xff\xd8"
        missing = c.get(f"/api/studies/{generate_uid()}")
        assert missing.status_code == 404 and missing.json()["error"] == "not_found"
        bad = c.get("/api/studies/not..a..uid")
        assert bad.status_code == 400 and bad.json()["error"] == "bad_request"


def test_openapi_documents_the_portal(live_server):
    with live_server.client() as c:
        spec = c.get("/openapi.json").json()
    assert "/api/studies" in spec["paths"] and "/api/analytics/modalities" in spec["paths"]
    for model in ("StudyRead", "StudyPage", "SeriesRead", "StudyDetailRead", "ModalityStat"):
        assert model in spec["components"]["schemas"]
    sort = next(p for p in spec["paths"]["/api/studies"]["get"]["parameters"] if p["name"] == "sort")
    assert "-study_date" in sort["schema"]["enum"]


@pytest.mark.parametrize(
    "flt",
    [
        StudyFilter(name="smith"),
        StudyFilter(modality=("CT", "MR")),
        StudyFilter(modality=("MR",)),
        StudyFilter(description="chest", date_from="2024-02-01"),
    ],
)
@pytest.mark.parametrize("sort", ["-study_date", "patient_name", "-modalities"])
def test_every_page_plan_gives_the_same_pages(live_server, corpus, flt, sort):
    """Matches sorted, a bounded walk falling back to sorting, an unbounded walk: the same rows."""
    eng, key = live_server.services.engine, live_server.settings.secret_key
    services = [
        StudyListService(eng, key),  # small archive: sort the matches
        # as if the archive were large and many rows matched: a bounded walk (falling back to sorting when it
        # finds less than a page), and for counted filters (one modality) an unbounded walk of the sort index
        StudyListService(eng, key, walk_budget=3, count_cap=0, few=0),
        StudyListService(eng, key, walk_budget=8, count_cap=0, few=0),
        StudyListService(eng, key, walk_budget=20, count_cap=0, few=0),
        StudyListService(eng, key, walk_budget=1, count_cap=0, few=0),
    ]

    def pages(svc: StudyListService) -> list[list[str]]:
        out, cursor, prev = [], None, None
        while True:
            p = svc.page(flt, sort=sort, limit=2, cursor=cursor)
            out.append([r["study_instance_uid"] for r in p.items])
            cursor, prev = p.next_cursor, p.prev_cursor
            if cursor is None:
                break
        back = [out[-1]]
        while prev:  # and back again, onto the same rows
            p = svc.page(flt, sort=sort, limit=2, cursor=prev)
            back.append([r["study_instance_uid"] for r in p.items])
            prev = p.prev_cursor
        assert list(reversed(back)) == out
        return out

    results = [pages(svc) for svc in services]
    assert all(r == results[0] for r in results[1:])
    assert sum(len(p) for p in results[0]) >= 3  # the filter matches several studies
