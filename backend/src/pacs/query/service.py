"""The query service: QIDO-RS, C-FIND and the study list call it with DICOM keys."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine

from pacs.index import reads
from pacs.query.engine import Level, SearchSpec, build_spec
from pacs.query.results import row_to_json
from pacs.query.sequences import SequenceKey

#: Rows read per batch while matching sequence keys (keyset paging on the level's id).
SEQUENCE_BATCH = 1000


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
        with_series: bool = False,
        sequence_keys: list[SequenceKey] | None = None,
    ) -> tuple[list[dict[str, Any]], list[str]]:
        """Match ``keys`` at ``level``; return DICOM JSON results and the keys that could not be matched.

        ``sequence_keys`` are matched in each entity's sequences (PS3.4 C.2.2.2.6, see
        :mod:`pacs.query.sequences`) after the SQL conditions, ``offset`` and ``limit`` then applying to the
        entities that match them all.
        """
        spec, ignored = build_spec(level, keys, fuzzy=fuzzy, limit=limit, offset=offset)
        with_metadata = level == Level.IMAGE and (include_all or bool(include) or bool(sequence_keys))
        if sequence_keys:
            rows = self._run_matching(spec, sequence_keys, with_metadata=with_metadata)
        else:
            rows = self.run(spec, with_metadata=with_metadata)
        results = [
            row_to_json(
                level,
                row,
                include=include,
                include_all=include_all,
                base_url=base_url,
                with_study=with_study,
                with_series=with_series,
            )
            for row in rows
        ]
        return results, ignored

    def _run_matching(
        self, spec: SearchSpec, sequence_keys: list[SequenceKey], *, with_metadata: bool
    ) -> list[dict[str, Any]]:
        """The rows of ``spec`` whose sequences match every key, ``spec``'s offset and limit applied to them."""
        limit, skip = spec.limit, spec.offset
        batch = SearchSpec(spec.level, list(spec.conditions), limit=SEQUENCE_BATCH)
        out: list[dict[str, Any]] = []
        while limit is None or len(out) < limit:
            rows = self.run(batch, with_metadata=with_metadata)
            for row in rows:
                sources = [row.get(k) or {} for k in ("metadata", "series_attrs", "study_attrs", "attrs")]
                if all(key.matches(sources) for key in sequence_keys):
                    if skip:
                        skip -= 1
                    else:
                        out.append(row)
            if len(rows) < SEQUENCE_BATCH:
                break
            batch.after_id = rows[-1]["id"]
        return out if limit is None else out[:limit]

    def run(self, spec: SearchSpec, *, with_metadata: bool = False) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return reads.search(conn, spec, with_metadata=with_metadata)
