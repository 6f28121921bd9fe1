"""The morning view, at the top of report.html and matrix.md: when the runs ran, one line per target (status,
exit code, pass rate, change since the last night), then what is new tonight (newly failing, fixed, stale
baseline entries), grouped by root cause, each with its reproduction."""

from __future__ import annotations

import html
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from conformance.report.runs import FAILING, Run, cause, iso

__all__ = ["KINDS", "Item", "e", "md", "morning_html", "morning_markdown", "news", "rate", "when"]

KINDS = ("newly failing", "fixed", "stale baseline entry")


def e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def md(text: Any) -> str:
    """Text from a run, safe in a Markdown table cell: no markup, no pipe, no code span, one line."""
    shown = html.escape(str(text), quote=False).replace("\\", "\\\\").replace("|", "\\|").replace("`", "'")
    return shown.replace("\n", " ").replace("\r", " ")


def rate(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.0f}%"


@dataclass(frozen=True)
class Item:
    """One piece of news: a result of a target tonight, and what changed."""

    kind: str
    target: str
    result: dict[str, Any]

    @property
    def cause(self) -> str:
        return cause(self.result)


def news(runs: list[Run], trends: dict[str, dict[str, Any]] | None) -> dict[str, dict[str, list[Item]]]:
    """Per kind (newly failing, fixed, stale), per root cause, tonight's news. Without a history every failure
    tonight is new (it is the first night the report knows)."""
    out: dict[str, dict[str, list[Item]]] = {kind: defaultdict(list) for kind in KINDS}
    for run in runs:
        item = (trends or {}).get(run.name, {})
        new = set(item.get("newly_failing", [])) if trends is not None else None
        fixed = set(item.get("fixed", []))
        for r in run.results:
            kinds = []
            if r["outcome"] in FAILING and (r["id"] in new if new is not None else r["outcome"] == "failed"):
                kinds.append("newly failing")
            if r["id"] in fixed:
                kinds.append("fixed")
            if r["outcome"] == "xpassed":  # a known failure that passes now: fixed, and its entry stale
                kinds.append("stale baseline entry")
            for kind in kinds:
                found = Item(kind, run.name, r)
                out[kind][found.cause].append(found)
    return {kind: dict(sorted(groups.items())) for kind, groups in out.items()}


def when(runs: list[Run]) -> tuple[str, str]:
    """The first start and the last finish of the runs, in ISO 8601 (UTC)."""
    starts = sorted(iso(r.data.get("started_at")) for r in runs if r.data.get("started_at"))
    ends = sorted(iso(r.data.get("finished_at")) for r in runs if r.data.get("finished_at"))
    return (starts[0] if starts else ""), (ends[-1] if ends else "")


def _change(run: Run, trends: dict[str, dict[str, Any]] | None) -> str:
    if trends is None:
        return "no history"
    item = trends.get(run.name)
    if run.status == "NOT RUN" or item is None:
        return "n/a"
    if item["previous"] is None:
        return "first night"
    if item["change"] is None:
        return f"n/a (last night {iso(item['previous'])[:10]})"
    return f"{100 * item['change']:+.0f} pts since {iso(item['previous'])[:10]}"


def _status(run: Run) -> str:
    return run.status if run.status == "ran" else f"{run.status}: {run.reason}"


def morning_html(runs: list[Run], trends: dict[str, dict[str, Any]] | None) -> list[str]:
    start, end = when(runs)
    out = [
        f"<p id=when>Runs of <time datetime='{e(start)}'>{e(start) or 'an unknown time'}</time>"
        + (f" to <time datetime='{e(end)}'>{e(end)}</time>" if end and end != start else "")
        + "</p>",
        "<ul id=targets>",
    ]
    for run in runs:
        status = "notrun" if run.status == "NOT RUN" else run.status.lower()
        details = [f"model <code>{e(run.model)}</code>", f"profile {e(run.profile)}"]
        if run.status != "NOT RUN":
            details += [
                f"exit {e(run.exit_code)}",
                f"pass rate {rate(run.pass_rate())}",
                f"{run.totals['failed']} failed",
                e(_change(run, trends)),
            ]
        out.append(
            f"<li class=target data-target='{e(run.name)}' data-status='{e(run.status)}'><b>{e(run.name)}</b> "
            f"<span class='status {status}'>{e(_status(run))}</span> · " + " · ".join(details) + "</li>"
        )
    out.append("</ul>")
    found = news(runs, trends)
    total = sum(len(items) for groups in found.values() for items in groups.values())
    out.append(f"<h2 id=news>What is new tonight ({total})</h2>")
    if trends is None:
        out.append("<p><small>No history given: every failure tonight is listed as new.</small></p>")
    for kind, groups in found.items():
        count = sum(len(items) for items in groups.values())
        if not count:
            out.append(f"<p class=kind>{e(kind)}: none</p>")
            continue
        out.append(f"<section class=kind data-kind='{e(kind)}'><h3>{e(kind)} ({count})</h3>")
        for name, items in groups.items():
            out.append(f"<h4 class=cause>{e(name)} ({len(items)})</h4><ul class=news>")
            for item in items:
                r = item.result
                reproduce = (
                    f"<details><summary>reproduce</summary><pre>{e(r['reproduce'])}</pre></details>"
                    if r.get("reproduce")
                    else ""
                )
                out.append(
                    f"<li class={e(r['outcome'])} data-kind='{e(kind)}' data-target='{e(item.target)}' "
                    f"data-id='{e(r['id'])}'><b>{e(item.target)}</b> <code>{e(r['id'])}</code>: "
                    f"{e(str(r['message'])[:240])}{reproduce}</li>"
                )
            out.append("</ul>")
        out.append("</section>")
    return out


def morning_markdown(runs: list[Run], trends: dict[str, dict[str, Any]] | None) -> list[str]:
    start, end = when(runs)
    lines = [f"Runs of {start or 'an unknown time'}" + (f" to {end}" if end and end != start else "") + ".", ""]
    lines += [
        "| target | model | profile | status | exit | pass rate | failed | change |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for run in runs:
        ran = run.status != "NOT RUN"
        lines.append(
            f"| {md(run.name)} | {md(run.model)} | {md(run.profile)} | {md(_status(run))} "
            f"| {run.exit_code if ran else ''} | {rate(run.pass_rate()) if ran else ''} "
            f"| {run.totals['failed'] if ran else ''} | {md(_change(run, trends)) if ran else ''} |"
        )
    found = news(runs, trends)
    total = sum(len(items) for groups in found.values() for items in groups.values())
    lines += ["", f"## What is new tonight ({total})", ""]
    if trends is None:
        lines += ["No history given: every failure tonight is listed as new.", ""]
    for kind, groups in found.items():
        count = sum(len(items) for items in groups.values())
        if not count:
            lines += [f"- {kind}: none"]
            continue
        lines += ["", f"### {kind} ({count})", ""]
        for name, items in groups.items():
            lines += [f"**{md(name)}** ({len(items)})", ""]
            for item in items:
                r = item.result
                lines.append(f"- **{md(item.target)}** `{md(r['id'])}`: {md(str(r['message'])[:240])}")
                if r.get("reproduce"):
                    lines += ["  <details><summary>reproduce</summary>", "", "  ```sh"]
                    lines += ["  " + line for line in str(r["reproduce"]).replace("```", "'''").splitlines()]
                    lines += ["  ```", "  </details>"]
            lines.append("")
    return [*lines, ""]
