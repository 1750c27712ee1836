"""The portal's study list on the QIDO-RS query engine, with keyset sorting and signed cursors.

Filters become DICOM keys and go through :func:`pacs.query.engine.build_spec` (PS3.4 C.2.2.2 matching), exactly
as a QIDO-RS ``/studies`` search would, so the two cannot drift apart:

=============  ============================  =====================================================
parameter      DICOM keyword                 matching
=============  ============================  =====================================================
mrn            PatientID                     single value, ``*``/``?`` wildcards
accession      AccessionNumber               single value, wildcards
name           PatientName                   case/accent-insensitive; no wildcard: word-prefix fuzzy
modality       ModalitiesInStudy             any of several (repeatable parameter)
date_from/to   StudyDate                     range ``from-to`` (either end open)
description    StudyDescription              case/accent-insensitive; no wildcard: contains
referring      ReferringPhysicianName        as name
=============  ============================  =====================================================

>>> f = StudyFilter(name="müller", modality=("CT", "MR"), date_from="2024-01-01")
>>> sorted(f.dicom_keys().items())
[('ModalitiesInStudy', 'CT\\\\MR'), ('PatientName', 'müller'), ('StudyDate', '20240101-')]
>>> StudyFilter(description="chest").dicom_keys()
{'StudyDescription': '*chest*'}
>>> parse_sort("-patient_name")
('patient_name', True)
>>> signer = CursorSigner("k")
>>> signer.decode(signer.encode(Cursor("study_date", False, ["20240101", "0800", 7])))
Cursor(sort='study_date', backward=False, key=['20240101', '0800', 7], total=None, estimated=False)
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import Engine

from pacs.analytics.service import after_fold
from pacs.exceptions import BadRequestError, NotFoundError
from pacs.index import analytics as analytics_index
from pacs.index import studylist as index
from pacs.index.studylist import Plan
from pacs.query.engine import Level, SearchSpec, build_spec

#: Sort name (API) -> index columns it orders by (``id`` is always appended as the tie-breaker).
SORTS: dict[str, tuple[str, ...]] = {
    "patient_name": ("patient_name_norm",),
    "patient_id": ("patient_id",),
    "patient_birth_date": ("patient_birth_date",),
    "patient_sex": ("patient_sex",),
    "accession_number": ("accession_number",),
    "study_date": ("study_date", "study_time"),
    "study_time": ("study_time",),
    "modalities": ("modalities_in_study",),
    "study_description": ("study_description_norm",),
    "referring_physician_name": ("referring_physician_name_norm",),
    "number_of_series": ("number_of_series",),
    "number_of_instances": ("number_of_instances",),
    "study_instance_uid": ("study_instance_uid",),
}
SORT_VALUES = [name for s in SORTS for name in (s, f"-{s}")]
DEFAULT_SORT = "-study_date"
DEFAULT_LIMIT = 50
MAX_LIMIT = 500
#: With a known number of matches (maintained counters), up to this many are sorted; more: walk the index.
#: About sqrt(page size x archive size) balances "sort every match" against "walk until a page is found".
COUNT_CAP = 5000
#: Other filters first walk at most this many index entries looking for a page, then sort the matches.
WALK_BUDGET = 5000
#: ... four times as many when the walk is index-only (default sort, covering index)
COVERED_BUDGET_FACTOR = 4
#: ... unless the planner expects at most this many matches
FEW = 50
#: Text patterns (wildcards, word prefixes, "contains") with a planner estimate below this many matches: the
#: planner's estimates of such patterns are constants (99, 10,048 ...), 0.01x to 9x off at a million studies,
#: so they cannot choose between walking the sort index and sorting the matches. Those filters find out
#: instead: under the default sort a short probe walk (PROBE_BUDGET), under other sorts a sort capped at
#: SORT_CAP matches that gives way to a walk when it overflows (then so many match that a walk is quick).
#: Only estimates this large (common words in descriptions, where the trigram statistics are good) walk first.
SORT_FIRST_BELOW = 50_000
#: Sort the matches when there are at most this many, else walk. Measured at a million studies: a walk entry
#: costs ~1 us (index-only, pattern checked), a sorted match ~4.4 us (its heap row), so sqrt(page x archive /
#: 4.4) ~ 3,400 balances the two; a little more, because the probe over-estimates matches that cluster in time
#: (one patient's studies), and a walk that then finds no page costs the walk and the sort.
SORT_CAP = 4000
#: Under the default sort (index-only walk) such patterns first walk this many entries (~3 ms): a page found
#: means many matches; otherwise the hits met estimate the matches (at SORT_CAP matches in a million studies
#: about 16 hits are expected), which decides between sorting them and walking on.
PROBE_BUDGET = 4000

_WILDCARD = re.compile(r"[*?]")


def parse_date(name: str, value: str | None) -> str | None:
    """``YYYY-MM-DD`` -> DICOM DA ``YYYYMMDD``; anything else is a 400."""
    if value is None or not value.strip():
        return None
    v = value.strip()
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", v):
        raise BadRequestError(f"{name}: {value!r} is not a date; use YYYY-MM-DD")
    try:
        return date.fromisoformat(v).strftime("%Y%m%d")
    except ValueError as exc:
        raise BadRequestError(f"{name}: {value!r} is not a valid calendar date") from exc


@dataclass(frozen=True)
class StudyFilter:
    mrn: str | None = None
    accession: str | None = None
    name: str | None = None
    modality: tuple[str, ...] = ()
    date_from: str | None = None  # YYYY-MM-DD
    date_to: str | None = None
    description: str | None = None
    referring: str | None = None

    def dicom_keys(self) -> dict[str, str]:
        """The filter as QIDO-RS keys (``{keyword: value}``)."""
        keys: dict[str, str] = {}
        for keyword, value in (
            ("PatientID", self.mrn),
            ("AccessionNumber", self.accession),
            ("PatientName", self.name),
            ("ReferringPhysicianName", self.referring),
        ):
            if value and value.strip():
                keys[keyword] = value.strip()
        if self.description and self.description.strip():
            d = self.description.strip()
            keys["StudyDescription"] = d if _WILDCARD.search(d) else f"*{d}*"
        mods = [m.strip().upper() for m in self.modality if m and m.strip()]
        for m in mods:
            if not re.fullmatch(r"[A-Z0-9_ ]{1,16}", m):
                raise BadRequestError(f"modality: {m!r} is not a DICOM modality code (CS, e.g. CT)")
        if mods:
            keys["ModalitiesInStudy"] = "\\".join(dict.fromkeys(mods))
        lo = parse_date("date_from", self.date_from)
        hi = parse_date("date_to", self.date_to)
        if lo and hi and lo > hi:
            raise BadRequestError(f"date_from {self.date_from} is after date_to {self.date_to}")
        if lo or hi:
            keys["StudyDate"] = f"{lo or ''}-{hi or ''}"
        return keys

    def spec(self) -> SearchSpec:
        spec, _ = build_spec(
            Level.STUDY, self.dicom_keys(), fuzzy=True, insensitive=frozenset({"StudyDescription"})
        )
        return spec


def parse_sort(sort: str | None) -> tuple[str, bool]:
    """``"-study_date"`` -> ``("study_date", True)``; unknown keys are a 400 listing the valid ones."""
    raw = (sort or DEFAULT_SORT).strip()
    descending = raw.startswith("-")
    name = raw.lstrip("-+ ")
    if name not in SORTS:
        raise BadRequestError(
            f"sort: {sort!r} is not a sortable field; use one of {', '.join(SORTS)} (prefix '-' for descending)"
        )
    return name, descending


@dataclass
class Cursor:
    sort: str  # as given, with the '-' prefix
    backward: bool
    key: list[Any]
    total: int | None = None  # the total shown on the first page, carried along (not recounted per page)
    estimated: bool = False


class CursorSigner:
    """Opaque, HMAC-SHA256-signed cursors: ``base64url(json).base64url(mac)``."""

    def __init__(self, secret: str) -> None:
        self._key = hashlib.sha256(("pacs-cursor:" + secret).encode()).digest()

    def _mac(self, body: bytes) -> bytes:
        return hmac.new(self._key, body, hashlib.sha256).digest()[:18]

    def encode(self, cursor: Cursor) -> str:
        body = json.dumps(
            {
                "s": cursor.sort,
                "b": cursor.backward,
                "k": cursor.key,
                "t": cursor.total,
                "e": cursor.estimated,
            },
            separators=(",", ":"),
        ).encode()
        return f"{_b64(body)}.{_b64(self._mac(body))}"

    def decode(self, token: str) -> Cursor:
        bad = BadRequestError(
            "cursor: not a cursor this server issued (forged, truncated or signed with another secret); "
            "drop the cursor parameter to start from the first page"
        )
        try:
            body_s, _, mac_s = token.partition(".")
            body, mac = _unb64(body_s), _unb64(mac_s)
        except (binascii.Error, ValueError) as exc:
            raise bad from exc
        if not mac or not hmac.compare_digest(mac, self._mac(body)):
            raise bad
        try:
            data = json.loads(body)
            total = data.get("t")
            return Cursor(
                str(data["s"]),
                bool(data["b"]),
                list(data["k"]),
                None if total is None else int(total),
                bool(data.get("e", False)),
            )
        except (ValueError, KeyError, TypeError) as exc:  # pragma: no cover - signed by us
            raise bad from exc


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class StudyListPage:
    items: list[dict[str, Any]]
    next_cursor: str | None
    prev_cursor: str | None
    total: int
    total_is_estimate: bool
    sort: str
    limit: int


@dataclass
class StudyDetail:
    study: dict[str, Any]
    series: list[dict[str, Any]] = field(default_factory=list)


def _counter_for(spec: SearchSpec) -> tuple[str, str | None, str | None] | None:
    """The maintained counter that answers the spec's total exactly, if one does.

    >>> _counter_for(StudyFilter().spec())
    ('total', None, None)
    >>> _counter_for(StudyFilter(modality=("MR",)).spec())
    ('modality', 'MR', 'MR')
    >>> _counter_for(StudyFilter(date_from="2024-01-01", date_to="2024-01-31").spec())
    ('study_date', '20240101', '20240131~')
    >>> _counter_for(StudyFilter(modality=("MR", "CT")).spec()) is None
    True
    """
    if not spec.conditions:
        return ("total", None, None)
    if len(spec.conditions) != 1:
        return None
    c = spec.conditions[0]
    if c.field.keyword == "ModalitiesInStudy" and c.kind == "overlap" and len(c.values) == 1:
        return ("modality", str(c.values[0]), str(c.values[0]))
    if c.field.keyword == "StudyDate" and c.kind == "range":
        lo, hi = c.values
        # the same bounds as the query engine's range SQL ('~' sorts after digits)
        return ("study_date", None if lo is None else str(lo), None if hi is None else f"{hi}~")
    return None


@dataclass
class _Plan:
    total: int | None
    estimated: bool
    plan: Plan
    folded: int
    budget: int | None = None
    cap: int | None = None  # SORT: give up (and walk) beyond this many matches
    probe: int | None = None  # BUDGET: first walk only this many entries, and choose from what it met


class StudyListService:
    """The study list and the study page (called by the portal API)."""

    def __init__(
        self,
        engine: Engine,
        secret_key: str,
        *,
        count_cap: int = COUNT_CAP,
        walk_budget: int = WALK_BUDGET,
        few: int = FEW,
        sort_cap: int = SORT_CAP,
        probe_budget: int = PROBE_BUDGET,
    ) -> None:
        self.engine = engine
        self.signer = CursorSigner(secret_key)
        self.count_cap = count_cap
        self.walk_budget = walk_budget
        self.few = few
        self.sort_cap = sort_cap
        self.probe_budget = probe_budget

    def page(
        self,
        flt: StudyFilter,
        *,
        sort: str | None = None,
        limit: int = DEFAULT_LIMIT,
        cursor: str | None = None,
    ) -> StudyListPage:
        if not 1 <= limit <= MAX_LIMIT:
            raise BadRequestError(f"limit: {limit} is not a page size; use 1 to {MAX_LIMIT}")
        name, descending = parse_sort(sort)
        sort_s = f"-{name}" if descending else name
        spec = flt.spec()
        cur = self.signer.decode(cursor) if cursor else None
        if cur is not None and cur.sort != sort_s:
            raise BadRequestError(
                f"cursor: it pages a list sorted by {cur.sort!r}, not {sort_s!r}; drop the cursor when "
                "changing the sort"
            )
        order = SORTS[name]
        backward = cur.backward if cur else False
        with self.engine.begin() as conn:
            chosen = self._plan(conn, spec, order, cur)
            total, estimated, plan, folded = chosen.total, chosen.estimated, chosen.plan, chosen.folded

            def fetch(
                p: Plan, *, cap: int | None = None, budget: int | None = None
            ) -> tuple[list[dict[str, Any]], int | None, int | None]:
                return index.page(
                    conn,
                    spec,
                    order,
                    descending=descending,
                    after=cur.key if cur else None,
                    backward=backward,
                    limit=limit,
                    plan=p,
                    budget=budget or chosen.budget or self.walk_budget,
                    cap=cap,
                )

            rows, matched, walked = fetch(plan, cap=chosen.cap, budget=chosen.probe)
            if chosen.probe is not None and len(rows) <= limit:
                # The short probe walk met fewer than a page of matches: its hits estimate how many match
                # (the walk samples the archive in sort order). Few: sort them all (below). Many: a longer
                # walk finds the page sooner than sorting them would.
                population = self._population(conn, spec, order)
                if population is None:
                    population = analytics_index.counter_sum(conn, "total")
                if len(rows) / chosen.probe * population > self.sort_cap:
                    rows, matched, walked = fetch(Plan.BUDGET)
            elif (
                plan is Plan.SORT and chosen.cap is not None and matched is not None and matched > chosen.cap
            ):
                # more matches than the cap: too many to sort, so many that a walk finds a page soon
                rows, matched, walked = fetch(Plan.BUDGET)
                plan = Plan.BUDGET
            if plan is Plan.BUDGET and len(rows) <= limit:
                rows, matched, walked = fetch(Plan.SORT)  # the walk found less than a page: few rows match
            if cur is None and matched is not None:
                total, estimated = matched, False  # every match was collected and counted: exact
            elif cur is None and walked:
                # The walk met limit + 1 matches in `walked` entries: extrapolate over what it walks through
                # (the StudyDate range under the date sort, else the archive): better than the planner's
                # guess for text patterns.
                population = self._population(conn, spec, order)
                if population is not None:
                    total = max(len(rows), round(len(rows) / walked * population))
            if total is None:  # pragma: no cover - a cursor always carries the total
                total, estimated = max(index.estimate(conn, spec), len(rows)), True
            elif estimated:
                total = max(total, len(rows))
            more = len(rows) > limit
            rows = rows[:limit]
            if backward:
                rows.reverse()
        after_fold(self.engine, folded)
        has_next = more if not backward else True
        has_prev = (cur is not None) if not backward else more
        next_c = prev_c = None
        if rows and has_next:
            next_c = self.signer.encode(Cursor(sort_s, False, rows[-1]["_key"], total, estimated))
        if rows and has_prev:
            prev_c = self.signer.encode(Cursor(sort_s, True, rows[0]["_key"], total, estimated))
        if not rows and cur is not None:
            # Walked off an end (rows were deleted meanwhile): offer the way back.
            if backward:
                next_c = self.signer.encode(Cursor(sort_s, False, cur.key, total, estimated))
            else:
                prev_c = self.signer.encode(Cursor(sort_s, True, cur.key, total, estimated))
        for r in rows:
            r.pop("_key", None)
        return StudyListPage(rows, next_c, prev_c, total, estimated, sort_s, limit)

    def _plan(self, conn: Any, spec: SearchSpec, order: tuple[str, ...], cur: Cursor | None) -> _Plan:
        """The total when it is known up front, and how to find the page.

        - no filter, one modality, a date range: the maintained counters (migration 0003) give the exact
          total at any size; few matches are sorted, many are found by walking the sort index;
        - other filters: the total shown on the first page travels in the cursor; the planner's estimate
          picks the first try (sort the few expected matches, or a bounded walk of the sort index), and a
          walk that finds less than a page falls back to sorting the matches (then the total is exact).
        """
        # Fold pending counter deltas unless another request is folding right now (never wait here).
        folded = analytics_index.fold(conn, wait=False)
        counted = _counter_for(spec)
        if counted is not None:
            n = analytics_index.counter_sum(conn, *counted)
            if not spec.conditions:
                return _Plan(n, False, Plan.WALK, folded)
            return _Plan(n, False, Plan.SORT if n <= self.count_cap else Plan.WALK, folded)
        total = cur.total if cur is not None else None
        estimated = cur.estimated if cur is not None else False
        if analytics_index.counter_sum(conn, "total") <= self.walk_budget:
            return _Plan(total, estimated, Plan.SORT, folded)  # a small archive: sorting all is cheapest
        guess = index.estimate(conn, spec)
        if total is None:
            total, estimated = guess, True  # replaced by the exact count when the matches get sorted
        covered = index.covered(order, spec)
        budget = self.walk_budget * COVERED_BUDGET_FACTOR if covered else None
        if guess <= self.few:
            return _Plan(total, estimated, Plan.SORT, folded, budget)
        if guess >= SORT_FIRST_BELOW:
            return _Plan(total, estimated, Plan.BUDGET, folded, budget)
        # The estimate is not to be trusted (see SORT_FIRST_BELOW).
        if covered:
            # Index-only walk: a short one either finds the page (many matches) or samples how many match.
            return _Plan(total, estimated, Plan.BUDGET, folded, budget, probe=self.probe_budget)
        # Heap walk (costly per entry): sort the matches unless there are more than sort_cap of them.
        return _Plan(total, estimated, Plan.SORT, folded, budget, cap=self.sort_cap)

    def _population(self, conn: Any, spec: SearchSpec, order: tuple[str, ...]) -> int | None:
        """How many index entries a walk of this sort goes through (None: unknown)."""
        pushed = [c for c in spec.conditions if order[0] in (c.field.column, c.field.norm)]
        if not pushed:
            return analytics_index.counter_sum(conn, "total")
        if len(pushed) == 1:
            counted = _counter_for(SearchSpec(level=spec.level, conditions=pushed))
            if counted is not None:
                return analytics_index.counter_sum(conn, *counted)
        return None

    def detail(self, study_instance_uid: str) -> StudyDetail:
        from pacs.dicom.uid import is_valid_uid

        if not is_valid_uid(study_instance_uid):
            raise BadRequestError(f"{study_instance_uid!r} is not a valid Study Instance UID")
        with self.engine.connect() as conn:
            row = index.study(conn, study_instance_uid)
            if row is None:
                raise NotFoundError(f"study {study_instance_uid} is not in the archive")
            series = index.series_of(conn, row.pop("id"))
        return StudyDetail(row, series)
