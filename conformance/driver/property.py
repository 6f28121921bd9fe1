"""The property-based layer: schemathesis generates requests from the contract; our client sends them.

Positive and negative generation, with the examples, coverage and fuzzing phases. Every request goes through
the run's `TargetClient` (auth, budget, counting, redaction). A failing check is recorded, never raised, so
one failure does not stop generation, and nothing is shrunk (shrinking re-sends requests). Findings are
deduplicated by check and field.

What a verdict means here (design.md rules 1-3): a 5xx is `failed`; an invalid request answered with anything
but a 4xx is `failed`; a valid request refused with a clean 4xx is `warned` (servers refuse by their own limits;
rule 1 is the hand-written checks' job); a response breaking its schema, content type, the error envelope or
the usage arithmetic is `failed`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import httpx
import hypothesis
import schemathesis
from schemathesis.core import NotSet
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.core.parameters import ParameterLocation
from schemathesis.generation.hypothesis.builder import HypothesisTestConfig, HypothesisTestMode, create_test
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi import checks as openapi_checks

from conformance.checks import Check, Facts, infrastructure_problem, make_result
from conformance.checks.properties import error_envelope, stream_chunks, usage_arithmetic
from conformance.contract import CHUNK_SCHEMA, ERROR_SCHEMA, OPERATION, REQUEST_SCHEMA, RESPONSE_SCHEMA, Contract
from conformance.records import Exchange, Outcome, Result
from conformance.transport import BudgetExhausted, TargetClient

if TYPE_CHECKING:
    from conformance.driver import Driver

__all__ = ["COVERAGE_CAP", "DEFAULT_MAX_EXAMPLES", "Finding", "ModeReport", "run_mode", "run_summary"]

DEFAULT_MAX_EXAMPLES = 20  # fuzzing examples per generation mode, unless --max-examples
COVERAGE_CAP = 120  # coverage-phase requests per mode, at most one per distinct scenario
GENERATED_LIMIT = 4  # completion tokens of every generated valid request
MAX_N = 2
SAMPLE_KEY = "1000"  # a token id every tokenizer has
PATH = "/v1/chat/completions"
LIMIT_FIELDS = ("max_tokens", "max_completion_tokens")


@dataclass
class Finding:
    """One distinct failure: a check, a field, what happened first, and how often."""

    check: str
    field: str
    outcome: Outcome
    pointer: str
    message: str
    exchange: Exchange
    count: int = 1


@dataclass
class ModeReport:
    """What one generation mode did."""

    mode: str
    sent: int = 0
    by_phase: dict[str, int] = field(default_factory=dict)
    not_sent: int = 0
    stopped: str | None = None
    findings: dict[tuple[str, str], Finding] = field(default_factory=dict)

    def add(self, finding: Finding) -> None:
        key = (finding.check, finding.field)
        if key in self.findings:
            self.findings[key].count += 1
        else:
            self.findings[key] = finding


def _schema(contract: Contract, mode: str, max_examples: int) -> Any:
    document = copy.deepcopy(contract.document)
    request = document["components"]["schemas"]["ChatCompletionRequest"]
    for ranged in contract.ranged_fields():
        if ranged.pointer.endswith("/additionalProperties"):
            # the coverage phase does not reach the bounds of map values; one sample key with the same schema
            # (an equivalent contract) lets it send `logit_bias: {"1000": 100.01}` and the like
            node = request["properties"][ranged.name]
            node["properties"] = {SAMPLE_KEY: copy.deepcopy(node["additionalProperties"])}
    if mode == "positive":
        # a closed request schema makes valid bodies ~5x faster to generate; never for negative generation,
        # where it would produce unknown keys that real servers rightly ignore
        document["components"]["schemas"]["ChatCompletionRequest"]["additionalProperties"] = False
    config = schemathesis.Config.from_dict(
        {
            "checks": {
                "negative_data_rejection": {"expected-statuses": ["4xx"]},
                "positive_data_acceptance": {"expected-statuses": ["2xx"]},
            },
            "output": {"sanitization": {"sensitive-markers": ["authorization"]}},
        }
    )
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
    schema.config.phases.update(phases=["examples", "coverage", "fuzzing"])
    return schema


def _integer_fields(contract: Contract) -> set[str]:
    out = set()
    for name, node in contract.node(f"{REQUEST_SCHEMA}/properties").items():
        types = node.get("type", [])
        if "integer" in (types if isinstance(types, list) else [types]):
            out.add(name)
    return out


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def prepare(body: Any, mode: str, facts: Facts, integers: set[str], target: str = "body") -> Any:
    """Make a generated body cheap and aimed at the target, without repairing what a negative case broke; None
    when it cannot be sent cheaply (design.md rule 9).

    Every body gets a numeric completion limit of at most `GENERATED_LIMIT` and `n` at most `MAX_N`. Positive:
    the run's model, whole floats as integers. Negative: the model only where it is a string (a string is a
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
    caps = {"max_tokens": GENERATED_LIMIT, "max_completion_tokens": GENERATED_LIMIT, "n": MAX_N}
    if target in caps and _number(body.get(target)) and body[target] > caps[target]:
        return None
    for name in LIMIT_FIELDS:
        if name == target:
            continue
        value = body.get(name)
        small = isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= GENERATED_LIMIT
        if (name in body or name == "max_completion_tokens" or target in LIMIT_FIELDS) and not small:
            body[name] = GENERATED_LIMIT
    if target != "n" and isinstance(body.get("n"), int) and body["n"] > MAX_N:
        body["n"] = MAX_N
    if mode == "negative" and target in body:
        # meet the contract's rules that tie the broken field to another (`top_logprobs` needs `logprobs: true`),
        # so that the field's own break is what the server must reject
        for rule in facts.contract.node(REQUEST_SCHEMA).get("allOf", []):
            if rule.get("if", {}).get("required") == [target]:
                for name, then in rule.get("then", {}).get("properties", {}).items():
                    if "const" in then:
                        body[name] = then["const"]
    return body


def _field_of(case: Any, mode: str) -> str:
    """The request field a negative case broke, when schemathesis says; else `body`."""
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


def _response(exchange: Exchange) -> httpx.Response:
    request = httpx.Request("POST", exchange.url)
    response = httpx.Response(
        exchange.status or 0, headers=exchange.response_headers, content=exchange.text.encode(), request=request
    )
    response.elapsed = timedelta(seconds=exchange.elapsed_s)
    return response


CHECKS: dict[str, Callable[..., Any]] = {
    "not_a_server_error": schemathesis.checks.not_a_server_error,
    "negative_data_rejection": openapi_checks.negative_data_rejection,
    "positive_data_acceptance": openapi_checks.positive_data_acceptance,
    "status_code_conformance": openapi_checks.status_code_conformance,
    "content_type_conformance": openapi_checks.content_type_conformance,
    "response_schema_conformance": openapi_checks.response_schema_conformance,
}
OURS: dict[str, Callable[[Facts, Exchange], str | None]] = {
    "error_envelope": error_envelope,
    "usage_arithmetic": usage_arithmetic,
    "stream_chunks": stream_chunks,
}


def _applicable(exchange: Exchange, mode: str) -> list[str]:
    status = exchange.status or 0
    names = ["not_a_server_error", "status_code_conformance", "content_type_conformance"]
    names.append("negative_data_rejection" if mode == "negative" else "positive_data_acceptance")
    if status >= 400:
        names.append("error_envelope")
    elif exchange.content_type == "application/json":
        names += ["response_schema_conformance", "usage_arithmetic"]
    elif exchange.content_type == "text/event-stream":
        names.append("stream_chunks")
    return names


def _judge(facts: Facts, case: Any, exchange: Exchange, mode: str, report: ModeReport) -> None:
    response = _response(exchange)
    field_name = _field_of(case, mode)
    contract = facts.contract
    for name in _applicable(exchange, mode):
        if name in ("positive_data_acceptance", "negative_data_rejection") and (exchange.status or 0) >= 500:
            continue  # not_a_server_error names it
        if name in OURS:
            problem = OURS[name](facts, exchange)
            if problem:
                report.add(_finding(contract, name, field_name, mode, exchange, problem))
            continue
        try:
            case.validate_response(response, checks=[CHECKS[name]])
        except (FailureGroup, Failure, AssertionError) as exc:
            failures = list(exc.exceptions) if isinstance(exc, FailureGroup) else [exc]
            text = "; ".join(str(f).replace("\n\n", ": ").splitlines()[0][:300] for f in failures)
            report.add(_finding(contract, name, field_name, mode, exchange, text))


def _finding(contract: Contract, check: str, field_name: str, mode: str, exchange: Exchange, text: str) -> Finding:
    sent = "a generated valid request" if mode == "positive" else "a generated invalid request"
    outcome = Outcome.FAILED
    request_pointer = (
        contract.field_pointer(field_name)
        if field_name in contract.node(f"{REQUEST_SCHEMA}/properties")
        else REQUEST_SCHEMA
    )
    pointer = request_pointer
    if check == "positive_data_acceptance":
        outcome = Outcome.WARNED
        text = f"{text} (the contract allows it; a server may refuse by its own limits)"
    elif check == "response_schema_conformance":
        body = exchange.json
        problems = contract.schema_errors(RESPONSE_SCHEMA, body) if isinstance(body, dict) else []
        field_name = problems[0].split("/", 1)[0].split(":", 1)[0] if problems else "body"
        pointer = RESPONSE_SCHEMA
    elif check == "error_envelope":
        field_name, pointer = "error", ERROR_SCHEMA
    elif check == "stream_chunks":
        field_name, pointer = "chunk", CHUNK_SCHEMA
    elif check == "usage_arithmetic":
        field_name, pointer = "usage", "#/components/schemas/CompletionUsage/properties/total_tokens"
    elif check in ("content_type_conformance", "status_code_conformance"):
        field_name, pointer = "body", f"{OPERATION}/responses/200"
    elif check == "not_a_server_error" and exchange.content_type == "text/event-stream":
        pointer = CHUNK_SCHEMA
    message = f"{check}: sent {sent}; got {exchange.describe(300)}: {text}"
    return Finding(check, field_name, outcome, pointer, message, exchange)


def run_mode(facts: Facts, client: TargetClient, mode: str, max_examples: int | None) -> ModeReport:
    """Generate and send one mode's requests (examples, coverage, fuzzing); return what was found."""
    examples = max_examples or DEFAULT_MAX_EXAMPLES
    schema = _schema(facts.contract, mode, examples)
    operation = schema[PATH]["POST"]
    integers = _integer_fields(facts.contract)
    report = ModeReport(mode)
    scenarios: set[str] = set()

    def one(case: Any) -> None:
        phase = case.meta.phase.name.value if case.meta is not None else "fuzzing"
        if report.stopped or _skip_reason(case):
            report.not_sent += 1
            return
        if phase == "coverage":
            scenario = getattr(case.meta.phase.data, "description", "") or ""
            key = f"{scenario}|{_field_of(case, mode)}"
            if key in scenarios or len(scenarios) >= COVERAGE_CAP:
                report.not_sent += 1
                return
            scenarios.add(key)
        body = prepare(case.body, mode, facts, integers, _field_of(case, mode))
        if body is None:
            report.not_sent += 1  # it would be costly: a limit or `n` above the cap
            return
        case.body = body
        try:
            if isinstance(body, NotSet):
                exchange = client.chat("", raw=True)
            elif isinstance(body, bytes | str):
                exchange = client.chat(body.decode("latin-1") if isinstance(body, bytes) else body, raw=True)
            else:
                exchange = client.chat(body)
        except BudgetExhausted as exc:
            report.stopped = str(exc)
            return
        report.sent += 1
        report.by_phase[phase] = report.by_phase.get(phase, 0) + 1
        problem = infrastructure_problem(facts.contract, exchange)
        if problem:
            report.stopped = problem
            return
        _judge(facts, case, exchange, mode, report)

    settings = hypothesis.settings(
        max_examples=examples,
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
            modes=[HypothesisTestMode.EXAMPLES, HypothesisTestMode.COVERAGE, HypothesisTestMode.FUZZING],
            settings=settings,
            apply_ci_profile=False,  # Hypothesis' `ci` profile (loaded when CI is set) would derandomize the run
            seed=facts.seed,
        ),
    )
    test()
    return report


def run_summary(driver: Driver, check: Check) -> list[Result]:
    """Run one generation mode: its summary result first, then one result per distinct finding."""
    mode = check.params["mode"]
    report = run_mode(driver.facts, driver.client, mode, driver.max_examples)
    phases = ", ".join(f"{phase} {count}" for phase, count in sorted(report.by_phase.items())) or "none"
    summary = (
        f"{report.sent} generated {mode} requests sent ({phases}); {report.not_sent} not sent "
        f"(duplicate coverage scenarios, other methods, header mutations); {len(report.findings)} distinct findings"
    )
    if report.stopped:
        summary += f"; stopped early: {report.stopped}"
    contract = driver.facts.contract
    outcomes = {finding.outcome for finding in report.findings.values()}
    worst = next((o for o in (Outcome.FAILED, Outcome.WARNED) if o in outcomes), Outcome.PASSED)
    outcome = worst if report.sent else Outcome.SKIPPED
    worst_first = [f for f in report.findings.values() if f.outcome is outcome]
    shown = (worst_first[0].exchange,) if worst_first else ()
    if worst_first:
        summary += f"; the first {outcome.value} one: property.{worst_first[0].check}.{worst_first[0].field}"
    level = check.level
    out = [make_result(contract, check.id, check.pointer, check.field, outcome, summary, level=level, exchanges=shown)]
    for finding in report.findings.values():
        rid = f"property.{finding.check}.{finding.field}"
        message = finding.message + (f" ({finding.count} requests)" if finding.count > 1 else "")
        out.append(
            make_result(
                contract, rid, finding.pointer, finding.field, finding.outcome, message, exchanges=(finding.exchange,)
            )
        )
    return out
