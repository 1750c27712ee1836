"""The study list and study page in Debian's Chromium against the real API on PostgreSQL (issue 5).

What a person sees: the rows in the table, the count above it, the URL they can share."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, timedelta

import pytest
from playwright.sync_api import Page, expect

from .conftest import Portal
from .studies import Study, blobs_of, study

N = 27
MODALITIES = ["CT", "MR", "US"]


@pytest.fixture(scope="module")
def archive(portal: Portal) -> Iterator[list[Study]]:
    """27 studies E2E-000..E2E-026 (CT/MR/US in turn, 1-3 instances) plus two of today's studies."""
    portal.reset()
    studies = [
        study(
            mrn=f"E2E-{i:03d}",
            accession=f"ACC{i:05d}",
            name="Müller^Anna" if i == 5 else f"Tester^Pat{i:02d}",
            modality=MODALITIES[i % 3],
            date=(date(2024, 1, 1) + timedelta(days=i)).strftime("%Y%m%d"),
            instances=1 + i % 3,
            description=f"{MODALITIES[i % 3]} STUDY {i:02d}",
        )
        for i in range(N)
    ]
    today = date.today().strftime("%Y%m%d")
    studies += [
        study(
            mrn=f"TODAY-{i}",
            accession=f"TDY{i}",
            name=f"Today^Pat{i}",
            modality="CT",
            date=today,
            instances=1,
        )
        for i in range(2)
    ]
    portal.store(blobs_of(studies))
    yield studies
    portal.reset()  # leave an empty archive to the next module


def rows(page: Page):
    return page.locator("table.study-list tbody tr")


def column(page: Page, col: str) -> list[str]:
    return [t.strip() for t in page.locator(f"table.study-list tbody [data-col={col}]").all_inner_texts()]


def wait_settled(page: Page) -> None:
    """The table shows the answer for the current URL (not the previous page's rows)."""
    expect(page.locator("table.study-list[aria-busy=true]")).to_have_count(0)
    expect(page.get_by_role("status")).to_have_count(0)


def open_list(page: Page, portal: Portal, query: str = "") -> None:
    page.goto(f"{portal.url}/{query}")
    expect(rows(page).first).to_be_visible()
    wait_settled(page)


def test_filter_by_mrn_shows_exactly_that_study(page: Page, portal: Portal, archive: list[Study]) -> None:
    open_list(page, portal)
    page.get_by_label("MRN").fill("E2E-007")
    page.get_by_label("MRN").press("Enter")
    expect(page).to_have_url(re.compile(r"[?&]mrn=E2E-007"))
    expect(rows(page)).to_have_count(1)
    assert column(page, "patient_id") == ["E2E-007"]
    assert column(page, "accession_number") == ["ACC00007"]
    expect(page.get_by_test_id("study-count")).to_have_text("1 study")


def test_filter_by_mrn_wildcard(page: Page, portal: Portal, archive: list[Study]) -> None:
    open_list(page, portal, "?sort=patient_id")
    page.get_by_label("MRN").fill("E2E-01*")
    page.get_by_role("button", name="Search").click()
    expect(rows(page)).to_have_count(10)
    assert column(page, "patient_id") == [f"E2E-{i:03d}" for i in range(10, 20)]
    expect(page.get_by_test_id("study-count")).to_have_text("10 studies")


def test_filter_by_accession(page: Page, portal: Portal, archive: list[Study]) -> None:
    open_list(page, portal)
    page.get_by_label("Accession").fill("ACC00015")
    page.get_by_label("Accession").press("Enter")
    expect(page).to_have_url(re.compile(r"[?&]accession=ACC00015"))
    expect(rows(page)).to_have_count(1)
    assert column(page, "patient_id") == ["E2E-015"]
    assert column(page, "accession_number") == ["ACC00015"]
    assert column(page, "modalities") == ["CT"]  # 15 % 3 == 0
    assert column(page, "number_of_instances") == ["1"]


def test_name_filter_ignores_case_and_accents(page: Page, portal: Portal, archive: list[Study]) -> None:
    open_list(page, portal)
    page.get_by_label("Patient name").fill("muller")
    page.get_by_label("Patient name").press("Enter")
    expect(rows(page)).to_have_count(1)
    assert column(page, "patient_id") == ["E2E-005"]
    assert column(page, "patient_name") == ["Müller, Anna"]


def test_modality_filter_several_at_once(page: Page, portal: Portal, archive: list[Study]) -> None:
    open_list(page, portal, "?limit=50")
    page.get_by_role("checkbox", name="MR").check()
    page.get_by_role("checkbox", name="US").check()
    page.get_by_role("button", name="Search").click()
    expect(page).to_have_url(re.compile(r"modality=MR&modality=US"))
    expected = sorted(s.mrn for s in archive if s.modality in ("MR", "US"))
    expect(rows(page)).to_have_count(len(expected))
    assert sorted(column(page, "patient_id")) == expected
    assert set(column(page, "modalities")) == {"MR", "US"}


def test_date_preset_today(page: Page, portal: Portal, archive: list[Study]) -> None:
    open_list(page, portal)
    page.get_by_role("button", name="Today").click()
    iso = date.today().isoformat()
    expect(page).to_have_url(re.compile(rf"date_from={iso}&date_to={iso}"))
    expect(rows(page)).to_have_count(2)
    assert sorted(column(page, "patient_id")) == ["TODAY-0", "TODAY-1"]


def test_sort_on_a_column_both_ways(page: Page, portal: Portal, archive: list[Study]) -> None:
    open_list(page, portal, "?mrn=E2E-*&limit=50")
    mrns = sorted(s.mrn for s in archive if s.mrn.startswith("E2E-"))
    header = page.get_by_role("columnheader", name="MRN")
    header.get_by_role("button").click()
    expect(page).to_have_url(re.compile(r"sort=patient_id(&|$)"))
    expect(header).to_have_attribute("aria-sort", "ascending")
    wait_settled(page)
    assert column(page, "patient_id") == mrns
    header.get_by_role("button").click()
    expect(page).to_have_url(re.compile(r"sort=-patient_id"))
    expect(header).to_have_attribute("aria-sort", "descending")
    wait_settled(page)
    assert column(page, "patient_id") == mrns[::-1]
    # another column: instances, descending -> the 3-instance studies first
    inst = page.get_by_role("columnheader", name="Instances")
    inst.get_by_role("button").click()
    inst.get_by_role("button").click()
    expect(inst).to_have_attribute("aria-sort", "descending")
    wait_settled(page)
    counts = [int(c) for c in column(page, "number_of_instances")]
    assert counts == sorted(counts, reverse=True) and counts[0] == 3


def test_page_forward_and_back_lands_on_the_same_rows(
    page: Page, portal: Portal, archive: list[Study]
) -> None:
    open_list(page, portal, "?mrn=E2E-*&sort=patient_id&limit=10")
    expected = [[f"E2E-{i:03d}" for i in range(a, min(a + 10, N))] for a in (0, 10, 20)]
    expect(page.get_by_test_id("study-count")).to_have_text(f"{N} studies")
    assert column(page, "patient_id") == expected[0]
    prev = page.get_by_role("button", name="Previous")
    nxt = page.get_by_role("button", name="Next")
    expect(prev).to_be_disabled()

    nxt.click()
    expect(page).to_have_url(re.compile(r"cursor="))
    wait_settled(page)
    expect(rows(page).first.locator("[data-col=patient_id]")).to_have_text(expected[1][0])
    assert column(page, "patient_id") == expected[1]
    nxt.click()
    expect(rows(page)).to_have_count(7)
    wait_settled(page)
    assert column(page, "patient_id") == expected[2]
    expect(nxt).to_be_disabled()

    prev.click()
    expect(rows(page)).to_have_count(10)
    wait_settled(page)
    expect(rows(page).first.locator("[data-col=patient_id]")).to_have_text(expected[1][0])
    assert column(page, "patient_id") == expected[1]
    prev.click()
    wait_settled(page)
    expect(rows(page).first.locator("[data-col=patient_id]")).to_have_text(expected[0][0])
    assert column(page, "patient_id") == expected[0]
    expect(prev).to_be_disabled()

    # The browser's Back button walks the same pages (state is in the URL).
    page.go_back()
    wait_settled(page)
    expect(rows(page).first.locator("[data-col=patient_id]")).to_have_text(expected[1][0])
    assert column(page, "patient_id") == expected[1]


def test_page_size_choice(page: Page, portal: Portal, archive: list[Study]) -> None:
    open_list(page, portal, "?mrn=E2E-*&sort=patient_id")
    expect(rows(page)).to_have_count(25)
    page.get_by_label("Rows per page").select_option("10")
    expect(page).to_have_url(re.compile(r"limit=10"))
    expect(rows(page)).to_have_count(10)


def test_shared_url_restores_filters_and_sort(page: Page, portal: Portal, archive: list[Study]) -> None:
    open_list(page, portal, "?modality=US&sort=-study_date&limit=5")
    us = sorted((s for s in archive if s.modality == "US"), key=lambda s: s.date, reverse=True)
    assert column(page, "patient_id") == [s.mrn for s in us[:5]]
    expect(page.get_by_role("checkbox", name="US")).to_be_checked()
    expect(page.get_by_label("Rows per page")).to_have_value("5")
    expect(page.get_by_role("columnheader", name="Study date / time")).to_have_attribute(
        "aria-sort", "descending"
    )


def test_empty_and_error_states(page: Page, portal: Portal, archive: list[Study]) -> None:
    page.goto(f"{portal.url}/?mrn=NOBODY")
    expect(page.get_by_text("No studies match these filters.")).to_be_visible()
    expect(page.get_by_test_id("study-count")).to_have_text("0 studies")
    page.goto(f"{portal.url}/?date_from=2024-13-45")
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("date_from")
    expect(alert).to_contain_text("HTTP 400")


def test_study_page_series_thumbnails_and_viewer_link(
    page: Page, portal: Portal, archive: list[Study]
) -> None:
    s = next(x for x in archive if x.mrn == "E2E-002")  # US, 3 instances
    open_list(page, portal, "?mrn=E2E-002")
    page.get_by_role("link", name="Tester, Pat02", exact=True).click()
    expect(page).to_have_url(re.compile(rf"/studies/{re.escape(s.uid)}$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Tester, Pat02")
    expect(page.locator(".fact", has_text="MRN")).to_contain_text("E2E-002")
    expect(page.locator(".fact", has_text="Accession")).to_contain_text("ACC00002")
    cards = page.locator(".series-card")
    expect(cards).to_have_count(1)
    expect(cards.first).to_contain_text("3 instances")
    img = cards.first.locator("img")
    expect(img).to_have_attribute(
        "src", re.compile(rf"/dicom-web/studies/{re.escape(s.uid)}/series/.+/thumbnail")
    )
    img.scroll_into_view_if_needed()
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=img.element_handle())
    link = cards.first.get_by_role("link", name=re.compile("Open .* in the viewer"))
    expect(link).to_have_attribute("href", re.compile(rf"^/viewer/{re.escape(s.uid)}\?series="))
    expect(page.get_by_role("link", name="Open viewer", exact=True)).to_have_attribute(
        "href", f"/viewer/{s.uid}"
    )


def test_count_updates_live_when_a_study_arrives(page: Page, portal: Portal, archive: list[Study]) -> None:
    page.goto(f"{portal.url}/?mrn=LIVE-*")
    expect(page.get_by_text("No studies match these filters.")).to_be_visible()
    expect(page.locator(".live-open")).to_be_visible()
    page.evaluate("window.__noReload = true")
    portal.stow(
        study(
            mrn="LIVE-1", accession="LIVE1", name="Live^One", modality="CT", date="20240301", instances=2
        ).blobs()
    )
    expect(page.get_by_test_id("study-count")).to_have_text("1 study", timeout=10_000)
    expect(rows(page)).to_have_count(1)
    assert column(page, "number_of_instances") == ["2"]
    assert page.evaluate("window.__noReload") is True


def test_keyboard_only_sort_and_page(page: Page, portal: Portal, archive: list[Study]) -> None:
    """Sorting and paging work from the keyboard (buttons in the column headers, the pager's buttons)."""
    open_list(page, portal, "?mrn=E2E-*&limit=10")
    page.get_by_label("MRN").focus()
    page.keyboard.press("Shift+Tab")  # out of the field and back: it is in the tab order
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.name") == "mrn"
    header = page.get_by_role("columnheader", name="MRN")
    header.get_by_role("button").focus()
    page.keyboard.press("Enter")
    expect(header).to_have_attribute("aria-sort", "ascending")
    wait_settled(page)
    assert column(page, "patient_id")[0] == "E2E-000"
    page.get_by_role("button", name="Next").focus()
    page.keyboard.press("Space")
    wait_settled(page)
    expect(rows(page).first.locator("[data-col=patient_id]")).to_have_text("E2E-010")
    # The count is announced politely to screen readers.
    expect(page.get_by_test_id("study-count")).to_have_attribute("aria-live", "polite")


def test_study_list_does_not_load_the_viewer(page: Page, portal: Portal, archive: list[Study]) -> None:
    """The viewer (Cornerstone3D, megabytes) is a lazy chunk: the list never downloads it; the viewer route does."""
    scripts: list[str] = []
    page.on("request", lambda r: scripts.append(r.url) if r.resource_type == "script" else None)
    open_list(page, portal)
    assert scripts and not [u for u in scripts if "ViewerPage" in u], scripts
    page.get_by_role("link", name=re.compile(r"^Open viewer for")).first.click()
    expect(page).to_have_url(re.compile(r"/viewer/"))
    page.wait_for_function(
        "() => performance.getEntriesByType('resource').some(e => e.name.includes('ViewerPage'))"
    )
