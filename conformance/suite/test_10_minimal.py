"""A minimal valid request (the preflight's): 200, `application/json`, a body valid against the response schema."""

from __future__ import annotations

from conformance.contract import OPERATION, RESPONSE_SCHEMA
from conformance.records import Outcome
from conformance.suite.context import Case, RunContext
from conformance.suite.plugin import Recorder, cases

OK = f"{OPERATION}/responses/200"


def plan(ctx: RunContext) -> list[Case]:
    return [
        Case("response.minimal.status", None, OK, sends=False),
        Case("response.minimal.content_type", None, f"{OK}/content/application~1json", sends=False),
        Case("response.minimal.schema", None, RESPONSE_SCHEMA, sends=False),
        Case(
            "response.minimal.completion_limit",
            "max_completion_tokens",
            ctx.contract.field_pointer("max_completion_tokens"),
            sends=False,
        ),
    ]


@cases(plan)
def test_minimal_request(ctx: RunContext, case: Case, record: Recorder) -> None:
    exchange = ctx.preflight
    assert exchange is not None, "the preflight did not run"
    judge, sent = ctx.judge, "a minimal valid request"
    if case.rid == "response.minimal.status":
        record(judge.status_is(case.rid, case.pointer, None, exchange, sent, 200))
    elif exchange.status != 200:
        record(judge.result(case.rid, case.pointer, None, Outcome.SKIPPED, "the minimal request was not answered 200"))
    elif case.rid == "response.minimal.completion_limit":
        honoured, message = ctx.preflight_limit()
        outcome = Outcome.PASSED if honoured else Outcome.FAILED
        detail = "" if honoured else "; checks with longer outputs are skipped"
        record(ctx.verdict(case, outcome, f"{message}{detail}", *(() if honoured else (exchange,))))
    elif case.rid == "response.minimal.content_type":
        record(judge.content_type(case.rid, case.pointer, exchange, "application/json", sent))
    else:
        record(judge.schema(case.rid, case.pointer, RESPONSE_SCHEMA, exchange, sent))
