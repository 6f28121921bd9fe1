"""The property-based layer's summary results (one per generation mode), and the judgements it runs on every
generated exchange beside schemathesis' own checks. The driver runs the layer; its findings are recorded under
`property.<check>.<field>`."""

from __future__ import annotations

from conformance.checks.base import Check, Facts, Registry, Verdict
from conformance.checks.reading import chunks_of, usage_problem
from conformance.checks.status import envelope_errors
from conformance.checks.streaming import chunk_problems
from conformance.contract import REQUEST_SCHEMA
from conformance.records import Exchange

__all__ = ["CHECKS", "MODES", "error_envelope", "stream_chunks", "usage_arithmetic"]

CHECKS = Registry()
MODES = ("positive", "negative")


def _run_by_the_driver(facts: Facts, *exchanges: Exchange) -> Verdict:
    raise AssertionError("property checks are run by the driver's property layer")  # pragma: no cover


CHECKS.add(
    *(
        Check(
            f"property.{mode}",
            None,
            REQUEST_SCHEMA,
            _run_by_the_driver,
            level="MUST",
            kind="property",
            params={"mode": mode},
        )
        for mode in MODES
    )
)


def error_envelope(facts: Facts, exchange: Exchange) -> str | None:
    """Why a 4xx or 5xx answer lacks the profile's error envelope, or None."""
    if (exchange.status or 0) < 400:
        return None
    problems = envelope_errors(facts.contract, exchange)
    return f"HTTP {exchange.status} without the error envelope: {'; '.join(problems)}" if problems else None


def usage_arithmetic(facts: Facts, exchange: Exchange) -> str | None:
    """Why a 200 completion's usage does not add up, or None."""
    body = exchange.json if exchange.status == 200 else None
    usage = body.get("usage") if isinstance(body, dict) else None
    return usage_problem(usage) if usage is not None else None


def stream_chunks(facts: Facts, exchange: Exchange) -> str | None:
    """Why a 200 event stream has a data line that is not a valid chunk, or None."""
    if exchange.status != 200:
        return None
    _, chunks, bad = chunks_of(exchange)
    if bad:
        return f"event data is not a JSON chunk: {bad[0][:120]!r}"
    return chunk_problems(facts.contract, chunks)
