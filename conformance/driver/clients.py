"""The SDK clients the `client.*` checks replay recorded answers through: the official `openai` SDK (strict
response validation: its own pydantic types) and `atoma-sdk`. Each answer is served to the SDK by a mock
transport from the exchange the run recorded, so a replay sends nothing to the target. An SDK that is not
installed is left out (its checks are then skipped as inconclusive).
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from conformance.checks import ClientParser, Parsed
from conformance.records import Exchange

MESSAGE_LIMIT = 400
REPLAY_URL = "http://replay.invalid"


def _version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def _answer(exchange: Exchange) -> tuple[int, dict[str, str], bytes]:
    headers = {"content-type": exchange.content_type or "application/json"}
    return exchange.status or 200, headers, exchange.text.encode()


def _basic(exchange: Exchange) -> tuple[str, list[Any]]:
    body = exchange.request_body if isinstance(exchange.request_body, dict) else {}
    model = body.get("model")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        messages = [{"role": "user", "content": "hi"}]
    return model if isinstance(model, str) else "model", messages


def _from_validation(error: BaseException) -> Parsed | None:
    """A pydantic ValidationError (possibly the cause of the SDK's own error) as the first failing field."""
    for candidate in (error, error.__cause__):
        errors = getattr(candidate, "errors", None)
        if candidate is None or not callable(errors):
            continue
        try:
            first = errors()[0]
        except Exception:
            continue
        path = tuple(p for p in first.get("loc", ()) if isinstance(p, str | int))
        if path and path[0] == "body":  # atoma-sdk's unmarshaller wraps the body
            path = path[1:]
        return Parsed(f"{first.get('msg', '')} (got {first.get('input')!r:.80})"[:MESSAGE_LIMIT], path)
    return None


def _failure(error: BaseException) -> Parsed:
    found = _from_validation(error)
    if found is not None:
        return found
    return Parsed(f"{type(error).__name__}: {error}"[:MESSAGE_LIMIT])


def _read_some(chunks: int) -> None:
    """A streamed answer the SDK reads no chunk from leaves its user with nothing, silently: a parse failure."""
    if chunks == 0:
        raise ValueError("the SDK read no chunk from the streamed answer")


@dataclass(frozen=True)
class _Client:
    name: str
    version: str
    replay: Callable[[str, Exchange], None]

    def __call__(self, kind: str, exchange: Exchange) -> Parsed:
        try:
            self.replay(kind, exchange)
        except Exception as error:
            return _failure(error)
        return Parsed()


def _openai(kind: str, exchange: Exchange) -> None:
    import httpx2  # the HTTP stack of openai 3.x
    import openai

    status, headers, content = _answer(exchange)
    transport = httpx2.MockTransport(lambda _: httpx2.Response(status, headers=headers, content=content))
    client = openai.OpenAI(
        api_key="replay",
        base_url=f"{REPLAY_URL}/v1",
        http_client=httpx2.Client(transport=transport),
        max_retries=0,
        _strict_response_validation=True,
    )
    model, messages = _basic(exchange)
    with client:
        if kind == "stream":
            read = sum(1 for _ in client.chat.completions.create(model=model, messages=messages, stream=True))
            _read_some(read)
        else:
            client.chat.completions.create(model=model, messages=messages)


def _atoma(kind: str, exchange: Exchange) -> None:
    import atoma_sdk
    import httpx

    status, headers, content = _answer(exchange)
    transport = httpx.MockTransport(lambda _: httpx.Response(status, headers=headers, content=content))
    with httpx.Client(transport=transport) as http:
        sdk = atoma_sdk.AtomaSDK(bearer_auth="replay", server_url=REPLAY_URL, client=http)
        model, messages = _basic(exchange)
        if kind == "stream":
            _read_some(sum(1 for _ in sdk.chat.create_stream(model=model, messages=messages)))
        else:
            sdk.chat.create(model=model, messages=messages)


REPLAYS: dict[str, tuple[str, str, Callable[[str, Exchange], None]]] = {
    # check name: (distribution, module, replay)
    "openai": ("openai", "openai", _openai),
    "atoma_sdk": ("atoma-sdk", "atoma_sdk", _atoma),
}


def installed() -> dict[str, ClientParser]:
    """The SDK clients installed here, by the name the `client.*` checks use."""
    out: dict[str, ClientParser] = {}
    for name, (distribution, module, replay) in REPLAYS.items():
        version = _version(distribution)
        if version is None:
            continue
        try:
            importlib.import_module(module)
        except ImportError:
            continue
        out[name] = _Client(distribution, version, replay)
    return out
