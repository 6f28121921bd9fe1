"""What the property layer asks schemathesis for, and how a generated body is made cheap and aimed: its schema per
generation mode, the field a case broke, the cases not sent, and where Hypothesis keeps its caches."""

from __future__ import annotations

import contextlib
import copy
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import schemathesis
from schemathesis.core.parameters import ParameterLocation
from schemathesis.generation.modes import GenerationMode

from conformance.checks import Facts
from conformance.checks.requests import SAMPLE_TOKEN as SAMPLE_KEY
from conformance.contract import REQUEST_SCHEMA, Contract
from conformance.driver.attribution import costly, ready

__all__ = [
    "DEFAULT_MAX_EXAMPLES",
    "PATH",
    "field_of",
    "hypothesis_home",
    "integer_fields",
    "prepare",
    "schema_for",
    "skip_reason",
]

DEFAULT_MAX_EXAMPLES = 20  # fuzzing examples per generation mode, unless --max-examples
PATH = "/v1/chat/completions"


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
