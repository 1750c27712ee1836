"""One matching engine (PS3.4 C.2.2.2) shared by QIDO-RS, C-FIND and the portal's study list.

``parse_keys`` turns DICOM keys and values into a :class:`SearchSpec` of typed conditions; the index layer
turns a spec into SQL. Nothing here touches the database.
"""

from pacs.query.engine import (
    Condition,
    Level,
    SearchSpec,
    build_spec,
    field_for,
    parse_condition,
)

__all__ = ["Condition", "Level", "SearchSpec", "build_spec", "field_for", "parse_condition"]
