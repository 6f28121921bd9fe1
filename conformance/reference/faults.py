"""Faults the reference server can be started with, as a registry that declares what each one proves.

A fault breaks one clause at one stage of serving a request (request validation, generation, the response
body, the stream, auth, the wire). Each declares, per profile, variant and run arguments, the exact result
ids a run against a server with it must turn `failed`, `warned` and `unsupported` (`Proof`): the project's
tests run every proof, and fail when a planned check is proven by no fault. A fault that must change nothing
carries a `Probe` showing it was applied. Parametric faults take a request field: `range_500:temperature`.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Literal

from conformance.contract import Contract
from conformance.reference.wire import reset_after_500

__all__ = [
    "FAULTS",
    "PARAMETRIC",
    "ApiError",
    "Fault",
    "Probe",
    "Proof",
    "Stage",
    "active",
    "validate_faults",
]

Stage = Literal["request", "generation", "response", "stream", "auth", "wire"]
Event = str | dict[str, Any]  # a stream event: a chunk, or raw text sent as is (a comment, `[DONE]`)


class ApiError(Exception):
    """An error answer of the reference server."""

    def __init__(self, status: int, code: str, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.param = status, code, message, param


def _crash(message: str = "inference backend error") -> ApiError:
    return ApiError(500, "INTERNAL_ERROR", message)


def _refuse(param: str, message: str) -> ApiError:
    return ApiError(400, "BAD_REQUEST", message, param)


HAND_WRITTEN = ("--skip", "property.*", "--skip", "client.*")  # a proof's default run: the hand-written checks
CLIENTS = ("--only", "client.*")
# atoma-sdk 0.1.3 cannot read a tool-call answer whose content is null, which the contract allows: warned on the
# clean reference server, by design (providers should hear about it)
SDK_NULL_CONTENT = "client.atoma_sdk.tools"


@dataclass(frozen=True)
class Proof:
    """What a run against a server with `faults` must report, exactly (errors: none)."""

    failed: frozenset[str] = frozenset()
    warned: frozenset[str] = frozenset()
    unsupported: frozenset[str] = frozenset()
    profile: str = "atoma"
    variant: str = "lenient"
    args: tuple[str, ...] = HAND_WRITTEN
    faults: tuple[str, ...] = ()  # the server's faults; default: the fault itself
    seeds: tuple[int, ...] = (7,)

    @property
    def ids(self) -> frozenset[str]:
        return self.failed | self.warned | self.unsupported


@dataclass(frozen=True)
class Probe:
    """Evidence that a fault which must change nothing was applied: `body` (the run's model added) is answered
    with text containing `shows` by a server with the fault, and without it by one without."""

    body: dict[str, Any]
    shows: str


@dataclass(frozen=True)
class Fault:
    """One fault: what it breaks, where, what it proves, and its hooks (each optional, one per stage)."""

    name: str
    description: str
    stage: Stage
    proves: tuple[Proof, ...] = ()
    probe: Probe | None = None
    # wire stage, over a real socket only: a proxy put in front of the server, (upstream URL, host) -> its URL
    wire: Callable[[str, str], AbstractContextManager[str]] | None = None
    # request stage
    malformed_status: int | None = None  # status for a body that is not JSON
    before: Callable[[dict[str, Any]], None] | None = None  # before validation: may raise ApiError or mutate
    tolerate: Callable[[str, str, Any, dict[str, Any]], bool] | None = None  # let a schema violation through
    after: Callable[[dict[str, Any], Contract], None] | None = None  # after validation: may refuse
    openai_values: bool = False  # validate with the openai profile (OpenAI-only values accepted)
    any_model: bool = False
    default_model: bool = False  # a request without `model` gets the server's first model
    # auth stage
    admit: Callable[[str, str, str], bool] | None = None  # (scheme, token, key) -> let it through
    render_error: Callable[[ApiError], tuple[int, str, str] | None] | None = None  # (status, body, media type)
    # generation stage
    asked: Callable[[dict[str, Any]], None] | None = None  # the request as the faulty server acts on it
    generated: Callable[[Any], None] | None = None  # the generation's choices
    # response stage
    payload: Callable[[dict[str, Any], dict[str, Any]], None] | None = None  # (completion, request)
    media_type: str | None = None
    # stream stage
    stream: Callable[[list[Event], dict[str, Any]], list[Event]] | None = None
    stream_media_type: str | None = None
    # wire stage (server state across requests)
    answer_after: int | None = None  # after this many requests, every request gets 503
    crash_first: Callable[[dict[str, Any]], bool] | None = None  # the first such request answers 500, once

    @property
    def socket(self) -> bool:
        """Acts on the wire: proven over a real socket only."""
        return self.wire is not None

    def described(self) -> str:
        """One line for `conformance serve --list-faults`: what it does and what it proves."""
        proofs = "; ".join(_show_proof(p) for p in self.proves) or "proves nothing by itself"
        probe = f"; probe: {self.probe.shows!r} in the answer" if self.probe else ""
        return f"[{self.stage}] {self.description} -> {proofs}{probe}"


def _show_proof(proof: Proof) -> str:
    parts = [
        f"{name} {', '.join(sorted(ids))}"
        for name, ids in (("failed", proof.failed), ("warned", proof.warned), ("unsupported", proof.unsupported))
        if ids
    ]
    where = f"{proof.profile}/{proof.variant}" + (f" {' '.join(proof.args)}" if proof.args != HAND_WRITTEN else "")
    return f"{where}: {'; '.join(parts) or 'nothing'}"


def _ids(*groups: Any) -> frozenset[str]:
    out: set[str] = set()
    for group in groups:
        out |= {group} if isinstance(group, str) else set(group)
    return frozenset(out)


def expect(failed: Any = (), warned: Any = (), unsupported: Any = (), **options: Any) -> Proof:
    """A proof from plain id collections."""
    return Proof(_ids(failed), _ids(warned), _ids(unsupported), **options)


def _clients(*kinds: str) -> set[str]:
    """The openai SDK's client checks of these kinds, warned, beside atoma-sdk's tool-call warning (by design)."""
    return {f"client.openai.{kind}" for kind in kinds} | {SDK_NULL_CONTENT}


def request_ids(fields: list[str], names: list[str]) -> set[str]:
    return {f"request.{f}.{n}" for f in fields for n in names}


RANGED = ["frequency_penalty", "presence_penalty", "logit_bias", "temperature", "top_logprobs"]
OUTSIDE = ["below_minimum", "above_maximum", "far_below_minimum", "far_above_maximum"]
BOUNDS = ["at_minimum", "at_maximum"]
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
FINISH_SEMANTICS = {
    "semantic.max_completion_tokens.finish_reason",
    "semantic.max_tokens.finish_reason",
    "semantic.tool_calls.cut",
}
AUTH = {"auth.missing_token", "auth.wrong_token", "auth.non_bearer_scheme"}
SCHEMA = "response.minimal.schema"
OPENAI = "openai"


# -- hooks --------------------------------------------------------------------------------------------------


def _set(key: str, make: Callable[[Any], Any]) -> Callable[[dict[str, Any], dict[str, Any]], None]:
    def hook(payload: dict[str, Any], _: dict[str, Any]) -> None:
        payload[key] = make(payload[key])

    return hook


def _each_choice(key: str, value: Any) -> Callable[[dict[str, Any], dict[str, Any]], None]:
    def hook(payload: dict[str, Any], _: dict[str, Any]) -> None:
        for choice in payload["choices"]:
            if key == "role":
                choice["message"]["role"] = value
            else:
                choice[key] = value

    return hook


def _drop(name: str) -> Callable[[dict[str, Any]], None]:
    def hook(asked: dict[str, Any]) -> None:
        asked.pop(name, None)

    return hook


def _chunks(events: list[Event]) -> list[dict[str, Any]]:
    return [e for e in events if isinstance(e, dict)]


def _map_chunks(change: Callable[[int, dict[str, Any]], None]) -> Callable[[list[Event], dict[str, Any]], list[Event]]:
    def hook(events: list[Event], _: dict[str, Any]) -> list[Event]:
        for i, chunk in enumerate(_chunks(events)):
            change(i, chunk)
        return events

    return hook


def _finish_chunks(events: list[Event]) -> list[dict[str, Any]]:
    return [c for c in _chunks(events) if any(ch.get("finish_reason") is not None for ch in c.get("choices", []))]


def _stream_finish_empty(events: list[Event], _: dict[str, Any]) -> list[Event]:
    for chunk in _finish_chunks(events):
        for choice in chunk["choices"]:
            choice["finish_reason"] = ""
    return events


def _stream_finish_twice(events: list[Event], _: dict[str, Any]) -> list[Event]:
    out: list[Event] = []
    for event in events:
        if isinstance(event, dict) and event in _finish_chunks(events):
            out.append(json.loads(json.dumps(event)))
        out.append(event)
    return out


def _stream_drops_delta(events: list[Event], _: dict[str, Any]) -> list[Event]:
    content = [e for e in _chunks(events) if any((c.get("delta") or {}).get("content") for c in e["choices"])]
    return [e for e in events if not (len(content) > 1 and e is content[1])]


def _stream_endless(events: list[Event], _: dict[str, Any]) -> list[Event]:
    first = _chunks(events)[0]
    more = [{**first, "choices": [{"index": 0, "delta": {"content": "more"}, "finish_reason": None}]}] * 1000
    return [*events[:1], *more, *events[1:]]


def _stream_bad_json(events: list[Event], _: dict[str, Any]) -> list[Event]:
    return [*events[:1], "data: {not json\n\n", *events[1:]]


def _stream_keepalive(events: list[Event], _: dict[str, Any]) -> list[Event]:
    out: list[Event] = []
    for event in events:
        out += [": keep-alive\n\n", event]
    return out


def _stream_tool_index_missing(events: list[Event], _: dict[str, Any]) -> list[Event]:
    for chunk in _chunks(events):
        for choice in chunk["choices"]:
            for call in (choice.get("delta") or {}).get("tool_calls") or []:
                if "id" not in call:  # every delta after the first of a call
                    call.pop("index", None)
    return events


def _usage_chunk(events: list[Event]) -> dict[str, Any] | None:
    return next((c for c in _chunks(events) if c.get("choices") == [] and "usage" in c), None)


def _stream_no_usage(events: list[Event], _: dict[str, Any]) -> list[Event]:
    usage = _usage_chunk(events)
    return [e for e in events if e is not usage]


def _stream_usage_unasked(events: list[Event], body: dict[str, Any]) -> list[Event]:
    if _usage_chunk(events) is None and events:
        first = _chunks(events)[0]
        usage = {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}
        events.insert(-1, {k: first[k] for k in ("id", "object", "created", "model")} | {"choices": [], "usage": usage})
    return events


def _extra_keys_stream(events: list[Event], _: dict[str, Any]) -> list[Event]:
    for chunk in _chunks(events):
        chunk.update(signature="c2lnbmF0dXJl", response_hash="aGFzaA==")
    return events


def _extra_keys(payload: dict[str, Any], _: dict[str, Any]) -> None:
    payload.update(signature="c2lnbmF0dXJl", response_hash="aGFzaA==")


def _no_done(events: list[Event], _: dict[str, Any]) -> list[Event]:
    return [e for e in events if e != "data: [DONE]\n\n"]


def _ids_vary(i: int, chunk: dict[str, Any]) -> None:
    chunk["id"] = f"{chunk['id']}-{i}"


def _object_completion(i: int, chunk: dict[str, Any]) -> None:
    chunk["object"] = "chat.completion"


def _usage_wrong(payload: dict[str, Any], _: dict[str, Any]) -> None:
    if payload.get("usage"):
        payload["usage"]["total_tokens"] += 1


def _usage_wrong_stream(events: list[Event], body: dict[str, Any]) -> list[Event]:
    usage = _usage_chunk(events)
    if usage:
        usage["usage"]["total_tokens"] += 1
    return events


def _vocabulary(size: int) -> Callable[[dict[str, Any], Contract], None]:
    def hook(body: dict[str, Any], contract: Contract) -> None:
        bias = body.get("logit_bias")
        if isinstance(bias, dict) and any(int(token) >= size for token in bias):
            raise _refuse("logit_bias", "out-of-vocab token ids in logit_bias")

    return hook


def _limit_floor(asked: dict[str, Any]) -> None:
    for name in ("max_tokens", "max_completion_tokens"):
        if isinstance(asked.get(name), int) and asked[name] < 4:
            asked[name] = 4


def _ignore_limit_with_tools(asked: dict[str, Any]) -> None:
    if asked.get("tools"):
        asked.pop("max_completion_tokens", None)
        asked.pop("max_tokens", None)


def _arguments_unclosed(payload: dict[str, Any], _: dict[str, Any]) -> None:
    for choice in payload["choices"]:
        for call in choice["message"].get("tool_calls") or []:
            call["function"]["arguments"] = call["function"]["arguments"][:-1]


def _usage_missing(payload: dict[str, Any], _: dict[str, Any]) -> None:
    payload.pop("usage", None)


def _arguments_object(payload: dict[str, Any], _: dict[str, Any]) -> None:
    for choice in payload["choices"]:
        if choice["finish_reason"] == "length":
            continue
        for call in choice["message"].get("tool_calls") or []:
            call["function"]["arguments"] = json.loads(call["function"]["arguments"])


def _logprobs_of(payload: dict[str, Any]) -> list[dict[str, Any]]:
    return [t for c in payload["choices"] for t in ((c.get("logprobs") or {}).get("content") or [])]


def _logprobs_dropped(payload: dict[str, Any], _: dict[str, Any]) -> None:
    for choice in payload["choices"]:
        choice["logprobs"] = None


def _top_logprobs_fewer(payload: dict[str, Any], _: dict[str, Any]) -> None:
    for token in _logprobs_of(payload):
        token["top_logprobs"] = token["top_logprobs"][:-1]


def _bytes_strings(payload: dict[str, Any], _: dict[str, Any]) -> None:
    for token in _logprobs_of(payload):
        token["bytes"] = [str(b) for b in token["bytes"]]


def _index_strings_with_logprobs(payload: dict[str, Any], body: dict[str, Any]) -> None:
    if body.get("logprobs") is not None:
        for choice in payload["choices"]:
            choice["index"] = str(choice["index"])


def _finish(old: str, new: str, *, tool_calls: bool = False) -> Callable[[Any], None]:
    def hook(generation: Any) -> None:
        for choice in generation.choices:
            if choice.finish_reason == old and (choice.tool_calls or not tool_calls):
                choice.finish_reason = new

    return hook


def _stop_includes_sequence(generation: Any) -> None:
    for choice in generation.choices:
        if choice.matched_stop is not None:
            choice.tokens.append(choice.matched_stop)


def _stop_finish_length(generation: Any) -> None:
    for choice in generation.choices:
        if choice.matched_stop is not None:
            choice.finish_reason = "length"


def _message_crash(role: str | None, message: str) -> Callable[[dict[str, Any]], None]:
    """A 500 when a message has `role` (or, with None, when a content is an array of parts)."""

    def hook(body: dict[str, Any]) -> None:
        messages = body.get("messages")
        for m in messages if isinstance(messages, list) else []:
            if isinstance(m, dict) and (m.get("role") == role if role else isinstance(m.get("content"), list)):
                raise _crash(message)

    return hook


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _crash_when(condition: Callable[[dict[str, Any]], bool], message: str) -> Callable[[dict[str, Any]], None]:
    def hook(body: dict[str, Any]) -> None:
        if condition(body):
            raise _crash(message)

    return hook


def _found_by_the_layer(field_name: str) -> Proof:
    """A crash on a valid value the hand-written checks never send: the property layer alone reports it, under
    its field and no other, on three seeds."""
    failed = {"property.positive", f"property.not_a_server_error.{field_name}"}
    return expect(failed, args=("--only", "property.positive"), seeds=(1, 2, 3))


def _missing_messages_crash(body: dict[str, Any]) -> None:
    if "messages" not in body:
        raise _crash("KeyError: 'messages'")


def _empty_messages_crash(body: dict[str, Any]) -> None:
    if body.get("messages") == []:
        raise _crash("IndexError: list index out of range")


def _always(error: ApiError) -> Callable[[dict[str, Any], Contract], None]:
    def hook(body: dict[str, Any], contract: Contract) -> None:
        raise error

    return hook


def _violation(
    field_name: str, validators: tuple[str, ...], crash: bool
) -> Callable[[str, str, Any, dict[str, Any]], bool]:
    def hook(name: str, validator: str, instance: Any, schema: dict[str, Any]) -> bool:
        if name != field_name or (validators and validator not in validators):
            return False
        if crash:
            raise _crash()
        return True

    return hook


def _stop_max_exclusive(body: dict[str, Any], contract: Contract) -> None:
    stop = body.get("stop")
    if isinstance(stop, list) and len(stop) >= contract.field("stop")["maxItems"]:
        raise _refuse("stop", "stop: too many sequences")


def _stop_single_rejected(body: dict[str, Any], contract: Contract) -> None:
    stop = body.get("stop")
    if isinstance(stop, list) and len(stop) == 1:
        raise _refuse("stop", "stop: give a string for a single sequence")


def _named_choice_rejected(body: dict[str, Any], contract: Contract) -> None:
    if isinstance(body.get("tool_choice"), dict):
        raise _refuse("tool_choice", "tool_choice: only none and auto are supported")


def _text_format_rejected(body: dict[str, Any], contract: Contract) -> None:
    if (body.get("response_format") or {}).get("type") == "text":
        raise _refuse("response_format", "response_format: text is the default; do not send it")


def _tool_choice_none_ignored(asked: dict[str, Any]) -> None:
    if asked.get("tool_choice") == "none":
        asked["tool_choice"] = "auto"


def _named_tool_ignored(asked: dict[str, Any]) -> None:
    if isinstance(asked.get("tool_choice"), dict):
        asked["tool_choice"] = "auto"


def _seed_ignored(asked: dict[str, Any]) -> None:
    asked["seed"] = random.randrange(2**32)


def _json_object_ignored(asked: dict[str, Any]) -> None:
    if (asked.get("response_format") or {}).get("type") == "json_object":
        del asked["response_format"]


def _nonstrict_schema_ignored(asked: dict[str, Any]) -> None:
    fmt = asked.get("response_format") or {}
    if fmt.get("type") == "json_schema" and (fmt.get("json_schema") or {}).get("strict") is not True:
        asked["response_format"] = {"type": "json_object"}


def _json_schema_ignored(asked: dict[str, Any]) -> None:
    if (asked.get("response_format") or {}).get("type") == "json_schema":
        asked["response_format"] = {"type": "json_object"}


def _error_flat(error: ApiError) -> tuple[int, str, str] | None:
    return (400, error.message, "text/plain") if error.status == 400 else None


def _auth_flat(error: ApiError) -> tuple[int, str, str] | None:
    return (401, json.dumps({"message": error.message}), "application/json") if error.status == 401 else None


FAULTS: dict[str, Fault] = {
    f.name: f
    for f in [
        # -- the minimal request and the response contract
        Fault(
            "chat_500",
            "every chat completion answers 500",
            "request",
            (expect({"response.minimal.status", "request.max_completion_tokens.accepted"}),),
            after=_always(_crash("Internal server error")),
        ),
        Fault(
            "payment_required",
            "every chat completion answers 402 FIAT_PAYMENTS_ONLY (a provider state: exit 3)",
            "request",
            after=_always(ApiError(402, "FIAT_PAYMENTS_ONLY", "Insufficient balance")),
        ),
        Fault(
            "unavailable_after_preflight",
            "after the first request, every chat completion answers 503 (Retry-After: 0)",
            "wire",
            answer_after=1,
        ),
        Fault(
            "wrong_content_type",
            "a 200 completion is sent as text/plain",
            "response",
            (expect("response.minimal.content_type"),),
            media_type="text/plain",
        ),
        Fault(
            "created_string",
            "`created` is sent as a string",
            "response",
            (expect({SCHEMA, "response.created"}),),
            payload=_set("created", str),
        ),
        Fault(
            "created_float",
            "`created` is sent as a float",
            "response",
            (
                expect({SCHEMA, "response.created"}),
                expect(
                    warned=_clients("plain", "n", "tools") | {"client.atoma_sdk.plain", "client.atoma_sdk.n"},
                    args=CLIENTS,
                ),
            ),
            payload=_set("created", lambda v: v + 0.5),
        ),
        Fault(
            "created_ms",
            "`created` is sent in milliseconds",
            "response",
            (expect("response.created"),),
            payload=_set("created", lambda v: v * 1000),
        ),
        Fault(
            "object_wrong",
            "`object` is `chat.completions`",
            "response",
            (
                expect(warned="response.object"),
                expect({SCHEMA, "response.object"}, profile=OPENAI),
                expect(warned=_clients("plain", "n", "tools"), args=CLIENTS),
            ),
            payload=_set("object", lambda v: "chat.completions"),
        ),
        Fault(
            "id_empty",
            "`id` is an empty string",
            "response",
            (expect({SCHEMA, "response.id"}),),
            payload=_set("id", lambda v: ""),
        ),
        Fault(
            "model_empty",
            "`model` is an empty string",
            "response",
            (expect("response.model"),),
            payload=_set("model", lambda v: ""),
        ),
        Fault(
            "role_user",
            "the response message role is `user`",
            "response",
            (expect({SCHEMA, "response.message.role"}),),
            payload=_each_choice("role", "user"),
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
            payload=_each_choice("finish_reason", ""),
        ),
        Fault(
            "usage_total_wrong",
            "`usage.total_tokens` is not prompt + completion",
            "response",
            (expect({"response.usage", "stream.usage_chunk"}),),
            payload=_usage_wrong,
            stream=_usage_wrong_stream,
        ),
        Fault(
            "usage_missing",
            "no `usage` in completions",
            "response",
            (expect("stream.usage_chunk", warned="response.usage"),),
            payload=_usage_missing,
            stream=_stream_no_usage,
        ),
        Fault(
            "extra_keys",
            "responses and chunks carry extra keys (`signature`, `response_hash`, as Atoma's do): must change nothing",
            "response",
            (expect(),),
            probe=Probe({"messages": [{"role": "user", "content": "hi"}], "max_completion_tokens": 2}, '"signature"'),
            payload=_extra_keys,
            stream=_extra_keys_stream,
        ),
        Fault(
            "choices_string",
            "`choices` is a JSON-encoded string (E2)",
            "response",
            (expect({SCHEMA, "response.choices"}),),
            payload=_set("choices", json.dumps),
        ),
        Fault(
            "error_flat",
            "400 answers are plain text, not the error envelope",
            "response",
            (expect("response.error.envelope"),),
            render_error=_error_flat,
        ),
        # -- auth
        Fault(
            "auth_not_enforced",
            "requests without or with a wrong token are served",
            "auth",
            (expect(AUTH),),
            admit=lambda scheme, token, key: True,
        ),
        Fault(
            "auth_any_token",
            "any bearer token is accepted; only a missing header is refused",
            "auth",
            (expect("auth.wrong_token"),),
            admit=lambda scheme, token, key: scheme == "Bearer",
        ),
        Fault(
            "auth_any_scheme",
            "the key is accepted under any scheme (`Token KEY`), not only `Bearer`",
            "auth",
            (expect("auth.non_bearer_scheme"),),
            admit=lambda scheme, token, key: bool(scheme) and token == key,
        ),
        Fault(
            "auth_flat_error",
            '401 answers carry a flat `{"message": ...}` body, not the error envelope',
            "auth",
            (expect(AUTH),),
            render_error=_auth_flat,
        ),
        # -- request fields
        Fault(
            "stop_unchecked",
            "more stop sequences than the maximum are accepted",
            "request",
            (expect("request.stop.too_many_sequences"),),
            tolerate=_violation("stop", ("maxItems",), crash=False),
        ),
        Fault(
            "stop_500",
            "more stop sequences than the maximum answer 500",
            "request",
            (expect("request.stop.too_many_sequences"),),
            tolerate=_violation("stop", ("maxItems",), crash=True),
        ),
        Fault(
            "stop_max_exclusive",
            "exactly the maximum number of stop sequences is rejected",
            "request",
            (expect("request.stop.max_sequences"),),
            after=_stop_max_exclusive,
        ),
        Fault(
            "stop_single_rejected",
            "a stop array of one sequence is rejected (the server wants a string)",
            "request",
            (expect("request.stop.one_sequence"),),
            after=_stop_single_rejected,
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
            openai_values=True,
        ),
        Fault(
            "tool_choice_unchecked",
            "any tool_choice string is accepted",
            "request",
            (expect("request.tool_choice.not_a_member", warned="request.tool_choice.required"),),
            tolerate=_violation("tool_choice", (), crash=False),
        ),
        Fault(
            "named_tool_choice_rejected",
            "a named-function tool_choice is rejected",
            "request",
            (expect("request.tool_choice.named_function"),),
            after=_named_choice_rejected,
        ),
        Fault(
            "tools_malformed_500",
            "a malformed `tools` entry answers 500",
            "request",
            (expect("request.tools.malformed"),),
            tolerate=_violation("tools", (), crash=True),
        ),
        Fault(
            "model_optional",
            "a request without `model` is served with a default model",
            "request",
            (expect("request.model.missing"),),
            default_model=True,
        ),
        Fault(
            "messages_missing_500",
            "a request without `messages` answers 500",
            "request",
            (expect("request.messages.missing"),),
            before=_missing_messages_crash,
        ),
        Fault(
            "malformed_json_422",
            "a body that is not JSON answers 422 (not the 400 it should)",
            "request",
            (expect(warned="request.body.malformed_json"),),
            malformed_status=422,
        ),
        Fault(
            "malformed_json_500",
            "a body that is not JSON answers 500",
            "request",
            (expect("request.body.malformed_json"),),
            malformed_status=500,
        ),
        Fault("any_model", "an unknown model is served", "request", (expect("request.model.unknown"),), any_model=True),
        Fault(
            "response_format_500",
            "a malformed `response_format` answers 500",
            "request",
            (expect("request.response_format.malformed"),),
            tolerate=_violation("response_format", (), crash=True),
        ),
        Fault(
            "response_format_text_rejected",
            "`response_format: {type: text}` is rejected",
            "request",
            (expect("request.response_format.text"),),
            after=_text_format_rejected,
        ),
        Fault(
            "empty_messages_500",
            "`messages: []` answers 500",
            "request",
            (expect("request.messages.empty"),),
            before=_empty_messages_crash,
        ),
        Fault(
            "content_parts_500",
            "message content given as an array of parts answers 500",
            "request",
            (expect("request.messages.content_parts"),),
            before=_message_crash(None, "TypeError: can only concatenate str"),
        ),
        # -- semantics
        Fault(
            "ignore_completion_limit",
            "`max_completion_tokens` is ignored",
            "generation",
            (
                # max_tokens is honoured: it caps every request, and max_completion_tokens alone is not sent again
                expect({"response.minimal.completion_limit"}),
                # streamed checks still run, each read to its bound: a stream's missing usage chunk is not hidden
                expect(
                    {"response.minimal.completion_limit", "stream.usage_chunk"},
                    faults=("ignore_completion_limit", "stream_no_usage"),
                ),
            ),
            asked=_drop("max_completion_tokens"),
        ),
        Fault(
            "limit_floor",
            "a completion limit below 4 is raised to 4",
            "generation",
            (expect({"semantic.max_completion_tokens.usage", "semantic.max_tokens.usage"}),),
            asked=_limit_floor,
        ),
        Fault(
            "ignore_max_tokens",
            "`max_tokens` is ignored",
            "generation",
            (expect("semantic.max_tokens.usage"),),
            asked=_drop("max_tokens"),
        ),
        Fault(
            "finish_stop_when_cut",
            "output cut by the token limit reports finish_reason `stop`",
            "generation",
            (expect(warned=FINISH_SEMANTICS), expect(FINISH_SEMANTICS, profile=OPENAI)),
            generated=_finish("length", "stop"),
        ),
        Fault(
            "stop_ignored",
            "stop sequences are ignored",
            "generation",
            (expect("semantic.stop.truncates"),),
            asked=_drop("stop"),
        ),
        Fault(
            "stop_includes_sequence",
            "the output includes the stop sequence that ended it",
            "generation",
            (expect("semantic.stop.truncates"),),
            generated=_stop_includes_sequence,
        ),
        Fault(
            "stop_finish_length",
            "output ended by a stop sequence reports finish_reason `length`",
            "generation",
            (expect(warned="semantic.stop.finish_reason"),),
            generated=_stop_finish_length,
        ),
        Fault(
            "ignore_n",
            "`n` is silently ignored (one choice)",
            "generation",
            (expect("semantic.n.choices"),),
            asked=_drop("n"),
        ),
        Fault(
            "tool_choice_none_ignored",
            "`tool_choice: none` still calls a tool",
            "generation",
            (expect("semantic.tool_choice.none"),),
            asked=_tool_choice_none_ignored,
        ),
        Fault(
            "named_tool_ignored",
            "a named tool_choice calls the first tool instead",
            "generation",
            (expect("semantic.tool_choice.named"),),
            asked=_named_tool_ignored,
        ),
        Fault(
            "tool_limit_ignored_broken_arguments",
            "with tools, the completion limit is ignored and arguments are not complete JSON (reported tool_calls)",
            "generation",
            (expect("semantic.tool_calls.arguments"),),
            asked=_ignore_limit_with_tools,
            payload=_arguments_unclosed,
        ),
        Fault(
            "small_vocabulary",
            "a 512-token vocabulary: logit_bias token ids from 512 up are refused: must change nothing",
            "request",
            (expect(),),
            probe=Probe({"messages": [{"role": "user", "content": "hi"}], "logit_bias": {"1000": 1}}, "out-of-vocab"),
            after=_vocabulary(512),
        ),
        Fault(
            "logit_bias_token_refused",
            "every logit_bias token id is refused: the logit_bias checks are inconclusive, never failed",
            "request",
            (expect(),),
            probe=Probe({"messages": [{"role": "user", "content": "hi"}], "logit_bias": {"0": 0}}, "out-of-vocab"),
            after=_vocabulary(0),
        ),
        Fault(
            "arguments_object",
            "tool-call `arguments` is a JSON object, not a string",
            "response",
            (expect("semantic.tool_calls.arguments"),),
            payload=_arguments_object,
        ),
        Fault(
            "json_object_ignored",
            "`response_format: json_object` is accepted and ignored",
            "generation",
            (expect("semantic.response_format.json_object"),),
            asked=_json_object_ignored,
        ),
        Fault(
            "json_schema_ignored",
            "`response_format: json_schema` is accepted but its schema is not enforced",
            "generation",
            (expect("semantic.response_format.json_schema", warned="semantic.response_format.json_schema_nonstrict"),),
            asked=_json_schema_ignored,
        ),
        Fault(
            "json_schema_nonstrict_ignored",
            "a json_schema without `strict: true` is not enforced (as OpenAI allows); a strict one is",
            "generation",
            (expect(warned="semantic.response_format.json_schema_nonstrict"),),
            asked=_nonstrict_schema_ignored,
        ),
        Fault(
            "parallel_ignored",
            "`parallel_tool_calls: false` is ignored: several tools are called at once",
            "generation",
            (expect("semantic.parallel_tool_calls.false"),),
            asked=_drop("parallel_tool_calls"),
        ),
        Fault(
            "tool_cut_reports_tool_calls",
            "a tool call cut by the completion limit reports finish_reason `tool_calls`",
            "generation",
            (expect(warned="semantic.tool_calls.cut"),),
            generated=_finish("length", "tool_calls", tool_calls=True),
        ),
        Fault(
            "logprobs_dropped",
            "`logprobs: true` is accepted and silently dropped",
            "response",
            (expect("semantic.logprobs.top_logprobs"),),
            payload=_logprobs_dropped,
        ),
        Fault(
            "top_logprobs_fewer",
            "one alternative fewer than `top_logprobs` asks",
            "response",
            (expect("semantic.logprobs.top_logprobs"),),
            payload=_top_logprobs_fewer,
        ),
        Fault(
            "logprobs_bytes_strings",
            "logprobs `bytes` are strings, not integers",
            "response",
            (expect("semantic.logprobs.top_logprobs"),),
            payload=_bytes_strings,
        ),
        Fault(
            "seed_ignored",
            "`seed` is ignored: every request samples anew",
            "generation",
            (expect(warned="semantic.seed.reproducible"),),
            asked=_seed_ignored,
        ),
        # -- found by the property layer: inputs the hand-written checks never send
        Fault(
            "assistant_message_500",
            "a conversation with an assistant turn answers 500",
            "request",
            (_found_by_the_layer("messages"),),
            before=_message_crash("assistant", "template error: assistant turn"),
        ),
        Fault(
            "top_p_null_500",
            "`top_p: null` answers 500 (null is valid)",
            "request",
            (_found_by_the_layer("top_p"),),
            before=_crash_when(lambda body: "top_p" in body and body["top_p"] is None, "TypeError: top_p"),
        ),
        Fault(
            "seed_negative_500",
            "a negative `seed` answers 500 (the contract states no minimum)",
            "request",
            (_found_by_the_layer("seed"),),
            before=_crash_when(lambda body: _is_number(body.get("seed")) and body["seed"] < 0, "OverflowError: seed"),
        ),
        Fault(
            "seed_object_500",
            "a `seed` that is not an integer (`{}`, a string) answers 500: failed although seed's clause is SHOULD",
            "request",
            (
                expect(
                    {"property.negative", "property.not_a_server_error.seed"},
                    args=("--only", "property.negative"),
                    seeds=(1, 2, 3),
                ),
            ),
            before=_crash_when(
                lambda body: body.get("seed") is not None and not _is_integer(body["seed"]), "TypeError: seed"
            ),
        ),
        Fault(
            "reset_after_500",
            "after a 500, the connection's next request is answered by a TCP reset (over a real socket only)",
            "wire",
            (
                expect(
                    request_ids(["temperature"], OUTSIDE),
                    faults=("reset_after_500", "range_500:temperature"),
                    args=(*HAND_WRITTEN, "--only", "request.temperature.*"),
                ),
            ),
            wire=reset_after_500,
        ),
        Fault(
            "stop_empty_string_500",
            "an empty string among the stop sequences answers 500",
            "request",
            (_found_by_the_layer("stop"),),
            before=_crash_when(lambda body: isinstance(body.get("stop"), list) and "" in body["stop"], "stop: empty"),
        ),
        Fault(
            "user_long_500",
            "a `user` longer than 1,000 characters answers 500",
            "request",
            (_found_by_the_layer("user"),),
            before=_crash_when(lambda body: isinstance(body.get("user"), str) and len(body["user"]) > 1000, "user"),
        ),
        Fault(
            "n_with_stream_500",
            "`n` above 1 with `stream: true` answers 500 (each alone is served)",
            "request",
            before=_crash_when(
                lambda body: bool(body.get("stream")) and _is_number(body.get("n")) and body["n"] > 1, "n 2"
            ),
        ),
        Fault(
            "flaky_500",
            "the first request carrying `seed` answers 500; its identical repeat is served (not reproducible)",
            "request",
            (expect(warned="request.seed.accepted"),),
            crash_first=lambda body: "seed" in body,
        ),
        Fault(
            "schema_break_with_logprobs",
            "with `logprobs` sent, choice indexes are strings (breaks only for some inputs)",
            "response",
            (
                expect(
                    {"property.positive", "property.response_schema_conformance.choices"},
                    args=("--only", "property.positive"),
                ),
            ),
            payload=_index_strings_with_logprobs,
        ),
        # -- streaming
        Fault(
            "stream_content_type_json",
            "streams are sent as application/json",
            "stream",
            (expect("stream.content_type"),),
            stream_media_type="application/json",
        ),
        Fault(
            "stream_no_done", "streams end without `data: [DONE]`", "stream", (expect("stream.done"),), stream=_no_done
        ),
        Fault(
            "stream_bad_json",
            "a stream carries a data line that is not JSON",
            "stream",
            (
                expect("stream.data_json"),
                expect(warned=_clients("stream") | {"client.atoma_sdk.stream"}, args=CLIENTS),
            ),
            stream=_stream_bad_json,
        ),
        Fault(
            "stream_object_wrong",
            "chunks carry `object: chat.completion`",
            "stream",
            (expect("stream.chunk_schema"),),
            stream=_map_chunks(_object_completion),
        ),
        Fault(
            "stream_ids_vary",
            "every chunk has its own `id`",
            "stream",
            (expect("stream.single_id"),),
            stream=_map_chunks(_ids_vary),
        ),
        Fault(
            "stream_finish_reason_empty",
            "the last chunk's finish_reason is an empty string",
            "stream",
            (
                expect(warned="stream.finish_reason"),
                expect({"stream.finish_reason", "stream.chunk_schema"}, profile=OPENAI),
            ),
            stream=_stream_finish_empty,
        ),
        Fault(
            "stream_finish_twice",
            "finish_reason is sent in two chunks",
            "stream",
            (expect(warned="stream.finish_reason"),),
            stream=_stream_finish_twice,
        ),
        Fault(
            "stream_drops_delta",
            "a content delta is dropped: the stream's text differs from the completion's",
            "stream",
            (expect("stream.content_matches"),),
            stream=_stream_drops_delta,
        ),
        Fault(
            "stream_no_usage",
            "`stream_options.include_usage` is ignored",
            "stream",
            (expect("stream.usage_chunk"),),
            stream=_stream_no_usage,
        ),
        Fault(
            "stream_usage_unasked",
            "a usage chunk is sent even when not asked (as Atoma's node does)",
            "stream",
            (expect(warned="stream.no_usage_unasked"),),
            stream=_stream_usage_unasked,
        ),
        Fault(
            "stream_tool_index_missing",
            "streamed tool-call deltas after the first carry no `index`",
            "stream",
            (expect("stream.tool_call_index"),),
            stream=_stream_tool_index_missing,
        ),
        Fault(
            "stream_endless",
            "a stream sends 1,000 content chunks, far past 2 x n x (limit + 4) + 8 data events: it never ends",
            "stream",
            (expect("stream.done", warned="stream.finish_reason"),),
            stream=_stream_endless,
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
            stream=_stream_keepalive,
        ),
    ]
}


# -- parametric faults: NAME:FIELD ----------------------------------------------------------------------------


def _range(name: str, mode: str) -> Callable[[str], dict[str, Any]]:
    def make(field_name: str) -> dict[str, Any]:
        def tolerate(name_: str, validator: str, instance: Any, schema: dict[str, Any]) -> bool:
            if name_ != field_name or validator not in ("minimum", "maximum"):
                return False
            if mode == "crash":
                raise _crash()
            return mode == "unchecked" or abs(instance - schema[validator]) <= 1

        return {"tolerate": tolerate}

    return make


def _range_exclusive(field_name: str) -> dict[str, Any]:
    def after(body: dict[str, Any], contract: Contract) -> None:
        for ranged in contract.ranged_fields():
            if ranged.name == field_name:
                value = body.get(field_name)
                values = value.values() if isinstance(value, dict) else [value]
                if any(v in (ranged.minimum, ranged.maximum) for v in values if isinstance(v, int | float)):
                    raise _refuse(field_name, f"{field_name}: must be strictly inside its range")

    return {"after": after}


def _type_unchecked(field_name: str) -> dict[str, Any]:
    return {"tolerate": _violation(field_name, ("type",), crash=False)}


def _reject_field(field_name: str) -> dict[str, Any]:
    def after(body: dict[str, Any], contract: Contract) -> None:
        if body.get(field_name) is not None:
            raise _refuse(field_name, f"{field_name}: unsupported parameter")

    return {"after": after}


CAPABILITY_USE: dict[str, Callable[[dict[str, Any]], bool]] = {
    "tools": lambda body: bool(body.get("tools")),
    "logprobs": lambda body: bool(body.get("logprobs")) or body.get("top_logprobs") is not None,
    "n": lambda body: body.get("n") not in (None, 1),
    "response_format": lambda body: (body.get("response_format") or {}).get("type", "text") != "text",
    "stream": lambda body: bool(body.get("stream")),
}


def _refuse_capability(capability: str) -> dict[str, Any]:
    used = CAPABILITY_USE[capability]

    def after(body: dict[str, Any], contract: Contract) -> None:
        if used(body):
            raise _refuse(capability, f"{capability} is not supported by this server")

    return {"after": after}


def _each(name: str, fields: list[str]) -> tuple[str, ...]:
    return tuple(f"{name}:{f}" for f in fields)


@dataclass(frozen=True)
class Parametric:
    """A family of faults, one per request field (or capability)."""

    name: str
    description: str
    stage: Stage
    make: Callable[[str], dict[str, Any]]
    proves: tuple[Proof, ...] = ()

    def bind(self, argument: str) -> Fault:
        return Fault(
            f"{self.name}:{argument}", self.description.replace("FIELD", argument), self.stage, **self.make(argument)
        )

    def described(self) -> str:
        return Fault(f"{self.name}:FIELD", self.description, self.stage, self.proves).described()


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

PARAMETRIC: dict[str, Parametric] = {
    p.name: p
    for p in [
        Parametric(
            "range_unchecked",
            "FIELD outside its bounds is accepted",
            "request",
            _range("range_unchecked", "unchecked"),
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
                        args=("--only", "property.negative"),
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
            _range("range_500", "crash"),
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
            _range("range_tolerant", "tolerant"),
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
                expect(unsupported={"request.n.accepted", "semantic.n.choices"}, faults=("refuse:n",)),
                expect(
                    {"request.n.accepted", "semantic.n.choices"},
                    faults=("refuse:n",),
                    args=(*HAND_WRITTEN, "--capability", "n"),
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
}


def fault(spec: str) -> Fault:
    """The fault named by `spec` (`name` or `name:FIELD`); ValueError when there is none."""
    if spec in FAULTS:
        return FAULTS[spec]
    name, _, argument = spec.partition(":")
    if name in PARAMETRIC and argument:
        return PARAMETRIC[name].bind(argument)
    raise ValueError(f"unknown fault(s): {spec} (see `conformance serve --list-faults`)")


def validate_faults(specs: frozenset[str]) -> None:
    """Raise ValueError naming any fault that does not exist."""
    unknown = []
    for spec in sorted(specs):
        try:
            fault(spec)
        except ValueError:
            unknown.append(spec)
    if unknown:
        raise ValueError(f"unknown fault(s): {', '.join(unknown)} (see `conformance serve --list-faults`)")


def active(specs: frozenset[str]) -> tuple[Fault, ...]:
    """The faults of a server, in a stable order."""
    return tuple(fault(spec) for spec in sorted(specs))


def every_proof() -> list[tuple[str, Proof]]:
    """(fault name, proof) for every proof of every fault, parametric ones included."""
    out = [(f.name, p) for f in FAULTS.values() for p in f.proves]
    return out + [(f.name, p) for f in PARAMETRIC.values() for p in f.proves]
