"""Faults of request validation: what a server accepts, refuses or crashes on, field by field."""

from __future__ import annotations

from conformance.contract import Contract
from conformance.reference.faults.hooks import crash, message_crash, refuse, violation
from conformance.reference.faults.ids import OPENAI, OUTSIDE, request_ids
from conformance.reference.faults.model import Body, Fault, Hooks, Probe, RequestHooks, RunArgs, expect

__all__ = ["FAULTS"]


def _stop_max_exclusive(body: Body, contract: Contract) -> None:
    stop = body.get("stop")
    if isinstance(stop, list) and len(stop) >= contract.field("stop")["maxItems"]:
        raise refuse("stop", "stop: too many sequences")


def _stop_single_rejected(body: Body, contract: Contract) -> None:
    stop = body.get("stop")
    if isinstance(stop, list) and len(stop) == 1:
        raise refuse("stop", "stop: give a string for a single sequence")


def _named_choice_rejected(body: Body, contract: Contract) -> None:
    if isinstance(body.get("tool_choice"), dict):
        raise refuse("tool_choice", "tool_choice: only none and auto are supported")


def _text_format_rejected(body: Body, contract: Contract) -> None:
    if (body.get("response_format") or {}).get("type") == "text":
        raise refuse("response_format", "response_format: text is the default; do not send it")


def _one_token_refused(body: Body, contract: Contract) -> None:
    for name in ("max_completion_tokens", "max_tokens"):
        value = body.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2:
            raise refuse(name, f"{name}: at least 2 tokens")


def _missing_messages_crash(body: Body) -> None:
    if "messages" not in body:
        raise crash("KeyError: 'messages'")


def _empty_messages_crash(body: Body) -> None:
    if body.get("messages") == []:
        raise crash("IndexError: list index out of range")


FAULTS = [
    Fault(
        "one_token_refused",
        "a completion limit of 1 is refused (400): requests judged by their status alone ask for more (the run's "
        "control), so a refusal is the value's: must change nothing, and with `range_unchecked:temperature` the "
        "out-of-range temperatures still fail",
        "request",
        (
            expect(),
            expect(
                request_ids(["temperature"], OUTSIDE),
                faults=("one_token_refused", "range_unchecked:temperature"),
                args=RunArgs(only=("request.temperature.*",)),
            ),
        ),
        probe=Probe({"messages": [{"role": "user", "content": "hi"}], "max_completion_tokens": 1}, "at least 2 tokens"),
        hooks=Hooks(request=RequestHooks(after=_one_token_refused)),
    ),
    Fault(
        "stop_unchecked",
        "more stop sequences than the maximum are accepted",
        "request",
        (expect("request.stop.too_many_sequences"),),
        hooks=Hooks(request=RequestHooks(tolerate=violation("stop", ("maxItems",), crashes=False))),
    ),
    Fault(
        "stop_500",
        "more stop sequences than the maximum answer 500",
        "request",
        (expect("request.stop.too_many_sequences"),),
        hooks=Hooks(request=RequestHooks(tolerate=violation("stop", ("maxItems",), crashes=True))),
    ),
    Fault(
        "stop_max_exclusive",
        "exactly the maximum number of stop sequences is rejected",
        "request",
        (expect("request.stop.max_sequences"),),
        hooks=Hooks(request=RequestHooks(after=_stop_max_exclusive)),
    ),
    Fault(
        "stop_single_rejected",
        "a stop array of one sequence is rejected (the server wants a string)",
        "request",
        (expect("request.stop.one_sequence"),),
        hooks=Hooks(request=RequestHooks(after=_stop_single_rejected)),
    ),
    Fault(
        "openai_extensions",
        "values only OpenAI's contract allows are accepted (plain-string stop, required, developer)",
        "request",
        (
            expect(
                warned={
                    "request.stop.plain_string",
                    "request.tool_choice.required",
                    "request.messages.developer_role",
                }
            ),
            expect(profile=OPENAI),
        ),
        hooks=Hooks(request=RequestHooks(openai_values=True)),
    ),
    Fault(
        "tool_choice_unchecked",
        "any tool_choice string is accepted",
        "request",
        (expect("request.tool_choice.not_a_member", warned="request.tool_choice.required"),),
        hooks=Hooks(request=RequestHooks(tolerate=violation("tool_choice", (), crashes=False))),
    ),
    Fault(
        "named_tool_choice_rejected",
        "a named-function tool_choice is rejected",
        "request",
        (expect("request.tool_choice.named_function"),),
        hooks=Hooks(request=RequestHooks(after=_named_choice_rejected)),
    ),
    Fault(
        "tools_malformed_500",
        "a malformed `tools` entry answers 500",
        "request",
        (expect("request.tools.malformed"),),
        hooks=Hooks(request=RequestHooks(tolerate=violation("tools", (), crashes=True))),
    ),
    Fault(
        "model_optional",
        "a request without `model` is served with a default model",
        "request",
        (expect("request.model.missing"),),
        hooks=Hooks(request=RequestHooks(default_model=True)),
    ),
    Fault(
        "messages_missing_500",
        "a request without `messages` answers 500",
        "request",
        (expect("request.messages.missing"),),
        hooks=Hooks(request=RequestHooks(before=_missing_messages_crash)),
    ),
    Fault(
        "malformed_json_422",
        "a body that is not JSON answers 422 (not the 400 it should)",
        "request",
        (expect(warned="request.body.malformed_json"),),
        hooks=Hooks(request=RequestHooks(malformed_status=422)),
    ),
    Fault(
        "malformed_json_500",
        "a body that is not JSON answers 500",
        "request",
        (expect("request.body.malformed_json"),),
        hooks=Hooks(request=RequestHooks(malformed_status=500)),
    ),
    Fault(
        "any_model",
        "an unknown model is served",
        "request",
        (expect("request.model.unknown"),),
        hooks=Hooks(request=RequestHooks(any_model=True)),
    ),
    Fault(
        "response_format_500",
        "a malformed `response_format` answers 500",
        "request",
        (expect("request.response_format.malformed"),),
        hooks=Hooks(request=RequestHooks(tolerate=violation("response_format", (), crashes=True))),
    ),
    Fault(
        "response_format_text_rejected",
        "`response_format: {type: text}` is rejected",
        "request",
        (expect("request.response_format.text"),),
        hooks=Hooks(request=RequestHooks(after=_text_format_rejected)),
    ),
    Fault(
        "empty_messages_500",
        "`messages: []` answers 500",
        "request",
        (expect("request.messages.empty"),),
        hooks=Hooks(request=RequestHooks(before=_empty_messages_crash)),
    ),
    Fault(
        "content_parts_500",
        "message content given as an array of parts answers 500",
        "request",
        (expect("request.messages.content_parts"),),
        hooks=Hooks(request=RequestHooks(before=message_crash(None, "TypeError: can only concatenate str"))),
    ),
]
