"""What the property layer asks schemathesis for, and how a generated body is made cheap and aimed: its schema per
generation mode, the field a case broke, the cases not sent, and where Hypothesis keeps its caches. Also what the
layer sends before sending it (edge values, optional shapes, at most `generated_bound` generated requests per mode):
`driver.property` sends these, `driver.plan` counts them, so the plan and the run agree by construction."""

from __future__ import annotations

import contextlib
import copy
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hypothesis
import hypothesis.configuration
import schemathesis
from schemathesis.core import NotSet
from schemathesis.core.parameters import ParameterLocation
from schemathesis.generation.hypothesis.builder import HypothesisTestConfig, HypothesisTestMode, create_test
from schemathesis.generation.modes import GenerationMode

from conformance.checks import Facts
from conformance.checks import body as body_of
from conformance.checks.requests import SAMPLE_TOKEN as SAMPLE_KEY
from conformance.contract import REQUEST_SCHEMA, Contract
from conformance.driver.attribution import CAP, MAX_N, completion_ceiling, costly, ready
from conformance.driver.edges import CAPABILITY_OF, companion_control, edge_body, edge_cases, shapes, spots

__all__ = [
    "DEFAULT_MAX_EXAMPLES",
    "PATH",
    "Control",
    "Generated",
    "GeneratedCase",
    "Planned",
    "edge_requests",
    "field_of",
    "generate",
    "generated_bound",
    "generated_ceiling",
    "hypothesis_home",
    "integer_fields",
    "no_local_constants",
    "prepare",
    "schema_for",
    "shape_requests",
    "skip_reason",
]

DEFAULT_MAX_EXAMPLES = 20  # fuzzing examples per generation mode, unless --max-examples
PATH = "/v1/chat/completions"

# a control body, the field to blame, and whether it is blamed when the control shows the finding too (always,
# today: the whole object of an optional shape, a companion with an ordinary value beside it)
Control = tuple[dict[str, Any], str, bool]


@dataclass(frozen=True)
class Planned:
    """One request the layer will send: its phase, the body (raw text when `raw`), the fields a finding is first
    blamed on (`suspects`), the one field it is about when it is an edge value or a shape (`exact`), and the
    control body of that field, if any."""

    phase: str
    body: Any
    raw: bool = False
    suspects: tuple[str, ...] = ()
    exact: str | None = None
    control: Control | None = None


def schema_for(contract: Contract, mode: str, max_examples: int) -> Any:
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


def integer_fields(contract: Contract) -> set[str]:
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
    valid model, so nothing is repaired); the run's status limit (`Facts.status_limit`) and one choice (its status
    is what is judged), except when the broken field is a limit or `n`: its value is sent only if it is not a
    number above the cap, and the other limit carries the cap; the fields the broken `target` depends on are met
    (so that it is the only break).
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
    negative = mode == "negative"
    return ready(facts, body, {target} if negative else set(), status_only=negative)


def _status_only(facts: Facts, body: dict[str, Any], top: str, validator: Any) -> dict[str, Any]:
    """An invalid request (judged by its status) at the run's status limit (`Facts.status_limit`) and one choice,
    unless that would make it valid (the field under test, `top`, is left as it is)."""
    lowered = ready(facts, body, {top}, status_only=True)
    return lowered if not validator.is_valid(lowered) else body


def field_of(case: Any, mode: str) -> str:
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


def skip_reason(case: Any) -> str | None:
    """Cases this layer does not send: other methods (not part of the contract) and header mutations (the
    auth checks own those; our client always sends the key, which would repair them)."""
    if case.method.upper() != "POST":
        return "another HTTP method"
    header = case.meta.components.get(ParameterLocation.HEADER) if case.meta is not None else None
    if header is not None and header.mode.is_negative:
        return "a header mutation"
    return None


@dataclass(frozen=True)
class GeneratedCase:
    """One body schemathesis generated, as it came (before `prepare`): its phase, the field it is about (`field_of`),
    and the body, or its raw text when it is not JSON to send (`raw`: text, bytes read as Latin-1, or none)."""

    phase: str
    target: str
    body: Any
    raw: bool


@dataclass(frozen=True)
class Generated:
    """What one generation mode generated for a seed, in order, and how many cases it does not send
    (`skip_reason`). Plain data: it crosses a process boundary (`driver.pregenerate`)."""

    mode: str
    cases: tuple[GeneratedCase, ...]
    skipped: int


def generate(contract: Contract, mode: str, max_examples: int, seed: int) -> Generated:
    """schemathesis' examples and fuzzing phases for `mode`, in order: a pure function of the contract, the mode,
    `max_examples` and the seed (the same in every process, `no_local_constants`; Hypothesis keeps its caches in
    whatever home directory is set, `hypothesis_home`). Nothing here depends on a target's answer."""
    schema = schema_for(contract, mode, max_examples)
    operation = schema[PATH]["POST"]
    cases: list[GeneratedCase] = []
    skipped = 0

    def one(case: Any) -> None:
        nonlocal skipped
        if skip_reason(case):
            skipped += 1
            return
        phase = case.meta.phase.name.value if case.meta is not None else "fuzzing"
        target = field_of(case, mode)
        body = case.body
        if isinstance(body, NotSet):
            cases.append(GeneratedCase(phase, target, "", True))
        elif isinstance(body, bytes | str):
            text = body.decode("latin-1") if isinstance(body, bytes) else body
            cases.append(GeneratedCase(phase, target, text, True))
        else:
            cases.append(GeneratedCase(phase, target, body, False))

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
            seed=seed,
        ),
    )
    with no_local_constants():  # what a seed generates does not depend on the modules loaded
        test()
    return Generated(mode, tuple(cases), skipped)


# -- sending and judging -------------------------------------------------------------------------------------


@contextlib.contextmanager
def hypothesis_home() -> Iterator[str]:
    """Where Hypothesis keeps its caches during the layer: the user's cache directory (`$XDG_CACHE_HOME` or
    `~/.cache`, under `conformance/hypothesis`), so its table of the characters a codec can encode (about 3 s of
    CPU to build) is built once per machine, not once per run; a temporary directory when that is not writable.
    No example database is kept (`database=None`): nothing there changes what a run sends."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "conformance" / "hypothesis"
    try:
        base.mkdir(parents=True, exist_ok=True)
        probe = base / f".probe-{os.getpid()}"
        probe.write_text("")
        probe.unlink()
    except OSError:
        with tempfile.TemporaryDirectory(prefix="conformance-hypothesis-") as home:
            yield home
        return
    yield str(base)


# -- planned before sending (the layer sends these; `driver.plan` counts them) ------------------------------


def _companion(facts: Facts, field: str) -> Control | None:
    """The control of a field with a companion (`edges.companion_control`): blamed when the control shows it."""
    found = companion_control(facts.contract, field)
    if found is None:
        return None
    top = field.split(".", 1)[0]
    return ready(facts, {**body_of(facts, CAP), **found[0]}, {top}), found[1], True


def edge_requests(facts: Facts, mode: str, refused: frozenset[str]) -> tuple[list[Planned], int]:
    """Every field's edge values that are cases of `mode` (valid for positive, invalid for negative), on the minimal
    request; and how many were not sent as costly. Fields of a `refused` capability are left out."""
    validator = facts.contract.fast(REQUEST_SCHEMA)
    planned: list[Planned] = []
    costly_values = 0
    for spot in spots(facts.contract):
        if CAPABILITY_OF.get(spot.top) in refused:
            continue
        for _label, value in edge_cases(facts.contract, spot):
            body = edge_body(facts, spot, value)
            if body is None:
                costly_values += 1
                continue
            if validator.is_valid(body) == (mode == "positive"):
                control = _companion(facts, spot.field)
                if mode == "negative":
                    body = _status_only(facts, body, spot.top, validator)
                planned.append(Planned("edge values", body, False, (spot.top,), spot.field, control))
    return planned, costly_values


def shape_requests(facts: Facts, mode: str, refused: frozenset[str]) -> list[Planned]:
    """The documented request objects whole, without each optional property and with each nullable one null
    (`edges.shapes`), those whose validity puts them in `mode` (a property only the capture requires is optional
    in the documents: its absence is a negative case)."""
    validator = facts.contract.fast(REQUEST_SCHEMA)
    whole: dict[str, Any] = {}
    path = ""
    planned: list[Planned] = []
    for shape in shapes(facts.contract):
        if CAPABILITY_OF.get(shape.top) in refused:
            continue
        body = ready(facts, {**body_of(facts, CAP), **copy.deepcopy(shape.fields)}, {shape.top})
        if shape.label == "whole":
            whole, path = body, shape.field
        if validator.is_valid(body) != (mode == "positive"):
            continue
        control = _companion(facts, shape.field) or ((whole, path, True) if shape.label != "whole" and whole else None)
        if mode == "negative":
            body = _status_only(facts, body, shape.top, validator)
        planned.append(Planned("optional shapes", body, False, (shape.top,), shape.field, control))
    return planned


@contextlib.contextmanager
def no_local_constants() -> Iterator[None]:
    """Hypothesis draws, now and then, the constants it finds in the source of every local module loaded: what a
    seed generates would then depend on which modules the process has imported (the command line, the pytest
    plugin, a test session) and on any edit of our own code. During generation it sees none, so the same seed sends
    the same requests in every process. Hypothesis' internals: where they are not as expected, nothing is changed."""
    try:
        from hypothesis.internal.cache import LRUCache
        from hypothesis.internal.conjecture import providers

        saved = providers._get_local_constants, providers.CONSTANTS_CACHE
        empty = copy.deepcopy(providers._local_constants)
        for kind in ("integers", "floats", "bytes", "strings"):
            getattr(empty, kind).clear()
    except (ImportError, AttributeError, TypeError):  # pragma: no cover - another Hypothesis
        yield
        return
    providers._get_local_constants = lambda: empty
    providers.CONSTANTS_CACHE = LRUCache(1024)
    try:
        yield
    finally:
        providers._get_local_constants, providers.CONSTANTS_CACHE = saved


def _examples(operation: Any) -> int:
    """How many explicit examples schemathesis' examples phase runs for `operation` (one is made up when the
    contract gives none)."""
    try:
        return max(1, len(list(operation.get_strategies_from_examples())))
    except Exception:  # what schemathesis cannot read, it does not run either
        return 1


def generated_bound(contract: Contract, mode: str, max_examples: int | None) -> int:
    """The most generated requests one mode sends: the contract's explicit examples, then `max_examples` fuzzed
    (Hypothesis runs the test once per valid example, at most `max_examples` of them)."""
    schema = schema_for(contract, mode, max_examples or DEFAULT_MAX_EXAMPLES)
    return _examples(schema[PATH]["POST"]) + (max_examples or DEFAULT_MAX_EXAMPLES)


def generated_ceiling(facts: Facts, mode: str) -> int:
    """The most completion tokens one generated request of `mode` may count (`prepare`): a valid one at most `CAP`
    x `MAX_N`; an invalid one the status limit x one choice, unless its broken field is a limit (at most `CAP`, one
    choice) or `n` (at most `MAX_N` choices of the status limit)."""
    if mode == "positive":
        return completion_ceiling({"max_completion_tokens": CAP, "n": MAX_N})
    return max(CAP, facts.status_limit * MAX_N)
