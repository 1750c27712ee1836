"""DICOM XML: the Native DICOM Model (PS3.19 Annex A.1), to and from a DICOM JSON model object (PS3.18 F.2).

DICOMweb answers DICOM XML where a client asks for it (PS3.18 8.7.3, Table 8.7.3-2). The archive keeps
metadata as DICOM JSON, so XML is made from that model: one ``NativeDicomModel`` document per data set
(:func:`dicom_xml`). STOW-RS takes XML metadata (PS3.18 10.5.1.4), read back into the model by
:func:`parse_dicom_xml`.

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

from pydicom.datadict import dictionary_VR, keyword_for_tag, tag_for_keyword

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


# ---------------------------------------------------------------------------------------------------------
# Native DICOM Model -> DICOM JSON model
# ---------------------------------------------------------------------------------------------------------

_INT_VRS = frozenset({"IS", "SL", "SS", "SV", "UL", "US", "UV"})
_FLOAT_VRS = frozenset({"FL", "FD"})
_NUMBER_VRS = _INT_VRS | _FLOAT_VRS | {"DS", "AT"}


def parse_dicom_xml(data: bytes) -> dict[str, Any]:
    """The DICOM JSON model object of one Native DICOM Model document: the inverse of :func:`dicom_xml`.

    Read as PS3.19 A.1 writes it, and as liberally as the model allows: the namespace may be left out; Values,
    PersonNames and Items go where their ``number`` puts them (the order of the document without one); an
    attribute without ``vr`` takes its dictionary VR; IS, DS and the binary number VRs become JSON numbers
    and an empty one ``null``, an empty string value ``""`` (PS3.18 F.2.3). A Private Data Element sent as
    ``gggg00ee`` with its ``privateCreator`` gets a block back: the block of that creator when the data set
    names it, else the first free one from 10, with the Private Creator element the document leaves out.
    Raises :class:`ValueError` for a document that is not a well-formed Native DICOM Model; a document type
    declaration is refused (no entities, no external references).

    >>> doc = dicom_xml({"00100010": {"vr": "PN", "Value": [{"Alphabetic": "Doe^John"}]},
    ...                  "00091001": {"vr": "LO", "Value": ["v"]}, "00090010": {"vr": "LO", "Value": ["ACME"]},
    ...                  "00281050": {"vr": "DS", "Value": [40, -12.5]}, "00080008": {"vr": "CS", "Value": ["A", ""]}})
    >>> model = parse_dicom_xml(doc)
    >>> model["00100010"], model["00281050"], model["00080008"]
    ({'vr': 'PN', 'Value': [{'Alphabetic': 'Doe^John'}]}, {'vr': 'DS', 'Value': [40, -12.5]}, {'vr': 'CS', 'Value': ['A', '']})
    >>> model["00090010"], model["00091001"]
    ({'vr': 'LO', 'Value': ['ACME']}, {'vr': 'LO', 'Value': ['v']})
    """
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise ValueError("a Native DICOM Model document has no document type declaration or entities")
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise ValueError(f"not well-formed XML: {exc}") from exc
    if _local(root.tag) != "NativeDicomModel":
        raise ValueError(f"the root element is <{_local(root.tag)}>, not <NativeDicomModel> (PS3.19 A.1)")
    return _read_data_set(root)


def _local(name: str) -> str:
    """An element name without its namespace."""
    return name.rpartition("}")[2]


def _read_data_set(parent: ET.Element) -> dict[str, Any]:
    """The DicomAttribute children of a NativeDicomModel or Item; private elements placed in their blocks."""
    out: dict[str, Any] = {}
    pending: list[tuple[str, str, dict[str, Any]]] = []  # (tag gggg00ee or ggggbbee, creator, attribute)
    for node in parent:
        if _local(node.tag) != "DicomAttribute":
            raise ValueError(f"<{_local(node.tag)}> where a <DicomAttribute> belongs")
        tag = _attribute_tag(node)
        attribute = _read_attribute(node, tag)
        creator = node.get("privateCreator")
        if creator and int(tag[:4], 16) % 2 == 1:
            pending.append((tag, creator, attribute))
        else:
            out[tag] = attribute
    for tag, creator, attribute in pending:  # after the explicit Private Creator elements are known
        out[_private_tag(out, tag, creator)] = attribute
    return out


def _attribute_tag(node: ET.Element) -> str:
    """``tag`` as 8 uppercase hexadecimal digits (from ``keyword`` if ``tag`` is missing)."""
    tag = node.get("tag")
    if tag is None and (keyword := node.get("keyword")):
        number = tag_for_keyword(keyword)
        tag = f"{number:08X}" if number is not None else None
    if tag is None or not re.fullmatch(r"[0-9A-Fa-f]{8}", tag):
        raise ValueError(f"DicomAttribute tag {tag!r} is not 8 hexadecimal digits")
    return tag.upper()


def _private_tag(model: dict[str, Any], tag: str, creator: str) -> str:
    """The full tag of private element ``tag`` of ``creator``: its block reserved in ``model`` if need be."""
    group = tag[:4]
    if tag[4:6] != "00":  # the block was sent: keep it, and name its creator
        model.setdefault(f"{group}00{tag[4:6]}", {"vr": "LO", "Value": [creator]})
        return tag
    free = None
    for block in range(0x10, 0x100):
        held = model.get(f"{group}00{block:02X}")
        if held is None:
            free = block if free is None else free
        elif (held.get("Value") or [None])[0] == creator:
            return f"{group}{block:02X}{tag[6:]}"
    if free is None:
        raise ValueError(f"no free private block in group {group} for creator {creator!r}")
    model[f"{group}00{free:02X}"] = {"vr": "LO", "Value": [creator]}
    return f"{group}{free:02X}{tag[6:]}"


def _read_attribute(node: ET.Element, tag: str) -> dict[str, Any]:
    """One DicomAttribute: its Values, PersonNames, Items, BulkData or InlineBinary."""
    vr = node.get("vr") or _dictionary_vr(tag)
    attribute: dict[str, Any] = {"vr": vr}
    values: dict[int, Any] = {}
    for child in node:
        kind = _local(child.tag)
        if kind == "BulkData":
            uri = child.get("uri") or (f"urn:uuid:{child.get('uuid')}" if child.get("uuid") else None)
            if not uri:
                raise ValueError(f"BulkData of {tag} has no uri")
            attribute["BulkDataURI"] = uri
        elif kind == "InlineBinary":
            attribute["InlineBinary"] = "".join((child.text or "").split())
        elif kind in ("Value", "PersonName", "Item"):
            number = _number(child, len(values) + 1)
            if kind == "Item":
                values[number] = _read_data_set(child)
            elif kind == "PersonName":
                values[number] = _read_person_name(child)
            else:
                values[number] = _read_value(vr, child.text)
        else:
            raise ValueError(f"<{kind}> in DicomAttribute {tag}")
    if values:
        attribute["Value"] = [values.get(n) for n in range(1, max(values) + 1)]
    return attribute


def _dictionary_vr(tag: str) -> str:
    try:
        return str(dictionary_VR(int(tag, 16))).split(" ")[0]
    except KeyError:
        return "UN"


def _number(node: ET.Element, default: int) -> int:
    """The 1-based ``number`` of a Value, PersonName or Item."""
    raw = node.get("number")
    if raw is None:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= 1 << 20:
        raise ValueError(f"number={raw!r} is not a positive integer")
    return int(raw)


def _read_person_name(node: ET.Element) -> dict[str, str]:
    """``PersonName`` -> ``{"Alphabetic": "Family^Given^Middle^Prefix^Suffix", ...}``, trailing ``^`` cut."""
    out: dict[str, str] = {}
    for group in node:
        name = _local(group.tag)
        if name not in _PN_GROUPS:
            raise ValueError(f"<{name}> in PersonName")
        components = {_local(c.tag): c.text or "" for c in group}
        out[name] = "^".join(components.get(c, "") for c in _PN_COMPONENTS).rstrip("^")
    return out


def _read_value(vr: str, text: str | None) -> Any:
    """A Value's JSON form: numbers for the number VRs (the text kept if it is not one), AT as written."""
    if text is None or text == "":
        return None if vr in _NUMBER_VRS else ""
    if vr in _INT_VRS or (vr == "DS" and re.fullmatch(r"\s*[-+]?\d+\s*", text)):
        try:
            return int(text)
        except ValueError:
            return text
    if vr in _FLOAT_VRS or vr == "DS":
        try:
            return float(text)
        except ValueError:
            return text
    return text
