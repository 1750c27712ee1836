"""Text folding for case- and accent-insensitive matching.

>>> fold("Müller^Zoë")
'muller^zoe'
>>> fold("  O'BRIEN^Seán  ")
"o'brien^sean"
>>> fold("")
''
"""

from __future__ import annotations

import unicodedata


def fold(value: str | None) -> str:
    """Lower-case, strip accents and surrounding blanks: the form stored in ``*_norm`` columns."""
    if not value:
        return ""
    decomposed = unicodedata.normalize("NFKD", value.strip())
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()
