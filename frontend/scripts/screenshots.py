"""Screenshots of the portal for the README: `python frontend/scripts/screenshots.py http://127.0.0.1:4200 docs/screenshots`.

Needs a running portal with data (`make run`, then `make seed`). Uses Debian's Chromium like the e2e tests.
"""

import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--use-gl=angle",
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
]


def main(base: str, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        page = browser.new_page(viewport={"width": 1440, "height": 900}, device_scale_factor=1)
        page.goto(f"{base}/?limit=25")
        page.locator("table.study-list tbody tr").first.wait_for()
        page.wait_for_timeout(500)
        page.screenshot(path=out / "portal-study-list.png")

        page.locator("table.study-list tbody th a").first.click()
        page.locator(".series-card img").first.wait_for()
        page.wait_for_function("[...document.images].every(i => i.complete)")
        page.screenshot(path=out / "portal-study.png")

        page.goto(f"{base}/dashboard")
        page.locator("[data-testid=modality-table] tbody tr").first.wait_for()
        page.wait_for_timeout(1000)
        page.screenshot(path=out / "portal-dashboard.png", full_page=True)
        browser.close()


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]))
