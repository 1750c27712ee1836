"""The DICOM viewer (issue 6), end to end: Debian's Chromium (WebGL through SwiftShader) drives the BUILT portal
served by ``vite preview``, which proxies /dicom-web to the real backend on a real PostgreSQL database.

Pixels are read back from the viewport's canvas (what Cornerstone3D drew, without the text overlays on top) and
checked against what the DICOM data says: the synthetic CT series has known geometry (0.5 mm pixels, two bright
markers 128 pixels = 64 mm apart, a disc of 40..59 HU), and the compressed / multi-frame / colour files are
pydicom's own test files, decoded by pydicom for comparison.
"""

from __future__ import annotations

import base64
import re
import time
from io import BytesIO
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest
from PIL import Image
from playwright.sync_api import Page, expect
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate
from pydicom.uid import JPEGBaseline8Bit, generate_uid

from tests.dicomfactory import ct_dataset, to_bytes

SIZE = 256  # CT slice size in pixels
SPACING = 0.5  # mm per pixel
SLICES = 12
MARKERS = ((32, 64), (32, 192))  # (row, column) of the two 5x5 bright markers: 128 px = 64 mm apart
MARKER_MM = (MARKERS[1][1] - MARKERS[0][1]) * SPACING


# ---------------------------------------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------------------------------------


def ct_series(
    n: int = SLICES,
    *,
    study_uid: str | None = None,
    series_number: int = 1,
    description: str = "AXIAL 0.5mm",
    patient: str = "VIEWER^TEST",
) -> tuple[str, str, list[bytes]]:
    """A CT series whose disc grows from slice to slice, with two markers of known distance on every slice."""
    study = study_uid or generate_uid()
    series = generate_uid()
    blobs = []
    yy, xx = np.mgrid[:SIZE, :SIZE]
    for i in range(n):
        ds = ct_dataset(
            study_uid=study,
            series_uid=series,
            size=SIZE,
            instance_number=i + 1,
            patient_name=patient,
            patient_id="VIEW0001",
            accession="VACC0001",
        )
        radius = SIZE * (0.15 + 0.2 * i / max(1, n - 1))
        disc = (yy - SIZE / 2) ** 2 + (xx - SIZE / 2) ** 2 < radius**2
        rng = np.random.default_rng(i)
        px = np.where(disc, 1064, 24).astype(np.int16) + rng.integers(0, 20, (SIZE, SIZE), dtype=np.int16)
        for r, c in MARKERS:
            px[r - 2 : r + 3, c - 2 : c + 3] = 3024  # 2000 HU
        ds.PixelData = px.tobytes()
        ds.PixelSpacing = [SPACING, SPACING]
        ds.SeriesNumber = series_number
        ds.SeriesDescription = description
        ds.SliceLocation = float(i)
        ds.ImagePositionPatient = [0.0, 0.0, float(i)]
        blobs.append(to_bytes(ds))
    return study, series, blobs


def reuid(ds: Dataset) -> Dataset:
    """A copy of a test file under fresh UIDs (pydicom's MR_small_* variants share one SOP Instance UID)."""
    sop = generate_uid()
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.SOPInstanceUID = sop
    ds.file_meta.MediaStorageSOPInstanceUID = sop
    if "PatientID" not in ds or not ds.PatientID:
        ds.PatientID = "VIEW0002"
    return ds


def pydicom_file(name: str) -> tuple[Dataset, bytes]:
    path = get_testdata_file(name)
    assert path, f"pydicom test file {name} is missing"
    ds = reuid(pydicom.dcmread(path))
    return ds, to_bytes(ds)


# ---------------------------------------------------------------------------------------------------------
# page helpers
# ---------------------------------------------------------------------------------------------------------


# Generous: the machine that runs CI may be busy (2 cores); these are waits, not speed checks (see bench/).
SLOW = 60_000


def open_viewer(page: Page, portal: Any, study: str, query: str = "", index: int = 0) -> None:
    page.goto(f"{portal.url}/viewer/{study}{query}")
    wait_rendered(page, index)


def wait_rendered(page: Page, index: int = 0) -> None:
    pane = page.get_by_test_id(f"viewport-{index}")
    expect(pane).to_have_attribute("data-status", "ready", timeout=SLOW)
    page.wait_for_function(
        "i => Number(document.querySelector(`[data-testid=viewport-${i}]`).dataset.rendered) > 0",
        arg=index,
        timeout=SLOW,
    )


def eventually(page: Page, probe: Any, check: Any, what: str, timeout_s: float = 30) -> Any:
    """Poll ``probe()`` until ``check(value)`` holds (renders are asynchronous); fail with the last value."""
    deadline = time.monotonic() + timeout_s
    value = probe()
    while not check(value):
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not reached within {timeout_s:.0f} s (last value: {value!r})")
        page.wait_for_timeout(100)
        value = probe()
    return value


def canvas_pixels(page: Page, index: int = 0) -> np.ndarray:
    """The viewport canvas as an RGB array (Cornerstone draws into this 2D canvas; overlays are separate)."""
    url = page.evaluate(
        "i => document.querySelector(`[data-testid=viewport-canvas-${i}] canvas`).toDataURL('image/png')",
        index,
    )
    png = base64.b64decode(url.split(",", 1)[1])
    return np.asarray(Image.open(BytesIO(png)).convert("RGB")).astype(np.float64)


def canvas_box(page: Page, index: int = 0) -> dict[str, float]:
    box = page.locator(f"[data-testid=viewport-canvas-{index}] canvas").bounding_box()
    assert box is not None
    return box


def fitted_rect(canvas_w: int, canvas_h: int, cols: int, rows: int) -> tuple[float, float, float, float]:
    """Where an image of cols x rows lands when fitted (aspect kept, centred) into a canvas: x0, y0, w, h."""
    scale = min(canvas_w / cols, canvas_h / rows)
    w, h = cols * scale, rows * scale
    return (canvas_w - w) / 2, (canvas_h - h) / 2, w, h


def air_strip(grey: np.ndarray) -> np.ndarray:
    """Pixels of the CT image's left edge at mid-height (air, -1000 HU, on every slice), wherever it is drawn."""
    h, w = grey.shape
    x0, y0, iw, ih = fitted_rect(w, h, SIZE, SIZE)
    row = int(y0 + ih / 2)
    return grey[row - 2 : row + 3, int(x0 + 0.02 * iw) : int(x0 + 0.1 * iw)]


def block_means(img: np.ndarray, n: int = 8) -> np.ndarray:
    """Mean of each of n x n blocks (a resolution-independent signature of an image)."""
    h, w = img.shape[:2]
    out = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            out[i, j] = img[i * h // n : (i + 1) * h // n, j * w // n : (j + 1) * w // n].mean()
    return out


def correlation_with(rendered: np.ndarray, reference: np.ndarray) -> float:
    """Pearson correlation of the block means of the rendered image area and of pydicom's decoded pixels."""
    rows, cols = reference.shape[:2]
    ch, cw = rendered.shape[:2]
    x0, y0, w, h = fitted_rect(cw, ch, cols, rows)
    crop = rendered[round(y0) : round(y0 + h), round(x0) : round(x0 + w)]
    a = block_means(crop.mean(axis=2) if crop.ndim == 3 else crop).ravel()
    ref = reference.astype(np.float64)
    b = block_means(ref.mean(axis=2) if ref.ndim == 3 else ref).ravel()
    return float(np.corrcoef(a, b)[0, 1])


def marker_centres(img: np.ndarray) -> list[tuple[float, float]]:
    """Centres (x, y in canvas pixels) of the two saturated markers, left one first."""
    white = img.min(axis=2) > 245
    ys, xs = np.nonzero(white)
    assert len(xs) > 4, "no bright markers found on the canvas"
    order = np.argsort(xs)
    xs, ys = xs[order], ys[order]
    gap = int(np.argmax(np.diff(xs)))
    left, right = slice(0, gap + 1), slice(gap + 1, None)
    return [(float(xs[s].mean()), float(ys[s].mean())) for s in (left, right)]


def overlay(page: Page, name: str, index: int = 0) -> str:
    return page.get_by_test_id(f"viewport-{index}").get_by_test_id(f"overlay-{name}").inner_text()


def measurement_value(page: Page, tool: str, must_contain: str) -> str:
    """The text of the (only) measurement of ``tool`` once Cornerstone has finished updating its statistics.

    Statistics are recomputed (throttled) while a shape is drawn, so wait until the text holds ``must_contain``
    and then stays the same for half a second.
    """
    item = page.locator(f"[data-testid=measurement][data-tool={tool}] .m-value")
    expect(item).to_have_count(1)
    expect(item).to_contain_text(must_contain)
    last, since = item.inner_text(), time.monotonic()
    deadline = since + 10
    while time.monotonic() < deadline:
        page.wait_for_timeout(100)
        now = item.inner_text()
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= 0.5:
            break
    return last


def drag(page: Page, start: tuple[float, float], end: tuple[float, float]) -> None:
    page.mouse.move(*start)
    page.mouse.down()
    page.mouse.move(*end, steps=12)
    page.mouse.up()


# ---------------------------------------------------------------------------------------------------------
# fixtures
# ---------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module", autouse=True)
def empty_archive_after(portal: Any) -> Any:
    """Leave the archive empty for the modules that run after this one (they count rows)."""
    yield
    portal.reset()


@pytest.fixture(scope="module")
def ct_study(portal: Any) -> dict[str, Any]:
    study, series, blobs = ct_series()
    study2 = study
    _, series2, blobs2 = ct_series(6, study_uid=study2, series_number=2, description="SECOND SERIES")
    portal.store(blobs + blobs2)
    return {"study": study, "series": series, "series2": series2}


# ---------------------------------------------------------------------------------------------------------
# tests
# ---------------------------------------------------------------------------------------------------------


def grey(page: Page, index: int = 0) -> np.ndarray:
    return canvas_pixels(page, index).mean(axis=2)


def drawn(page: Page, index: int = 0) -> np.ndarray:
    """The canvas once it holds an image (not uniform): a resize clears it until the next render."""
    return eventually(page, lambda: canvas_pixels(page, index), lambda im: im.std() > 10, "an image is drawn")


def centre_mean(g: np.ndarray) -> float:
    h, w = g.shape
    return float(g[h // 2 - 5 : h // 2 + 5, w // 2 - 5 : w // 2 + 5].mean())


def disc_pixels(g: np.ndarray) -> int:
    """Mid-grey pixels: the 40..59 HU disc in the file's window (W 400 L 40)."""
    return int(((g > 60) & (g < 200)).sum())


@pytest.mark.parametrize("render", ["auto", "gpu", "cpu"])
def test_ct_series_renders_real_pixels_and_overlays(
    page: Page, portal: Any, ct_study: dict[str, Any], render: str
) -> None:
    # auto: WebGL when there is a GPU, Cornerstone's CPU path when WebGL is a software emulation (SwiftShader
    # here); gpu forces WebGL, which Debian's Chromium provides through SwiftShader.
    open_viewer(page, portal, ct_study["study"], f"?render={render}")
    g = drawn(page).mean(axis=2)
    assert g.std() > 20, "the canvas is uniform: nothing was drawn"
    assert len(np.unique(g.astype(int))) > 10
    # The file's window (W 400 L 40): the 40..59 HU disc is mid-grey, air black, the 2000 HU markers white.
    assert 100 < centre_mean(g) < 170, centre_mean(g)
    assert air_strip(g).max() < 10
    assert len(marker_centres(canvas_pixels(page))) == 2
    assert overlay(page, "patient") == "VIEWER, TEST"
    assert overlay(page, "slice") == f"Im 1/{SLICES}"
    assert overlay(page, "wl") == "W 400 L 40"
    assert "AXIAL 0.5mm" in overlay(page, "series")
    assert "Loc 0.0 mm" in overlay(page, "position")
    assert re.fullmatch(r"Zoom \d+\.\d\d×", overlay(page, "zoom"))
    # Series panel: both series, with thumbnails that loaded (rendered by the archive's WADO-RS).
    expect(page.get_by_test_id("series-item")).to_have_count(2)
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-testid=series-item] img')].every(i => i.naturalWidth > 0)",
        timeout=SLOW,
    )
    # The URL names the series on display, so the view can be shared and reloaded.
    expect(page).to_have_url(re.compile(f"series={re.escape(ct_study['series'])}"))


def test_scrolling_changes_the_slice_and_the_overlay(
    page: Page, portal: Any, ct_study: dict[str, Any]
) -> None:
    open_viewer(page, portal, ct_study["study"])
    first = disc_pixels(drawn(page).mean(axis=2))
    box = canvas_box(page)
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.wheel(0, 120)
    expect(page.get_by_test_id("overlay-slice")).to_have_text(f"Im 2/{SLICES}", timeout=SLOW)
    expect(page.get_by_test_id("overlay-position")).to_contain_text("Loc 1.0 mm")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    expect(page.get_by_test_id("overlay-slice")).to_have_text(f"Im 4/{SLICES}", timeout=SLOW)
    # The disc grows from slice to slice: slice 4 shows more of it than slice 1.
    eventually(page, lambda: disc_pixels(grey(page)), lambda n: n > first * 1.15, "disc grows on slice 4")
    # The scrollbar: End on the focused range jumps to the last slice, Home back to the first.
    page.get_by_test_id("viewport-scrollbar-0").focus()
    page.keyboard.press("End")
    expect(page.get_by_test_id("overlay-slice")).to_have_text(f"Im {SLICES}/{SLICES}", timeout=SLOW)
    expect(page.get_by_test_id("viewport-0")).to_have_attribute("data-shown", str(SLICES), timeout=SLOW)
    page.keyboard.press("Home")
    expect(page.get_by_test_id("overlay-slice")).to_have_text(f"Im 1/{SLICES}", timeout=SLOW)
    eventually(
        page, lambda: disc_pixels(grey(page)), lambda n: abs(n - first) < first * 0.05, "slice 1 again"
    )


def test_window_preset_changes_the_pixels(page: Page, portal: Any, ct_study: dict[str, Any]) -> None:
    open_viewer(page, portal, ct_study["study"])
    before = centre_mean(drawn(page).mean(axis=2))
    assert 100 < before < 170
    # 50 HU is mid-grey in W 400 / L 40 (~134) and near white in the lung window W 1500 / L -600 (~237).
    page.get_by_test_id("preset-lung").click()
    expect(page.get_by_test_id("overlay-wl")).to_have_text("W 1500 L -600")
    eventually(
        page, lambda: centre_mean(grey(page)), lambda v: v > before + 60, "lung window brightens the disc"
    )
    # In the brain window (W 80 / L 40) the 40..59 HU disc sits above the centre: brighter than in W 400.
    page.get_by_test_id("preset-brain").click()
    expect(page.get_by_test_id("overlay-wl")).to_have_text("W 80 L 40")
    page.get_by_test_id("preset-bone").click()
    expect(page.get_by_test_id("overlay-wl")).to_have_text("W 1800 L 400")
    page.get_by_test_id("action-invert").click()
    expect(page.get_by_test_id("overlay-zoom")).to_contain_text("Inv")
    eventually(page, lambda: float(air_strip(grey(page)).min()), lambda v: v > 245, "inverted air is white")
    page.get_by_test_id("preset-default").click()
    expect(page.get_by_test_id("overlay-wl")).to_have_text("W 400 L 40")


def test_length_and_roi_measurements_use_pixel_spacing(
    page: Page, portal: Any, ct_study: dict[str, Any]
) -> None:
    open_viewer(page, portal, ct_study["study"])
    img = drawn(page)
    box = canvas_box(page)
    dpr = page.evaluate("() => window.devicePixelRatio")
    (x1, y1), (x2, y2) = [(box["x"] + x / dpr, box["y"] + y / dpr) for x, y in marker_centres(img)]
    page.get_by_test_id("tool-length").click()
    drag(page, (x1, y1), (x2, y2))
    text = measurement_value(page, "Length", "mm")
    assert text.endswith("mm")
    mm = float(text.split()[0])
    assert abs(mm - MARKER_MM) < 1.0, f"measured {text}, expected {MARKER_MM} mm"

    # Screen position of an image pixel, from the two markers (known image coordinates).
    scale = (x2 - x1) / (MARKERS[1][1] - MARKERS[0][1])

    def at(row: float, col: float) -> tuple[float, float]:
        return x1 + (col - MARKERS[0][1]) * scale, y1 + (row - MARKERS[0][0]) * scale

    # Rectangle ROI inside the disc (slice 1: radius 38 px): 40 HU + uniform noise 0..19 -> mean 49.5, SD 5.8.
    page.get_by_test_id("tool-rectangle").click()
    drag(page, at(112, 112), at(144, 144))
    roi = measurement_value(page, "RectangleROI", "Mean")
    mean = float(re.search(r"Mean (-?[\d.]+) HU", roi).group(1))  # type: ignore[union-attr]
    sd = float(re.search(r"SD ([\d.]+) HU", roi).group(1))  # type: ignore[union-attr]
    assert 46 < mean < 53 and 4.5 < sd < 7.5, roi
    area = float(re.search(r"Area ([\d.]+) mm", roi).group(1))  # type: ignore[union-attr]
    assert abs(area - 16 * 16) < 0.15 * 16 * 16, roi  # 32 x 32 pixels of 0.5 mm: 16 mm x 16 mm

    # Ellipse ROI, drawn from its centre: radius 12 pixels = 6 mm, inside the disc.
    page.get_by_test_id("tool-ellipse").click()
    drag(page, at(128, 128), at(140, 140))
    ell = measurement_value(page, "EllipticalROI", "Mean")
    mean = float(re.search(r"Mean (-?[\d.]+) HU", ell).group(1))  # type: ignore[union-attr]
    area = float(re.search(r"Area ([\d.]+) mm", ell).group(1))  # type: ignore[union-attr]
    assert 46 < mean < 53, ell
    assert abs(area - np.pi * 6 * 6) < 0.2 * np.pi * 6 * 6, ell

    # Angle: drag from (64, 64) to the vertex (64, 192), then click at (128, 192), straight below: a right angle.
    # (Away from the length's handles, which a press would grab; and a pause before the click, as a person
    # makes: two quick clicks are a double click.)
    page.get_by_test_id("tool-angle").click()
    drag(page, at(64, 64), at(64, 192))
    page.wait_for_timeout(600)
    page.mouse.move(*at(128, 192), steps=8)
    page.mouse.click(*at(128, 192))
    angle = float(measurement_value(page, "Angle", "°").rstrip("°"))
    assert abs(angle - 90) < 2, angle

    # Deleting a measurement removes it from the list.
    page.get_by_role("button", name="Delete Length").click()
    expect(page.locator("[data-testid=measurement][data-tool=Length]")).to_have_count(0)


def test_view_operations(page: Page, portal: Any, ct_study: dict[str, Any]) -> None:
    open_viewer(page, portal, ct_study["study"])
    base = drawn(page).mean(axis=2)
    fit_zoom = overlay(page, "zoom")
    page.get_by_test_id("action-zoomIn").click()
    expect(page.get_by_test_id("overlay-zoom")).not_to_have_text(fit_zoom)
    page.get_by_test_id("action-fit").click()
    expect(page.get_by_test_id("overlay-zoom")).to_have_text(fit_zoom)

    def markers_y() -> float:
        ys = np.nonzero(canvas_pixels(page).min(axis=2) > 245)[0]
        return float(ys.mean()) if len(ys) else -1.0

    h = base.shape[0]
    assert 0 <= markers_y() < h / 2, "the markers start in the upper half"
    page.get_by_test_id("action-flipV").click()
    eventually(page, markers_y, lambda y: y > h / 2, "a vertical flip moves the markers to the lower half")
    page.get_by_test_id("action-rotate").click()
    expect(page.get_by_test_id("overlay-zoom")).to_contain_text("Rot 90°")
    page.get_by_test_id("action-reset").click()
    expect(page.get_by_test_id("overlay-zoom")).to_have_text(fit_zoom)
    eventually(
        page,
        lambda: float(np.abs(grey(page) - base).mean()),
        lambda d: d < 2,
        "reset restores the original view",
    )


def test_layouts_and_dragging_a_series_into_a_viewport(
    page: Page, portal: Any, ct_study: dict[str, Any]
) -> None:
    open_viewer(page, portal, ct_study["study"])
    page.get_by_test_id("layout-2x2").click()
    for i in range(4):
        expect(page.get_by_test_id(f"viewport-{i}")).to_be_visible()
    # The second series fills the second viewport; the other two are empty.
    wait_rendered(page, 1)
    expect(page.get_by_test_id("viewport-1")).to_have_attribute("data-series", ct_study["series2"])
    expect(page.get_by_test_id("viewport-2")).to_have_attribute("data-status", "empty")
    first = page.locator(f"[data-testid=series-item][data-series='{ct_study['series']}']")
    first.drag_to(page.get_by_test_id("viewport-2"))
    expect(page.get_by_test_id("viewport-2")).to_have_attribute("data-series", ct_study["series"])
    wait_rendered(page, 2)
    eventually(page, lambda: float(grey(page, 2).std()), lambda v: v > 20, "the dropped series renders")
    # A click on a series shows it in the active viewport (the one dropped on).
    page.locator(f"[data-testid=series-item][data-series='{ct_study['series2']}']").click()
    expect(page.get_by_test_id("viewport-2")).to_have_attribute("data-series", ct_study["series2"])
    expect(page.get_by_test_id("viewport-2").get_by_test_id("overlay-slice")).to_have_text(
        "Im 1/6", timeout=SLOW
    )
    page.get_by_test_id("layout-1x2").click()
    expect(page.get_by_test_id("viewport-2")).to_have_count(0)
    expect(page.get_by_test_id("viewport-1")).to_be_visible()


def test_series_in_the_url_opens_that_series(page: Page, portal: Any, ct_study: dict[str, Any]) -> None:
    open_viewer(page, portal, ct_study["study"], f"?series={ct_study['series2']}")
    expect(page.get_by_test_id("viewport-0")).to_have_attribute("data-series", ct_study["series2"])
    assert overlay(page, "slice") == "Im 1/6"
    page.reload()
    wait_rendered(page)
    expect(page.get_by_test_id("viewport-0")).to_have_attribute("data-series", ct_study["series2"])


@pytest.mark.parametrize(
    "name",
    [
        "MR_small_RLE.dcm",  # RLE Lossless
        "MR_small_jp2klossless.dcm",  # JPEG 2000 Lossless
        "MR_small_jpeg_ls_lossless.dcm",  # JPEG-LS Lossless
        "JPGExtended.dcm",  # JPEG Extended, 12-bit
        "JPEG2000.dcm",  # JPEG 2000
        "SC_rgb_jpeg_dcmtk.dcm",  # JPEG Baseline, colour (YBR_FULL)
        "SC_rgb_rle.dcm",  # RLE, colour (RGB)
    ],
)
def test_compressed_and_colour_images_render(page: Page, portal: Any, name: str) -> None:
    ds, blob = pydicom_file(name)
    portal.store([blob])
    open_viewer(page, portal, ds.StudyInstanceUID)
    expect(page.get_by_test_id("viewport-error-0")).to_have_count(0)
    img = drawn(page)
    corr = correlation_with(img, ds.pixel_array)
    assert corr > 0.9, f"{name}: the rendered image does not match pydicom's decoding (r={corr:.2f})"
    if ds.SamplesPerPixel == 3:
        # Colour stays colour: some pixels have very different channels.
        spread = (img.max(axis=2) - img.min(axis=2)).max()
        assert spread > 100, spread


def test_multiframe_colour_cine(page: Page, portal: Any) -> None:
    ds, blob = pydicom_file("examples_ybr_color.dcm")  # US, 30 frames, JPEG Baseline, YBR_FULL_422
    portal.store([blob])
    frames = int(ds.NumberOfFrames)
    reference = ds.pixel_array
    open_viewer(page, portal, ds.StudyInstanceUID)
    assert overlay(page, "slice") == f"Fr 1/{frames} · Im 1/{frames}"
    first = drawn(page)
    assert correlation_with(first, reference[0]) > 0.9
    assert (first.max(axis=2) - first.min(axis=2)).max() > 60, "colour ultrasound stays colour"
    page.get_by_test_id("cine-fps").fill("15")
    page.get_by_test_id("cine-toggle").click()
    expect(page.get_by_test_id("cine-toggle")).to_have_text("Stop")
    expect(page.get_by_test_id("overlay-slice")).not_to_have_text(re.compile(r"^Fr 1/"), timeout=SLOW)
    page.get_by_test_id("cine-toggle").click()
    expect(page.get_by_test_id("cine-toggle")).to_have_text("Play")
    pane = page.get_by_test_id("viewport-0")
    # Once stopped, the frame asked for is the frame shown; compare it with pydicom's decoding of that frame.
    eventually(
        page,
        lambda: (pane.get_attribute("data-slice"), pane.get_attribute("data-shown")),
        lambda v: v[0] == v[1],
        "cine stops on a displayed frame",
    )
    frame = int(pane.get_attribute("data-shown") or 0)
    assert frame > 1
    later = eventually(
        page,
        lambda: canvas_pixels(page),
        lambda im: correlation_with(im, reference[frame - 1]) > 0.9,
        f"frame {frame} rendered",
    )
    assert np.abs(later - first).mean() > 0.5, "a different frame shows different pixels"


def test_undecodable_or_missing_instances_show_a_clear_message(page: Page, portal: Any) -> None:
    # Image 1: declared JPEG Baseline, but the bitstream is not JPEG. Image 2: its bytes are gone from the store.
    bad = ct_dataset(size=64, instance_number=1)
    bad.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    bad.BitsAllocated, bad.BitsStored, bad.HighBit, bad.PixelRepresentation = 8, 8, 7, 0
    bad.PixelData = encapsulate([b"\xff\xd8\xff\xe0" + b"not a JPEG bitstream" * 4 + b"\xff\xd9"])
    bad["PixelData"].VR = "OB"
    study, series = bad.StudyInstanceUID, bad.SeriesInstanceUID
    lost = ct_dataset(size=64, study_uid=study, series_uid=series, instance_number=2)
    portal.store([to_bytes(bad), to_bytes(lost)])
    ref = portal.api.services.retrieve.locate(study, series, lost.SOPInstanceUID)[0]
    (Path(portal.api.settings.storage_url) / ref.storage_key).unlink()

    page.goto(f"{portal.url}/viewer/{study}")
    err = page.get_by_test_id("viewport-error-0")
    expect(err).to_have_text(
        re.compile(r"Image 1 of 2 cannot be displayed: its pixel data could not be decoded"), timeout=SLOW
    )
    expect(page.get_by_test_id("viewport-0")).to_have_attribute("data-status", "error")
    page.keyboard.press("ArrowDown")
    expect(page.get_by_test_id("overlay-slice")).to_have_text("Im 2/2")
    expect(err).to_have_text(
        re.compile(r"Image 2 of 2 cannot be displayed: HTTP 404: .*missing"), timeout=SLOW
    )
    # The server stays up.
    with portal.api.client() as c:
        assert c.get("/healthz").status_code == 200


def test_unknown_study_says_so(page: Page, portal: Any) -> None:
    page.goto(f"{portal.url}/viewer/1.2.826.0.1.3680043.8.498.404")
    expect(page.get_by_text("This study has no series.")).to_be_visible(timeout=SLOW)


def test_leaving_and_coming_back(page: Page, portal: Any, ct_study: dict[str, Any]) -> None:
    """The viewer tears Cornerstone down when left and starts it again when opened from the list."""
    open_viewer(page, portal, ct_study["study"])
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Studies").click()
    expect(page).to_have_url(re.compile(r"/(\?.*)?$"))
    # Other modules' studies may fill the first page: find ours by its MRN, as a person would.
    page.goto(f"{portal.url}/?mrn=VIEW0001")
    link = page.locator(f'a[href="/viewer/{ct_study["study"]}"]').first
    expect(link).to_be_visible(timeout=SLOW)
    link.click()
    wait_rendered(page)
    assert grey(page).std() > 20
    page.go_back()
    expect(page.locator(f'a[href="/viewer/{ct_study["study"]}"]').first).to_be_visible(timeout=SLOW)
    page.go_forward()
    wait_rendered(page)
    assert not [e for e in page.console_errors if "Unexpected" in e or "Error:" in e], page.console_errors  # type: ignore[attr-defined]
