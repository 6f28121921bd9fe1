"""The coverage map: every request and response keyword of the effective contract, with the hand-written checks and
the property-layer phases that exercise it, and, for a keyword nothing exercises, the reason.

A keyword is a validation keyword (`type`, `minimum`, `enum`, `required`, `not`, ...) on a schema node reachable from
the request schema (the request side) or from the response, chunk and error schemas (the response side). It counts
as exercised when:

- request side: a hand-written check sends a request that breaks it (the check judges the rejection), or the
  edge-values phase sends a value that breaks it, one field at a time on the minimal request (the same bodies the
  phase sends: `edges.edge_cases`, `edges.edge_body`);
- response side: a check validates answers against a schema that contains it (`SCHEMA_CHECKS`), or a check's
  clause is the keyword's own node.

Schemathesis' fuzzing sends combinations from the whole request schema: it is listed, never counted. A keyword
nothing exercises needs a reason in `REASONS`; `tests/test_coverage.py` fails on one without. Pure: no I/O.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import Any

from conformance.checks import Check, Facts, Inconclusive, plan
from conformance.checks.base import PREFLIGHT
from conformance.contract import CHUNK_SCHEMA, ERROR_SCHEMA, REQUEST_SCHEMA, RESPONSE_SCHEMA, Contract
from conformance.driver.edges import edge_body, edge_cases, spots

__all__ = ["KEYWORDS", "REASONS", "Keyword", "coverage", "markdown", "rows"]

KEYWORDS = (
    "type",
    "enum",
    "const",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "minLength",
    "maxLength",
    "pattern",
    "format",
    "minItems",
    "maxItems",
    "uniqueItems",
    "required",
    "additionalProperties",
    "minProperties",
    "maxProperties",
    "not",
)
# the checks that validate an answer against a whole schema: they judge every keyword in it
SCHEMA_CHECKS = {
    "response.minimal.schema": RESPONSE_SCHEMA,
    "stream.chunk_schema": CHUNK_SCHEMA,
    "response.error.envelope": ERROR_SCHEMA,
}
# the property layer's response-side findings, judged on every answer of every phase (listed, not counted)
RESPONSE_PHASES = {
    RESPONSE_SCHEMA: "every phase: response_schema_conformance",
    CHUNK_SCHEMA: "every phase: stream_chunks",
    ERROR_SCHEMA: "every phase: error_envelope",
}
S = "#/components/schemas"
DEEPER = (
    "deeper than the edge values go (the top level, and one level into messages, tools and response_format) and "
    "no hand-written check breaks it; fuzzing only"
)
# why a keyword nothing exercises is left so: (pointer glob, keyword, profile glob, reason); first match wins. Kept
# narrow on purpose: a keyword added to the contract is reported with no reason until someone writes one here.
REASONS: tuple[tuple[str, str, str, str], ...] = (
    (
        f"{S}/ChatCompletionRequest",
        "type",
        "*",
        "every request is a JSON object; a body that is not JSON is sent raw (request.body.malformed_json), a JSON "
        "body of another type by fuzzing only",
    ),
    (
        f"{S}/ChatCompletionRequest/properties/model",
        "type",
        "*",
        "any other model value is an unknown model, judged by request.model.*; the edge values send only its absence",
    ),
    (
        f"{S}/ChatCompletionRequest/allOf/*/then*",
        "*",
        "*",
        "a dependency, not broken on purpose: every request carries what a field depends on (logprobs: true beside "
        "top_logprobs, stream: true beside stream_options; attribution.ready), so a finding names its field",
    ),
    (f"{S}/ChatCompletionRequest/properties/stop/items", "type", "*", f"an item of the wrong type: {DEEPER}"),
    (f"{S}/AssistantMessage/properties/*", "type", "*", f"an assistant turn's own fields: {DEEPER}"),
    (f"{S}/ToolMessage/properties/*", "type", "*", f"a tool turn's own fields: {DEEPER}"),
    (f"{S}/MessageContentPart/oneOf/*", "*", "*", f"a content part's fields: {DEEPER}"),
    (f"{S}/JsonSchemaResponseFormat/properties/*", "type", "*", f"the json_schema object's fields: {DEEPER}"),
    (f"{S}/StreamOptions/properties/include_usage", "type", "*", f"stream_options' field: {DEEPER}"),
    (f"{S}/NamedToolChoice/properties/*", "*", "*", f"a named tool choice's fields: {DEEPER}"),
    (f"{S}/Tool/properties/function/properties/*", "type", "*", f"a function's fields: {DEEPER}"),
)


@dataclass
class Keyword:
    """One keyword of the contract and what exercises it."""

    side: str
    pointer: str
    keyword: str
    value: Any
    checks: list[str] = field(default_factory=list)
    phases: list[str] = field(default_factory=list)
    reason: str | None = None

    @property
    def exercised(self) -> bool:
        return bool(self.checks) or any(p.startswith("edge values") for p in self.phases)

    def row(self) -> dict[str, Any]:
        return {
            "side": self.side,
            "pointer": self.pointer,
            "keyword": self.keyword,
            "value": _short(self.value),
            "checks": list(self.checks),
            "phases": list(self.phases),
            "exercised": self.exercised,
            "reason": None if self.exercised else self.reason,
        }


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _children(node: dict[str, Any], pointer: str) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for name, child in (node.get("properties") or {}).items():
        out.append((f"{pointer}/properties/{name.replace('~', '~0').replace('/', '~1')}", child))
    # `if` and `not` hold conditions, not constraints: their own keywords are not walked (`not` is one keyword)
    for key in ("items", "additionalProperties", "propertyNames", "then", "else", "contains"):
        if isinstance(node.get(key), dict):
            out.append((f"{pointer}/{key}", node[key]))
    for key in ("oneOf", "anyOf", "allOf", "prefixItems"):
        for i, child in enumerate(node.get(key) or []):
            out.append((f"{pointer}/{key}/{i}", child))
    return out


def keywords_under(contract: Contract, root: str) -> dict[tuple[str, str], Any]:
    """Every (pointer, keyword) -> value reachable from the schema at `root`, following `$ref`s."""
    found: dict[tuple[str, str], Any] = {}
    seen: set[str] = set()
    pending = [(root, contract.node(root))]
    while pending:
        pointer, node = pending.pop()
        if pointer in seen or not isinstance(node, dict):
            continue
        seen.add(pointer)
        if isinstance(node.get("$ref"), str):
            pending.append((node["$ref"], contract.node(node["$ref"])))
        for keyword in KEYWORDS:
            # a schema under additionalProperties is walked like properties; only `false` is a keyword of its own
            if keyword in node and not (keyword == "additionalProperties" and node[keyword] is not False):
                found[(pointer, keyword)] = node[keyword]
        pending.extend(reversed(_children(node, pointer)))
    return found


def _sent(check: Check, facts: Facts) -> list[Any]:
    """The request bodies a check sends that can be built before a run (not those built from earlier answers)."""
    bodies = []
    for recipe in check.recipes:
        if recipe is PREFLIGHT or recipe.after or recipe.observe is not None:  # an observation sends nothing
            continue
        try:
            request = recipe.build(facts, ())
        except (Inconclusive, LookupError, TypeError, ValueError):
            continue
        if not request.raw:
            bodies.append(request.body)
    return bodies


def coverage(contract: Contract) -> list[Keyword]:
    """The coverage map of the contract's profile, request side first, in document order."""
    request = keywords_under(contract, REQUEST_SCHEMA)
    response: dict[tuple[str, str], Any] = {}
    origin: dict[tuple[str, str], str] = {}
    for root in (RESPONSE_SCHEMA, CHUNK_SCHEMA, ERROR_SCHEMA):
        for key, value in keywords_under(contract, root).items():
            response.setdefault(key, value)
            origin.setdefault(key, root)
    table: dict[tuple[str, str], Keyword] = {}
    for key, value in request.items():
        table[key] = Keyword("request", key[0], key[1], value, phases=[])
    for key, value in response.items():
        if key in table:
            table[key].side = "both"
        else:
            table[key] = Keyword("response", key[0], key[1], value)
        table[key].phases.append(RESPONSE_PHASES[origin[key]])
    facts = Facts(contract=contract)
    checks = plan(contract)
    for check in checks:
        if check.kind != "exchange":
            continue
        judged: set[tuple[str, str]] = set()
        for body in _sent(check, facts):
            judged |= contract.broken_keywords(REQUEST_SCHEMA, body) & set(request)
        if check.id in SCHEMA_CHECKS:
            judged |= set(keywords_under(contract, SCHEMA_CHECKS[check.id]))
        judged |= {key for key in response if key[0] == check.pointer}
        for key in judged:
            if key in table and check.id not in table[key].checks:
                table[key].checks.append(check.id)
    for spot in spots(contract):
        for label, value in edge_cases(contract, spot):
            body = edge_body(facts, spot, value)
            if body is None:
                continue
            for key in contract.broken_keywords(REQUEST_SCHEMA, body) & set(request):
                phase = f"edge values: {spot.field} {label}"
                if phase not in table[key].phases:
                    table[key].phases.append(phase)
    for key in request:
        table[key].phases.append("fuzzing (not counted)")
    out = list(table.values())
    for item in out:
        item.reason = reason_for(contract.profile, item.pointer, item.keyword)
    return out


def reason_for(profile: str, pointer: str, keyword: str) -> str | None:
    for pointer_glob, keyword_glob, profile_glob, reason in REASONS:
        if (
            fnmatch.fnmatchcase(pointer, pointer_glob)
            and fnmatch.fnmatchcase(keyword, keyword_glob)
            and fnmatch.fnmatchcase(profile, profile_glob)
        ):
            return reason
    return None


def rows(contract: Contract) -> list[dict[str, Any]]:
    """The coverage map as plain rows (what `conformance report` renders)."""
    return [item.row() for item in coverage(contract)]


def markdown(contract: Contract) -> str:
    """`conformance coverage --markdown`."""
    items = coverage(contract)
    lines = [f"# Coverage of the contract, profile {contract.profile}", ""]
    exercised = sum(1 for k in items if k.exercised)
    lines += [f"{exercised} of {len(items)} keywords exercised (fuzzing does not count).", ""]
    lines += ["| side | schema | keyword | value | checks | phases | reason |", "|---|---|---|---|---|---|---|"]
    for k in items:
        cells = [
            k.side,
            f"`{k.pointer}`",
            k.keyword,
            f"`{_short(k.value)}`",
            ", ".join(k.checks),
            ", ".join(k.phases),
            "" if k.exercised else (k.reason or "**none given**"),
        ]
        lines.append("| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in cells) + " |")
    return "\n".join(lines) + "\n"
