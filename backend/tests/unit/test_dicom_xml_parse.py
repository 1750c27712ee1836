"""The Native DICOM Model decoder (PS3.19 A.1 -> PS3.18 F.2), the inverse of the encoder, without I/O."""

from __future__ import annotations

from typing import Any

import pytest

from pacs.dicom.xml import dicom_xml, parse_dicom_xml

NS = "http://dicom.nema.org/PS3.19/models/NativeDICOM"

#: everything the encoder writes: each kind of value, empty ones, nesting, bulk data, private elements
MODEL: dict[str, Any] = {
    "00080005": {"vr": "CS", "Value": ["ISO_IR 192"]},
    "00080008": {"vr": "CS", "Value": ["ORIGINAL", "", "AXIAL"]},
    "00080050": {"vr": "SH"},
    "00081030": {"vr": "LO", "Value": ["Schädel <axial> & koronar"]},
    "00081110": {
        "vr": "SQ",
        "Value": [
            {"00081150": {"vr": "UI", "Value": ["1.2.3"]}, "00081155": {"vr": "UI", "Value": ["1.2.3.4"]}},
            {},
            {"00400275": {"vr": "SQ", "Value": [{"00321060": {"vr": "LO", "Value": ["nested"]}}]}},
        ],
    },
    "00090010": {"vr": "LO", "Value": ["ACME 1.1"]},
    "00090011": {"vr": "LO", "Value": ["OTHER"]},
    "00091001": {"vr": "LO", "Value": ["acme value"]},
    "00091110": {"vr": "DS", "Value": [2.5]},
    "00100010": {
        "vr": "PN",
        "Value": [
            {"Alphabetic": "Yamada^Tarou", "Ideographic": "山田^太郎", "Phonetic": "やまだ^たろう"},
            {"Alphabetic": "Doe^^Q^Dr.^Jr"},
        ],
    },
    "00101010": {"vr": "AS", "Value": ["045Y"]},
    "00189087": {"vr": "FD", "Value": [1000.0, 0.000125]},
    "00200013": {"vr": "IS", "Value": [0]},
    "00209165": {"vr": "AT", "Value": ["0020000D", "00209056"]},
    "00204000": {"vr": "LT", "Value": ["line one\r\nline two\tend"]},
    "00280010": {"vr": "US", "Value": [512]},
    "00281050": {"vr": "DS", "Value": [40, -12.5]},
    "00283006": {"vr": "OW", "InlineBinary": "AAECAwQF"},
    "00286120": {"vr": "SS", "Value": [-3, None, 7]},
    "7FE00010": {"vr": "OB", "BulkDataURI": "http://pacs.example/bulk/7FE00010"},
}


def test_the_decoder_inverts_the_encoder():
    assert parse_dicom_xml(dicom_xml(MODEL)) == MODEL


def test_values_person_names_and_items_go_where_their_number_puts_them():
    doc = f"""<?xml version="1.0"?>
    <NativeDicomModel xmlns="{NS}">
      <DicomAttribute tag="00080008" vr="CS">
        <Value number="3">C</Value>
        <Value number="1">A</Value>
      </DicomAttribute>
      <DicomAttribute tag="00100010" vr="PN">
        <PersonName number="1">
          <Alphabetic><GivenName>John</GivenName><FamilyName>Doe</FamilyName></Alphabetic>
        </PersonName>
      </DicomAttribute>
    </NativeDicomModel>""".encode()
    model = parse_dicom_xml(doc)
    assert model["00080008"] == {"vr": "CS", "Value": ["A", None, "C"]}
    assert model["00100010"] == {"vr": "PN", "Value": [{"Alphabetic": "Doe^John"}]}


def test_no_namespace_no_vr_and_keyword_without_tag():
    doc = b"""<NativeDicomModel>
      <DicomAttribute tag="00280011"><Value number="1">256</Value></DicomAttribute>
      <DicomAttribute keyword="Modality" vr="CS"><Value number="1">MR</Value></DicomAttribute>
      <DicomAttribute tag="00091002" vr="UN"><InlineBinary>AA
      EC</InlineBinary></DicomAttribute>
    </NativeDicomModel>"""
    assert parse_dicom_xml(doc) == {
        "00280011": {"vr": "US", "Value": [256]},  # the dictionary VR
        "00080060": {"vr": "CS", "Value": ["MR"]},
        "00091002": {"vr": "UN", "InlineBinary": "AAEC"},  # base64 without its line breaks
    }


def test_private_elements_get_their_creator_block_back():
    doc = f"""<NativeDicomModel xmlns="{NS}">
      <DicomAttribute tag="00290001" vr="LO" privateCreator="ACME"><Value number="1">a</Value></DicomAttribute>
      <DicomAttribute tag="00290002" vr="LO" privateCreator="OTHER"><Value number="1">b</Value></DicomAttribute>
      <DicomAttribute tag="00290003" vr="LO" privateCreator="ACME"><Value number="1">c</Value></DicomAttribute>
      <DicomAttribute tag="00290010" vr="LO"><Value number="1">OTHER</Value></DicomAttribute>
      <DicomAttribute tag="00291201" vr="LO" privateCreator="SENT"><Value number="1">d</Value></DicomAttribute>
    </NativeDicomModel>""".encode()
    model = parse_dicom_xml(doc)
    assert model == {
        "00290010": {"vr": "LO", "Value": ["OTHER"]},  # named in the document: its block is OTHER's
        "00291002": {"vr": "LO", "Value": ["b"]},
        "00290011": {"vr": "LO", "Value": ["ACME"]},  # the first free block
        "00291101": {"vr": "LO", "Value": ["a"]},
        "00291103": {"vr": "LO", "Value": ["c"]},
        "00290012": {"vr": "LO", "Value": ["SENT"]},  # a block sent in the tag is kept
        "00291201": {"vr": "LO", "Value": ["d"]},
    }


def test_numbers_that_are_not_numbers_are_kept_as_text():
    doc = f"""<NativeDicomModel xmlns="{NS}">
      <DicomAttribute tag="00281050" vr="DS"><Value number="1">1.50</Value><Value number="2">n/a</Value></DicomAttribute>
    </NativeDicomModel>""".encode()
    assert parse_dicom_xml(doc)["00281050"]["Value"] == [1.5, "n/a"]


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        (b"<NativeDicomModel><DicomAttribute tag=", "not well-formed"),
        (b"<Dataset/>", "root element"),
        (b'<!DOCTYPE x [<!ENTITY a "aaaa">]><NativeDicomModel/>', "document type"),
        (b'<NativeDicomModel><DicomAttribute tag="0010" vr="PN"/></NativeDicomModel>', "8 hexadecimal"),
        (
            b'<NativeDicomModel><DicomAttribute tag="00100010" vr="PN"><Foo/></DicomAttribute></NativeDicomModel>',
            "Foo",
        ),
        (b'<NativeDicomModel><Value number="1">x</Value></NativeDicomModel>', "DicomAttribute"),
        (
            b'<NativeDicomModel><DicomAttribute tag="00080060" vr="CS"><Value number="0">x</Value>'
            b"</DicomAttribute></NativeDicomModel>",
            "positive integer",
        ),
    ],
)
def test_what_is_not_a_native_dicom_model_is_a_value_error(doc, message):
    with pytest.raises(ValueError, match=message):
        parse_dicom_xml(doc)
