"""The reference server: a Starlette app strict to the captured contract, with switchable faults."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from conformance.contract import REQUEST_SCHEMA, Contract, load_contract
from conformance.reference.faults import ApiError, Event, active, validate_faults
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


def create_app(config: ServerConfig) -> Starlette:
    """Build the ASGI app for `config`. Faults act at their stages: request, auth, generation, response,
    stream, wire (see `conformance.reference.faults`)."""
    contract = config.contract
    assert contract is not None
    faults = active(config.faults)
    # each stage's hooks of the active faults, in the faults' order
    requests = [f.hooks.request for f in faults]
    auths = [f.hooks.auth for f in faults]
    generations = [f.hooks.generation for f in faults]
    responses = [f.hooks.response for f in faults]
    streams = [f.hooks.stream for f in faults]
    wires = [(f.name, f.hooks.wire) for f in faults]
    # a fault with `openai_values` makes the server take what OpenAI's contract allows (plain-string stop, ...)
    validating = contract.other("openai") if any(h.openai_values for h in requests) else contract
    request_validator = validating.validator(REQUEST_SCHEMA)
    loads = [f.hooks.load for f in faults]
    served = {"chat": 0}
    fired: set[str] = set()  # the `crash_first` faults that have crashed once
    in_flight = InFlight(hold=any(h.hold for h in loads))

    def error_response(error: ApiError) -> Response:
        for h in responses:
            rendered = h.render_error(error) if h.render_error else None
            if rendered:
                status, text, media = rendered
                return Response(text, status_code=status, media_type=media)
        if config.profile == "openai":
            kind = "invalid_request_error" if error.status < 500 else "server_error"
            body = {"error": {"message": error.message, "type": kind, "param": error.param, "code": error.code}}
        else:
            body = {"error": {"code": error.code, "message": error.message}}
        return JSONResponse(body, status_code=error.status)

    def authenticate(request: Request) -> None:
        if not config.api_key:
            return
        scheme, _, token = (request.headers.get("authorization") or "").partition(" ")
        if scheme == "Bearer" and token == config.api_key:
            return
        if any(h.admit and h.admit(scheme, token, config.api_key) for h in auths):
            return
        raise ApiError(401, "AUTH_ERROR", "Authentication failed")

    def validate(body: Any) -> None:
        if isinstance(body, dict):
            if "model" not in body and any(h.default_model for h in requests):
                body["model"] = config.models[0]
            for h in requests:
                if h.before:
                    h.before(body)
        errors = []
        valid = validating.is_valid(REQUEST_SCHEMA, body)  # fast; the errors are listed only when there are some
        for error in [] if valid else request_validator.iter_errors(body):
            path = [str(p) for p in error.absolute_path]
            instance, schema = error.instance, error.schema if isinstance(error.schema, dict) else {}
            if path and any(
                h.tolerate and h.tolerate(path[0], str(error.validator), instance, schema) for h in requests
            ):
                continue
            errors.append((path, error.message))
        if errors:
            path, message = min(errors, key=lambda e: len(e[0]))
            raise ApiError(400, "BAD_REQUEST", f"{'.'.join(path) or 'body'}: {message}"[:500], ".".join(path) or None)
        for h in requests:
            if h.after:
                h.after(body, contract)
        if config.variant == "strict":
            if not body["messages"]:
                raise ApiError(400, "BAD_REQUEST", "messages: must not be empty", "messages")
            for name in ("n", "max_tokens", "max_completion_tokens"):
                value = body.get(name)
                if isinstance(value, int) and value < 1:
                    raise ApiError(400, "BAD_REQUEST", f"{name}: must be at least 1", name)
        if body["model"] not in config.models and not any(h.any_model for h in requests):
            status = 404 if config.profile == "openai" else 400
            raise ApiError(status, "MODEL_NOT_SUPPORTED", f"Model not supported: {body['model']}", "model")

    async def chat(request: Request) -> Response:
        """Every chat request, in flight beside whatever else is (`InFlight`); every answer carries coherent
        `x-ratelimit-*` headers, as OpenAI's do."""
        served["chat"] += 1
        number = served["chat"]
        me = in_flight.enter()
        try:
            await in_flight.gathered()
            response = await answer(request, number, me)
        finally:
            in_flight.leave(me)
        headers = rate_limit_headers(number)
        for h in responses:
            if h.headers:
                h.headers(headers)
        response.headers.update(headers)
        return response

    async def answer(request: Request, number: int, me: Company) -> Response:
        if any(h.answer_after is not None and number > h.answer_after for _, h in wires):
            error = {"error": {"code": "UNAVAILABLE", "message": "overloaded"}}
            return JSONResponse(error, status_code=503, headers={"retry-after": "0"})
        for _, h in wires:
            limited = h.rate_limit(number) if h.rate_limit else None
            if limited is not None:
                response = error_response(ApiError(429, "RATE_LIMITED", "Too many requests: try again later"))
                response.headers.update(limited)
                return response
        try:
            raw = await request.body()
            try:
                body = json.loads(raw)
            except ValueError:
                status = next((h.malformed_status for h in requests if h.malformed_status), 400)
                raise ApiError(status, "BAD_REQUEST", "Failed to parse the body as JSON") from None
            authenticate(request)
            for name, h in wires:
                if h.crash_first and name not in fired and isinstance(body, dict) and h.crash_first(body):
                    fired.add(name)
                    raise ApiError(500, "INTERNAL_ERROR", "worker restarted")
            validate(body)
            return respond(body, me)
        except ApiError as error:
            return error_response(error)

    def respond(body: dict[str, Any], me: Company) -> Response:
        asked = dict(body)
        for g in generations:
            if g.asked:
                g.asked(asked)
        for h in loads:
            if h.beside and me.company:
                h.beside(asked)
        limits = [v for v in (asked.get("max_completion_tokens"), asked.get("max_tokens")) if isinstance(v, int)]
        generation = generate(asked, limit=max(0, min(limits)) if limits else None)
        for g in generations:
            if g.generated:
                g.generated(generation)
        completion_id = f"chatcmpl-{abs(hash((time.time_ns(), id(body)))) % 10**12:012d}"  # fixed width
        created = int(time.time())
        if body.get("stream"):
            events = _stream(body, generation, completion_id, created)
            for s in streams:
                if s.events:
                    events = s.events(events, body)
            media = next((h.media_type for h in streams if h.media_type), "text/event-stream")
            return StreamingResponse(iter([_render(e) for e in events]), media_type=media)
        payload = {
            "id": completion_id,
            "object": "chat.completion",
            "created": created,
            "model": body["model"],
            "system_fingerprint": "fp_reference",
            "choices": [_choice(body, choice) for choice in generation.choices],
            "usage": _usage(generation),
        }
        for r in responses:
            if r.payload:
                r.payload(payload, body)
        if me.company and any(h.swap for h in loads):
            payload = in_flight.swapped(payload)
        media = next((h.media_type for h in responses if h.media_type), "application/json")
        return Response(json.dumps(payload), media_type=media)

    async def models(request: Request) -> Response:
        data = [{"id": m, "object": "model", "created": 0, "owned_by": "conformance"} for m in config.models]
        return JSONResponse({"object": "list", "data": data})

    return Starlette(
        routes=[
            Route("/v1/chat/completions", chat, methods=["POST"]),
            Route("/v1/models", models, methods=["GET"]),
        ]
    )


HOLD_S = 0.2  # with a `hold` fault: a request waits until no other has arrived for this long
RATE_LIMIT_REQUESTS = 10_000  # the x-ratelimit-* headers the server sends: requests and tokens per minute
RATE_LIMIT_TOKENS = 2_000_000


def rate_limit_headers(number: int) -> dict[str, str]:
    """Coherent `x-ratelimit-*` headers for the server's request `number` (OpenAI's names and formats)."""
    now = time.time()
    used = number % RATE_LIMIT_REQUESTS
    return {
        "x-ratelimit-limit-requests": str(RATE_LIMIT_REQUESTS),
        "x-ratelimit-remaining-requests": str(RATE_LIMIT_REQUESTS - used),
        "x-ratelimit-reset-requests": f"{60 - int(now % 60)}s",
        "x-ratelimit-limit-tokens": str(RATE_LIMIT_TOKENS),
        "x-ratelimit-remaining-tokens": str(RATE_LIMIT_TOKENS - 16 * used),
        "x-ratelimit-reset-tokens": f"{int(1000 * (1 - now % 1))}ms",
    }


@dataclass(eq=False)
class Company:
    """One request in flight; `company`: another request was in flight at some moment beside it."""

    company: bool = False


@dataclass
class InFlight:
    """The chat requests in flight, on the server's one event loop (in process, behind an httpx transport and an
    anyio portal, or on a socket under uvicorn: both serve requests concurrently). With `hold` (a load fault), a
    request waits until no other has arrived for HOLD_S, so that requests sent together are in flight together."""

    hold: bool = False
    now: set[Company] = field(default_factory=set)
    arrivals: int = 0
    last: dict[str, Any] | None = None  # the previous answer of a group in flight together (the `swap` fault)

    def enter(self) -> Company:
        me = Company(company=bool(self.now))
        for other in self.now:
            other.company = True
        if not self.now:
            self.last = None  # a new group
        self.now.add(me)
        self.arrivals += 1
        return me

    def leave(self, me: Company) -> None:
        self.now.discard(me)

    async def gathered(self) -> None:
        while self.hold:
            seen = self.arrivals
            await anyio.sleep(HOLD_S)
            if self.arrivals == seen:
                return

    def swapped(self, payload: dict[str, Any]) -> dict[str, Any]:
        """The previous answer of the group in flight together (this one kept for the next), or this one."""
        previous, self.last = self.last, payload
        return previous if previous is not None else payload


def _usage(generation: Generation) -> dict[str, int]:
    total = generation.prompt_tokens + generation.completion_tokens
    return {
        "prompt_tokens": generation.prompt_tokens,
        "completion_tokens": generation.completion_tokens,
        "total_tokens": total,
    }


def _logprobs(body: dict[str, Any], choice: Choice) -> dict[str, Any] | None:
    if not body.get("logprobs"):
        return None
    top = body.get("top_logprobs")
    k = top if isinstance(top, int) else 0
    content = []
    for i, token in enumerate(choice.tokens):
        alternatives = [token] + [f"{token.strip()}{j}" for j in range(1, k)]
        content.append(
            {
                "token": token,
                "logprob": -0.01 - 0.1 * (i % 5),
                "bytes": list(token.encode()),
                "top_logprobs": [
                    {"token": alt, "logprob": -0.01 - 0.1 * (i % 5) - j, "bytes": list(alt.encode())}
                    for j, alt in enumerate(alternatives[:k])
                ],
            }
        )
    return {"content": content}


def _choice(body: dict[str, Any], choice: Choice) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": None if choice.tool_calls else choice.content}
    if choice.tool_calls:
        message["tool_calls"] = [
            {"id": call.id, "type": "function", "function": {"name": call.name, "arguments": call.arguments}}
            for call in choice.tool_calls
        ]
    return {
        "index": choice.index,
        "message": message,
        "finish_reason": choice.finish_reason,
        "logprobs": _logprobs(body, choice),
    }


def _render(event: Event) -> str:
    return event if isinstance(event, str) else "data: " + json.dumps(event) + "\n\n"


def _stream(body: dict[str, Any], generation: Generation, completion_id: str, created: int) -> list[Event]:
    """The events of a streamed completion: chunks, the usage chunk when asked, `[DONE]`."""
    base = {"id": completion_id, "object": "chat.completion.chunk", "created": created, "model": body["model"]}
    events: list[Event] = []

    def event(choices: list[dict[str, Any]], **extra: Any) -> None:
        events.append({**base, "choices": choices, **extra})

    for choice in generation.choices:
        event([{"index": choice.index, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}])
        for number, call in enumerate(choice.tool_calls):
            head = {
                "index": number,
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": ""},
            }
            event([{"index": choice.index, "delta": {"tool_calls": [head]}, "finish_reason": None}])
            for piece in call.pieces:
                part = {"index": number, "function": {"arguments": piece}}
                event([{"index": choice.index, "delta": {"tool_calls": [part]}, "finish_reason": None}])
        for token in choice.tokens:
            event([{"index": choice.index, "delta": {"content": token}, "finish_reason": None}])
        event([{"index": choice.index, "delta": {}, "finish_reason": choice.finish_reason}])
    if (body.get("stream_options") or {}).get("include_usage"):
        event([], usage=_usage(generation))
    events.append("data: [DONE]\n\n")
    return events
