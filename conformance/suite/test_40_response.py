"""The response contract, judged on the preflight's 200 answer; and the error envelope of a 4xx."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from conformance.contract import ERROR_SCHEMA, RESPONSE_SCHEMA
from conformance.records import Outcome, Result
from conformance.suite.common import is_int, usage_problem
from conformance.suite.context import Case, RunContext
from conformance.suite.plugin import Recorder, cases

PROPS = f"{RESPONSE_SCHEMA}/properties"
MESSAGE_ROLE = "#/components/schemas/ResponseMessage/properties/role"
FINISH = "#/components/schemas/FinishReason"
USAGE_TOTAL = "#/components/schemas/CompletionUsage/properties/total_tokens"
MILLISECONDS = 10**11  # a `created` above this is milliseconds (year 5138 in seconds)
SECONDS_FLOOR = 10**9  # 2001-09-09: anything earlier is not a creation time


def plan(ctx: RunContext) -> list[Case]:
    return [
        Case("response.object", "object", f"{PROPS}/object", sends=False),
        Case("response.id", "id", f"{PROPS}/id", sends=False),
        Case("response.created", "created", f"{PROPS}/created", sends=False),
        Case("response.model", "model", f"{PROPS}/model", sends=False),
        Case("response.choices", "choices", f"{PROPS}/choices", sends=False),
        Case("response.message.role", "choices.message.role", MESSAGE_ROLE, sends=False),
        Case("response.finish_reason", "choices.finish_reason", FINISH, sends=False),
        Case("response.usage", "usage", USAGE_TOTAL, sends=False),
        Case("response.error.envelope", "error", ERROR_SCHEMA),
    ]


def _object(ctx: RunContext, body: dict[str, Any]) -> tuple[Outcome, str]:
    expected = ctx.contract.other("openai").enum(f"{PROPS}/object")[0]
    got = body.get("object")
    if got == expected:
        return Outcome.PASSED, f"object is {expected!r}"
    return Outcome.FAILED, f"object is {got!r}, not {expected!r}"


def _non_empty_string(name: str) -> Callable[[RunContext, dict[str, Any]], tuple[Outcome, str]]:
    """A judge that the response's `name` is a non-empty string."""

    def judge(ctx: RunContext, body: dict[str, Any]) -> tuple[Outcome, str]:
        value = body.get(name)
        if isinstance(value, str) and value:
            return Outcome.PASSED, f"{name} {value!r}"
        return Outcome.FAILED, f"{name} is {value!r}, not a non-empty string"

    return judge


def _created(ctx: RunContext, body: dict[str, Any]) -> tuple[Outcome, str]:
    value: Any = body.get("created")
    if not is_int(value):
        return Outcome.FAILED, f"created is {value!r} ({type(value).__name__}), not an integer"
    if value >= MILLISECONDS:
        return Outcome.FAILED, f"created is {value}: milliseconds, not seconds (now is {int(time.time())})"
    if value < SECONDS_FLOOR:
        return Outcome.FAILED, f"created is {value}: not a Unix time in seconds"
    return Outcome.PASSED, f"created {value}"


def _choices(ctx: RunContext, body: dict[str, Any]) -> tuple[Outcome, str]:
    choices = body.get("choices")
    if not isinstance(choices, list):
        return Outcome.FAILED, f"choices is {type(choices).__name__} {str(choices)[:120]!r}, not an array"
    indexes = [c.get("index") if isinstance(c, dict) else None for c in choices]
    if indexes != list(range(len(choices))) or not choices:
        return Outcome.FAILED, f"choice indexes are {indexes}, expected 0..{len(choices) - 1} for n=1"
    return Outcome.PASSED, f"{len(choices)} choice(s), indexes {indexes}"


def _choice_items(body: dict[str, Any]) -> list[dict[str, Any]] | None:
    choices = body.get("choices")
    if isinstance(choices, list) and choices and all(isinstance(c, dict) for c in choices):
        return choices
    return None


def _role(ctx: RunContext, body: dict[str, Any]) -> tuple[Outcome, str]:
    choices = _choice_items(body)
    if choices is None:
        return Outcome.SKIPPED, "no choice objects to inspect (see response.choices)"
    expected = ctx.contract.enum(MESSAGE_ROLE)[0]
    roles = [(c.get("message") or {}).get("role") if isinstance(c.get("message"), dict) else None for c in choices]
    if all(role == expected for role in roles):
        return Outcome.PASSED, f"message role {expected!r}"
    return Outcome.FAILED, f"message roles are {roles}, not {expected!r}"


def _finish(ctx: RunContext, body: dict[str, Any]) -> tuple[Outcome, str]:
    choices = _choice_items(body)
    if choices is None:
        return Outcome.SKIPPED, "no choice objects to inspect (see response.choices)"
    allowed = [v for v in ctx.contract.other("openai").enum(FINISH) if v is not None]
    reasons = [c.get("finish_reason") for c in choices]
    if all(reason in allowed for reason in reasons):
        return Outcome.PASSED, f"finish_reason {reasons}"
    return Outcome.FAILED, f"finish_reason is {reasons}, expected one of {allowed} in a finished completion"


def _usage(ctx: RunContext, body: dict[str, Any]) -> tuple[Outcome, str]:
    usage = body.get("usage")
    if usage is None:
        return Outcome.WARNED, "no usage reported: clients cannot account for tokens"
    problem = usage_problem(usage)
    return (Outcome.FAILED, problem) if problem else (Outcome.PASSED, f"usage {usage}")


JUDGES: dict[str, Callable[[RunContext, dict[str, Any]], tuple[Outcome, str]]] = {
    "response.object": _object,
    "response.id": _non_empty_string("id"),
    "response.created": _created,
    "response.model": _non_empty_string("model"),
    "response.choices": _choices,
    "response.message.role": _role,
    "response.finish_reason": _finish,
    "response.usage": _usage,
}


def _envelope(ctx: RunContext, case: Case) -> Result:
    body = ctx.body()
    del body["messages"]
    exchange = ctx.send("error.missing_messages", body)
    sent = "a request without `messages`"
    if exchange.status is None or not 400 <= exchange.status < 500:
        return ctx.judge.result(
            case.rid,
            case.pointer,
            case.field,
            Outcome.SKIPPED,
            f"sent {sent}; no 4xx to inspect: {exchange.describe()}",
        )
    problems = ctx.judge.envelope_errors(exchange)
    if problems:
        return ctx.judge.result(
            case.rid,
            case.pointer,
            case.field,
            Outcome.FAILED,
            f"sent {sent}; HTTP {exchange.status} without the error envelope: {'; '.join(problems)}",
            exchanges=(exchange,),
        )
    return ctx.judge.result(
        case.rid, case.pointer, case.field, Outcome.PASSED, f"HTTP {exchange.status} with the envelope"
    )


@cases(plan)
def test_response(ctx: RunContext, case: Case, record: Recorder) -> None:
    if case.rid == "response.error.envelope":
        record(_envelope(ctx, case))
        return
    exchange = ctx.preflight
    assert exchange is not None
    body = exchange.json if exchange.status == 200 else None
    if not isinstance(body, dict):
        record(
            ctx.judge.result(
                case.rid,
                case.pointer,
                case.field,
                Outcome.SKIPPED,
                "the minimal request got no JSON object with HTTP 200 (see response.minimal.*)",
            )
        )
        return
    outcome, message = JUDGES[case.rid](ctx, body)
    shown = (exchange,) if outcome is not Outcome.PASSED else ()
    record(
        ctx.judge.result(case.rid, case.pointer, case.field, outcome, f"minimal request: {message}", exchanges=shown)
    )
