"""Bearer authentication: a missing or wrong token is answered 401 with the error envelope."""

from __future__ import annotations

from conformance.contract import OPERATION
from conformance.records import Outcome
from conformance.suite.context import Case, RunContext
from conformance.suite.plugin import Recorder, cases

UNAUTHORIZED = f"{OPERATION}/responses/401"


def plan(ctx: RunContext) -> list[Case]:
    return [
        Case("auth.missing_token", "Authorization", UNAUTHORIZED, {"header": None, "sent": "no Authorization header"}),
        Case(
            "auth.wrong_token",
            "Authorization",
            UNAUTHORIZED,
            {"header": "Bearer conformance-wrong-token", "sent": "Authorization: Bearer <a wrong token>"},
        ),
        Case(
            "auth.non_bearer_scheme",
            "Authorization",
            UNAUTHORIZED,
            {"header": "Token {key}", "sent": "Authorization: Token <the key> (not the Bearer scheme)"},
        ),
    ]


@cases(plan)
def test_auth(ctx: RunContext, case: Case, record: Recorder) -> None:
    judge = ctx.judge
    if not ctx.api_key_given:
        record(judge.result(case.rid, case.pointer, case.field, Outcome.SKIPPED, "no --api-key given"))
        return
    header = case["header"]
    if header is not None:
        header = header.format(key=ctx.client.api_key)
    exchange = ctx.client.chat(ctx.body(), authorization=header)
    record(judge.status_is(case.rid, case.pointer, case.field, exchange, case["sent"], 401, envelope=True))
