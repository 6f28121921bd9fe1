"""The property-based layer's checks: its summary results (one per generation mode), and the finding checks it
judges every generated exchange with, as declarations with pure judges. The driver sends the layer's requests
and attributes request-side findings (`conformance.driver.property`); everything decided about an exchange is
decided here. Findings are recorded under `property.<check>.<field>`.

What a finding means (docs/verdicts.md rules 2, 3, 8, 10): a 5xx (not 502/503/504) is `failed` when an
identical repeat gets a 5xx too, else `warned` as not reproducible; an invalid request accepted is `failed` when a
constraint the profile's sources state is broken, else `warned` (the capture narrowed it); a valid request
refused with a 4xx is `warned`; a response breaking its schema, content type, the error envelope, the usage
arithmetic or a chunk's schema is `failed`. A finding from a generated body is reported under the field that
reproduces it on the minimal request; one that does not reproduce is `warned`, never `failed` under a guessed
field.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from conformance.checks.base import Check, Facts, Registry, Verdict, clean_4xx, is_server_error
from conformance.checks.reading import chunks_of, usage_problem
from conformance.checks.status import TABLES, envelope_errors, invalid_table, refusal, table_cause
from conformance.checks.streaming import chunk_problems
from conformance.contract import CHUNK_SCHEMA, ERROR_SCHEMA, OPERATION, REQUEST_SCHEMA, RESPONSE_SCHEMA, Contract
from conformance.records import Exchange, Outcome

__all__ = [
    "CHECKS",
    "CHECK_OF",
    "MAX_FIELDS",
    "MODES",
    "RESPONSE_FINDINGS",
    "Attribution",
    "Finding",
    "FindingCheck",
    "Kind",
    "error_envelope",
    "request_finding",
    "request_kind",
    "response_findings",
    "stream_chunks",
    "unattributed",
    "unreproduced",
    "usage_arithmetic",
]

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


# -- findings ----------------------------------------------------------------------------------------------------

Kind = Literal["server_error", "accepted_invalid", "refused_valid"]
MAX_FIELDS = 3  # a finding that needs more fields together than this is not reported under them
USAGE_TOTAL = "#/components/schemas/CompletionUsage/properties/total_tokens"


@dataclass(frozen=True)
class Finding:
    """One distinct finding of the property layer: a check, the field it is reported under, its verdict and the
    exchanges (excerpts: judged already) and evidence shown."""

    check: str
    field: str
    outcome: Outcome
    pointer: str
    message: str
    exchanges: tuple[Exchange, ...]
    evidence: str = ""
    cause: str | None = None
    reproduced: bool = True  # False: shown by an exchange whose identical repeat did not agree (a flaky 5xx)

    def __post_init__(self) -> None:
        object.__setattr__(self, "exchanges", tuple(e.excerpt() for e in self.exchanges))

    def beats(self, other: Finding) -> bool:
        """Whether this finding should be reported under its id rather than `other`: a failure beats a warning,
        and a reproduced finding beats one from a flaky exchange (its reproduction line replays what was judged)."""
        rank = {Outcome.FAILED: 2, Outcome.WARNED: 1}
        mine, theirs = (rank.get(self.outcome, 0), self.reproduced), (rank.get(other.outcome, 0), other.reproduced)
        return mine > theirs

    @property
    def id(self) -> str:
        return f"property.{self.check}.{self.field}"


@dataclass(frozen=True)
class Attribution:
    """What attributing one finding found: the fields that reproduce it on the minimal request (None: it did
    not reproduce), the exchanges that show it, and what it cost."""

    fields: tuple[str, ...] | None
    minimal: Exchange | None = None
    repeat: Exchange | None = None
    requests: int = 0
    note: str = ""
    spent: bool = False  # the attribution budget ran out before anything was shown

    @property
    def name(self) -> str:
        return "+".join(self.fields) if self.fields else "body"


ResponseJudge = Callable[[Facts, Exchange], "tuple[str, str, str] | None"]


@dataclass(frozen=True)
class FindingCheck:
    """A finding check of the property layer, declared like any check: `property.<name>.<field>`, its clause's
    pointer, and, on the response side, a pure judge `(facts, exchange) -> (field, pointer, problem) | None`.
    Request-side checks (`not_a_server_error`, ...) are judged by `request_finding` after attribution."""

    name: str
    side: Literal["request", "response"]
    pointer: str
    judge: ResponseJudge | None = None


def _envelope_finding(facts: Facts, exchange: Exchange) -> tuple[str, str, str] | None:
    problem = error_envelope(facts, exchange)
    return ("error", ERROR_SCHEMA, problem) if problem else None


def _schema_finding(facts: Facts, exchange: Exchange) -> tuple[str, str, str] | None:
    if exchange.status != 200 or exchange.content_type != "application/json":
        return None
    body = exchange.json
    problems = facts.contract.schema_errors(RESPONSE_SCHEMA, body) if exchange.is_json else ["the body is not JSON"]
    if not problems:
        return None
    name = problems[0].split("/", 1)[0].split(":", 1)[0] if isinstance(body, dict) else "body"
    return (name if name != "(root)" else "body"), RESPONSE_SCHEMA, "; ".join(problems)


def _usage_finding(facts: Facts, exchange: Exchange) -> tuple[str, str, str] | None:
    if exchange.content_type != "application/json":
        return None
    problem = usage_arithmetic(facts, exchange)
    return ("usage", USAGE_TOTAL, problem) if problem else None


def _chunks_finding(facts: Facts, exchange: Exchange) -> tuple[str, str, str] | None:
    if exchange.content_type != "text/event-stream":
        return None
    problem = stream_chunks(facts, exchange)
    return ("chunk", CHUNK_SCHEMA, problem) if problem else None


def _content_type_finding(facts: Facts, exchange: Exchange) -> tuple[str, str, str] | None:
    if exchange.status != 200 or exchange.content_type in ("application/json", "text/event-stream"):
        return None
    return "body", f"{OPERATION}/responses/200", f"a 200 answered as {exchange.content_type or '(none)'}"


RESPONSE_FINDINGS = (
    FindingCheck("error_envelope", "response", ERROR_SCHEMA, _envelope_finding),
    FindingCheck("response_schema_conformance", "response", RESPONSE_SCHEMA, _schema_finding),
    FindingCheck("usage_arithmetic", "response", USAGE_TOTAL, _usage_finding),
    FindingCheck("stream_chunks", "response", CHUNK_SCHEMA, _chunks_finding),
    FindingCheck("content_type_conformance", "response", f"{OPERATION}/responses/200", _content_type_finding),
)
REQUEST_FINDINGS = (
    FindingCheck("not_a_server_error", "request", REQUEST_SCHEMA),
    FindingCheck("negative_data_rejection", "request", REQUEST_SCHEMA),
    FindingCheck("positive_data_acceptance", "request", REQUEST_SCHEMA),
)
CHECK_OF: dict[Kind, str] = {
    "server_error": "not_a_server_error",
    "accepted_invalid": "negative_data_rejection",
    "refused_valid": "positive_data_acceptance",
}


def response_findings(facts: Facts, exchange: Exchange, sent: str) -> list[Finding]:
    """What a response breaks of the contract, whatever the request: named by the response field."""
    out = []
    for check in RESPONSE_FINDINGS:
        assert check.judge is not None
        found = check.judge(facts, exchange)
        if found is not None:
            name, pointer, problem = found
            evidence = f"sent {sent}; got {exchange.describe(300)}"
            message = f"{check.name}: {problem}"
            out.append(Finding(check.name, name, Outcome.FAILED, pointer, message, (exchange,), evidence=evidence))
    return out


def unreproduced(finding: Finding) -> Finding:
    """A response finding shown by a 5xx whose identical repeat was served: kept, ranked below a reproduced one."""
    return Finding(
        finding.check,
        finding.field,
        finding.outcome,
        finding.pointer,
        finding.message,
        finding.exchanges,
        finding.evidence,
        finding.cause,
        reproduced=False,
    )


def request_kind(exchange: Exchange, mode: str) -> Kind | None:
    """The request-side finding an answer shows in a generation mode: a crash, an invalid request accepted, a
    valid one refused; None."""
    status = exchange.status or 0
    if is_server_error(exchange):
        return "server_error"
    if mode == "negative" and 200 <= status < 300:
        return "accepted_invalid"
    if mode == "positive" and clean_4xx(exchange):
        return "refused_valid"
    return None


def _pointer_of(contract: Contract, name: str) -> str:
    top = name.split(".", 1)[0].split("+", 1)[0]
    if top in contract.node(f"{REQUEST_SCHEMA}/properties"):
        return contract.field_pointer(top)
    return REQUEST_SCHEMA


def request_finding(
    facts: Facts, kind: Kind, exchange: Exchange, found: Attribution, phase: str, exact: str | None
) -> Finding | None:
    """A request-side finding from its attribution (docs/verdicts.md rules 2, 3, 8, 10); None when the answer is
    a valid one after all (a refusal the contract allows)."""
    contract = facts.contract
    check = CHECK_OF[kind]
    original = f"original request: {exchange.curl()}"
    shown = tuple(e for e in (exchange, found.repeat, found.minimal) if e is not None)
    sent = (
        "an edge value"
        if phase == "edge values"
        else f"a generated {'valid' if kind != 'accepted_invalid' else 'invalid'} request"
    )
    if found.fields is None:
        name = exact or "body"
        message = f"{check}: {found.note or 'not reproduced'}; reported as not reproducible, under no guessed field"
        evidence = f"sent {sent}; got {exchange.describe(200)}; {original}"
        return Finding(
            check, name, Outcome.WARNED, _pointer_of(contract, name), message, shown, evidence, reproduced=False
        )
    name = exact or found.name
    minimal = found.minimal or exchange
    where = f"reproduced on the minimal request with only {name}" if found.minimal else f"{name} alone"
    if found.note:
        where += f" ({found.note})"
    cause: str | None = None
    if len(found.fields) > MAX_FIELDS:
        outcome = Outcome.WARNED
        why = f"reproduced only with {len(found.fields)} generated fields together, not narrowed to a field"
        name = exact or "body"
    elif kind == "server_error":
        outcome = Outcome.FAILED
        why = "a 5xx is never an answer, and an identical repeat got one too"
        bad = bool(contract.violations(REQUEST_SCHEMA, minimal.request_body))
        cause = table_cause("rejects" if bad else "accepts", 500)
    elif kind == "refused_valid":
        outcome, why = refusal(contract, minimal.request_body, found.fields, minimal)
        if outcome is Outcome.PASSED:
            return None
        cause = "valid value refused"
    else:
        table = invalid_table(contract, minimal.request_body)
        if table is None:
            return None
        outcome, why = TABLES[table][2]
        cause = table_cause(table, 200)
        if table == "rejects":
            stated = [v for v in contract.violations(REQUEST_SCHEMA, minimal.request_body) if not v.captured]
            why += "; it breaks " + ", ".join(f"{v.keyword} at {v.pointer}" for v in stated[:3])
    evidence = f"{where}: {minimal.describe(200)}; {original}"
    pointer = _pointer_of(contract, name)
    return Finding(check, name, outcome, pointer, f"{check}: {why}", shown, evidence=evidence, cause=cause)


UNATTRIBUTED_SHOWN = 16  # original requests listed in the message of the unattributed findings


def unattributed(facts: Facts, kind: Kind, exchanges: list[Exchange]) -> Finding:
    """Findings the attribution budget left unattributed, reported under `body` with their original requests:
    a reproducible 5xx is never only a count (docs/verdicts.md rule 13). A 5xx is `failed` (a 5xx is never an
    answer); the other kinds are `warned` (no field shown to cause them, rule 8)."""
    check = CHECK_OF[kind]
    outcome = Outcome.FAILED if kind == "server_error" else Outcome.WARNED
    why = {
        "server_error": "answered with a 5xx",
        "accepted_invalid": "an invalid request was accepted",
        "refused_valid": "a valid request was refused",
    }[kind]
    listed = "; ".join(e.curl() for e in exchanges[:UNATTRIBUTED_SHOWN])
    more = f"; ... {len(exchanges) - UNATTRIBUTED_SHOWN} more" if len(exchanges) > UNATTRIBUTED_SHOWN else ""
    message = f"{check}: {why}, {len(exchanges)} request(s) not attributed: budget"
    evidence = f"original requests: {listed}{more}"
    cause = {"server_error": "5xx on bad input", "accepted_invalid": "invalid value accepted"}.get(kind)
    return Finding(
        check, "body", outcome, REQUEST_SCHEMA, message, tuple(exchanges[:5]), evidence, cause or "valid value refused"
    )
