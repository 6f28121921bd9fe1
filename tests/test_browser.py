"""Issues 11 and 19: report.html in headless Chromium (Debian's, driven by Playwright through its executable
path), over two nights of three targets, one of them NOT RUN on the second: the first screen at 1280 px shows when
the runs ran, the three targets by name with their status and tonight's new failures; at 390 px no header breaks
inside a word and nothing scrolls sideways; the matrix cells match the known faults; no console error, no request
leaves the file. Screenshots are kept in reports/browser/ (a CI artifact)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import ROOT, run_in_process
from test_matrix import two_nights

from conformance.reference.faults import HAND_WRITTEN

SCREENSHOTS = ROOT / "reports" / "browser"
KNOWN = {("clean", "semantic.n.choices")}  # night 2: clean has ignore_n's failure, created is fixed, n NOT RUN
BROKEN_WORDS = """() => {
  const broken = [];
  for (const th of document.querySelectorAll('th')) {
    const walker = document.createTreeWalker(th, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      for (const m of node.data.matchAll(/[A-Za-z0-9]+/g)) {
        const range = document.createRange();
        range.setStart(node, m.index);
        range.setEnd(node, m.index + m[0].length);
        const lines = new Set([...range.getClientRects()].map(r => Math.round(r.top)));
        if (lines.size > 1) broken.push(th.textContent);
      }
    }
  }
  return broken;
}"""
FIRST_SCREEN = """(height) => {
  const seen = el => { const r = el.getBoundingClientRect(); return r.height > 0 && r.bottom <= height; };
  return {
    when: seen(document.querySelector('#when')) ? document.querySelector('#when').textContent : null,
    targets: [...document.querySelectorAll('li.target')].filter(seen)
      .map(li => [li.dataset.target, li.dataset.status, li.textContent]),
    news: [...document.querySelectorAll("li[data-kind='newly failing']")].filter(seen)
      .map(li => [li.dataset.target, li.dataset.id]),
  };
}"""


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
    _, site = two_nights(runs, tmp_path / "nights")
    page_url = (site / "report.html").as_uri()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=chromium,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run"],
        )  # fmt: skip
        try:
            for width, height in ((1280, 800), (390, 844)):
                page = browser.new_page(viewport={"width": width, "height": height})
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
                not_run = page.eval_on_selector_all("td[data-target='n']", "tds => tds.map(td => td.dataset.outcome)")
                assert not_run and set(not_run) == {"not run"}
                assert errors == [] and requests == [page_url], (errors, requests)
                scroll = page.evaluate("document.documentElement.scrollWidth")
                assert scroll <= width, f"horizontal scroll at {width} px: {scroll}"
                assert page.evaluate(BROKEN_WORDS) == [], f"a header broken inside a word at {width} px"
                if width == 1280:
                    first = page.evaluate(FIRST_SCREEN, height)
                    assert first["when"] and "2026-11-02T03:00Z" in first["when"], first
                    assert [(t, s) for t, s, _ in first["targets"]] == [
                        ("clean", "ran"),
                        ("created", "ran"),
                        ("n", "NOT RUN"),
                    ], first
                    assert "N_API_KEY is not set" in first["targets"][2][2]
                    assert {tuple(n) for n in first["news"]} == KNOWN, first
                page.screenshot(path=str(SCREENSHOTS / f"report-{width}.png"), full_page=False)
                page.screenshot(path=str(SCREENSHOTS / f"report-{width}-full.png"), full_page=True)
                page.close()
        finally:
            browser.close()
