"""`conformance report`: several runs' summary.json into one self-contained `report.html`, `matrix.md`, a
shields.io badge per target, and, with a history file kept between nights, a trend. Both documents read in the
same order: the morning view (when, each target's status, what is new tonight by root cause), the targets x
checks matrix grouped by area (every target of the night, NOT RUN ones included), the trend, every failure with
its reason, clause and reproduction, and the coverage map of the contract when given.

Reads summary.json files only. Everything a target sent was redacted and made visible when the run wrote its
summary; here it is escaped again for HTML and Markdown.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from conformance.report.coverage import coverage_html, coverage_markdown
from conformance.report.morning import e, md, morning_html, morning_markdown, rate
from conformance.report.runs import ReportError, Run, area, cause, history_line, iso, load_runs, read_history, trend

__all__ = ["ReportError", "Run", "build", "load_runs"]

SYMBOL = {
    "passed": "✓",
    "failed": "✗",
    "warned": "!",
    "unsupported": "–",
    "skipped": "·",
    "error": "E",
    "xfailed": "k",
    "xpassed": "S",
}
LEGEND = (
    "✓ passed, ✗ failed, ! warned (SHOULD), – unsupported, · skipped, E error, k known failure (baseline), "
    "S stale baseline entry (passes now); a target NOT RUN tonight has an empty column"
)


def _ids_by_area(runs: list[Run]) -> dict[str, list[str]]:
    seen: dict[str, list[str]] = defaultdict(list)
    for run in runs:
        for rid in run.outcomes:
            if rid not in seen[area(rid)]:
                seen[area(rid)].append(rid)
    return dict(seen)


def _breakable(text: str) -> str:
    """Escaped, with a line-break opportunity after each separator, so a narrow column breaks between words."""
    shown = e(text)
    for separator in (".", "-", "_", "/"):
        shown = shown.replace(separator, separator + "<wbr>")
    return shown


# -- outputs -----------------------------------------------------------------------------------------------------


def badge(run: Run) -> dict[str, Any]:
    """The shields.io endpoint badge of a run."""
    t = run.totals
    if run.status == "NOT RUN":
        message, color = "not run", "lightgrey"
    elif t["failed"]:
        message, color = f"{t['failed']} failed", "red"
    elif t["errors"] or run.status == "INCOMPLETE":
        message, color = "incomplete", "orange"
    else:
        message, color = f"{t['passed'] + t['warned']}/{len(run.results)} pass", "brightgreen"
    if t.get("xpassed"):
        message += f", {t['xpassed']} stale"
    return {"schemaVersion": 1, "label": f"conformance {run.name}", "message": message, "color": color}


def _trend_markdown(trends: dict[str, dict[str, Any]]) -> list[str]:
    lines = ["## Trend", ""]
    for target, item in trends.items():
        status = f"{item['status']} tonight ({item['reason']}); " if item["status"] != "ran" else ""
        lines.append(
            f"- **{md(target)}**: {md(status)}newly failing {len(item['newly_failing'])}, fixed {len(item['fixed'])}, "
            f"stale {len(item['stale'])}, still broken {len(item['still_broken'])}; pass rate by night: "
            + ", ".join(f"{iso(n)[:10]} {rate(r) if ran else 'NOT RUN'}" for n, r, ran in item["pass_rates"])
            + "".join(f"; {'/'.join(c['changed'])} changed on {iso(c['night'])[:10]}" for c in item["changed"])
        )
    return [*lines, ""]


def markdown(
    runs: list[Run], trends: dict[str, dict[str, Any]] | None, coverage: list[dict[str, Any]] | None = None
) -> str:
    lines = ["# Conformance report", "", *morning_markdown(runs, trends), "## Matrix", "", LEGEND, ""]
    for name, ids in _ids_by_area(runs).items():
        rates = " / ".join(f"{md(r.name)} {rate(r.pass_rate(name))}" for r in runs if r.status != "NOT RUN")
        lines += [f"<details><summary>{md(name)} ({len(ids)} results; pass rate {rates})</summary>", ""]
        heads = [md(r.name) + (" (NOT RUN)" if r.status == "NOT RUN" else "") for r in runs]
        lines += ["| result | " + " | ".join(heads) + " |", "|---|" + "---|" * len(runs)]
        for rid in ids:
            cells = " | ".join(SYMBOL.get(r.outcomes.get(rid, ""), " ") for r in runs)
            lines.append(f"| `{md(rid)}` | {cells} |")
        lines += ["", "</details>", ""]
    if trends:
        lines += _trend_markdown(trends)
    failures = [(run, r) for run in runs for r in run.results if r["outcome"] == "failed"]
    if failures:
        lines += [f"## Failures ({len(failures)})", ""]
        lines += [
            f"- **{md(run.name)}** `{md(r['id'])}` ({md(cause(r))}): {md(r['message'][:300])}" for run, r in failures
        ]
        lines.append("")
    if coverage is not None:
        lines += coverage_markdown(coverage)
    return "\n".join(lines)


CSS = """
body{font:15px/1.4 system-ui,sans-serif;margin:0;padding:12px;color:#222;max-width:1200px}
h1{font-size:1.4em;margin:.2em 0}h2{font-size:1.15em;margin-top:1.5em}h3{font-size:1.05em;margin:.8em 0 .2em}
h4{font-size:1em;margin:.5em 0 .1em}
table{border-collapse:collapse;width:100%}
td,th{border:1px solid #ddd;padding:3px 4px;vertical-align:top}
td{overflow-wrap:anywhere}
th{background:#f4f4f4;font-weight:600;overflow-wrap:normal;word-break:keep-all;hyphens:none}
.matrix th{position:sticky;top:0;z-index:1}
td.c,th.c{text-align:center}
.passed{background:#e6f4ea}.failed{background:#fce8e6}.failed.c{font-weight:700}.warned{background:#fef7e0}
.error{background:#f3e8fd}.xfailed{background:#eee;color:#555}.xpassed{background:#fff3cd}
.skipped,.unsupported{color:#777}.notrun{background:#f0f0f0;color:#555}
th.notrun small{display:block;font-weight:400}
#when{font-size:1.05em;margin:.2em 0 .5em}
#targets{padding-left:1.2em;margin:.3em 0}#targets li{margin:.15em 0}
.status{font-weight:700;padding:0 3px}.status.ran{color:#1e6b34}.status.incomplete{color:#9a5b00}
.status.notrun{color:#a00}
ul.news{margin:.2em 0;padding-left:1.2em}ul.news li{margin:.2em 0;overflow-wrap:anywhere;background:none}
.kind{margin:.3em 0}
pre{white-space:pre-wrap;overflow-wrap:anywhere;background:#f6f6f6;padding:6px;font-size:12px}
details{margin:4px 0}summary{cursor:pointer}
small{color:#666}code{overflow-wrap:anywhere}time{white-space:nowrap}
"""


def _matrix_html(runs: list[Run]) -> list[str]:
    out = [f"<h2 id=matrix>Matrix</h2><p><small>{e(LEGEND)}</small></p>"]
    for name, ids in _ids_by_area(runs).items():
        rates = ", ".join(f"{e(r.name)} {rate(r.pass_rate(name))}" for r in runs if r.status != "NOT RUN")
        out.append(f"<h3>{e(name)}</h3><p><small>pass rate: {rates}</small></p>")
        out.append("<table class=matrix><thead><tr><th scope=col>result</th>")
        for run in runs:
            notrun = run.status == "NOT RUN"
            out.append(
                f"<th scope=col class='c t{' notrun' if notrun else ''}' data-target='{e(run.name)}'>"
                f"{_breakable(run.name)}{'<small>NOT RUN</small>' if notrun else ''}</th>"
            )
        out.append("</tr></thead><tbody>")
        for rid in ids:
            out.append(f"<tr><td><code>{_breakable(rid)}</code></td>")
            for run in runs:
                if run.status == "NOT RUN":
                    out.append(
                        f"<td class='c notrun' data-target='{e(run.name)}' data-id='{e(rid)}' "
                        f"data-outcome='not run' title='not run: {e(run.reason)}'></td>"
                    )
                    continue
                outcome = run.outcomes.get(rid, "")
                out.append(
                    f"<td class='c {outcome}' data-target='{e(run.name)}' data-id='{e(rid)}' "
                    f"data-outcome='{outcome}' title='{e(outcome)}'>{SYMBOL.get(outcome, '')}</td>"
                )
            out.append("</tr>")
        out.append("</tbody></table>")
    return out


def _trend_html(trends: dict[str, dict[str, Any]]) -> list[str]:
    out = ["<h2 id=trend>Trend</h2>"]
    for target, item in trends.items():
        out.append(f"<h3>{e(target)}</h3><ul>")
        if item["status"] != "ran":
            out.append(f"<li class=status-line>{e(item['status'])} tonight: {e(item['reason'])}</li>")
        for night in item["changed"]:
            out.append(
                f"<li class=changed>{e(iso(night['night']))}: {e(' and '.join(night['changed']))} changed "
                "(a verdict change that night may come from the suite, not the provider)</li>"
            )
        for key in ("newly_failing", "fixed", "stale"):
            out.append(f"<li>{key.replace('_', ' ')}: {e(', '.join(item[key]) or 'none')}</li>")
        for rid, since in item["still_broken"].items():
            out.append(f"<li class=still>still broken: <code>{e(rid)}</code>, failing since {e(iso(since))}</li>")
        rates = ", ".join(
            f"{e(iso(night)[:10])} {rate(value) if ran else 'NOT RUN'}" for night, value, ran in item["pass_rates"]
        )
        out.append(f"<li>pass rate by night: {rates}</li></ul>")
    return out


def page(
    runs: list[Run], trends: dict[str, dict[str, Any]] | None, coverage: list[dict[str, Any]] | None = None
) -> str:
    """report.html: one self-contained page (inline CSS, no script, no external resource)."""
    out = [
        "<!doctype html><html lang=en><head><meta charset=utf-8>",
        "<meta name=viewport content='width=device-width,initial-scale=1'>",
        "<meta http-equiv=Content-Security-Policy content=\"default-src 'none'; style-src 'unsafe-inline'\">",
        f"<title>Conformance report</title><style>{CSS}</style></head><body>",
        "<h1>Conformance report</h1>",
        *morning_html(runs, trends),
        *_matrix_html(runs),
    ]
    if trends:
        out += _trend_html(trends)
    failures = [(run, r) for run in runs for r in run.results if r["outcome"] in ("failed", "xfailed")]
    out.append(f"<h2 id=failures>Failures ({len(failures)})</h2>")
    for run, r in failures:
        known = " (known failure)" if r["outcome"] == "xfailed" else ""
        out.append(
            f"<details class={r['outcome']}><summary><b>{e(run.name)}</b> <code>{e(r['id'])}</code>{known} "
            f"<small>{e(cause(r))}</small></summary><p>{e(r['message'])}</p><p><small>clause "
            f"<code>{e(r['clause'])}</code>: {e(r.get('citation', ''))}</small></p>"
            + (f"<pre>{e(r['reproduce'])}</pre>" if r.get("reproduce") else "")
            + "</details>"
        )
    if coverage is not None:
        out += coverage_html(coverage)
    out.append("</body></html>")
    return "\n".join(out)


def build(
    directories: list[Path],
    out: Path,
    history: Path | None = None,
    coverage: Callable[[str], list[dict[str, Any]]] | None = None,
) -> dict[str, Any]:
    """Write report.html, matrix.md and badges/<target>.json into `out`; append to `history` (a JSON-lines file
    kept between nights) and add its trend. `coverage`: the coverage map's rows of a profile (the map of each
    profile the runs used is shown). Returns what was built (for the caller's one line)."""
    runs = load_runs(directories)
    trends = None
    if history is not None:
        known = read_history(history)
        tonight = max((run.night for run in runs if run.night), default="")
        fresh = [history_line(run, tonight) for run in runs]
        keys = {(item["night"], item["target"]) for item in known}
        added = [item for item in fresh if (item["night"], item["target"]) not in keys]
        history.parent.mkdir(parents=True, exist_ok=True)
        with history.open("a", encoding="utf-8") as handle:
            for item in added:
                handle.write(json.dumps(item, ensure_ascii=False) + "\n")
        trends = trend(known + added, [run.name for run in runs])
    rows = None
    if coverage is not None:
        profiles = sorted({run.profile for run in runs if run.profile})
        rows = [dict(row, profile=p) for p in profiles for row in coverage(p)]
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.html").write_text(page(runs, trends, rows), encoding="utf-8")
    (out / "matrix.md").write_text(markdown(runs, trends, rows), encoding="utf-8")
    badges = out / "badges"
    badges.mkdir(exist_ok=True)
    for run in runs:
        name = "".join(c if c.isalnum() or c in "._-" else "_" for c in run.name)
        (badges / f"{name}.json").write_text(json.dumps(badge(run)), encoding="utf-8")
    return {"runs": len(runs), "out": str(out), "trend": trends is not None}
