"""The matching engine (PS3.4 C.2.2.2) without I/O: keys → typed conditions."""

from __future__ import annotations

import pytest

from pacs.exceptions import BadRequestError
from pacs.query.engine import Level, build_spec, field_for, parse_condition


def cond(level, keyword, value, **kw):
    return parse_condition(field_for(level, keyword), value, **kw)


def test_universal_matching_for_empty_and_star():
    assert cond(Level.STUDY, "PatientName", "") is None
    assert cond(Level.STUDY, "PatientID", "*") is None
    assert cond(Level.STUDY, "StudyDate", "-") is None


def test_single_value_is_exact_and_case_sensitive_except_person_names():
    c = cond(Level.STUDY, "AccessionNumber", "Acc1")
    assert (c.kind, c.values, c.insensitive) == ("exact", ("Acc1",), False)
    c = cond(Level.STUDY, "PatientName", "DOE^JOHN^^")
    assert (c.kind, c.values, c.insensitive) == ("exact", ("doe^john",), True)


def test_wildcards_escape_sql_metacharacters():
    c = cond(Level.STUDY, "AccessionNumber", "A_1%*?")
    assert c.kind == "wildcard" and c.values == ("A\\_1\\%%_",)


def test_ranges_for_dates_and_times():
    assert cond(Level.STUDY, "StudyDate", "20200101-20201231").values == ("20200101", "20201231")
    assert cond(Level.STUDY, "StudyTime", "0800-").values == ("0800", None)
    with pytest.raises(BadRequestError):
        cond(Level.STUDY, "StudyDate", "2020-01-01")
    with pytest.raises(BadRequestError):
        cond(Level.STUDY, "StudyTime", "25h")


def test_uid_lists_and_validation():
    assert cond(Level.STUDY, "StudyInstanceUID", "1.2.3\\1.2.4").values == ("1.2.3", "1.2.4")
    with pytest.raises(BadRequestError):
        cond(Level.STUDY, "StudyInstanceUID", "1.2.03")


def test_fuzzy_person_name_words():
    c = cond(Level.STUDY, "PatientName", "Jöhn Do", fuzzy=True)
    assert c.kind == "fuzzy" and c.values == ("john", "do")


def test_levels_decide_where_keys_live():
    assert field_for(Level.PATIENT, "PatientName").table == "patients"
    assert field_for(Level.STUDY, "PatientName").table == "studies"
    assert field_for(Level.STUDY, "Modality").table == "series"
    assert field_for(Level.STUDY, "SOPInstanceUID") is None
    assert field_for(Level.IMAGE, "SOPInstanceUID").table == "instances"


def test_build_spec_reports_unmatchable_keys():
    spec, ignored = build_spec(Level.STUDY, {"PatientID": "X", "PatientAge": "040Y"}, limit=5)
    assert [c.field.keyword for c in spec.conditions] == ["PatientID"]
    assert ignored == ["PatientAge"] and spec.limit == 5


def test_integer_keys():
    assert cond(Level.SERIES, "SeriesNumber", "3").values == (3,)
    with pytest.raises(BadRequestError):
        cond(Level.SERIES, "SeriesNumber", "three")
