"""Faults of the minimal request and the response contract: status, media type, the completion's fields."""

from __future__ import annotations

import json

from conformance.reference.faults.hooks import always, chunks, crash, each_choice, no_usage, set_key, usage_chunk
from conformance.reference.faults.ids import CLIENTS, FINISH_SEMANTICS, OPENAI, clients
from conformance.reference.faults.model import (
    ApiError,
    Body,
    Event,
    Fault,
    Hooks,
    Probe,
    RequestHooks,
    ResponseHooks,
    StreamHooks,
    WireHooks,
    expect,
)

__all__ = ["FAULTS"]

SCHEMA = "response.minimal.schema"


def _usage_wrong(payload: Body, _: Body) -> None:
    if payload.get("usage"):
        payload["usage"]["total_tokens"] += 1


def _usage_wrong_stream(events: list[Event], _: Body) -> list[Event]:
    usage = usage_chunk(events)
    if usage:
        usage["usage"]["total_tokens"] += 1
    return events


def _usage_missing(payload: Body, _: Body) -> None:
    payload.pop("usage", None)


def _extra_keys(payload: Body, _: Body) -> None:
    payload.update(signature="c2lnbmF0dXJl", response_hash="aGFzaA==")


def _extra_keys_stream(events: list[Event], _: Body) -> list[Event]:
    for chunk in chunks(events):
        chunk.update(signature="c2lnbmF0dXJl", response_hash="aGFzaA==")
    return events


def _error_flat(error: ApiError) -> tuple[int, str, str] | None:
    return (400, error.message, "text/plain") if error.status == 400 else None


FAULTS = [
    Fault(
        "chat_500",
        "every chat completion answers 500",
        "request",
        (expect({"response.minimal.status", "request.max_completion_tokens.accepted"}),),
        hooks=Hooks(request=RequestHooks(after=always(crash("Internal server error")))),
    ),
    Fault(
        "payment_required",
        "every chat completion answers 402 FIAT_PAYMENTS_ONLY (a provider state: exit 3)",
        "request",
        hooks=Hooks(request=RequestHooks(after=always(ApiError(402, "FIAT_PAYMENTS_ONLY", "Insufficient balance")))),
    ),
    Fault(
        "unavailable_after_preflight",
        "after the first request, every chat completion answers 503 (Retry-After: 0)",
        "wire",
        hooks=Hooks(wire=WireHooks(answer_after=1)),
    ),
    Fault(
        "wrong_content_type",
        "a 200 completion is sent as text/plain",
        "response",
        (expect("response.minimal.content_type"),),
        hooks=Hooks(response=ResponseHooks(media_type="text/plain")),
    ),
    Fault(
        "created_string",
        "`created` is sent as a string",
        "response",
        (expect({SCHEMA, "response.created"}),),
        hooks=Hooks(response=ResponseHooks(payload=set_key("created", str))),
    ),
    Fault(
        "created_float",
        "`created` is sent as a float",
        "response",
        (
            expect({SCHEMA, "response.created"}),
            expect(
                warned=clients("plain", "n", "tools") | {"client.atoma_sdk.plain", "client.atoma_sdk.n"},
                args=CLIENTS,
            ),
        ),
        hooks=Hooks(response=ResponseHooks(payload=set_key("created", lambda v: v + 0.5))),
    ),
    Fault(
        "created_ms",
        "`created` is sent in milliseconds",
        "response",
        (expect("response.created"),),
        hooks=Hooks(response=ResponseHooks(payload=set_key("created", lambda v: v * 1000))),
    ),
    Fault(
        "object_wrong",
        "`object` is `chat.completions`",
        "response",
        (
            expect(warned="response.object"),
            expect({SCHEMA, "response.object"}, profile=OPENAI),
            expect(warned=clients("plain", "n", "tools"), args=CLIENTS),
        ),
        hooks=Hooks(response=ResponseHooks(payload=set_key("object", lambda v: "chat.completions"))),
    ),
    Fault(
        "id_empty",
        "`id` is an empty string",
        "response",
        (expect({SCHEMA, "response.id"}),),
        hooks=Hooks(response=ResponseHooks(payload=set_key("id", lambda v: ""))),
    ),
    Fault(
        "model_empty",
        "`model` is an empty string",
        "response",
        (expect("response.model"),),
        hooks=Hooks(response=ResponseHooks(payload=set_key("model", lambda v: ""))),
    ),
    Fault(
        "role_user",
        "the response message role is `user`",
        "response",
        (expect({SCHEMA, "response.message.role"}),),
        hooks=Hooks(response=ResponseHooks(payload=each_choice("role", "user"))),
    ),
    Fault(
        "finish_reason_empty",
        "`finish_reason` is an empty string",
        "response",
        (
            expect(
                warned={"response.finish_reason", "semantic.stop.finish_reason", "semantic.tool_choice.named"}
                | FINISH_SEMANTICS
            ),
            expect(
                {SCHEMA, "response.finish_reason", "semantic.stop.finish_reason", "semantic.tool_choice.named"}
                | FINISH_SEMANTICS,
                profile=OPENAI,
            ),
        ),
        hooks=Hooks(response=ResponseHooks(payload=each_choice("finish_reason", ""))),
    ),
    Fault(
        "usage_total_wrong",
        "`usage.total_tokens` is not prompt + completion",
        "response",
        (expect({"response.usage", "stream.usage_chunk"}),),
        hooks=Hooks(response=ResponseHooks(payload=_usage_wrong), stream=StreamHooks(events=_usage_wrong_stream)),
    ),
    Fault(
        "usage_missing",
        "no `usage` in completions",
        "response",
        (expect("stream.usage_chunk", warned="response.usage"),),
        hooks=Hooks(response=ResponseHooks(payload=_usage_missing), stream=StreamHooks(events=no_usage)),
    ),
    Fault(
        "extra_keys",
        "responses and chunks carry extra keys (`signature`, `response_hash`, as Atoma's do): must change nothing",
        "response",
        (expect(),),
        probe=Probe({"messages": [{"role": "user", "content": "hi"}], "max_completion_tokens": 2}, '"signature"'),
        hooks=Hooks(response=ResponseHooks(payload=_extra_keys), stream=StreamHooks(events=_extra_keys_stream)),
    ),
    Fault(
        "choices_string",
        "`choices` is a JSON-encoded string (E2)",
        "response",
        (expect({SCHEMA, "response.choices"}),),  # no choices read alone either: load.no_cross_talk inconclusive
        hooks=Hooks(response=ResponseHooks(payload=set_key("choices", json.dumps))),
    ),
    Fault(
        "error_flat",
        "400 answers are plain text, not the error envelope",
        "response",
        (expect("response.error.envelope"),),
        hooks=Hooks(response=ResponseHooks(render_error=_error_flat)),
    ),
]
