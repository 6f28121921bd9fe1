"""`conformance report`: several runs' summary.json into one self-contained `report.html` (a targets x checks
matrix grouped by area, pass rates, every failure with its reason, clause and reproduction), `matrix.md`, a
shields.io badge per target, and, with a history file kept between nights, a trend.

Reads summary.json files only. Everything a target sent was redacted and made visible when the run wrote its
summary; here it is escaped again for HTML and Markdown.
"""

from __future__ import annotations

import html
import itertools
import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

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
JUDGED = ("passed", "failed", "warned", "xfailed", "xpassed")  # results with a verdict: the pass rate's base
LEGEND = (
    "✓ passed, ✗ failed, ! warned (SHOULD), – unsupported, · skipped, E error, k known failure (baseline), "
    "S stale baseline entry (passes now)"
)


class ReportError(Exception):
    """A run directory without a readable, valid summary.json."""


@dataclass(frozen=True)
class Run:
    """One run's summary, as read from its directory."""

    directory: Path
    data: dict[str, Any]

    @property
    def name(self) -> str:
        target = self.data["target"]
        return str(target.get("name") or f"{target['base_url']} ({target['model']})")

    @property
    def outcomes(self) -> dict[str, str]:
        return {r["id"]: r["outcome"] for r in self.data["results"]}

    def pass_rate(self, area: str | None = None) -> float | None:
        judged = [o for rid, o in self.outcomes.items() if o in JUDGED and (area is None or _area(rid) == area)]
        return sum(o in ("passed", "xpassed") for o in judged) / len(judged) if judged else None


def _area(rid: str) -> str:
    return rid.split(".", 1)[0]


def load_runs(directories: list[Path]) -> list[Run]:
    """Each directory's summary.json, validated against its schema."""
    from conformance.report import summary_schema

    validator = Draft202012Validator(summary_schema())
    runs = []
    for directory in directories:
        path = directory / "summary.json" if directory.is_dir() else directory
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise ReportError(f"{path}: cannot read a summary.json: {exc}") from None
        error = next(iter(validator.iter_errors(data)), None)
        if error is not None:
            raise ReportError(f"{path}: not a conformance summary: {error.message[:200]}")
        runs.append(Run(path.parent, data))
    names = [r.name for r in runs]
    if len(set(names)) != len(names):
        raise ReportError(f"two runs of the same target: {', '.join(sorted({n for n in names if names.count(n) > 1}))}")
    return runs


def _rate(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.0f}%"


def _md(text: Any) -> str:
    """Text from a run, safe in a Markdown table cell: no markup, no pipe, no code span, one line."""
    shown = html.escape(str(text), quote=False).replace("\\", "\\\\").replace("|", "\\|").replace("`", "'")
    return shown.replace("\n", " ").replace("\r", " ")


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _ids_by_area(runs: list[Run]) -> dict[str, list[str]]:
    seen: dict[str, list[str]] = defaultdict(list)
    for run in runs:
        for rid in run.outcomes:
            if rid not in seen[_area(rid)]:
                seen[_area(rid)].append(rid)
    return dict(seen)


# -- history ---------------------------------------------------------------------------------------------------


def history_line(run: Run) -> dict[str, Any]:
    data = run.data
    return {
        "night": data["finished_at"],
        "target": run.name,
        "tool_version": data["tool"]["version"],
        "contract_sha256": data["spec"]["sha256"],
        "pass_rate": run.pass_rate(),
        "outcomes": run.outcomes,
    }


def read_history(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    lines = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except ValueError:
            raise ReportError(f"{path}:{number}: not a JSON line") from None
        if isinstance(item, dict) and {"night", "target", "outcomes"} <= set(item):
            lines.append(item)
    return lines


def trend(history: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per target, over the nights kept: newly failing, fixed, still broken with the night it started failing,
    the pass rate per night, and the nights the tool version or the contract changed."""
    by_target: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for item in history:
        by_target[item["target"]].append(item)
    out = {}
    for target, nights in by_target.items():
        nights.sort(key=lambda n: n["night"])
        last, previous = nights[-1], (nights[-2] if len(nights) > 1 else None)
        failing_now = {rid for rid, o in last["outcomes"].items() if o == "failed"}
        failing_before = {rid for rid, o in previous["outcomes"].items() if o == "failed"} if previous else set()
        since = {}
        for rid in failing_now:
            start = last["night"]
            for night in reversed(nights[:-1]):
                if night["outcomes"].get(rid) != "failed":
                    break
                start = night["night"]
            since[rid] = start
        changed = []
        for before, after in itertools.pairwise(nights):
            what = [
                label
                for key, label in (("tool_version", "tool version"), ("contract_sha256", "contract"))
                if before.get(key) != after.get(key)
            ]
            if what:
                changed.append({"night": after["night"], "changed": what})
        out[target] = {
            "newly_failing": sorted(failing_now - failing_before) if previous else [],
            "fixed": sorted(rid for rid in failing_before - failing_now if last["outcomes"].get(rid) == "passed"),
            "still_broken": {rid: since[rid] for rid in sorted(failing_now & failing_before)},
            "pass_rates": [(n["night"], n.get("pass_rate")) for n in nights],
            "changed": changed,
        }
    return out


# -- outputs -----------------------------------------------------------------------------------------------------


def badge(run: Run) -> dict[str, Any]:
    """The shields.io endpoint badge of a run."""
    t = run.data["totals"]
    if t["failed"]:
        message, color = f"{t['failed']} failed", "red"
    elif t["errors"] or run.data["exit_code"] == 3:
        message, color = "incomplete", "orange"
    else:
        message, color = f"{t['passed'] + t['warned']}/{len(run.data['results'])} pass", "brightgreen"
    if t.get("xpassed"):
        message += f", {t['xpassed']} stale"
    return {"schemaVersion": 1, "label": f"conformance {run.name}", "message": message, "color": color}


def markdown(runs: list[Run], trends: dict[str, dict[str, Any]] | None) -> str:
    lines = ["# Conformance matrix", ""]
    lines += [
        "| target | model | profile | exit | pass rate | failed | known | stale |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for run in runs:
        t = run.data["totals"]
        lines.append(
            f"| {_md(run.name)} | {_md(run.data['target']['model'])} | {run.data['target']['profile']} "
            f"| {run.data['exit_code']} | {_rate(run.pass_rate())} | {t['failed']} | {t.get('xfailed', 0)} "
            f"| {t.get('xpassed', 0)} |"
        )
    lines += ["", LEGEND, ""]
    for area, ids in _ids_by_area(runs).items():
        rates = " / ".join(f"{_md(r.name)} {_rate(r.pass_rate(area))}" for r in runs)
        lines += [f"<details><summary>{_md(area)} ({len(ids)} results; pass rate {rates})</summary>", ""]
        lines += ["| result | " + " | ".join(_md(r.name) for r in runs) + " |", "|---|" + "---|" * len(runs)]
        for rid in ids:
            cells = " | ".join(SYMBOL.get(r.outcomes.get(rid, ""), " ") for r in runs)
            lines.append(f"| `{_md(rid)}` | {cells} |")
        lines += ["", "</details>", ""]
    failures = [(run, r) for run in runs for r in run.data["results"] if r["outcome"] == "failed"]
    if failures:
        lines += [f"## Failures ({len(failures)})", ""]
        lines += [f"- **{_md(run.name)}** `{_md(r['id'])}`: {_md(r['message'][:300])}" for run, r in failures]
        lines.append("")
    if trends:
        lines += ["## Trend", ""]
        for target, item in trends.items():
            lines.append(
                f"- **{_md(target)}**: newly failing {len(item['newly_failing'])}, fixed {len(item['fixed'])}, "
                f"still broken {len(item['still_broken'])}"
                + "".join(f"; {'/'.join(c['changed'])} changed on {c['night'][:10]}" for c in item["changed"])
            )
        lines.append("")
    return "\n".join(lines)


CSS = """
body{font:15px/1.4 system-ui,sans-serif;margin:0;padding:12px;color:#222;max-width:1200px}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.5em}
table{border-collapse:collapse;width:100%;table-layout:fixed}
td,th{border:1px solid #ddd;padding:3px 4px;vertical-align:top;overflow-wrap:anywhere;word-break:break-word}
th{background:#f4f4f4;font-weight:600}
td.c,th.c{text-align:center}
.matrix th:first-child{width:60%}
.passed{background:#e6f4ea}.failed{background:#fce8e6;font-weight:700}.warned{background:#fef7e0}
.error{background:#f3e8fd}.xfailed{background:#eee;color:#666}.xpassed{background:#fff3cd}
.skipped,.unsupported{color:#888}
pre{white-space:pre-wrap;overflow-wrap:anywhere;background:#f6f6f6;padding:6px;font-size:12px}
details{margin:6px 0}summary{cursor:pointer}
.stale{border:2px solid #e0a800;padding:6px;background:#fff8e1}
small{color:#666}
"""


def page(runs: list[Run], trends: dict[str, dict[str, Any]] | None) -> str:
    """report.html: one self-contained page (inline CSS, no script, no external resource)."""
    out = [
        "<!doctype html><html lang=en><head><meta charset=utf-8>",
        "<meta name=viewport content='width=device-width,initial-scale=1'>",
        "<meta http-equiv=Content-Security-Policy content=\"default-src 'none'; style-src 'unsafe-inline'\">",
        f"<title>Conformance matrix</title><style>{CSS}</style></head><body>",
        "<h1>Conformance matrix</h1>",
    ]
    stale = [(run, r) for run in runs for r in run.data["results"] if r["outcome"] == "xpassed"]
    if stale:
        out.append("<div class=stale><b>Stale baseline entries</b> (these known failures pass now; remove them):<ul>")
        out += [f"<li>{_e(run.name)}: <code>{_e(r['id'])}</code></li>" for run, r in stale]
        out.append("</ul></div>")
    out.append("<table id=targets><tr><th>target</th><th>model</th><th>exit</th><th>pass rate</th>")
    out.append("<th>failed</th><th>known</th></tr>")
    for run in runs:
        t = run.data["totals"]
        out.append(
            f"<tr><td>{_e(run.name)}</td><td>{_e(run.data['target']['model'])}</td><td>{run.data['exit_code']}</td>"
            f"<td>{_rate(run.pass_rate())}</td><td>{t['failed']}</td><td>{t.get('xfailed', 0)}</td></tr>"
        )
    out.append(f"</table><p><small>{_e(LEGEND)}</small></p>")
    for area, ids in _ids_by_area(runs).items():
        rates = ", ".join(f"{_e(r.name)} {_rate(r.pass_rate(area))}" for r in runs)
        out.append(f"<h2>{_e(area)}</h2><p><small>pass rate: {rates}</small></p>")
        out.append("<table class=matrix><tr><th>result</th>")
        out += [f"<th class=c title='{_e(r.name)}'>{i + 1}</th>" for i, r in enumerate(runs)]
        out.append("</tr>")
        for rid in ids:
            out.append(f"<tr><td><code>{_e(rid)}</code></td>")
            for run in runs:
                outcome = run.outcomes.get(rid, "")
                cell = SYMBOL.get(outcome, "")
                out.append(
                    f"<td class='c {outcome}' data-target='{_e(run.name)}' data-id='{_e(rid)}' "
                    f"data-outcome='{outcome}' title='{_e(outcome)}'>{cell}</td>"
                )
            out.append("</tr>")
        out.append("</table>")
    out.append(
        "<p><small>Columns: " + ", ".join(f"{i + 1} = {_e(r.name)}" for i, r in enumerate(runs)) + "</small></p>"
    )
    failures = [(run, r) for run in runs for r in run.data["results"] if r["outcome"] in ("failed", "xfailed")]
    out.append(f"<h2 id=failures>Failures ({len(failures)})</h2>")
    for run, r in failures:
        known = " (known failure)" if r["outcome"] == "xfailed" else ""
        out.append(
            f"<details class={r['outcome']}><summary><b>{_e(run.name)}</b> <code>{_e(r['id'])}</code>{known}</summary>"
            f"<p>{_e(r['message'])}</p><p><small>clause <code>{_e(r['clause'])}</code>: {_e(r.get('citation', ''))}"
            "</small></p>" + (f"<pre>{_e(r['reproduce'])}</pre>" if r.get("reproduce") else "") + "</details>"
        )
    if trends:
        out.append("<h2 id=trend>Trend</h2>")
        for target, item in trends.items():
            out.append(f"<h3>{_e(target)}</h3><ul>")
            for night in item["changed"]:
                out.append(
                    f"<li class=changed>{_e(night['night'])}: {_e(' and '.join(night['changed']))} changed "
                    "(a verdict change that night may come from the suite, not the provider)</li>"
                )
            out.append(f"<li>newly failing: {_e(', '.join(item['newly_failing']) or 'none')}</li>")
            out.append(f"<li>fixed: {_e(', '.join(item['fixed']) or 'none')}</li>")
            for rid, since in item["still_broken"].items():
                out.append(f"<li class=still>still broken: <code>{_e(rid)}</code>, failing since {_e(since)}</li>")
            rates = ", ".join(f"{_e(night[:10])} {_rate(rate)}" for night, rate in item["pass_rates"])
            out.append(f"<li>pass rate by night: {rates}</li></ul>")
    out.append("</body></html>")
    return "\n".join(out)


def build(directories: list[Path], out: Path, history: Path | None = None) -> dict[str, Any]:
    """Write report.html, matrix.md and badges/<target>.json into `out`; append to `history` (a JSON-lines file
    kept between nights) and add its trend. Returns what was built (for the caller's one line)."""
    runs = load_runs(directories)
    trends = None
    if history is not None:
        known = read_history(history)
        fresh = [history_line(run) for run in runs]
        keys = {(item["night"], item["target"]) for item in known}
        added = [item for item in fresh if (item["night"], item["target"]) not in keys]
        history.parent.mkdir(parents=True, exist_ok=True)
        with history.open("a", encoding="utf-8") as handle:
            for item in added:
                handle.write(json.dumps(item, ensure_ascii=False) + "\n")
        trends = trend(known + added)
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.html").write_text(page(runs, trends), encoding="utf-8")
    (out / "matrix.md").write_text(markdown(runs, trends), encoding="utf-8")
    badges = out / "badges"
    badges.mkdir(exist_ok=True)
    for run in runs:
        name = "".join(c if c.isalnum() or c in "._-" else "_" for c in run.name)
        (badges / f"{name}.json").write_text(json.dumps(badge(run)), encoding="utf-8")
    return {"runs": len(runs), "out": str(out), "trend": trends is not None}
