"""Streaming (`stream: true`): the SSE framing, every chunk, finish_reason, `[DONE]`, usage, tool-call deltas."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from conformance.contract import CHUNK_SCHEMA, OPERATION
from conformance.records import Outcome, Result
from conformance.suite.common import Inconclusive, content_of, first_choice, judged, refused, usage_problem
from conformance.suite.context import TIME_TOOL, TOOL_LIMIT, TOOL_PROMPT, WEATHER_TOOL, Case, RunContext
from conformance.suite.plugin import Recorder, cases
from conformance.transport import Exchange

EVENT_STREAM = f"{OPERATION}/responses/200/content/text~1event-stream"
INCLUDE_USAGE = "#/components/schemas/StreamOptions/properties/include_usage"
FINISH = "#/components/schemas/FinishReason"
DELTA = "#/components/schemas/ChunkDelta"
TOOL_INDEX = "#/components/schemas/ChunkToolCall/properties/index"


def plan(ctx: RunContext) -> list[Case]:
    long = {"long": True}
    return [
        Case("stream.content_type", None, EVENT_STREAM, long),
        Case("stream.data_json", None, EVENT_STREAM, long),
        Case("stream.chunk_schema", None, CHUNK_SCHEMA, long),
        Case("stream.single_id", "id", CHUNK_SCHEMA, long),
        Case("stream.finish_reason", "choices.finish_reason", FINISH, long),
        Case("stream.done", None, EVENT_STREAM, long),
        Case("stream.content_matches", "choices.delta.content", DELTA, long),
        Case("stream.usage_chunk", "usage", INCLUDE_USAGE, long),
        Case("stream.no_usage_unasked", "usage", INCLUDE_USAGE, level="SHOULD"),
        Case("stream.tool_call_index", "choices.delta.tool_calls.index", TOOL_INDEX, long),
    ]


@dataclass
class Stream:
    """A streamed exchange, parsed: the data of every event, and the JSON chunks among them."""

    exchange: Exchange
    data: list[str]
    chunks: list[dict[str, Any]]
    bad: list[str]


def parse(ctx: RunContext, case: Case, exchange: Exchange, *capabilities: str) -> Stream | Result:
    """The parsed stream of a 200 answer; or the verdict that ends the check (unsupported, failed, error)."""
    early = refused(ctx, case, exchange, *capabilities)
    if early:
        return early
    data = [event.data for event in exchange.events]
    chunks, bad = [], []
    for item in data:
        if item == "[DONE]":
            continue
        try:
            chunk = json.loads(item)
        except ValueError:
            bad.append(item)
            continue
        if isinstance(chunk, dict):
            chunks.append(chunk)
        else:
            bad.append(item)
    if not data:
        raise Inconclusive(f"no server-sent events in the answer: {exchange.describe(200)}")
    return Stream(exchange, data, chunks, bad)


def main_stream(ctx: RunContext) -> Exchange:
    """The deterministic completion, streamed, with usage asked for."""
    body = ctx.free_body(stream=True, stream_options={"include_usage": True})
    return ctx.send("stream.main", body)


def choice_chunks(stream: Stream) -> dict[Any, list[dict[str, Any]]]:
    """Each choice index -> its chunk choices, in order."""
    out: dict[Any, list[dict[str, Any]]] = {}
    for chunk in stream.chunks:
        for choice in chunk.get("choices") or []:
            if isinstance(choice, dict):
                out.setdefault(choice.get("index"), []).append(choice)
    return out


def content_type(ctx: RunContext, case: Case, s: Stream) -> Result:
    got = s.exchange.content_type
    if got == "text/event-stream":
        return ctx.verdict(case, Outcome.PASSED, "Content-Type text/event-stream")
    return ctx.verdict(case, Outcome.FAILED, f"stream: true answered with Content-Type {got!r}", s.exchange)


def data_json(ctx: RunContext, case: Case, s: Stream) -> Result:
    if s.bad:
        return ctx.verdict(case, Outcome.FAILED, f"data lines that are not JSON chunks: {s.bad[:3]!r}", s.exchange)
    return ctx.verdict(case, Outcome.PASSED, f"{len(s.chunks)} JSON chunks")


def chunk_schema(ctx: RunContext, case: Case, s: Stream) -> Result:
    for i, chunk in enumerate(s.chunks):
        problems = ctx.contract.schema_errors(CHUNK_SCHEMA, chunk)
        if problems:
            return ctx.verdict(
                case, Outcome.FAILED, f"chunk {i} breaks ChatCompletionChunk: {'; '.join(problems)}", s.exchange
            )
    return ctx.verdict(case, Outcome.PASSED, f"{len(s.chunks)} chunks valid")


def single_id(ctx: RunContext, case: Case, s: Stream) -> Result:
    ids = list(dict.fromkeys(chunk.get("id") for chunk in s.chunks))
    if len(ids) == 1 and isinstance(ids[0], str) and ids[0]:
        return ctx.verdict(case, Outcome.PASSED, f"one id {ids[0]!r}")
    return ctx.verdict(case, Outcome.FAILED, f"chunk ids: {ids[:5]}", s.exchange)


def finish_reason(ctx: RunContext, case: Case, s: Stream) -> Result:
    per_choice = choice_chunks(s)
    if not per_choice:
        raise Inconclusive("no chunk carries a choice")
    for index, items in per_choice.items():
        reasons = [c.get("finish_reason") for c in items]
        given = [(i, r) for i, r in enumerate(reasons) if r is not None]
        if len(given) != 1 or given[0][0] != len(items) - 1 or not isinstance(given[0][1], str) or not given[0][1]:
            return ctx.verdict(
                case,
                Outcome.FAILED,
                f"choice {index}: finish_reason over its {len(items)} chunks is {reasons[-4:]} (last 4); expected "
                "exactly one non-empty value, in its last chunk",
                s.exchange,
            )
    return ctx.verdict(case, Outcome.PASSED, "each choice has one finish_reason, in its last chunk")


def done(ctx: RunContext, case: Case, s: Stream) -> Result:
    if s.data[-1] == "[DONE]" and s.data.count("[DONE]") == 1:
        return ctx.verdict(case, Outcome.PASSED, "the stream ends with data: [DONE]")
    return ctx.verdict(case, Outcome.FAILED, f"the stream ends with data {s.data[-1][:120]!r}, not [DONE]", s.exchange)


def content_matches(ctx: RunContext, case: Case, s: Stream) -> Result:
    first = ctx.send("semantic.free", ctx.free_body())
    again = ctx.send("semantic.free.again", ctx.free_body())
    expected = content_of(first_choice(ctx, first))
    if content_of(first_choice(ctx, again)) != expected:
        raise Inconclusive(
            "the target is not deterministic with a seed at temperature 0 (see semantic.seed.reproducible)"
        )
    items = choice_chunks(s).get(0, [])
    streamed = "".join(
        c["delta"]["content"]
        for c in items
        if isinstance(c.get("delta"), dict) and isinstance(c["delta"].get("content"), str)
    )
    if streamed == expected:
        return ctx.verdict(case, Outcome.PASSED, "the deltas concatenate to the completion's content")
    return ctx.verdict(
        case,
        Outcome.FAILED,
        f"deltas concatenate to {streamed[:120]!r}; the same request unstreamed gives {expected[:120]!r}",
        s.exchange,
        first,
    )


def usage_chunk(ctx: RunContext, case: Case, s: Stream) -> Result:
    with_usage = [i for i, chunk in enumerate(s.chunks) if chunk.get("usage") is not None]
    final = [i for i in with_usage if s.chunks[i].get("choices") == []]
    sent = "stream_options.include_usage=true"
    if len(with_usage) != 1 or final != [len(s.chunks) - 1]:
        return ctx.verdict(
            case,
            Outcome.FAILED,
            f"sent {sent}; chunks with usage at {with_usage} of {len(s.chunks)}, "
            f"with choices [] at {final}: expected exactly one, the last",
            s.exchange,
        )
    problem = usage_problem(s.chunks[final[0]]["usage"])
    if problem:
        return ctx.verdict(case, Outcome.FAILED, f"sent {sent}; the usage chunk: {problem}", s.exchange)
    return ctx.verdict(case, Outcome.PASSED, f"sent {sent}; one final usage chunk with choices []")


def no_usage_unasked(ctx: RunContext, case: Case, s: Stream) -> Result:
    with_usage = [i for i, chunk in enumerate(s.chunks) if chunk.get("usage") is not None]
    if with_usage:
        return ctx.verdict(case, Outcome.FAILED, f"no stream_options sent; usage in chunks {with_usage}", s.exchange)
    return ctx.verdict(case, Outcome.PASSED, "no usage chunk when not asked")


def tool_call_index(ctx: RunContext, case: Case, s: Stream) -> Result:
    deltas = [
        call
        for items in choice_chunks(s).values()
        for c in items
        for call in ((c.get("delta") or {}).get("tool_calls") or [])
    ]
    if not deltas:
        raise Inconclusive("no streamed tool-call delta to inspect")
    missing = [d for d in deltas if not isinstance(d, dict) or not isinstance(d.get("index"), int)]
    if missing:
        return ctx.verdict(
            case,
            Outcome.FAILED,
            f"{len(missing)} of {len(deltas)} tool-call deltas lack an integer index, e.g. {missing[0]!r}",
            s.exchange,
        )
    return ctx.verdict(case, Outcome.PASSED, f"{len(deltas)} tool-call deltas, each with an index")


def tool_stream(ctx: RunContext) -> Exchange:
    named = {"type": "function", "function": {"name": TIME_TOOL["function"]["name"]}}
    body = ctx.body(limit=TOOL_LIMIT, tools=[WEATHER_TOOL, TIME_TOOL], tool_choice=named, stream=True)
    body["messages"][0]["content"] = TOOL_PROMPT
    return ctx.send("stream.tools", body)


JUDGES: dict[str, tuple[Callable[[RunContext], Exchange], tuple[str, ...], Callable[..., Result]]] = {
    "stream.content_type": (main_stream, ("stream",), content_type),
    "stream.data_json": (main_stream, ("stream",), data_json),
    "stream.chunk_schema": (main_stream, ("stream",), chunk_schema),
    "stream.single_id": (main_stream, ("stream",), single_id),
    "stream.finish_reason": (main_stream, ("stream",), finish_reason),
    "stream.done": (main_stream, ("stream",), done),
    "stream.content_matches": (main_stream, ("stream",), content_matches),
    "stream.usage_chunk": (main_stream, ("stream",), usage_chunk),
    "stream.no_usage_unasked": (lambda ctx: ctx.basic_use("stream"), ("stream",), no_usage_unasked),
    "stream.tool_call_index": (tool_stream, ("stream", "tools"), tool_call_index),
}


@cases(plan)
def test_streaming(ctx: RunContext, case: Case, record: Recorder) -> None:
    exchange_of, capabilities, check = JUDGES[case.rid]

    def judge(ctx: RunContext, case: Case) -> Result:
        exchange = exchange_of(ctx)
        parsed = parse(ctx, case, exchange, *capabilities)
        if isinstance(parsed, Result):
            return parsed
        if case.rid != "stream.content_type" and exchange.content_type != "text/event-stream":
            raise Inconclusive(f"not an event stream (see stream.content_type): {exchange.content_type!r}")
        return check(ctx, case, parsed)

    record(judged(ctx, case, judge))
