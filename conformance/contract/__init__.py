"""The captured contract: `openapi.yaml`, its profiles, clauses and validators. No I/O beyond reading the document."""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import jsonschema_rs
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from conformance.yamlsafe import YamlError, read_yaml

__all__ = [
    "CHUNK_SCHEMA",
    "ERROR_SCHEMA",
    "OPERATION",
    "PROFILES",
    "REQUEST_SCHEMA",
    "RESPONSE_SCHEMA",
    "Clause",
    "Contract",
    "ContractError",
    "RangedField",
    "Violation",
    "default_spec_path",
    "load_contract",
]

PROFILES = ("atoma", "openai")
MAX_SPEC_BYTES = 16 * 1024 * 1024  # a contract document larger than this is refused (the packaged one: 50 KB)
MAX_SPEC_NODES = 1_000_000  # and one whose aliases expand to more nodes than this (the packaged one: 3,000)
OPERATION = "#/paths/~1v1~1chat~1completions/post"
REQUEST_SCHEMA = "#/components/schemas/ChatCompletionRequest"
RESPONSE_SCHEMA = "#/components/schemas/ChatCompletionResponse"
CHUNK_SCHEMA = "#/components/schemas/ChatCompletionChunk"
ERROR_SCHEMA = "#/components/schemas/ErrorResponse"


@dataclass(frozen=True)
class RangedField:
    """A request field with an inclusive range stated in the contract."""

    name: str
    pointer: str
    minimum: float
    maximum: float
    integer: bool

    @property
    def step(self) -> float:
        """The clear step "just outside" a bound: 1 for integers, 0.01 for numbers."""
        return 1 if self.integer else 0.01


@dataclass(frozen=True)
class Violation:
    """A schema keyword an instance breaks: where it is, and why the capture added it (None: the profile's
    sources state it, docs/verdicts.md rule 8)."""

    pointer: str
    keyword: str
    captured: str | None


class ContractError(Exception):
    """The contract document cannot be read, parsed, or does not have what the suite needs."""


def default_spec_path() -> Path:
    """The packaged copy of `openapi.yaml`."""
    return Path(str(resources.files("conformance.contract").joinpath("openapi.yaml")))


@dataclass(frozen=True)
class Clause:
    """A citable part of the contract: a pointer into `openapi.yaml` and where its text comes from."""

    pointer: str
    document: str
    quote: str | None = None
    source_pointer: str | None = None
    erratum: str | None = None
    level: Literal["MUST", "SHOULD"] = "MUST"

    @property
    def ref(self) -> str:
        return f"openapi.yaml{self.pointer}"

    @property
    def citation(self) -> str:
        if self.quote:
            return f'{self.document}: "{self.quote}"'
        if self.erratum:
            return f"{self.document}: {self.erratum} (docs/errata.md)"
        return f"{self.document}: {self.source_pointer}"


def _unescape(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def resolve_pointer(document: Any, pointer: str) -> Any:
    """Resolve a JSON pointer of the form `#/a/b/0` in `document`."""
    node = document
    for raw in pointer.lstrip("#").split("/")[1:]:
        token = _unescape(raw)
        if isinstance(node, list):
            node = node[int(token)]
        elif isinstance(node, dict) and token in node:
            node = node[token]
        else:
            raise KeyError(f"pointer {pointer} does not resolve at {token!r}")
    return node


def apply_profile(document: Any, profile: str) -> Any:
    """Return a copy of `document` with every `x-profiles.<profile>` overlay merged into its node."""

    def walk(node: Any) -> Any:
        if isinstance(node, list):
            return [walk(item) for item in node]
        if not isinstance(node, dict):
            return node
        out = {key: walk(value) for key, value in node.items() if key != "x-profiles"}
        overlay = node.get("x-profiles", {}).get(profile)
        if overlay:
            out.update(walk(copy.deepcopy(overlay)))
        return out

    return walk(document)


class Contract:
    """The effective contract: `openapi.yaml` with one profile applied."""

    def __init__(self, raw: dict[str, Any], profile: str, path: Path) -> None:
        if profile not in PROFILES:
            raise ContractError(f"unknown profile {profile!r} (choose from {', '.join(PROFILES)})")
        self.raw = raw
        self.profile = profile
        self.path = path
        self.document: dict[str, Any] = apply_profile(raw, profile)
        for pointer in (OPERATION, REQUEST_SCHEMA, RESPONSE_SCHEMA, CHUNK_SCHEMA, ERROR_SCHEMA):
            try:
                resolve_pointer(self.document, pointer)
            except KeyError as exc:
                raise ContractError(f"{path}: {exc}") from None

    @cached_property
    def sha256(self) -> str:
        """sha256 of the effective contract, serialised canonically."""
        canonical = json.dumps(self.document, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(canonical.encode()).hexdigest()

    def node(self, pointer: str) -> Any:
        return resolve_pointer(self.document, pointer)

    def field_pointer(self, field: str) -> str:
        """Pointer of a top-level request field's schema, e.g. `temperature`."""
        return f"{REQUEST_SCHEMA}/properties/{_escape(field)}"

    def field(self, field: str) -> dict[str, Any]:
        """The schema of a top-level request field."""
        node = self.node(self.field_pointer(field))
        assert isinstance(node, dict)
        return node

    def pointer_at(self, schema: str, path: Sequence[str | int]) -> str:
        """The pointer of the deepest cited schema (one `clause()` resolves) on the way to the value at `path` (keys
        and indexes) in an instance of the schema at `schema`: following properties, items, `$ref` and the first
        `anyOf`/`oneOf`/`allOf` branch that has the next key; it stops where the path leaves the document."""
        pointer = schema
        visited = [schema]
        for key in path:
            node = self.node(pointer)
            while isinstance(node, dict) and "$ref" in node:
                pointer = node["$ref"]
                node = self.node(pointer)
            if not isinstance(node, dict):
                break
            if isinstance(key, int) or key.isdigit():
                if "items" not in node:
                    break
                pointer = f"{pointer}/items"
            elif key in node.get("properties", {}):
                pointer = f"{pointer}/properties/{_escape(key)}"
            else:
                branch = self._branch_with(pointer, node, key)
                if branch is None:
                    break
                pointer = f"{branch}/properties/{_escape(key)}"
            visited.append(pointer)
        for candidate in reversed(visited):
            try:
                self.clause(candidate)
            except ContractError:
                continue
            return candidate
        return schema

    def _branch_with(self, pointer: str, node: dict[str, Any], key: str) -> str | None:
        for keyword in ("anyOf", "oneOf", "allOf"):
            for i, option in enumerate(node.get(keyword, [])):
                where = f"{pointer}/{keyword}/{i}"
                while isinstance(option, dict) and "$ref" in option:
                    where = option["$ref"]
                    option = self.node(where)
                if isinstance(option, dict) and key in option.get("properties", {}):
                    return where
        return None

    def problem(self) -> str | None:
        """The first reason this document cannot drive a run, or None: a component schema that is not a valid
        JSON Schema, a ranged field whose bounds are not numbers, a clause without its source."""
        from jsonschema.exceptions import SchemaError

        schemas = self.document.get("components", {}).get("schemas", {}) if isinstance(self.document, dict) else {}
        if not isinstance(schemas, dict) or not schemas:
            return "no components.schemas"
        for name, schema in schemas.items():
            try:
                Draft202012Validator.check_schema(schema)
            except SchemaError as exc:
                where = "/".join(str(p) for p in exc.absolute_path)
                return f"#/components/schemas/{name}/{where}: {exc.message}"
            source = schema.get("x-source") if isinstance(schema, dict) else None
            if source is not None and not (isinstance(source, dict) and isinstance(source.get("document"), str)):
                return f"#/components/schemas/{name}: x-source must name its document"
        try:
            self.ranged_fields()
        except Exception as exc:
            return f"a ranged field cannot be read: {type(exc).__name__}: {exc}"
        return None

    def clause(self, pointer: str) -> Clause:
        """The clause at `pointer`: its own `x-source`, or that of the nearest ancestor that has one."""
        parts = pointer.lstrip("#").split("/")[1:]
        for end in range(len(parts), -1, -1):
            candidate = "#/" + "/".join(parts[:end]) if end else "#"
            node = resolve_pointer(self.document, candidate) if end else self.document
            source = node.get("x-source") if isinstance(node, dict) else None
            if source:
                return Clause(
                    pointer=pointer,
                    document=source["document"],
                    quote=source.get("quote"),
                    source_pointer=source.get("pointer"),
                    erratum=source.get("erratum"),
                    level="SHOULD" if node.get("x-level") == "SHOULD" else "MUST",
                )
        raise ContractError(f"no x-source for {pointer}")

    @cached_property
    def _registry(self) -> Registry[Any]:
        resource: Resource[Any] = Resource.from_contents(self.document, default_specification=DRAFT202012)
        registry: Registry[Any] = Registry().with_resource("urn:contract", resource)
        return registry

    def validator(self, pointer: str) -> Draft202012Validator:
        """A JSON Schema validator for the schema at `pointer` (refs resolve in the contract)."""
        return Draft202012Validator({"$ref": f"urn:contract{pointer}"}, registry=self._registry)

    def is_valid(self, pointer: str, instance: Any) -> bool:
        """Whether `instance` is valid under the schema at `pointer`: the same answer as `validator(pointer)`,
        compiled once per pointer by jsonschema-rs (several hundred times faster on a request body); the Python
        validator where jsonschema-rs cannot take the document or the value."""
        fast: dict[str, Any] = self.__dict__.setdefault("_fast", {})
        if pointer not in fast:
            try:
                fast[pointer] = jsonschema_rs.Draft202012Validator({**self.document, "$ref": pointer})
            except BaseException as exc:  # a document jsonschema-rs cannot compile: the Python validator decides
                _reraise_interrupt(exc)
                fast[pointer] = None
        validator = fast[pointer]
        if validator is not None:
            try:
                return bool(validator.is_valid(instance))
            except BaseException as exc:  # a value it cannot hold (a huge integer, ...): the Python validator decides
                _reraise_interrupt(exc)
        return bool(self.validator(pointer).is_valid(instance))

    def fast(self, pointer: str) -> _Fast:
        """An object with `is_valid(instance)`, answered by `is_valid(pointer, instance)`."""
        return _Fast(self, pointer)

    def schema_errors(self, pointer: str, instance: Any, limit: int = 5) -> list[str]:
        """Human-readable schema violations of `instance`, best match first, at most `limit`."""
        if self.is_valid(pointer, instance):
            return []
        errors = sorted(self.validator(pointer).iter_errors(instance), key=lambda e: (len(e.path), str(e.path)))
        out = []
        for error in errors[:limit]:
            where = "/".join(str(p) for p in error.absolute_path) or "(root)"
            out.append(f"{where}: {error.message[:300]}")
        return out

    @cached_property
    def _pointers(self) -> dict[int, str]:
        """The pointer of every schema node of the effective document, by identity (validators share the nodes)."""
        out: dict[int, str] = {}

        def walk(node: Any, pointer: str) -> None:
            if isinstance(node, dict):
                out[id(node)] = pointer
                for key, value in node.items():
                    walk(value, f"{pointer}/{_escape(str(key))}")
            elif isinstance(node, list):
                for i, value in enumerate(node):
                    walk(value, f"{pointer}/{i}")

        walk(self.document, "#")
        return out

    def violations(self, pointer: str, instance: Any) -> list[Violation]:
        """The keywords `instance` breaks under the schema at `pointer`, each with its `x-captured` reason.

        A `oneOf`/`anyOf` is broken by a stated constraint when every branch is; otherwise it carries the
        capture's reasons from the branches that only a captured keyword excludes."""
        if self.is_valid(pointer, instance):
            return []
        return [v for error in self.validator(pointer).iter_errors(instance) for v in self._violations(error)]

    def _violations(self, error: Any) -> list[Violation]:
        node = error.schema if isinstance(error.schema, dict) else {}
        where = self._pointers.get(id(error.schema), "?")
        keyword = str(error.validator)
        if keyword in ("oneOf", "anyOf") and error.context:
            branches: dict[Any, list[Violation]] = {}
            for sub in error.context:
                index = sub.relative_schema_path[0] if sub.relative_schema_path else 0
                branches.setdefault(index, []).extend(self._violations(sub))
            if all(any(v.captured is None for v in found) for found in branches.values()):
                return [Violation(where, keyword, None)]
            reasons = sorted({str(v.captured) for found in branches.values() for v in found if v.captured})
            return [Violation(where, keyword, "; ".join(reasons))]
        captured = (node.get("x-captured") or {}).get(keyword)
        return [Violation(where, keyword, str(captured) if captured else None)]

    def broken_keywords(self, pointer: str, instance: Any) -> set[tuple[str, str]]:
        """Every (schema pointer, keyword) `instance` breaks under the schema at `pointer`, inside the branches of a
        broken `oneOf`/`anyOf` too (where `violations` stops at the combinator)."""
        out: set[tuple[str, str]] = set()
        pending = list(self.validator(pointer).iter_errors(instance))
        while pending:
            error = pending.pop()
            out.add((self._pointers.get(id(error.schema), "?"), str(error.validator)))
            pending.extend(error.context or ())
        return out

    def other(self, profile: str) -> Contract:
        """The same document under another profile (to tell, say, OpenAI-only values apart); made once."""
        if profile == self.profile:
            return self
        others: dict[str, Contract] = self.__dict__.setdefault("_others", {})
        if profile not in others:
            others[profile] = Contract(self.raw, profile, self.path)
        return others[profile]

    def enum(self, pointer: str) -> list[Any]:
        """The `enum` (or `const`) values of the schema at `pointer`."""
        node = self.node(pointer)
        return list(node["enum"]) if "enum" in node else [node["const"]] if "const" in node else []

    def ranged_fields(self) -> list[RangedField]:
        """Every request field whose values have a stated minimum and maximum, in document order."""
        out = []
        for name in self.node(f"{REQUEST_SCHEMA}/properties"):
            pointer = self.field_pointer(name)
            node = self.node(pointer)
            if name == "logit_bias":  # values of a map keyed by token id (E3)
                pointer, node = f"{pointer}/additionalProperties", node["additionalProperties"]
            low, high = node.get("minimum"), node.get("maximum")
            if low is None or high is None:
                continue
            types = node.get("type", [])
            integer = "integer" in (types if isinstance(types, list) else [types])
            out.append(RangedField(name, pointer, low, high, integer))
        return out


def _reraise_interrupt(exc: BaseException) -> None:
    """Raise what must not be swallowed: an interrupt or an exit, and a signal that arrived while jsonschema-rs was
    calling into Python (its Rust side reports it as a `PanicException`, a `BaseException`, naming it)."""
    if isinstance(exc, KeyboardInterrupt | SystemExit | MemoryError):
        raise exc
    if not isinstance(exc, Exception) and "KeyboardInterrupt" in str(exc):
        raise KeyboardInterrupt from exc


@dataclass(frozen=True)
class _Fast:
    contract: Contract
    pointer: str

    def is_valid(self, instance: Any) -> bool:
        return self.contract.is_valid(self.pointer, instance)


def load_contract(path: Path | str | None = None, profile: str = "atoma") -> Contract:
    """Read `openapi.yaml` (the packaged copy by default) and apply `profile`."""
    spec_path = Path(path) if path else default_spec_path()
    try:
        raw = read_yaml(spec_path, f"spec {spec_path}", max_bytes=MAX_SPEC_BYTES, max_nodes=MAX_SPEC_NODES)
    except OSError as exc:
        raise ContractError(f"cannot read spec {spec_path}: {exc.strerror or exc}") from None
    except YamlError as exc:
        raise ContractError(str(exc)) from None
    if not isinstance(raw, dict) or "paths" not in raw:
        raise ContractError(f"spec {spec_path} is not an OpenAPI document")
    return Contract(raw, profile, spec_path)
