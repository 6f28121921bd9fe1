"""What a check is: one declaration (id, field, clause, level, the recipes whose exchanges it judges, a pure judge),
and the one pure function, `evaluate`, that turns a check and its recorded exchanges into a `Result`.

The rules are those of docs/verdicts.md: infrastructure trouble is an error, never a
failure (rule 5); a capability's clean refusal is `unsupported` (rule 4); a missing output is `skipped` as
inconclusive (rule 7); a SHOULD clause broken is `warned` (rule 6). Nothing here sends a request.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from conformance.contract import Contract
from conformance.records import RETRY_STATUSES, Attachment, Exchange, Level, Outcome, Result

__all__ = [
    "PREFLIGHT",
    "RETRY_STATUSES",
    "RUN_KEY",
    "Check",
    "ClientParser",
    "Facts",
    "Inconclusive",
    "Judge",
    "Parsed",
    "Recipe",
    "Registry",
    "Request",
    "Verdict",
    "clean_4xx",
    "evaluate",
    "exchange_attachments",
    "infrastructure_problem",
    "is_server_error",
    "observed",
    "provider_state",
    "show",
    "skipped",
]

RUN_KEY = "{key}"  # in `Request.authorization`: the run's API key goes here


def is_server_error(exchange: Exchange) -> bool:
    """A 5xx that is not infrastructure (502/503/504 are, after retries): a crash, if an identical repeat agrees."""
    return exchange.status is not None and exchange.status >= 500 and exchange.status not in RETRY_STATUSES


class Inconclusive(Exception):
    """The output needed for a verdict is not there (rule 7): the result is `skipped` with the reason."""


@dataclass(frozen=True)
class Parsed:
    """What an SDK client made of a recorded answer: `error` None when it parsed; else the SDK's message and the
    path (keys and indexes) of the value it failed on, when it says."""

    error: str | None = None
    path: tuple[str | int, ...] = ()


class ClientParser(Protocol):
    """An SDK client replaying a recorded answer (`kind`: plain, stream, tools, n) without a request; the driver
    provides these (checks import no HTTP client)."""

    @property
    def name(self) -> str: ...

    @property
    def version(self) -> str: ...

    def __call__(self, kind: str, exchange: Exchange) -> Parsed: ...


STATUS_LIMIT = 1  # completion tokens for a request judged by its status alone (one a conforming server refuses)


@dataclass(frozen=True)
class Facts:
    """What recipes and judges may know of a run. No I/O: facts are settled before a check is judged."""

    contract: Contract
    model: str = "MODEL"
    seed: int = 0
    declared: frozenset[str] = frozenset()  # capabilities the target's config declares (rule 4)
    api_key_given: bool = True
    limit_honoured: bool = True  # a completion limit is honoured (the preflight's, or its max_tokens fallback)
    limit_field: str = "max_completion_tokens"  # the limit field every request carries its cap in
    ignored_limits: frozenset[str] = frozenset()  # limit fields the preflight showed ignored
    clients: Mapping[str, ClientParser] = dataclasses.field(default_factory=dict)  # installed SDK clients, by name
    bearer_auth: bool = True  # the key goes in `Authorization: Bearer`; False: a custom header (Azure's `api-key`)
    # the completion limit of a request judged by its status alone: STATUS_LIMIT, unless the target refuses it
    # (then a refusal could be the limit's, not the value's: the small default instead)
    status_limit: int = STATUS_LIMIT


@dataclass(frozen=True)
class Request:
    """What to send: a JSON body (or raw text), and the Authorization header (`RUN_KEY` is the run's key;
    None sends none; `"Bearer {key}"`-style templates get the key substituted)."""

    body: Any
    raw: bool = False
    authorization: str | None = f"Bearer {RUN_KEY}"


@dataclass(frozen=True, eq=False)
class Recipe:
    """A request to send once per run. Checks that judge the same exchange share its recipe (by `key`).

    `build` receives the run's facts and the exchanges of the recipes in `after` (a stop word is taken from
    an earlier completion); it raises `Inconclusive` when those exchanges do not have what it needs.
    """

    key: str
    build: Callable[[Facts, tuple[Exchange, ...]], Request]
    after: tuple[Recipe, ...] = ()
    # recipes of a check with the same `batch` are sent together, concurrently, as one batch (the `load.*` checks)
    batch: str | None = None
    # sent with no other request of the run in flight: what it shows must not depend on a server's batching
    # (seed reproducibility "when sent alone"), whatever --concurrency is
    alone: bool = False
    # not a request: what the run met of this kind (`observed`), each an exchange handed to the judge
    observe: str | None = None
    # judged by its status alone: it asks for the run's status limit (`Facts.status_limit`), which the run's
    # control settles before any such request is sent
    status_only: bool = False


@dataclass(frozen=True)
class Verdict:
    """What a judge decides. `pointer`/`level` override the check's clause where the broken constraint is
    another one (a finish_reason value judged inside a tool-call check)."""

    outcome: Outcome
    message: str
    exchanges: tuple[Exchange, ...] = ()
    level: Level | None = None
    pointer: str | None = None
    evidence: str = ""  # what was sent and what came back, shown after the reason and the clause
    cause: str | None = None  # the kind of break, for grouping (`cause_of` derives one when not given)


Judge = Callable[..., Verdict]
"""A pure judgement: `judge(facts, *exchanges)`, one exchange per recipe of the check, in order."""


@dataclass(frozen=True, eq=False)
class Check:
    """One planned result, declared in one place.

    - `recipes`: the exchanges the judge reads, in order (`PREFLIGHT` costs nothing: the run sent it).
    - `capabilities`: optional capabilities the request uses; a clean 4xx while one of them is refused in its
      basic use, and not declared, is `unsupported` (rule 4).
    - `served`: the judge reads a completion; the driver maps any other answer (4xx skipped or failed when the
      capabilities are declared, 5xx failed).
    - `long`: costly if the completion limit is ignored: skipped when the preflight showed it is.
    - `needs_key`: skipped without `--api-key`.
    - `kind`: "exchange" for the checks above; "property" for the property layer's summaries, which the
      driver runs itself.
    """

    id: str
    field: str | None
    pointer: str
    judge: Judge
    recipes: tuple[Recipe, ...] = ()
    level: Level | None = None
    capabilities: tuple[str, ...] = ()
    served: bool = False
    long: bool = False
    needs_key: bool = False
    bearer_only: bool = False  # judges the Bearer scheme itself: skipped when the target uses a custom auth header
    limit_field: str | None = None  # sends this limit field alone: skipped when the target ignores it (unbounded)
    kind: Literal["exchange", "property"] = "exchange"
    params: dict[str, Any] = dataclasses.field(default_factory=dict)  # what a family check was made from

    @property
    def sends(self) -> bool:
        """False when the check reads the preflight only (it runs even when the rest is skipped)."""
        return self.kind == "property" or any(r is not PREFLIGHT and r.observe is None for r in self.recipes)

    @property
    def observes(self) -> bool:
        """Judges only what the run met (`observed` recipes): 429 answers, rate-limit headers."""
        return bool(self.recipes) and all(r.observe is not None for r in self.recipes)


def _minimal(facts: Facts, _: tuple[Exchange, ...]) -> Request:
    raise AssertionError("the preflight is sent by the runner")  # pragma: no cover


PREFLIGHT = Recipe("preflight", _minimal)


def observed(kind: str) -> Recipe:
    """Not a request: every answer of `kind` the run met (`429`, `ratelimit-headers`), kept by the transport and
    handed to the judge as its exchanges (none, one or several). It costs nothing."""
    return Recipe(f"observed.{kind}", _minimal, observe=kind)


class Registry:
    """Collects check declarations in order: single checks, and families that the contract produces."""

    def __init__(self) -> None:
        self._entries: list[Check | Callable[[Contract], Iterable[Check]]] = []

    def add(self, *checks: Check) -> None:
        self._entries.extend(checks)

    def family(self, make: Callable[[Contract], Iterable[Check]]) -> Callable[[Contract], Iterable[Check]]:
        """Decorate a function that produces a family of checks from the contract (ranges, enum members)."""
        self._entries.append(make)
        return make

    def check(
        self, rid: str, field: str | None, pointer: str, *recipes: Recipe, **options: Any
    ) -> Callable[[Judge], Judge]:
        """Decorate a judge: declares the check `rid` judging the exchanges of `recipes`."""

        def register(judge: Judge) -> Judge:
            self._entries.append(Check(rid, field, pointer, judge, tuple(recipes), **options))
            return judge

        return register

    def plan(self, contract: Contract) -> list[Check]:
        """Every check of the contract's profile, in declaration order."""
        out: list[Check] = []
        for entry in self._entries:
            out.extend([entry] if isinstance(entry, Check) else entry(contract))
        return out

    def __iter__(self) -> Iterator[Check | Callable[[Contract], Iterable[Check]]]:
        return iter(self._entries)


# -- reading exchanges -----------------------------------------------------------------------------------------


def show(value: Any) -> str:
    """A value as it was sent, in JSON."""
    return json.dumps(value, ensure_ascii=False)


def clean_4xx(exchange: Exchange) -> bool:
    """Answered with a client error (not a provider state: those are caught before)."""
    return exchange.status is not None and 400 <= exchange.status < 500


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
        held = f" ({exchange.not_repeated})" if exchange.not_repeated else ""
        return f"HTTP {exchange.status} after {exchange.attempts} attempt(s){held}"
    return provider_state(contract, exchange)


# -- from a check and its exchanges to a result ---------------------------------------------------------------


def skipped(message: str) -> Verdict:
    return Verdict(Outcome.SKIPPED, message)


def _served(check: Check, facts: Facts, exchanges: tuple[Exchange, ...]) -> Verdict | None:
    """Rule 4 and the `served` mapping: the verdict when a request was not served with a 200, else None."""
    for exchange in exchanges:
        if exchange.status == 200:
            continue
        got = exchange.describe(200)
        if not clean_4xx(exchange):
            return Verdict(Outcome.FAILED, f"the request crashed the server: {got}", (exchange,), level="MUST")
        if check.capabilities and all(c in facts.declared for c in check.capabilities):
            declared = ", ".join(check.capabilities)
            return Verdict(Outcome.FAILED, f"{declared} declared by the target, but refused: {got}", (exchange,))
        return Verdict(Outcome.SKIPPED, f"the request was not served: {got}", (exchange,))
    return None


def precondition(
    check: Check, facts: Facts, exchanges: tuple[Exchange, ...], refused: frozenset[str] = frozenset()
) -> Verdict | None:
    """The verdict that ends a check before its judge: infrastructure trouble (rule 5), a refused capability
    (rule 4), or, for `served` checks, an answer that is not a completion. `refused`: capabilities whose basic
    use got a clean 4xx and that the target did not declare. What a check `observes` is judged as it is: a 429
    is the subject of `ratelimit.envelope`, not trouble keeping it from a verdict (rule 14)."""
    if check.observes:
        return None
    for exchange in exchanges:
        problem = infrastructure_problem(facts.contract, exchange)
        if problem:
            return Verdict(Outcome.ERROR, problem, (exchange,))
    for exchange in exchanges:
        repeat = exchange.repeat
        if is_server_error(exchange) and repeat is None and exchange.not_repeated:
            reason = f"a 5xx not confirmed: its identical repeat was not sent ({exchange.not_repeated})"
            return Verdict(Outcome.WARNED, reason, (exchange,), evidence=f"got {exchange.describe(200)}")
        if is_server_error(exchange) and repeat is not None and not is_server_error(repeat):
            reason = "a 5xx that an identical repeat did not reproduce (it fails only when its repeat agrees)"
            evidence = f"got {exchange.describe(200)}, then {repeat.describe(200)}"
            return Verdict(Outcome.WARNED, reason, (exchange, repeat), evidence=evidence)
    for exchange in exchanges:
        for capability in check.capabilities:
            if clean_4xx(exchange) and capability in refused:
                return Verdict(Outcome.UNSUPPORTED, f"{capability} refused: {exchange.describe(200)}", (exchange,))
    return _served(check, facts, exchanges) if check.served else None


def evaluate(
    check: Check,
    facts: Facts,
    exchanges: tuple[Exchange, ...],
    refused: frozenset[str] = frozenset(),
    inconclusive: str | None = None,
) -> Result:
    """The result of `check` on its recorded exchanges. `inconclusive`: a recipe could not be built (rule 7)."""
    verdict = precondition(check, facts, exchanges, refused)
    if verdict is None and inconclusive is not None:
        verdict = Verdict(Outcome.SKIPPED, f"inconclusive: {inconclusive}")
    if verdict is None:
        try:
            verdict = check.judge(facts, *exchanges)
        except Inconclusive as why:
            verdict = Verdict(Outcome.SKIPPED, f"inconclusive: {why}")
    if not verdict.exchanges:  # every result that sent something carries its request and response
        verdict = dataclasses.replace(verdict, exchanges=exchanges)
    return result(check, facts.contract, verdict)


def result(check: Check, contract: Contract, verdict: Verdict) -> Result:
    """A verdict as a result citing its clause; a failure of a SHOULD clause is `warned` (rule 6)."""
    return make_result(
        contract,
        check.id,
        verdict.pointer or check.pointer,
        check.field,
        verdict.outcome,
        verdict.message,
        level=verdict.level or check.level,
        exchanges=verdict.exchanges,
        evidence=verdict.evidence,
        cause=verdict.cause,
    )


# the kind of break, by result id, where the verdict names none (`Verdict.cause`); the first prefix that matches
CAUSES = (
    ("property.negative_data_rejection.", "invalid value accepted"),
    ("property.positive_data_acceptance.", "valid value refused"),
    ("property.error_envelope.", "error envelope missing"),
    ("property.response_schema_conformance.", "response schema violation"),
    ("property.usage_arithmetic.", "usage does not add up"),
    ("property.stream_chunks.", "stream chunk invalid"),
    ("property.content_type_conformance.", "wrong content type"),
    ("request.", "request handling"),
    ("response.error.", "error envelope missing"),
    ("response.", "response schema violation"),
    ("semantic.", "parameter ignored or misapplied"),
    ("stream.", "stream contract broken"),
    ("auth.", "authentication not enforced as documented"),
    ("client.", "an SDK cannot read the answer"),
    ("load.", "wrong under concurrent load"),
    ("ratelimit.", "rate limit signalled wrongly"),
    ("custom.", "provider check"),
)
NEGATIVE_IDS = ("request.", "property.negative", "property.not_a_server_error.")


def cause_of(rid: str, outcome: Outcome, exchanges: tuple[Exchange, ...], given: str | None = None) -> str | None:
    """The cause key of a failed or warned result: the verdict's own, else a server error's, else by id family."""
    if outcome not in (Outcome.FAILED, Outcome.WARNED):
        return None
    if given:
        return given
    if any(is_server_error(e) for e in exchanges):
        return "5xx on bad input" if rid.startswith(NEGATIVE_IDS) else "5xx on a valid request"
    if rid.startswith("stream.") and any(e.truncated for e in exchanges):
        return "stream never ends"
    return next((cause for prefix, cause in CAUSES if rid.startswith(prefix)), "other contract break")


def make_result(
    contract: Contract,
    rid: str,
    pointer: str,
    field_name: str | None,
    outcome: Outcome,
    message: str,
    *,
    level: Level | None = None,
    exchanges: tuple[Exchange, ...] = (),
    evidence: str = "",
    cause: str | None = None,
) -> Result:
    """A result citing the clause at `pointer`; its level is the clause's unless given. A failure of a SHOULD
    clause is `warned` (rule 6), and a warning is shown at SHOULD level. The message reads: the reason, the clause,
    then the evidence (rule 11)."""
    clause = contract.clause(pointer)
    effective: Level = level or clause.level
    if outcome is Outcome.FAILED and effective == "SHOULD":
        outcome = Outcome.WARNED
    if outcome is Outcome.WARNED:
        effective = "SHOULD"
    if outcome is not Outcome.PASSED:
        message = f"{message} | clause: {clause.citation}"
    if evidence:
        message = f"{message} | {evidence}"
    return Result(
        id=rid,
        clause=clause.ref,
        citation=clause.citation,
        field=field_name,
        level=effective,
        outcome=outcome,
        message=message,
        reproduce=exchanges[-1].curl() if exchanges else None,
        attachments=exchange_attachments(exchanges),
        cause=cause_of(rid, outcome, exchanges, cause),
    )


def exchange_attachments(exchanges: tuple[Exchange, ...]) -> tuple[Attachment, ...]:
    """The evidence of a result: each exchange's request and response (numbered when there are several)."""
    attachments = []
    for i, exchange in enumerate(exchanges):
        suffix = f" {i + 1}" if len(exchanges) > 1 else ""
        attachments.append(Attachment(f"request{suffix}", show(exchange.request_body)))
        attachments.append(Attachment(f"response{suffix}", exchange.describe(limit=20000), "text/plain"))
    return tuple(attachments)
