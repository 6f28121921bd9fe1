"""The reference server: a Starlette app strict to the captured contract, with switchable faults."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from conformance.contract import REQUEST_SCHEMA, Contract, load_contract
from conformance.reference.faults import fault_fields, validate_faults
from conformance.reference.model import Choice, Generation, generate

__all__ = ["DEFAULT_MODEL", "VARIANTS", "ServerConfig", "create_app"]

DEFAULT_MODEL = "conformance-reference"
VARIANTS = ("lenient", "strict")


@dataclass
class ServerConfig:
    """How a reference server behaves."""

    api_key: str | None = None
    profile: str = "atoma"
    variant: str = "lenient"
    faults: frozenset[str] = frozenset()
    models: tuple[str, ...] = (DEFAULT_MODEL,)
    spec_path: str | None = None
    contract: Contract | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        validate_faults(self.faults)
        if self.variant not in VARIANTS:
            raise ValueError(f"unknown variant {self.variant!r} (choose from {', '.join(VARIANTS)})")
        if self.contract is None:
            self.contract = load_contract(self.spec_path, self.profile)


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.param = status, code, message, param


def create_app(config: ServerConfig) -> Starlette:
    """Build the ASGI app for `config`."""
    contract = config.contract
    assert contract is not None
    # with `openai_extensions`, the server takes what OpenAI's contract allows (plain-string stop, ...)
    validating = contract.other("openai") if "openai_extensions" in config.faults else contract
    request_validator = validating.validator(REQUEST_SCHEMA)
    faults = config.faults

    def error_response(error: ApiError) -> Response:
        if error.status == 401 and "auth_flat_error" in faults:
            return JSONResponse({"message": error.message}, status_code=401)
        if error.status == 400 and "error_flat" in faults:
            return Response(error.message, status_code=400, media_type="text/plain")
        if config.profile == "openai":
            kind = "invalid_request_error" if error.status < 500 else "server_error"
            body = {"error": {"message": error.message, "type": kind, "param": error.param, "code": error.code}}
        else:
            body = {"error": {"code": error.code, "message": error.message}}
        return JSONResponse(body, status_code=error.status)

    def authenticate(request: Request) -> None:
        if not config.api_key or "auth_not_enforced" in faults:
            return
        scheme, _, token = (request.headers.get("authorization") or "").partition(" ")
        if scheme != "Bearer" and not (scheme and "auth_any_scheme" in faults):
            raise ApiError(401, "AUTH_ERROR", "Authentication failed")
        if token != config.api_key and "auth_any_token" not in faults:
            raise ApiError(401, "AUTH_ERROR", "Authentication failed")

    def tolerated(field: str, validator: str, instance: Any, schema: dict[str, Any]) -> bool:
        """Whether a fault lets this schema violation of `field` through (or turns it into a 500)."""
        if validator in ("minimum", "maximum"):
            if field in fault_fields(faults, "range_500"):
                raise ApiError(500, "INTERNAL_ERROR", "inference backend error")
            if field in fault_fields(faults, "range_unchecked"):
                return True
            bound = schema.get(validator)
            return field in fault_fields(faults, "range_tolerant") and abs(instance - bound) <= 1
        if field == "stop" and validator == "maxItems":
            if "stop_500" in faults:
                raise ApiError(500, "INTERNAL_ERROR", "inference backend error")
            return "stop_unchecked" in faults
        if field == "tools" and "tools_malformed_500" in faults:
            raise ApiError(500, "INTERNAL_ERROR", "inference backend error")
        if field == "response_format" and "response_format_500" in faults:
            raise ApiError(500, "INTERNAL_ERROR", "inference backend error")
        if field == "tool_choice" and "tool_choice_unchecked" in faults:
            return True
        return validator == "type" and field in fault_fields(faults, "type_unchecked")

    def refuse(body: dict[str, Any]) -> None:
        """Faults that refuse what the contract says must be accepted, or an optional capability."""
        for name in fault_fields(faults, "reject_field"):
            if body.get(name) is not None:
                raise ApiError(400, "BAD_REQUEST", f"{name}: unsupported parameter", name)
        used = {
            "tools": bool(body.get("tools")),
            "logprobs": bool(body.get("logprobs")) or body.get("top_logprobs") is not None,
            "n": body.get("n") not in (None, 1),
            "response_format": (body.get("response_format") or {}).get("type", "text") != "text",
            "stream": bool(body.get("stream")),
        }
        for capability in fault_fields(faults, "refuse"):
            if used.get(capability):
                raise ApiError(400, "BAD_REQUEST", f"{capability} is not supported by this server", capability)
        stop, most = body.get("stop"), contract.field("stop")["maxItems"]
        if "stop_max_exclusive" in faults and isinstance(stop, list) and len(stop) >= most:
            raise ApiError(400, "BAD_REQUEST", "stop: too many sequences", "stop")
        if "named_tool_choice_rejected" in faults and isinstance(body.get("tool_choice"), dict):
            raise ApiError(400, "BAD_REQUEST", "tool_choice: only none and auto are supported", "tool_choice")
        for ranged in contract.ranged_fields():
            if ranged.name in fault_fields(faults, "range_exclusive"):
                value = body.get(ranged.name)
                values = value.values() if isinstance(value, dict) else [value]
                if any(v in (ranged.minimum, ranged.maximum) for v in values if isinstance(v, int | float)):
                    raise ApiError(400, "BAD_REQUEST", f"{ranged.name}: must be strictly inside its range")

    def validate(body: Any) -> None:
        if isinstance(body, dict):
            if "model_optional" in faults and "model" not in body:
                body["model"] = config.models[0]
            if "messages_missing_500" in faults and "messages" not in body:
                raise ApiError(500, "INTERNAL_ERROR", "KeyError: 'messages'")
            messages = body.get("messages")
            if "empty_messages_500" in faults and messages == []:
                raise ApiError(500, "INTERNAL_ERROR", "IndexError: list index out of range")
            if "assistant_message_500" in faults and any(
                isinstance(m, dict) and m.get("role") == "assistant" for m in messages or []
            ):
                raise ApiError(500, "INTERNAL_ERROR", "template error: assistant turn")
            parts = [m for m in messages or [] if isinstance(m, dict) and isinstance(m.get("content"), list)]
            if "content_parts_500" in faults and parts:
                raise ApiError(500, "INTERNAL_ERROR", "TypeError: can only concatenate str")
        errors = []
        for error in request_validator.iter_errors(body):
            path = [str(p) for p in error.absolute_path]
            if path and tolerated(path[0], str(error.validator), error.instance, error.schema):
                continue
            errors.append((path, error.message))
        if errors:
            path, message = min(errors, key=lambda e: len(e[0]))
            raise ApiError(400, "BAD_REQUEST", f"{'.'.join(path) or 'body'}: {message}"[:500], ".".join(path) or None)
        refuse(body)
        if config.variant == "strict":
            if not body["messages"]:
                raise ApiError(400, "BAD_REQUEST", "messages: must not be empty", "messages")
            for name in ("n", "max_tokens", "max_completion_tokens"):
                value = body.get(name)
                if isinstance(value, int) and value < 1:
                    raise ApiError(400, "BAD_REQUEST", f"{name}: must be at least 1", name)
        if body["model"] not in config.models and "any_model" not in faults:
            status = 404 if config.profile == "openai" else 400
            raise ApiError(status, "MODEL_NOT_SUPPORTED", f"Model not supported: {body['model']}", "model")

    served = {"chat": 0}

    async def chat(request: Request) -> Response:
        served["chat"] += 1
        if "unavailable_after_preflight" in faults and served["chat"] > 1:
            error = {"error": {"code": "UNAVAILABLE", "message": "overloaded"}}
            return JSONResponse(error, status_code=503, headers={"retry-after": "0"})
        try:
            raw = await request.body()
            try:
                body = json.loads(raw)
            except ValueError:
                status = 422 if "malformed_json_422" in faults else 500 if "malformed_json_500" in faults else 400
                raise ApiError(status, "BAD_REQUEST", "Failed to parse the body as JSON") from None
            authenticate(request)
            validate(body)
            if "payment_required" in faults:
                raise ApiError(402, "FIAT_PAYMENTS_ONLY", "Insufficient balance")
            if "chat_500" in faults:
                raise ApiError(500, "INTERNAL_ERROR", "Internal server error")
            return respond(body)
        except ApiError as error:
            return error_response(error)

    def respond(body: dict[str, Any]) -> Response:
        asked = _as_generated(body, faults)
        limits = [v for v in (asked.get("max_completion_tokens"), asked.get("max_tokens")) if isinstance(v, int)]
        generation = generate(asked, limit=max(0, min(limits)) if limits else None)
        _break_generation(generation, faults)
        completion_id = f"chatcmpl-{abs(hash((time.time_ns(), id(body)))) % 10**12}"
        created = int(time.time())
        if body.get("stream"):
            media = "application/json" if "stream_content_type_json" in faults else "text/event-stream"
            return StreamingResponse(_stream(body, generation, completion_id, created, faults), media_type=media)
        payload = {
            "id": completion_id,
            "object": "chat.completion",
            "created": created,
            "model": body["model"],
            "system_fingerprint": "fp_reference",
            "choices": [_choice(body, choice, faults) for choice in generation.choices],
            "usage": _usage(generation, faults),
        }
        _break_response(payload, faults)
        if "schema_break_with_logprobs" in faults and body.get("logprobs") is not None:
            for choice in payload["choices"]:
                choice["index"] = str(choice["index"])
        if "wrong_content_type" in faults:
            return Response(json.dumps(payload), media_type="text/plain")
        return JSONResponse(payload)

    async def models(request: Request) -> Response:
        data = [{"id": m, "object": "model", "created": 0, "owned_by": "conformance"} for m in config.models]
        return JSONResponse({"object": "list", "data": data})

    return Starlette(
        routes=[
            Route("/v1/chat/completions", chat, methods=["POST"]),
            Route("/v1/models", models, methods=["GET"]),
        ]
    )


def _as_generated(body: dict[str, Any], faults: frozenset[str]) -> dict[str, Any]:
    """The request as a faulty server would act on it (fields ignored or changed)."""
    asked = dict(body)
    dropped = {
        "ignore_completion_limit": "max_completion_tokens",
        "ignore_max_tokens": "max_tokens",
        "stop_ignored": "stop",
        "ignore_n": "n",
        "parallel_ignored": "parallel_tool_calls",
    }
    for fault, name in dropped.items():
        if fault in faults:
            asked.pop(name, None)
    if "tool_choice_none_ignored" in faults and asked.get("tool_choice") == "none":
        asked["tool_choice"] = "auto"
    if "named_tool_ignored" in faults and isinstance(asked.get("tool_choice"), dict):
        asked["tool_choice"] = "auto"
    if "seed_ignored" in faults:
        asked["seed"] = random.randrange(2**32)
    if "json_object_ignored" in faults and (asked.get("response_format") or {}).get("type") == "json_object":
        del asked["response_format"]
    if "json_schema_ignored" in faults and (asked.get("response_format") or {}).get("type") == "json_schema":
        asked["response_format"] = {"type": "json_object"}
    return asked


def _break_generation(generation: Generation, faults: frozenset[str]) -> None:
    """Apply the semantic faults to generated choices."""
    for choice in generation.choices:
        if "finish_stop_when_cut" in faults and choice.finish_reason == "length":
            choice.finish_reason = "stop"
        if "tool_cut_reports_tool_calls" in faults and choice.tool_calls and choice.finish_reason == "length":
            choice.finish_reason = "tool_calls"
        if choice.matched_stop is not None:
            if "stop_includes_sequence" in faults:
                choice.tokens.append(choice.matched_stop)
            if "stop_finish_length" in faults:
                choice.finish_reason = "length"


def _break_response(payload: dict[str, Any], faults: frozenset[str]) -> None:
    """Apply the response-contract faults to a completion."""
    if "created_string" in faults:
        payload["created"] = str(payload["created"])
    if "created_float" in faults:
        payload["created"] = payload["created"] + 0.5
    if "created_ms" in faults:
        payload["created"] = payload["created"] * 1000
    if "object_wrong" in faults:
        payload["object"] = "chat.completions"
    if "id_empty" in faults:
        payload["id"] = ""
    if "role_user" in faults:
        for choice in payload["choices"]:
            choice["message"]["role"] = "user"
    if "finish_reason_empty" in faults:
        for choice in payload["choices"]:
            choice["finish_reason"] = ""
    if payload["usage"] is None:
        del payload["usage"]
    if "extra_keys" in faults:
        payload.update(signature="c2lnbmF0dXJl", response_hash="aGFzaA==")
    if "choices_string" in faults:
        payload["choices"] = json.dumps(payload["choices"])


def _usage(generation: Generation, faults: frozenset[str]) -> dict[str, int] | None:
    if "usage_missing" in faults:
        return None
    total = generation.prompt_tokens + generation.completion_tokens
    return {
        "prompt_tokens": generation.prompt_tokens,
        "completion_tokens": generation.completion_tokens,
        "total_tokens": total + 1 if "usage_total_wrong" in faults else total,
    }


def _logprobs(body: dict[str, Any], choice: Choice, faults: frozenset[str]) -> dict[str, Any] | None:
    if not body.get("logprobs") or "logprobs_dropped" in faults:
        return None
    top = body.get("top_logprobs")
    k = top if isinstance(top, int) else 0
    if "top_logprobs_fewer" in faults:
        k = max(0, k - 1)
    content = []
    for i, token in enumerate(choice.tokens):
        alternatives = [token] + [f"{token.strip()}{j}" for j in range(1, k)]
        content.append(
            {
                "token": token,
                "logprob": -0.01 - 0.1 * (i % 5),
                "bytes": [str(b) for b in token.encode()]
                if "logprobs_bytes_strings" in faults
                else list(token.encode()),
                "top_logprobs": [
                    {"token": alt, "logprob": -0.01 - 0.1 * (i % 5) - j, "bytes": list(alt.encode())}
                    for j, alt in enumerate(alternatives[:k])
                ],
            }
        )
    return {"content": content}


def _tool_calls(choice: Choice, faults: frozenset[str]) -> list[dict[str, Any]] | None:
    if not choice.tool_calls:
        return None
    calls = []
    for call in choice.tool_calls:
        arguments: Any = call.arguments
        if "arguments_object" in faults and choice.finish_reason != "length":
            arguments = json.loads(call.arguments)
        calls.append({"id": call.id, "type": "function", "function": {"name": call.name, "arguments": arguments}})
    return calls


def _choice(body: dict[str, Any], choice: Choice, faults: frozenset[str]) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": None if choice.tool_calls else choice.content}
    calls = _tool_calls(choice, faults)
    if calls:
        message["tool_calls"] = calls
    return {
        "index": choice.index,
        "message": message,
        "finish_reason": choice.finish_reason,
        "logprobs": _logprobs(body, choice, faults),
    }


def _stream(
    body: dict[str, Any], generation: Generation, completion_id: str, created: int, faults: frozenset[str]
) -> Iterator[str]:
    """The SSE events of a streamed completion, with the streaming faults applied."""
    base = {"id": completion_id, "object": "chat.completion.chunk", "created": created, "model": body["model"]}
    if "stream_object_wrong" in faults:
        base["object"] = "chat.completion"
    count = 0

    def event(choices: list[dict[str, Any]], **extra: Any) -> str:
        nonlocal count
        count += 1
        chunk = {**base, "choices": choices, **extra}
        if "stream_ids_vary" in faults:
            chunk["id"] = f"{completion_id}-{count}"
        if "extra_keys" in faults:
            chunk.update(signature="c2lnbmF0dXJl", response_hash="aGFzaA==")
        keepalive = ": keep-alive\n\n" if "stream_keepalive" in faults else ""
        return keepalive + "data: " + json.dumps(chunk) + "\n\n"

    for choice in generation.choices:
        yield event([{"index": choice.index, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}])
        if "stream_bad_json" in faults:
            yield "data: {not json\n\n"
        for number, call in enumerate(choice.tool_calls):
            head = {
                "index": number,
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": ""},
            }
            yield event([{"index": choice.index, "delta": {"tool_calls": [head]}, "finish_reason": None}])
            for piece in call.pieces:
                part: dict[str, Any] = {"function": {"arguments": piece}}
                if "stream_tool_index_missing" not in faults:
                    part["index"] = number
                yield event([{"index": choice.index, "delta": {"tool_calls": [part]}, "finish_reason": None}])
        for i, token in enumerate(choice.tokens):
            if "stream_drops_delta" in faults and i == 1:
                continue
            yield event([{"index": choice.index, "delta": {"content": token}, "finish_reason": None}])
        reason = "" if "stream_finish_reason_empty" in faults else choice.finish_reason
        if "stream_finish_twice" in faults:
            yield event([{"index": choice.index, "delta": {}, "finish_reason": reason}])
        yield event([{"index": choice.index, "delta": {}, "finish_reason": reason}])
    asked = (body.get("stream_options") or {}).get("include_usage")
    if (asked and "stream_no_usage" not in faults) or "stream_usage_unasked" in faults:
        yield event([], usage=_usage(generation, faults))
    if "stream_no_done" not in faults:
        yield "data: [DONE]\n\n"
