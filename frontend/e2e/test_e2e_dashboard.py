"""The analytics dashboard in Debian's Chromium against the real API on PostgreSQL (issue 5): the right count per
modality, and a study stored (STOW-RS) while the dashboard is open appears without a reload."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from .conftest import Portal
from .studies import Study, blobs_of, study

# modality -> (studies, instances per study)
KNOWN = {"CT": (3, 2), "MR": (2, 1), "US": (1, 3)}


@pytest.fixture(scope="module")
def archive(portal: Portal) -> Iterator[list[Study]]:
    portal.reset()
    studies = [
        study(
            mrn=f"DASH-{m}-{i}",
            accession=f"D{m}{i}",
            name=f"Dash^{m}{i}",
            modality=m,
            date="20240610",
            instances=per,
            referring="Cuddy^Lisa" if m == "CT" else "House^Gregory",
            institution="North Clinic" if m == "MR" else "General Hospital",
        )
        for m, (n, per) in KNOWN.items()
        for i in range(n)
    ]
    portal.store(blobs_of(studies))
    yield studies
    portal.reset()  # leave an empty archive to the next module


def modality_cell(page: Page, modality: str, col: str):
    return page.locator(f"[data-testid=modality-table] tr[data-modality={modality}] [data-col={col}]")


def test_dashboard_shows_the_count_per_modality(page: Page, portal: Portal, archive: list[Study]) -> None:
    page.goto(f"{portal.url}/dashboard")
    expect(page.get_by_text("Synthetic data — not for clinical use.")).to_be_visible()
    table = page.get_by_test_id("modality-table")
    expect(table.locator("tbody tr")).to_have_count(len(KNOWN))
    for m, (n, per) in KNOWN.items():
        expect(modality_cell(page, m, "studies")).to_have_text(str(n))
        expect(modality_cell(page, m, "instances")).to_have_text(str(n * per))
    expect(page.get_by_test_id("total-studies")).to_have_text(str(len(archive)))
    expect(page.get_by_test_id("total-instances")).to_have_text(
        str(sum(n * per for n, per in KNOWN.values()))
    )
    # Top referring physicians: Cuddy (3 CT studies) first, then House (3) -- both shown with their counts.
    ranking = page.locator("#referring-card .ranking li")
    expect(ranking).to_have_count(2)
    expect(page.locator("#referring-card")).to_contain_text("Cuddy, Lisa")
    expect(page.locator("#institutions-card .ranking li").first).to_contain_text("General Hospital")
    expect(page.locator("#institutions-card .ranking li").first).to_contain_text("4")
    # Charts are drawn (Chart.js canvases with size), not empty placeholders.
    canvases = page.locator(".chart canvas")
    expect(canvases).to_have_count(4)
    assert page.evaluate(
        "[...document.querySelectorAll('.chart canvas')].every(c => c.width > 0 && c.height > 0)"
    )


def test_studies_over_time_period_choice(page: Page, portal: Portal, archive: list[Study]) -> None:
    page.goto(f"{portal.url}/dashboard")
    card = page.locator("#time-card")
    with page.expect_response(re.compile(r"/api/analytics/studies\?interval=week")) as resp:
        card.get_by_label("Per", exact=True).select_option("week")
    assert resp.value.status == 200
    expect(card.locator("canvas")).to_have_attribute("aria-label", re.compile("Studies per week"))
    with page.expect_response(re.compile(r"/api/analytics/studies\?interval=week&date_from=")) as resp:
        card.get_by_label("Period", exact=True).select_option(label="Last 10 years")
    buckets = resp.value.json()
    # The stored studies are all dated 2024-06-10 (a Monday): one weekly bucket holds them all.
    june = [b for b in buckets if b["start"] == "2024-06-10"]
    assert june and june[0]["studies"] == len(archive)


def test_a_study_stored_while_open_appears_without_reload(
    page: Page, portal: Portal, archive: list[Study]
) -> None:
    page.goto(f"{portal.url}/dashboard")
    expect(modality_cell(page, "MR", "studies")).to_have_text("2")
    expect(page.locator(".live-open")).to_be_visible()  # the SSE stream is connected
    page.evaluate("window.__noReload = true")
    new = study(
        mrn="DASH-NEW", accession="DNEW", name="Dash^New", modality="MR", date="20240611", instances=4
    )
    portal.stow(new.blobs())  # STOW-RS over HTTP, like a modality or another PACS would
    expect(modality_cell(page, "MR", "studies")).to_have_text("3", timeout=10_000)
    expect(modality_cell(page, "MR", "instances")).to_have_text("6")
    expect(page.get_by_test_id("total-studies")).to_have_text(str(len(archive) + 1))
    assert page.evaluate("window.__noReload") is True  # same document: no reload happened
