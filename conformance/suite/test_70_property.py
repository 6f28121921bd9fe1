"""The property-based layer inside the run: one summary result per generation mode, one per distinct failure."""

from __future__ import annotations

from conformance.contract import REQUEST_SCHEMA
from conformance.records import Outcome
from conformance.suite.context import Case, RunContext
from conformance.suite.plugin import Recorder, cases
from conformance.suite.property import run_mode


def plan(ctx: RunContext) -> list[Case]:
    return [
        Case(f"property.{mode}", None, REQUEST_SCHEMA, {"mode": mode, "multi": True}, level="MUST")
        for mode in ("positive", "negative")
    ]


@cases(plan)
def test_property(ctx: RunContext, case: Case, record: Recorder) -> None:
    report = run_mode(ctx, case["mode"], ctx.max_examples)
    phases = ", ".join(f"{phase} {count}" for phase, count in sorted(report.by_phase.items())) or "none"
    summary = (
        f"{report.sent} generated {case['mode']} requests sent ({phases}); {report.not_sent} not sent "
        f"(duplicate coverage scenarios, other methods, header mutations); {len(report.findings)} distinct findings"
    )
    if report.stopped:
        summary += f"; stopped early: {report.stopped}"
    outcome = Outcome.PASSED if report.sent else Outcome.SKIPPED
    record(ctx.verdict(case, outcome, summary))
    for finding in report.findings.values():
        rid = f"property.{finding.check}.{finding.field}"
        message = finding.message + (f" ({finding.count} requests)" if finding.count > 1 else "")
        record(
            ctx.judge.result(
                rid, finding.pointer, finding.field, finding.outcome, message, exchanges=(finding.exchange,)
            )
        )
