"""The response contract, judged on the preflight's 200 answer; and the error envelope of a 4xx."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from conformance.checks.base import PREFLIGHT, Facts, Inconclusive, Registry, Verdict
from conformance.checks.reading import is_int, usage_problem
from conformance.checks.requests import MISSING_MESSAGES
from conformance.checks.status import envelope_errors
from conformance.contract import ERROR_SCHEMA, RESPONSE_SCHEMA
from conformance.records import Exchange, Outcome

__all__ = ["CHECKS"]

CHECKS = Registry()
PROPS = f"{RESPONSE_SCHEMA}/properties"
MESSAGE_ROLE = "#/components/schemas/ResponseMessage/properties/role"
FINISH = "#/components/schemas/FinishReason"
USAGE_TOTAL = "#/components/schemas/CompletionUsage/properties/total_tokens"
MILLISECONDS = 10**11  # a `created` above this is milliseconds (year 5138 in seconds)
SECONDS_FLOOR = 10**9  # 2001-09-09: anything earlier is not a creation time


def on_body(judge: Callable[[Facts, dict[str, Any]], tuple[Outcome, str]]) -> Callable[[Facts, Exchange], Verdict]:
    """Judge the JSON object of the preflight's 200 answer; skipped (inconclusive) when there is none."""

    def judged(facts: Facts, exchange: Exchange) -> Verdict:
        body = exchange.json if exchange.status == 200 else None
        if not isinstance(body, dict):
            raise Inconclusive("the minimal request got no JSON object with HTTP 200 (see response.minimal.*)")
        outcome, message = judge(facts, body)
        return Verdict(outcome, f"minimal request: {message}", (exchange,) if outcome is not Outcome.PASSED else ())

    judged.__qualname__ = judge.__qualname__
    judged.__doc__ = judge.__doc__
    return judged


def _choice_items(body: dict[str, Any]) -> list[dict[str, Any]]:
    choices = body.get("choices")
    if isinstance(choices, list) and choices and all(isinstance(c, dict) for c in choices):
        return choices
    raise Inconclusive("no choice objects to inspect (see response.choices)")


@CHECKS.check("response.object", "object", f"{PROPS}/object", PREFLIGHT)
@on_body
def object_(facts: Facts, body: dict[str, Any]) -> tuple[Outcome, str]:
    """`object` is OpenAI's `chat.completion` (SHOULD in the atoma profile, whose document names no value)."""
    expected = facts.contract.other("openai").enum(f"{PROPS}/object")[0]
    got = body.get("object")
    if got == expected:
        return Outcome.PASSED, f"object is {expected!r}"
    return Outcome.FAILED, f"object is {got!r}, not {expected!r}"


def non_empty_string(facts: Facts, name: str, body: dict[str, Any]) -> tuple[Outcome, str]:
    """The response's `name` is a non-empty string."""
    value = body.get(name)
    if isinstance(value, str) and value:
        return Outcome.PASSED, f"{name} {value!r}"
    return Outcome.FAILED, f"{name} is {value!r}, not a non-empty string"


@CHECKS.check("response.id", "id", f"{PROPS}/id", PREFLIGHT)
@on_body
def id_(facts: Facts, body: dict[str, Any]) -> tuple[Outcome, str]:
    return non_empty_string(facts, "id", body)


@CHECKS.check("response.created", "created", f"{PROPS}/created", PREFLIGHT)
@on_body
def created(facts: Facts, body: dict[str, Any]) -> tuple[Outcome, str]:
    """An integer Unix time in seconds (not a float, not milliseconds)."""
    value: Any = body.get("created")
    if not is_int(value):
        return Outcome.FAILED, f"created is {value!r} ({type(value).__name__}), not an integer"
    if value >= MILLISECONDS:
        return Outcome.FAILED, f"created is {value}: milliseconds, not seconds (now is {int(time.time())})"
    if value < SECONDS_FLOOR:
        return Outcome.FAILED, f"created is {value}: not a Unix time in seconds"
    return Outcome.PASSED, f"created {value}"


@CHECKS.check("response.model", "model", f"{PROPS}/model", PREFLIGHT)
@on_body
def model(facts: Facts, body: dict[str, Any]) -> tuple[Outcome, str]:
    return non_empty_string(facts, "model", body)


@CHECKS.check("response.choices", "choices", f"{PROPS}/choices", PREFLIGHT)
@on_body
def choices(facts: Facts, body: dict[str, Any]) -> tuple[Outcome, str]:
    """An array of choices indexed 0..n-1 (one for the preflight's n=1)."""
    items = body.get("choices")
    if not isinstance(items, list):
        return Outcome.FAILED, f"choices is {type(items).__name__} {str(items)[:120]!r}, not an array"
    indexes = [c.get("index") if isinstance(c, dict) else None for c in items]
    if indexes != list(range(len(items))) or not items:
        return Outcome.FAILED, f"choice indexes are {indexes}, expected 0..{len(items) - 1} for n=1"
    return Outcome.PASSED, f"{len(items)} choice(s), indexes {indexes}"


@CHECKS.check("response.message.role", "choices.message.role", MESSAGE_ROLE, PREFLIGHT)
@on_body
def role(facts: Facts, body: dict[str, Any]) -> tuple[Outcome, str]:
    expected = facts.contract.enum(MESSAGE_ROLE)[0]
    roles = [c["message"].get("role") if isinstance(c.get("message"), dict) else None for c in _choice_items(body)]
    if all(r == expected for r in roles):
        return Outcome.PASSED, f"message role {expected!r}"
    return Outcome.FAILED, f"message roles are {roles}, not {expected!r}"


@CHECKS.check("response.finish_reason", "choices.finish_reason", FINISH, PREFLIGHT)
@on_body
def finish_reason(facts: Facts, body: dict[str, Any]) -> tuple[Outcome, str]:
    allowed = [v for v in facts.contract.other("openai").enum(FINISH) if v is not None]
    reasons = [c.get("finish_reason") for c in _choice_items(body)]
    if all(reason in allowed for reason in reasons):
        return Outcome.PASSED, f"finish_reason {reasons}"
    return Outcome.FAILED, f"finish_reason is {reasons}, expected one of {allowed} in a finished completion"


@CHECKS.check("response.usage", "usage", USAGE_TOTAL, PREFLIGHT)
@on_body
def usage(facts: Facts, body: dict[str, Any]) -> tuple[Outcome, str]:
    value = body.get("usage")
    if value is None:
        return Outcome.WARNED, "no usage reported: clients cannot account for tokens"
    problem = usage_problem(value)
    return (Outcome.FAILED, problem) if problem else (Outcome.PASSED, f"usage {value}")


@CHECKS.check("response.error.envelope", "error", ERROR_SCHEMA, MISSING_MESSAGES)
def error_envelope(facts: Facts, exchange: Exchange) -> Verdict:
    """A 4xx answer carries the profile's error envelope."""
    sent = "a request without `messages`"
    if exchange.status is None or not 400 <= exchange.status < 500:
        raise Inconclusive(f"sent {sent}; no 4xx to inspect: {exchange.describe()}")
    problems = envelope_errors(facts.contract, exchange)
    if problems:
        message = f"HTTP {exchange.status} without the error envelope: {'; '.join(problems)}"
        return Verdict(Outcome.FAILED, message, (exchange,), evidence=f"sent {sent}")
    return Verdict(Outcome.PASSED, f"HTTP {exchange.status} with the envelope")
