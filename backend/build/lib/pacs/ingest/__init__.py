"""Ingest: the one write path (STOW-RS, C-STORE, seeding and imports all call it)."""

from pacs.ingest.service import IngestService, StoreOutcome, parse_part10

__all__ = ["IngestService", "StoreOutcome", "parse_part10"]
