"""The dashboard's numbers: modality distribution, studies over time, ingest rate, top referrers.

Every answer reads a bounded number of counter rows (maintained by triggers, folded here on read), so the cost
does not grow with the archive: no request scans ``studies``.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import Engine

from pacs.exceptions import BadRequestError
from pacs.index import analytics as index


class Interval(StrEnum):
    day = "day"
    week = "week"
    month = "month"


class IngestInterval(StrEnum):
    minute = "minute"
    day = "day"


#: Largest windows answered (keeps every answer to a bounded number of counter rows).
MAX_DAYS = 366 * 20
MAX_INGEST_MINUTES = 24 * 60
MAX_INGEST_DAYS = 366


@dataclass
class Bucket:
    start: str  # ISO date or minute (UTC)
    studies: int
    instances: int = 0
    bytes: int = 0


def bucket_start(d: date, interval: Interval) -> date:
    """The first day of ``d``'s bucket (weeks start on Monday, ISO 8601).

    >>> bucket_start(date(2024, 5, 16), Interval.week), bucket_start(date(2024, 5, 16), Interval.month)
    (datetime.date(2024, 5, 13), datetime.date(2024, 5, 1))
    """
    if interval is Interval.week:
        return d - timedelta(days=d.weekday())
    if interval is Interval.month:
        return d.replace(day=1)
    return d


def _buckets(lo: date, hi: date, interval: Interval) -> list[date]:
    out, d = [], bucket_start(lo, interval)
    while d <= hi:
        out.append(d)
        if interval is Interval.day:
            d += timedelta(days=1)
        elif interval is Interval.week:
            d += timedelta(days=7)
        else:
            d = (d.replace(day=28) + timedelta(days=4)).replace(day=1)
    return out


#: A fold of more rows than this is followed by a VACUUM of the deltas table (in the background).
VACUUM_AFTER = 10_000
_vacuuming = threading.Lock()
log = logging.getLogger(__name__)


def after_fold(engine: Engine, folded: int) -> None:
    """After a large fold (a bulk load), VACUUM the deltas table in the background, once at a time."""
    if folded < VACUUM_AFTER or not _vacuuming.acquire(blocking=False):
        return

    def run() -> None:
        try:
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                index.vacuum_deltas(conn)
        except Exception:
            log.warning("VACUUM analytics_deltas failed; autovacuum will do it", exc_info=True)
        finally:
            _vacuuming.release()

    threading.Thread(target=run, name="pacs-vacuum-deltas", daemon=True).start()


class AnalyticsService:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def fold(self) -> None:
        """Fold pending counter deltas (also done by every read; the event listener calls it after ingests)."""
        with self.engine.begin() as conn:
            folded = index.fold(conn)
        after_fold(self.engine, folded)

    def _read(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        with self.engine.begin() as conn:
            folded = index.fold(conn)
            out = fn(conn, *args, **kwargs)
        after_fold(self.engine, folded)
        return out

    def summary(self) -> dict[str, int]:
        rows = self._read(index.counters, "total")
        r = rows[0] if rows else {"studies": 0, "instances": 0, "bytes": 0}
        return {"studies": r["studies"], "instances": r["instances"], "bytes": r["bytes"]}

    def modalities(self) -> list[dict[str, Any]]:
        """Per modality: studies containing it, and instances and bytes of its series."""
        return [
            {"modality": r["key"], "studies": r["studies"], "instances": r["instances"], "bytes": r["bytes"]}
            for r in self._read(index.counters, "modality")
        ]

    def studies_over_time(self, lo: date | None, hi: date | None, interval: Interval) -> list[Bucket]:
        """Studies per day / week / month by StudyDate, every bucket of the period present (zeros too)."""
        today = datetime.now(UTC).date()
        hi = hi or today
        if lo is None:
            lo = {
                Interval.day: hi - timedelta(days=29),
                Interval.week: hi - timedelta(weeks=11),
                Interval.month: (hi.replace(day=1) - timedelta(days=335)).replace(day=1),
            }[interval]
        if lo > hi:
            raise BadRequestError(f"date_from {lo} is after date_to {hi}")
        if (hi - lo).days > MAX_DAYS:
            raise BadRequestError(f"the period is longer than {MAX_DAYS} days; choose a shorter one")
        if interval is Interval.day and (hi - lo).days > 3 * 366:
            raise BadRequestError("per-day series are limited to 3 years; use interval=week or month")
        rows = self._read(
            index.study_dates,
            lo.strftime("%Y%m%d"),
            hi.strftime("%Y%m%d"),
            by_month=interval is Interval.month,
        )
        counts: dict[date, int] = {}
        for key, n in rows:
            try:
                d = date(int(key[:4]), int(key[4:6]), int(key[6:8] or 1))
            except ValueError:  # a stored StudyDate that is not a calendar date
                continue
            b = bucket_start(d, interval)
            counts[b] = counts.get(b, 0) + n
        return [Bucket(b.isoformat(), counts.get(b, 0)) for b in _buckets(lo, hi, interval)]

    def ingest(self, interval: IngestInterval, count: int) -> list[Bucket]:
        """What was stored per minute (last ``count`` minutes) or per day (last ``count`` days), UTC."""
        now = datetime.now(UTC).replace(second=0, microsecond=0, tzinfo=None)
        if interval is IngestInterval.minute:
            if not 1 <= count <= MAX_INGEST_MINUTES:
                raise BadRequestError(f"minutes: use 1 to {MAX_INGEST_MINUTES}")
            starts = [now - timedelta(minutes=i) for i in range(count - 1, -1, -1)]
            keys = [s.strftime("%Y-%m-%dT%H:%M") for s in starts]
            dim = "ingest_minute"
        else:
            if not 1 <= count <= MAX_INGEST_DAYS:
                raise BadRequestError(f"days: use 1 to {MAX_INGEST_DAYS}")
            keys = [(now.date() - timedelta(days=i)).isoformat() for i in range(count - 1, -1, -1)]
            dim = "ingest_day"
        rows = {r["key"]: r for r in self._read(index.counter_range, dim, keys[0], keys[-1])}
        out = []
        for k in keys:
            r = rows.get(k)
            out.append(
                Bucket(k, int(r["studies"]), int(r["instances"]), int(r["bytes"])) if r else Bucket(k, 0)
            )
        return out

    def top(self, dimension: str, limit: int) -> list[dict[str, Any]]:
        """Top referring physicians (``referring``) or institutions (``institution``) by studies."""
        if not 1 <= limit <= 100:
            raise BadRequestError("limit: use 1 to 100")
        return [{"name": r["key"], "studies": r["studies"]} for r in self._read(index.top, dimension, limit)]

    def rebuild(self) -> None:
        """Recompute the counters from the archive tables (full scan)."""
        with self.engine.begin() as conn:
            index.rebuild(conn)
