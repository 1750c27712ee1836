"""The viewer in the browser (issue 6): time from opening a study to its first rendered image, and the scroll frame
rate through a 200-slice 512x512 CT once loaded (targets: first image < 1 s, scrolling >= 30 frames/s).

Set-up: ``pacs serve`` on a fresh database (PostgreSQL 15 at 127.0.0.1:5432), BENCH_VIEWER_STUDIES studies of
BENCH_VIEWER_SLICES real-size CT slices (512x512, 16-bit, uncompressed, about 513 kB each; every slice differs)
stored with STOW-RS; the BUILT portal (frontend/dist) served by ``vite preview`` with /api and /dicom-web proxied
to the server (what ``make run`` does); Debian's Chromium, headless, driven by Playwright, WebGL through
SwiftShader (software rendering: the machine has no GPU).

Measured in the page (``performance.now()``), first rendered image = the first ``CORNERSTONE_IMAGE_RENDERED``:

1. Cold open: a new browser context (empty HTTP cache) loads /viewer/{study}; time from navigation start, so it
   includes the app, the lazily loaded viewer chunk (~2.8 MB), Cornerstone's start-up, QIDO-RS, the series'
   WADO-RS metadata and the first frame (fetch + decode + draw). The archive requests run while the viewer chunk
   loads (features/viewer/prefetch.ts); the page's ``viewer:*`` performance marks say where the time went, and
   their medians are reported too (the tools chunk, loaded after the first image, included).
2. Open from the study list: the portal is already open at /; time from the click on the study's viewer link to
   its first image. The first click also fetches the lazily loaded viewer bundle (reported apart); later clicks
   find it loaded. One study per sample, so every sample fetches and decodes its own frames.
3. Whole series prefetched: time from navigation start until all slices are decoded in Cornerstone's cache.
4. Scroll rate: once the series is cached, wheel notches from the first slice to the last, each one as soon as
   the previous slice is on screen (a fast, steady wheel); frames/s = slices shown / elapsed time, and the
   main thread's busy time per frame (Chrome's TaskDuration), which says what one free core would allow.

Knobs: BENCH_VIEWER_STUDIES (default 4), BENCH_VIEWER_SLICES (default 200), BENCH_VIEWER_SCROLL_ROUNDS
(default 3). Needs frontend/dist (``make frontend-build``; built here when missing).
Run alone: ``.venv/bin/python bench/bench_viewer.py``.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import time
from io import BytesIO
from pathlib import Path
from typing import Any, Self

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    ROOT,
    UID_ROOT,
    VAR_DIR,
    PacsServer,
    Report,
    ct_base_dataset,
    env_int,
    free_port,
    log,
    machine_conditions,
    multipart_body,
    p50_p95,
    run_tag,
    wait_tcp,
)

STUDIES = env_int("BENCH_VIEWER_STUDIES", 4)
SLICES = env_int("BENCH_VIEWER_SLICES", 200)
SCROLL_ROUNDS = env_int("BENCH_VIEWER_SCROLL_ROUNDS", 3)
SIZE = 512
FIRST_IMAGE_TARGET_MS = 1000.0
SCROLL_TARGET_FPS = 30.0
FRONTEND = ROOT / "frontend"
CHROMIUM = os.environ.get("PACS_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--use-gl=angle",
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
]

# Installed before any page script: the time of the first image rendered after __viewerMark was (re)set.
TIMER_SCRIPT = """
window.__viewerMark = 0; window.__firstImage = null;
window.addEventListener('CORNERSTONE_IMAGE_RENDERED', () => {
  if (window.__firstImage === null) window.__firstImage = performance.now();
}, true);
"""

SCROLL_SCRIPT = """
async (n) => {
  const el = document.querySelector('[data-testid=viewport-canvas-0]');
  const pane = document.querySelector('[data-testid=viewport-0]');
  const r = el.getBoundingClientRect();
  let renders = 0;
  const onRender = () => { renders += 1; };
  el.addEventListener('CORNERSTONE_IMAGE_RENDERED', onRender);
  const rendered = () => new Promise((resolve) => {
    const t = setTimeout(resolve, 2000);
    el.addEventListener('CORNERSTONE_IMAGE_RENDERED', () => { clearTimeout(t); resolve(null); }, { once: true });
  });
  const t0 = performance.now();
  while (Number(pane.dataset.shown) < n && performance.now() - t0 < 60000) {
    // One notch of a mouse wheel, as Chromium reports it (deltaY 100, legacy wheelDeltaY -120); the next notch
    // comes as soon as the slice is on screen, i.e. as fast as the viewer can show slices.
    const next = rendered();
    el.dispatchEvent(new WheelEvent('wheel', { deltaY: 100, deltaMode: 0, wheelDeltaY: -120, wheelDelta: -120,
      clientX: r.x + r.width / 2, clientY: r.y + r.height / 2, bubbles: true, cancelable: true }));
    await next;
  }
  const ms = performance.now() - t0;
  el.removeEventListener('CORNERSTONE_IMAGE_RENDERED', onRender);
  return { ms, renders, shown: Number(pane.dataset.shown) };
}
"""


# ---------------------------------------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------------------------------------


def ct_volume_slice(tag: str, study: int, n: int) -> bytes:
    """Slice ``n`` of study ``study``: a body disc with a sphere whose cross-section changes along the stack."""
    yy, xx = np.mgrid[:SIZE, :SIZE]
    r2 = (yy - SIZE / 2) ** 2 + (xx - SIZE / 2) ** 2
    img = np.full((SIZE, SIZE), 24, dtype=np.int32)  # air, -1000 HU
    img[r2 < (SIZE * 0.42) ** 2] = 1064  # soft tissue, +40 HU
    ring = (r2 < (SIZE * 0.40) ** 2) & (r2 > (SIZE * 0.37) ** 2)
    img[ring] = 2024  # bone, +1000 HU
    z = (n - SLICES / 2) / (SLICES / 2)
    rs = SIZE * 0.2 * max(0.0, 1 - z * z) ** 0.5
    img[((yy - SIZE * 0.45) ** 2 + (xx - SIZE * 0.55) ** 2) < rs**2] = 1224  # +200 HU sphere
    img += np.random.default_rng(n).normal(0, 12, (SIZE, SIZE)).astype(np.int32)
    ds = ct_base_dataset(SIZE, SIZE)
    sop = f"{UID_ROOT}.16.{tag}.{study}.{n}"
    ds.file_meta.MediaStorageSOPInstanceUID = sop
    ds.SOPInstanceUID = sop
    ds.StudyInstanceUID = f"{UID_ROOT}.14.{tag}.{study}"
    ds.SeriesInstanceUID = f"{UID_ROOT}.15.{tag}.{study}"
    ds.FrameOfReferenceUID = f"{UID_ROOT}.17.{tag}.{study}"
    ds.PatientName = f"BENCH^VIEWER{study}"
    ds.PatientID = f"BVW{tag}{study}"[:64]
    ds.AccessionNumber = f"BVW{study}"
    ds.StudyDate = "20240101"
    ds.StudyDescription = "BENCH VIEWER CT"
    ds.Modality = "CT"
    ds.SeriesDescription = f"AXIAL {SLICES} x 1 mm"
    ds.InstanceNumber = n + 1
    ds.PixelSpacing = [0.7, 0.7]
    ds.SliceLocation = float(n)
    ds.ImagePositionPatient = [-179.2, -179.2, float(n)]
    ds.PixelData = np.clip(img, -2048, 4095).astype(np.int16).tobytes()
    buf = BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def load_studies(server: PacsServer, tag: str) -> list[str]:
    uids = []
    with httpx.Client(timeout=600) as client:
        for s in range(STUDIES):
            t0 = time.time()
            for start in range(0, SLICES, 20):
                body, ctype = multipart_body(
                    [ct_volume_slice(tag, s, n) for n in range(start, min(SLICES, start + 20))]
                )
                r = client.post(
                    f"{server.dicomweb}/studies",
                    content=body,
                    headers={"Content-Type": ctype},
                )
                if r.status_code != 200:
                    raise RuntimeError(f"STOW-RS failed: HTTP {r.status_code} {r.text[:300]}")
            uids.append(f"{UID_ROOT}.14.{tag}.{s}")
            log(f"study {s + 1}/{STUDIES}: {SLICES} slices stored in {time.time() - t0:.1f} s")
    return uids


# ---------------------------------------------------------------------------------------------------------
# portal and browser
# ---------------------------------------------------------------------------------------------------------


def ensure_built() -> None:
    if (FRONTEND / "dist" / "index.html").exists():
        return
    npm = shutil.which("npm")
    if not npm:
        raise RuntimeError("frontend/dist is missing and npm is not installed: run `make frontend-build`")
    if not (FRONTEND / "node_modules").exists():
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=FRONTEND, check=True)
    subprocess.run([npm, "run", "build"], cwd=FRONTEND, check=True, stdout=subprocess.DEVNULL)


class Portal:
    """``vite preview`` of the built portal, proxying /api and /dicom-web to ``api_url``."""

    def __init__(self, api_url: str, workdir: Path) -> None:
        self.port = free_port()
        self.api_url = api_url
        self.logfile = workdir / "vite.log"
        # A private copy of the build, so a rebuild of frontend/dist during the run cannot pull files away.
        self.dist = workdir / "dist"
        shutil.rmtree(self.dist, ignore_errors=True)
        shutil.copytree(FRONTEND / "dist", self.dist)
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Self:
        env = {
            **os.environ,
            "PACS_API_URL": self.api_url,
            "PACS_PORTAL_PORT": str(self.port),
        }
        out = self.logfile.open("wb")
        self._out = out
        self.proc = subprocess.Popen(
            [
                str(FRONTEND / "node_modules/.bin/vite"),
                "preview",
                "--port",
                str(self.port),
                "--strictPort",
            ],
            cwd=FRONTEND,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        wait_tcp(self.port, 60)
        log(f"portal (vite preview) up: {self.url} (pid {self.proc.pid})")
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._out.close()


# The viewer's own marks (features/viewer): first occurrence of each, ms from navigation start.
MARKS_SCRIPT = """
() => {
  const seen = new Map();
  for (const m of performance.getEntriesByType('mark')) {
    if (m.name.startsWith('viewer:') && !seen.has(m.name)) seen.set(m.name, m.startTime);
  }
  return [...seen.entries()];
}
"""

# Where a cold open's time goes, in the order things usually happen (mark -> what it means).
MARK_LABELS = {
    "viewer:prefetch": "archive requests and viewer chunk asked for (main chunk ran)",
    "viewer:series-list": "QIDO-RS series answered",
    "viewer:series-metadata": "series metadata (WADO-RS) answered",
    "viewer:first-frame": "first frame's bytes fetched (ahead of Cornerstone)",
    "viewer:chunk-loaded": "viewer chunk downloaded, parsed and run",
    "viewer:core-init": "Cornerstone core initialised",
    "viewer:loader-init": "image loader initialised (its decode worker started with the prefetch)",
    "viewer:engine": "rendering engine created",
    "viewer:set-stack": "stack set on the viewport (first image requested)",
    "viewer:tools-loaded": "tools chunk loaded (after the first image)",
}


def wait_first_image(page: Any, timeout_ms: int = 120_000) -> float:
    page.wait_for_function("() => window.__firstImage !== null", timeout=timeout_ms)
    return float(page.evaluate("() => window.__firstImage - window.__viewerMark"))


def wait_all_cached(page: Any, timeout_ms: int = 600_000) -> float:
    page.wait_for_function(
        f"() => Number(document.querySelector('[data-testid=viewport-0]')?.dataset.loaded) >= {SLICES}",
        timeout=timeout_ms,
        polling=50,
    )
    return float(page.evaluate("() => performance.now()"))


def _task_seconds(cdp: Any) -> float:
    """Main-thread busy time of the page so far (Chrome's TaskDuration metric, seconds)."""
    metrics = cdp.send("Performance.getMetrics")["metrics"]
    return float(next(m["value"] for m in metrics if m["name"] == "TaskDuration"))


def new_page(browser: Any) -> tuple[Any, Any]:
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    context.add_init_script(TIMER_SCRIPT)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    return context, page


def run_browser(report: Report, portal: Portal, studies: list[str]) -> None:
    from playwright.sync_api import sync_playwright

    cold: list[float] = []
    marks: dict[str, list[float]] = {}
    cached: list[float] = []
    in_app: list[float] = []
    fps: list[float] = []
    cpu_ms: list[float] = []
    slices_per_s: list[float] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        report.conditions["chromium"] = browser.version
        try:
            # 1 + 3: cold opens, one new context (empty cache) per study; then wait for the whole series.
            for uid in studies:
                context, page = new_page(browser)
                page.goto(f"{portal.url}/viewer/{uid}")
                cold.append(wait_first_image(page))
                cached.append(wait_all_cached(page))
                for name, at in page.evaluate(MARKS_SCRIPT):
                    marks.setdefault(name, []).append(at)
                log(
                    f"cold open: first image {cold[-1]:.0f} ms, all {SLICES} slices cached at {cached[-1]:.0f} ms"
                )
                if len(fps) < SCROLL_ROUNDS:
                    # 4: scroll through the cached series, one wheel event per animation frame.
                    for _ in range(SCROLL_ROUNDS if uid == studies[-1] else 1):
                        page.keyboard.press("Home")
                        page.wait_for_function(
                            "() => document.querySelector('[data-testid=viewport-0]').dataset.shown === '1'"
                        )
                        cdp = context.new_cdp_session(page)
                        cdp.send("Performance.enable")
                        busy0 = _task_seconds(cdp)
                        res = page.evaluate(SCROLL_SCRIPT, SLICES)
                        busy = _task_seconds(cdp) - busy0
                        if res["renders"]:
                            cpu_ms.append(busy * 1000 / res["renders"])
                        if res["shown"] < SLICES:
                            report.note(f"scroll stopped at slice {res['shown']} of {SLICES} after 60 s")
                        fps.append(res["renders"] / (res["ms"] / 1000))
                        slices_per_s.append((res["shown"] - 1) / (res["ms"] / 1000))
                        log(
                            f"scroll: {res['renders']} renders, {res['shown']} slices in {res['ms']:.0f} ms "
                            f"= {fps[-1]:.1f} frames/s"
                        )
                        if len(fps) >= SCROLL_ROUNDS:
                            break
                context.close()
            # 2: from the study list, the app already loaded; one click per study.
            context, page = new_page(browser)
            page.goto(f"{portal.url}/")
            for uid in studies:
                link = page.locator(f'a[href="/viewer/{uid}"]').first
                link.wait_for(timeout=60_000)
                page.evaluate(
                    "() => { window.__firstImage = null; window.__viewerMark = performance.now(); }"
                )
                link.click()
                in_app.append(wait_first_image(page))
                log(f"open from the study list: first image {in_app[-1]:.0f} ms")
                page.get_by_role("navigation", name="Main").get_by_role("link", name="Studies").click()
            context.close()
        finally:
            browser.close()

    section = f"Open a {SLICES}-slice {SIZE}x{SIZE} CT study (first rendered image)"
    for label, values in (
        ("cold: new browser, empty cache (navigation start)", cold),
        ("from the list, viewer bundle not yet loaded (click)", in_app[:1]),
        ("from the list, viewer bundle loaded (click)", in_app[1:]),
    ):
        if not values:
            continue
        p50, p95 = p50_p95(values)
        ok = p50 < FIRST_IMAGE_TARGET_MS
        report.add(
            section,
            f"{label}: p50",
            "ms",
            p50,
            None,
            better="lower",
            note=f"n={len(values)}, max {max(values):.0f} ms; p50 {'<' if ok else '>='} 1000 ms: "
            f"{'met' if ok else 'MISSED'}",
        )
        report.add(section, f"{label}: p95", "ms", p95, None, better="lower")
    report.add(
        section,
        "whole series decoded and cached (navigation start)",
        "ms",
        statistics.median(cached),
        None,
        better="lower",
        note=f"n={len(cached)}, {SLICES} x {SIZE * SIZE * 2 // 1024} kB",
    )
    sec_marks = "Where a cold open's time goes (median of the cold opens, ms from navigation start)"
    for name, label in MARK_LABELS.items():
        if marks.get(name):
            report.add(sec_marks, label, "ms", statistics.median(marks[name]), None, better="lower")
    report.add(sec_marks, "first image rendered", "ms", statistics.median(cold), None, better="lower")
    sec2 = "Scroll through the cached series (next wheel notch when the slice is shown)"
    med = statistics.median(fps)
    ok = med >= SCROLL_TARGET_FPS
    report.add(
        sec2,
        "rendered frames per second: median",
        "frames/s",
        med,
        None,
        note=f"n={len(fps)}, min {min(fps):.1f}; >= 30: {'met' if ok else 'MISSED'}",
    )
    report.add(
        sec2,
        "slices advanced per second: median",
        "slices/s",
        statistics.median(slices_per_s),
        None,
    )
    if cpu_ms:
        per_frame = statistics.median(cpu_ms)
        report.add(
            sec2,
            "main-thread busy time per rendered frame: median",
            "ms",
            per_frame,
            None,
            better="lower",
            note=f"frames/s one free core would allow: {min(60.0, 1000 / per_frame):.0f} (rAF cap 60)",
        )


def main() -> int:
    report = Report("viewer", "Viewer: first image and scroll rate in headless Chromium (issue 6)")
    report.conditions.update(
        {
            "before": machine_conditions(),
            "studies": STUDIES,
            "slices": SLICES,
            "slice": f"{SIZE}x{SIZE} 16-bit CT, uncompressed (Explicit VR LE), 513 kB",
            "pacs": "pacs serve (defaults: one HTTP process per core) on PostgreSQL 15 at 127.0.0.1:5432, direct",
            "portal": "vite preview of frontend/dist, proxying /dicom-web (as make run)",
            "browser": "Debian Chromium, headless, 1440x900 window; WebGL is SwiftShader (software), so the viewer "
            "draws with Cornerstone's CPU path (render=auto)",
        }
    )
    ensure_built()
    tag = run_tag()
    work = VAR_DIR / "viewer"
    work.mkdir(parents=True, exist_ok=True)
    with PacsServer("pacs_bench_viewer", work / "storage", fresh=True, drop_on_stop=True) as server:
        studies = load_studies(server, tag)
        with Portal(server.url, work) as portal:
            run_browser(report, portal, studies)
    report.note(
        "no GPU here: WebGL is SwiftShader, so the viewer's auto mode draws with Cornerstone's CPU path "
        "(measured ~15x faster per frame than WebGL-on-SwiftShader on this machine); the frame rate is capped by "
        "requestAnimationFrame (60 Hz); the machine is shared, see the load averages"
    )
    report.save()
    return 0


if __name__ == "__main__":
    sys.exit(main())
