"""Request fields: `stop`, `tool_choice`, `tools`, required fields, malformed JSON, unknown model, OpenAI-only
values, and every documented field accepted with an ordinary value. Families from the contract and a table."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from conformance.checks.base import PREFLIGHT, STATUS_LIMIT, Check, Facts, Recipe, Registry, Request, Verdict, show
from conformance.checks.requests import (
    BASIC,
    CAPABILITIES,
    JSON_SCHEMA_FORMAT,
    MISSING_MESSAGES,
    PROMPT,
    SMALL_LIMIT,
    TOOL_PROMPT,
    WEATHER_TOOL,
    body,
)
from conformance.checks.status import ByStatus, invalid_table
from conformance.contract import OPERATION, REQUEST_SCHEMA, Contract
from conformance.records import Exchange, Outcome

__all__ = ["CHECKS"]

CHECKS = Registry()
LITERAL = "#/components/schemas/ToolChoiceLiteral"
NAMED = "#/components/schemas/NamedToolChoice"
MESSAGE = "#/components/schemas/RequestMessage"
FORMAT_TYPE = "#/components/schemas/ResponseFormat/properties/type"
NOT_A_MEMBER = "sometimes"


def _field(name: str) -> str:
    return f"{REQUEST_SCHEMA}/properties/{name}"


def _recipe(key: str, fields: dict[str, Any], drop: str | None = None, status_only: bool = False) -> Recipe:
    """A minimal request with `fields` (without `drop`); `status_only`: judged by its status alone, it asks for the
    run's status limit (`Facts.status_limit`)."""

    def build(facts: Facts, _: tuple[Exchange, ...]) -> Request:
        prompt = TOOL_PROMPT if "tools" in fields else PROMPT
        sent = body(facts, facts.status_limit if status_only else SMALL_LIMIT, prompt, **fields)
        sent.pop(drop or "", None)
        return Request(sent)

    return Recipe(key, build, status_only=status_only)


def captured_only(contract: Contract, fields: dict[str, Any]) -> str | None:
    """The capture's reasons when `fields` on a minimal request break only keywords it added, else None."""
    request = body(Facts(contract), **fields)
    violations = contract.violations(REQUEST_SCHEMA, request)
    if violations and all(v.captured for v in violations):
        return "; ".join(sorted({str(v.captured) for v in violations}))
    return None


def _check(
    contract: Contract,
    rid: str,
    field: str,
    pointer: str,
    table: str,
    fields: dict[str, Any],
    *,
    capability: str | None = None,
    **options: Any,
) -> Check:
    sent = ", ".join(f"{k}={show(v)}" for k, v in fields.items() if v is not None)
    # a value a conforming server may refuse is judged by its status alone: the smallest completion
    status_only = table != "accepts"
    if table == "rejects":  # rule 8: a failure needs a constraint the profile's sources state (as generated ones)
        table = invalid_table(contract, body(Facts(contract), STATUS_LIMIT, **fields)) or table
        reasons = captured_only(contract, fields)
        if table == "narrowed" and reasons:
            sent = f"{sent} (the capture excludes it: {reasons})"
    shared = capability is not None and fields is CAPABILITIES[capability]
    recipe = BASIC[capability] if capability is not None and shared else _recipe(rid, fields, status_only=status_only)
    if fields == {"max_completion_tokens": SMALL_LIMIT}:
        recipe = PREFLIGHT  # the same request as the preflight: judged on its answer
    capabilities = (capability,) if capability and table == "accepts" else ()
    return Check(rid, field, pointer, ByStatus(table, sent), (recipe,), capabilities=capabilities, **options)


def allows(contract: Contract, pointer: str, value: Any) -> bool:
    """Whether the profile's contract allows `value` at `pointer`."""
    return contract.is_valid(pointer, value)


def _tools(**fields: Any) -> dict[str, Any]:
    return {"tools": [WEATHER_TOOL], **fields}


@CHECKS.family
def stop(contract: Contract) -> Iterator[Check]:
    pointer, most = _field("stop"), contract.field("stop")["maxItems"]
    yield _check(contract, "request.stop.one_sequence", "stop", pointer, "accepts", {"stop": ["END"]})
    yield _check(
        contract, "request.stop.max_sequences", "stop", pointer, "accepts", {"stop": [f"END{i}" for i in range(most)]}
    )
    yield _check(
        contract,
        "request.stop.too_many_sequences",
        "stop",
        pointer,
        "rejects",
        {"stop": [f"END{i}" for i in range(most + 1)]},
    )
    plain = "accepts" if allows(contract, pointer, "END") else "extension"
    yield _check(contract, "request.stop.plain_string", "stop", pointer, plain, {"stop": "END"})


@CHECKS.family
def tool_choice(contract: Contract) -> Iterator[Check]:
    members = contract.enum(LITERAL)
    for member in members:
        yield _check(
            contract,
            f"request.tool_choice.{member}",
            "tool_choice",
            LITERAL,
            "accepts",
            _tools(tool_choice=member),
            capability="tools",
        )
    for extra in contract.other("openai").enum(LITERAL):
        if extra not in members:
            yield _check(
                contract, f"request.tool_choice.{extra}", "tool_choice", LITERAL, "extension", _tools(tool_choice=extra)
            )
    named = {"type": "function", "function": {"name": WEATHER_TOOL["function"]["name"]}}
    yield _check(
        contract,
        "request.tool_choice.not_a_member",
        "tool_choice",
        LITERAL,
        "rejects",
        _tools(tool_choice=NOT_A_MEMBER),
    )
    yield _check(
        contract,
        "request.tool_choice.named_function",
        "tool_choice",
        NAMED,
        "accepts",
        _tools(tool_choice=named),
        capability="tools",
    )
    yield _check(
        contract,
        "request.tools.malformed",
        "tools",
        "#/components/schemas/Tool",
        "rejects",
        {"tools": [{"type": "function"}]},
    )


def _dropped(rid: str, name: str) -> Check:
    return Check(
        rid,
        name,
        f"{REQUEST_SCHEMA}/required",
        ByStatus("rejects", f"a request without `{name}`"),
        (_recipe(rid, {}, drop=name, status_only=True),),
    )


def _malformed_body(facts: Facts, _: tuple[Exchange, ...]) -> Request:
    return Request('{"model": ' + show(facts.model) + ', "messages": [{"role": "user", "content": "hi"', raw=True)


def malformed_json(facts: Facts, exchange: Exchange) -> Verdict:
    """A body that is not JSON: a 4xx (MUST), and exactly 400 (SHOULD: the clause's level)."""
    sent = f"a body that is not JSON: {exchange.request_body}"
    verdict = ByStatus("rejects", sent)(facts, exchange)
    if verdict.outcome is not Outcome.PASSED:
        return Verdict(verdict.outcome, verdict.message, verdict.exchanges, level="MUST")
    if exchange.status != 400:
        return Verdict(
            Outcome.FAILED, f"rejected with HTTP {exchange.status}, not 400", (exchange,), evidence=f"sent {sent}"
        )
    return verdict


@CHECKS.family
def required_and_body(contract: Contract) -> Iterator[Check]:
    yield _dropped("request.model.missing", "model")
    yield Check(
        "request.messages.missing",
        "messages",
        f"{REQUEST_SCHEMA}/required",
        ByStatus("rejects", "a request without `messages`"),
        (MISSING_MESSAGES,),
    )
    unknown = Recipe(
        "request.model.unknown",
        lambda facts, _: Request(body(facts, facts.status_limit, model=f"{facts.model}-conformance-no-such-model")),
        status_only=True,
    )
    yield Check(
        "request.model.unknown",
        "model",
        _field("model"),
        ByStatus("rejects", "model=<the run's model>-conformance-no-such-model"),
        (unknown,),
    )
    yield Check(
        "request.body.malformed_json",
        None,
        f"{OPERATION}/responses/400",
        malformed_json,
        (Recipe("request.body.malformed_json", _malformed_body),),
    )


@CHECKS.family
def messages_and_formats(contract: Contract) -> Iterator[Check]:
    yield _check(
        contract,
        "request.response_format.malformed",
        "response_format",
        FORMAT_TYPE,
        "rejects",
        {"response_format": {"type": "xml"}},
    )
    parts = [{"role": "user", "content": [{"type": "text", "text": "Say hello."}]}]
    yield _check(
        contract,
        "request.messages.content_parts",
        "messages",
        "#/components/schemas/MessageContent",
        "accepts",
        {"messages": parts},
    )
    empty = "either" if allows(contract, _field("messages"), []) else "rejects"
    yield _check(contract, "request.messages.empty", "messages", _field("messages"), empty, {"messages": []})
    developer = [{"role": "developer", "content": "Be brief."}, {"role": "user", "content": "Say hello."}]
    role = "accepts" if allows(contract, MESSAGE, developer[0]) else "extension"
    yield _check(contract, "request.messages.developer_role", "messages", MESSAGE, role, {"messages": developer})


ORDINARY: dict[str, tuple[dict[str, Any], str | None]] = {
    "seed": ({"seed": 7}, None),
    "user": ({"user": "conformance-user-1"}, None),
    "service_tier": ({"service_tier": "auto"}, None),
    "max_tokens": ({"max_tokens": 4, "max_completion_tokens": None}, None),
    "max_completion_tokens": ({"max_completion_tokens": SMALL_LIMIT}, None),  # the preflight's request
    "parallel_tool_calls": (_tools(parallel_tool_calls=True, tool_choice="auto"), "tools"),
    "tools": (CAPABILITIES["tools"], "tools"),
    "logprobs": (CAPABILITIES["logprobs"], "logprobs"),
    "n": (CAPABILITIES["n"], "n"),
    "stream": (CAPABILITIES["stream"], "stream"),
    "stream_options": ({"stream": True, "stream_options": {"include_usage": True}}, "stream"),
}


@CHECKS.family
def ordinary_values(contract: Contract) -> Iterator[Check]:
    """Every documented field with an ordinary value must be accepted (rule 1: MUST, whatever its semantics)."""
    for name, (fields, capability) in ORDINARY.items():
        yield _check(
            contract,
            f"request.{name}.accepted",
            name,
            _field(name),
            "accepts",
            fields,
            capability=capability,
            level="MUST",
        )
    for kind in contract.enum(FORMAT_TYPE):
        fmt = JSON_SCHEMA_FORMAT if kind == "json_schema" else {"type": kind}
        yield _check(
            contract,
            f"request.response_format.{kind}",
            "response_format",
            FORMAT_TYPE,
            "accepts",
            {"response_format": fmt},
            capability=None if kind == "text" else "response_format",
        )
