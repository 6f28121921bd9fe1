"""Judgements by status class: a valid value accepted (rule 1), an invalid one rejected (rule 2), an OpenAI-only
value (rule 2, atoma profile), a value the contract leaves open (rule 3), an exact status (auth)."""

from __future__ import annotations

from dataclasses import dataclass

from conformance.checks.base import Facts, Inconclusive, Verdict, clean_4xx
from conformance.contract import ERROR_SCHEMA, Contract
from conformance.records import Exchange, Level, Outcome

__all__ = ["ByStatus", "ExactStatus", "envelope_errors"]

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
        return Verdict(outcome, why, (exchange,), level=level, evidence=evidence)


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
