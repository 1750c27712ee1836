"""The services every front door shares, built once per process from the settings."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from pacs.config import Settings
from pacs.db import create_db_engine
from pacs.index import reads
from pacs.ingest import IngestService
from pacs.query.service import QueryService
from pacs.retrieve import RetrieveService
from pacs.storage import ObjectStore, open_store


@dataclass
class Services:
    settings: Settings
    engine: Engine
    store: ObjectStore
    ingest: IngestService
    query: QueryService
    retrieve: RetrieveService

    @classmethod
    def create(cls, settings: Settings) -> Services:
        engine = create_db_engine(settings)
        store = open_store(settings.resolved_storage_url)
        return cls(
            settings=settings,
            engine=engine,
            store=store,
            ingest=IngestService(engine, store),
            query=QueryService(engine),
            retrieve=RetrieveService(engine, store),
        )

    def check_ready(self) -> dict[str, str]:
        """Readiness: the database and the object store answer. Raises on failure."""
        with self.engine.connect() as conn:
            reads.ping(conn)
        self.store.check()
        return {"database": "ok", "storage": "ok"}

    def close(self) -> None:
        self.engine.dispose()
