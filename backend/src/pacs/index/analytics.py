"""Analytics SQL: fold the trigger-maintained deltas into counters and read them (migration 0003).

Writers (triggers on ``studies`` and ``series``) only append to ``analytics_deltas``; :func:`fold` moves the
pending deltas into ``analytics_counters`` in one statement, one folder at a time (a transaction-scoped
advisory lock, safe behind a transaction pooler). Reads touch a handful of counter rows, never the archive.
Also here: the direct LISTEN connection behind the portal's live events.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
from sqlalchemy import Connection, text

from pacs.index.writes import EVENTS_CHANNEL

_FOLD_LOCK = 0x7061_6373_0003  # "pacs" + migration number: any constant shared by all replicas

_FOLD = text(
    """
    WITH d AS (DELETE FROM analytics_deltas RETURNING dimension, key, studies, instances, bytes),
    agg AS (SELECT dimension, key, sum(studies) AS s, sum(instances) AS i, sum(bytes) AS b
            FROM d GROUP BY dimension, key),
    ins AS (
        INSERT INTO analytics_counters AS c (dimension, key, studies, instances, bytes)
        SELECT dimension, key, s, i, b FROM agg ORDER BY dimension, key
        ON CONFLICT (dimension, key) DO UPDATE SET studies = c.studies + excluded.studies,
            instances = c.instances + excluded.instances, bytes = c.bytes + excluded.bytes
        RETURNING 1
    )
    SELECT (SELECT count(*) FROM d) AS folded, (SELECT count(*) FROM ins) AS keys
    """
)


_REBUILD = (
    """
    INSERT INTO analytics_counters (dimension, key, studies, instances, bytes)
    SELECT 'total', '', count(*), coalesce(sum(number_of_instances), 0), coalesce(sum(size_bytes), 0)
    FROM studies
    """,
    """
    INSERT INTO analytics_counters (dimension, key, studies)
    SELECT 'study_date', study_date, count(*) FROM studies GROUP BY study_date
    """,
    """
    INSERT INTO analytics_counters (dimension, key, studies)
    SELECT 'referring', referring_physician_name, count(*) FROM studies
    WHERE referring_physician_name <> '' GROUP BY referring_physician_name
    """,
    """
    INSERT INTO analytics_counters (dimension, key, studies)
    SELECT 'institution', institution_name, count(*) FROM studies
    WHERE institution_name <> '' GROUP BY institution_name
    """,
    """
    INSERT INTO analytics_counters (dimension, key, studies, instances, bytes)
    SELECT 'modality', m.modality, coalesce(st.n, 0), m.i, m.b FROM
    (SELECT modality, sum(number_of_instances) AS i, sum(size_bytes) AS b FROM series
    WHERE modality <> '' GROUP BY modality) m
    LEFT JOIN (SELECT x AS modality, count(*) AS n FROM studies, unnest(modalities_in_study) AS x
    GROUP BY x) st USING (modality)
    """,
)


def pending(conn: Connection) -> bool:
    return bool(conn.execute(text("SELECT EXISTS (SELECT 1 FROM analytics_deltas)")).scalar())


def fold(conn: Connection, *, wait: bool = True) -> int:
    """Fold pending deltas into the counters (call inside a transaction; commits with it); returns how many.

    ``wait=False`` skips the fold when another transaction is folding (for hot read paths).
    """
    if not pending(conn):
        return 0
    if wait:
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _FOLD_LOCK})
    elif not conn.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": _FOLD_LOCK}).scalar():
        return 0
    return int(conn.execute(_FOLD).scalar_one())


def vacuum_deltas(conn: Connection) -> None:
    """VACUUM the deltas table (needs an autocommit connection): a large fold leaves it full of dead rows,
    which every ``pending`` check would otherwise wade through until autovacuum comes by."""
    conn.exec_driver_sql("VACUUM analytics_deltas")


def counter_sum(conn: Connection, dimension: str, lo: str | None = None, hi: str | None = None) -> int:
    """Studies counted under keys in ``[lo, hi]`` (either end open), pending deltas included: exact."""
    where = (
        "dimension = :d"
        + (" AND key >= :lo" if lo is not None else "")
        + (" AND key <= :hi" if hi is not None else "")
    )
    sql = (
        f"SELECT coalesce((SELECT sum(studies) FROM analytics_counters WHERE {where}), 0) "
        f"+ coalesce((SELECT sum(studies) FROM analytics_deltas WHERE {where}), 0)"
    )
    return int(conn.execute(text(sql), {"d": dimension, "lo": lo, "hi": hi}).scalar_one())


def study_dates(conn: Connection, lo: str, hi: str, *, by_month: bool = False) -> list[tuple[str, int]]:
    """``(YYYYMMDD or YYYYMM, studies)`` for StudyDate keys in ``lo..hi`` (8-digit keys only)."""
    key = "substr(key, 1, 6)" if by_month else "key"
    rows = conn.execute(
        text(
            f"SELECT {key} AS k, sum(studies) AS n FROM analytics_counters WHERE dimension = 'study_date' "
            "AND key BETWEEN :lo AND :hi AND key ~ '^[0-9]{8}$' AND studies <> 0 GROUP BY 1 ORDER BY 1"
        ),
        {"lo": lo, "hi": hi},
    )
    return [(str(r.k), int(r.n)) for r in rows]


def counters(conn: Connection, dimension: str) -> list[dict[str, Any]]:
    """All non-empty counters of a small dimension (``total``, ``modality``)."""
    rows = conn.execute(
        text(
            "SELECT key, studies, instances, bytes FROM analytics_counters WHERE dimension = :d "
            "AND (studies <> 0 OR instances <> 0 OR bytes <> 0) ORDER BY studies DESC, key"
        ),
        {"d": dimension},
    ).mappings()
    return [dict(r) for r in rows]


def counter_range(conn: Connection, dimension: str, lo: str, hi: str) -> list[dict[str, Any]]:
    """Counters whose key lies in ``[lo, hi]`` (dates and times are keys that sort chronologically)."""
    rows = conn.execute(
        text(
            "SELECT key, studies, instances, bytes FROM analytics_counters WHERE dimension = :d "
            "AND key BETWEEN :lo AND :hi ORDER BY key"
        ),
        {"d": dimension, "lo": lo, "hi": hi},
    ).mappings()
    return [dict(r) for r in rows]


def top(conn: Connection, dimension: str, limit: int) -> list[dict[str, Any]]:
    """The ``limit`` keys with the most studies (index ``analytics_counters_top``)."""
    rows = conn.execute(
        text(
            "SELECT key, studies FROM analytics_counters WHERE dimension = :d AND studies > 0 "
            "ORDER BY studies DESC, key LIMIT :n"
        ),
        {"d": dimension, "n": limit},
    ).mappings()
    return [dict(r) for r in rows]


def rebuild(conn: Connection) -> None:
    """Recompute every counter from the archive tables (a full scan: repair / after restoring a dump).

    Ingest history (``ingest_minute``/``ingest_day``) cannot be reconstructed and is kept.
    """
    conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _FOLD_LOCK})
    conn.execute(text("LOCK TABLE analytics_deltas IN EXCLUSIVE MODE"))
    conn.execute(_FOLD)
    conn.execute(text("DELETE FROM analytics_counters WHERE dimension NOT LIKE 'ingest\\_%'"))
    for stmt in _REBUILD:
        conn.execute(text(stmt))


# ---------------------------------------------------------------------------------------------------------
# LISTEN (needs a direct connection: a transaction pooler does not keep LISTEN across transactions)
# ---------------------------------------------------------------------------------------------------------


def listen(libpq_url: str) -> psycopg.Connection[Any]:
    """A direct autocommit connection listening on the ingest channel."""
    conn = psycopg.connect(libpq_url, autocommit=True, application_name="pacs-events")
    conn.execute(f"LISTEN {EVENTS_CHANNEL}")
    return conn


def notifications(conn: psycopg.Connection[Any], timeout: float) -> Iterator[str]:
    """Payloads received within ``timeout`` seconds (returns early when none arrive)."""
    for n in conn.notifies(timeout=timeout):
        yield n.payload
