"""The HTTP client of a run: one place that sends, retries, counts and redacts."""

from __future__ import annotations

import email.utils
import json
import threading
import time
from dataclasses import dataclass
from typing import Any

import httpx
from httpx_sse import EventSource, SSEError

from conformance.records import RETRY_STATUSES, Exchange, SseEvent
from conformance.transport.redact import Redactor, strip_credentials

__all__ = [
    "DEFAULT_AUTH",
    "RETRY_STATUSES",
    "BudgetExhausted",
    "TargetClient",
    "Usage",
    "normalise_base_url",
    "parse_events",
]

CHAT_PATH = "/v1/chat/completions"
MAX_RETRIES = 2
LIMIT_FIELDS = ("max_tokens", "max_completion_tokens")
MAX_STREAM_EVENTS = 256  # a stream is read to this many events (plenty for a short completion), then closed
MAX_STREAM_BYTES = 256 * 1024
MAX_RETRY_WAIT_S = 20.0  # total wait a single request may spend honouring Retry-After
DEFAULT_AUTH = object()  # sentinel: send `Authorization: Bearer <api key>` when a key is set


class BudgetExhausted(Exception):
    """`--max-requests` is reached; the check that wanted to send is skipped."""


def parse_events(text: str) -> list[SseEvent]:
    """A body parsed as a server-sent event stream (comments and keep-alives dropped; [] if it is not one)."""
    response = httpx.Response(200, headers={"content-type": "text/event-stream"}, content=text.encode())
    try:
        return [SseEvent(data=e.data, event=e.event) for e in EventSource(response).iter_sse()]
    except SSEError:
        return []


def normalise_base_url(url: str) -> str:
    """Strip whitespace, trailing slashes and one trailing `/v1`."""
    url = url.strip().rstrip("/")
    if url.endswith("/v1"):
        url = url[: -len("/v1")]
    return url


@dataclass
class Usage:
    """Requests and tokens spent on the target during a run."""

    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    largest_limit: int | None = None  # the largest completion limit sent (max_tokens or max_completion_tokens)
    unlimited: int = 0  # JSON requests sent without a numeric completion limit

    def add_request(self, body: Any) -> None:
        """Count the completion limit of a JSON request body."""
        if not isinstance(body, dict):
            return
        limits = [v for k in LIMIT_FIELDS if isinstance(v := body.get(k), int) and not isinstance(v, bool)]
        if not limits:
            self.unlimited += 1
            return
        self.largest_limit = max(limits + ([self.largest_limit] if self.largest_limit is not None else []))

    def add_usage(self, usage: Any) -> None:
        if isinstance(usage, dict):
            for key in ("prompt_tokens", "completion_tokens"):
                value = usage.get(key)
                if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
                    setattr(self, key, getattr(self, key) + value)


class TargetClient:
    """Sends chat-completions requests to one target, within a request budget, with retries."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        *,
        timeout: float = 30.0,
        max_requests: int | None = None,
        max_retry_wait: float = MAX_RETRY_WAIT_S,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        """`transport`: an httpx transport to send through instead of the network (an in-process server)."""
        self.base_url = normalise_base_url(base_url)
        self.public_base_url = strip_credentials(self.base_url)
        self.api_key = api_key or None
        self.redactor = Redactor(self.api_key)
        self.max_requests = max_requests
        self.max_retry_wait = max_retry_wait
        self.usage = Usage()
        self._lock = threading.Lock()
        self._http = httpx.Client(timeout=timeout, follow_redirects=False, transport=transport)

    def close(self) -> None:
        self._http.close()

    @property
    def remaining(self) -> int | None:
        if self.max_requests is None:
            return None
        return max(0, self.max_requests - self.usage.requests)

    def _take_budget(self) -> None:
        with self._lock:
            if self.max_requests is not None and self.usage.requests >= self.max_requests:
                raise BudgetExhausted(f"--max-requests {self.max_requests} reached")
            self.usage.requests += 1

    def chat(
        self,
        body: Any,
        *,
        authorization: Any = DEFAULT_AUTH,
        raw: bool = False,
        retry: bool = True,
    ) -> Exchange:
        """POST `body` (JSON, or a raw string with `raw=True`) to the chat-completions path.

        `authorization`: DEFAULT_AUTH sends the run's key; None sends no header; a string is sent as is.
        """
        headers = {"content-type": "application/json", "accept": "application/json, text/event-stream"}
        if authorization is DEFAULT_AUTH:
            if self.api_key:
                headers["authorization"] = f"Bearer {self.api_key}"
        elif authorization is not None:
            headers["authorization"] = str(authorization)
        content = body.encode() if raw else json.dumps(body).encode()
        url = self.base_url + CHAT_PATH
        exchange = Exchange(
            method="POST",
            url=strip_credentials(url),
            request_headers={k: self.redactor.text(v) for k, v in headers.items()},
            request_body=self.redactor.value(body),
            raw_request=raw,
        )
        waited = 0.0
        reset_retried = False
        started = time.monotonic()
        while True:
            self._take_budget()
            if not raw:
                self.usage.add_request(body)
            exchange.attempts += 1
            try:
                response, text, truncated = self._send(url, content, headers)
            except httpx.TimeoutException:
                exchange.error = f"timeout after {self._http.timeout.read}s"
                break
            except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
                # closed or reset before any answer (some servers close after a 500): retried once
                exchange.error = f"{type(exc).__name__}: {self.redactor.text(str(exc)) or 'connection closed'}"
                if reset_retried or not retry:
                    break
                reset_retried = True
                continue
            except httpx.HTTPError as exc:
                exchange.error = f"{type(exc).__name__}: {self.redactor.text(str(exc)) or 'connection failed'}"
                break
            exchange.error = None
            exchange.status = response.status_code
            exchange.response_headers = {k.lower(): self.redactor.text(v) for k, v in response.headers.items()}
            exchange.text = self.redactor.text(text)
            exchange.truncated = truncated
            exchange.events = parse_events(exchange.text) if "data:" in exchange.text else []
            if not retry or response.status_code not in RETRY_STATUSES or exchange.attempts > MAX_RETRIES:
                break
            wait = _retry_after(response.headers.get("retry-after"), default=1.0 * exchange.attempts)
            if waited + wait > self.max_retry_wait:
                break
            time.sleep(wait)
            waited += wait
        exchange.elapsed_s = time.monotonic() - started
        self._count_tokens(exchange)
        return exchange

    def _send(self, url: str, content: bytes, headers: dict[str, str]) -> tuple[httpx.Response, str, str | None]:
        """POST and read the answer; an event stream is read to at most `MAX_STREAM_EVENTS` events or
        `MAX_STREAM_BYTES` bytes, then closed. Returns the response, its text, and why it was cut (or None)."""
        with self._http.stream("POST", url, content=content, headers=headers) as response:
            if "text/event-stream" not in response.headers.get("content-type", ""):
                response.read()
                return response, response.text, None
            body = bytearray()
            truncated = None
            for piece in response.iter_bytes():
                body += piece
                if len(body) > MAX_STREAM_BYTES or body.count(b"data:") > MAX_STREAM_EVENTS:
                    truncated = f"not finished within {MAX_STREAM_EVENTS} events or {MAX_STREAM_BYTES} bytes"
                    del body[_cut(body) :]
                    break
            return response, body.decode(response.encoding or "utf-8", errors="replace"), truncated

    def _count_tokens(self, exchange: Exchange) -> None:
        if exchange.status != 200:
            return
        if exchange.content_type == "text/event-stream":
            for event in exchange.events:
                try:
                    chunk = json.loads(event.data)
                except ValueError:
                    continue
                if isinstance(chunk, dict):
                    self.usage.add_usage(chunk.get("usage"))
        else:
            body = exchange.json
            if isinstance(body, dict):
                self.usage.add_usage(body.get("usage"))


def _cut(body: bytearray) -> int:
    """Where to cut a stream read past its bound: before its event past `MAX_STREAM_EVENTS`, within the bytes."""
    position = -1
    for _ in range(MAX_STREAM_EVENTS + 1):
        position = body.find(b"data:", position + 1)
        if position < 0:
            break
    end = position if position >= 0 else len(body)
    return min(end, MAX_STREAM_BYTES)


def _retry_after(value: str | None, default: float) -> float:
    """Seconds to wait from a Retry-After header (seconds or an HTTP date)."""
    if not value:
        return default
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return default
    return max(0.0, parsed.timestamp() - time.time())
