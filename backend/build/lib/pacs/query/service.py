"""The query service: QIDO-RS, C-FIND and the study list call it with DICOM keys."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine

from pacs.index import reads
from pacs.query.engine import Level, SearchSpec, build_spec
from pacs.query.results import row_to_json


class QueryService:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def search(
        self,
        level: Level,
        keys: dict[str, str],
        *,
        fuzzy: bool = False,
        limit: int | None = None,
        offset: int = 0,
        include: set[str] | None = None,
        include_all: bool = False,
        base_url: str | None = None,
        with_study: bool = False,
    ) -> tuple[list[dict[str, Any]], list[str]]:
        """Match ``keys`` at ``level``; return DICOM JSON results and the keys that could not be matched."""
        spec, ignored = build_spec(level, keys, fuzzy=fuzzy, limit=limit, offset=offset)
        rows = self.run(spec, with_metadata=level == Level.IMAGE and (include_all or bool(include)))
        results = [
            row_to_json(
                level,
                row,
                include=include,
                include_all=include_all,
                base_url=base_url,
                with_study=with_study,
            )
            for row in rows
        ]
        return results, ignored

    def run(self, spec: SearchSpec, *, with_metadata: bool = False) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return reads.search(conn, spec, with_metadata=with_metadata)
