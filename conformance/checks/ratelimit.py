"""Rate limits, judged on what the run met (issue 18): every 429 answer (retried or not) and every answer carrying
`x-ratelimit-*` headers, kept by the transport. They cost no request: a run that met none skips them
(`--probe-rate-limit N` looks for a 429 on purpose). A 429 itself is never a failure (docs/verdicts.md rules 5 and
14): its form is what these checks judge."""

from __future__ import annotations

import email.utils
import re

from conformance.checks.base import Facts, Registry, Verdict, observed, skipped
from conformance.checks.status import envelope_errors
from conformance.records import Exchange, Outcome

__all__ = ["CHECKS", "ratelimit_problem", "retry_after_problem"]

CHECKS = Registry()
RATE_LIMITED = "#/paths/~1v1~1chat~1completions/post/responses/429"
RATE_HEADERS = "#/components/headers/RateLimit"
MET_429 = observed("429")
WITH_HEADERS = observed("ratelimit-headers")
PREFIX = "x-ratelimit-"
_SECONDS = re.compile(r"\d+(?:\.\d+)?")
_DURATION = re.compile(r"(?:\d+(?:\.\d+)?(?:ms|h|m|s))+")  # Go's time.Duration as OpenAI sends it: 6m0s, 20ms
_INTEGER = re.compile(r"\d+")


def retry_after_problem(exchange: Exchange) -> str | None:
    """Why a 429's Retry-After cannot be used (absent, or neither delay-seconds nor an HTTP date), or None."""
    value = exchange.response_headers.get("retry-after")
    if value is None:
        return "without a Retry-After header"
    text = value.strip()
    if _INTEGER.fullmatch(text):
        return None
    try:
        email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return f"with a Retry-After that is neither seconds nor an HTTP date: {value[:80]!r}"
    return None


def ratelimit_problem(headers: dict[str, str]) -> str | None:
    """Why an answer's `x-ratelimit-*` headers are incoherent, or None: limit and remaining are non-negative
    integers, remaining never above its limit, reset a duration (`1s`, `6m0s`, `20ms`) or seconds."""
    values = {name[len(PREFIX) :]: value.strip() for name, value in headers.items() if name.startswith(PREFIX)}
    for name, value in sorted(values.items()):
        kind = name.split("-", 1)[0]
        if kind in ("limit", "remaining") and not _INTEGER.fullmatch(value):
            return f"{PREFIX}{name} is {value[:80]!r}, not a non-negative integer"
        if kind == "reset" and not (_SECONDS.fullmatch(value) or _DURATION.fullmatch(value)):
            return f"{PREFIX}{name} is {value[:80]!r}, neither a duration (1s, 6m0s, 20ms) nor seconds"
    for name, value in sorted(values.items()):
        if not name.startswith("remaining"):
            continue
        limit = values.get("limit" + name[len("remaining") :])
        if limit is not None and int(value) > int(limit):
            return f"{PREFIX}{name} {value} is above {PREFIX}{'limit' + name[len('remaining') :]} {limit}"
    return None


@CHECKS.check("ratelimit.envelope", "Retry-After", RATE_LIMITED, MET_429)
def envelope(facts: Facts, *met: Exchange) -> Verdict:
    """Every 429 the run met carries the profile's error envelope and a usable Retry-After."""
    if not met:
        return skipped("no 429 met: nothing rate-limited the run (--probe-rate-limit N looks for one)")
    for exchange in met:
        problems = envelope_errors(facts.contract, exchange)
        problem = f"without the error envelope: {'; '.join(problems)[:200]}" if problems else None
        problem = problem or retry_after_problem(exchange)
        if problem:
            value = exchange.response_headers.get("retry-after")
            shown = f"Retry-After {value!r}" if value is not None else "no Retry-After"
            return Verdict(
                Outcome.FAILED, f"a 429 {problem}", (exchange,), evidence=f"got {exchange.describe(200)}; {shown}"
            )
    passed = f"{len(met)} 429 answer(s), each with the error envelope and a usable Retry-After"
    return Verdict(Outcome.PASSED, passed, (met[-1],))


@CHECKS.check("ratelimit.headers", "x-ratelimit-*", RATE_HEADERS, WITH_HEADERS)
def headers(facts: Facts, *answers: Exchange) -> Verdict:
    """Every answer carrying `x-ratelimit-*` headers carries coherent ones (SHOULD)."""
    if not answers:
        return skipped("no answer carried x-ratelimit-* headers")
    for exchange in answers:
        problem = ratelimit_problem(dict(exchange.response_headers))
        if problem:
            shown = {k: v for k, v in exchange.response_headers.items() if k.startswith(PREFIX)}
            return Verdict(Outcome.FAILED, problem, (exchange,), evidence=f"got headers {shown}")
    return Verdict(Outcome.PASSED, f"{len(answers)} answer(s) with coherent x-ratelimit-* headers", (answers[-1],))
