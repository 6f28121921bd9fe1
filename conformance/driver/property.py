"""The property-based layer: edge values and schemathesis-generated requests from the contract, sent through the
run's client, each finding reproduced on a minimal request before it is reported under a field.

Per generation mode (valid requests for `property.positive`, invalid ones for `property.negative`):
1. edge values (`conformance.driver.edges`): every field's edges, one field at a time on the minimal request;
2. schemathesis' examples and fuzzing phases (combinations), each body made cheap (`prepare`).
Every request goes through the run's `TargetClient` (auth, budget, counting, redaction); findings are recorded,
never raised, and nothing is shrunk.

What a finding means is decided by the finding checks of `conformance.checks.properties` (pure judges); this
module sends, attributes and counts. `run_layer` runs the selected modes and returns their results: it keeps no
state on the driver.
"""

from __future__ import annotations

import functools
import json
import sys
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from typing import Any

import hypothesis.configuration

from conformance.checks import Check, Facts, infrastructure_problem
from conformance.checks.properties import (
    Attribution,
    Finding,
    Kind,
    request_finding,
    request_kind,
    response_findings,
    unattributed,
    unreproduced,
)
from conformance.contract import REQUEST_SCHEMA
from conformance.driver.attribution import Attributor, is_server_error
from conformance.driver.generation import (
    DEFAULT_MAX_EXAMPLES,
    Control,
    Generated,
    Planned,
    edge_requests,
    generate,
    hypothesis_home,
    integer_fields,
    prepare,
    shape_requests,
)
from conformance.driver.layer_results import LayerPart, layer_results
from conformance.driver.pool import Pool
from conformance.driver.pregenerate import Pregenerated
from conformance.records import Exchange
from conformance.transport import TargetClient

__all__ = ["DEFAULT_MAX_EXAMPLES", "LayerPart", "ModeReport", "prepare", "run_layer", "run_mode"]

MAX_PROBLEMS_IN_A_ROW = 3  # infrastructure problems in a row (in send order) that stop a mode
TRIES_PER_CAUSE = 3  # members of one cause attributed at most: a flaky 5xx does not hide a reproducible one


PROGRESS_EVERY = 25  # a progress line on stderr every this many generated requests


@dataclass(frozen=True)
class _Pending:
    """A request-side finding waiting for attribution: what showed it, and the cause it is grouped under."""

    kind: Kind
    exchange: Exchange
    suspects: tuple[str, ...]
    exact: str | None
    phase: str
    cause: tuple[Any, ...]
    cost: int
    shown: tuple[Finding, ...] = ()  # response findings of the same 5xx, ranked once its repeat is known
    # a control body, the field to blame, and whether it is blamed when the control shows the finding too (always,
    # today: the whole object of an optional shape, a companion with an ordinary value beside it)
    control: Control | None = None


@dataclass
class ModeReport:
    """What one generation mode did: the layer's working tally while it runs (its results are built from it
    once the layer is over)."""

    mode: str
    sent: int = 0
    by_phase: dict[str, int] = field(default_factory=dict)
    not_sent: int = 0
    attribution: int = 0
    causes: int = 0  # distinct causes attributed
    unattributed: int = 0  # findings reported under `body` because the attribution budget was spent
    stopped: str | None = None
    infrastructure: bool = False  # stopped by infrastructure trouble: what was not judged is not a pass
    unanswered: int = 0  # requests with no judgeable answer (no answer, a provider state)
    last_problem: str = ""
    problems_in_a_row: int = 0
    raw_unanswered: bool = False  # a body that is not JSON got no answer: no more are sent
    findings: dict[str, Finding] = field(default_factory=dict)
    counts: Counter[str] = field(default_factory=Counter)  # requests that showed each finding id
    pending: list[_Pending] = field(default_factory=list)

    def add(self, finding: Finding | None, count: int = 1) -> None:
        """Count `finding` under its id; it is the one reported when it beats the one kept so far."""
        if finding is None:
            return
        kept = self.findings.get(finding.id)
        if kept is None or finding.beats(kept):
            self.findings[finding.id] = finding
        self.counts[finding.id] += count


@dataclass
class _Shared:
    """What the modes of one layer share while it runs: the attributor (and its budget), bodies already judged."""

    attributor: Attributor
    seen: set[str] = field(default_factory=set)  # bodies already judged for a request-side finding
    controls: dict[str, bool] = field(default_factory=dict)  # control bodies sent, by kind: whether each showed it


# -- generation -----------------------------------------------------------------------------------------------


@dataclass
class _Sender:
    """Sends one mode's bodies, judges each answer, attributes request-side findings."""

    facts: Facts
    client: TargetClient
    mode: str
    shared: _Shared
    report: ModeReport
    progress: bool = False
    pool: Pool | None = None

    def send_all(self, items: list[tuple[Any, bool]], phase: str) -> list[Exchange | None]:
        """Send `items` ((body, raw)), up to the run's concurrency in flight, each with a request of the budget
        reserved in order; their answers in the same order, None where none is to be judged. Whatever the
        concurrency, the same requests are judged: an infrastructure problem (no answer, a provider state) leaves
        that request unjudged, three in a row stop the mode, and what was sent after the stop is discarded. A
        target that does not answer a body that is not JSON is sent no more of them."""
        out: list[Exchange | None] = [None] * len(items)
        waiting: list[tuple[int, Callable[[], Exchange], Future[Exchange] | None]] = []
        cut: str | None = None
        for i, (body, raw) in enumerate(items):
            if self.report.stopped or (raw and self.report.raw_unanswered):
                self.report.not_sent += 1
                continue
            if not self.client.reserve():  # the rest is beyond the budget: the mode stops after what was reserved
                cut = f"--max-requests {self.client.max_requests} reached"
                self.report.not_sent += len(items) - i
                break
            request: Callable[[], Exchange] = functools.partial(_slotted, self.client, body, raw)
            future = self.pool.submit(request) if self.pool is not None else None
            waiting.append((i, request, future))
        for i, call, future in waiting:
            raw = items[i][1]
            if self.report.stopped or (raw and self.report.raw_unanswered):  # judged no more: discarded
                if future is None or future.cancel():
                    self.client.release()
                self.report.not_sent += 1
                continue
            exchange = future.result() if future is not None else call()
            self.report.sent += 1
            self.report.by_phase[phase] = self.report.by_phase.get(phase, 0) + 1
            if self.progress and self.report.sent % PROGRESS_EVERY == 0:  # a diagnostic: generation takes a while
                line = f"  property.{self.mode}: {self.report.sent} requests sent ({phase})"
                print(line, file=sys.stderr, flush=True)
            problem = infrastructure_problem(self.facts.contract, exchange)
            if problem:
                self.report.unanswered += 1
                self.report.last_problem = problem
                self.report.raw_unanswered |= raw and exchange.error is not None
                self.report.problems_in_a_row += 1
                if self.report.problems_in_a_row >= MAX_PROBLEMS_IN_A_ROW:
                    self.report.stopped = problem
                    self.report.infrastructure = True
                continue
            self.report.problems_in_a_row = 0
            out[i] = exchange
        if cut is not None and not self.report.stopped:
            self.report.stopped = cut
        return out

    def judge(
        self,
        exchange: Exchange,
        phase: str,
        suspects: list[str],
        exact: str | None = None,
        control: Control | None = None,
    ) -> None:
        """Response findings now; a request-side finding is queued for attribution, grouped by its cause."""
        sent = "an edge value" if exact else f"a generated {self.mode} request"
        shown = response_findings(self.facts, exchange, sent)
        kind = request_kind(exchange, self.mode)
        body = exchange.request_body
        if kind != "server_error":
            for finding in shown:
                self.report.add(finding)
        if kind is None or not isinstance(body, dict):
            if kind is not None:  # a body that is not an object: nothing to narrow
                found = Attribution(("body",)) if kind != "server_error" else self._repeat_raw(exchange)
                self._add_shown(shown, found)
                self.report.add(request_finding(self.facts, kind, exchange, found, phase, "body"))
            return
        key = kind + json.dumps(body, sort_keys=True, default=str)
        if key in self.shared.seen:
            self._add_shown(shown, None)
            return
        self.shared.seen.add(key)
        cause, cost = self._cause(kind, body, exact)
        pending = _Pending(kind, exchange, tuple(suspects), exact, phase, cause, cost, tuple(shown), control)
        self.report.pending.append(pending)

    def _cause(self, kind: Kind, body: dict[str, Any], exact: str | None) -> tuple[tuple[Any, ...], int]:
        """The cause a finding is grouped under (its kind, field and the keywords its body breaks) and what
        attributing it may cost (an edge value: its repeat; a generated body: more with each changed field)."""
        contract = self.facts.contract
        broken = frozenset((v.keyword, v.pointer) for v in contract.violations(REQUEST_SCHEMA, body))
        if exact is not None:
            return (kind, exact, broken), 1
        changed = self.shared.attributor.changes(body, status_only=self.mode == "negative")
        return (kind, "", broken or frozenset(changed)), 2 + len(changed)

    def _controlled(self, pending: _Pending, control: Control) -> _Pending:
        """The finding blamed on `control`'s field when the control body (the whole object of an optional shape,
        or a companion with an ordinary value beside it) shows it too: the variant's own value is not the cause.
        One request per control body and kind of finding.

        A control can show only a finding its body can be a case of, as in attribution: an accepted invalid value
        is not shown by a valid control being accepted (a right answer; blaming `type: json_schema` for an
        accepted `json_schema: {}` would hide that break), nor a refused valid one by an invalid control refused.
        Such a control is not sent, and the finding stays the variant's own."""
        valid = self.facts.contract.is_valid(REQUEST_SCHEMA, control[0])
        if (pending.kind == "accepted_invalid" and valid) or (pending.kind == "refused_valid" and not valid):
            return pending
        key = pending.kind + json.dumps(control[0], sort_keys=True)
        if key not in self.shared.controls:
            answer = self.shared.attributor.extra(control[0])
            if answer is None:
                return pending
            self.report.attribution += 1
            self.shared.controls[key] = request_kind(answer, self.mode) == pending.kind or (
                pending.kind == "server_error" and is_server_error(answer)
            )
        if self.shared.controls[key] != control[2]:
            return pending
        return replace(pending, exact=control[1], suspects=(control[1].split(".", 1)[0],), control=None)

    def _add_shown(self, shown: list[Finding] | tuple[Finding, ...], found: Attribution | None) -> None:
        """The response findings of a 5xx, ranked by whether its identical repeat agreed."""
        reproduced = found is not None and (found.fields is not None)
        for finding in shown:
            self.report.add(finding if reproduced else unreproduced(finding))

    def attribute(self, send: bool = True) -> None:
        """Attribute the queued findings, cheapest cause first; each cause once (the next member is tried only
        when one did not reproduce: a flaky 5xx does not hide a reproducible one). What the budget leaves
        unattributed is still reported, under `body`, with its original requests (docs/verdicts.md rule 13)."""
        groups: dict[tuple[Any, ...], list[_Pending]] = {}
        for pending in self.report.pending:
            groups.setdefault(pending.cause, []).append(pending)
        ordered = sorted(groups.values(), key=lambda members: members[0].cost)  # stable: first seen first
        leftover: list[_Pending] = []
        for members in ordered:
            if leftover or not send:  # the budget is spent (or a signal came): the rest is reported unattributed
                leftover.extend(members)
                continue
            for i, pending in enumerate(members[:TRIES_PER_CAUSE]):
                if i == 0 and pending.control is not None:
                    members = [self._controlled(m, pending.control) for m in members]
                    pending = members[0]
                before = self.shared.attributor.spent
                found = self.shared.attributor.attribute(
                    pending.kind,
                    pending.exchange.request_body,
                    list(pending.suspects),
                    exact=pending.exact is not None,
                    status_only=self.mode == "negative",
                )
                self.report.attribution += self.shared.attributor.spent - before
                if found.spent:
                    leftover.extend(members[i:])
                    break
                self._add_shown(pending.shown, found)
                finding = request_finding(
                    self.facts, pending.kind, pending.exchange, found, pending.phase, pending.exact
                )
                rest = [m for m in members if m is not pending]
                if found.fields is not None:  # reproduced: the other members are the same cause
                    self.report.causes += 1
                    self.report.add(finding, count=1 + len(rest))
                    for other in rest:
                        self._add_shown(other.shown, None)
                    break
                self.report.add(finding)
            else:
                for other in members[TRIES_PER_CAUSE:]:
                    self._add_shown(other.shown, None)
        self.report.pending.clear()
        for kind in ("server_error", "accepted_invalid", "refused_valid"):
            chosen = [p for p in leftover if p.kind == kind]
            if chosen:
                self.report.unattributed += len(chosen)
                for pending in chosen:
                    self._add_shown(pending.shown, None)
                self.report.add(unattributed(self.facts, kind, [p.exchange for p in chosen]), count=len(chosen))

    def _repeat_raw(self, exchange: Exchange) -> Attribution:
        repeat = self.shared.attributor.extra(exchange.request_body, raw=exchange.raw_request)
        if repeat is None:
            return Attribution(None, note="no budget left to repeat it")
        self.report.attribution += 1
        if is_server_error(repeat):
            return Attribution(("body",), repeat=repeat, requests=1)
        return Attribution(
            None, repeat=repeat, requests=1, note=f"not reproducible: the repeat got {repeat.describe(120)}"
        )


def _slotted(client: TargetClient, body: Any, raw: bool) -> Exchange:
    """A request sent with its budget reserved, within the client's allowance of requests in flight."""
    with client.slot():
        return client.chat(body, raw=raw, reserved=True)


def _edges(sender: _Sender, refused: frozenset[str]) -> None:
    planned, costly_values = edge_requests(sender.facts, sender.mode, refused)
    sender.report.not_sent += costly_values
    _send_planned(sender, planned, "edge values")


def _shapes(sender: _Sender, refused: frozenset[str]) -> None:
    """The documented request objects whole, without each optional property and with each nullable one null
    (`generation.shape_requests`), each sent in the mode its validity puts it in."""
    _send_planned(sender, shape_requests(sender.facts, sender.mode, refused), phase="optional shapes")


def _send_planned(sender: _Sender, planned: list[Planned], phase: str) -> None:
    """Send what was planned (in flight together), then judge each answer in order."""
    answers = sender.send_all([(p.body, p.raw) for p in planned], phase)
    for one, exchange in zip(planned, answers, strict=True):
        if exchange is not None:
            sender.judge(exchange, phase, list(one.suspects), exact=one.exact, control=one.control)


def _generated(sender: _Sender, generated: Generated) -> None:
    """Send what schemathesis generated for this mode (in its order), each body made cheap and aimed (`prepare`);
    then judge each answer in order."""
    facts, mode = sender.facts, sender.mode
    integers = integer_fields(facts.contract)
    validator = facts.contract.fast(REQUEST_SCHEMA)
    sender.report.not_sent += generated.skipped
    by_phase: dict[str, list[tuple[str, Any, bool]]] = {}
    for case in generated.cases:
        body = case.body
        if not case.raw:
            body = prepare(body, mode, facts, integers, case.target)
            if body is None:
                sender.report.not_sent += 1  # it would be costly: a limit or `n` above the cap
                continue
            if isinstance(body, dict) and validator.is_valid(body) != (mode == "positive"):
                sender.report.not_sent += 1  # made cheap, it is no longer a case of this mode
                continue
        by_phase.setdefault(case.phase, []).append((case.target, body, case.raw))
    for phase, items in by_phase.items():
        answers = sender.send_all([(body, raw) for _, body, raw in items], phase)
        for (target, _, _), exchange in zip(items, answers, strict=True):
            if exchange is not None:
                sender.judge(exchange, phase, [target] if target != "body" else [])


def run_mode(
    facts: Facts,
    client: TargetClient,
    mode: str,
    max_examples: int | None,
    shared: _Shared | None = None,
    refused: frozenset[str] = frozenset(),
    progress: bool = False,
    pool: Pool | None = None,
    made: Callable[[str], Generated | None] | None = None,
) -> ModeReport:
    """Send one mode's edge values and generated requests; return what was found.

    `refused`: capabilities whose fields are left out (their basic use was refused). `shared`: the layer's
    attribution state, when both modes run in one run. `made`: the mode's generated bodies made elsewhere, if
    they were (else they are generated here and now). A signal stops the mode where it is (`stopped`)."""
    shared = shared or _Shared(Attributor(facts, client))
    report = ModeReport(mode)
    sender = _Sender(facts, client, mode, shared, report, progress, pool)
    try:
        _edges(sender, refused)
        if not report.stopped:
            _shapes(sender, refused)
        if not report.stopped:
            generated = made(mode) if made is not None else None
            if generated is None:
                generated = generate(facts.contract, mode, max_examples or DEFAULT_MAX_EXAMPLES, facts.seed)
            _generated(sender, generated)
        sender.attribute()
    except KeyboardInterrupt:
        report.stopped = "interrupted"
        sender.attribute(send=False)
    return report


# -- results ---------------------------------------------------------------------------------------------------


def run_layer(
    facts: Facts,
    client: TargetClient,
    checks: list[Check],
    max_examples: int | None,
    refused: frozenset[str],
    progress: bool = False,
    concurrency: int = 1,
    pregenerated: Pregenerated | None = None,
) -> tuple[tuple[LayerPart, ...], bool]:
    """Run the generation mode of each of `checks` (`property.positive`, `property.negative`) in order; return
    each mode's results, and whether a signal interrupted the layer (the modes after it are not run). Up to
    `concurrency` requests in flight; what is sent and judged does not depend on it. `pregenerated`: the bodies
    a helper process is generating (`driver.pregenerate`); a mode it does not deliver is generated here."""

    def made(mode: str) -> Generated | None:
        return pregenerated.take(mode, max_examples, facts.seed) if pregenerated is not None else None

    shared = _Shared(Attributor(facts, client))
    reports: list[tuple[Check, ModeReport, int, int]] = []
    pool = Pool(concurrency) if concurrency > 1 else None
    with hypothesis_home() as home:
        # Hypothesis keeps caches under ./.hypothesis: a run leaves nothing in the user's working directory
        hypothesis.configuration.set_hypothesis_home_dir(home)
        try:
            for check in checks:
                wall = time.time()
                mode = check.params["mode"]
                report = run_mode(facts, client, mode, max_examples, shared, refused, progress, pool, made)
                reports.append((check, report, int(wall * 1000), int(time.time() * 1000)))
                if report.stopped == "interrupted":
                    break
        finally:
            hypothesis.configuration.set_hypothesis_home_dir(None)
            if pool is not None:
                pool.shutdown()
    interrupted = any(report.stopped == "interrupted" for _, report, _, _ in reports)
    return layer_results(facts.contract, reports), interrupted
