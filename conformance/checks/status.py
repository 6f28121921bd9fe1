"""Judgements by status class: a valid value accepted (rule 1), an invalid one rejected (rule 2), an OpenAI-only
value (rule 2, atoma profile), a value the contract leaves open (rule 3), an exact status (auth)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from conformance.checks.base import Facts, Inconclusive, Verdict, clean_4xx
from conformance.contract import ERROR_SCHEMA, REQUEST_SCHEMA, Contract
from conformance.records import Exchange, Level, Outcome

__all__ = ["TABLES", "ByStatus", "ExactStatus", "envelope_errors", "invalid_table", "refusal", "table_cause"]

# a refusal that names the model's context window (rule 3: a server refuses by its own limits)
CONTEXT_WINDOW = re.compile(r"context|too many tokens|token limit|maximum (input |prompt )?length|too long", re.I)

TABLES: dict[str, dict[int, tuple[Outcome, str]]] = {
    "accepts": {
        2: (Outcome.PASSED, "accepted"),
        4: (Outcome.FAILED, "expected 2xx: a valid value was rejected"),
        5: (Outcome.FAILED, "expected 2xx: a valid value crashed the server"),
    },
    "rejects": {
        2: (Outcome.FAILED, "expected 4xx: an invalid value was accepted"),
        4: (Outcome.PASSED, "rejected"),
        5: (Outcome.FAILED, "expected 4xx: a client error answered as a server error"),
    },
    "extension": {
        2: (Outcome.WARNED, "accepted: only OpenAI's contract allows this value"),
        4: (Outcome.PASSED, "rejected"),
        5: (Outcome.FAILED, "a client error answered as a server error"),
    },
    "narrowed": {
        2: (Outcome.WARNED, "accepted: only the capture excludes this value, not the profile's sources (rule 8)"),
        4: (Outcome.PASSED, "rejected"),
        5: (Outcome.FAILED, "expected 4xx: a client error answered as a server error"),
    },
    "either": {
        2: (Outcome.PASSED, "accepted"),
        4: (Outcome.PASSED, "rejected"),
        5: (Outcome.FAILED, "the contract leaves this open, but a 5xx is never an answer"),
    },
}


def invalid_table(contract: Contract, request: Any) -> str | None:
    """How a request the profile's contract excludes is judged when accepted: `extension` (only OpenAI's contract
    allows it, atoma profile: warned), `narrowed` (only keywords the capture added exclude it: warned, rule 8),
    `rejects` (a constraint the sources state: failed); None when the contract allows it. The hand-written and
    generated layers both decide with this, so they reach the same verdict on the same request."""
    violations = contract.violations(REQUEST_SCHEMA, request)
    if not violations:
        return None
    if contract.profile != "openai" and contract.other("openai").is_valid(REQUEST_SCHEMA, request):
        return "extension"
    if all(v.captured for v in violations):
        return "narrowed"
    return "rejects"


def table_cause(table: str, status: int) -> str | None:
    """The cause key of a verdict of `table` on an answer with `status` (None when it is not a break)."""
    if status >= 500:
        return "5xx on a valid request" if table == "accepts" else "5xx on bad input"
    if 200 <= status < 300:
        return {
            "rejects": "invalid value accepted",
            "extension": "OpenAI-only value accepted",
            "narrowed": "value only the capture excludes accepted",
        }.get(table)
    return "valid value refused" if table == "accepts" else None


def refusal(contract: Contract, request: Any, fields: Iterable[str], exchange: Exchange) -> tuple[Outcome, str]:
    """A clean 4xx to a request the profile's contract allows (docs/verdicts.md rule 3): `passed` (a refusal is a
    valid answer where the contract leaves the value open, where another profile's contract excludes it, or for
    a request beyond the model's context), else `warned` (both profiles' sources allow the value)."""
    for name in fields:
        top = name.split(".", 1)[0].split("+", 1)[0]
        node = contract.node(f"{REQUEST_SCHEMA}/properties").get(top)
        reason = node.get("x-open") if isinstance(node, dict) else None
        if reason:
            return Outcome.PASSED, f"refused: the contract leaves {top} open ({reason})"
    if CONTEXT_WINDOW.search(exchange.text[:2000]):
        return Outcome.PASSED, "refused as beyond the model's context window (a server's own limit)"
    for profile in ("atoma", "openai"):
        other = contract.other(profile)
        if not other.is_valid(REQUEST_SCHEMA, request):
            return Outcome.PASSED, f"refused: the {profile} profile's contract excludes this request"
    return Outcome.WARNED, "a valid request was refused, although both profiles' sources allow it"


@dataclass(frozen=True)
class ByStatus:
    """Judge an answer by its status class (2, 4 or 5) with one of `TABLES`; a 5xx failure is at MUST level."""

    table: str
    sent: str
    controlled: bool = False  # a second exchange, the field with a neutral value: if it is refused, no verdict

    @property
    def name(self) -> str:
        return f"status.{self.table}"

    def __call__(self, facts: Facts, /, *exchanges: Exchange) -> Verdict:
        exchange = exchanges[0]
        if self.controlled and clean_4xx(exchanges[-1]):
            control = exchanges[-1]
            raise Inconclusive(
                f"the field's neutral use is refused too ({control.describe(200)}): the value is not judged"
            )
        status = exchange.status or 0
        outcome, why = TABLES[self.table][{4: 4, 5: 5}.get(status // 100, 2)]
        if outcome is Outcome.PASSED:
            return Verdict(outcome, f"sent {self.sent}; {why} with HTTP {status}")
        level: Level | None = "MUST" if status >= 500 else None
        evidence = f"sent {self.sent}; got {exchange.describe()}"
        cause = table_cause(self.table, status)
        return Verdict(outcome, why, (exchange,), level=level, evidence=evidence, cause=cause)


def envelope_errors(contract: Contract, exchange: Exchange) -> list[str]:
    """Why the body is not the profile's error envelope (empty when it is)."""
    if not exchange.is_json:
        return [f"the body is not JSON: {exchange.text[:200]!r}"]
    return contract.schema_errors(ERROR_SCHEMA, exchange.json)


@dataclass(frozen=True)
class ExactStatus:
    """The answer has exactly `expected` status and, with `envelope`, the profile's error envelope."""

    expected: int
    sent: str
    envelope: bool = False

    @property
    def name(self) -> str:
        return "status.exact"

    def __call__(self, facts: Facts, /, *exchanges: Exchange) -> Verdict:
        exchange = exchanges[-1]
        evidence = f"sent {self.sent}; got {exchange.describe()}"
        if exchange.status != self.expected:
            return Verdict(Outcome.FAILED, f"expected HTTP {self.expected}", (exchange,), evidence=evidence)
        problems = envelope_errors(facts.contract, exchange) if self.envelope else []
        if problems:
            reason = f"HTTP {self.expected} as expected, but not the error envelope: {'; '.join(problems)}"
            return Verdict(Outcome.FAILED, reason, (exchange,), evidence=evidence)
        return Verdict(Outcome.PASSED, f"sent {self.sent}; HTTP {self.expected}")
