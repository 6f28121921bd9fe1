"""Small hostile servers on 127.0.0.1 for the tests of issue 10: each answers every request one bad way."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gzip
import itertools
import json
import socket
import socketserver
import threading
import zlib
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
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


# -- issue 16: one raw-socket server on one port; the base URL's first path segment picks the misbehaviour ---------


class RawRequest:
    """What the raw server read of one request."""

    def __init__(self, method: str, path: str, headers: dict[str, str], body: bytes) -> None:
        self.method, self.path, self.headers, self.body = method, path, headers, body
        try:
            self.json: Any = json.loads(body) if body else None
        except ValueError:
            self.json = None

    @property
    def stream(self) -> bool:
        return isinstance(self.json, dict) and self.json.get("stream") is True

    @property
    def key(self) -> str:
        return self.headers.get("authorization", "").removeprefix("Bearer ")


def _head(status: str, content_type: str, length: int | None = None, **extra: str) -> bytes:
    lines = [f"HTTP/1.1 {status}", f"content-type: {content_type}", "connection: close"]
    lines += [f"{k.replace('_', '-')}: {v}" for k, v in extra.items()]
    if length is not None:
        lines.append(f"content-length: {length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def send_json(sock: socket.socket, text: str | bytes, status: str = "200 OK", **extra: str) -> None:
    data = text.encode() if isinstance(text, str) else text
    sock.sendall(_head(status, "application/json", len(data), **extra) + data)


def chunk(content: str | None = None, finish: str | None = None, **top: Any) -> dict[str, Any]:
    delta = {"content": content} if content is not None else {}
    body = {"id": "chatcmpl-h", "object": "chat.completion.chunk", "created": CREATED, "model": "m"}
    body["choices"] = [{"index": 0, "delta": delta, "finish_reason": finish}]
    body.update(top)
    return body


def sse(item: Any) -> bytes:
    return f"data: {item if isinstance(item, str) else json.dumps(item)}\n\n".encode()


def good_stream(request: RawRequest, words: list[str]) -> list[bytes]:
    """A conforming stream of `words` (role, a chunk per word, finish, usage when asked, [DONE])."""
    events = [sse(chunk(None) | {"choices": [{"index": 0, "delta": {"role": "assistant"}, "finish_reason": None}]})]
    events += [sse(chunk(w)) for w in words]
    events.append(sse(chunk(None, "stop")))
    options = request.json.get("stream_options") if isinstance(request.json, dict) else None
    if isinstance(options, dict) and options.get("include_usage"):
        usage = {"prompt_tokens": 3, "completion_tokens": len(words), "total_tokens": 3 + len(words)}
        events.append(sse(chunk(None) | {"choices": [], "usage": usage}))
    return [*events, sse("[DONE]")]


def send_stream(sock: socket.socket, events: Iterable[bytes], wait: float = 0.0) -> None:
    """An event stream (its body delimited by the connection's close), `wait` seconds between events."""
    sock.sendall(_head("200 OK", "text/event-stream"))
    for event in events:
        sock.sendall(event)
        if wait:
            threading.Event().wait(wait)  # the server's own pace, not a test's wait


def forever(*pieces: bytes) -> Iterator[bytes]:
    while True:
        yield from pieces


def answer_plainly(sock: socket.socket, request: RawRequest, words: list[str] | None = None) -> None:
    """A conforming answer: a completion, or a stream of it."""
    words = words or ["Hello", " there", " friend"]
    if request.stream:
        send_stream(sock, good_stream(request, words))
    else:
        send_json(sock, json.dumps(completion("".join(words))))


RawMode = Callable[[socket.socket, RawRequest, int], None]  # (socket, request, how many requests this mode had before)
RAW_MODES: dict[str, RawMode] = {}


def raw_mode(name: str) -> Callable[[RawMode], RawMode]:
    def register(function: RawMode) -> RawMode:
        RAW_MODES[name] = function
        return function

    return register


class _Handler(socketserver.BaseRequestHandler):
    server: RawServer

    def handle(self) -> None:
        sock = self.request
        sock.settimeout(30)
        data = b""
        try:
            while b"\r\n\r\n" not in data:
                piece = sock.recv(65536)
                if not piece or len(data) > 1 << 20:
                    return
                data += piece
            head, _, body = data.partition(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            headers = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])}
            length = int(headers.get("content-length", "0"))
            while len(body) < length:
                piece = sock.recv(65536)
                if not piece:
                    return
                body += piece
            mode = path.split("/")[1]
            with self.server.lock:
                seen = self.server.counts.get(mode, 0)
                self.server.counts[mode] = seen + 1
            RAW_MODES[mode](sock, RawRequest(method, path, headers, body), seen)
        except (OSError, ValueError):
            pass  # the client went away (it closed a stream past its bound, or gave up at its deadline)


class RawServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        super().__init__((host, 0), _Handler)
        self.lock = threading.Lock()
        self.counts: dict[str, int] = {}
        self.host = f"[{host}]" if ":" in host else host
        self.port = self.server_address[1]

    def url(self, mode: str, scheme: str = "http") -> str:
        assert mode in RAW_MODES, mode
        return f"{scheme}://{self.host}:{self.port}/{mode}"


@contextlib.contextmanager
def raw_server(host: str = "127.0.0.1") -> Iterator[RawServer]:
    """`with raw_server() as server:` a server on a free port; `server.url(mode)` is the base URL of one mode."""
    server = RawServer(host)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@raw_mode("plain")
def _plain(sock: socket.socket, request: RawRequest, seen: int) -> None:
    answer_plainly(sock, request)


# the key, every way a target (or the tool's own quoting) can carry it -------------------------------------------


def key_forms(key: str) -> list[str]:
    """The key raw, \\u-escaped behind one and two backslashes, \\x-escaped, %-encoded, mixed."""
    u = "".join(f"\\u{ord(c):04x}" for c in key)
    return [key, u, u.replace("\\", "\\\\"), "".join(f"\\x{ord(c):02x}" for c in key), escaped_forms(key)]


@raw_mode("key_echo")
def _key_echo(sock: socket.socket, request: RawRequest, seen: int) -> None:
    """The key echoed in every form, at offsets where a message's length limits cut it (8+ characters kept), split
    across two stream chunks, and \\u-escaped inside a data line that is not JSON."""
    key = request.key
    cut = [" " * n + key for n in (112, 152, 192, 392, 395)]  # describe(200), (400), [:120], ... keep a prefix
    if request.stream:
        half = len(key) // 2
        events = [sse(chunk(key[:half])), sse(chunk(key[half:]))]  # one chunk each half
        events.append(sse("not json " + key_forms(key)[1]))  # quoted by repr in stream.data_json's message
        events += [sse(chunk(form)) for form in key_forms(key)]
        events += [sse(chunk(None, "stop")), sse("[DONE]")]
        send_stream(sock, events)
    elif not isinstance(request.json, dict) or "messages" not in request.json:
        error = {"error": {"code": "BAD", "message": "|".join([*cut, *key_forms(key)])}}
        send_json(sock, json.dumps(error), "400 Bad RawRequest")
    else:
        text = "\n".join([*key_forms(key), *cut])
        send_json(sock, json.dumps(completion(text, system_fingerprint=key[:12])))


# deadlines: nothing is ever complete ------------------------------------------------------------------------------


@raw_mode("header_drip")
def _header_drip(sock: socket.socket, request: RawRequest, seen: int) -> None:
    """The status line, then a header one byte every 0.2 s, forever."""
    sock.sendall(b"HTTP/1.1 200 OK\r\nx-slow: ")
    for byte in forever(b"a"):
        sock.sendall(byte)
        threading.Event().wait(0.2)


def _interim(status: bytes) -> RawMode:
    def send(sock: socket.socket, request: RawRequest, seen: int) -> None:
        for piece in forever(status):
            sock.sendall(piece)
            threading.Event().wait(0.05)

    return send


RAW_MODES["interim_100"] = _interim(b"HTTP/1.1 100 Continue\r\n\r\n")
RAW_MODES["interim_103"] = _interim(b"HTTP/1.1 103 Early Hints\r\nlink: </a.css>; rel=preload\r\n\r\n")


@raw_mode("silent")
def _silent(sock: socket.socket, request: RawRequest, seen: int) -> None:
    """Reads the request, answers nothing, keeps the connection open."""
    sock.recv(1)  # returns when the client closes


# numbers and dates no one can represent ---------------------------------------------------------------------------

HUGE = 10**4299  # 4,300 digits: the most Python converts; a sum of two has more


def _retry_after(value: str) -> RawMode:
    def send(sock: socket.socket, request: RawRequest, seen: int) -> None:
        if seen % 2 == 0:
            send_json(sock, '{"error": {"message": "busy"}}', "503 Service Unavailable", retry_after=value)
        else:
            answer_plainly(sock, request)

    return send


RAW_MODES["retry_after_year"] = _retry_after("Thu, 01 Jan 99999999999999999999 00:00:00 GMT")  # OverflowError
RAW_MODES["retry_after_offset"] = _retry_after("Sun, 06 Nov 1994 08:49:37 +9999")  # ValueError
RAW_MODES["retry_after_digits"] = _retry_after("9" * 5000)  # inf seconds


@raw_mode("usage_huge")
def _usage_huge(sock: socket.socket, request: RawRequest, seen: int) -> None:
    """Usage counts of 4,300 digits in every answer: their sum over a run has more."""
    usage = {"prompt_tokens": HUGE, "completion_tokens": HUGE, "total_tokens": 2 * HUGE}
    send_json(sock, json.dumps(completion("Hello.", usage=usage)))


@raw_mode("usage_huger")
def _usage_huger(sock: socket.socket, request: RawRequest, seen: int) -> None:
    """A usage count of 5,000 digits: valid JSON text that no parser here can turn into a number."""
    text = json.dumps(completion("Hello.")).replace('"prompt_tokens": 3', '"prompt_tokens": ' + "7" * 5000)
    send_json(sock, text)


@raw_mode("created_overflow")
def _created_overflow(sock: socket.socket, request: RawRequest, seen: int) -> None:
    """`created: 1e400`: a number past any double (read as inf)."""
    send_json(sock, json.dumps(completion()).replace(str(CREATED), "1e400"))


# bodies that are not JSON, streams that never end, a stop sequence in the output ------------------------------------


@raw_mode("nan")
def _nan(sock: socket.socket, request: RawRequest, seen: int) -> None:
    send_json(sock, json.dumps(completion()).replace(str(CREATED), "NaN"))


@raw_mode("infinity_usage")
def _infinity_usage(sock: socket.socket, request: RawRequest, seen: int) -> None:
    send_json(sock, json.dumps(completion()).replace('"total_tokens": 5', '"total_tokens": -Infinity'))


@raw_mode("nan_in_stream")
def _nan_in_stream(sock: socket.socket, request: RawRequest, seen: int) -> None:
    if not request.stream:
        return answer_plainly(sock, request)
    events = good_stream(request, ["Hi"])
    bad = b"data: " + json.dumps(chunk("x")).replace(str(CREATED), "NaN").encode() + b"\n\n"
    send_stream(sock, [events[0], bad, *events[1:]])


def _endless(*pieces: bytes, wait: float = 0.0) -> RawMode:
    """Plain answers, but every stream: its role chunk, then `pieces` over and over."""

    def send(sock: socket.socket, request: RawRequest, seen: int) -> None:
        if not request.stream:
            return answer_plainly(sock, request)
        send_stream(sock, itertools.chain(good_stream(request, [])[:1], forever(*pieces)), wait)

    return send


RAW_MODES["stream_fast_chunks"] = _endless(sse(chunk("a")))
RAW_MODES["stream_fast_comments"] = _endless(b": keep-alive\n\n")
RAW_MODES["stream_nameless_events"] = _endless(b"event: ping\n\n")  # events with no data line
RAW_MODES["stream_after_done"] = _endless(sse(chunk("a")), sse("[DONE]"))  # [DONE], and it goes on
RAW_MODES["stream_one_huge_line"] = _endless(b"data: " + b"x" * 65536)  # one line, never ended
RAW_MODES["stream_slow_comments"] = _endless(b": still here\n\n", wait=0.1)

FREE_WORDS = ["Alpha", " bravo", " charlie", " delta", " echo", " foxtrot"]


def _stop(stopped: Callable[[str], str]) -> RawMode:
    """An unconstrained answer of FREE_WORDS; with `stop`, `stopped(the stop word)`."""

    def send(sock: socket.socket, request: RawRequest, seen: int) -> None:
        stop = request.json.get("stop") if isinstance(request.json, dict) else None
        if stop and isinstance(stop, list):
            return send_json(sock, json.dumps(completion(stopped(stop[0]))))
        answer_plainly(sock, request, FREE_WORDS)

    return send


RAW_MODES["stop_inside"] = _stop(lambda word: f"Zulu {word} yankee")  # another prefix, the stop word inside
RAW_MODES["stop_only"] = _stop(lambda word: word)  # nothing but the stop sequence
RAW_MODES["stop_honoured"] = _stop(lambda word: "".join(FREE_WORDS).split(word)[0])  # correct
