"""UID syntax (PS3.5 9.1).

>>> is_valid_uid("1.2.840.10008.1.2.1")
True
>>> is_valid_uid("1.02.3")
False
>>> is_valid_uid("1.2." + "3" * 70)
False
>>> is_valid_uid("")
False
"""

from __future__ import annotations

import re

_UID = re.compile(r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$")


def is_valid_uid(value: str | None) -> bool:
    return bool(value) and len(value or "") <= 64 and bool(_UID.match(value or ""))
