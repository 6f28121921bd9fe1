"""Edge values for every request field, one field at a time on the minimal valid request.

What schemathesis' coverage phase sends, made deliberate: for each field (the top level, and one level into
messages, tools and `response_format`), values at and past its stated bounds, `null`, a wrong type, and the
edges of its type (integers: negative and extreme; strings: empty, long, unusual unicode; arrays: empty, an
empty-string item, many items; objects: empty). Each value rides on the minimal valid request with the fields
it depends on (`logprobs: true` beside `top_logprobs`), so a finding names its field exactly. No I/O.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from conformance.checks import Facts
from conformance.checks import body as body_of
from conformance.checks.requests import SAMPLE_TOKEN as SAMPLE_KEY
from conformance.contract import REQUEST_SCHEMA, Contract
from conformance.driver.attribution import CAP, costly, ready

__all__ = ["CAPABILITY_OF", "LONG", "MISSING", "Spot", "edge_body", "edge_cases", "edge_values", "spots"]

MISSING = object()  # an edge "value": the field left out

LONG = 4096  # characters of a long string: past common limits, still cheap as a prompt
MANY = 64  # items of a long array
UNICODE = "\u202e\u200b\U0001f600\ufffd\u00e9\u0301"  # right-to-left mark, zero width, emoji, replacement, combining
CAPABILITY_OF = {
    "tools": "tools",
    "tool_choice": "tools",
    "parallel_tool_calls": "tools",
    "functions": "tools",
    "function_call": "tools",
    "logprobs": "logprobs",
    "top_logprobs": "logprobs",
    "n": "n",
    "response_format": "response_format",
    "stream": "stream",
    "stream_options": "stream",
}
FUNCTION = {"name": "get_current_weather", "parameters": {"type": "object", "properties": {}}}
SCHEMAS = "#/components/schemas"


@dataclass(frozen=True)
class Spot:
    """Where a field's value goes: its dotted name, its schema, and how a request carries a value there."""

    field: str
    pointer: str
    place: Callable[[Any], dict[str, Any]]

    @property
    def top(self) -> str:
        return self.field.split(".", 1)[0]


def _top(name: str) -> Callable[[Any], dict[str, Any]]:
    return lambda value: {name: value}


NESTED: list[tuple[str, str, Callable[[Any], dict[str, Any]]]] = [
    ("messages.role", f"{SCHEMAS}/UserMessage/properties/role", lambda v: {"messages": [{"role": v, "content": "hi"}]}),
    (
        "messages.content",
        f"{SCHEMAS}/UserMessage/properties/content",
        lambda v: {"messages": [{"role": "user", "content": v}]},
    ),
    (
        "messages.name",
        f"{SCHEMAS}/UserMessage/properties/name",
        lambda v: {"messages": [{"role": "user", "content": "hi", "name": v}]},
    ),
    ("tools.type", f"{SCHEMAS}/Tool/properties/type", lambda v: {"tools": [{"type": v, "function": FUNCTION}]}),
    (
        "tools.function",
        f"{SCHEMAS}/Tool/properties/function",
        lambda v: {"tools": [{"type": "function", "function": v}]},
    ),
    ("response_format.type", f"{SCHEMAS}/ResponseFormat/properties/type", lambda v: {"response_format": {"type": v}}),
    (
        "response_format.json_schema",
        f"{SCHEMAS}/ResponseFormat/properties/json_schema",
        lambda v: {"response_format": {"type": "json_schema", "json_schema": v}},
    ),
]


def spots(contract: Contract) -> list[Spot]:
    """Every field the edge values go to: the request's properties, then one level into three of them."""
    out = [
        Spot(name, contract.field_pointer(name), _top(name)) for name in contract.node(f"{REQUEST_SCHEMA}/properties")
    ]
    out += [Spot(name, pointer, place) for name, pointer, place in NESTED if _resolves(contract, pointer)]
    return out


def _resolves(contract: Contract, pointer: str) -> bool:
    try:
        contract.node(pointer)
    except KeyError:
        return False
    return True


def _branches(contract: Contract, schema: Any, depth: int = 0) -> Iterator[dict[str, Any]]:
    """The schema and the branches of its `oneOf`/`anyOf`, references resolved."""
    if not isinstance(schema, dict) or depth > 4:
        return
    if "$ref" in schema:
        yield from _branches(contract, contract.node(schema["$ref"]), depth + 1)
        return
    yield schema
    for key in ("oneOf", "anyOf"):
        for branch in schema.get(key, []):
            yield from _branches(contract, branch, depth + 1)


def _types(schema: dict[str, Any]) -> list[str]:
    kind = schema.get("type")
    if isinstance(kind, list):
        return [str(k) for k in kind]
    if isinstance(kind, str):
        return [kind]
    values = schema.get("enum", [schema["const"]] if "const" in schema else [])
    names = {bool: "boolean", str: "string", int: "integer", float: "number", type(None): "null"}
    return sorted({names.get(type(v), "object") for v in values})


def _numbers(schema: dict[str, Any], integer: bool) -> list[tuple[str, Any]]:
    low, high = schema.get("minimum"), schema.get("maximum")
    step = 1 if integer else 0.01
    out: list[tuple[str, Any]] = []
    if low is None:
        out += [("negative", -1 if integer else -1.5), ("extreme negative", -(2**31) if integer else -1e9)]
    else:
        out += [("at minimum", low), ("below minimum", round(low - step, 6))]
    if high is None:
        out += [("extreme", 2**31 if integer else 1e9)]
    else:
        out += [("at maximum", high), ("above maximum", round(high + step, 6))]
    out.append(("zero", 0))
    if not integer:
        out.append(("fraction", 0.5))
    return out


def _strings(schema: dict[str, Any]) -> list[tuple[str, Any]]:
    members = schema.get("enum", [schema["const"]] if "const" in schema else None)
    if members is not None:
        return [(f"member {m!r}", m) for m in members if isinstance(m, str)] + [("not a member", "conformance-unknown")]
    return [("empty string", ""), ("long string", "x" * LONG), ("unusual unicode", UNICODE)]


def _item(contract: Contract, schema: dict[str, Any]) -> Any:
    """A plain item for an array of `schema`'s items (a long array repeats it)."""
    for branch in _branches(contract, schema.get("items", {})):
        types = _types(branch)
        if "string" in types:
            members = branch.get("enum", [branch["const"]] if "const" in branch else ["a"])
            return members[0]
        if "object" in types:
            return {}
        if "integer" in types or "number" in types:
            return 1
    return "a"


def _value_edges(contract: Contract, schema: dict[str, Any]) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for branch in _branches(contract, schema):
        for kind in _types(branch):
            if kind in ("integer", "number"):
                out += _numbers(branch, kind == "integer")
    return [*out, ("wrong type", "x")]


def edge_values(contract: Contract, pointer: str) -> list[tuple[str, Any]]:
    """(label, value) edge values for the schema at `pointer`, both valid and invalid, without repeats."""
    out: list[tuple[str, Any]] = []
    types: set[str] = set()
    for branch in _branches(contract, contract.node(pointer)):
        kinds = _types(branch)
        types |= set(kinds)
        for kind in kinds:
            if kind in ("integer", "number"):
                out += _numbers(branch, kind == "integer")
            elif kind == "string":
                out += _strings(branch)
            elif kind == "boolean":
                out += [("true", True), ("false", False)]
            elif kind == "array":
                item = _item(contract, branch)
                out += [("empty array", []), ("empty-string item", [""]), ("many items", [item] * MANY)]
            elif kind == "object":
                out.append(("empty object", {}))
                values = branch.get("additionalProperties")
                if isinstance(values, dict) and values:  # a map (logit_bias): the edges of its values, and of its keys
                    for label, value in _value_edges(contract, values):
                        out.append((f"map value {label}", {SAMPLE_KEY: value}))
                    if isinstance(branch.get("propertyNames"), dict):
                        out.append(("map key not a token id", {"conformance": 1}))
            elif kind == "null":
                out.append(("null", None))
    if "null" not in types:
        out.append(("null", None))
    if not types & {"string"}:
        out.append(("wrong type: a string", "x"))
    elif not types & {"integer", "number"}:
        out.append(("wrong type: a number", 1))
    seen: set[str] = set()
    unique = []
    for label, value in out:
        key = json.dumps(value, sort_keys=True)
        if key not in seen:
            seen.add(key)
            unique.append((label, value))
    return unique


def edge_cases(contract: Contract, spot: Spot) -> list[tuple[str, Any]]:
    """What the edge-values phase sends for `spot`: its edge values, and its absence when it is required. The
    model: any other value is an unknown model (request.model.* judge that); only its absence is sent."""
    values = [] if spot.field == "model" else edge_values(contract, spot.pointer)
    if spot.field in contract.node(REQUEST_SCHEMA).get("required", []):
        values.append(("missing", MISSING))
    return values


def edge_body(facts: Facts, spot: Spot, value: Any) -> dict[str, Any] | None:
    """The minimal request with one field's edge value (and what it depends on); None when costly."""
    body = body_of(facts, CAP)
    if value is MISSING:
        body.pop(spot.top, None)
        return body
    if costly(spot.top, value):
        return None
    placed = spot.place(copy.deepcopy(value))
    body.update(placed)
    return ready(facts, body, {spot.top})
