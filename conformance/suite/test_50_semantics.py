"""Semantics that hold on any model: expectations come from the target's own output (rule 7)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from jsonschema import Draft202012Validator

from conformance.records import Outcome, Result
from conformance.suite.common import Inconclusive, content_of, first_choice, judged, refused, tool_calls_of
from conformance.suite.context import (
    CAPABILITIES,
    JSON_PROMPT,
    JSON_SCHEMA_FORMAT,
    LONG_PROMPT,
    TIME_TOOL,
    TOOL_LIMIT,
    TOOL_PROMPT,
    WEATHER_TOOL,
    Case,
    RunContext,
)
from conformance.suite.plugin import Recorder, cases
from conformance.transport import Exchange

FINISH = "#/components/schemas/FinishReason"
LITERAL = "#/components/schemas/ToolChoiceLiteral"
NAMED = "#/components/schemas/NamedToolChoice"
ARGUMENTS = "#/components/schemas/ToolCall/properties/function/properties/arguments"
TOKEN_LOGPROB = "#/components/schemas/TokenLogprob"
CUT_LIMIT = 3  # completion tokens for the limit checks: far below what LONG_PROMPT asks for
TOP_K = 2
JSON_SCHEMA_POINTER = "#/components/schemas/JsonSchemaResponseFormat"
PARALLEL_PROMPT = "What are the weather and the local time in Paris? Use the tools."


def plan(ctx: RunContext) -> list[Case]:
    c = ctx.contract
    long = {"long": True}
    return [
        Case("semantic.max_completion_tokens.usage", "max_completion_tokens", c.field_pointer("max_completion_tokens")),
        Case("semantic.max_completion_tokens.finish_reason", "choices.finish_reason", FINISH),
        Case("semantic.max_tokens.usage", "max_tokens", c.field_pointer("max_tokens")),
        Case("semantic.max_tokens.finish_reason", "choices.finish_reason", FINISH),
        Case("semantic.stop.truncates", "stop", c.field_pointer("stop"), long),
        Case("semantic.stop.finish_reason", "choices.finish_reason", FINISH, long),
        Case("semantic.n.choices", "n", c.field_pointer("n")),
        Case("semantic.tool_choice.none", "tool_choice", LITERAL, long),
        Case("semantic.tool_choice.named", "tool_choice", NAMED, long),
        Case("semantic.tool_calls.arguments", "choices.message.tool_calls.function.arguments", ARGUMENTS, long),
        Case("semantic.response_format.json_object", "response_format", c.field_pointer("response_format"), long),
        Case("semantic.response_format.json_schema", "response_format", JSON_SCHEMA_POINTER, long),
        Case("semantic.parallel_tool_calls.false", "parallel_tool_calls", c.field_pointer("parallel_tool_calls"), long),
        Case("semantic.tool_calls.cut", "choices.finish_reason", FINISH),
        Case("semantic.logprobs.top_logprobs", "top_logprobs", c.field_pointer("top_logprobs")),
        Case("semantic.seed.reproducible", "seed", c.field_pointer("seed"), long),
    ]


# -- token limits ------------------------------------------------------------------------------------------


def _limit_exchange(ctx: RunContext, field: str) -> Exchange:
    body = ctx.body(limit=CUT_LIMIT)
    body["messages"][0]["content"] = LONG_PROMPT
    if field == "max_tokens":
        del body["max_completion_tokens"]
        body["max_tokens"] = CUT_LIMIT
    return ctx.send(f"semantic.{field}", body)


def limit_usage(ctx: RunContext, case: Case, field: str) -> Result:
    exchange = _limit_exchange(ctx, field)
    body = exchange.json
    first_choice(ctx, exchange)
    usage = body.get("usage") if isinstance(body, dict) else None
    used = usage.get("completion_tokens") if isinstance(usage, dict) else None
    if not isinstance(used, int):
        raise Inconclusive("no usage.completion_tokens to compare with the limit")
    if used > CUT_LIMIT:
        return ctx.verdict(
            case, Outcome.FAILED, f"sent {field}={CUT_LIMIT}; usage.completion_tokens is {used}", exchange
        )
    return ctx.verdict(case, Outcome.PASSED, f"sent {field}={CUT_LIMIT}; completion_tokens {used}")


def limit_finish(ctx: RunContext, case: Case, field: str) -> Result:
    exchange = _limit_exchange(ctx, field)
    choice = first_choice(ctx, exchange)
    body = exchange.json
    usage = body.get("usage") if isinstance(body, dict) else None
    used = usage.get("completion_tokens") if isinstance(usage, dict) else None
    reason = choice.get("finish_reason")
    if isinstance(used, int) and used > CUT_LIMIT:
        raise Inconclusive(f"the limit was not honoured ({used} tokens; see semantic.{field}.usage)")
    if isinstance(used, int) and used < CUT_LIMIT and reason == "stop":
        raise Inconclusive(f"the output ended by itself after {used} tokens, before the limit of {CUT_LIMIT}")
    if reason == "length":
        return ctx.verdict(case, Outcome.PASSED, f"sent {field}={CUT_LIMIT}; cut with finish_reason 'length'")
    return ctx.verdict(
        case,
        Outcome.FAILED,
        f"sent {field}={CUT_LIMIT}; output cut at {used} token(s) reports finish_reason {reason!r}, not 'length'",
        exchange,
    )


# -- stop ------------------------------------------------------------------------------------------------


def _stop_pair(ctx: RunContext) -> tuple[Exchange, Exchange, str, str]:
    """(unconstrained, with stop word, the word, the unconstrained text before it)."""
    free = ctx.send("semantic.free", ctx.free_body())
    text = content_of(first_choice(ctx, free))
    seen: set[str] = set()
    candidates = []
    for match in re.finditer(r"[A-Za-z]{3,}", text):
        word = match.group()
        if word not in seen and match.start() > 0 and text.find(word) == match.start():
            candidates.append((match.start(), word))
        seen.add(word)
    if not candidates:
        raise Inconclusive(f"no word of 3+ letters after the start of the unconstrained output {text[:80]!r}")
    position, word = candidates[min(1, len(candidates) - 1)]
    stopped = ctx.send("semantic.stopped", ctx.free_body(stop=[word]))
    return free, stopped, word, text[:position]


def stop_truncates(ctx: RunContext, case: Case) -> Result:
    _free, stopped, word, prefix = _stop_pair(ctx)
    text = content_of(first_choice(ctx, stopped))
    sent = f"stop=[{word!r}] (taken from the unconstrained output)"
    if word in text and text.startswith(prefix):
        return ctx.verdict(case, Outcome.FAILED, f"sent {sent}; the output contains it: {text[:200]!r}", stopped)
    if text.rstrip() != prefix.rstrip():
        raise Inconclusive(f"the repeat differs from the first completion before {word!r}: {text[:80]!r}")
    return ctx.verdict(case, Outcome.PASSED, f"sent {sent}; output ends before it: {text[-40:]!r}")


def stop_finish(ctx: RunContext, case: Case) -> Result:
    _free, stopped, word, prefix = _stop_pair(ctx)
    choice = first_choice(ctx, stopped)
    if content_of(choice).rstrip() != prefix.rstrip():
        raise Inconclusive("the output did not end at the stop sequence (see semantic.stop.truncates)")
    reason = choice.get("finish_reason")
    if reason == "stop":
        return ctx.verdict(case, Outcome.PASSED, f"stop=[{word!r}] ended the output with finish_reason 'stop'")
    return ctx.verdict(
        case, Outcome.FAILED, f"stop=[{word!r}] ended the output, but finish_reason is {reason!r}, not 'stop'", stopped
    )


# -- capabilities ------------------------------------------------------------------------------------------


def n_choices(ctx: RunContext, case: Case) -> Result:
    exchange = ctx.basic_use("n")
    early = refused(ctx, case, exchange, "n")
    if early:
        return early
    asked = CAPABILITIES["n"]["n"]
    body = exchange.json
    choices = body.get("choices") if isinstance(body, dict) else None
    if not isinstance(choices, list):
        raise Inconclusive(f"choices is not an array (see response.choices): {exchange.describe(200)}")
    indexes = [c.get("index") for c in choices if isinstance(c, dict)]
    whole = [i for i in indexes if isinstance(i, int)]
    if len(whole) == len(choices) and sorted(whole) == list(range(asked)):
        return ctx.verdict(case, Outcome.PASSED, f"sent n={asked}; got choices {indexes}")
    return ctx.verdict(case, Outcome.FAILED, f"sent n={asked}; got choice indexes {indexes}: n was ignored", exchange)


def _tool_body(ctx: RunContext, tool_choice: Any) -> dict[str, Any]:
    body = ctx.body(limit=TOOL_LIMIT, tools=[WEATHER_TOOL, TIME_TOOL], tool_choice=tool_choice, seed=ctx.seed)
    body["messages"][0]["content"] = TOOL_PROMPT
    return body


def _named_exchange(ctx: RunContext) -> Exchange:
    named = {"type": "function", "function": {"name": TIME_TOOL["function"]["name"]}}
    return ctx.send("semantic.named", _tool_body(ctx, named))


def tool_none(ctx: RunContext, case: Case) -> Result:
    exchange = ctx.send("semantic.tool_none", _tool_body(ctx, "none"))
    early = refused(ctx, case, exchange, "tools")
    if early:
        return early
    calls = tool_calls_of(first_choice(ctx, exchange))
    if calls:
        return ctx.verdict(
            case, Outcome.FAILED, f"tool_choice 'none' with tools defined; got tool_calls {calls}", exchange
        )
    return ctx.verdict(case, Outcome.PASSED, "tool_choice 'none': no tool call")


def _named_choice(ctx: RunContext, case: Case) -> tuple[Exchange, dict[str, Any]] | Result:
    """The first choice of the named-tool completion, or the verdict that ends the check."""
    exchange = _named_exchange(ctx)
    early = refused(ctx, case, exchange, "tools")
    if early:
        return early
    choice = first_choice(ctx, exchange)
    if choice.get("finish_reason") == "length":
        raise Inconclusive("the tool call was cut by the completion limit")
    return exchange, choice


def tool_named(ctx: RunContext, case: Case) -> Result:
    named = _named_choice(ctx, case)
    if isinstance(named, Result):
        return named
    exchange, choice = named
    wanted = TIME_TOOL["function"]["name"]
    reason = choice.get("finish_reason")
    names = [(c.get("function") or {}).get("name") for c in tool_calls_of(choice) if isinstance(c, dict)]
    if names[:1] != [wanted]:
        return ctx.verdict(case, Outcome.FAILED, f"named tool_choice {wanted!r}; got calls {names}", exchange)
    if reason not in ("tool_calls", "stop"):  # OpenAI itself answers `stop` for a named choice
        level = ctx.contract.clause(FINISH).level
        message = f"named tool_choice {wanted!r} called, but finish_reason is {reason!r}"
        return ctx.verdict(case, Outcome.FAILED, message, exchange, level=level)  # type: ignore[arg-type]
    return ctx.verdict(case, Outcome.PASSED, f"named tool_choice {wanted!r} called, finish_reason {reason!r}")


def tool_arguments(ctx: RunContext, case: Case) -> Result:
    named = _named_choice(ctx, case)
    if isinstance(named, Result):
        return named
    exchange, choice = named
    calls = [c for c in tool_calls_of(choice) if isinstance(c, dict)]
    if not calls:
        raise Inconclusive("no tool call to inspect (see semantic.tool_choice.named)")
    for call in calls:
        arguments = (call.get("function") or {}).get("arguments")
        if not isinstance(arguments, str):
            return ctx.verdict(
                case, Outcome.FAILED, f"arguments is {type(arguments).__name__} {arguments!r}, not a string", exchange
            )
        try:
            json.loads(arguments)
        except ValueError:
            return ctx.verdict(case, Outcome.FAILED, f"arguments {arguments[:200]!r} is not JSON", exchange)
    return ctx.verdict(case, Outcome.PASSED, f"{len(calls)} call(s) with JSON-string arguments")


def json_content(ctx: RunContext, case: Case, exchange: Exchange, kind: str) -> Any:
    """The JSON value of a completion asked for with `response_format` `kind`; or the verdict that ends the check."""
    early = refused(ctx, case, exchange, "response_format")
    if early:
        return early
    choice = first_choice(ctx, exchange)
    text = content_of(choice)
    if choice.get("finish_reason") == "length" or not text.strip():
        raise Inconclusive(f"the content was cut or empty (finish_reason {choice.get('finish_reason')!r})")
    try:
        return json.loads(text)
    except ValueError:
        return ctx.verdict(
            case, Outcome.FAILED, f"response_format {kind}; content is not JSON: {text[:200]!r}", exchange
        )


def json_object(ctx: RunContext, case: Case) -> Result:
    value = json_content(ctx, case, ctx.basic_use("response_format"), "json_object")
    if isinstance(value, Result):
        return value
    return ctx.verdict(case, Outcome.PASSED, "response_format json_object: the content parses as JSON")


def json_schema(ctx: RunContext, case: Case) -> Result:
    fmt = JSON_SCHEMA_FORMAT
    body = ctx.body(limit=TOOL_LIMIT, response_format=fmt)
    body["messages"][0]["content"] = JSON_PROMPT
    exchange = ctx.send("semantic.json_schema", body)
    value = json_content(ctx, case, exchange, "json_schema")
    if isinstance(value, Result):
        return value
    text = json.dumps(value)
    errors = [e.message for e in Draft202012Validator(fmt["json_schema"]["schema"]).iter_errors(value)]
    if errors:
        return ctx.verdict(
            case,
            Outcome.FAILED,
            f"response_format json_schema; the content {text[:120]!r} breaks "
            f"the schema sent: {'; '.join(errors)[:200]}",
            exchange,
        )
    return ctx.verdict(case, Outcome.PASSED, "the content is valid against the json_schema sent")


def parallel_false(ctx: RunContext, case: Case) -> Result:
    body = ctx.body(
        limit=2 * TOOL_LIMIT, tools=[WEATHER_TOOL, TIME_TOOL], tool_choice="auto", parallel_tool_calls=False
    )
    body["messages"][0]["content"] = PARALLEL_PROMPT
    exchange = ctx.send("semantic.parallel_false", body)
    early = refused(ctx, case, exchange, "tools")
    if early:
        return early
    calls = tool_calls_of(first_choice(ctx, exchange))
    if len(calls) > 1:
        return ctx.verdict(case, Outcome.FAILED, f"parallel_tool_calls=false; got {len(calls)} tool calls", exchange)
    return ctx.verdict(case, Outcome.PASSED, f"parallel_tool_calls=false; {len(calls)} tool call(s)")


def tool_cut(ctx: RunContext, case: Case) -> Result:
    named = {"type": "function", "function": {"name": TIME_TOOL["function"]["name"]}}
    body = ctx.body(limit=CUT_LIMIT, tools=[WEATHER_TOOL, TIME_TOOL], tool_choice=named)
    body["messages"][0]["content"] = TOOL_PROMPT
    exchange = ctx.send("semantic.tool_cut", body)
    early = refused(ctx, case, exchange, "tools")
    if early:
        return early
    choice = first_choice(ctx, exchange)
    calls = [c for c in tool_calls_of(choice) if isinstance(c, dict)]
    arguments = [(c.get("function") or {}).get("arguments") for c in calls]
    complete = []
    for text in arguments:
        try:
            json.loads(text) if isinstance(text, str) else None
            complete.append(isinstance(text, str))
        except ValueError:
            complete.append(False)
    if not calls or all(complete):
        raise Inconclusive(f"the tool call was not cut by max_completion_tokens={CUT_LIMIT}")
    reason = choice.get("finish_reason")
    if reason == "length":
        return ctx.verdict(case, Outcome.PASSED, "a tool call cut by the limit reports finish_reason 'length'")
    return ctx.verdict(
        case,
        Outcome.FAILED,
        f"a tool call cut by max_completion_tokens={CUT_LIMIT} (arguments "
        f"{arguments!r}) reports finish_reason {reason!r}, not 'length'",
        exchange,
    )


def logprobs(ctx: RunContext, case: Case) -> Result:
    exchange = ctx.send("semantic.logprobs", ctx.body(logprobs=True, top_logprobs=TOP_K))
    early = refused(ctx, case, exchange, "logprobs")
    if early:
        return early
    choice = first_choice(ctx, exchange)
    content = (choice.get("logprobs") or {}).get("content") if isinstance(choice.get("logprobs"), dict) else None
    sent = f"logprobs=true, top_logprobs={TOP_K}"
    if not isinstance(content, list) or not content:
        got = choice.get("logprobs")
        return ctx.verdict(case, Outcome.FAILED, f"sent {sent}; choices[0].logprobs is {got!r}: dropped", exchange)
    validator = ctx.contract.validator(TOKEN_LOGPROB)
    for i, entry in enumerate(content):
        errors = [e.message for e in validator.iter_errors(entry)]
        alternatives = entry.get("top_logprobs") if isinstance(entry, dict) else None
        if not errors and (not isinstance(alternatives, list) or len(alternatives) != TOP_K):
            errors = [f"{len(alternatives) if isinstance(alternatives, list) else alternatives} alternatives"]
        if errors:
            return ctx.verdict(case, Outcome.FAILED, f"sent {sent}; token {i}: {'; '.join(errors)[:300]}", exchange)
    return ctx.verdict(case, Outcome.PASSED, f"sent {sent}; {len(content)} tokens, {TOP_K} alternatives each")


def seed(ctx: RunContext, case: Case) -> Result:
    first = ctx.send("semantic.free", ctx.free_body())
    second = ctx.send("semantic.free.again", ctx.free_body())
    a, b = content_of(first_choice(ctx, first)), content_of(first_choice(ctx, second))
    if a == b:
        return ctx.verdict(case, Outcome.PASSED, f"seed={ctx.seed}, temperature=0 twice: the same content")
    return ctx.verdict(
        case, Outcome.FAILED, f"seed={ctx.seed}, temperature=0 twice: {a[:80]!r} then {b[:80]!r}", first, second
    )


JUDGES: dict[str, Callable[[RunContext, Case], Result]] = {
    "semantic.max_completion_tokens.usage": lambda ctx, case: limit_usage(ctx, case, "max_completion_tokens"),
    "semantic.max_completion_tokens.finish_reason": lambda ctx, case: limit_finish(ctx, case, "max_completion_tokens"),
    "semantic.max_tokens.usage": lambda ctx, case: limit_usage(ctx, case, "max_tokens"),
    "semantic.max_tokens.finish_reason": lambda ctx, case: limit_finish(ctx, case, "max_tokens"),
    "semantic.stop.truncates": stop_truncates,
    "semantic.stop.finish_reason": stop_finish,
    "semantic.n.choices": n_choices,
    "semantic.tool_choice.none": tool_none,
    "semantic.tool_choice.named": tool_named,
    "semantic.tool_calls.arguments": tool_arguments,
    "semantic.response_format.json_object": json_object,
    "semantic.response_format.json_schema": json_schema,
    "semantic.parallel_tool_calls.false": parallel_false,
    "semantic.tool_calls.cut": tool_cut,
    "semantic.logprobs.top_logprobs": logprobs,
    "semantic.seed.reproducible": seed,
}


@cases(plan)
def test_semantics(ctx: RunContext, case: Case, record: Recorder) -> None:
    record(judged(ctx, case, JUDGES[case.rid]))
