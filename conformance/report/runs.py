"""The runs a report is built from: each run's summary.json (a run that did not happen included, `NOT RUN`), its
status, the root cause of a result, and the history kept between nights with its trend.

Reads summary.json files only; nothing here renders.
"""

from __future__ import annotations

import itertools
import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

__all__ = [
    "FAILING",
    "JUDGED",
    "STATUSES",
    "ReportError",
    "Run",
    "area",
    "cause",
    "history_line",
    "iso",
    "load_runs",
    "read_history",
    "trend",
]

JUDGED = ("passed", "failed", "warned", "xfailed", "xpassed")  # results with a verdict: the pass rate's base
FAILING = ("failed", "xfailed")  # broken tonight, known or not
PASSING = ("passed", "xpassed")
STATUSES = ("ran", "INCOMPLETE", "NOT RUN")
EMPTY_TOTALS = dict.fromkeys(
    ("passed", "failed", "warned", "unsupported", "skipped", "errors", "xfailed", "xpassed", "requests"), 0
)


class ReportError(Exception):
    """A run directory without a readable, valid summary.json."""


def iso(stamp: str | None, seconds: bool = False) -> str:
    """A summary's timestamp in ISO 8601, UTC, to the minute (`2026-11-03T03:00Z`); as given if unreadable."""
    if not stamp:
        return ""
    try:
        when = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return stamp
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ" if seconds else "%Y-%m-%dT%H:%MZ")


@dataclass(frozen=True)
class Run:
    """One run's summary, as read from its directory."""

    directory: Path
    data: dict[str, Any]

    @property
    def name(self) -> str:
        target = self.data["target"]
        return str(target.get("name") or f"{target.get('base_url', '?')} ({target.get('model', '?')})")

    @property
    def status(self) -> str:
        """`ran`, `INCOMPLETE` (stopped early, cut by --max-requests, interrupted, or errors kept verdicts from
        being reached: exit 3) or `NOT RUN` (the run did not start: its reason in `stopped`)."""
        given = self.data.get("status")
        if given in STATUSES:
            return str(given)
        if self.data.get("stopped") or self.data.get("exit_code") == 3:
            return "INCOMPLETE"
        return "ran"

    @property
    def reason(self) -> str:
        """Why the run did not run or stopped early ("" when it ran through)."""
        stopped = self.data.get("stopped")
        if stopped:
            return str(stopped)
        if self.status == "INCOMPLETE":
            return "infrastructure errors kept verdicts from being reached"
        return "no reason given" if self.status == "NOT RUN" else ""

    @property
    def results(self) -> list[dict[str, Any]]:
        return list(self.data.get("results") or [])

    @property
    def totals(self) -> dict[str, Any]:
        return {**EMPTY_TOTALS, **(self.data.get("totals") or {})}

    @property
    def model(self) -> str:
        return str(self.data["target"].get("model", ""))

    @property
    def profile(self) -> str:
        return str(self.data["target"].get("profile", ""))

    @property
    def exit_code(self) -> int | None:
        code = self.data.get("exit_code")
        return code if isinstance(code, int) else None

    @property
    def night(self) -> str:
        """When the run finished (or started, or, not run, was meant to): the history's key."""
        return str(self.data.get("finished_at") or self.data.get("started_at") or "")

    @property
    def outcomes(self) -> dict[str, str]:
        return {r["id"]: r["outcome"] for r in self.results}

    def pass_rate(self, of_area: str | None = None) -> float | None:
        judged = [o for rid, o in self.outcomes.items() if o in JUDGED and (of_area is None or area(rid) == of_area)]
        return sum(o in PASSING for o in judged) / len(judged) if judged else None


def area(rid: str) -> str:
    return rid.split(".", 1)[0]


RANGE = {"at_minimum", "at_maximum", "below_minimum", "above_maximum", "far_below_minimum", "far_above_maximum"}
TYPE = {"wrong_type", "boolean", "null"}


def cause(result: dict[str, Any]) -> str:
    """The root cause a result is grouped under: the run's `cause` when it gives one, else one derived from the
    result id's family (`request.temperature.above_maximum` -> "request: range")."""
    given = result.get("cause")
    if isinstance(given, str) and given.strip():
        return given.strip()
    parts = str(result.get("id", "")).split(".")
    head, last = parts[0], parts[-1]
    if head == "request":
        kind = "range" if last in RANGE else "type" if last in TYPE else "enum" if last.startswith("member") else ""
        return f"request: {kind or (parts[1] if len(parts) > 2 else last)}"
    if head == "property" and len(parts) > 2:
        return f"property: {parts[1].replace('_', ' ')}"
    if head in ("semantic", "client") and len(parts) > 2:
        return f"{head}: {parts[1]}"
    if head == "response" and ("schema" in parts or last in ("envelope",)):
        return "response: schema"
    return head


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


# -- history ---------------------------------------------------------------------------------------------------


def history_line(run: Run, night: str) -> dict[str, Any]:
    """The run's line in the history file; `night`: the run's own time, or the report's for a run without one."""
    data = run.data
    return {
        "night": run.night or night,
        "target": run.name,
        "status": run.status,
        "reason": run.reason,
        "tool_version": data["tool"]["version"],
        "contract_sha256": (data.get("spec") or {}).get("sha256"),
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


def _ran(night: dict[str, Any]) -> bool:
    return bool(night.get("status", "ran") != "NOT RUN")


def trend(history: list[dict[str, Any]], tonight: list[str] | None = None) -> dict[str, dict[str, Any]]:
    """Per target, over the nights kept: its status tonight, newly failing, fixed (a known failure that passes
    now counts), stale baseline entries, still broken with the night it started failing, the pass rate per night
    (None: not run), the change of pass rate since the last night it ran, and the nights the tool version or the
    contract changed. Tonight's changes are against the last night before it that ran. `tonight`: the targets of
    tonight's report; a target of the history absent from it is `NOT RUN` (not in tonight's report)."""
    by_target: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for item in history:
        by_target[item["target"]].append(item)
    out = {}
    for target, nights in by_target.items():
        nights.sort(key=lambda n: n["night"])
        last = nights[-1]
        status, reason = last.get("status", "ran"), last.get("reason", "")
        if tonight is not None and target not in tonight:
            status, reason = "NOT RUN", f"not in tonight's report (last seen {iso(last['night'])})"
        ran = [n for n in nights if _ran(n)]
        current = last if _ran(last) and status != "NOT RUN" else None
        before = [n for n in ran if current is None or n["night"] < current["night"]]
        previous = before[-1] if before else None
        now = current["outcomes"] if current else {}
        then = previous["outcomes"] if previous else {}
        failing_now = {rid for rid, o in now.items() if o in FAILING}
        failing_before = {rid for rid, o in then.items() if o in FAILING}
        since = {}
        for rid in failing_now:
            start = current["night"] if current else ""
            for night in reversed(before):
                if night["outcomes"].get(rid) not in FAILING:
                    break
                start = night["night"]
            since[rid] = start
        changed = []
        for one, other in itertools.pairwise(ran):
            what = [
                label
                for key, label in (("tool_version", "tool version"), ("contract_sha256", "contract"))
                if one.get(key) != other.get(key)
            ]
            if what:
                changed.append({"night": other["night"], "changed": what})
        rate_now, rate_then = (current or {}).get("pass_rate"), (previous or {}).get("pass_rate")
        out[target] = {
            "status": status,
            "reason": reason,
            "night": last["night"],
            "previous": previous["night"] if previous and current else None,
            "newly_failing": sorted(failing_now - failing_before) if previous else [],
            "fixed": sorted(rid for rid in failing_before - failing_now if now.get(rid) in PASSING),
            "stale": sorted(rid for rid, o in now.items() if o == "xpassed"),
            "still_broken": {rid: since[rid] for rid in sorted(failing_now & failing_before)},
            "pass_rates": [(n["night"], n.get("pass_rate") if _ran(n) else None, _ran(n)) for n in nights],
            "change": rate_now - rate_then if rate_now is not None and rate_then is not None else None,
            "changed": changed,
        }
    return out
