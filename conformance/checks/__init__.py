"""Pure judgements over recorded exchanges. Each verdict cites a clause of the contract and a field.

The rules are those of design.md, "How a verdict is reached": a valid value must be accepted (rule 1),
an invalid one rejected with a 4xx (rule 2), capabilities may be refused cleanly (rule 4),
infrastructure trouble is an error, never a failure (rule 5).
"""

from __future__ import annotations

import json
from typing import Any

from conformance.contract import ERROR_SCHEMA, Contract
from conformance.records import Attachment, Level, Outcome, Result
from conformance.transport import RETRY_STATUSES, Exchange

__all__ = ["Judge", "clean_4xx", "infrastructure_problem", "provider_state", "show"]


def show(value: Any) -> str:
    """A value as it was sent, in JSON."""
    return json.dumps(value, ensure_ascii=False)


def _error_code(exchange: Exchange) -> str | None:
    body = exchange.json
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        code = body["error"].get("code")
        return str(code) if code is not None else None
    return None


def provider_state(contract: Contract, exchange: Exchange) -> str | None:
    """Why the provider cannot serve now (payment, lock, rate limit, unavailable), or None."""
    states = contract.document.get("x-provider-states", {})
    if exchange.status in states.get("statuses", []):
        return f"provider state: HTTP {exchange.status} {exchange.text[:200]}"
    code = _error_code(exchange)
    if code and code in states.get("codes", []):
        return f"provider state: error code {code}"
    return None


def infrastructure_problem(contract: Contract, exchange: Exchange) -> str | None:
    """Why no verdict can be reached from this exchange (rule 5), or None."""
    if exchange.error:
        return f"no answer from the target: {exchange.error}"
    if exchange.status in RETRY_STATUSES:
        return f"HTTP {exchange.status} after {exchange.attempts} attempt(s)"
    return provider_state(contract, exchange)


class Judge:
    """Builds results bound to one contract: every result carries its clause, citation and field."""

    def __init__(self, contract: Contract) -> None:
        self.contract = contract

    def result(
        self,
        rid: str,
        pointer: str,
        field: str | None,
        outcome: Outcome,
        message: str,
        *,
        level: Level | None = None,
        exchanges: tuple[Exchange, ...] = (),
    ) -> Result:
        """A result citing the clause at `pointer`; its level is the clause's unless given.

        A failure of a SHOULD clause is `warned`, never `failed` (rule 6).
        """
        clause = self.contract.clause(pointer)
        level = level or clause.level  # type: ignore[assignment]
        if outcome is Outcome.FAILED and level == "SHOULD":
            outcome = Outcome.WARNED
        attachments = []
        for i, exchange in enumerate(exchanges):
            suffix = f" {i + 1}" if len(exchanges) > 1 else ""
            attachments.append(Attachment(f"request{suffix}", show(exchange.request_body)))
            attachments.append(Attachment(f"response{suffix}", exchange.describe(limit=20000), "text/plain"))
        if outcome is not Outcome.PASSED:
            message = f"{message} | clause: {clause.citation}"
        return Result(
            id=rid,
            clause=clause.ref,
            citation=clause.citation,
            field=field,
            level=level,  # type: ignore[arg-type]
            outcome=outcome,
            message=message,
            reproduce=exchanges[-1].curl() if exchanges else None,
            attachments=attachments,
        )

    def _infra(
        self, rid: str, pointer: str, field: str | None, exchange: Exchange, sent: str, level: Level = "MUST"
    ) -> Result | None:
        problem = infrastructure_problem(self.contract, exchange)
        if problem is None:
            return None
        return self.result(
            rid, pointer, field, Outcome.ERROR, f"sent {sent}; {problem}", exchanges=(exchange,), level=level
        )

    def by_status(
        self,
        rid: str,
        pointer: str,
        field: str | None,
        exchange: Exchange,
        sent: str,
        verdicts: dict[int, tuple[Outcome, str]],
        level: Level = "MUST",
    ) -> Result:
        """Judge an answer by its status class (2, 4 or 5): `verdicts` maps each class to (outcome, why).

        Infrastructure trouble is an error (rule 5); a 5xx failure is always at MUST level (rule 2).
        """
        infra = self._infra(rid, pointer, field, exchange, sent)
        if infra:
            return infra
        status = exchange.status or 0
        outcome, why = verdicts[{4: 4, 5: 5}.get(status // 100, 2)]
        if outcome is Outcome.PASSED:
            return self.result(rid, pointer, field, outcome, f"sent {sent}; {why} with HTTP {status}", level=level)
        return self.result(
            rid,
            pointer,
            field,
            outcome,
            f"sent {sent}; got {exchange.describe()}: {why}",
            exchanges=(exchange,),
            level=level if status < 500 else "MUST",
        )

    def accepts(
        self,
        rid: str,
        pointer: str,
        field: str | None,
        exchange: Exchange,
        sent: str,
        *,
        unsupported: bool = False,
        level: Level = "MUST",
    ) -> Result:
        """Rule 1: a valid value must be answered 2xx.

        With `unsupported` (the capability's basic use was cleanly refused and not declared), a clean 4xx is
        `unsupported` (rule 4). With `level` SHOULD, a refusal is `warned` rather than `failed`.
        """
        refused = (
            (Outcome.UNSUPPORTED, "refused cleanly: the capability is not offered")
            if unsupported
            else (Outcome.FAILED, "expected 2xx: a valid value was rejected")
        )
        verdicts = {
            2: (Outcome.PASSED, "accepted"),
            4: refused,
            5: (Outcome.FAILED, "expected 2xx: a valid value crashed the server"),
        }
        return self.by_status(rid, pointer, field, exchange, sent, verdicts, level)

    def rejects(
        self, rid: str, pointer: str, field: str | None, exchange: Exchange, sent: str, *, level: Level = "MUST"
    ) -> Result:
        """Rule 2: an invalid value must be answered with a 4xx; a 2xx or a 5xx is a failure."""
        verdicts = {
            2: (Outcome.FAILED, "expected 4xx: an invalid value was accepted"),
            4: (Outcome.PASSED, "rejected"),
            5: (Outcome.FAILED, "expected 4xx: a client error answered as a server error"),
        }
        return self.by_status(rid, pointer, field, exchange, sent, verdicts, level)

    def extension(
        self, rid: str, pointer: str, field: str | None, exchange: Exchange, sent: str, *, level: Level = "MUST"
    ) -> Result:
        """Rule 2, for a value only OpenAI's contract allows: a 4xx passes, acceptance is `warned`, a 5xx fails."""
        verdicts = {
            2: (Outcome.WARNED, "accepted: only OpenAI's contract allows this value"),
            4: (Outcome.PASSED, "rejected"),
            5: (Outcome.FAILED, "a client error answered as a server error"),
        }
        return self.by_status(rid, pointer, field, exchange, sent, verdicts, level)

    def either(self, rid: str, pointer: str, field: str | None, exchange: Exchange, sent: str) -> Result:
        """Rule 3, where the contract is silent: a 2xx and a 4xx both pass; a 5xx fails."""
        verdicts = {
            2: (Outcome.PASSED, "accepted"),
            4: (Outcome.PASSED, "rejected"),
            5: (Outcome.FAILED, "the contract leaves this open, but a 5xx is never an answer"),
        }
        return self.by_status(rid, pointer, field, exchange, sent, verdicts)

    def envelope_errors(self, exchange: Exchange) -> list[str]:
        """Why the body is not the profile's error envelope (empty when it is)."""
        if not exchange.is_json:
            return [f"the body is not JSON: {exchange.text[:200]!r}"]
        return self.contract.schema_errors(ERROR_SCHEMA, exchange.json)

    def status_is(
        self,
        rid: str,
        pointer: str,
        field: str | None,
        exchange: Exchange,
        sent: str,
        expected: int,
        *,
        envelope: bool = False,
    ) -> Result:
        """The exchange was answered with exactly `expected` (and, with `envelope`, the error envelope)."""
        infra = self._infra(rid, pointer, field, exchange, sent) if exchange.status != expected else None
        if infra:
            return infra
        if exchange.status != expected:
            return self.result(
                rid,
                pointer,
                field,
                Outcome.FAILED,
                f"sent {sent}; expected HTTP {expected}, got {exchange.describe()}",
                exchanges=(exchange,),
            )
        problems = self.envelope_errors(exchange) if envelope else []
        if problems:
            return self.result(
                rid,
                pointer,
                field,
                Outcome.FAILED,
                f"sent {sent}; HTTP {expected} as expected, but not the error envelope: {'; '.join(problems)}",
                exchanges=(exchange,),
            )
        return self.result(rid, pointer, field, Outcome.PASSED, f"sent {sent}; HTTP {expected}")

    def content_type(self, rid: str, pointer: str, exchange: Exchange, expected: str, sent: str) -> Result:
        """The media type of a 200 answer is `expected`."""
        if exchange.content_type == expected:
            return self.result(rid, pointer, None, Outcome.PASSED, f"sent {sent}; Content-Type {expected}")
        return self.result(
            rid,
            pointer,
            None,
            Outcome.FAILED,
            f"sent {sent}; expected Content-Type {expected}, got {exchange.content_type or '(none)'}",
            exchanges=(exchange,),
        )

    def schema(self, rid: str, pointer: str, schema: str, exchange: Exchange, sent: str) -> Result:
        """The JSON body of a 200 answer is valid against the contract's schema at `schema`."""
        if not exchange.is_json:
            return self.result(
                rid,
                pointer,
                None,
                Outcome.FAILED,
                f"sent {sent}; the body is not JSON: {exchange.text[:300]!r}",
                exchanges=(exchange,),
            )
        problems = self.contract.schema_errors(schema, exchange.json)
        if problems:
            return self.result(
                rid,
                pointer,
                None,
                Outcome.FAILED,
                f"sent {sent}; the body breaks {schema.rsplit('/', 1)[-1]}: {'; '.join(problems)}",
                exchanges=(exchange,),
            )
        return self.result(rid, pointer, None, Outcome.PASSED, f"sent {sent}; body valid against {schema}")


def clean_4xx(exchange: Exchange) -> bool:
    """Answered with a client error (not a provider state: those are caught before)."""
    return exchange.status is not None and 400 <= exchange.status < 500
