"""DICOM XML: the Native DICOM Model (PS3.19 Annex A.1), made from a DICOM JSON model object (PS3.18 F.2).

DICOMweb answers DICOM XML where a client asks for it (PS3.18 8.7.3, Table 8.7.3-2). The archive keeps
metadata as DICOM JSON, so XML is made from that model: one ``NativeDicomModel`` document per data set.

As PS3.19 A.1.5 and A.1.6 say:

- the root is ``<NativeDicomModel xmlns="http://dicom.nema.org/PS3.19/models/NativeDICOM"
  xml:space="preserve">``, and data sets nest in ``<Item number="n">`` for a sequence's items;
- each attribute is a ``<DicomAttribute tag vr keyword>``; one without a value has no child;
- Group Length (gggg,0000) attributes are left out;
- a Private Data Element (gggg,xxee) is written as tag ``gggg00ee`` with the ``privateCreator`` of its
  block, and the Private Creator elements (gggg,0010-00FF) themselves are not written (the block number is
  not sent); a private element whose creator is not in its data set keeps its tag and has no
  ``privateCreator``;
- a value is ``<Value number="n">`` (an empty one, ``""`` or ``null`` in JSON, has no text), a person name
  is ``<PersonName number="n">`` holding an ``Alphabetic``, ``Ideographic`` and ``Phonetic`` group with
  the ``FamilyName``, ``GivenName``, ``MiddleName``, ``NamePrefix`` and ``NameSuffix`` components each has,
  a BulkDataURI is ``<BulkData uri="..."/>`` and an InlineBinary ``<InlineBinary>``;
- AT values are the tag as 8 uppercase hexadecimal digits.

XML 1.0 cannot carry the control characters other than TAB, LF and CR: a value holding one gets U+FFFD in
its place. CR is written as ``&#13;`` so that XML line-end handling does not turn DICOM's CR LF into LF.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from xml.etree import ElementTree as ET

from pydicom.datadict import keyword_for_tag

NAMESPACE = "http://dicom.nema.org/PS3.19/models/NativeDICOM"
XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n'
_XML_SPACE = "{http://www.w3.org/XML/1998/namespace}space"
_PN_GROUPS = ("Alphabetic", "Ideographic", "Phonetic")
_PN_COMPONENTS = ("FamilyName", "GivenName", "MiddleName", "NamePrefix", "NameSuffix")
#: characters XML 1.0 cannot carry, even as character references
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def dicom_xml(model: Mapping[str, Any]) -> bytes:
    """The Native DICOM Model document (UTF-8, with its XML declaration) for one DICOM JSON model object.

    >>> doc = dicom_xml({"00100010": {"vr": "PN", "Value": [{"Alphabetic": "Doe^John"}]},
    ...                  "00200013": {"vr": "IS", "Value": [7]}, "00080050": {"vr": "SH"}})
    >>> print(doc.decode().replace("><", ">\\n<"))
    <?xml version="1.0" encoding="UTF-8"?>
    <NativeDicomModel xmlns="http://dicom.nema.org/PS3.19/models/NativeDICOM" xml:space="preserve">
    <DicomAttribute tag="00080050" vr="SH" keyword="AccessionNumber" />
    <DicomAttribute tag="00100010" vr="PN" keyword="PatientName">
    <PersonName number="1">
    <Alphabetic>
    <FamilyName>Doe</FamilyName>
    <GivenName>John</GivenName>
    </Alphabetic>
    </PersonName>
    </DicomAttribute>
    <DicomAttribute tag="00200013" vr="IS" keyword="InstanceNumber">
    <Value number="1">7</Value>
    </DicomAttribute>
    </NativeDicomModel>
    """
    root = ET.Element("NativeDicomModel", {"xmlns": NAMESPACE, _XML_SPACE: "preserve"})
    _add_data_set(root, model)
    # ElementTree escapes CR in attributes but not in text: every CR left in its output is in a text node.
    text = ET.tostring(root, encoding="unicode").replace("\r", "&#13;")
    return (XML_DECLARATION + text).encode("utf-8")


def _add_data_set(parent: ET.Element, model: Mapping[str, Any]) -> None:
    """Append one DicomAttribute per attribute of ``model`` to ``parent``, in tag order (PS3.5 7.1)."""
    for tag in sorted(model, key=str.upper):
        attribute = model[tag]
        group, element = int(tag[:4], 16), int(tag[4:], 16)
        if element == 0 or (group % 2 == 1 and 0x10 <= element <= 0xFF):
            continue  # Group Length and Private Creator: not written (PS3.19 A.1.5)
        _add_attribute(parent, tag.upper(), attribute, _private_creator(model, group, element))


def _private_creator(model: Mapping[str, Any], group: int, element: int) -> str | None:
    """The Private Creator of a Private Data Element (gggg,xxee), read from (gggg,00xx) of its data set."""
    if group % 2 == 0 or element < 0x1000:
        return None
    creator = model.get(f"{group:04X}00{element >> 8:02X}") or model.get(f"{group:04x}00{element >> 8:02x}")
    values = (creator or {}).get("Value") or [None]
    return values[0] if isinstance(values[0], str) and values[0] else None


def _add_attribute(parent: ET.Element, tag: str, attribute: Mapping[str, Any], creator: str | None) -> None:
    """One ``DicomAttribute`` with its Values, PersonNames, Items, BulkData or InlineBinary."""
    vr = str(attribute.get("vr", "UN"))
    attrs = {"tag": tag, "vr": vr}
    if creator is not None:
        attrs["tag"] = tag[:4] + "00" + tag[6:]  # gggg00ee: the block is not sent
        attrs["privateCreator"] = creator
    elif keyword := keyword_for_tag(int(tag, 16)):
        attrs["keyword"] = keyword
    node = ET.SubElement(parent, "DicomAttribute", attrs)
    if "BulkDataURI" in attribute:
        ET.SubElement(node, "BulkData", {"uri": _text(attribute["BulkDataURI"])})
    elif "InlineBinary" in attribute:
        ET.SubElement(node, "InlineBinary").text = _text(attribute["InlineBinary"])
    for number, value in enumerate(attribute.get("Value") or (), start=1):
        if vr == "SQ":
            item = ET.SubElement(node, "Item", {"number": str(number)})
            _add_data_set(item, value or {})
        elif vr == "PN":
            _add_person_name(node, number, value)
        else:
            ET.SubElement(node, "Value", {"number": str(number)}).text = _value_text(vr, value)


def _add_person_name(parent: ET.Element, number: int, value: Mapping[str, str] | str | None) -> None:
    """``PersonName``: each non-empty component group, each split at ``^`` into its non-empty components."""
    node = ET.SubElement(parent, "PersonName", {"number": str(number)})
    groups = {"Alphabetic": value} if isinstance(value, str) else (value or {})
    for name in _PN_GROUPS:
        if not groups.get(name):
            continue
        group = ET.SubElement(node, name)
        # maxsplit: a sixth component (not valid DICOM) stays in NameSuffix with its caret, nothing is lost
        for component, text in zip(_PN_COMPONENTS, groups[name].split("^", 4), strict=False):
            if text:
                ET.SubElement(group, component).text = _text(text)


def _value_text(vr: str, value: Any) -> str | None:
    """A Value's text: None (an empty element) for an empty value, AT as ``GGGGEEEE``, numbers as written."""
    if value is None or value == "":
        return None
    if vr == "AT":
        return f"{value:08X}" if isinstance(value, int) else str(value).upper()
    return _text(str(value))


def _text(value: str) -> str:
    return _NOT_XML.sub("\ufffd", value)
