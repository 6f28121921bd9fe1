"""Request fields: `stop`, `tool_choice`, `tools`, required fields, malformed JSON, unknown model,
OpenAI-only values, and every documented field accepted with an ordinary value."""

from __future__ import annotations

from typing import Any

from conformance.checks import clean_4xx, show
from conformance.contract import OPERATION, REQUEST_SCHEMA
from conformance.records import Outcome
from conformance.suite.context import CAPABILITIES, JSON_SCHEMA_FORMAT, TOOL_PROMPT, WEATHER_TOOL, Case, RunContext
from conformance.suite.plugin import Recorder, cases

LITERAL = "#/components/schemas/ToolChoiceLiteral"
NAMED = "#/components/schemas/NamedToolChoice"
MESSAGE = "#/components/schemas/RequestMessage"
FORMAT_TYPE = "#/components/schemas/ResponseFormat/properties/type"
NOT_A_MEMBER = "sometimes"


def _valid_or_either(ctx: RunContext, pointer: str, value: Any) -> str:
    """`either` when the profile's contract allows `value` (rule 3: a server may refuse it), else `reject`."""
    return "either" if ctx.contract.validator(pointer).is_valid(value) else "reject"


def _valid_or_extension(ctx: RunContext, pointer: str, value: Any) -> str:
    """`accept` when the profile's contract allows `value` (rule 1), else `extension` (OpenAI-only: rule 2)."""
    return "accept" if ctx.contract.validator(pointer).is_valid(value) else "extension"


def _tools(**fields: Any) -> dict[str, Any]:
    return {"tools": [WEATHER_TOOL], **fields}


def plan(ctx: RunContext) -> list[Case]:
    c = ctx.contract
    stop = c.field_pointer("stop")
    most = c.field("stop")["maxItems"]
    planned = [
        Case("request.stop.one_sequence", "stop", stop, {"fields": {"stop": ["END"]}, "kind": "accept"}),
        Case(
            "request.stop.max_sequences",
            "stop",
            stop,
            {"fields": {"stop": [f"END{i}" for i in range(most)]}, "kind": "accept"},
        ),
        Case(
            "request.stop.too_many_sequences",
            "stop",
            stop,
            {"fields": {"stop": [f"END{i}" for i in range(most + 1)]}, "kind": "reject"},
        ),
        Case(
            "request.stop.plain_string",
            "stop",
            stop,
            {"fields": {"stop": "END"}, "kind": _valid_or_extension(ctx, stop, "END")},
        ),
    ]
    members = c.enum(LITERAL)
    for member in members:
        planned.append(
            Case(
                f"request.tool_choice.{member}",
                "tool_choice",
                LITERAL,
                {"fields": _tools(tool_choice=member), "kind": "accept", "capability": "tools"},
            )
        )
    for extra in c.other("openai").enum(LITERAL):
        if extra not in members:
            planned.append(
                Case(
                    f"request.tool_choice.{extra}",
                    "tool_choice",
                    LITERAL,
                    {"fields": _tools(tool_choice=extra), "kind": "extension"},
                )
            )
    named = {"type": "function", "function": {"name": WEATHER_TOOL["function"]["name"]}}
    planned += [
        Case(
            "request.tool_choice.not_a_member",
            "tool_choice",
            LITERAL,
            {"fields": _tools(tool_choice=NOT_A_MEMBER), "kind": "reject"},
        ),
        Case(
            "request.tool_choice.named_function",
            "tool_choice",
            NAMED,
            {"fields": _tools(tool_choice=named), "kind": "accept", "capability": "tools"},
        ),
        Case(
            "request.tools.malformed",
            "tools",
            "#/components/schemas/Tool",
            {"fields": {"tools": [{"type": "function"}]}, "kind": "reject"},
        ),
        Case("request.model.missing", "model", f"{REQUEST_SCHEMA}/required", {"drop": "model", "kind": "reject"}),
        Case(
            "request.messages.missing", "messages", f"{REQUEST_SCHEMA}/required", {"drop": "messages", "kind": "reject"}
        ),
        Case(
            "request.model.unknown",
            "model",
            c.field_pointer("model"),
            {"fields": {"model": f"{ctx.model}-conformance-no-such-model"}, "kind": "reject"},
        ),
        Case("request.body.malformed_json", None, f"{OPERATION}/responses/400", {"kind": "malformed"}),
    ]
    parts = [{"role": "user", "content": [{"type": "text", "text": "Say hello."}]}]
    planned += [
        Case(
            "request.response_format.malformed",
            "response_format",
            FORMAT_TYPE,
            {"fields": {"response_format": {"type": "xml"}}, "kind": "reject"},
        ),
        Case(
            "request.messages.content_parts",
            "messages",
            "#/components/schemas/MessageContent",
            {"fields": {"messages": parts}, "kind": "accept"},
        ),
        Case(
            "request.messages.empty",
            "messages",
            c.field_pointer("messages"),
            {"fields": {"messages": []}, "kind": _valid_or_either(ctx, c.field_pointer("messages"), [])},
        ),
    ]
    developer = [{"role": "developer", "content": "Be brief."}, {"role": "user", "content": "Say hello."}]
    planned.append(
        Case(
            "request.messages.developer_role",
            "messages",
            MESSAGE,
            {"fields": {"messages": developer}, "kind": _valid_or_extension(ctx, MESSAGE, developer[0])},
        )
    )
    ordinary: dict[str, tuple[dict[str, Any], str | None]] = {
        "seed": ({"seed": ctx.seed}, None),
        "user": ({"user": "conformance-user-1"}, None),
        "service_tier": ({"service_tier": "auto"}, None),
        "max_tokens": ({"max_tokens": 4, "max_completion_tokens": None}, None),
        "max_completion_tokens": ({"max_completion_tokens": 4}, None),
        "parallel_tool_calls": (_tools(parallel_tool_calls=True, tool_choice="auto"), "tools"),
        "tools": (CAPABILITIES["tools"], "tools"),
        "logprobs": (CAPABILITIES["logprobs"], "logprobs"),
        "n": (CAPABILITIES["n"], "n"),
        "stream": (CAPABILITIES["stream"], "stream"),
        "stream_options": ({"stream": True, "stream_options": {"include_usage": True}}, "stream"),
    }
    for name, (fields, capability) in ordinary.items():
        basic = capability if fields is CAPABILITIES.get(capability or "") else None
        planned.append(
            Case(
                f"request.{name}.accepted",
                name,
                c.field_pointer(name),
                {"fields": fields, "kind": "accept", "capability": capability, "basic": basic},
                level="MUST",  # rule 1, whatever the level of the field's own semantics
            )
        )
    for kind in c.enum(FORMAT_TYPE):
        fmt = JSON_SCHEMA_FORMAT if kind == "json_schema" else {"type": kind}
        planned.append(
            Case(
                f"request.response_format.{kind}",
                "response_format",
                FORMAT_TYPE,
                {
                    "fields": {"response_format": fmt},
                    "kind": "accept",
                    "capability": None if kind == "text" else "response_format",
                },
            )
        )
    return planned


def _body(ctx: RunContext, case: Case) -> dict[str, Any]:
    fields = dict(case.params.get("fields", {}))
    body = ctx.body(**fields)
    body = {k: v for k, v in body.items() if v is not None}
    if "tools" in fields:
        body["messages"][0]["content"] = TOOL_PROMPT
    body.pop(case.params.get("drop", ""), None)
    return body


@cases(plan)
def test_request_field(ctx: RunContext, case: Case, record: Recorder) -> None:
    judge, kind = ctx.judge, case["kind"]
    if kind == "malformed":
        raw = '{"model": ' + show(ctx.model) + ', "messages": [{"role": "user", "content": "hi"'
        exchange = ctx.client.chat(raw, raw=True)
        sent = f"a body that is not JSON: {raw}"
        result = judge.rejects(case.rid, case.pointer, None, exchange, sent, level="MUST")
        if result.outcome is Outcome.PASSED and exchange.status != 400:  # SHOULD be exactly 400
            result = judge.result(
                case.rid,
                case.pointer,
                None,
                Outcome.FAILED,
                f"sent {sent}; rejected with HTTP {exchange.status}, not 400",
                exchanges=(exchange,),
            )
        record(result)
        return
    body = _body(ctx, case)
    capability = case.params.get("capability")
    basic = case.params.get("basic")
    exchange = ctx.basic_use(basic) if basic else ctx.client.chat(body)
    if "drop" in case.params:
        sent = f"a request without `{case['drop']}`"
    else:
        sent = ", ".join(f"{k}={show(v)}" for k, v in case.params.get("fields", {}).items() if v is not None)
    if kind == "accept":
        refused = capability is not None and clean_4xx(exchange) and ctx.refused(capability)
        record(judge.accepts(case.rid, case.pointer, case.field, exchange, sent, unsupported=refused))
    elif kind == "reject":
        record(judge.rejects(case.rid, case.pointer, case.field, exchange, sent))
    elif kind == "either":
        record(judge.either(case.rid, case.pointer, case.field, exchange, sent))
    else:
        record(judge.extension(case.rid, case.pointer, case.field, exchange, sent))
