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

__all__ = [
    "CAPABILITY_OF",
    "LONG",
    "MISSING",
    "Shape",
    "Spot",
    "companion_control",
    "edge_body",
    "edge_cases",
    "edge_values",
    "shapes",
    "spots",
]

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


# a nested field whose place sets a companion field too (`type: json_schema` beside `json_schema`): when the
# companion with an ordinary value beside it shows the same finding, the companion is to blame, not the value
COMPANIONS = {"response_format.json_schema": "response_format.type"}


def companion_control(contract: Contract, field: str) -> tuple[dict[str, Any], str] | None:
    """For a field in or under a nested place with a companion: the request fields with an ordinary value there,
    and the companion's dotted name; None otherwise."""
    for prefix, blamed in COMPANIONS.items():
        if field == prefix or field.startswith(prefix + "."):
            for name, pointer, place in NESTED:
                if name == prefix and _resolves(contract, pointer):
                    return place(_ordinary(contract, prefix.rsplit(".", 1)[-1], contract.node(pointer))), blamed
    return None


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


# -- optional shapes: each object of the request with all its properties, then without each optional one -----

USER = {"role": "user", "content": "hi"}
CALL = {
    "role": "assistant",
    "content": None,
    "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": FUNCTION["name"], "arguments": "{}"}}],
}
# ordinary values by property name, where "a" or 1 would not be an ordinary use
ORDINARY: dict[str, Any] = {
    "type": "function",
    "arguments": "{}",
    "parameters": {"type": "object", "properties": {}},
    "schema": {"type": "object", "properties": {}},
    "name": FUNCTION["name"],
    "id": "call_1",
    "tool_call_id": "call_1",
    "content": "hi",
    "strict": False,
}
OBJECTS: list[tuple[str, str, Callable[[Any], dict[str, Any]]]] = [
    ("messages", f"{SCHEMAS}/SystemMessage", lambda m: {"messages": [m, USER]}),
    ("messages", f"{SCHEMAS}/DeveloperMessage", lambda m: {"messages": [m, USER]}),
    ("messages", f"{SCHEMAS}/UserMessage", lambda m: {"messages": [m]}),
    ("messages", f"{SCHEMAS}/AssistantMessage", lambda m: {"messages": [USER, m, USER]}),
    ("messages", f"{SCHEMAS}/ToolMessage", lambda m: {"messages": [USER, CALL, m]}),
    ("tools", f"{SCHEMAS}/Tool", lambda t: {"tools": [t]}),
    (
        "response_format.json_schema",
        f"{SCHEMAS}/JsonSchemaResponseFormat",
        lambda o: {"response_format": {"type": "json_schema", "json_schema": o}},
    ),
    ("stream_options", f"{SCHEMAS}/StreamOptions", lambda o: {"stream": True, "stream_options": o}),
]


@dataclass(frozen=True)
class Shape:
    """A documented object sent whole, or without one optional property, or with one nullable property null:
    the request fields that carry it, and the dotted field the variant is about."""

    field: str
    label: str
    fields: dict[str, Any]

    @property
    def top(self) -> str:
        return self.field.split(".", 1)[0]


def _resolved(contract: Contract, schema: Any) -> dict[str, Any]:
    while isinstance(schema, dict) and "$ref" in schema:
        schema = contract.node(schema["$ref"])
    return schema if isinstance(schema, dict) else {}


def _ordinary(contract: Contract, name: str, schema: Any, depth: int = 0) -> Any:
    """An ordinary value for property `name` of `schema`: its constant, its first member, or a plain value of its
    first type that is not null (objects with every property, arrays of one item)."""
    schema = _resolved(contract, schema)
    if "const" in schema:
        return schema["const"]
    members = [m for m in schema.get("enum", []) if m is not None]
    if members:
        return members[0]
    if name in ORDINARY:
        return ORDINARY[name]
    for branch in schema.get("oneOf", []) + schema.get("anyOf", []):
        if "null" not in _types(_resolved(contract, branch)):
            return _ordinary(contract, name, branch, depth + 1)
    kinds = [k for k in _types(schema) if k != "null"]
    kind = kinds[0] if kinds else "object"
    if kind == "object" and depth < 4:
        return {k: _ordinary(contract, k, v, depth + 1) for k, v in schema.get("properties", {}).items()}
    if kind == "array" and depth < 4:
        return [_ordinary(contract, name, schema.get("items", {}), depth + 1)]
    return {"string": "a", "integer": 1, "number": 1, "boolean": True, "object": {}, "array": []}.get(kind, "a")


def _stated_required(contract: Contract, schema: dict[str, Any]) -> set[str]:
    """The properties a schema requires by a stated constraint (a `required` the capture added is optional in
    the documents: a tool message without `tool_call_id`)."""
    out = set(schema.get("required", [])) if "required" not in (schema.get("x-captured") or {}) else set()
    for part in schema.get("allOf", []):
        out |= _stated_required(contract, _resolved(contract, part))
    return out


def _nullable(contract: Contract, schema: Any) -> bool:
    schema = _resolved(contract, schema)
    branches = [schema, *(_resolved(contract, b) for b in schema.get("oneOf", []) + schema.get("anyOf", []))]
    return any("null" in _types(b) for b in branches if b)


def _variants(
    contract: Contract, path: str, schema: dict[str, Any], whole: dict[str, Any], depth: int = 0
) -> Iterator[tuple[str, str, dict[str, Any]]]:
    required = _stated_required(contract, schema)
    for name, sub in schema.get("properties", {}).items():
        field = f"{path}.{name}"
        if name not in required:
            yield field, "without it", {k: v for k, v in whole.items() if k != name}
        if _nullable(contract, sub):
            yield field, "null", {**whole, name: None}
        inner = _resolved(contract, sub)
        if depth < 2 and isinstance(whole.get(name), dict) and inner.get("properties"):
            for deeper, label, value in _variants(contract, field, inner, whole[name], depth + 1):
                yield deeper, label, {**whole, name: value}


def shapes(contract: Contract) -> list[Shape]:
    """Every documented request object sent whole, then without each optional property (and its optional
    sub-properties), then with each nullable property null: one request each."""
    out: list[Shape] = []
    seen: set[str] = set()
    for path, pointer, place in OBJECTS:
        if not _resolves(contract, pointer):
            continue
        schema = _resolved(contract, contract.node(pointer))
        whole = _ordinary(contract, path, schema)
        variants = [(path, "whole", whole), *_variants(contract, path, schema, whole)]
        for field, label, value in variants:
            fields = place(value)
            key = json.dumps(fields, sort_keys=True)
            if key not in seen:
                seen.add(key)
                out.append(Shape(field, label, fields))
    return out
