"""Demo seeding on first start: a few hundred synthetic studies through the ingest path, when empty.

``start_demo_seed(settings)`` runs :func:`seed_if_empty` in a daemon thread, so it never blocks startup or
readiness; the portal shows the studies as they arrive.

Safe with several replicas starting at once: the demo studies have deterministic UIDs (seed 0) and ingest is
idempotent, so replicas that seed concurrently store each study once; each replica skips the studies already
indexed (checked study by study), so an interrupted seed is completed by the next start. An archive that
holds other studies (no demo study 1) is never seeded.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from pacs.config import Settings

log = logging.getLogger(__name__)

#: Demo series are capped at this many instances (a CT series of 16 slices), to keep the demo small.
DEMO_MAX_INSTANCES = 16
DEMO_SEED = 0


def seed_if_empty(
    services: object,
    n_studies: int,
    *,
    seed: int = DEMO_SEED,
    on_study: Callable[[int], None] | None = None,
) -> int:
    """Seed the demo studies unless the archive holds other data; return how many studies were stored now."""
    from pacs.index import bulk as sql
    from pacs.synth.plan import study_uid

    engine = services.engine  # type: ignore[attr-defined]
    if n_studies <= 0:
        return 0
    first, last = study_uid(seed, 0), study_uid(seed, n_studies - 1)
    with engine.connect() as conn:
        any_study = sql.has_studies(conn)
        have_first = sql.count_existing_studies(conn, [first]) == 1
        have_last = sql.count_existing_studies(conn, [last]) == 1
    if any_study and not have_first:
        log.info("demo seed skipped: the archive already holds studies")
        return 0
    if have_first and have_last:
        return 0
    return seed_studies(services, n_studies, seed=seed, on_study=on_study)


def seed_studies(
    services: object,
    n_studies: int,
    *,
    seed: int = DEMO_SEED,
    max_instances: int = DEMO_MAX_INSTANCES,
    on_study: Callable[[int], None] | None = None,
) -> int:
    """Store the planned studies through ingest, skipping those already indexed; return how many were new."""
    from pacs.index import bulk as sql
    from pacs.synth.generate import study_files
    from pacs.synth.plan import Planner

    engine = services.engine  # type: ignore[attr-defined]
    ingest = services.ingest  # type: ignore[attr-defined]
    planner = Planner(seed, n_studies, max_instances)
    stored = 0
    t0 = time.perf_counter()
    for study in planner:
        with engine.connect() as conn:
            if sql.count_existing_studies(conn, [study.uid]):
                continue  # another replica, or an earlier start, stored it
        blobs = [data for _, data in study_files(study)]
        for i in range(0, len(blobs), 32):
            outcomes = ingest.store_many(blobs[i : i + 32])
            bad = [o for o in outcomes if not o.ok]
            if bad:
                log.warning("demo seed: %d instances not stored: %s", len(bad), bad[0].detail)
        stored += 1
        if on_study:
            on_study(study.index)
    if on_study and stored == 0:
        on_study(n_studies - 1)
    log.info("demo seed: %d studies stored in %.1f s", stored, time.perf_counter() - t0)
    return stored


def start_demo_seed(settings: Settings, *, delay: float = 1.0) -> threading.Thread:
    """Seed in a daemon thread with its own services (engine pool and object store)."""

    def run() -> None:
        time.sleep(delay)
        from pacs.services import Services

        services = Services.create(settings)
        try:
            seed_if_empty(services, settings.seed_demo_studies)
        except Exception:
            log.exception(
                "demo seed failed; the archive works without it (PACS_SEED_DEMO=false turns it off)"
            )
        finally:
            services.close()

    thread = threading.Thread(target=run, name="demo-seed", daemon=True)
    thread.start()
    return thread
