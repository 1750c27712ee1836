"""The portal JSON API (mounted at ``/api``): study list, study page, dashboard analytics, live events.

A front door: it parses parameters, calls the services (:mod:`pacs.query.studylist`, :mod:`pacs.analytics`)
and renders JSON. Errors are ``PacsError`` subclasses rendered as ``{"error", "detail"}`` by the app.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from pacs.analytics import AnalyticsService
from pacs.analytics.events import EventHub, event_type
from pacs.analytics.service import IngestInterval, Interval
from pacs.db import direct_url, libpq_url
from pacs.exceptions import BadRequestError
from pacs.portal.schemas import (
    ArchiveSummary,
    IngestBucket,
    ModalityStat,
    NameCount,
    SeriesRead,
    StudyDetailRead,
    StudyPage,
    StudyRead,
    TimeBucket,
    iso_date,
    iso_time,
)
from pacs.query.studylist import (
    DEFAULT_LIMIT,
    DEFAULT_SORT,
    MAX_LIMIT,
    SORT_VALUES,
    StudyFilter,
    StudyListService,
)
from pacs.services import Services

router = APIRouter()

#: An SSE stream ends after this long; EventSource reconnects by itself (keeps shutdowns and proxies happy).
STREAM_SECONDS = 300.0
KEEPALIVE_SECONDS = 15.0


@dataclass
class PortalServices:
    studies: StudyListService
    analytics: AnalyticsService
    events: EventHub


_init_lock = threading.Lock()


def portal(request: Request) -> PortalServices:
    """The portal's services, built once per app from the shared :class:`Services`."""
    state = request.app.state
    existing = getattr(state, "portal", None)
    if existing is not None:
        return existing  # type: ignore[no-any-return]
    with _init_lock:
        existing = getattr(state, "portal", None)
        if existing is None:
            services: Services = state.services
            analytics = AnalyticsService(services.engine)
            existing = PortalServices(
                studies=StudyListService(services.engine, services.settings.secret_key),
                analytics=analytics,
                events=EventHub(libpq_url(direct_url(services.settings)), on_notify=analytics.fold),
            )
            state.portal = existing
    return existing


def _date(name: str, value: str | None) -> date | None:
    """A YYYY-MM-DD query parameter (``date.fromisoformat`` alone would also take 20240101 or 2024-W01)."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if len(text) == 10:
        try:
            return date.fromisoformat(text)
        except ValueError:
            pass
    raise BadRequestError(f"{name}: {value!r} is not a valid date; use YYYY-MM-DD")


# ---------------------------------------------------------------------------------------------------------
# study list and study page
# ---------------------------------------------------------------------------------------------------------


@router.get("/studies", response_model=StudyPage, summary="Search the study list (keyset pages)")
def list_studies(
    request: Request,
    mrn: Annotated[str | None, Query(description="PatientID; * and ? wildcards")] = None,
    accession: Annotated[str | None, Query(description="AccessionNumber; * and ? wildcards")] = None,
    name: Annotated[
        str | None,
        Query(
            description="PatientName, case/accent-insensitive; wildcards, else every word starts a name part"
        ),
    ] = None,
    modality: Annotated[
        list[str] | None, Query(description="Modality in study; repeat for any of several")
    ] = None,
    date_from: Annotated[str | None, Query(description="StudyDate from (YYYY-MM-DD, inclusive)")] = None,
    date_to: Annotated[str | None, Query(description="StudyDate to (YYYY-MM-DD, inclusive)")] = None,
    description: Annotated[
        str | None, Query(description="StudyDescription, case/accent-insensitive; contains, or wildcards")
    ] = None,
    referring: Annotated[str | None, Query(description="ReferringPhysicianName; matched like name")] = None,
    sort: Annotated[
        str,
        Query(
            description="Field to sort by; prefix '-' for descending",
            json_schema_extra={"enum": SORT_VALUES},
        ),
    ] = DEFAULT_SORT,
    limit: Annotated[int, Query(description=f"Page size, 1 to {MAX_LIMIT}")] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(description="next_cursor / prev_cursor of a previous page")] = None,
) -> StudyPage:
    """The global study list, filtered with the QIDO-RS matching engine (PS3.4 C.2.2.2), sorted on any column
    and paged with signed keyset cursors: every page costs what the first costs."""
    flt = StudyFilter(
        mrn=mrn,
        accession=accession,
        name=name,
        modality=tuple(modality or ()),
        date_from=date_from,
        date_to=date_to,
        description=description,
        referring=referring,
    )
    page = portal(request).studies.page(flt, sort=sort, limit=limit, cursor=cursor or None)
    return StudyPage(
        items=[StudyRead.from_row(r) for r in page.items],
        next_cursor=page.next_cursor,
        prev_cursor=page.prev_cursor,
        total=page.total,
        total_is_estimate=page.total_is_estimate,
        sort=page.sort,
        limit=page.limit,
    )


@router.get("/studies/{study_instance_uid}", response_model=StudyDetailRead, summary="The study page")
def get_study(request: Request, study_instance_uid: str) -> StudyDetailRead:
    """Patient and study header plus the series with their counts and WADO-RS thumbnail URLs."""
    detail = portal(request).studies.detail(study_instance_uid)
    uid = detail.study["study_instance_uid"]
    return StudyDetailRead(
        study=StudyRead.from_row(detail.study),
        study_id=detail.study["study_id"],
        retrieve_url=f"/dicom-web/studies/{uid}",
        series=[
            SeriesRead(
                series_instance_uid=s["series_instance_uid"],
                series_number=s["series_number"],
                modality=s["modality"],
                series_description=s["series_description"],
                body_part_examined=s["body_part_examined"],
                series_date=iso_date(s["series_date"]),
                series_time=iso_time(s["series_time"]),
                number_of_instances=s["number_of_instances"],
                size_bytes=s["size_bytes"],
                thumbnail_url=f"/dicom-web/studies/{uid}/series/{s['series_instance_uid']}/thumbnail",
            )
            for s in detail.series
        ],
    )


# ---------------------------------------------------------------------------------------------------------
# analytics
# ---------------------------------------------------------------------------------------------------------


@router.get("/analytics/summary", response_model=ArchiveSummary, summary="Studies, instances, bytes")
def analytics_summary(request: Request) -> ArchiveSummary:
    return ArchiveSummary(**portal(request).analytics.summary())


@router.get(
    "/analytics/modalities", response_model=list[ModalityStat], summary="Modality distribution and storage"
)
def analytics_modalities(request: Request) -> list[ModalityStat]:
    """Per modality over the whole archive: studies containing it, its instances and their bytes."""
    return [ModalityStat(**m) for m in portal(request).analytics.modalities()]


@router.get("/analytics/studies", response_model=list[TimeBucket], summary="Studies per day/week/month")
def analytics_studies(
    request: Request,
    interval: Interval = Interval.day,
    date_from: Annotated[str | None, Query(description="YYYY-MM-DD; default depends on interval")] = None,
    date_to: Annotated[str | None, Query(description="YYYY-MM-DD; default today (UTC)")] = None,
) -> list[TimeBucket]:
    """Studies by StudyDate in every bucket of the period (weeks start on Monday)."""
    lo, hi = _date("date_from", date_from), _date("date_to", date_to)
    buckets = portal(request).analytics.studies_over_time(lo, hi, interval)
    return [TimeBucket(start=b.start, studies=b.studies) for b in buckets]


@router.get("/analytics/ingest", response_model=list[IngestBucket], summary="Ingest rate")
def analytics_ingest(
    request: Request,
    interval: IngestInterval = IngestInterval.minute,
    count: Annotated[int, Query(description="Buckets back from now: minutes (≤1440) or days (≤366)")] = 60,
) -> list[IngestBucket]:
    """What was stored per minute or per day (UTC), oldest first, the current bucket last."""
    return [
        IngestBucket(start=b.start, studies=b.studies, instances=b.instances, bytes=b.bytes)
        for b in portal(request).analytics.ingest(interval, count)
    ]


@router.get("/analytics/referring", response_model=list[NameCount], summary="Top referring physicians")
def analytics_referring(request: Request, limit: int = 10) -> list[NameCount]:
    return [NameCount(**r) for r in portal(request).analytics.top("referring", limit)]


@router.get("/analytics/institutions", response_model=list[NameCount], summary="Top institutions")
def analytics_institutions(request: Request, limit: int = 10) -> list[NameCount]:
    return [NameCount(**r) for r in portal(request).analytics.top("institution", limit)]


# ---------------------------------------------------------------------------------------------------------
# live events (server-sent events)
# ---------------------------------------------------------------------------------------------------------


@router.get(
    "/events",
    summary="Live events (text/event-stream)",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "Server-sent events"}},
)
async def events(request: Request) -> StreamingResponse:
    """Server-sent events: ``ready`` once listening, ``instances_stored`` after every ingest commit on any
    replica (data: ``{"type", "count", "studies"}``), ``resync`` after the listener reconnected (refetch)."""
    hub = await run_in_threadpool(portal, request)
    queue = hub.events.subscribe()

    async def stream() -> AsyncIterator[str]:
        try:
            yield "retry: 3000\n\n"
            end = time.monotonic() + STREAM_SECONDS
            while time.monotonic() < end:
                try:
                    payload = await asyncio.wait_for(queue.get(), timeout=KEEPALIVE_SECONDS)
                except TimeoutError:
                    yield ": keepalive\n\n"
                    continue
                yield f"event: {event_type(payload)}\ndata: {payload}\n\n"
        finally:
            hub.events.unsubscribe(queue)

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
