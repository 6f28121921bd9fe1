"""Faults the property layer finds (500s on inputs the hand-written checks never send), and 500s the client must
survive: once (`flaky_500`), or followed by a TCP reset (`reset_after_500`)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from conformance.reference.faults.hooks import crash_when, is_number, message_crash
from conformance.reference.faults.ids import OUTSIDE, request_ids
from conformance.reference.faults.model import (
    HAND_WRITTEN,
    Body,
    Fault,
    Hooks,
    Proof,
    RequestHooks,
    ResponseHooks,
    RunArgs,
    WireHooks,
    expect,
)
from conformance.reference.wire import reset_after_500

__all__ = ["FAULTS"]


def _is_integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _found_by_the_layer(field_name: str) -> Proof:
    """A crash on a valid value the hand-written checks never send: the property layer alone reports it, under
    its field and no other, on three seeds."""
    failed = {"property.positive", f"property.not_a_server_error.{field_name}"}
    return expect(failed, args=RunArgs(only=("property.positive",)), seeds=(1, 2, 3))


def _index_strings_with_logprobs(payload: Body, body: Body) -> None:
    if body.get("logprobs") is not None:
        for choice in payload["choices"]:
            choice["index"] = str(choice["index"])


def _top_p_null(body: Body) -> bool:
    return "top_p" in body and body["top_p"] is None


def _seed_negative(body: Body) -> bool:
    return is_number(body.get("seed")) and body["seed"] < 0


def _seed_not_integer(body: Body) -> bool:
    return body.get("seed") is not None and not _is_integer(body["seed"])


def _stop_empty_string(body: Body) -> bool:
    return isinstance(body.get("stop"), list) and "" in body["stop"]


def _user_long(body: Body) -> bool:
    return isinstance(body.get("user"), str) and len(body["user"]) > 1000


def _tool_message_without_id(body: Body) -> bool:
    messages = body.get("messages")
    return any(
        isinstance(m, dict) and m.get("role") == "tool" and "tool_call_id" not in m
        for m in (messages if isinstance(messages, list) else [])
    )


def _json_schema_type(body: Body) -> bool:
    response_format = body.get("response_format")
    return isinstance(response_format, dict) and response_format.get("type") == "json_schema"


def _n_with_stream(body: Body) -> bool:
    return bool(body.get("stream")) and is_number(body.get("n")) and body["n"] > 1


FAULTS = [
    Fault(
        "assistant_message_500",
        "a conversation with an assistant turn answers 500",
        "request",
        (_found_by_the_layer("messages"),),
        hooks=Hooks(request=RequestHooks(before=message_crash("assistant", "template error: assistant turn"))),
    ),
    Fault(
        "top_p_null_500",
        "`top_p: null` answers 500 (null is valid)",
        "request",
        (_found_by_the_layer("top_p"),),
        hooks=Hooks(request=RequestHooks(before=crash_when(_top_p_null, "TypeError: top_p"))),
    ),
    Fault(
        "seed_negative_500",
        "a negative `seed` answers 500 (the contract states no minimum)",
        "request",
        (_found_by_the_layer("seed"),),
        hooks=Hooks(request=RequestHooks(before=crash_when(_seed_negative, "OverflowError: seed"))),
    ),
    Fault(
        "seed_object_500",
        "a `seed` that is not an integer (`{}`, a string) answers 500: failed although seed's clause is SHOULD",
        "request",
        (
            expect(
                {"property.negative", "property.not_a_server_error.seed"},
                args=RunArgs(only=("property.negative",)),
                seeds=(1, 2, 3),
            ),
        ),
        hooks=Hooks(request=RequestHooks(before=crash_when(_seed_not_integer, "TypeError: seed"))),
    ),
    Fault(
        "reset_after_500",
        "after a 500, the connection's next request is answered by a TCP reset (over a real socket only)",
        "wire",
        (
            expect(
                request_ids(["temperature"], OUTSIDE),
                faults=("reset_after_500", "range_500:temperature"),
                args=replace(HAND_WRITTEN, only=("request.temperature.*",)),
            ),
        ),
        hooks=Hooks(wire=WireHooks(proxy=reset_after_500)),
    ),
    Fault(
        "stop_empty_string_500",
        "an empty string among the stop sequences answers 500",
        "request",
        (_found_by_the_layer("stop"),),
        hooks=Hooks(request=RequestHooks(before=crash_when(_stop_empty_string, "stop: empty"))),
    ),
    Fault(
        "user_long_500",
        "a `user` longer than 1,000 characters answers 500",
        "request",
        (_found_by_the_layer("user"),),
        hooks=Hooks(request=RequestHooks(before=crash_when(_user_long, "user"))),
    ),
    Fault(
        "n_with_stream_500",
        "`n` above 1 with `stream: true` answers 500 (each alone is served)",
        "request",
        hooks=Hooks(request=RequestHooks(before=crash_when(_n_with_stream, "n 2"))),
    ),
    Fault(
        "flaky_500",
        "the first request carrying `seed` answers 500; its identical repeat is served (not reproducible)",
        "request",
        (expect(warned="request.seed.accepted"),),
        hooks=Hooks(wire=WireHooks(crash_first=lambda body: "seed" in body)),
    ),
    Fault(
        "schema_break_with_logprobs",
        "with `logprobs` sent, choice indexes are strings (breaks only for some inputs)",
        "response",
        (
            expect(
                {"property.positive", "property.response_schema_conformance.choices"},
                args=RunArgs(only=("property.positive",)),
            ),
        ),
        hooks=Hooks(response=ResponseHooks(payload=_index_strings_with_logprobs)),
    ),
    Fault(
        "tool_call_id_missing_500",
        "a tool message without `tool_call_id` answers 500 (Atoma's document leaves it optional)",
        "request",
        (
            expect(
                {"property.negative", "property.not_a_server_error.messages.tool_call_id"},
                args=RunArgs(only=("property.negative",)),
            ),
        ),
        hooks=Hooks(request=RequestHooks(before=crash_when(_tool_message_without_id, "tool message without id"))),
    ),
    Fault(
        "json_schema_type_500",
        "`response_format.type: json_schema` answers 500, whatever the schema beside it",
        "request",
        (
            expect(
                {
                    "property.positive",
                    "property.not_a_server_error.response_format.type",  # the edge values and optional shapes
                    "property.not_a_server_error.response_format",  # generated bodies: attributed at the top level
                },
                args=RunArgs(only=("property.positive",)),
            ),
        ),
        hooks=Hooks(request=RequestHooks(before=crash_when(_json_schema_type, "json_schema"))),
    ),
]
