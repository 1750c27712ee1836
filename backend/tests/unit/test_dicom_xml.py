"""The Native DICOM Model encoder (PS3.19 Annex A.1) on DICOM JSON model objects, without I/O."""

from __future__ import annotations

from typing import Any
from xml.etree import ElementTree as ET

import pytest
from lxml import etree

from pacs.dicom.xml import dicom_xml

NS = "http://dicom.nema.org/PS3.19/models/NativeDICOM"
Q = f"{{{NS}}}"

# fmt: off
VRS = (
    "AE", "AS", "AT", "CS", "DA", "DS", "DT", "FL", "FD", "IS", "LO", "LT", "OB", "OD", "OF", "OL", "OV",
    "OW", "PN", "SH", "SL", "SQ", "SS", "ST", "SV", "TM", "UC", "UI", "UL", "UN", "UR", "US", "UT", "UV",
)
# fmt: on
VR_CHOICES = "".join(f"<value>{vr}</value>" for vr in VRS)
# PS3.19 A.1.6, the normative schema (compact syntax there), written out in RELAX NG's XML syntax for lxml.
# One addition: the xml:space="preserve" that A.1.5 requires on the root, which the compact schema omits.
SCHEMA = f"""\
<grammar xmlns="http://relaxng.org/ns/structure/1.0" ns="{NS}"
         datatypeLibrary="http://www.w3.org/2001/XMLSchema-datatypes">
  <start>
    <element name="NativeDicomModel">
      <attribute name="xml:space" ns="http://www.w3.org/XML/1998/namespace"><value>preserve</value></attribute>
      <ref name="DicomDataSet"/>
    </element>
  </start>
  <define name="DicomDataSet"><zeroOrMore><ref name="DicomAttribute"/></zeroOrMore></define>
  <define name="DicomAttribute">
    <element name="DicomAttribute">
      <ref name="Tag"/><ref name="VR"/>
      <optional><ref name="Keyword"/></optional>
      <optional><ref name="PrivateCreator"/></optional>
      <optional>
        <choice>
          <ref name="BulkData"/>
          <oneOrMore><ref name="Value"/></oneOrMore>
          <oneOrMore><ref name="Item"/></oneOrMore>
          <oneOrMore><ref name="PersonName"/></oneOrMore>
          <ref name="InlineBinary"/>
        </choice>
      </optional>
    </element>
  </define>
  <define name="BulkData">
    <element name="BulkData"><choice><ref name="UUID"/><ref name="URI"/></choice></element>
  </define>
  <define name="Value"><element name="Value"><ref name="Number"/><data type="string"/></element></define>
  <define name="InlineBinary"><element name="InlineBinary"><data type="base64Binary"/></element></define>
  <define name="Item"><element name="Item"><ref name="Number"/><ref name="DicomDataSet"/></element></define>
  <define name="PersonName">
    <element name="PersonName">
      <ref name="Number"/>
      <optional><element name="Alphabetic"><ref name="NameComponents"/></element></optional>
      <optional><element name="Ideographic"><ref name="NameComponents"/></element></optional>
      <optional><element name="Phonetic"><ref name="NameComponents"/></element></optional>
    </element>
  </define>
  <define name="NameComponents">
    <optional><element name="FamilyName"><data type="string"/></element></optional>
    <optional><element name="GivenName"><data type="string"/></element></optional>
    <optional><element name="MiddleName"><data type="string"/></element></optional>
    <optional><element name="NamePrefix"><data type="string"/></element></optional>
    <optional><element name="NameSuffix"><data type="string"/></element></optional>
  </define>
  <define name="Keyword"><attribute name="keyword"><data type="token"/></attribute></define>
  <define name="Tag">
    <attribute name="tag">
      <data type="string">
        <param name="minLength">8</param><param name="maxLength">8</param><param name="pattern">[0-9A-F]{{8}}</param>
      </data>
    </attribute>
  </define>
  <define name="VR">
    <attribute name="vr">
      <choice>
        {VR_CHOICES}
      </choice>
    </attribute>
  </define>
  <define name="PrivateCreator"><attribute name="privateCreator"><data type="string"/></attribute></define>
  <define name="UUID"><attribute name="uuid"><data type="string"/></attribute></define>
  <define name="URI"><attribute name="uri"><data type="anyURI"/></attribute></define>
  <define name="Number"><attribute name="number"><data type="positiveInteger"/></attribute></define>
</grammar>
"""
RELAX_NG = etree.RelaxNG(etree.fromstring(SCHEMA.encode()))


def _doc(model: dict[str, Any]) -> ET.Element:
    """Encode, check the document against the PS3.19 schema, and parse it."""
    data = dicom_xml(model)
    doc = etree.fromstring(data)
    assert RELAX_NG.validate(doc), RELAX_NG.error_log
    return ET.fromstring(data)


def _attr(root: ET.Element, tag: str) -> ET.Element:
    [el] = root.findall(f"{Q}DicomAttribute[@tag='{tag}']")
    return el


def _shape(el: ET.Element) -> Any:
    """An element as (name, XML attributes, text, children), without the namespace, to compare whole trees."""
    name = el.tag.removeprefix(Q)
    return (name, dict(el.attrib), el.text, [_shape(c) for c in el])


def test_document_declaration_root_and_encoding():
    data = dicom_xml({"00100010": {"vr": "PN", "Value": [{"Alphabetic": "Müller^Jürgen"}]}})
    assert data.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    assert "Müller".encode() in data  # UTF-8 bytes, not character references
    root = _doc({})
    assert root.tag == f"{Q}NativeDicomModel"
    assert root.attrib == {"{http://www.w3.org/XML/1998/namespace}space": "preserve"}
    assert list(root) == []


def test_person_name_with_three_component_groups():
    root = _doc(
        {
            "00100010": {
                "vr": "PN",
                "Value": [
                    {"Alphabetic": "Yamada^Tarou", "Ideographic": "山田^太郎", "Phonetic": "やまだ^たろう"},
                    {"Alphabetic": "Doe^John^Quincy^Dr.^Jr."},
                    {"Alphabetic": "Smith^^^Mr."},
                    {"Ideographic": "山田"},
                ],
            }
        }
    )
    pn = _attr(root, "00100010")
    assert pn.attrib == {"tag": "00100010", "vr": "PN", "keyword": "PatientName"}

    def comps(*pairs: tuple[str, str]) -> list[Any]:
        return [(name, {}, text, []) for name, text in pairs]

    assert [_shape(p) for p in pn] == [
        (
            "PersonName",
            {"number": "1"},
            None,
            [
                ("Alphabetic", {}, None, comps(("FamilyName", "Yamada"), ("GivenName", "Tarou"))),
                ("Ideographic", {}, None, comps(("FamilyName", "山田"), ("GivenName", "太郎"))),
                ("Phonetic", {}, None, comps(("FamilyName", "やまだ"), ("GivenName", "たろう"))),
            ],
        ),
        (
            "PersonName",
            {"number": "2"},
            None,
            [
                (
                    "Alphabetic",
                    {},
                    None,
                    comps(
                        ("FamilyName", "Doe"),
                        ("GivenName", "John"),
                        ("MiddleName", "Quincy"),
                        ("NamePrefix", "Dr."),
                        ("NameSuffix", "Jr."),
                    ),
                )
            ],
        ),
        # empty components are left out: the element names say which component each one is
        (
            "PersonName",
            {"number": "3"},
            None,
            [("Alphabetic", {}, None, comps(("FamilyName", "Smith"), ("NamePrefix", "Mr.")))],
        ),
        ("PersonName", {"number": "4"}, None, [("Ideographic", {}, None, comps(("FamilyName", "山田")))]),
    ]


def test_sequence_items_nest_data_sets():
    code = {"00080100": {"vr": "SH", "Value": ["T-A0100"]}, "00080104": {"vr": "LO", "Value": ["Brain"]}}
    root = _doc(
        {
            "00082218": {
                "vr": "SQ",
                "Value": [
                    {
                        **code,
                        "00082228": {"vr": "SQ", "Value": [{"00080100": {"vr": "SH", "Value": ["G-A101"]}}]},
                    },
                    {},
                ],
            }
        }
    )
    seq = _attr(root, "00082218")
    assert seq.get("keyword") == "AnatomicRegionSequence"
    items = list(seq)
    assert [(i.tag, i.get("number")) for i in items] == [(f"{Q}Item", "1"), (f"{Q}Item", "2")]
    assert [a.get("keyword") for a in items[0]] == [
        "CodeValue",
        "CodeMeaning",
        "PrimaryAnatomicStructureSequence",
    ]
    assert _attr(items[0], "00080104").find(f"{Q}Value").text == "Brain"
    [nested] = list(_attr(items[0], "00082228"))
    assert nested.get("number") == "1"
    assert _attr(nested, "00080100").find(f"{Q}Value").text == "G-A101"
    assert list(items[1]) == []  # an empty item is an Item without attributes


@pytest.mark.parametrize(
    "attribute",
    [{"vr": "LO"}, {"vr": "LO", "Value": []}, {"vr": "SQ", "Value": []}, {"vr": "PN"}, {"vr": "OB"}],
)
def test_an_attribute_without_a_value_has_no_child(attribute):
    root = _doc({"00081030": attribute})
    el = _attr(root, "00081030")
    assert el.get("vr") == attribute["vr"] and el.get("keyword") == "StudyDescription"
    assert list(el) == [] and not el.text


def test_inline_binary_and_bulk_data():
    uri = "http://pacs.example/dicom-web/studies/1.2/series/1.3/instances/1.4/bulkdata/7FE00010"
    root = _doc(
        {
            "00283006": {"vr": "OW", "InlineBinary": "AAECAwQF"},
            "7FE00010": {"vr": "OB", "BulkDataURI": uri},
        }
    )
    assert [_shape(c) for c in _attr(root, "00283006")] == [("InlineBinary", {}, "AAECAwQF", [])]
    assert [_shape(c) for c in _attr(root, "7FE00010")] == [("BulkData", {"uri": uri}, None, [])]
    assert _attr(root, "7FE00010").get("keyword") == "PixelData"


def test_attribute_tags_and_numbers_as_text():
    root = _doc(
        {
            "00209165": {"vr": "AT", "Value": ["0020000d", "00209056"]},
            "00280009": {"vr": "AT", "Value": [0x00181063]},
            "00280010": {"vr": "US", "Value": [512]},
            "00281050": {"vr": "DS", "Value": [40, -12.5]},
            "00200013": {"vr": "IS", "Value": [0]},
            "00189087": {"vr": "FD", "Value": [1000.0, 0.000125]},
        }
    )

    def values(tag: str) -> list[tuple[str | None, str | None]]:
        return [(v.get("number"), v.text) for v in _attr(root, tag)]

    assert values("00209165") == [("1", "0020000D"), ("2", "00209056")]
    assert values("00280009") == [("1", "00181063")]
    assert values("00280010") == [("1", "512")]
    assert values("00281050") == [("1", "40"), ("2", "-12.5")]
    assert values("00200013") == [("1", "0")]  # zero is a value, not an empty one
    assert [float(t) for _, t in values("00189087")] == [1000.0, 0.000125]


def test_empty_values_in_a_multi_valued_attribute():
    """PS3.19 A.1.5: "MPG\\\\XR3" is three Values, the second one empty."""
    root = _doc({"00080008": {"vr": "CS", "Value": ["MPG", "", "XR3", None]}})
    assert [(v.get("number"), v.text) for v in _attr(root, "00080008")] == [
        ("1", "MPG"),
        ("2", None),
        ("3", "XR3"),
        ("4", None),
    ]


def test_non_ascii_and_line_breaks_survive():
    root = _doc(
        {
            "00081030": {"vr": "LO", "Value": ["Schädel nativ <axial> & koronar"]},
            "00204000": {"vr": "LT", "Value": ["line one\r\nline two\tend"]},
            "00100010": {"vr": "PN", "Value": [{"Alphabetic": "Müller^Jürgen"}]},
        }
    )
    assert _attr(root, "00081030").find(f"{Q}Value").text == "Schädel nativ <axial> & koronar"
    assert _attr(root, "00204000").find(f"{Q}Value").text == "line one\r\nline two\tend"
    alphabetic = _attr(root, "00100010").find(f"{Q}PersonName/{Q}Alphabetic")
    assert [c.text for c in alphabetic] == ["Müller", "Jürgen"]


def test_characters_xml_cannot_carry_are_replaced():
    root = _doc({"00204000": {"vr": "LT", "Value": ["form\x0cfeed\x00"]}})
    assert _attr(root, "00204000").find(f"{Q}Value").text == "form\ufffdfeed\ufffd"


def test_private_elements_name_their_creator_and_group_lengths_are_left_out():
    root = _doc(
        {
            "00080000": {"vr": "UL", "Value": [42]},
            "00090010": {"vr": "LO", "Value": ["ACME 1.1"]},
            "00091001": {"vr": "LO", "Value": ["vendor value"]},
            "00091102": {"vr": "DS", "Value": [1.5]},  # block 11 has no creator in this data set
            "00100020": {"vr": "LO", "Value": ["MRN-1"]},
        }
    )
    assert [dict(a.attrib) for a in root] == [
        # (0009,1001) in block 10 of "ACME 1.1": tag gggg00ee, the block is not sent (PS3.19 A.1.5)
        {"tag": "00090001", "vr": "LO", "privateCreator": "ACME 1.1"},
        {"tag": "00091102", "vr": "DS"},
        {"tag": "00100020", "vr": "LO", "keyword": "PatientID"},
    ]
    assert root[0].find(f"{Q}Value").text == "vendor value"


def test_attributes_come_in_tag_order_with_repeating_group_keywords():
    root = _doc(
        {
            "60023000": {"vr": "OW", "BulkDataURI": "http://h/b"},
            "00100010": {"vr": "PN", "Value": [{"Alphabetic": "A"}]},
            "00080060": {"vr": "CS", "Value": ["CT"]},
        }
    )
    assert [(a.get("tag"), a.get("keyword")) for a in root] == [
        ("00080060", "Modality"),
        ("00100010", "PatientName"),
        ("60023000", "OverlayData"),
    ]


def test_store_instances_response_model():
    """The STOW-RS response model (PS3.18 10.5.3) as the server builds it, failure reason and text included."""
    from pacs.dicomweb.stow import store_response
    from pacs.ingest import StoreOutcome

    ok = StoreOutcome("1.2.840.10008.5.1.4.1.1.2", "1.2.3", "1.2.4", "1.2.5")
    bad = StoreOutcome("", "", failure_status=0xC000, detail="part 2: not DICOM")
    status, body = store_response([ok, bad], "http://h/dicom-web", None)
    root = _doc(body)
    assert status == 202
    assert [a.get("keyword") for a in root] == ["RetrieveURL", "FailedSOPSequence", "ReferencedSOPSequence"]
    [failed] = list(_attr(root, "00081198"))
    assert _attr(failed, "00081197").find(f"{Q}Value").text == str(0xC000)
    assert list(_attr(failed, "00081155")) == []  # no SOP Instance UID: an empty attribute
    assert _attr(failed, "0040A160").find(f"{Q}Value").text == "part 2: not DICOM"
    [stored] = list(_attr(root, "00081199"))
    assert _attr(stored, "00081155").find(f"{Q}Value").text == "1.2.3"
