"""The HTTP client of a run: one place that sends, retries, counts and redacts."""

from __future__ import annotations

import dataclasses
import email.utils
import json
import math
import re
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
from httpx_sse import EventSource, SSEError

from conformance.records import RETRY_STATUSES, STILL_OPEN, Exchange, SseEvent, load_json, stream_event_bound
from conformance.transport import deadline
from conformance.transport.pacing import Pacing, TokenBucket
from conformance.transport.redact import Redactor, strip_credentials

__all__ = [
    "DEFAULT_AUTH",
    "EXTRA_BUDGET",
    "RETRY_BUDGET",
    "RETRY_STATUSES",
    "BudgetExhausted",
    "TargetClient",
    "Usage",
    "checked_key",
    "normalise_base_url",
    "parse_events",
]

CHAT_PATH = "/v1/chat/completions"
MAX_RETRIES = 2
# retries (a 429, 502, 503 or 504; a connection reset) and rule 10's identical repeats of a 5xx a run sends at most,
# beyond its planned requests: what a plan's ceiling can state. Past it, a request is not retried (an `error`, as
# after the last retry) and a 5xx is not repeated (not confirmed: `warned`, docs/verdicts.md rule 10)
RETRY_BUDGET = 24
# the property layer's attribution (at most its own 120 a run) and the retries and repeats above share this many
# requests a run: a clean run uses none of them, and a run needing both at once is rare; the plan states the sum
EXTRA_BUDGET = 128
LIMIT_FIELDS = ("max_tokens", "max_completion_tokens")
MAX_STREAM_EVENTS = 256  # a stream answering a request without a completion limit is read to this many events
MAX_STREAM_BYTES = 256 * 1024  # and at least this many bytes (see `stream_bytes`)
MAX_RESPONSE_BYTES = 16 * 1024 * 1024  # after decompression; `--max-response-bytes`
MAX_RETRY_WAIT_S = 20.0  # total wait a single request may spend honouring Retry-After
KEY_WHITESPACE = " \t\r\n\f\v"  # stripped from around a key
MAX_COUNTED = 2**53  # token counts past this (JSON's exact integers) are not added to the run's totals
DEFAULT_AUTH = object()  # sentinel: send `Authorization: Bearer <api key>` when a key is set
KEPT_429 = 8  # the last 429 answers met are kept, for `ratelimit.envelope`
KEPT_RATELIMIT = 256  # the last answers carrying `x-ratelimit-*` headers are kept (excerpts), for `ratelimit.headers`
RATELIMIT_PREFIX = "x-ratelimit-"


class BudgetExhausted(Exception):
    """`--max-requests` is reached; the check that wanted to send is skipped."""


class ResponseTooLarge(Exception):
    """An answer over `--max-response-bytes` after decompression: no verdict is reached from it (error)."""


class DeadlinePassed(Exception):
    """An answer not complete within the whole-response deadline: no verdict is reached from it (error)."""


class _Decoder:
    """Content-Encoding decoded as it streams, never producing more than asked for at once."""

    def __init__(self, encoding: str) -> None:
        encoding = encoding.strip().lower()
        if encoding in ("", "identity"):
            self._zlib = None
        elif encoding in ("gzip", "x-gzip"):
            self._zlib = zlib.decompressobj(zlib.MAX_WBITS | 16)
        elif encoding == "deflate":
            self._zlib = zlib.decompressobj()
        else:
            raise httpx.DecodingError(f"unsupported Content-Encoding {encoding!r} (gzip and deflate were offered)")

    def decode(self, data: bytes, room: int, final: bool = False) -> bytes:
        """Up to `room` bytes of output from `data` (more input left unconsumed means the cap is passed)."""
        if self._zlib is None:
            return data
        try:
            out = self._zlib.decompress(self._zlib.unconsumed_tail + data, max(room, 1))
            if final and len(out) < room:
                out += self._zlib.flush(max(room - len(out), 1))
        except zlib.error as exc:
            raise httpx.DecodingError(f"the answer could not be decompressed: {exc}") from None
        if self._zlib.unconsumed_tail and len(out) >= room:
            return out + b"\0"  # one more byte: past the cap
        return out


def parse_events(text: str) -> list[SseEvent]:
    """A body parsed as a server-sent event stream (comments and keep-alives dropped; [] if it is not one)."""
    response = httpx.Response(200, headers={"content-type": "text/event-stream"}, content=text.encode())
    try:
        return [SseEvent(data=e.data, event=e.event) for e in EventSource(response).iter_sse()]
    except SSEError:
        return []


def checked_key(key: str | None) -> str | None:
    """The key as sent: surrounding whitespace stripped (a secret saved with its newline); a ValueError, which never
    shows the key, for any other character a header cannot carry as it is (a control or non-ASCII character)."""
    key = (key or "").strip(KEY_WHITESPACE)
    bad = next((i for i, c in enumerate(key) if not " " <= c <= "~"), None)
    if bad is not None:
        kind = "a control" if ord(key[bad]) < 0x20 or 0x7F <= ord(key[bad]) <= 0x9F else "a non-ASCII"
        raise ValueError(f"the API key has {kind} character at position {bad + 1} of {len(key)} (not shown)")
    return key or None


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

    def add_request(self, body: Any) -> None:
        """Count the completion limit of a JSON request body."""
        if not isinstance(body, dict):
            return
        limits = [v for k in LIMIT_FIELDS if isinstance(v := body.get(k), int) and not isinstance(v, bool)]
        if not limits:
            return
        self.largest_limit = max(limits + ([self.largest_limit] if self.largest_limit is not None else []))

    def add_usage(self, usage: Any) -> None:
        if isinstance(usage, dict):
            for key in ("prompt_tokens", "completion_tokens"):
                value = usage.get(key)
                if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_COUNTED:
                    setattr(self, key, getattr(self, key) + value)  # a count past any real one is not added


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
        max_response_bytes: int = MAX_RESPONSE_BYTES,
        chat_path: str = CHAT_PATH,
        query: dict[str, str] | None = None,
        auth_header: str = "authorization",
        auth_prefix: str = "Bearer ",
        transport: httpx.BaseTransport | None = None,
        key_variable: str = "CONFORMANCE_API_KEY",
        rate: float | None = None,
        concurrency: int = 1,
        sleep: Callable[[float], None] = time.sleep,
        retry_budget: int | None = None,
        extra_budget: int | None = None,
    ) -> None:
        """`timeout`: the whole-response deadline of one request (name lookup, connect, TLS, interim responses,
        headers, body or stream): every socket operation gets the time left (`deadline`). `api_key`: surrounding
        whitespace stripped; a ValueError, not showing it, for a control or non-ASCII character.
        `max_response_bytes`: the largest answer read, after decompression.
        `chat_path`, `query`: where chat completions are (Azure: `/openai/deployments/NAME/chat/completions` with
        `api-version`). `auth_header`, `auth_prefix`: how the key is sent (default `Authorization: Bearer KEY`).
        `transport`: an httpx transport to send through instead of the network (an in-process server).
        `key_variable`: the environment variable the key is in: what curl lines and redacted text name.
        `rate`: at most this many requests per second (a token bucket every thread shares); None: unpaced.
        `concurrency`: the requests `slot()` lets be in flight at once at first; a 429 halves it, successes raise
        it again (`Pacing`). `sleep`: how the client waits (Retry-After, the rate), injected by tests.
        `retry_budget`: retries and identical repeats of a 5xx sent at most over the client's life (`take_retry`);
        None: no such bound (each request still retries at most `MAX_RETRIES` times). `extra_budget`: those and the
        attribution's requests (`take_extra`) together, at most."""
        self.base_url = normalise_base_url(base_url)
        self.public_base_url = strip_credentials(self.base_url)
        self.api_key = checked_key(api_key)
        self.redactor = Redactor(self.api_key, f"${key_variable}")
        self.max_requests = max_requests
        self.max_retry_wait = max_retry_wait
        self.timeout = timeout
        self.max_response_bytes = max_response_bytes
        self.chat_path = "/" + chat_path.lstrip("/")
        self.query = dict(query or {})
        self.auth_header = auth_header.lower()
        self.auth_prefix = auth_prefix
        self.usage = Usage()
        self.budget_hit = False  # a request was not sent because `max_requests` was reached
        self._lock = threading.Lock()
        self._reserved = 0  # requests of the budget taken by `reserve` and not sent yet
        self._sleep = sleep
        self.bucket = TokenBucket(rate, sleep=sleep) if rate is not None else None
        self.pacing = Pacing(concurrency)
        # what the run met, for the checks judged on it (`ratelimit.*`); redacted on the way out, like any exchange
        self.met_429: deque[Exchange] = deque(maxlen=KEPT_429)
        self.ratelimited_answers: deque[Exchange] = deque(maxlen=KEPT_RATELIMIT)
        self.retry_budget = retry_budget
        self.retries = 0  # retries and repeats sent (`take_retry`)
        self.retries_held = 0  # retries and repeats wanted once the budget was spent
        self.extra_budget = extra_budget
        self.extra = 0  # retries, repeats and attribution requests sent (`take_retry`, `take_extra`)
        self._http = deadline.bound(httpx.Client(timeout=timeout, follow_redirects=False, transport=transport))

    def close(self) -> None:
        self._http.close()

    def slot(self) -> AbstractContextManager[None]:
        """`with client.slot(): client.chat(...)`: blocks while the requests in flight are at the allowance (the
        run's concurrency at first, lowered by 429s, raised again by successes)."""
        return self.pacing.slot()

    def allowed_in_flight(self) -> int:
        return self.pacing.allowed_in_flight()

    def observed(self, kind: str) -> tuple[Exchange, ...]:
        """What the run met so far, of `kind`: `429` (the last answers with that status, retried or not) or
        `ratelimit-headers` (the last answers carrying `x-ratelimit-*` headers)."""
        with self._lock:
            if kind == "429":
                return tuple(self.met_429)
            if kind == "ratelimit-headers":
                return tuple(self.ratelimited_answers)
        raise ValueError(f"nothing observed of kind {kind!r}")

    @property
    def remaining(self) -> int | None:
        if self.max_requests is None:
            return None
        return max(0, self.max_requests - self.usage.requests - self._reserved)

    def reserve(self) -> bool:
        """Take a request of the budget now for a request sent later (`chat(..., reserved=True)`): requests sent
        ahead by several threads are cut by `--max-requests` in the order they were reserved. False: none left."""
        with self._lock:
            if self.max_requests is not None and self.usage.requests + self._reserved >= self.max_requests:
                self.budget_hit = True
                return False
            self._reserved += 1
            return True

    @property
    def retries_left(self) -> int | None:
        """Retries and identical repeats `take_retry` may still give (None: no bound)."""
        left = [
            budget - spent
            for budget, spent in ((self.retry_budget, self.retries), (self.extra_budget, self.extra))
            if budget is not None
        ]
        return max(0, min(left)) if left else None

    def take_retry(self) -> bool:
        """Take one retry (or identical repeat of a 5xx) of the run's `retry_budget`; False when it is spent."""
        with self._lock:
            spent = self.extra_budget is not None and self.extra >= self.extra_budget
            if spent or (self.retry_budget is not None and self.retries >= self.retry_budget):
                self.retries_held += 1
                return False
            self.retries += 1
            self.extra += 1
            return True

    def take_extra(self) -> bool:
        """Take one request of the run's `extra_budget` for the property layer's attribution; False when spent."""
        with self._lock:
            if self.extra_budget is not None and self.extra >= self.extra_budget:
                return False
            self.extra += 1
            return True

    @property
    def retry_spent(self) -> str:
        """Why a retry or repeat was not sent, as a message says it."""
        if self.extra_budget is not None and self.extra >= self.extra_budget:
            return f"the run's budget of {self.extra_budget} retries, repeats and attribution requests is spent"
        return f"the run's budget of {self.retry_budget} retries and repeats is spent"

    def release(self) -> None:
        """Give back a request `reserve` took and that was not sent."""
        with self._lock:
            self._reserved = max(0, self._reserved - 1)

    def _take_budget(self, reserved: bool = False) -> None:
        with self._lock:
            if reserved:
                self._reserved -= 1
            elif self.max_requests is not None and self.usage.requests + self._reserved >= self.max_requests:
                self.budget_hit = True
                raise BudgetExhausted(f"--max-requests {self.max_requests} reached")
            self.usage.requests += 1
        if self.bucket is not None:
            self.bucket.take()

    def chat(
        self,
        body: Any,
        *,
        authorization: Any = DEFAULT_AUTH,
        raw: bool = False,
        retry: bool = True,
        reserved: bool = False,
    ) -> Exchange:
        """POST `body` (JSON, or a raw string with `raw=True`) to the chat-completions path. `reserved`: its first
        request of the budget was taken by `reserve` (retries take their own).

        `authorization`: DEFAULT_AUTH sends the run's key; None sends no header; a string is sent as is, in the
        target's auth header (a `Bearer ` prefix becomes the target's own prefix).
        """
        headers = {"content-type": "application/json", **self._headers("application/json, text/event-stream")}
        if authorization is not DEFAULT_AUTH:  # another header than the run's key, or none
            headers.pop(self.auth_header, None)
            if authorization is not None:
                value = str(authorization)
                if value.startswith("Bearer ") and self.auth_prefix != "Bearer ":
                    value = self.auth_prefix + value.removeprefix("Bearer ")
                headers[self.auth_header] = value
        content = body.encode() if raw else json.dumps(body).encode()
        url = self.base_url + self.chat_path
        bound = None if raw else stream_event_bound(body)
        # what the last attempt got; the exchange is built once, from these, when no attempt follows
        attempts = 0
        error: str | None = None
        status: int | None = None
        response_headers: dict[str, str] = {}
        text = ""
        truncated: str | None = None
        body_problem: str | None = None
        waited = 0.0
        reset_retried = False
        held: str | None = None  # a retry the run's budget did not allow
        started = time.monotonic()
        while True:
            self._take_budget(reserved and attempts == 0)
            if not raw:
                with self._lock:
                    self.usage.add_request(body)
            attempts += 1
            error = status = truncated = body_problem = None
            response_headers, text = {}, ""
            try:
                response, received, truncated = self._send(url, content, headers, bound=bound)
            except httpx.ConnectTimeout:
                error = f"no connection within {self.timeout:g}s (timeout)"
                break
            except httpx.TimeoutException:
                error = f"answer not complete within {self.timeout:g}s (timeout)"
                break
            except (ResponseTooLarge, DeadlinePassed) as exc:
                error = str(exc)
                break
            except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
                # closed or reset before any answer (some servers close after a 500): retried once
                error = f"{type(exc).__name__}: {str(exc) or 'connection closed'}"
                if reset_retried or not retry:
                    break
                if not self.take_retry():
                    held = f"not retried: {self.retry_spent}"
                    break
                reset_retried = True
                continue
            except (httpx.HTTPError, httpx.InvalidURL, ValueError, OverflowError, OSError) as exc:
                # an answer httpx cannot take (a header it refuses), or a failed connection
                error = f"{type(exc).__name__}: {str(exc) or 'connection failed'}"
                break
            status = response.status_code
            response_headers = {k.lower(): v for k, v in response.headers.items()}
            try:
                text = received.decode("utf-8")  # judged as received; redacted only on the way out
            except UnicodeDecodeError as exc:  # JSON is UTF-8: a body that is not cannot be JSON
                text = received.decode("utf-8", errors="replace")
                if not truncated:  # a stream cut at its bound may end inside a character
                    body_problem = f"invalid UTF-8 at byte {exc.start}"
            if status == 429 or any(name.startswith(RATELIMIT_PREFIX) for name in response_headers):
                met = self._build(body, raw, url, headers, started, attempts, status, response_headers, text)
                self._observe(dataclasses.replace(met, truncated=truncated, body_problem=body_problem))
            if status not in RETRY_STATUSES:
                self.pacing.succeeded()
            if not retry or status not in RETRY_STATUSES or attempts > MAX_RETRIES:
                break
            wait = _retry_after(response.headers.get("retry-after"), default=1.0 * attempts)
            if waited + wait > self.max_retry_wait:
                break
            if not self.take_retry():
                held = f"not retried: {self.retry_spent}"
                break
            self._sleep(wait)
            waited += wait
        exchange = self._build(body, raw, url, headers, started, attempts, status, response_headers, text)
        exchange = dataclasses.replace(
            exchange, error=error, truncated=truncated, body_problem=body_problem, not_repeated=held
        )
        self._count_tokens(exchange)
        return exchange

    def _build(
        self,
        body: Any,
        raw: bool,
        url: str,
        headers: dict[str, str],
        started: float,
        attempts: int,
        status: int | None,
        response_headers: dict[str, str],
        text: str,
    ) -> Exchange:
        """The exchange of an attempt, as received (redaction happens on the way out)."""
        return Exchange(
            method="POST",
            url=self.redactor.text(strip_credentials(url) + (f"?{urlencode(self.query)}" if self.query else "")),
            request_headers={k: self.redactor.text(v) for k, v in headers.items()},  # for curl lines
            request_body=body,  # kept as sent: redaction happens on the way out (Redactor.result)
            raw_request=raw,
            status=status,
            response_headers=response_headers,
            text=text,
            events=tuple(parse_events(text)) if "data:" in text else (),
            elapsed_s=time.monotonic() - started,
            attempts=attempts,
        )

    def _observe(self, exchange: Exchange) -> None:
        """Keep what the `ratelimit.*` checks judge, and pace the run: a 429 lowers the in-flight allowance."""
        with self._lock:
            if exchange.status == 429:
                self.met_429.append(exchange.excerpt(4096))
            if any(name.startswith(RATELIMIT_PREFIX) for name in exchange.response_headers):
                self.ratelimited_answers.append(exchange.excerpt(1024))
        if exchange.status == 429:
            self.pacing.limited()

    def _headers(self, accept: str) -> dict[str, str]:
        """What every request sends: what it accepts, the encodings `_Decoder` reads (bounded), the run's key."""
        headers = {"accept": accept, "accept-encoding": "gzip, deflate"}
        if self.api_key:
            headers[self.auth_header] = f"{self.auth_prefix}{self.api_key}"
        return headers

    def models(self) -> list[str] | None:
        """The model ids `GET /v1/models` lists (one counted request, same deadline and caps), or None."""
        try:
            self._take_budget()
            response, received, _ = self._send(
                self.base_url + "/v1/models", b"", self._headers("application/json"), method="GET"
            )
            data = load_json(received.decode("utf-8"))
        except (BudgetExhausted, ResponseTooLarge, DeadlinePassed, httpx.HTTPError, ValueError):
            return None
        items = data.get("data") if isinstance(data, dict) and response.status_code == 200 else None
        if not isinstance(items, list):
            return None
        return [str(item["id"]) for item in items if isinstance(item, dict) and isinstance(item.get("id"), str)]

    def _send(
        self,
        url: str,
        content: bytes,
        headers: dict[str, str],
        method: str = "POST",
        bound: tuple[int, int, int] | None = None,
    ) -> tuple[httpx.Response, bytearray, str | None]:
        """Send and read the answer within the whole-response deadline (connect, interim responses, headers, body:
        every socket operation gets the time left) and the size cap, decompressing as it streams (so a small
        compressed body cannot inflate past the cap in memory). An event stream is read to at most its request's
        `bound` of data events (`stream_event_bound`) or `stream_bytes` bytes, then closed. Returns the response,
        its body, and why it was cut (or None)."""
        params = self.query or None
        with (
            deadline.within(self.timeout) as ends,
            self._http.stream(method, url, content=content or None, headers=headers, params=params) as response,
        ):
            decoder = _Decoder(response.headers.get("content-encoding", ""))
            is_stream = "text/event-stream" in response.headers.get("content-type", "")
            events_bound = bound[0] if bound else MAX_STREAM_EVENTS
            bytes_bound = stream_bytes(bound)
            body = bytearray()
            events = _EventCounter()
            truncated = None

            def take(piece: bytes, final: bool = False) -> None:
                body.extend(decoder.decode(piece, self.max_response_bytes + 1 - len(body), final))
                if len(body) > self.max_response_bytes:
                    raise ResponseTooLarge(f"answer larger than {self.max_response_bytes} bytes (after decompression)")

            # a response built in memory (a mock transport) arrives already read
            pieces = [response.content] if response.is_stream_consumed else response.iter_raw()
            for piece in pieces:
                take(piece)
                if time.monotonic() > ends:
                    raise DeadlinePassed(f"answer not complete within {self.timeout:g}s")
                if not is_stream:
                    continue
                count = events.count(body)
                if count > events_bound or len(body) > bytes_bound:
                    truncated = _overrun(count, len(body), events_bound, bytes_bound, bound)
                    del body[_cut(body, events_bound, bytes_bound) :]
                    break
            else:
                take(b"", final=True)
            return response, body, truncated  # no copy: answers may be large

    def _count_tokens(self, exchange: Exchange) -> None:
        if exchange.status != 200:
            return
        with self._lock:
            self._add_usage(exchange)

    def _add_usage(self, exchange: Exchange) -> None:
        if exchange.content_type == "text/event-stream":
            for event in exchange.events:
                try:
                    chunk = load_json(event.data)
                except ValueError:
                    continue
                if isinstance(chunk, dict):
                    self.usage.add_usage(chunk.get("usage"))
        else:
            body = exchange.json
            if isinstance(body, dict):
                self.usage.add_usage(body.get("usage"))


class _EventCounter:
    """Counts the lines starting with `data:` of a growing body, reading each byte about once."""

    def __init__(self) -> None:
        self._scanned = 0
        self._count = 0

    def count(self, body: bytearray) -> int:
        scanned = self._scanned
        for match in _DATA_LINE.finditer(body, max(scanned - 4, 0)):  # a `data:` may straddle two pieces
            if match.end() > scanned:
                self._count += 1
        self._scanned = len(body)
        return self._count


_DATA_LINE = re.compile(rb"(?:^|(?<=[\r\n]))data:")


def stream_bytes(bound: tuple[int, int, int] | None) -> int:
    """The most bytes a stream answering a request with this event bound may send: 4 KiB an event (a chunk with
    20 top logprobs is about 3 KiB), at least MAX_STREAM_BYTES."""
    return max(MAX_STREAM_BYTES, 4096 * bound[0]) if bound else MAX_STREAM_BYTES


def _overrun(count: int, size: int, events_bound: int, bytes_bound: int, bound: tuple[int, int, int] | None) -> str:
    """Why a stream was cut: `STILL_OPEN ...` when it broke its request's bound (a failure of the target's), or
    the read bound of a request that sets no completion limit."""
    if bound is None:
        return f"not finished within {events_bound} events or {bytes_bound} bytes (the request sets no limit)"
    _, n, limit = bound
    if count > events_bound:
        return (
            f"{STILL_OPEN} {count} data events, more than 2 x n x (limit + 4) + 8 = {events_bound} for n {n} and "
            f"completion limit {limit}"
        )
    return (
        f"{STILL_OPEN} {size} bytes without an end, more than the {bytes_bound} bytes read for n {n} and completion "
        f"limit {limit}"
    )


def _cut(body: bytearray, events_bound: int, bytes_bound: int) -> int:
    """Where to cut a stream read past its bound: before its data event past `events_bound`, within the bytes."""
    end = len(body)
    for i, match in enumerate(_DATA_LINE.finditer(body)):
        if i == events_bound:
            end = match.start()
            break
    return min(end, bytes_bound)


def _retry_after(value: str | None, default: float) -> float:
    """Seconds to wait from a Retry-After header (seconds or an HTTP date); `default` for anything else (a date
    the calendar cannot hold, a number that is not finite)."""
    if not value:
        return default
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = email.utils.parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError, OverflowError, OSError, IndexError):
            return default
    return max(0.0, seconds) if math.isfinite(seconds) else default
