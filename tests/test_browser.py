"""Issue 11: report.html in headless Chromium (Debian's, driven by Playwright through its executable path): the
matrix cells match the known faults, no console error, no request leaves the file, no horizontal scroll at
390 px. Screenshots are kept in reports/browser/ (a CI artifact)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import ROOT, run_cli, run_in_process

from conformance.reference.faults import HAND_WRITTEN

SCREENSHOTS = ROOT / "reports" / "browser"
KNOWN = {
    ("created", "response.minimal.schema"),
    ("created", "response.created"),
    ("n", "semantic.n.choices"),
}


@pytest.mark.slow
def test_report_html_in_a_real_browser(tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail("Chromium is not installed: run `bash tests/integration/install.sh`")
    runs = []
    for name, faults in (("clean", ()), ("created", ("created_string",)), ("n", ("ignore_n",))):
        run_in_process(tmp_path, faults, args=HAND_WRITTEN, target_name=name)
        runs.append(sorted(tmp_path.glob("reports-*"), key=lambda p: int(p.name.split("-")[1]))[-1])
    proc = run_cli("report", *map(str, runs), "--out", str(tmp_path / "site"))
    assert proc.returncode == 0, proc.stderr
    page_url = (tmp_path / "site" / "report.html").as_uri()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=chromium,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run"],
        )  # fmt: skip
        try:
            for width in (1280, 390):
                page = browser.new_page(viewport={"width": width, "height": 900})
                errors: list[str] = []
                requests: list[str] = []
                page.on("console", lambda m, errors=errors: errors.append(m.text) if m.type == "error" else None)
                page.on("pageerror", lambda e, errors=errors: errors.append(str(e)))
                page.on("request", lambda r, requests=requests: requests.append(r.url))
                page.goto(page_url)
                cells = page.eval_on_selector_all(
                    "td[data-outcome='failed']", "tds => tds.map(td => [td.dataset.target, td.dataset.id])"
                )
                assert {tuple(c) for c in cells} == KNOWN
                assert errors == [] and requests == [page_url], (errors, requests)
                scroll = page.evaluate("document.documentElement.scrollWidth")
                assert scroll <= width, f"horizontal scroll at {width} px: {scroll}"
                page.screenshot(path=str(SCREENSHOTS / f"report-{width}.png"), full_page=True)
                page.close()
        finally:
            browser.close()
