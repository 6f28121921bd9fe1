"""What the semantic and streaming checks share: reading a completion, and the verdicts that end a check early."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeGuard

from conformance.checks import clean_4xx, infrastructure_problem
from conformance.records import Outcome, Result
from conformance.suite.context import Case, RunContext
from conformance.transport import Exchange

__all__ = [
    "Inconclusive",
    "Unanswered",
    "content_of",
    "first_choice",
    "judged",
    "refused",
    "tool_calls_of",
]


class Inconclusive(Exception):
    """The output needed for a verdict is not there (rule 7): the result is `skipped` with the reason."""


class Unanswered(Exception):
    """Infrastructure trouble kept the exchange from an answer (rule 5): the result is `error`."""

    def __init__(self, problem: str, exchange: Exchange) -> None:
        super().__init__(problem)
        self.exchange = exchange


def first_choice(ctx: RunContext, exchange: Exchange) -> dict[str, Any]:
    """The first choice of a 200 completion; else Unanswered (infrastructure) or Inconclusive."""
    problem = infrastructure_problem(ctx.contract, exchange)
    if problem:
        raise Unanswered(problem, exchange)
    body = exchange.json
    choices = body.get("choices") if isinstance(body, dict) else None
    if exchange.status != 200 or not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise Inconclusive(f"no usable completion: {exchange.describe(200)}")
    return choices[0]


def content_of(choice: dict[str, Any]) -> str:
    message = choice.get("message")
    content = message.get("content") if isinstance(message, dict) else None
    return content if isinstance(content, str) else ""


def tool_calls_of(choice: dict[str, Any]) -> list[Any]:
    message = choice.get("message")
    calls = message.get("tool_calls") if isinstance(message, dict) else None
    return calls if isinstance(calls, list) else []


def refused(ctx: RunContext, case: Case, exchange: Exchange, *capabilities: str) -> Result | None:
    """The verdict when a request using `capabilities` was not served with a 200, else None.

    A clean 4xx is `unsupported` when one of the capabilities' basic use is refused too and not declared
    (rule 4), `failed` when they are all declared, and `skipped` otherwise (the request itself, not the
    capability, was refused: another check names that). A 5xx is `failed`.
    """
    problem = infrastructure_problem(ctx.contract, exchange)
    if problem:
        raise Unanswered(problem, exchange)
    if exchange.status == 200:
        return None
    got = exchange.describe(200)
    if not clean_4xx(exchange):
        return ctx.verdict(case, Outcome.FAILED, f"the request crashed the server: {got}", exchange, level="MUST")
    for capability in capabilities:
        if ctx.refused(capability):
            return ctx.verdict(case, Outcome.UNSUPPORTED, f"{capability} refused: {got}", exchange)
    if capabilities and all(c in ctx.declared for c in capabilities):
        declared = ", ".join(capabilities)
        return ctx.verdict(case, Outcome.FAILED, f"{declared} declared by the target, but refused: {got}", exchange)
    return ctx.verdict(case, Outcome.SKIPPED, f"the request was not served: {got}", exchange)


def is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def usage_problem(usage: Any) -> str | None:
    """Why a usage object breaks `total_tokens = prompt_tokens + completion_tokens`, or None."""
    if not isinstance(usage, dict):
        return f"usage is {usage!r}, not an object"
    values = [usage.get(k) for k in ("prompt_tokens", "completion_tokens", "total_tokens")]
    counts = [v for v in values if is_int(v) and v >= 0]
    if len(counts) != len(values):
        return f"usage counts are not non-negative integers: {values}"
    prompt, completion, total = counts
    if total != prompt + completion:
        return f"total_tokens {total} != prompt_tokens {prompt} + completion_tokens {completion}"
    return None


def judged(ctx: RunContext, case: Case, judge: Callable[[RunContext, Case], Result]) -> Result:
    """Run `judge`, turning Unanswered into `error` (rule 5) and Inconclusive into `skipped` (rule 7)."""
    try:
        return judge(ctx, case)
    except Unanswered as why:
        return ctx.verdict(case, Outcome.ERROR, str(why), why.exchange)
    except Inconclusive as why:
        return ctx.verdict(case, Outcome.SKIPPED, f"inconclusive: {why}")
