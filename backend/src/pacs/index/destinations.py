"""SQL for the C-MOVE destinations managed through the API (table ``dimse_destinations``, migration 0002)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Column, Connection, DateTime, Integer, MetaData, Table, Text, delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

_metadata = MetaData()

dimse_destinations = Table(
    "dimse_destinations",
    _metadata,
    Column("ae_title", Text, primary_key=True),
    Column("host", Text, nullable=False),
    Column("port", Integer, nullable=False),
    Column("description", Text, nullable=False),
    Column("created_at", DateTime(timezone=True)),
)

_COLUMNS = (
    dimse_destinations.c.ae_title,
    dimse_destinations.c.host,
    dimse_destinations.c.port,
    dimse_destinations.c.description,
)


def list_destinations(conn: Connection) -> list[dict[str, Any]]:
    stmt = select(*_COLUMNS).order_by(dimse_destinations.c.ae_title)
    return [dict(r) for r in conn.execute(stmt).mappings()]


def get_destination(conn: Connection, ae_title: str) -> dict[str, Any] | None:
    row = conn.execute(select(*_COLUMNS).where(dimse_destinations.c.ae_title == ae_title)).mappings().first()
    return dict(row) if row else None


def create_destination(conn: Connection, ae_title: str, host: str, port: int, description: str) -> bool:
    """Insert; False when the AE title is already there (nothing changed)."""
    stmt = (
        pg_insert(dimse_destinations)
        .values(ae_title=ae_title, host=host, port=port, description=description)
        .on_conflict_do_nothing(index_elements=["ae_title"])
        .returning(dimse_destinations.c.ae_title)
    )
    return conn.execute(stmt).scalar_one_or_none() is not None


def update_destination(conn: Connection, ae_title: str, host: str, port: int, description: str) -> bool:
    """Update; False when there is no such AE title."""
    stmt = (
        update(dimse_destinations)
        .where(dimse_destinations.c.ae_title == ae_title)
        .values(host=host, port=port, description=description)
    )
    return conn.execute(stmt).rowcount == 1


def delete_destination(conn: Connection, ae_title: str) -> bool:
    return (
        conn.execute(delete(dimse_destinations).where(dimse_destinations.c.ae_title == ae_title)).rowcount
        == 1
    )


__all__ = [
    "create_destination",
    "delete_destination",
    "dimse_destinations",
    "get_destination",
    "list_destinations",
    "update_destination",
]
