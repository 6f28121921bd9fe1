"""The coverage map's section of report.html and matrix.md, rendered from its rows (plain data: the map itself is
computed from the contract and the checks by `conformance.driver.coverage`, which the report may not import).

A row: `profile`, `side` (request or response), `pointer`, `keyword`, `value`, `checks` (result ids that judge
it), `phases` (property-layer phases that send it), `exercised`, and `reason` when nothing exercises it."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from conformance.report.morning import e, md

__all__ = ["coverage_html", "coverage_markdown"]

SHOWN_CHECKS = 4  # check ids shown per keyword; the rest counted


def _checks(row: dict[str, Any]) -> list[str]:
    ids: list[str] = list(row.get("checks", []))
    return ids[:SHOWN_CHECKS] + ([f"+{len(ids) - SHOWN_CHECKS} more"] if len(ids) > SHOWN_CHECKS else [])


def _by_profile(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        out[str(row.get("profile", ""))].append(row)
    return dict(out)


def coverage_html(rows: list[dict[str, Any]]) -> list[str]:
    out = ["<h2 id=coverage>Coverage of the contract</h2>"]
    for profile, chosen in _by_profile(rows).items():
        exercised = sum(1 for r in chosen if r["exercised"])
        out.append(
            f"<p>Profile {e(profile)}: {exercised} of {len(chosen)} request and response keywords exercised by a "
            "hand-written check or an edge value sent for it alone (fuzzing does not count).</p>"
        )
        missing = [r for r in chosen if not r["exercised"]]
        if missing:
            out.append(f"<h3>Not exercised ({len(missing)})</h3><ul class=uncovered>")
            out += [
                f"<li data-pointer='{e(r['pointer'])}' data-keyword='{e(r['keyword'])}'><code>{e(r['pointer'])}</code> "
                f"<b>{e(r['keyword'])}</b>: {e(r.get('reason') or 'NO REASON GIVEN')}</li>"
                for r in missing
            ]
            out.append("</ul>")
        out.append(f"<details><summary>Every keyword ({len(chosen)})</summary><table class=coverage><thead><tr>")
        out.append("<th>side</th><th>schema</th><th>keyword</th><th>checks</th><th>phases</th></tr></thead><tbody>")
        for r in chosen:
            out.append(
                f"<tr class={'covered' if r['exercised'] else 'uncovered'}><td>{e(r['side'])}</td>"
                f"<td><code>{e(r['pointer'])}</code></td><td>{e(r['keyword'])}</td>"
                f"<td>{e(', '.join(_checks(r)))}</td><td>{e(', '.join(r.get('phases', [])))}</td></tr>"
            )
        out.append("</tbody></table></details>")
    return out


def coverage_markdown(rows: list[dict[str, Any]]) -> list[str]:
    """The coverage map as Markdown: the summary line, the keywords nothing exercises, then every keyword."""
    lines = ["## Coverage of the contract", ""]
    for profile, chosen in _by_profile(rows).items():
        exercised = sum(1 for r in chosen if r["exercised"])
        lines += [
            f"Profile {md(profile)}: {exercised} of {len(chosen)} request and response keywords exercised by a "
            "hand-written check or an edge value sent for it alone (fuzzing does not count).",
            "",
        ]
        missing = [r for r in chosen if not r["exercised"]]
        if missing:
            lines += [f"Not exercised ({len(missing)}):", ""]
            lines += [
                f"- `{md(r['pointer'])}` **{md(r['keyword'])}**: {md(r.get('reason') or 'NO REASON GIVEN')}"
                for r in missing
            ]
            lines.append("")
        lines += [f"<details><summary>Every keyword ({len(chosen)})</summary>", ""]
        lines += ["| side | schema | keyword | checks | phases |", "|---|---|---|---|---|"]
        for r in chosen:
            lines.append(
                f"| {r['side']} | `{md(r['pointer'])}` | {md(r['keyword'])} | {md(', '.join(_checks(r)))} "
                f"| {md(', '.join(r.get('phases', [])))} |"
            )
        lines += ["", "</details>", ""]
    return lines
