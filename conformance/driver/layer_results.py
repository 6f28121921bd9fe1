"""The property layer's results: each mode's summary, then one result per finding id, built once the layer is over."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from conformance.checks import Check, make_result
from conformance.checks.base import cause_of
from conformance.checks.properties import Finding
from conformance.contract import Contract
from conformance.driver.attribution import PER_RUN
from conformance.records import Outcome, Result

if TYPE_CHECKING:
    from conformance.driver.property import ModeReport

__all__ = ["LayerPart", "layer_results"]


@dataclass(frozen=True)
class LayerPart:
    """One mode's results (its summary first, then its new findings), and when it ran (ms since the epoch)."""

    check: Check
    results: tuple[Result, ...]
    start_ms: int
    stop_ms: int


def layer_results(contract: Contract, reports: list[tuple[Check, ModeReport, int, int]]) -> tuple[LayerPart, ...]:
    """Each mode's summary result, then one result per finding id no earlier mode reported. Per id, the finding
    reported is the best one any mode found (a reproduced failure beats a flaky one); an id found again in a
    later mode is counted in the message."""
    first_mode: dict[str, str] = {}
    best: dict[str, Finding] = {}
    for _, report, _, _ in reports:
        for fid, finding in report.findings.items():
            first_mode.setdefault(fid, report.mode)
            if fid not in best or finding.beats(best[fid]):
                best[fid] = finding
    later: dict[str, list[str]] = {}
    for _, report, _, _ in reports:
        for fid in report.findings:
            if first_mode[fid] != report.mode:
                later.setdefault(fid, []).append(f" (and {report.counts[fid]} in {report.mode} generation)")
    return tuple(
        LayerPart(check, _mode_results(contract, check, report, first_mode, later, best), start, stop)
        for check, report, start, stop in reports
    )


def _mode_results(
    contract: Contract,
    check: Check,
    report: ModeReport,
    first_mode: dict[str, str],
    later: dict[str, list[str]],
    best: dict[str, Finding],
) -> tuple[Result, ...]:
    mode = report.mode
    phases = ", ".join(f"{phase} {count}" for phase, count in sorted(report.by_phase.items())) or "none"
    outcomes = {f.outcome for f in report.findings.values()}
    worst = next((o for o in (Outcome.FAILED, Outcome.WARNED) if o in outcomes), Outcome.PASSED)
    outcome = worst if report.sent else Outcome.SKIPPED
    if outcome in (Outcome.PASSED, Outcome.SKIPPED) and report.infrastructure:
        outcome = Outcome.ERROR  # it could not judge what it was to send: never a pass (docs/verdicts.md rule 5)
    summary = (
        f"{report.sent} {mode} requests ({phases}), {report.attribution} attribution requests, "
        f"{report.not_sent} not sent (costly values, other methods, header mutations); "
        f"{len(report.findings)} distinct findings"
    )
    summary += f"; {report.causes} causes attributed"
    if report.unanswered:
        summary += f"; {report.unanswered} requests got no judgeable answer ({report.last_problem[:160]})"
    if report.unattributed:
        summary += f"; {report.unattributed} reported under `body` unattributed (attribution budget of {PER_RUN} spent)"
    first = next((f for f in report.findings.values() if f.outcome is outcome), None)
    if first is not None:
        summary = f"{first.id} is {outcome.value}: " + summary
    if report.stopped:
        summary += f"; stopped early: {report.stopped}"
    shown = first.exchanges[-1:] if first is not None else ()
    out = [
        make_result(
            contract,
            check.id,
            check.pointer,
            check.field,
            outcome,
            summary,
            level=check.level,
            exchanges=shown,
            cause=cause_of(first.id, first.outcome, first.exchanges, first.cause) if first is not None else None,
        )
    ]
    for fid in report.findings:
        if first_mode[fid] != mode:  # the same id from an earlier mode: counted there, never reported twice
            continue
        finding = best[fid]
        count = report.counts[fid]
        message = finding.message + (f" ({count} requests)" if count > 1 else "") + "".join(later.get(finding.id, []))
        out.append(
            make_result(
                contract,
                finding.id,
                finding.pointer,
                None if finding.field == "body" else finding.field,
                finding.outcome,
                message,
                exchanges=finding.exchanges,
                level="MUST",
                evidence=finding.evidence,
                cause=finding.cause,
            )
        )
    return tuple(out)
