"""Architecture checks (design.md, "Boundaries"): all SQL in index/, front doors call services only."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "pacs"
FRONT_DOORS = ("dicomweb", "dimse", "portal")
# Modules that own transactions or engines may name SQLAlchemy's Engine/Connection types, nothing else.
TYPE_ONLY = {"Engine", "Connection"}


def _imports(path: Path) -> list[tuple[str, list[str]]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, []) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.append((node.module, [a.name for a in node.names]))
    return out


def _modules():
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC)
        yield rel, _imports(path)


def test_sql_lives_in_the_index_layer():
    offenders = []
    for rel, imports in _modules():
        if rel.parts[0] == "index" or rel.name in ("db.py",):
            continue
        for module, names in imports:
            is_sqlalchemy = module == "sqlalchemy" or module.startswith("sqlalchemy.")
            if is_sqlalchemy and (module != "sqlalchemy" or not set(names) <= TYPE_ONLY):
                offenders.append(f"{rel}: from {module} import {', '.join(names) or '*'}")
    assert offenders == [], "SQL outside pacs.index:\n" + "\n".join(offenders)


def test_front_doors_call_services_not_the_index_or_the_store():
    offenders = []
    for rel, imports in _modules():
        if rel.parts[0] not in FRONT_DOORS:
            continue
        for module, _names in imports:
            if module.startswith(("pacs.index", "pacs.storage")):
                offenders.append(f"{rel}: imports {module}")
    assert offenders == [], "front door reaching past the services:\n" + "\n".join(offenders)
