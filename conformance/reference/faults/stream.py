"""Faults of streaming: the media type, the events, the chunks, `[DONE]` and the usage chunk."""

from __future__ import annotations

import json
from collections.abc import Callable

from conformance.reference.faults.hooks import chunks, no_usage, usage_chunk
from conformance.reference.faults.ids import CLIENTS, OPENAI, clients
from conformance.reference.faults.model import Body, Event, Fault, Hooks, Probe, StreamHooks, expect

__all__ = ["FAULTS"]

Events = Callable[[list[Event], Body], list[Event]]


def _map_chunks(change: Callable[[int, Body], None]) -> Events:
    def hook(events: list[Event], _: Body) -> list[Event]:
        for i, chunk in enumerate(chunks(events)):
            change(i, chunk)
        return events

    return hook


def _ids_vary(i: int, chunk: Body) -> None:
    chunk["id"] = f"{chunk['id']}-{i}"


def _object_completion(i: int, chunk: Body) -> None:
    chunk["object"] = "chat.completion"


def _finish_chunks(events: list[Event]) -> list[Body]:
    return [c for c in chunks(events) if any(ch.get("finish_reason") is not None for ch in c.get("choices", []))]


def _finish_empty(events: list[Event], _: Body) -> list[Event]:
    for chunk in _finish_chunks(events):
        for choice in chunk["choices"]:
            choice["finish_reason"] = ""
    return events


def _finish_twice(events: list[Event], _: Body) -> list[Event]:
    out: list[Event] = []
    for event in events:
        if isinstance(event, dict) and event in _finish_chunks(events):
            out.append(json.loads(json.dumps(event)))
        out.append(event)
    return out


def _drops_delta(events: list[Event], _: Body) -> list[Event]:
    content = [e for e in chunks(events) if any((c.get("delta") or {}).get("content") for c in e["choices"])]
    return [e for e in events if not (len(content) > 1 and e is content[1])]


def _endless(events: list[Event], _: Body) -> list[Event]:
    first = chunks(events)[0]
    more = [{**first, "choices": [{"index": 0, "delta": {"content": "more"}, "finish_reason": None}]}] * 1000
    return [*events[:1], *more, *events[1:]]


def _bad_json(events: list[Event], _: Body) -> list[Event]:
    return [*events[:1], "data: {not json\n\n", *events[1:]]


def _keepalive(events: list[Event], _: Body) -> list[Event]:
    out: list[Event] = []
    for event in events:
        out += [": keep-alive\n\n", event]
    return out


def _tool_index_missing(events: list[Event], _: Body) -> list[Event]:
    for chunk in chunks(events):
        for choice in chunk["choices"]:
            for call in (choice.get("delta") or {}).get("tool_calls") or []:
                if "id" not in call:  # every delta after the first of a call
                    call.pop("index", None)
    return events


def _usage_unasked(events: list[Event], _: Body) -> list[Event]:
    if usage_chunk(events) is None and events:
        first = chunks(events)[0]
        usage = {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}
        events.insert(-1, {k: first[k] for k in ("id", "object", "created", "model")} | {"choices": [], "usage": usage})
    return events


def _no_done(events: list[Event], _: Body) -> list[Event]:
    return [e for e in events if e != "data: [DONE]\n\n"]


FAULTS = [
    Fault(
        "stream_content_type_json",
        "streams are sent as application/json",
        "stream",
        (expect("stream.content_type"),),
        hooks=Hooks(stream=StreamHooks(media_type="application/json")),
    ),
    Fault(
        "stream_no_done",
        "streams end without `data: [DONE]`",
        "stream",
        (expect("stream.done"),),
        hooks=Hooks(stream=StreamHooks(events=_no_done)),
    ),
    Fault(
        "stream_bad_json",
        "a stream carries a data line that is not JSON",
        "stream",
        (
            expect("stream.data_json"),
            expect(warned=clients("stream") | {"client.atoma_sdk.stream"}, args=CLIENTS),
        ),
        hooks=Hooks(stream=StreamHooks(events=_bad_json)),
    ),
    Fault(
        "stream_object_wrong",
        "chunks carry `object: chat.completion`",
        "stream",
        (expect("stream.chunk_schema"),),
        hooks=Hooks(stream=StreamHooks(events=_map_chunks(_object_completion))),
    ),
    Fault(
        "stream_ids_vary",
        "every chunk has its own `id`",
        "stream",
        (expect("stream.single_id"),),
        hooks=Hooks(stream=StreamHooks(events=_map_chunks(_ids_vary))),
    ),
    Fault(
        "stream_finish_reason_empty",
        "the last chunk's finish_reason is an empty string",
        "stream",
        (
            expect(warned="stream.finish_reason"),
            expect({"stream.finish_reason", "stream.chunk_schema"}, profile=OPENAI),
        ),
        hooks=Hooks(stream=StreamHooks(events=_finish_empty)),
    ),
    Fault(
        "stream_finish_twice",
        "finish_reason is sent in two chunks",
        "stream",
        (expect(warned="stream.finish_reason"),),
        hooks=Hooks(stream=StreamHooks(events=_finish_twice)),
    ),
    Fault(
        "stream_drops_delta",
        "a content delta is dropped: the stream's text differs from the completion's",
        "stream",
        (expect("stream.content_matches"),),
        hooks=Hooks(stream=StreamHooks(events=_drops_delta)),
    ),
    Fault(
        "stream_no_usage",
        "`stream_options.include_usage` is ignored",
        "stream",
        (expect("stream.usage_chunk"),),
        hooks=Hooks(stream=StreamHooks(events=no_usage)),
    ),
    Fault(
        "stream_usage_unasked",
        "a usage chunk is sent even when not asked (as Atoma's node does)",
        "stream",
        (expect(warned="stream.no_usage_unasked"),),
        hooks=Hooks(stream=StreamHooks(events=_usage_unasked)),
    ),
    Fault(
        "stream_tool_index_missing",
        "streamed tool-call deltas after the first carry no `index`",
        "stream",
        (expect("stream.tool_call_index"),),
        hooks=Hooks(stream=StreamHooks(events=_tool_index_missing)),
    ),
    Fault(
        "stream_endless",
        "a stream sends 1,000 content chunks, far past 2 x n x (limit + 4) + 8 data events: it never ends",
        "stream",
        (expect("stream.done", warned="stream.finish_reason"),),
        hooks=Hooks(stream=StreamHooks(events=_endless)),
    ),
    Fault(
        "stream_keepalive",
        "`: keep-alive` comment lines between events: must not fail anything",
        "stream",
        (expect(),),
        probe=Probe(
            {"messages": [{"role": "user", "content": "hi"}], "max_completion_tokens": 2, "stream": True},
            ": keep-alive",
        ),
        hooks=Hooks(stream=StreamHooks(events=_keepalive)),
    ),
]
