"""Parametric faults, one per request field or capability (`NAME:FIELD`): ranges, types, refused fields."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from conformance.contract import Contract
from conformance.reference.faults.hooks import crash, refuse, violation
from conformance.reference.faults.ids import BOUNDS, OPENAI, OUTSIDE, RANGED, request_ids
from conformance.reference.faults.model import HAND_WRITTEN, Body, Hooks, Parametric, RequestHooks, RunArgs, expect

__all__ = ["CAPABILITY_USE", "PARAMETRIC"]


def _range(mode: str) -> Callable[[str], Hooks]:
    def make(field_name: str) -> Hooks:
        def tolerate(name: str, validator: str, instance: Any, schema: Body) -> bool:
            if name != field_name or validator not in ("minimum", "maximum"):
                return False
            if mode == "crash":
                raise crash()
            return mode == "unchecked" or abs(instance - schema[validator]) <= 1

        return Hooks(request=RequestHooks(tolerate=tolerate))

    return make


def _range_exclusive(field_name: str) -> Hooks:
    def after(body: Body, contract: Contract) -> None:
        for ranged in contract.ranged_fields():
            if ranged.name == field_name:
                value = body.get(field_name)
                values = value.values() if isinstance(value, dict) else [value]
                if any(v in (ranged.minimum, ranged.maximum) for v in values if isinstance(v, int | float)):
                    raise refuse(field_name, f"{field_name}: must be strictly inside its range")

    return Hooks(request=RequestHooks(after=after))


def _type_unchecked(field_name: str) -> Hooks:
    return Hooks(request=RequestHooks(tolerate=violation(field_name, ("type",), crashes=False)))


def _reject_field(field_name: str) -> Hooks:
    def after(body: Body, contract: Contract) -> None:
        if body.get(field_name) is not None:
            raise refuse(field_name, f"{field_name}: unsupported parameter")

    return Hooks(request=RequestHooks(after=after))


CAPABILITY_USE: dict[str, Callable[[Body], bool]] = {
    "tools": lambda body: bool(body.get("tools")),
    "logprobs": lambda body: bool(body.get("logprobs")) or body.get("top_logprobs") is not None,
    "n": lambda body: body.get("n") not in (None, 1),
    "response_format": lambda body: (body.get("response_format") or {}).get("type", "text") != "text",
    "stream": lambda body: bool(body.get("stream")),
}


def _refuse_capability(capability: str) -> Hooks:
    used = CAPABILITY_USE[capability]

    def after(body: Body, contract: Contract) -> None:
        if used(body):
            raise refuse(capability, f"{capability} is not supported by this server")

    return Hooks(request=RequestHooks(after=after))


def _each(name: str, fields: list[str]) -> tuple[str, ...]:
    return tuple(f"{name}:{f}" for f in fields)


STREAM_MAIN = {
    f"stream.{n}"
    for n in (
        "content_type",
        "data_json",
        "chunk_schema",
        "single_id",
        "finish_reason",
        "done",
        "content_matches",
        "usage_chunk",
    )
}
CROSS_TALK = "load.no_cross_talk"  # its batch asks for n=2, and reads each answer's choices and limit
TOOLS_IDS = {
    "request.tool_choice.none",
    "request.tool_choice.auto",
    "request.tool_choice.named_function",
    "request.parallel_tool_calls.accepted",
    "request.tools.accepted",
    "semantic.tool_choice.none",
    "semantic.parallel_tool_calls.false",
    "semantic.tool_calls.cut",
    "semantic.tool_choice.named",
    "semantic.tool_calls.arguments",
    "stream.tool_call_index",
}

PARAMETRIC = [
    Parametric(
        "range_unchecked",
        "FIELD outside its bounds is accepted",
        "request",
        _range("unchecked"),
        (
            expect(request_ids(RANGED, OUTSIDE), faults=_each("range_unchecked", RANGED)),
            expect(
                request_ids(["n", "top_p"], OUTSIDE) - {"request.n.far_above_maximum"},  # not sent: costly
                profile=OPENAI,
                faults=_each("range_unchecked", ["n", "top_p"]),
            ),
            *(
                expect(
                    {"property.negative", f"property.negative_data_rejection.{f}"},
                    args=RunArgs(only=("property.negative",)),
                    faults=(f"range_unchecked:{f}",),
                    seeds=(1, 2, 3),
                )
                for f in RANGED
            ),
        ),
    ),
    Parametric(
        "range_500",
        "FIELD outside its bounds answers 500 (Atoma's proxy passes a backend 400 on as 500)",
        "request",
        _range("crash"),
        (expect(request_ids(RANGED, OUTSIDE), faults=_each("range_500", RANGED)),),
    ),
    Parametric(
        "range_exclusive",
        "FIELD exactly at a bound is rejected (bounds taken as exclusive)",
        "request",
        _range_exclusive,
        (
            expect(request_ids(RANGED, BOUNDS), faults=_each("range_exclusive", RANGED)),
            expect(
                request_ids(["n", "top_p"], BOUNDS), profile=OPENAI, faults=_each("range_exclusive", ["n", "top_p"])
            ),
        ),
    ),
    Parametric(
        "range_tolerant",
        "FIELD up to 1 beyond a bound is accepted (a rounding tolerance)",
        "request",
        _range("tolerant"),
        (expect(request_ids(RANGED, ["below_minimum", "above_maximum"]), faults=_each("range_tolerant", RANGED)),),
    ),
    Parametric(
        "type_unchecked",
        "FIELD of the wrong JSON type is accepted",
        "request",
        _type_unchecked,
        (
            expect(request_ids(RANGED, ["wrong_type", "boolean"]), faults=_each("type_unchecked", RANGED)),
            expect(
                request_ids(["n", "top_p"], ["wrong_type", "boolean"]),
                profile=OPENAI,
                faults=_each("type_unchecked", ["n", "top_p"]),
            ),
        ),
    ),
    Parametric(
        "reject_field",
        "a request carrying FIELD is refused with 400",
        "request",
        _reject_field,
        (
            expect("request.seed.accepted", faults=("reject_field:seed",)),
            expect("request.user.accepted", faults=("reject_field:user",)),
            expect("request.service_tier.accepted", faults=("reject_field:service_tier",)),
            expect("request.parallel_tool_calls.accepted", faults=("reject_field:parallel_tool_calls",)),
            expect("request.max_tokens.accepted", faults=("reject_field:max_tokens",)),
            expect(request_ids(["temperature"], BOUNDS), faults=("reject_field:temperature",)),
            expect(
                {"response.minimal.status", "request.max_completion_tokens.accepted"},
                faults=("reject_field:max_completion_tokens",),
            ),
        ),
    ),
    Parametric(
        "refuse",
        "requests using the capability FIELD (tools, logprobs, n, response_format, stream) get 400",
        "request",
        _refuse_capability,
        (
            expect(unsupported=TOOLS_IDS, faults=("refuse:tools",)),
            expect(
                unsupported={
                    "request.top_logprobs.at_minimum",
                    "request.top_logprobs.at_maximum",
                    "request.logprobs.accepted",
                    "semantic.logprobs.top_logprobs",
                },
                faults=("refuse:logprobs",),
            ),
            expect(unsupported={"request.n.accepted", "semantic.n.choices", CROSS_TALK}, faults=("refuse:n",)),
            expect(
                {"request.n.accepted", "semantic.n.choices", CROSS_TALK},
                faults=("refuse:n",),
                args=replace(HAND_WRITTEN, capabilities=("n",)),
            ),
            expect(
                unsupported={
                    "request.response_format.json_object",
                    "request.response_format.json_schema",
                    "semantic.response_format.json_object",
                    "semantic.response_format.json_schema",
                    "semantic.response_format.json_schema_nonstrict",
                },
                faults=("refuse:response_format",),
            ),
            expect(
                unsupported={
                    "request.stream.accepted",
                    "request.stream_options.accepted",
                    "stream.no_usage_unasked",
                    "stream.tool_call_index",
                }
                | STREAM_MAIN,
                faults=("refuse:stream",),
            ),
        ),
    ),
]
