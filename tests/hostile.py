"""Small hostile servers on 127.0.0.1 for the tests of issue 10: each answers every request one bad way."""

from __future__ import annotations

import asyncio
import functools
import gzip
import json
import zlib
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from conformance.reference import serving

CREATED = 1_764_000_000


def completion(content: str = "Hello.", **top: Any) -> dict[str, Any]:
    body = {
        "id": "chatcmpl-h",
        "object": "chat.completion",
        "created": CREATED,
        "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
    }
    body.update(top)
    return body


def escaped_forms(token: str) -> str:
    """The token raw, fully \\u-escaped (lower and upper case), mixed, %-encoded: as JSON string content."""
    lower = "".join(f"\\u{ord(c):04x}" for c in token)
    upper = "".join(f"\\u{ord(c):04X}" for c in token)
    mixed = "".join(f"\\u{ord(c):04x}" if i % 2 else c for i, c in enumerate(token))
    encoded = "".join(f"%{ord(c):02X}" if i % 3 == 0 else c for i, c in enumerate(token))
    return " | ".join([token, lower, upper, mixed, encoded])


@functools.cache
def gzip_bomb(size: int = 1 << 30) -> bytes:
    """A gzip body inflating to `size` bytes of zeros (about 1 MB for 1 GiB)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    block = bytes(1 << 20)
    parts = [compressor.compress(block) for _ in range(size // len(block))]
    parts.append(compressor.flush())
    return b"".join(parts)


def _json(text: str | bytes, status: int = 200, **headers: str) -> Response:
    return Response(text, status_code=status, media_type="application/json", headers=headers)


async def _answer(mode: str, request: Request) -> Response:
    token = request.headers.get("authorization", "").removeprefix("Bearer ")
    body = await request.body()
    try:
        sent = json.loads(body)
    except ValueError:
        sent = None
    if mode == "echo_key":  # the key echoed in every form, in content and in errors
        forms = escaped_forms(token)
        if not isinstance(sent, dict) or "messages" not in sent:
            return _json('{"error": {"code": "BAD", "message": "' + forms + '"}}', 400)
        text = json.dumps(completion("PLACEHOLDER", system_fingerprint="PLACEHOLDER")).replace("PLACEHOLDER", forms)
        return _json(text)
    if mode == "drip":  # a JSON body, one byte every 2 s
        data = json.dumps(completion()).encode()

        async def drip() -> AsyncIterator[bytes]:
            for i in range(len(data)):
                yield data[i : i + 1]
                await asyncio.sleep(2)

        return StreamingResponse(drip(), media_type="application/json")
    if mode == "endless_stream":  # an event stream that never ends, an event every 0.5 s

        async def endless() -> AsyncIterator[bytes]:
            while True:
                chunk = {"id": "c", "object": "chat.completion.chunk", "created": CREATED, "model": "m"}
                chunk["choices"] = [{"index": 0, "delta": {"content": "a"}, "finish_reason": None}]
                yield f"data: {json.dumps(chunk)}\n\n".encode()
                await asyncio.sleep(0.5)

        return StreamingResponse(endless(), media_type="text/event-stream")
    if mode == "gzip_bomb":
        return Response(gzip_bomb(), media_type="application/json", headers={"content-encoding": "gzip"})
    if mode == "big":  # valid 10 MB completions, gzip-encoded like a real server would
        text = json.dumps(completion("x" * (10 * 1024 * 1024)))
        packed = gzip.compress(text.encode(), 1)
        return Response(packed, media_type="application/json", headers={"content-encoding": "gzip"})
    if mode == "deep":
        return _json("[" * 100_000 + "]" * 100_000)
    if mode == "controls":  # raw control characters in the body: terminal escapes, NUL, BEL, a C1 CSI
        return _json(json.dumps(completion("CONTENT")).replace("CONTENT", "\x1b[31mred\x1b[0m \x00 \x07 \x9b"))
    if mode == "bad_utf8":
        return _json(b'{"id": "c", "object": "chat.completion", "created": 1, "model": "\xff\xfe", "choices": []}')
    raise AssertionError(mode)


def hostile_server(mode: str) -> Any:
    """`with hostile_server(mode) as url:` a server answering every request the `mode` way."""

    async def endpoint(request: Request) -> Response:
        return await _answer(mode, request)

    app = Starlette(routes=[Route("/v1/chat/completions", endpoint, methods=["POST"])])
    return serving(app, name=f"hostile-{mode}", log_level="critical")
