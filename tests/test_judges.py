"""Every judge as data, the JSON-Schema-Test-Suite way: recorded exchanges in, an outcome out.

Each case names a planned check (its id), the exchanges its recipes would record, and the outcome `evaluate`
must reach. A test fails when a judge lacks a passing case or a non-passing one.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from conformance.checks import Check, Facts, evaluate, judge_name, plan
from conformance.checks.properties import error_envelope, stream_chunks, usage_arithmetic
from conformance.contract import PROFILES, load_contract
from conformance.driver.clients import installed
from conformance.records import Exchange, Outcome
from conformance.transport import parse_events

CREATED = 1_764_000_000
CLIENTS = installed()  # the SDK clients the client.* judges replay through (a mock transport: no request)
CONTRACTS = {p: load_contract(None, p) for p in PROFILES}
CHECKS: dict[str, dict[str, Check]] = {p: {c.id: c for c in plan(CONTRACTS[p])} for p in PROFILES}
WORDS = "one two three four five six"


# -- building exchanges ------------------------------------------------------------------------------------------


def exchange(
    status: int | None = 200,
    body: Any = None,
    *,
    text: str | None = None,
    content_type: str = "application/json",
    error: str | None = None,
    request: Any = None,
    headers: dict[str, str] | None = None,
) -> Exchange:
    if text is None:
        text = json.dumps(body) if body is not None else ""
    headers = {**({"content-type": content_type} if status is not None else {}), **(headers or {})}
    return Exchange(
        "POST",
        "http://t/v1/chat/completions",
        {},
        request if request is not None else {"model": "m"},
        status=status,
        response_headers=headers,
        text=text,
        events=parse_events(text) if "data:" in text else [],
        error=error,
        attempts=1,
    )


def completion(content: Any = "Hello there.", finish: Any = "stop", **top: Any) -> dict[str, Any]:
    message = top.pop("message", {"role": "assistant", "content": content})
    choice = {"index": 0, "message": message, "finish_reason": finish, "logprobs": top.pop("logprobs", None)}
    body = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": CREATED,
        "model": "m",
        "choices": [choice],
        "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8},
    }
    body.update(top)
    return body


def ok(content: Any = "Hello there.", finish: Any = "stop", **top: Any) -> Exchange:
    return exchange(200, completion(content, finish, **top))


def tool_message(*calls: tuple[str, Any]) -> dict[str, Any]:
    return {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": f"call_{i}", "type": "function", "function": {"name": name, "arguments": arguments}}
            for i, (name, arguments) in enumerate(calls)
        ],
    }


def chunk(delta: dict[str, Any] | None = None, finish: Any = None, **top: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": CREATED, "model": "m"}
    base["choices"] = [{"index": 0, "delta": delta or {}, "finish_reason": finish}]
    base.update(top)
    return base


USAGE = {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}
USAGE_CHUNK = chunk(choices=[], usage=USAGE)
USAGE_WITH_A_CHOICE = chunk({}, usage=USAGE)  # LiteLLM 1.106: the usage chunk repeats choice 0, empty
DONE = "data: [DONE]\n\n"


def stream(*events: Any, content_type: str = "text/event-stream") -> Exchange:
    text = "".join(e if isinstance(e, str) else f"data: {json.dumps(e)}\n\n" for e in events)
    return exchange(200, text=text, content_type=content_type)


def good_stream(content: str = "Hello there.", usage: bool = True, done: bool = True) -> list[Any]:
    events: list[Any] = [chunk({"role": "assistant", "content": ""})]
    events += [chunk({"content": w if i == 0 else " " + w}) for i, w in enumerate(content.split(" "))]
    events.append(chunk({}, "stop"))
    if usage:
        events.append(USAGE_CHUNK)
    if done:
        events.append("data: [DONE]\n\n")
    return events


def tool_stream(with_index: bool = True) -> list[Any]:
    head = {"index": 0, "id": "call_0", "type": "function", "function": {"name": "get_local_time", "arguments": ""}}
    piece: dict[str, Any] = {"function": {"arguments": '{"city": "Paris"}'}}
    if with_index:
        piece["index"] = 0
    return [
        chunk({"role": "assistant", "content": ""}),
        chunk({"tool_calls": [head]}),
        chunk({"tool_calls": [piece]}),
        chunk({}, "tool_calls"),
        "data: [DONE]\n\n",
    ]


def logprobs_of(k: int, bytes_: Any = None) -> dict[str, Any]:
    token = {"token": "Hi", "logprob": -0.1, "bytes": bytes_ if bytes_ is not None else [72, 105]}
    token["top_logprobs"] = [{"token": f"Hi{j}", "logprob": -0.1 - j, "bytes": [72]} for j in range(k)]
    return {"content": [token]}


def limited(retry_after: str | None = "2", body: Any = None, text: str | None = None) -> Exchange:
    """A 429 the run met: by default the envelope and `Retry-After: 2`."""
    headers = {"retry-after": retry_after} if retry_after is not None else {}
    content_type = "text/plain" if text is not None else "application/json"
    return exchange(
        429,
        body or {"error": {"code": "RATE_LIMITED", "message": "slow down"}},
        text=text,
        content_type=content_type,
        headers=headers,
    )


def rated(**values: str) -> Exchange:
    """An answer carrying x-ratelimit-* headers: coherent ones, with `values` (by name after the prefix) instead."""
    names = {
        "limit-requests": "10",
        "remaining-requests": "9",
        "reset-requests": "1s",
        "limit-tokens": "1000",
        "remaining-tokens": "990",
        "reset-tokens": "6ms",
        **values,
    }
    return exchange(200, completion(), headers={f"x-ratelimit-{k}": v for k, v in names.items()})


def batch(same_id: bool = False) -> list[Exchange]:
    """The answers to load.no_cross_talk's four requests, each its own (prompt tokens grow with the prompt)."""
    from conformance.checks.load import CROSS_TALK

    answers = []
    for i, (prompt, n, limit) in enumerate(CROSS_TALK):
        choices = [{**completion()["choices"][0], "index": j} for j in range(n)]
        usage = {"prompt_tokens": len(prompt) // 4 + 3, "completion_tokens": n * limit, "total_tokens": 0}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        answer = completion(choices=choices, usage=usage, id="chatcmpl-1" if same_id else f"chatcmpl-{i}")
        sent = {"model": "m", "messages": [{"role": "user", "content": prompt}], "max_completion_tokens": limit, "n": n}
        answers.append(exchange(200, answer, request=sent))
    return answers


def n_alone(choices: int) -> Exchange:
    """The answer to `n: 2` sent alone, with `choices` choices."""
    answer = completion(choices=[{**completion()["choices"][0], "index": j} for j in range(choices)])
    return exchange(200, answer, request={"model": "m", "messages": [{"role": "user", "content": "hi"}], "n": 2})


def swap(answers: list[Exchange], i: int, j: int) -> list[Exchange]:
    """The answers with those of requests `i` and `j` exchanged (each still carries its own request)."""
    out = list(answers)
    out[i] = dataclasses.replace(answers[i], text=answers[j].text)
    out[j] = dataclasses.replace(answers[j], text=answers[i].text)
    return out


# -- the cases --------------------------------------------------------------------------------------------------

P, F, W, S, U, E = Outcome.PASSED, Outcome.FAILED, Outcome.WARNED, Outcome.SKIPPED, Outcome.UNSUPPORTED, Outcome.ERROR
TIME_CALL = tool_message(("get_local_time", '{"city": "Paris"}'))
ERROR_400 = {"error": {"code": "BAD_REQUEST", "message": "no"}}
OPENAI_400 = {"error": {"message": "no", "type": "invalid_request_error", "param": None, "code": None}}

CASES: list[tuple[str, str, list[Exchange], Outcome, dict[str, Any]]] = [
    # (check id, description, exchanges, outcome, options: profile, declared, refused, inconclusive)
    ("response.minimal.status", "200", [ok()], P, {}),
    ("response.minimal.status", "a 500", [exchange(500, ERROR_400)], F, {}),
    ("response.minimal.content_type", "json", [ok()], P, {}),
    ("response.minimal.content_type", "text/plain", [exchange(200, completion(), content_type="text/plain")], F, {}),
    ("response.minimal.content_type", "not a 200: inconclusive", [exchange(400, ERROR_400)], S, {}),
    ("response.minimal.schema", "valid", [ok()], P, {}),
    ("response.minimal.schema", "choices null", [ok(choices=None)], F, {}),
    ("response.minimal.schema", "not JSON", [exchange(200, text="<html>")], F, {}),
    ("response.minimal.completion_limit", "3 tokens for a limit of 4", [ok()], P, {}),
    (
        "response.minimal.completion_limit",
        "500 tokens for a limit of 4",
        [ok(usage={"prompt_tokens": 5, "completion_tokens": 500, "total_tokens": 505})],
        F,
        {},
    ),
    ("response.object", "chat.completion", [ok()], P, {}),
    ("response.object", "chat.completions: SHOULD in atoma", [ok(object="chat.completions")], W, {}),
    ("response.object", "chat.completions: MUST in openai", [ok(object="chat.completions")], F, {"profile": "openai"}),
    ("response.id", "an id", [ok()], P, {}),
    ("response.id", "empty", [ok(id="")], F, {}),
    ("response.model", "a model", [ok()], P, {}),
    ("response.model", "null", [ok(model=None)], F, {}),
    ("response.created", "seconds", [ok()], P, {}),
    ("response.created", "milliseconds", [ok(created=CREATED * 1000)], F, {}),
    ("response.created", "a float", [ok(created=CREATED + 0.5)], F, {}),
    ("response.created", "a string", [ok(created=str(CREATED))], F, {}),
    ("response.created", "before 2001", [ok(created=1000)], F, {}),
    ("response.choices", "one choice", [ok()], P, {}),
    ("response.choices", "a JSON string", [ok(choices="[]")], F, {}),
    ("response.choices", "index 1 for n=1", [exchange(200, {**completion(), "choices": [{"index": 1}]})], F, {}),
    ("response.message.role", "assistant", [ok()], P, {}),
    ("response.message.role", "user", [ok(message={"role": "user", "content": "x"})], F, {}),
    ("response.message.role", "no choices: inconclusive", [ok(choices=[])], S, {}),
    ("response.finish_reason", "stop", [ok()], P, {}),
    ("response.finish_reason", "empty: SHOULD in atoma", [ok(finish="")], W, {}),
    ("response.finish_reason", "empty: MUST in openai", [ok(finish="")], F, {"profile": "openai"}),
    ("response.usage", "adds up", [ok()], P, {}),
    ("response.usage", "missing", [ok(usage=None)], W, {}),
    (
        "response.usage",
        "wrong total",
        [ok(usage={"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 3})],
        F,
        {},
    ),
    ("response.error.envelope", "the envelope", [exchange(400, ERROR_400)], P, {}),
    ("response.error.envelope", "plain text", [exchange(400, text="bad request", content_type="text/plain")], F, {}),
    ("response.error.envelope", "openai's envelope", [exchange(400, OPENAI_400)], P, {"profile": "openai"}),
    ("response.error.envelope", "atoma's envelope in openai", [exchange(400, ERROR_400)], F, {"profile": "openai"}),
    ("response.error.envelope", "a 500: nothing to inspect", [exchange(500, ERROR_400)], S, {}),
    # status tables
    ("request.temperature.at_maximum", "accepted", [ok()], P, {}),
    ("request.temperature.at_maximum", "rejected", [exchange(400, ERROR_400)], F, {}),
    ("request.temperature.at_maximum", "crashed", [exchange(500, ERROR_400)], F, {}),
    ("request.temperature.above_maximum", "rejected", [exchange(400, ERROR_400)], P, {}),
    ("request.logit_bias.at_maximum", "accepted, the neutral bias too", [ok(), ok()], P, {}),
    ("request.logit_bias.at_maximum", "rejected, the neutral bias accepted", [exchange(400, ERROR_400), ok()], F, {}),
    (
        "request.logit_bias.at_maximum",
        "rejected with the neutral bias: the token id is refused, not the value",
        [exchange(400, ERROR_400), exchange(400, ERROR_400)],
        S,
        {},
    ),
    ("request.logit_bias.above_maximum", "the token id refused: no verdict", [exchange(400, ERROR_400)] * 2, S, {}),
    ("request.temperature.above_maximum", "accepted", [ok()], F, {}),
    ("request.temperature.above_maximum", "a 500", [exchange(500, ERROR_400)], F, {}),
    ("request.stop.plain_string", "rejected in atoma", [exchange(400, ERROR_400)], P, {}),
    ("request.stop.plain_string", "accepted in atoma: OpenAI-only", [ok()], W, {}),
    ("request.stop.plain_string", "a 500", [exchange(500, ERROR_400)], F, {}),
    ("request.stop.plain_string", "accepted in openai", [ok()], P, {"profile": "openai"}),
    ("request.messages.empty", "accepted in atoma", [ok()], P, {}),
    ("request.messages.empty", "rejected in atoma", [exchange(400, ERROR_400)], P, {}),
    ("request.messages.empty", "a 500", [exchange(500, ERROR_400)], F, {}),
    ("request.messages.empty", "accepted in openai", [ok()], F, {"profile": "openai"}),
    ("auth.missing_token", "401 with the envelope", [exchange(401, ERROR_400)], P, {}),
    ("auth.missing_token", "served", [ok()], F, {}),
    ("auth.missing_token", "401, flat body", [exchange(401, {"message": "no"})], F, {}),
    ("request.body.malformed_json", "400", [exchange(400, ERROR_400)], P, {}),
    ("request.body.malformed_json", "422: SHOULD be 400", [exchange(422, ERROR_400)], W, {}),
    ("request.body.malformed_json", "500", [exchange(500, ERROR_400)], F, {}),
    # what evaluate decides before a judge
    ("request.temperature.at_maximum", "a 503 after retries", [exchange(503, ERROR_400)], E, {}),
    ("request.temperature.at_maximum", "no answer", [exchange(None, error="ConnectError")], E, {}),
    (
        "request.temperature.at_maximum",
        "a provider state",
        [exchange(400, {"error": {"code": "FIAT_PAYMENTS_ONLY"}})],
        E,
        {},
    ),
    ("request.n.accepted", "refused, basic use refused", [exchange(400, ERROR_400)], U, {"refused": {"n"}}),
    ("request.n.accepted", "refused, declared", [exchange(400, ERROR_400)], F, {"declared": {"n"}}),
    ("semantic.n.choices", "refused, declared", [exchange(400, ERROR_400)], F, {"declared": {"n"}}),
    ("semantic.n.choices", "refused, basic use served", [exchange(400, ERROR_400)], S, {}),
    ("semantic.n.choices", "a 500", [exchange(500, ERROR_400)], F, {}),
    ("semantic.stop.truncates", "no stop word could be taken", [ok("")], S, {"inconclusive": "no word"}),
    # semantics
    ("semantic.max_completion_tokens.usage", "3 tokens", [ok()], P, {}),
    (
        "semantic.max_completion_tokens.usage",
        "40 tokens",
        [ok(usage={"prompt_tokens": 5, "completion_tokens": 40, "total_tokens": 45})],
        F,
        {},
    ),
    ("semantic.max_tokens.usage", "no usage: inconclusive", [ok(usage=None)], S, {}),
    ("semantic.max_completion_tokens.finish_reason", "length", [ok(finish="length")], P, {}),
    ("semantic.max_completion_tokens.finish_reason", "stop at the limit: SHOULD", [ok(finish="stop")], W, {}),
    ("semantic.max_completion_tokens.finish_reason", "no usage: not known to be cut", [ok(usage=None)], S, {}),
    (
        "semantic.max_tokens.finish_reason",
        "stop at the limit: MUST in openai",
        [ok(finish="stop")],
        F,
        {"profile": "openai"},
    ),
    ("semantic.stop.truncates", "ends before the word", [ok(WORDS), ok("one two")], P, {}),
    ("semantic.stop.truncates", "the word is in the output", [ok(WORDS), ok(WORDS)], F, {}),
    ("semantic.stop.truncates", "the repeat differs", [ok(WORDS), ok("seven")], S, {}),
    ("semantic.stop.finish_reason", "stop", [ok(WORDS), ok("one two")], P, {}),
    ("semantic.stop.finish_reason", "length: SHOULD", [ok(WORDS), ok("one two", "length")], W, {}),
    (
        "semantic.n.choices",
        "two choices",
        [exchange(200, {**completion(), "choices": [{"index": 0}, {"index": 1}]})],
        P,
        {},
    ),
    ("semantic.n.choices", "one choice", [ok()], F, {}),
    ("semantic.tool_choice.none", "no call", [ok()], P, {}),
    ("semantic.tool_choice.none", "a call", [ok(message=TIME_CALL, finish="tool_calls")], F, {}),
    ("semantic.tool_choice.named", "the named tool", [ok(message=TIME_CALL, finish="tool_calls")], P, {}),
    (
        "semantic.tool_choice.named",
        "another tool",
        [ok(message=tool_message(("get_current_weather", "{}")), finish="tool_calls")],
        F,
        {},
    ),
    ("semantic.tool_choice.named", "finish_reason length: cut", [ok(message=TIME_CALL, finish="length")], S, {}),
    ("semantic.tool_choice.named", "finish_reason '' (SHOULD)", [ok(message=TIME_CALL, finish="")], W, {}),
    ("semantic.tool_calls.arguments", "a JSON string", [ok(message=TIME_CALL, finish="tool_calls")], P, {}),
    (
        "semantic.tool_calls.arguments",
        "an object",
        [ok(message=tool_message(("get_local_time", {"city": "Paris"})), finish="tool_calls")],
        F,
        {},
    ),
    (
        "semantic.tool_calls.arguments",
        "not JSON",
        [ok(message=tool_message(("get_local_time", "{city")), finish="tool_calls")],
        F,
        {},
    ),
    (  # issue 17: the call was cut at the limit (usage reached it) although finish_reason says otherwise
        "semantic.tool_calls.arguments",
        "not JSON, cut at the limit",
        [
            exchange(
                200,
                completion(message=tool_message(("get_local_time", '{"ci')), finish="tool_calls"),
                request={"model": "m", "max_completion_tokens": 3},
            )
        ],
        S,
        {},
    ),
    ("semantic.response_format.json_object", "JSON", [ok('{"answer": "sea"}')], P, {}),
    ("semantic.response_format.json_object", "prose", [ok("The sea.")], F, {}),
    ("semantic.response_format.json_object", "cut", [ok('{"ans', "length")], S, {}),
    ("semantic.response_format.json_schema", "valid", [ok('{"answer": "sea"}')], P, {}),
    ("semantic.response_format.json_schema", "another object", [ok('{"result": "sea"}')], F, {}),
    ("semantic.response_format.json_schema_nonstrict", "another object: SHOULD", [ok('{"result": "sea"}')], W, {}),
    ("semantic.parallel_tool_calls.false", "one call", [ok(message=TIME_CALL, finish="tool_calls")], P, {}),
    (
        "semantic.parallel_tool_calls.false",
        "two calls",
        [ok(message=tool_message(("a", "{}"), ("b", "{}")), finish="tool_calls")],
        F,
        {},
    ),
    ("semantic.tool_calls.cut", "cut, length", [ok(message=tool_message(("t", '{"ci')), finish="length")], P, {}),
    (
        "semantic.tool_calls.cut",
        "cut, tool_calls (SHOULD)",
        [ok(message=tool_message(("t", '{"ci')), finish="tool_calls")],
        W,
        {},
    ),
    ("semantic.tool_calls.cut", "not cut", [ok(message=TIME_CALL, finish="tool_calls")], S, {}),
    (
        "semantic.tool_calls.cut",
        "broken arguments and no usage: not known to be cut",
        [ok(message=tool_message(("t", "string")), finish="tool_calls", usage=None)],
        S,
        {},
    ),
    (
        "semantic.tool_calls.cut",
        "broken arguments past an ignored limit: not a cut",
        [
            ok(
                message=tool_message(("t", '{"ci')),
                finish="tool_calls",
                usage={"prompt_tokens": 5, "completion_tokens": 352, "total_tokens": 357},
            )
        ],
        S,
        {},
    ),
    ("semantic.logprobs.top_logprobs", "two alternatives", [ok(logprobs=logprobs_of(2))], P, {}),
    ("semantic.logprobs.top_logprobs", "one alternative", [ok(logprobs=logprobs_of(1))], F, {}),
    ("semantic.logprobs.top_logprobs", "dropped", [ok(logprobs=None)], F, {}),
    ("semantic.logprobs.top_logprobs", "bytes as strings", [ok(logprobs=logprobs_of(2, ["72"]))], F, {}),
    ("semantic.seed.reproducible", "the same", [ok(WORDS), ok(WORDS)], P, {}),
    ("semantic.seed.reproducible", "different (SHOULD)", [ok(WORDS), ok("seven")], W, {}),
    # streaming
    ("stream.content_type", "event-stream", [stream(*good_stream())], P, {}),
    ("stream.content_type", "json", [stream(*good_stream(), content_type="application/json")], F, {}),
    ("stream.content_type", "a JSON completion, no events", [ok()], F, {}),
    ("stream.done", "a JSON completion, no events", [ok()], S, {}),
    ("stream.data_json", "JSON chunks", [stream(*good_stream())], P, {}),
    (
        "stream.data_json",
        "a broken line",
        [stream(*good_stream()[:1], "data: {not json\n\n", *good_stream()[1:])],
        F,
        {},
    ),
    ("stream.data_json", "not an event stream", [stream(*good_stream(), content_type="application/json")], S, {}),
    ("stream.chunk_schema", "valid", [stream(*good_stream())], P, {}),
    (
        "stream.chunk_schema",
        "object chat.completion",
        [stream(chunk({"content": "x"}, object="chat.completion"))],
        F,
        {},
    ),
    ("stream.single_id", "one id", [stream(*good_stream())], P, {}),
    ("stream.single_id", "ids vary", [stream(chunk({"content": "a"}), chunk({}, "stop", id="other"))], F, {}),
    ("stream.finish_reason", "once, last", [stream(*good_stream())], P, {}),
    (
        "stream.finish_reason",
        "once, then a usage chunk with an empty choice (left to stream.usage_chunk)",
        [stream(*good_stream(usage=False, done=False), USAGE_WITH_A_CHOICE, DONE)],
        P,
        {},
    ),
    (
        "stream.finish_reason",
        "twice (SHOULD)",
        [stream(chunk({"content": "a"}), chunk({}, "stop"), chunk({}, "stop"))],
        W,
        {},
    ),
    (
        "stream.finish_reason",
        "empty (MUST in openai)",
        [stream(chunk({"content": "a"}), chunk({}, ""))],
        F,
        {"profile": "openai"},
    ),
    ("stream.done", "[DONE] last", [stream(*good_stream())], P, {}),
    ("stream.done", "no [DONE]", [stream(*good_stream(done=False))], F, {}),
    ("stream.content_matches", "the same text", [stream(*good_stream(WORDS)), ok(WORDS), ok(WORDS)], P, {}),
    ("stream.content_matches", "a delta dropped", [stream(*good_stream("one three")), ok(WORDS), ok(WORDS)], F, {}),
    ("stream.content_matches", "not deterministic", [stream(*good_stream(WORDS)), ok(WORDS), ok("x")], S, {}),
    ("stream.usage_chunk", "one final usage chunk", [stream(*good_stream())], P, {}),
    ("stream.usage_chunk", "none", [stream(*good_stream(usage=False))], F, {}),
    (
        "stream.usage_chunk",
        "choices not []",
        [stream(*good_stream(usage=False, done=False), USAGE_WITH_A_CHOICE, DONE)],
        F,
        {},
    ),
    ("stream.no_usage_unasked", "none", [stream(*good_stream(usage=False))], P, {}),
    ("stream.no_usage_unasked", "a usage chunk (SHOULD)", [stream(*good_stream())], W, {}),
    ("stream.tool_call_index", "indexed", [stream(*tool_stream())], P, {}),
    ("stream.tool_call_index", "index missing", [stream(*tool_stream(with_index=False))], F, {}),
    ("stream.tool_call_index", "no tool call", [stream(*good_stream())], S, {}),
    # SDK clients (SHOULD): replayed recorded answers
    ("client.openai.plain", "a completion", [ok()], P, {}),
    ("client.openai.plain", "object misspelt", [ok(object="chat.completions")], W, {}),
    ("client.openai.plain", "the SDK not installed", [ok()], S, {"clients": False}),
    ("client.atoma_sdk.plain", "a completion", [ok()], P, {}),
    ("client.atoma_sdk.plain", "created a float", [ok(created=CREATED + 0.5)], W, {}),
    ("client.openai.stream", "a stream", [stream(*good_stream())], P, {}),
    ("client.openai.stream", "a line that is not JSON", [stream(*good_stream(done=False), "data: {x\n\n")], W, {}),
    ("client.atoma_sdk.stream", "a stream", [stream(*good_stream())], P, {}),
    ("client.openai.stream", "a JSON completion: no chunk to read", [ok()], W, {}),
    ("client.openai.tools", "a tool call, content null", [ok(message=TIME_CALL, finish="tool_calls")], P, {}),
    (
        "client.atoma_sdk.tools",
        "a tool call, content null: atoma-sdk 0.1.3 cannot read it",
        [ok(message=TIME_CALL, finish="tool_calls")],
        W,
        {},
    ),
    (
        "client.openai.n",
        "two choices",
        [ok(choices=[completion()["choices"][0], {**completion()["choices"][0], "index": 1}])],
        P,
        {},
    ),
    ("client.openai.n", "finish_reason unknown", [ok(finish="done")], W, {}),
    ("client.openai.tools", "refused, tools not declared", [exchange(400, ERROR_400)], U, {"refused": ["tools"]}),
    # rate limits: judged on the 429s and x-ratelimit-* answers the run met (none, one or several)
    ("ratelimit.envelope", "the envelope, Retry-After in seconds", [limited()], P, {}),
    ("ratelimit.envelope", "Retry-After an HTTP date", [limited("Wed, 21 Oct 2015 07:28:00 GMT")], P, {}),
    ("ratelimit.envelope", "several, each good", [limited(), limited("0")], P, {}),
    ("ratelimit.envelope", "openai's envelope", [limited(body=OPENAI_400)], P, {"profile": "openai"}),
    ("ratelimit.envelope", "no 429 met", [], S, {}),
    ("ratelimit.envelope", "no Retry-After", [limited(None)], F, {}),
    ("ratelimit.envelope", "Retry-After neither seconds nor a date", [limited("soon")], F, {}),
    ("ratelimit.envelope", "a negative Retry-After", [limited("-5")], F, {}),
    ("ratelimit.envelope", "plain text", [limited(text="slow down")], F, {}),
    ("ratelimit.envelope", "the second one is bare", [limited(), limited(None, text="x")], F, {}),
    ("ratelimit.headers", "coherent", [rated(), rated(**{"reset-requests": "6m0s", "reset-tokens": "20ms"})], P, {}),
    ("ratelimit.headers", "reset in seconds", [rated(**{"reset-requests": "1.5"})], P, {}),
    ("ratelimit.headers", "no answer carried them", [], S, {}),
    ("ratelimit.headers", "remaining above its limit (SHOULD)", [rated(**{"remaining-requests": "11"})], W, {}),
    ("ratelimit.headers", "remaining not an integer", [rated(**{"remaining-tokens": "-3"})], W, {}),
    ("ratelimit.headers", "limit not an integer", [rated(**{"limit-requests": "ten"})], W, {}),
    ("ratelimit.headers", "reset not a duration", [rated(**{"reset-requests": "soon"})], W, {}),
    # requests in flight together
    ("load.no_cross_talk", "each its own answer", [n_alone(2), *batch()], P, {}),
    ("load.no_cross_talk", "two answers swapped", [n_alone(2), *swap(batch(), 0, 2)], F, {}),
    ("load.no_cross_talk", "answers of the same n swapped", [n_alone(2), *swap(batch(), 1, 3)], F, {}),
    ("load.no_cross_talk", "one id for two answers", [n_alone(2), *batch(same_id=True)], F, {}),
    # n ignored alone too (one choice for n=2): not a break under load; semantic.n.choices judges it
    ("load.no_cross_talk", "n ignored alone too", [n_alone(1), *swap(batch(), 0, 1)], S, {}),
    ("load.no_cross_talk", "n refused", [exchange(400, ERROR_400)] * 5, U, {"refused": ["n"]}),
    ("load.seed_batch_invariance", "the same beside others", [ok(WORDS), ok(WORDS), ok(WORDS), *[ok()] * 4], P, {}),
    ("load.seed_batch_invariance", "other content beside others", [ok(WORDS), ok(WORDS), ok("x"), *[ok()] * 4], W, {}),
    ("load.seed_batch_invariance", "not reproducible alone", [ok(WORDS), ok("x"), ok(WORDS), *[ok()] * 4], S, {}),
]


@pytest.mark.parametrize(
    ("rid", "description", "exchanges", "expected", "options"),
    CASES,
    ids=[f"{c[0]}: {c[1]}" for c in CASES],
)
def test_judge(
    rid: str, description: str, exchanges: list[Exchange], expected: Outcome, options: dict[str, Any]
) -> None:
    profile = options.get("profile", "atoma")
    check = CHECKS[profile][rid]
    clients = CLIENTS if options.get("clients", True) else {}
    facts = Facts(CONTRACTS[profile], "m", 7, frozenset(options.get("declared", ())), clients=clients)
    result = evaluate(
        check, facts, tuple(exchanges), frozenset(options.get("refused", ())), options.get("inconclusive")
    )
    assert result.outcome is expected, result.message
    assert result.id == rid and result.clause.startswith("openapi.yaml#/") and result.citation
    if expected is not Outcome.PASSED:
        assert "clause:" in result.message
    if expected in (Outcome.FAILED, Outcome.WARNED):
        assert result.reproduce and result.reproduce.startswith("curl ")


def test_every_judge_has_a_passing_and_a_non_passing_case() -> None:
    judges = {judge_name(c) for p in PROFILES for c in CHECKS[p].values() if c.kind == "exchange"}
    passing = {
        judge_name(CHECKS[o.get("profile", "atoma")][rid]) for rid, _, _, out, o in CASES if out is Outcome.PASSED
    }
    other = {
        judge_name(CHECKS[o.get("profile", "atoma")][rid]) for rid, _, _, out, o in CASES if out is not Outcome.PASSED
    }
    assert judges - passing == set()
    assert judges - other == set()


PROPERTY_CASES = [
    (error_envelope, exchange(400, ERROR_400), None),
    (error_envelope, exchange(400, text="no", content_type="text/plain"), "without the error envelope"),
    (error_envelope, ok(), None),
    (usage_arithmetic, ok(), None),
    (usage_arithmetic, ok(usage={"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 3}), "total_tokens 3"),
    (stream_chunks, stream(*good_stream()), None),
    (stream_chunks, stream(chunk({"content": "x"}, object="chat.completion")), "breaks ChatCompletionChunk"),
    (stream_chunks, stream("data: {not json\n\n"), "not a JSON chunk"),
]


@pytest.mark.parametrize(("judge", "exchange_", "says"), PROPERTY_CASES)
def test_property_layer_judgements(judge: Any, exchange_: Exchange, says: str | None) -> None:
    problem = judge(Facts(CONTRACTS["atoma"]), exchange_)
    assert (problem is None) if says is None else (says in (problem or ""))


def test_a_message_gives_the_reason_then_the_clause_then_the_evidence() -> None:
    check = CHECKS["atoma"]["request.temperature.above_maximum"]
    result = evaluate(check, Facts(CONTRACTS["atoma"]), (ok(),))
    reason, clause, evidence = result.message.split(" | ", 2)
    assert reason == "expected 4xx: an invalid value was accepted"
    assert (
        clause.startswith("clause: atoma-docs:") and evidence.startswith("sent temperature=") and "HTTP 200" in evidence
    )


def test_a_warning_is_shown_at_should_level() -> None:
    check = CHECKS["atoma"]["request.stop.plain_string"]  # a MUST clause; accepting an OpenAI-only value warns
    result = evaluate(check, Facts(CONTRACTS["atoma"]), (ok(),))
    assert result.outcome is Outcome.WARNED and result.level == "SHOULD"


@pytest.mark.parametrize(
    "case",
    [c for c in CASES if c[3] in (Outcome.FAILED, Outcome.WARNED)],
    ids=[f"{c[0]}: {c[1]}" for c in CASES if c[3] in (Outcome.FAILED, Outcome.WARNED)],
)
def test_every_failure_leads_with_its_reason(case: tuple[str, str, list[Exchange], Outcome, dict[str, Any]]) -> None:
    """A failed or warned message starts with the reason, never with what was sent; the clause comes next."""
    rid, _, exchanges, _, options = case
    profile = options.get("profile", "atoma")
    facts = Facts(CONTRACTS[profile], "m", 7, frozenset(options.get("declared", ())), clients=CLIENTS)
    result = evaluate(CHECKS[profile][rid], facts, tuple(exchanges), frozenset(options.get("refused", ())))
    reason, _, rest = result.message.partition(" | ")
    assert not reason.startswith(("sent ", "got ")), result.message
    assert rest.startswith("clause: "), result.message
