"""Provider-written checks: an ordinary pytest function that uses the `conformance_send` fixture is a check of the
run. It sends through the run's client (key, budget, deadlines, size caps), judges with the suite's judgements as
assertions (`Judging`), and its outcome becomes a result `custom.<test name>` of the run's reports: level MUST,
clause the docstring's first line, the assertion's message, the curl line of its last exchange and every exchange
attached, redacted like the suite's own.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any

import pytest

from conformance.checks import exchange_attachments, infrastructure_problem
from conformance.checks.status import TABLES, envelope_errors
from conformance.contract import RESPONSE_SCHEMA, Contract
from conformance.records import Exchange, Outcome, Result
from conformance.transport import BudgetExhausted, TargetClient

__all__ = ["CUSTOM", "InfrastructureError", "Judging", "Sender", "custom_id", "custom_result"]

CUSTOM = "custom"  # the area, marker and id prefix of provider-written checks
NO_CLAUSE = "(the provider's check states no clause: give its test a docstring)"


class InfrastructureError(Exception):
    """The target could not be reached or is in a provider state (docs/verdicts.md rule 5): the check's result is
    `error`, never counted against the target."""


@dataclass
class Sender:
    """`conformance_send` of one test: sends through the run's client and keeps the exchanges for its result."""

    client: TargetClient
    contract: Contract
    exchanges: list[Exchange] = field(default_factory=list)
    started_ms: int = field(default_factory=lambda: int(time.time() * 1000))

    def __call__(self, body: Any, stream: bool = False, **options: Any) -> Exchange:
        """Send `body` (with `stream: true` when `stream`); the exchange, whatever its status. `options` go to
        `TargetClient.chat` (`authorization=None` sends no key, `raw=True` a string as it is). The run's request
        budget spent: the check is skipped; no answer, or a provider state: `InfrastructureError`."""
        if stream:
            body = {**body, "stream": True}
        try:
            exchange = self.client.chat(body, **options)
        except BudgetExhausted as exc:
            pytest.skip(f"not run: {exc}")
        self.exchanges.append(exchange)
        problem = infrastructure_problem(self.contract, exchange)
        if problem:
            raise InfrastructureError(problem)
        return exchange


def _evidence(exchange: Exchange) -> str:
    return f"got {exchange.describe(300)}"


@dataclass(frozen=True)
class Judging:
    """The suite's judgements (docs/verdicts.md) as assertions: each raises `AssertionError` with the reason first
    and the evidence after, as the suite's messages read."""

    contract: Contract

    def _table(self, table: str, exchange: Exchange) -> None:
        status = exchange.status or 0
        outcome, why = TABLES[table][{4: 4, 5: 5}.get(status // 100, 2)]
        assert outcome is Outcome.PASSED, f"{why} | {_evidence(exchange)}"

    def accepted(self, exchange: Exchange) -> None:
        """A 2xx (rule 1): a 4xx rejected a valid request, a 5xx is never an answer."""
        self._table("accepts", exchange)

    def rejected(self, exchange: Exchange) -> None:
        """A 4xx (rule 2): a 2xx accepted an invalid request, a 5xx answered a client error as a server error."""
        self._table("rejects", exchange)

    def status(self, exchange: Exchange, expected: int) -> None:
        """Exactly HTTP `expected`."""
        assert exchange.status == expected, f"expected HTTP {expected} | {_evidence(exchange)}"

    def envelope(self, exchange: Exchange) -> dict[str, Any]:
        """The profile's error envelope (`#/components/schemas/ErrorResponse`); returns its `error` object."""
        problems = envelope_errors(self.contract, exchange)
        assert not problems, f"not the error envelope: {'; '.join(problems)} | {_evidence(exchange)}"
        error: dict[str, Any] = exchange.json["error"]
        return error

    def schema(self, exchange: Exchange, pointer: str = RESPONSE_SCHEMA) -> Any:
        """The JSON body is valid against the contract's schema at `pointer` (default: a chat completion)."""
        assert exchange.is_json, f"the body is not JSON ({exchange.json_problem}) | {_evidence(exchange)}"
        problems = self.contract.schema_errors(pointer, exchange.json)
        assert not problems, f"breaks {pointer}: {'; '.join(problems)} | {_evidence(exchange)}"
        return exchange.json


def custom_id(item: pytest.Item) -> str:
    """`custom.<test name>`; a parametrized test's parameters become a last part (`custom.test_x.a_1`)."""
    name = getattr(item, "originalname", None) or item.name.split("[")[0]
    rid = f"{CUSTOM}.{re.sub(r'[^A-Za-z0-9_+]', '_', name)}"
    if "[" in item.name:
        rid += "." + re.sub(r"[^A-Za-z0-9_+]", "_", item.name.split("[", 1)[1].rstrip("]"))
    return rid


def _clause(item: pytest.Item) -> str:
    doc = (getattr(getattr(item, "function", None), "__doc__", None) or "").strip()
    return doc.splitlines()[0].strip() if doc else NO_CLAUSE


def _message(excinfo: pytest.ExceptionInfo[BaseException]) -> str:
    """An assertion's message, a skip's reason, infrastructure trouble as it is; another exception with its type."""
    value = excinfo.value
    if isinstance(value, AssertionError | InfrastructureError) or hasattr(value, "msg"):
        text = str(getattr(value, "msg", None) or value) or type(value).__name__
    else:
        text = f"{type(value).__name__}: {value}"
    return text if len(text) <= 4000 else text[:4000] + "..."


def custom_result(item: pytest.Item, phases: list[tuple[pytest.TestReport, Any]], sender: Sender | None) -> Result:
    """The result of a provider-written check from its setup, call and teardown reports (with each phase's
    exception info): a failed assertion is `failed`; an error of setup or teardown, or infrastructure trouble,
    `error`; a skip `skipped`; an expected failure (`xfail`) `xfailed`, or `xpassed` when it passed."""
    outcome, message = Outcome.PASSED, "passed"
    for report, excinfo in phases:
        if report.skipped:
            failed_as_expected = hasattr(report, "wasxfail")
            outcome = Outcome.XFAILED if failed_as_expected else Outcome.SKIPPED
            message = report.wasxfail if failed_as_expected else _message(excinfo) if excinfo else "skipped"
            break
        if report.failed:
            infrastructure = excinfo is not None and isinstance(excinfo.value, InfrastructureError)
            outcome = Outcome.FAILED if report.when == "call" and not infrastructure else Outcome.ERROR
            message = _message(excinfo) if excinfo else report.longreprtext[:4000]
            break
        if report.when == "call" and hasattr(report, "wasxfail"):
            outcome, message = Outcome.XPASSED, f"passed, although marked xfail: {report.wasxfail}"
    exchanges = tuple(sender.exchanges) if sender else ()
    started = sender.started_ms if sender else int(time.time() * 1000)
    return Result(
        id=custom_id(item),
        clause=_clause(item),
        citation=f"the provider's check {item.nodeid}",
        field=None,
        level="MUST",
        outcome=outcome,
        message=message,
        reproduce=exchanges[-1].curl() if exchanges else None,
        attachments=exchange_attachments(exchanges),
        duration_s=sum(r.duration for r, _ in phases),
        start_ms=started,
        stop_ms=int(time.time() * 1000),
    )
