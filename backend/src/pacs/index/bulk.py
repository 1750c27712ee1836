"""Bulk loading for synthetic archives (``pacs synth --bulk``): COPY instead of row-by-row upserts.

The rows are the ones :func:`pacs.index.writes.index_instances` would write (the caller builds them with the
same :func:`pacs.dicom.attributes.instance_record`); only the transport differs. Each chunk is one transaction:
it is either entirely visible or absent, which is what makes the bulk load resumable.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, text

from pacs.index.writes import notify


def fast_commit(conn: Connection) -> None:
    """Bulk-load settings for this transaction only (``SET LOCAL``, fine behind a transaction pooler).

    The commit need not wait for the WAL flush (synthetic data, re-creatable), and large values (instance
    metadata) are TOAST-compressed with lz4 rather than pglz, which makes COPY about three times faster.
    """
    conn.execute(text("SET LOCAL synchronous_commit = off"))
    has_lz4 = conn.execute(
        text("SELECT 1 FROM pg_settings WHERE name = 'default_toast_compression' AND 'lz4' = ANY(enumvals)")
    ).scalar()
    if has_lz4:
        conn.execute(text("SET LOCAL default_toast_compression = 'lz4'"))


def allocate_ids(conn: Connection, table: str, n: int) -> list[int]:
    """``n`` fresh primary keys from the table's identity sequence (safe with concurrent writers)."""
    if n <= 0:
        return []
    if table not in ("patients", "studies", "series", "instances"):
        raise ValueError(f"unknown table {table}")
    rows = conn.execute(
        text(f"SELECT nextval(pg_get_serial_sequence('{table}', 'id')) FROM generate_series(1, :n)"),
        {"n": n},
    ).scalars()
    return list(rows)


def count_existing_studies(conn: Connection, study_uids: list[str]) -> int:
    if not study_uids:
        return 0
    return int(
        conn.execute(
            text("SELECT count(*) FROM studies WHERE study_instance_uid = ANY(:uids)"), {"uids": study_uids}
        ).scalar_one()
    )


def copy_text(conn: Connection, table: str, columns: list[str], data: str) -> None:
    """COPY ``data`` (PostgreSQL text format, one row a line, already escaped) into ``table``."""
    if not data:
        return
    raw: Any = conn.connection.driver_connection
    cols = ", ".join(f'"{c}"' for c in columns)
    with raw.cursor() as cur, cur.copy(f"COPY {table} ({cols}) FROM STDIN") as copy:
        copy.write(data.encode("utf-8"))


def count_rows(conn: Connection) -> dict[str, int]:
    out = {}
    for table in ("patients", "studies", "series", "instances"):
        out[table] = int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())
    return out


def database_size(conn: Connection) -> int:
    return int(conn.execute(text("SELECT pg_database_size(current_database())")).scalar_one())


def announce(conn: Connection, count: int, study_uids: list[str]) -> None:
    notify(conn, {"type": "instances_stored", "count": count, "studies": study_uids[:50], "bulk": True})


# -- deferred secondary indexes and foreign keys -------------------------------------------------------------
# A large load is much faster when the secondary (non-unique) indexes are built once at the end instead of
# maintained row by row, and when the foreign keys are checked once (one join per constraint) instead of by a
# trigger per row. Their definitions are kept in the ``studies`` table's comment while they are away, written in
# the same transaction that drops them, so an interrupted load still knows what to rebuild when it resumes.
# Unique indexes (UIDs, patient identity) and primary keys always stay: they keep the load correct.

_TABLES = ("patients", "studies", "series", "instances")
_PENDING = "pacs-bulk-deferred-indexes:"
_ADD_CONSTRAINT = re.compile(r'^ALTER TABLE (\w+) ADD CONSTRAINT "?(\w+)"? ')


def pending_indexes(conn: Connection) -> list[str]:
    """The DDL statements (CREATE INDEX, ALTER TABLE ADD CONSTRAINT) a bulk load has deferred."""
    comment = conn.execute(text("SELECT obj_description('studies'::regclass, 'pg_class')")).scalar()
    if not comment or not comment.startswith(_PENDING):
        return []
    return list(json.loads(comment[len(_PENDING) :]))


def _set_pending(conn: Connection, ddls: list[str]) -> None:
    value = _PENDING + json.dumps(ddls) if ddls else None
    quoted = conn.execute(text("SELECT quote_nullable(:v)"), {"v": value}).scalar_one()
    conn.exec_driver_sql(f"COMMENT ON TABLE studies IS {quoted}")


def defer_indexes(conn: Connection) -> list[str]:
    """Drop the secondary indexes and foreign keys of the index tables; return every statement now pending."""
    indexes = conn.execute(
        text(
            "SELECT c.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_class t ON t.oid = i.indrelid "
            "WHERE t.relname = ANY(:tables) AND t.relnamespace = 'public'::regnamespace "
            "AND NOT i.indisunique AND NOT i.indisprimary ORDER BY c.relname"
        ),
        {"tables": list(_TABLES)},
    ).all()
    fks = conn.execute(
        text(
            "SELECT t.relname, c.conname, pg_get_constraintdef(c.oid) FROM pg_constraint c "
            "JOIN pg_class t ON t.oid = c.conrelid WHERE c.contype = 'f' AND t.relname = ANY(:tables) "
            "AND t.relnamespace = 'public'::regnamespace ORDER BY t.relname, c.conname"
        ),
        {"tables": list(_TABLES)},
    ).all()
    pending = pending_indexes(conn)
    new = [ddl for _, ddl in indexes] + [f'ALTER TABLE {t} ADD CONSTRAINT "{n}" {d}' for t, n, d in fks]
    pending += [ddl for ddl in new if ddl not in pending]
    _set_pending(conn, pending)
    for name, _ in indexes:
        conn.exec_driver_sql(f'DROP INDEX "{name}"')
    for table, name, _ in fks:
        conn.exec_driver_sql(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    return pending


def restore_indexes(conn: Connection, on_index: Callable[[str], None] | None = None) -> int:
    """Build the pending indexes, then re-add (and so validate) the foreign keys; return how many.

    ``conn`` must be in autocommit mode (a direct connection, not through a transaction pooler).
    """
    built = 0
    conn.exec_driver_sql("SET maintenance_work_mem = '512MB'")
    pending = pending_indexes(conn)
    for ddl in sorted(pending, key=lambda d: d.startswith("ALTER TABLE")):
        if on_index:
            on_index(ddl)
        m = _ADD_CONSTRAINT.match(ddl)
        if m:
            exists = conn.execute(
                text("SELECT 1 FROM pg_constraint WHERE conname = :n AND conrelid = CAST(:t AS regclass)"),
                {"n": m.group(2), "t": m.group(1)},
            ).scalar()
            if not exists:
                conn.exec_driver_sql(ddl)
        else:
            conn.exec_driver_sql(ddl.replace("CREATE INDEX ", "CREATE INDEX IF NOT EXISTS ", 1))
        built += 1
    _set_pending(conn, [])
    return built


def has_studies(conn: Connection) -> bool:
    return bool(conn.execute(text("SELECT EXISTS (SELECT 1 FROM studies)")).scalar())
