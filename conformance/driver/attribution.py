"""Attribution: before a generated request's finding is reported under a field, reproduce it on the run's minimal
valid request carrying only that field (docs/verdicts.md rule 8), and confirm a server error by an identical repeat
(rule 10).

The suspect field goes first (the one the generator mutated); if it does not reproduce alone, the rest of the
generated body is narrowed by delta debugging (halves, then complements) over the fields in which the body
differs from the minimal request. Every body tried gets the fields its fields depend on (`logprobs: true` beside
`top_logprobs`) and a numeric completion limit, the same as the finding's body had: `CAP` for a valid one, the
run's status limit and one choice for an invalid one (`generation.prepare`). Bounds: at most `PER_FINDING` extra
requests for one finding, `PER_RUN` in a whole run, and `PER_RUN_TOKENS` completion tokens (each answered request
counts its ceiling, `completion_ceiling`; one whose ceiling would pass it is not sent); a finding whose cause
matches one already found costs nothing. When the run's budget ends a narrowing before anything smaller reproduced,
the finding is not attributed (docs/verdicts.md rule 13): no field is guessed.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Any

from conformance.checks import Facts, is_server_error
from conformance.checks import body as minimal_body
from conformance.checks.properties import Attribution, Kind
from conformance.checks.requests import SMALL_LIMIT
from conformance.contract import REQUEST_SCHEMA
from conformance.records import Exchange
from conformance.transport import BudgetExhausted, TargetClient

__all__ = [
    "CAP",
    "LIMIT_FIELDS",
    "MAX_N",
    "PER_FINDING",
    "PER_RUN",
    "PER_RUN_TOKENS",
    "Attribution",
    "Attributor",
    "Kind",
    "completion_ceiling",
    "costly",
    "is_server_error",
    "ready",
    "reproduces",
]

PER_FINDING = 12  # extra requests to attribute one finding (the identical repeat included)
PER_RUN = 120  # extra requests for attribution in a whole run, both generation modes (a cause costs 1 to 12)
SPENT = "the attribution budget is spent"
PER_RUN_TOKENS = 120  # completion tokens attribution may cost in a whole run (ceilings of answered requests)
CAP = 4  # the completion limit of every generated request
MAX_N = 2
LIMIT_FIELDS = ("max_tokens", "max_completion_tokens")
DROP = "\x00drop"  # a change that removes a field of the minimal request (a missing required field)


def reproduces(kind: Kind, exchange: Exchange) -> bool:
    """Whether `exchange` shows the same kind of finding."""
    status = exchange.status or 0
    if kind == "server_error":
        return is_server_error(exchange)
    if kind == "accepted_invalid":
        return 200 <= status < 300
    return 400 <= status < 500


def _small(value: Any, cap: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= cap


def _number(value: Any) -> float | None:
    """`value` as the number a lenient server may read it as (a numeric string included: `"99999"`), or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        try:
            return float(value)  # any length: whitespace and leading zeros are what a lenient server skips too
        except ValueError:
            return None
    return None


def costly(name: str, value: Any) -> bool:
    """Whether `value` in field `name` could be costly: a limit or `n` above its cap, or a string a lenient server
    reads as such a number (docs/verdicts.md rule 9)."""
    cap = MAX_N if name == "n" else CAP if name in LIMIT_FIELDS else None
    number = _number(value)
    return cap is not None and number is not None and not number <= cap  # NaN is costly too


def completion_ceiling(sent: Any) -> int:
    """The most completion tokens an answer to `sent` may count: its completion limit (the larger, when it sends
    both) x its `n`, each read as a lenient server reads it (`"2"` is 2; a fraction rounded up). A body that is not
    JSON, or sets no positive limit, is counted as the minimal request (`SMALL_LIMIT`): the plan assumes the target
    honours the limits it is sent."""
    if not isinstance(sent, dict):
        return SMALL_LIMIT
    # a limit of 0 or less bounds nothing a lenient server must honour (it may read it as none): not counted
    limits = [math.ceil(v) for k in LIMIT_FIELDS if (v := _number(sent.get(k))) is not None and 0 < v < 2**53]
    n = _number(sent.get("n"))
    choices = math.ceil(n) if n is not None and 1 <= n < 2**53 else 1
    return (max(limits) if limits else SMALL_LIMIT) * choices


def ready(facts: Facts, body: dict[str, Any], protected: set[str], status_only: bool = False) -> dict[str, Any]:
    """`body` with what its fields depend on, a numeric completion limit of at most `CAP` and `n` at most `MAX_N`;
    `status_only` (a body judged by its status alone): at most the run's status limit (`Facts.status_limit`) and one
    choice. `protected` fields (the ones under test) are left as they are."""
    cap, max_n = (facts.status_limit, 1) if status_only else (CAP, MAX_N)
    body = dict(body)
    for rule in facts.contract.node(REQUEST_SCHEMA).get("allOf", []):
        required = rule.get("if", {}).get("required") or []
        if required and all(name in body for name in required):
            for name, then in rule.get("then", {}).get("properties", {}).items():
                if "const" in then and name not in protected:
                    body[name] = then["const"]
    if body.get(facts.limit_field) == 0 and not isinstance(body.get(facts.limit_field), bool):
        # a limit of 0 may read as none at all (a proxy's `if max_tokens:`): the other limit carries the cap too
        for name in LIMIT_FIELDS:
            if name != facts.limit_field and name not in protected and not _small(body.get(name), cap):
                body[name] = cap
    elif not _small(body.get(facts.limit_field), cap):
        # the cap goes in the field the target honours; when that field is under test, the other carries it
        others = [facts.limit_field] + [n for n in LIMIT_FIELDS if n != facts.limit_field]
        for name in others:
            if name not in protected:
                body[name] = cap
                break
    for name in LIMIT_FIELDS:
        if name in body and name not in protected and not _small(body[name], cap):
            body[name] = cap
    n = body.get("n")
    if "n" not in protected and isinstance(n, int) and not isinstance(n, bool) and n > max_n:
        body["n"] = max_n
    return body


class _OutOfBudget(Exception):
    """A request attribution may not send: the finding's own budget (`run_level` False) or the run's."""

    def __init__(self, budget: str, run_level: bool = True) -> None:
        super().__init__(budget)
        self.budget = budget
        self.run_level = run_level


@dataclass
class Attributor:
    """Attributes findings for one run (both generation modes share it, and its budget)."""

    facts: Facts
    client: TargetClient
    per_finding: int = PER_FINDING
    per_run: int = PER_RUN
    per_run_tokens: int = PER_RUN_TOKENS
    spent: int = 0
    spent_tokens: int = 0  # the ceilings of the answered attribution requests
    known: list[tuple[Kind, list[str], Attribution]] = field(default_factory=list)

    def minimal(self, status_only: bool = False) -> dict[str, Any]:
        """The minimal request narrowing starts from: at `CAP`, or (`status_only`: the finding's body was an
        invalid one, judged by its status, `generation.prepare`) at the run's status limit, as that body was."""
        return minimal_body(self.facts, self.facts.status_limit if status_only else CAP)

    def extra(self, sent: Any, raw: bool = False) -> Exchange | None:
        """One request of the run's attribution budget outside a finding's narrowing (a control body; the identical
        repeat of a body that is not an object); None when the budget (or `--max-requests`) is spent."""
        if self.spent >= self.per_run or not self._affords(sent) or not self.client.take_extra():
            return None
        self.spent += 1
        try:
            return self._counted(sent, self.client.chat(sent, raw=raw))
        except BudgetExhausted:
            return None

    def _affords(self, sent: Any) -> bool:
        """Whether the run's attribution tokens leave room for an answer to `sent` (its ceiling)."""
        return self.spent_tokens + completion_ceiling(sent) <= self.per_run_tokens

    def _counted(self, sent: Any, answer: Exchange) -> Exchange:
        """`answer`, its ceiling counted against the attribution tokens when it was answered (2xx)."""
        if answer.status is not None and 200 <= answer.status < 300:
            self.spent_tokens += completion_ceiling(sent)
        return answer

    def attribute(
        self, kind: Kind, sent: dict[str, Any], suspects: list[str], exact: bool = False, status_only: bool = False
    ) -> Attribution:
        """Reproduce a finding of `kind` shown by the generated body `sent`.

        `suspects`: fields to try alone first. `exact`: `sent` already is the minimal request with one field
        (an edge value): only a server error's identical repeat is needed. `status_only`: `sent` was an invalid body,
        sent at the run's status limit and one choice; the bodies narrowing tries are too (else at `CAP`, with `n`
        up to `MAX_N`, as a valid body was): they differ from `sent` only in the fields they test."""
        used = [0]

        def send(body: dict[str, Any]) -> Exchange:
            if not self._affords(body):
                raise _OutOfBudget(f"{self.per_run_tokens} completion tokens")
            if used[0] >= self.per_finding:
                raise _OutOfBudget(f"{self.per_finding} requests", run_level=False)
            if self.spent >= self.per_run or not self.client.take_extra():
                raise _OutOfBudget(f"{self.per_run} requests")
            used[0] += 1
            self.spent += 1
            try:
                return self._counted(body, self.client.chat(body))
            except BudgetExhausted:
                raise _OutOfBudget(f"--max-requests {self.client.max_requests}") from None

        validator = self.facts.contract.fast(REQUEST_SCHEMA)
        tried: dict[tuple[str, ...], Exchange] = {}

        answers: dict[tuple[str, ...], bool] = {}
        best: list[list[str]] = []  # the smallest subset shown to reproduce so far

        def test(subset: list[str]) -> bool:
            key = tuple(sorted(subset))
            if key not in answers:
                body = self._build(sent, subset, status_only)
                valid = validator.is_valid(body)
                if (kind == "accepted_invalid" and valid) or (kind == "refused_valid" and not valid):
                    answers[key] = False  # this body cannot show the finding: nothing to send
                else:
                    exchange = send(body)
                    tried[key] = exchange
                    answers[key] = reproduces(kind, exchange)
                if answers[key] and (not best or len(subset) < len(best[-1])):
                    best.append(list(subset))
            return answers[key]

        changes = [] if exact else self.changes(sent, status_only)
        for known_kind, keys, found in self.known:
            if known_kind == kind and set(keys) <= set(changes):
                try:
                    if test(list(keys)):  # the cause found before, with this body's values
                        return Attribution(found.fields, tried[tuple(keys)], None, used[0], "as found before")
                except _OutOfBudget:
                    return Attribution(None, requests=used[0], note=SPENT, spent=True)
        repeat = None
        if kind == "server_error":
            try:
                repeat = send(sent)
            except _OutOfBudget:
                return Attribution(None, requests=used[0], note=SPENT, spent=True)
            if not reproduces(kind, repeat):
                note = f"not reproducible: an identical repeat got {repeat.describe(120)}"
                return Attribution(None, repeat=repeat, requests=used[0], note=note)
        if exact:
            return Attribution(tuple(suspects), repeat=repeat, requests=used[0])
        note = ""
        try:
            for suspect in suspects:
                if suspect in changes and len(changes) > 1 and test([suspect]):
                    break
            else:
                self._narrow(list(changes), test)
        except _OutOfBudget as exc:
            if exc.run_level and not best:  # nothing smaller reproduced: not attributed (rule 13), no field guessed
                return Attribution(None, repeat=repeat, requests=used[0], note=SPENT, spent=True)
            note = f"narrowed within the budget of {exc.budget}"
        result = best[-1] if best else list(changes)
        minimal = tried.get(tuple(sorted(result)))
        found = Attribution(tuple(sorted(result)), minimal, repeat, used[0], note)
        if not note:
            self.known.append((kind, result, found))
        return found

    def changes(self, sent: dict[str, Any], status_only: bool = False) -> list[str]:
        """The fields in which `sent` differs from the minimal request (a missing one included)."""
        base = self.minimal(status_only)
        changed = [k for k in sent if sent[k] != base.get(k, DROP)]
        return changed + [k for k in base if k not in sent and k not in LIMIT_FIELDS]

    def _build(self, sent: dict[str, Any], subset: list[str], status_only: bool = False) -> dict[str, Any]:
        body = self.minimal(status_only)
        for key in subset:
            if key in sent:
                body[key] = copy.deepcopy(sent[key])
            else:
                body.pop(key, None)
        return ready(self.facts, body, set(subset), status_only)

    @staticmethod
    def _narrow(changes: list[str], test: Any) -> list[str]:
        """Delta debugging: the smallest subset of `changes` found that still reproduces (`changes` does)."""
        current, parts = changes, 2
        while len(current) > 1:
            size = max(1, len(current) // parts)
            chunks = [current[i : i + size] for i in range(0, len(current), size)]
            for chunk in chunks:
                if test(chunk):
                    current, parts = chunk, 2
                    break
            else:
                for chunk in chunks:
                    rest = [c for c in current if c not in chunk]
                    if len(chunks) > 2 and test(rest):
                        current, parts = rest, max(parts - 1, 2)
                        break
                else:
                    if parts >= len(current):
                        break
                    parts = min(len(current), parts * 2)
        return current
