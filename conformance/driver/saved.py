"""The exchanges a run's hand-written checks judged, saved beside its reports (`exchanges.json.gz`), so that
`conformance rejudge` can judge them again with the current checks and contract, sending nothing.

The file is gzip, two members: a header line (the format, the tool's version, the contract's hash, the run's facts
and selection, what was dropped), then one line per exchange (`{"key": recipe key, "exchange": {...}}`), in the
order the run received them. It leaves the process like every other output: each text of an exchange (bodies,
headers, nested repeats) is redacted with the run's `Redactor`, and an exchange whose line still shows the key in
any form is dropped. JSON is written ASCII-only, so control characters are escaped and come back exact. Each body
is the answer as read, whole: an exchange whose answer is longer than `--max-response-bytes` or `MAX_SAVED_BODY`
(a hostile target's; a real answer is a few KiB) is dropped rather than cut (a cut answer would not judge the same),
and the lines together are capped (`MAX_SAVED_BYTES`): what does not fit is dropped. What was dropped, and why,
is listed in the header, and `conformance rejudge` says which results it could not judge again.
Events are not saved: they are parsed again from the text, as the transport parsed them.
"""

from __future__ import annotations

import gzip
import json
import threading
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conformance.checks import Facts
from conformance.checks.base import STATUS_LIMIT
from conformance.contract import Contract
from conformance.records import Exchange
from conformance.transport import Redactor, parse_events

__all__ = [
    "FORMAT",
    "MAX_SAVED_BODY",
    "MAX_SAVED_BYTES",
    "SAVED",
    "Recorder",
    "Saved",
    "SavedError",
    "facts_from",
    "facts_json",
    "load",
]

SAVED = "exchanges.json.gz"
FORMAT = "conformance-exchanges/1"
MAX_SAVED_BYTES = 16 * 1024 * 1024  # of JSON lines, before compression
MAX_SAVED_BODY = 1024 * 1024  # characters of one answer (redacting a text costs about 0.4 s and 80 MB per MiB)


def _redacted(value: Any, redactor: Redactor) -> Any:
    if isinstance(value, str):
        return redactor.text(value)
    if isinstance(value, dict):
        return {redactor.text(str(k)): _redacted(v, redactor) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redacted(v, redactor) for v in value]
    return value


def _size(exchange: Exchange) -> int:
    """About how many characters an exchange's JSON line takes (its answers, its request body)."""
    body = exchange.request_body if isinstance(exchange.request_body, str) else json.dumps(exchange.request_body)
    repeat = _size(exchange.repeat) if exchange.repeat is not None else 0
    return len(exchange.text) + len(body) + repeat + 1024


def _largest(exchange: Exchange) -> int:
    return max(len(exchange.text), _largest(exchange.repeat) if exchange.repeat is not None else 0)


def encode(exchange: Exchange, redactor: Redactor) -> dict[str, Any]:
    """An exchange as JSON, every text (and key of a body) redacted."""
    text, truncated = exchange.text, exchange.truncated
    out: dict[str, Any] = {
        "method": exchange.method,
        "url": exchange.url,
        "request_headers": dict(exchange.request_headers),
        "request_body": exchange.request_body,
        "raw_request": exchange.raw_request,
        "status": exchange.status,
        "response_headers": dict(exchange.response_headers),
        "text": text,
        "error": exchange.error,
        "elapsed_s": exchange.elapsed_s,
        "attempts": exchange.attempts,
        "truncated": truncated,
        "body_problem": exchange.body_problem,
        "not_repeated": exchange.not_repeated,
        "events": "data:" in exchange.text,  # parsed again from the text on loading
        "repeat": encode(exchange.repeat, redactor) if exchange.repeat is not None else None,
    }
    redacted: dict[str, Any] = _redacted(out, redactor)
    return redacted


def decode(data: dict[str, Any]) -> Exchange:
    """An exchange as `encode` wrote it."""
    text = str(data.get("text") or "")
    repeat = data.get("repeat")
    return Exchange(
        method=str(data["method"]),
        url=str(data["url"]),
        request_headers=data.get("request_headers") or {},
        request_body=data.get("request_body"),
        raw_request=bool(data.get("raw_request")),
        status=data.get("status"),
        response_headers=data.get("response_headers") or {},
        text=text,
        events=tuple(parse_events(text)) if data.get("events") else (),
        error=data.get("error"),
        elapsed_s=float(data.get("elapsed_s") or 0.0),
        attempts=int(data.get("attempts") or 0),
        repeat=decode(repeat) if isinstance(repeat, dict) else None,
        truncated=data.get("truncated"),
        body_problem=data.get("body_problem"),
        not_repeated=data.get("not_repeated"),
    )


def facts_json(facts: Facts) -> dict[str, Any]:
    """What judging needs of a run's facts (the contract and the SDK clients are the rejudging run's own)."""
    return {
        "model": facts.model,
        "seed": facts.seed,
        "declared": sorted(facts.declared),
        "api_key_given": facts.api_key_given,
        "limit_honoured": facts.limit_honoured,
        "limit_field": facts.limit_field,
        "ignored_limits": sorted(facts.ignored_limits),
        "bearer_auth": facts.bearer_auth,
        "status_limit": facts.status_limit,
    }


def facts_from(contract: Contract, data: dict[str, Any], clients: Any) -> Facts:
    """The run's facts as `facts_json` wrote them, with `contract` and the `clients` given."""
    return Facts(
        contract,
        str(data["model"]),
        int(data["seed"]),
        frozenset(data.get("declared") or ()),
        api_key_given=bool(data.get("api_key_given", True)),
        limit_honoured=bool(data.get("limit_honoured", True)),
        limit_field=str(data.get("limit_field") or "max_completion_tokens"),
        ignored_limits=frozenset(data.get("ignored_limits") or ()),
        clients=clients,
        status_limit=int(data.get("status_limit") or STATUS_LIMIT),
        bearer_auth=bool(data.get("bearer_auth", True)),
    )


@dataclass
class Recorder:
    """Collects a run's exchanges by recipe key, redacted and compressed as they come (thread-safe)."""

    redactor: Redactor
    max_body: int  # `--max-response-bytes`: no answer longer than this (or `MAX_SAVED_BODY`) is saved
    max_bytes: int = MAX_SAVED_BYTES
    keys: list[str] = field(default_factory=list)
    dropped: dict[str, str] = field(default_factory=dict)  # key: why it was not saved
    size: int = 0
    _seen: set[str] = field(default_factory=set)
    _chunks: list[bytes] = field(default_factory=list)
    _zip: Any = field(default_factory=lambda: zlib.compressobj(6, zlib.DEFLATED, 31))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, key: str, exchange: Exchange) -> None:
        """Save `exchange` under `key` (the first one under a key; a later one is the same recipe's)."""
        with self._lock:
            if key in self._seen:
                return
            self._seen.add(key)
            if _largest(exchange) > min(self.max_body, MAX_SAVED_BODY):  # checked before any costly work
                self.dropped[key] = f"its answer is longer than {min(self.max_body, MAX_SAVED_BODY)} characters"
                return
            if self.size + _size(exchange) > self.max_bytes:
                self.dropped[key] = f"the saved exchanges reached their cap of {self.max_bytes} bytes"
                return
            entry = {"key": key, "exchange": encode(exchange, self.redactor)}
            line = json.dumps(entry, ensure_ascii=True, separators=(",", ":")) + "\n"
            if self.redactor.text(line) != line:  # a form of the key the redaction of each text did not reach
                self.dropped[key] = "it could not be redacted safely"
                return
            if self.size + len(line) > self.max_bytes:
                self.dropped[key] = f"the saved exchanges reached their cap of {self.max_bytes} bytes"
                return
            self.size += len(line)
            self.keys.append(key)
            self._chunks.append(self._zip.compress(line.encode("ascii")))

    def payload(self, header: dict[str, Any]) -> bytes:
        """The file: the header (with what was dropped) and the exchanges so far, each a gzip member."""
        with self._lock:
            head = {**header, "format": FORMAT, "saved": len(self.keys), "dropped": dict(self.dropped)}
            line = json.dumps(_redacted(head, self.redactor), ensure_ascii=True) + "\n"
            ended: bytes = self._zip.copy().flush()  # a copy: the recorder may go on
            return gzip.compress(line.encode("ascii")) + b"".join(self._chunks) + ended


@dataclass(frozen=True)
class Saved:
    """A run's saved exchanges: the header, and each exchange by recipe key."""

    header: dict[str, Any]
    exchanges: dict[str, Exchange]


class SavedError(Exception):
    """The file is missing, not this format, or broken."""


def load(path: Path) -> Saved:
    """The exchanges saved at `path`; SavedError when they cannot be read."""
    try:
        with gzip.open(path, "rt", encoding="ascii") as lines:
            header = json.loads(next(lines))
            if not isinstance(header, dict) or header.get("format") != FORMAT:
                raise SavedError(f"{path}: not a file of saved exchanges ({FORMAT})")
            exchanges = {}
            for line in lines:
                entry = json.loads(line)
                exchanges[str(entry["key"])] = decode(entry["exchange"])
    except (OSError, EOFError, StopIteration, ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise SavedError(f"{path}: cannot be read: {type(exc).__name__}: {exc}") from None
    return Saved(header, exchanges)
