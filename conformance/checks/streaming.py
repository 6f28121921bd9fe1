"""Streaming (`stream: true`): the SSE framing, every chunk, finish_reason, `[DONE]`, usage, tool-call deltas."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from conformance.checks.base import Facts, Inconclusive, Recipe, Registry, Request, Verdict
from conformance.checks.reading import choice_chunks, chunks_of, content_of, first_choice, usage_problem
from conformance.checks.requests import (
    BASIC,
    FREE,
    FREE_AGAIN,
    TIME_TOOL,
    TOOL_LIMIT,
    TOOL_PROMPT,
    WEATHER_TOOL,
    body,
    free_body,
)
from conformance.contract import CHUNK_SCHEMA, OPERATION, Contract
from conformance.records import STILL_OPEN, Exchange, Outcome

__all__ = ["CHECKS", "chunk_problems"]

CHECKS = Registry()
EVENT_STREAM = f"{OPERATION}/responses/200/content/text~1event-stream"
INCLUDE_USAGE = "#/components/schemas/StreamOptions/properties/include_usage"
FINISH = "#/components/schemas/FinishReason"
DELTA = "#/components/schemas/ChunkDelta"
TOOL_INDEX = "#/components/schemas/ChunkToolCall/properties/index"
STREAM = ("stream",)
MAIN = Recipe(
    "stream.main",
    lambda facts, _: Request(free_body(facts, stream=True, stream_options={"include_usage": True})),
)
NAMED_TIME = {"type": "function", "function": {"name": TIME_TOOL["function"]["name"]}}
TOOLS_STREAM = Recipe(
    "stream.tools",
    lambda facts, _: Request(
        body(facts, TOOL_LIMIT, TOOL_PROMPT, tools=[WEATHER_TOOL, TIME_TOOL], tool_choice=NAMED_TIME, stream=True)
    ),
)

Chunks = tuple[Exchange, list[str], list[dict[str, Any]], list[str]]


def on_stream(
    judge: Callable[..., Verdict], event_stream: bool = True, needs_end: bool = False, ends: bool = False
) -> Callable[..., Verdict]:
    """Judge the parsed stream of the first exchange: (exchange, data, chunks, bad data) and the rest. A check of
    how the stream ends (`needs_end`) is inconclusive on a stream read only to its bound, but a check that the
    stream ends at all (`ends`) fails on one still open past the bound its request sets (`STILL_OPEN`); the others
    are inconclusive on an answer that is not an event stream, but for the one judging that (`event_stream=False`)."""

    def judged(facts: Facts, exchange: Exchange, *others: Exchange) -> Verdict:
        if ends and exchange.truncated and exchange.truncated.startswith(STILL_OPEN):
            return Verdict(Outcome.FAILED, f"the stream never ended: {exchange.truncated}", (exchange,))
        if needs_end and exchange.truncated:
            raise Inconclusive(f"the stream was {exchange.truncated}: its end is not judged")
        data, chunks, bad = chunks_of(exchange)
        if event_stream and exchange.content_type != "text/event-stream":
            raise Inconclusive(f"not an event stream (see stream.content_type): {exchange.content_type!r}")
        if event_stream and not data:
            raise Inconclusive(f"no server-sent events in the answer: {exchange.describe(200)}")
        return judge(facts, (exchange, data, chunks, bad), *others)

    judged.__qualname__ = judge.__qualname__
    judged.__doc__ = judge.__doc__
    return judged


def _stream_check(rid: str, field: str | None, pointer: str, *recipes: Recipe, **options: Any) -> Callable[..., Any]:
    options.setdefault("capabilities", STREAM)
    event_stream = options.pop("event_stream", True)
    needs_end = options.pop("needs_end", False)
    ends = options.pop("ends", False)

    def register(judge: Callable[..., Verdict]) -> Callable[..., Verdict]:
        wrapped = on_stream(judge, event_stream, needs_end, ends)
        CHECKS.check(rid, field, pointer, *(recipes or (MAIN,)), served=True, **options)(wrapped)
        return judge

    return register


@_stream_check("stream.content_type", None, EVENT_STREAM, event_stream=False)
def content_type(facts: Facts, s: Chunks) -> Verdict:
    """`stream: true` is answered as `text/event-stream`."""
    got = s[0].content_type
    if got == "text/event-stream":
        return Verdict(Outcome.PASSED, "Content-Type text/event-stream")
    return Verdict(Outcome.FAILED, f"stream: true answered with Content-Type {got!r}", (s[0],))


@_stream_check("stream.data_json", None, EVENT_STREAM)
def data_json(facts: Facts, s: Chunks) -> Verdict:
    """Every `data:` line but `[DONE]` is a JSON chunk."""
    if s[3]:
        return Verdict(Outcome.FAILED, f"data lines that are not JSON chunks: {s[3][:3]!r}", (s[0],))
    return Verdict(Outcome.PASSED, f"{len(s[2])} JSON chunks")


def chunk_problems(contract: Contract, chunks: list[dict[str, Any]]) -> str | None:
    """The first chunk that breaks ChatCompletionChunk, and how; or None."""
    for i, chunk in enumerate(chunks):
        problems = contract.schema_errors(CHUNK_SCHEMA, chunk)
        if problems:
            return f"chunk {i} breaks ChatCompletionChunk: {'; '.join(problems)}"
    return None


@_stream_check("stream.chunk_schema", None, CHUNK_SCHEMA)
def chunk_schema(facts: Facts, s: Chunks) -> Verdict:
    """Every chunk is valid against ChatCompletionChunk."""
    problem = chunk_problems(facts.contract, s[2])
    if problem:
        return Verdict(Outcome.FAILED, problem, (s[0],))
    return Verdict(Outcome.PASSED, f"{len(s[2])} chunks valid")


@_stream_check("stream.single_id", "id", CHUNK_SCHEMA)
def single_id(facts: Facts, s: Chunks) -> Verdict:
    """Every chunk of one completion carries the same non-empty `id`."""
    ids = list(dict.fromkeys(chunk.get("id") for chunk in s[2]))
    if len(ids) == 1 and isinstance(ids[0], str) and ids[0]:
        return Verdict(Outcome.PASSED, f"one id {ids[0]!r}")
    return Verdict(Outcome.FAILED, f"chunk ids: {ids[:5]}", (s[0],))


def _usage_only(chunk: dict[str, Any]) -> bool:
    """A chunk carrying usage whose choices (if any) carry no finish_reason and no content."""
    if chunk.get("usage") is None:
        return False
    choices = chunk.get("choices")
    items = [c for c in choices if isinstance(c, dict)] if isinstance(choices, list) else []
    return all(c.get("finish_reason") is None and not (c.get("delta") or {}).get("content") for c in items)


@_stream_check("stream.finish_reason", "choices.finish_reason", FINISH, needs_end=True, ends=True)
def finish_reason(facts: Facts, s: Chunks) -> Verdict:
    """Each choice has exactly one non-empty finish_reason, in its last chunk. A usage chunk that carries choices
    with no finish_reason is left to stream.usage_chunk, not blamed twice."""
    per_choice = choice_chunks([c for c in s[2] if not _usage_only(c)])
    if not per_choice:
        raise Inconclusive("no chunk carries a choice")
    for index, items in per_choice.items():
        reasons = [c.get("finish_reason") for c in items]
        given = [(i, r) for i, r in enumerate(reasons) if r is not None]
        if len(given) != 1 or given[0][0] != len(items) - 1 or not isinstance(given[0][1], str) or not given[0][1]:
            message = (
                f"choice {index}: finish_reason over its {len(items)} chunks is {reasons[-4:]} (last 4); expected "
                "exactly one non-empty value, in its last chunk"
            )
            return Verdict(Outcome.FAILED, message, (s[0],))
    return Verdict(Outcome.PASSED, "each choice has one finish_reason, in its last chunk")


@_stream_check("stream.done", None, EVENT_STREAM, needs_end=True, ends=True)
def done(facts: Facts, s: Chunks) -> Verdict:
    """The stream ends with exactly one `data: [DONE]`."""
    data = s[1]
    if data[-1] == "[DONE]" and data.count("[DONE]") == 1:
        return Verdict(Outcome.PASSED, "the stream ends with data: [DONE]")
    return Verdict(Outcome.FAILED, f"the stream ends with data {data[-1][:120]!r}, not [DONE]", (s[0],))


@_stream_check(
    "stream.content_matches", "choices.delta.content", DELTA, MAIN, FREE, FREE_AGAIN, needs_end=True, long=True
)
def content_matches(facts: Facts, s: Chunks, first: Exchange, again: Exchange) -> Verdict:
    """The deltas concatenate to the content of the same request unstreamed (when the target is deterministic)."""
    expected = content_of(first_choice(first))
    if content_of(first_choice(again)) != expected:
        raise Inconclusive(
            "the target is not deterministic with a seed at temperature 0 (see semantic.seed.reproducible)"
        )
    items = choice_chunks(s[2]).get(0, [])
    streamed = "".join(
        c["delta"]["content"]
        for c in items
        if isinstance(c.get("delta"), dict) and isinstance(c["delta"].get("content"), str)
    )
    if streamed == expected:
        return Verdict(Outcome.PASSED, "the deltas concatenate to the completion's content")
    message = f"deltas concatenate to {streamed[:120]!r}; the same request unstreamed gives {expected[:120]!r}"
    return Verdict(Outcome.FAILED, message, (s[0], first))


@_stream_check("stream.usage_chunk", "usage", INCLUDE_USAGE, needs_end=True)
def usage_chunk(facts: Facts, s: Chunks) -> Verdict:
    """With `include_usage`, exactly one final chunk has `choices: []` and a usage that adds up."""
    chunks = s[2]
    with_usage = [i for i, chunk in enumerate(chunks) if chunk.get("usage") is not None]
    final = [i for i in with_usage if chunks[i].get("choices") == []]
    sent = "stream_options.include_usage=true"
    if len(with_usage) != 1 or final != [len(chunks) - 1]:
        evidence = f"sent {sent}; chunks with usage at {with_usage} of {len(chunks)}, with choices [] at {final}"
        message = "expected exactly one usage chunk with choices [], the last"
        return Verdict(Outcome.FAILED, message, (s[0],), evidence=evidence)
    problem = usage_problem(chunks[final[0]]["usage"])
    if problem:
        return Verdict(Outcome.FAILED, f"the usage chunk: {problem}", (s[0],), evidence=f"sent {sent}")
    return Verdict(Outcome.PASSED, f"sent {sent}; one final usage chunk with choices []")


@_stream_check("stream.no_usage_unasked", "usage", INCLUDE_USAGE, BASIC["stream"], level="SHOULD", needs_end=True)
def no_usage_unasked(facts: Facts, s: Chunks) -> Verdict:
    """Without `stream_options`, no chunk carries usage (SHOULD)."""
    with_usage = [i for i, chunk in enumerate(s[2]) if chunk.get("usage") is not None]
    if with_usage:
        return Verdict(Outcome.FAILED, f"no stream_options sent; usage in chunks {with_usage}", (s[0],))
    return Verdict(Outcome.PASSED, "no usage chunk when not asked")


@_stream_check(
    "stream.tool_call_index",
    "choices.delta.tool_calls.index",
    TOOL_INDEX,
    TOOLS_STREAM,
    capabilities=("stream", "tools"),
)
def tool_call_index(facts: Facts, s: Chunks) -> Verdict:
    """Every streamed tool-call delta carries an integer `index`."""
    deltas = [
        call
        for items in choice_chunks(s[2]).values()
        for c in items
        for call in ((c.get("delta") or {}).get("tool_calls") or [])
    ]
    if not deltas:
        raise Inconclusive("no streamed tool-call delta to inspect")
    missing = [d for d in deltas if not isinstance(d, dict) or not isinstance(d.get("index"), int)]
    if missing:
        message = f"{len(missing)} of {len(deltas)} tool-call deltas lack an integer index, e.g. {missing[0]!r}"
        return Verdict(Outcome.FAILED, message, (s[0],))
    return Verdict(Outcome.PASSED, f"{len(deltas)} tool-call deltas, each with an index")
