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

import copy
import json
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import hypothesis
import hypothesis.configuration
import schemathesis
from schemathesis.core import NotSet
from schemathesis.core.parameters import ParameterLocation
from schemathesis.generation.hypothesis.builder import HypothesisTestConfig, HypothesisTestMode, create_test
from schemathesis.generation.modes import GenerationMode

from conformance.checks import Check, Facts, infrastructure_problem, make_result
from conformance.checks.properties import (
    Attribution,
    Finding,
    request_finding,
    request_kind,
    response_findings,
)
from conformance.checks.requests import SAMPLE_TOKEN as SAMPLE_KEY
from conformance.contract import REQUEST_SCHEMA, Contract
from conformance.driver.attribution import PER_RUN, Attributor, costly, is_server_error, ready
from conformance.driver.edges import CAPABILITY_OF, edge_body, edge_cases, spots
from conformance.records import Exchange, Outcome, Result
from conformance.transport import BudgetExhausted, TargetClient

__all__ = ["DEFAULT_MAX_EXAMPLES", "LayerPart", "ModeReport", "prepare", "run_layer", "run_mode"]

DEFAULT_MAX_EXAMPLES = 20  # fuzzing examples per generation mode, unless --max-examples
PATH = "/v1/chat/completions"


PROGRESS_EVERY = 25  # a progress line on stderr every this many generated requests


@dataclass
class ModeReport:
    """What one generation mode did: the layer's working tally while it runs (its results are built from it
    once the layer is over)."""

    mode: str
    sent: int = 0
    by_phase: dict[str, int] = field(default_factory=dict)
    not_sent: int = 0
    attribution: int = 0
    unattributed: int = 0  # findings left unattributed: the attribution budget was spent
    stopped: str | None = None
    findings: dict[str, Finding] = field(default_factory=dict)
    counts: Counter[str] = field(default_factory=Counter)  # requests that showed each finding id

    def add(self, finding: Finding) -> None:
        self.findings.setdefault(finding.id, finding)
        self.counts[finding.id] += 1


@dataclass
class _Shared:
    """What the modes of one layer share while it runs: the attributor (and its budget), bodies already judged."""

    attributor: Attributor
    seen: set[str] = field(default_factory=set)  # bodies already judged for a request-side finding


# -- generation -----------------------------------------------------------------------------------------------


def _schema(contract: Contract, mode: str, max_examples: int) -> Any:
    document = copy.deepcopy(contract.document)
    request = document["components"]["schemas"]["ChatCompletionRequest"]
    for ranged in contract.ranged_fields():
        if ranged.pointer.endswith("/additionalProperties"):
            # generation does not reach the bounds of map values; one sample key with the same schema
            # (an equivalent contract) lets it send `logit_bias: {"0": 100.01}` and the like
            node = request["properties"][ranged.name]
            node["properties"] = {SAMPLE_KEY: copy.deepcopy(node["additionalProperties"])}
    if mode == "positive":
        # a closed request schema makes valid bodies ~5x faster to generate; never for negative generation,
        # where it would produce unknown keys that real servers rightly ignore
        request["additionalProperties"] = False
    config = schemathesis.Config.from_dict({"output": {"sanitization": {"sensitive-markers": ["authorization"]}}})
    schema = schemathesis.openapi.from_dict(document, config=config)
    schema.config.update(base_url="http://conformance.invalid")
    schema.config.generation.update(
        modes=[GenerationMode(mode)],
        max_examples=max_examples,
        allow_x00=False,
        allow_extra_parameters=False,
        no_shrink=True,
        database="none",
    )
    schema.config.phases.update(phases=["examples", "fuzzing"])
    return schema


def _integer_fields(contract: Contract) -> set[str]:
    out = set()
    for name, node in contract.node(f"{REQUEST_SCHEMA}/properties").items():
        types = node.get("type", [])
        if "integer" in (types if isinstance(types, list) else [types]):
            out.add(name)
    return out


def prepare(body: Any, mode: str, facts: Facts, integers: set[str], target: str = "body") -> Any:
    """Make a generated body cheap and aimed at the target, without repairing what a negative case broke; None
    when it cannot be sent cheaply (docs/verdicts.md rule 9).

    Every body gets a numeric completion limit of at most `CAP` and `n` at most `MAX_N` (`attribution.costly`).
    Positive: the run's model, whole floats as integers. Negative: the model only where it is a string (a string is a
    valid model, so nothing is repaired); when the broken field is a limit or `n`, its value is sent only if it
    is not a number above the cap, and the other limit carries the cap; the fields the broken `target` depends
    on are met (so that it is the only break).
    """
    if not isinstance(body, dict):
        return body
    body = dict(body)
    if mode == "positive":
        for name in integers:
            value = body.get(name)
            if isinstance(value, float) and value.is_integer():
                body[name] = int(value)
        body["model"] = facts.model
    elif isinstance(body.get("model"), str):
        body["model"] = facts.model
    if costly(target, body.get(target)):
        return None
    return ready(facts, body, {target} if mode == "negative" else set())


def _field_of(case: Any, mode: str) -> str:
    """The request field a generated case broke (negative) or is about, when schemathesis says; else `body`."""
    data = case.meta.phase.data if case.meta is not None else None
    description = getattr(data, "description", None) or ""
    if mode == "negative":
        for mutation in getattr(data, "mutations", ()) or ():
            if mutation.path:
                return str(mutation.path[0])
    head = description.split(":", 1)[0].split(" ", 1)[0]
    if head and ":" in description and head.isidentifier():
        return head
    return "body"


def _skip_reason(case: Any) -> str | None:
    """Cases this layer does not send: other methods (not part of the contract) and header mutations (the
    auth checks own those; our client always sends the key, which would repair them)."""
    if case.method.upper() != "POST":
        return "another HTTP method"
    header = case.meta.components.get(ParameterLocation.HEADER) if case.meta is not None else None
    if header is not None and header.mode.is_negative:
        return "a header mutation"
    return None


# -- sending and judging -------------------------------------------------------------------------------------


@dataclass
class _Sender:
    """Sends one mode's bodies, judges each answer, attributes request-side findings."""

    facts: Facts
    client: TargetClient
    mode: str
    shared: _Shared
    report: ModeReport
    progress: bool = False

    def send(self, body: Any, phase: str, raw: bool = False) -> Exchange | None:
        if self.report.stopped:
            self.report.not_sent += 1
            return None
        try:
            exchange = self.client.chat(body, raw=raw)
        except BudgetExhausted as exc:
            self.report.stopped = str(exc)
            return None
        self.report.sent += 1
        self.report.by_phase[phase] = self.report.by_phase.get(phase, 0) + 1
        if self.progress and self.report.sent % PROGRESS_EVERY == 0:  # a diagnostic: generation takes a while
            line = f"  property.{self.mode}: {self.report.sent} requests sent ({phase})"
            print(line, file=sys.stderr, flush=True)
        problem = infrastructure_problem(self.facts.contract, exchange)
        if problem:
            self.report.stopped = problem
            return None
        return exchange

    def judge(self, exchange: Exchange, phase: str, suspects: list[str], exact: str | None = None) -> None:
        sent = "an edge value" if exact else f"a generated {self.mode} request"
        for finding in response_findings(self.facts, exchange, sent):
            self.report.add(finding)
        kind = request_kind(exchange, self.mode)
        body = exchange.request_body
        if kind is None or not isinstance(body, dict):
            if kind is not None:  # a body that is not an object: nothing to narrow
                found = Attribution(("body",)) if kind != "server_error" else self._repeat_raw(exchange)
                self.report.add(request_finding(self.facts, kind, exchange, found, phase, "body"))
            return
        key = kind + json.dumps(body, sort_keys=True, default=str)
        if key in self.shared.seen:
            return
        self.shared.seen.add(key)
        before = self.shared.attributor.spent
        found = self.shared.attributor.attribute(kind, body, suspects, exact=exact is not None)
        self.report.attribution += self.shared.attributor.spent - before
        if found.spent:
            self.report.unattributed += 1  # counted in the summary, reported under no field
            return
        self.report.add(request_finding(self.facts, kind, exchange, found, phase, exact))

    def _repeat_raw(self, exchange: Exchange) -> Attribution:
        try:
            repeat = self.client.chat(exchange.request_body, raw=exchange.raw_request)
        except BudgetExhausted:
            return Attribution(None, note="no budget left to repeat it")
        self.report.attribution += 1
        if is_server_error(repeat):
            return Attribution(("body",), repeat=repeat, requests=1)
        return Attribution(
            None, repeat=repeat, requests=1, note=f"not reproducible: the repeat got {repeat.describe(120)}"
        )


def _edges(sender: _Sender, refused: frozenset[str]) -> None:
    facts = sender.facts
    validator = facts.contract.validator(REQUEST_SCHEMA)
    for spot in spots(facts.contract):
        if CAPABILITY_OF.get(spot.top) in refused:
            continue
        for _label, value in edge_cases(facts.contract, spot):
            body = edge_body(facts, spot, value)
            if body is None:
                sender.report.not_sent += 1
                continue
            if validator.is_valid(body) != (sender.mode == "positive"):
                continue
            exchange = sender.send(body, "edge values")
            if exchange is None:
                if sender.report.stopped:
                    return
                continue
            sender.judge(exchange, "edge values", [spot.top], exact=spot.field)


def _generated(sender: _Sender, max_examples: int) -> None:
    facts, mode = sender.facts, sender.mode
    schema = _schema(facts.contract, mode, max_examples)
    operation = schema[PATH]["POST"]
    integers = _integer_fields(facts.contract)
    validator = facts.contract.validator(REQUEST_SCHEMA)

    def one(case: Any) -> None:
        phase = case.meta.phase.name.value if case.meta is not None else "fuzzing"
        if sender.report.stopped or _skip_reason(case):
            sender.report.not_sent += 1
            return
        target = _field_of(case, mode)
        body = prepare(case.body, mode, facts, integers, target)
        if body is None:
            sender.report.not_sent += 1  # it would be costly: a limit or `n` above the cap
            return
        if isinstance(body, dict) and validator.is_valid(body) != (mode == "positive"):
            sender.report.not_sent += 1  # made cheap, it is no longer a case of this mode
            return
        if isinstance(body, NotSet):
            exchange = sender.send("", phase, raw=True)
        elif isinstance(body, bytes | str):
            exchange = sender.send(body.decode("latin-1") if isinstance(body, bytes) else body, phase, raw=True)
        else:
            exchange = sender.send(body, phase)
        if exchange is not None:
            sender.judge(exchange, phase, [target] if target != "body" else [])

    settings = hypothesis.settings(
        max_examples=max_examples,
        database=None,
        deadline=None,
        derandomize=False,
        phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
        suppress_health_check=list(hypothesis.HealthCheck),
        report_multiple_bugs=False,
        verbosity=hypothesis.Verbosity.quiet,
    )
    test = create_test(
        operation=operation,
        test_func=one,
        config=HypothesisTestConfig(
            project=schema.config,
            modes=[HypothesisTestMode.EXAMPLES, HypothesisTestMode.FUZZING],
            settings=settings,
            apply_ci_profile=False,  # Hypothesis' `ci` profile (loaded when CI is set) would derandomize the run
            seed=facts.seed,
        ),
    )
    test()


def run_mode(
    facts: Facts,
    client: TargetClient,
    mode: str,
    max_examples: int | None,
    shared: _Shared | None = None,
    refused: frozenset[str] = frozenset(),
    progress: bool = False,
) -> ModeReport:
    """Send one mode's edge values and generated requests; return what was found.

    `refused`: capabilities whose fields are left out (their basic use was refused). `shared`: the layer's
    attribution state, when both modes run in one run. A signal stops the mode where it is (`stopped`)."""
    shared = shared or _Shared(Attributor(facts, client))
    report = ModeReport(mode)
    sender = _Sender(facts, client, mode, shared, report, progress)
    try:
        _edges(sender, refused)
        if not report.stopped:
            _generated(sender, max_examples or DEFAULT_MAX_EXAMPLES)
    except KeyboardInterrupt:
        report.stopped = "interrupted"
    return report


# -- results ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LayerPart:
    """One mode's results (its summary first, then its new findings), and when it ran (ms since the epoch)."""

    check: Check
    results: tuple[Result, ...]
    start_ms: int
    stop_ms: int


def run_layer(
    facts: Facts,
    client: TargetClient,
    checks: list[Check],
    max_examples: int | None,
    refused: frozenset[str],
    progress: bool = False,
) -> tuple[tuple[LayerPart, ...], bool]:
    """Run the generation mode of each of `checks` (`property.positive`, `property.negative`) in order; return
    each mode's results, and whether a signal interrupted the layer (the modes after it are not run)."""
    shared = _Shared(Attributor(facts, client))
    reports: list[tuple[Check, ModeReport, int, int]] = []
    with tempfile.TemporaryDirectory(prefix="conformance-hypothesis-") as home:
        # Hypothesis keeps caches under ./.hypothesis: a run leaves nothing in the user's working directory
        hypothesis.configuration.set_hypothesis_home_dir(home)
        try:
            for check in checks:
                wall = time.time()
                report = run_mode(facts, client, check.params["mode"], max_examples, shared, refused, progress)
                reports.append((check, report, int(wall * 1000), int(time.time() * 1000)))
                if report.stopped == "interrupted":
                    break
        finally:
            hypothesis.configuration.set_hypothesis_home_dir(None)
    interrupted = any(report.stopped == "interrupted" for _, report, _, _ in reports)
    return _results(facts.contract, reports), interrupted


def _results(contract: Contract, reports: list[tuple[Check, ModeReport, int, int]]) -> tuple[LayerPart, ...]:
    """Each mode's summary result, then one result per finding id no earlier mode reported; an id found again in
    a later mode is counted in the earlier result's message."""
    first_mode: dict[str, str] = {}
    for _, report, _, _ in reports:
        for fid in report.findings:
            first_mode.setdefault(fid, report.mode)
    later: dict[str, list[str]] = {}
    for _, report, _, _ in reports:
        for fid in report.findings:
            if first_mode[fid] != report.mode:
                later.setdefault(fid, []).append(f" (and {report.counts[fid]} in {report.mode} generation)")
    return tuple(
        LayerPart(check, _mode_results(contract, check, report, first_mode, later), start, stop)
        for check, report, start, stop in reports
    )


def _mode_results(
    contract: Contract, check: Check, report: ModeReport, first_mode: dict[str, str], later: dict[str, list[str]]
) -> tuple[Result, ...]:
    mode = report.mode
    phases = ", ".join(f"{phase} {count}" for phase, count in sorted(report.by_phase.items())) or "none"
    outcomes = {f.outcome for f in report.findings.values()}
    worst = next((o for o in (Outcome.FAILED, Outcome.WARNED) if o in outcomes), Outcome.PASSED)
    outcome = worst if report.sent else Outcome.SKIPPED
    summary = (
        f"{report.sent} {mode} requests ({phases}), {report.attribution} attribution requests, "
        f"{report.not_sent} not sent (costly values, other methods, header mutations); "
        f"{len(report.findings)} distinct findings"
    )
    if report.unattributed:
        summary += f"; {report.unattributed} more left unattributed (attribution budget of {PER_RUN} spent)"
    first = next((f for f in report.findings.values() if f.outcome is outcome), None)
    if first is not None:
        summary = f"{first.id} is {outcome.value}: " + summary
    if report.stopped:
        summary += f"; stopped early: {report.stopped}"
    shown = first.exchanges[-1:] if first is not None else ()
    out = [
        make_result(
            contract, check.id, check.pointer, check.field, outcome, summary, level=check.level, exchanges=shown
        )
    ]
    for finding in report.findings.values():
        if first_mode[finding.id] != mode:  # the same id from an earlier mode: counted there, never reported twice
            continue
        count = report.counts[finding.id]
        message = finding.message + (f" ({count} requests)" if count > 1 else "") + "".join(later.get(finding.id, []))
        out.append(
            make_result(
                contract,
                finding.id,
                finding.pointer,
                None if finding.field == "body" else finding.field,
                finding.outcome,
                message,
                exchanges=finding.exchanges,
                level="MUST",
                evidence=finding.evidence,
            )
        )
    return tuple(out)
