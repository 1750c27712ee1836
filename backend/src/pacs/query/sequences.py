"""Sequence Matching (PS3.4 C.2.2.2.6) of QIDO-RS keys written as attribute paths (PS3.18 8.3.4.1).

A match key ``00400275.00400009=SPS-1`` (or ``RequestAttributesSequence.ScheduledProcedureStepID=SPS-1``)
matches an entity when at least one item of its Request Attributes Sequence has a Scheduled Procedure Step ID
that matches ``SPS-1``; PS3.18 Table 10.6.1-5 requires it for Request Attributes Sequence > Scheduled
Procedure Step ID and > Requested Procedure ID at the series level. The index keeps each level's sequences
in its DICOM JSON ``attrs`` (and an instance's whole data set in ``metadata``), so the match is made here, on
the rows the SQL conditions selected.

>>> m = SequenceKey(("RequestAttributesSequence", "ScheduledProcedureStepID"), "SPS*")
>>> attrs = {"00400275": {"vr": "SQ", "Value": [{"00400009": {"vr": "SH", "Value": ["SPS-7"]}}]}}
>>> m.matches([attrs]), SequenceKey(m.path, "XX").matches([attrs]), SequenceKey(m.path, "").matches([{}])
(True, False, True)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pydicom.datadict import dictionary_VR, tag_for_keyword

from pacs.dicom.text import fold


def _tag(keyword: str) -> str:
    tag = tag_for_keyword(keyword)
    return f"{tag:08X}" if tag is not None else keyword.upper()


def _vr(keyword: str) -> str:
    try:
        return str(dictionary_VR(keyword))
    except KeyError:
        return "UN"


def _text(value: Any) -> str:
    if isinstance(value, dict):  # PN: {"Alphabetic": ..., "Ideographic": ..., "Phonetic": ...}
        return "=".join(value.get(k, "") for k in ("Alphabetic", "Ideographic", "Phonetic")).rstrip("=")
    return str(value)


@dataclass(frozen=True)
class SequenceKey:
    """One key: the path of keywords (each but the last a sequence) and the value to match."""

    path: tuple[str, ...]
    value: str

    def matches(self, sources: list[dict[str, Any]]) -> bool:
        """Whether an entity whose DICOM JSON is spread over ``sources`` (first holding it wins) matches."""
        value = self.value.strip()
        if value in ("", "*"):
            return True  # universal matching: every entity
        for attrs in sources:
            if _tag(self.path[0]) in attrs:
                return self._match(attrs, self.path, value)
        return False

    def _match(self, attrs: dict[str, Any], path: tuple[str, ...], value: str) -> bool:
        element = attrs.get(_tag(path[0]))
        if not element:
            return False
        values = element.get("Value") or []
        if len(path) > 1:  # a sequence: any item may match (PS3.4 C.2.2.2.6)
            return any(isinstance(item, dict) and self._match(item, path[1:], value) for item in values)
        return any(_value_matches(_vr(path[0]), _text(v), value) for v in values)


def _value_matches(vr: str, stored: str, key: str) -> bool:
    """Single Value, List of UID, Wild Card and Range Matching of one value (PS3.4 C.2.2.2.1-5)."""
    if vr == "UI":
        return stored in {u.strip() for u in re.split(r"[\\,]", key) if u.strip()}
    if vr in ("DA", "TM", "DT") and "-" in key:
        lo, _, hi = key.partition("-")
        return (not lo or stored >= lo.strip()) and (not hi or stored <= hi.strip() + "~")
    candidates = [k for k in key.split("\\") if k]
    if vr == "PN":  # case- and accent-insensitive, as PN matching is elsewhere
        stored, candidates = fold(stored), [fold(k) for k in candidates]
    for k in candidates:
        if "*" in k or "?" in k:
            pattern = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in k)
            if re.fullmatch(pattern, stored, flags=re.DOTALL):
                return True
        elif stored == k:
            return True
    return False


def parse_path(name: str, keyword_of: Any) -> tuple[str, ...] | None:
    """``"00400275.00400009"`` or ``"RequestAttributesSequence.ScheduledProcedureStepID"`` -> keywords; None if
    a component is not a DICOM attribute or a component but the last is not a sequence."""
    path = tuple(keyword_of(part) for part in name.split("."))
    if any(kw is None for kw in path):
        return None
    if any(_vr(kw) != "SQ" for kw in path[:-1]):
        return None
    return path


__all__ = ["SequenceKey", "parse_path"]
