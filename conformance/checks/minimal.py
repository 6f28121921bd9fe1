"""A minimal valid request (the preflight's): 200, `application/json`, a body valid against the response schema,
its completion limit honoured. Judged on the preflight: no request of its own."""

from __future__ import annotations

from conformance.checks.base import PREFLIGHT, Facts, Inconclusive, Registry, Verdict
from conformance.checks.requests import SMALL_LIMIT
from conformance.checks.status import ExactStatus
from conformance.contract import OPERATION, REQUEST_SCHEMA, RESPONSE_SCHEMA
from conformance.records import Exchange, Outcome

__all__ = ["CHECKS", "limit_honoured"]

CHECKS = Registry()
OK = f"{OPERATION}/responses/200"
SENT = "a minimal valid request"


def _ok(exchange: Exchange) -> None:
    if exchange.status != 200:
        raise Inconclusive("the minimal request was not answered 200 (see response.minimal.status)")


def limit_honoured(exchange: Exchange) -> tuple[bool, str]:
    """Whether the preflight honoured its completion limit (judged on `usage.completion_tokens`)."""
    body = exchange.json
    usage = body.get("usage") if isinstance(body, dict) else None
    used = usage.get("completion_tokens") if isinstance(usage, dict) else None
    if not isinstance(used, int):
        return True, "no usage.completion_tokens to compare with the limit"
    if used > SMALL_LIMIT:
        return False, f"sent max_completion_tokens={SMALL_LIMIT}; usage.completion_tokens is {used}"
    return True, f"sent max_completion_tokens={SMALL_LIMIT}; completion_tokens {used}"


def status(facts: Facts, exchange: Exchange) -> Verdict:
    return ExactStatus(200, SENT)(facts, exchange)


CHECKS.check("response.minimal.status", None, OK, PREFLIGHT)(status)


@CHECKS.check("response.minimal.content_type", None, f"{OK}/content/application~1json", PREFLIGHT)
def content_type(facts: Facts, exchange: Exchange) -> Verdict:
    _ok(exchange)
    if exchange.content_type == "application/json":
        return Verdict(Outcome.PASSED, f"sent {SENT}; Content-Type application/json")
    got = exchange.content_type or "(none)"
    return Verdict(Outcome.FAILED, f"answered as {got}, not application/json", (exchange,), evidence=f"sent {SENT}")


@CHECKS.check("response.minimal.schema", None, RESPONSE_SCHEMA, PREFLIGHT)
def schema(facts: Facts, exchange: Exchange) -> Verdict:
    _ok(exchange)
    if not exchange.is_json:
        return Verdict(
            Outcome.FAILED,
            f"the body is not JSON ({exchange.json_problem})",
            (exchange,),
            evidence=f"sent {SENT}; got {exchange.text[:300]!r}",
        )
    problems = facts.contract.schema_errors(RESPONSE_SCHEMA, exchange.json)
    if problems:
        message = f"the body breaks ChatCompletionResponse: {'; '.join(problems)}"
        return Verdict(Outcome.FAILED, message, (exchange,), evidence=f"sent {SENT}")
    return Verdict(Outcome.PASSED, f"sent {SENT}; body valid against {RESPONSE_SCHEMA}")


@CHECKS.check(
    "response.minimal.completion_limit",
    "max_completion_tokens",
    f"{REQUEST_SCHEMA}/properties/max_completion_tokens",
    PREFLIGHT,
)
def completion_limit(facts: Facts, exchange: Exchange) -> Verdict:
    _ok(exchange)
    honoured, message = limit_honoured(exchange)
    if honoured:
        return Verdict(Outcome.PASSED, message)
    return Verdict(
        Outcome.FAILED,
        "the completion limit was not honoured; checks with longer outputs are skipped",
        (exchange,),
        evidence=message,
    )
