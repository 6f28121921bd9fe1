"""The records of a run: what was sent and what came back (`Exchange`), and verdicts (`Result`).

Every report is written from `Result`s; every judgement reads `Exchange`s. Imports nothing of the project
and no HTTP client: the transport fills an exchange in, and the checks only read it.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal, NoReturn, TypeGuard

__all__ = [
    "KEY_PLACEHOLDER",
    "MAX_JSON_DEPTH",
    "RETRY_STATUSES",
    "STILL_OPEN",
    "Attachment",
    "Exchange",
    "FrozenMap",
    "Level",
    "Outcome",
    "Result",
    "SseEvent",
    "load_json",
    "stream_event_bound",
    "visible",
    "visible_json",
]

Level = Literal["MUST", "SHOULD"]
KEY_PLACEHOLDER = "$CONFORMANCE_API_KEY"  # what the API key is replaced with (unless the target names its variable)
# a header holding the key's variable (our own headers only): double-quoted in a curl line, so the shell expands it
_VARIABLE = re.compile(r"^[\w-]+: [\w ]*\$[A-Za-z_][A-Za-z0-9_]*$")
RETRY_STATUSES = frozenset({429, 502, 503, 504})  # retried by the transport; after retries, infrastructure trouble
MAX_JSON_DEPTH = 64  # deeper JSON from a target is not read (a chat completion is about 8 deep)
MAX_INT_DIGITS = 4300  # longer integers are not read (Python's own limit on converting them to text)
_CURL_SKIPPED_HEADERS = {"content-length", "host", "accept-encoding", "connection", "user-agent"}


def _too_deep(value: Any) -> bool:
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            return True
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node)
    return False


def _not_json_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON (RFC 8259 section 6: Infinity and NaN are not permitted as numbers)")


def _integer(text: str) -> int:
    digits = len(text.lstrip("-"))
    if digits > MAX_INT_DIGITS:  # int() would refuse it with advice meant for programmers
        raise ValueError(f"an integer of {digits} digits: beyond what JSON implementations read (RFC 8259 section 6)")
    return int(text)


def load_json(text: str) -> Any:
    """`json.loads`, bounded: a ValueError for JSON nested deeper than MAX_JSON_DEPTH (never a RecursionError),
    for `NaN`, `Infinity` and `-Infinity` (not JSON, RFC 8259), and for integers too long to convert."""
    try:
        value = json.loads(text, parse_constant=_not_json_constant, parse_int=_integer)
    except RecursionError:
        raise ValueError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels") from None
    if isinstance(value, dict | list) and _too_deep(value):
        raise ValueError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
    return value


class Outcome(enum.StrEnum):
    """The verdict of one result; see docs/verdicts.md."""

    PASSED = "passed"
    FAILED = "failed"
    WARNED = "warned"
    UNSUPPORTED = "unsupported"
    SKIPPED = "skipped"
    ERROR = "error"
    XFAILED = "xfailed"  # a known failure (baseline), still failing: does not fail the run
    XPASSED = "xpassed"  # a known failure that now passes: the baseline entry is stale


class FrozenMap(dict[str, Any]):
    """A read-only mapping for the collections of a record (headers, a baseline entry): built once, never
    changed. A `dict` underneath, so that JSON, copies and comparisons work as for any mapping."""

    def _read_only(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise TypeError("a record's mapping is read-only")

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = __ior__ = _read_only

    def __reduce__(self) -> tuple[Any, ...]:
        return (FrozenMap, (dict(self),))

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(tuple(sorted(self.items(), key=lambda item: item[0])))


def _frozen_map(value: Mapping[str, Any] | None) -> FrozenMap:
    return value if isinstance(value, FrozenMap) else FrozenMap(value or {})


@dataclass(frozen=True)
class SseEvent:
    """One server-sent event: its data (and name, if any)."""

    data: str
    event: str = ""


@dataclass(frozen=True)
class Exchange:
    """One request and what came back. `error` is set when no HTTP answer was had. Built once, by the transport,
    when the answer is complete; never changed (`with_repeat` and `excerpt` make new ones).

    `events` holds the body parsed as a server-sent event stream (comments and keep-alives dropped); the
    transport parses it, so that nothing reading an exchange needs an HTTP library.
    """

    method: str
    url: str
    request_headers: Mapping[str, str]
    request_body: Any
    raw_request: bool = False
    status: int | None = None
    response_headers: Mapping[str, str] = dataclasses.field(default_factory=FrozenMap)
    text: str = ""
    events: tuple[SseEvent, ...] = ()
    error: str | None = None
    elapsed_s: float = 0.0
    attempts: int = 0
    repeat: Exchange | None = None  # an identical repeat, sent after a server error (docs/verdicts.md rule 10)
    truncated: str | None = None  # why the answer was not read to its end (a stream past its bound)
    body_problem: str | None = None  # why the body cannot be read as text (invalid UTF-8), from the transport
    # why a retry (the transport's) or the identical repeat of a 5xx (rule 10) it needed was not sent: a budget
    not_repeated: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "request_headers", _frozen_map(self.request_headers))
        object.__setattr__(self, "response_headers", _frozen_map(self.response_headers))
        object.__setattr__(self, "events", tuple(self.events))

    def with_repeat(self, repeat: Exchange) -> Exchange:
        """This exchange with the identical repeat sent after its server error (rule 10)."""
        return dataclasses.replace(self, repeat=repeat)

    def without_repeat(self, why: str) -> Exchange:
        """This exchange, its server error not repeated because a budget did not allow it (rule 10): not confirmed."""
        return dataclasses.replace(self, not_repeated=why)

    @property
    def content_type(self) -> str:
        return self.response_headers.get("content-type", "").split(";")[0].strip().lower()

    @cached_property
    def _parsed(self) -> tuple[bool, Any, str | None]:
        """(whether the body is JSON, its value, why not); parsed once, after the answer is complete."""
        if self.body_problem:
            return False, None, self.body_problem
        try:
            return True, load_json(self.text), None
        except ValueError as exc:
            return False, None, str(exc)[:200]

    @property
    def json(self) -> Any:
        """The body parsed as JSON, or None when it is not JSON."""
        return self._parsed[1]

    @property
    def is_json(self) -> bool:
        return self._parsed[0]

    @property
    def json_problem(self) -> str | None:
        """Why the body is not JSON (the parser's message, invalid UTF-8, nesting too deep), or None."""
        return self._parsed[2]

    def excerpt(self, limit: int = 65536) -> Exchange:
        """A copy that keeps what reports need once every judge has read this exchange: the answer's first
        `limit` characters (a long body is not kept whole for the rest of the run)."""
        if len(self.text) <= limit and (self.repeat is None or len(self.repeat.text) <= limit):
            return self
        cut = self.text[:limit]
        return dataclasses.replace(
            self,
            text=cut,
            events=(),
            repeat=self.repeat.excerpt(limit) if self.repeat is not None else None,
            truncated=self.truncated or (f"kept to its first {limit} characters" if cut != self.text else None),
        )

    def curl(self) -> str:
        """A curl command reproducing the request; the key appears as $CONFORMANCE_API_KEY."""
        parts = ["curl", "-sS", "-X", self.method, shlex.quote(self.url)]
        for name, value in self.request_headers.items():
            if name.lower() in _CURL_SKIPPED_HEADERS:
                continue
            header = f"{name}: {value}"
            # double quotes so that the shell expands $CONFORMANCE_API_KEY
            parts += ["-H", f'"{header}"' if _VARIABLE.search(header) else shlex.quote(header)]
        if self.request_body is not None:
            # JSON escapes every control character and (ASCII-only) every byte a shell line could not carry
            body = self.request_body if self.raw_request else json.dumps(self.request_body)
            parts += ["--data-raw", shlex.quote(str(body))]
        return " ".join(parts)

    def describe(self, limit: int = 400) -> str:
        """One line for a message: status and the start of the body, or the transport error."""
        if self.error:
            return f"no answer ({self.error})"
        body = self.text if len(self.text) <= limit else self.text[:limit] + "..."
        problem = f" ({self.body_problem})" if self.body_problem else ""
        return f"HTTP {self.status} {self.content_type or '(no content-type)'}{problem}: {body}"


@dataclass(frozen=True)
class Attachment:
    """A redacted piece of evidence (request, response, stream) shown in Allure."""

    name: str
    content: str
    mime: str = "application/json"


@dataclass(frozen=True)
class Result:
    """One verdict on one clause and field of the contract. Built complete; each later step of a run (timing,
    redaction, the baseline) makes a new one through the one function that owns that step."""

    id: str
    clause: str
    citation: str
    field: str | None
    level: Level
    outcome: Outcome
    message: str
    reproduce: str | None = None
    attachments: tuple[Attachment, ...] = ()
    duration_s: float = 0.0
    start_ms: int = 0  # when its check started and stopped, in ms since the epoch (Allure's times)
    stop_ms: int = 0
    known: Mapping[str, str] | None = None  # the baseline entry (id glob, reason, issue) it matched, if any
    cause: str | None = None  # the kind of break a failed or warned result shows, for grouping by root cause

    def __post_init__(self) -> None:
        object.__setattr__(self, "attachments", tuple(self.attachments))
        if self.known is not None:
            object.__setattr__(self, "known", _frozen_map(self.known))

    def to_summary(self) -> dict[str, Any]:
        """The `results[]` entry of summary.json."""
        return {
            "id": self.id,
            "clause": self.clause,
            "citation": self.citation,
            "field": self.field,
            "level": self.level,
            "outcome": self.outcome.value,
            "message": self.message,
            "reproduce": self.reproduce if self.outcome not in (Outcome.PASSED, Outcome.XPASSED) else None,
            **({"known": dict(self.known)} if self.known else {}),
            **({"cause": self.cause} if self.cause else {}),
        }


# -- what any output may show ----------------------------------------------------------------------------------

# C0 controls but tab and newline, DEL, C1 controls, lone surrogates, and the two non-characters of the BMP's end:
# what would corrupt a terminal, an XML 1.0 document or a Markdown table
_INVISIBLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


def visible(text: str) -> str:
    """`text` with control characters written visibly (`\\x1b`, `\\ud800`): safe for XML, Markdown, terminals."""
    return _INVISIBLE.sub(lambda m: f"\\x{ord(m[0]):02x}" if ord(m[0]) < 0x100 else f"\\u{ord(m[0]):04x}", text)


def visible_json(text: str) -> str:
    """`visible` for a JSON document: every such character as a JSON escape (`\\u001b`), so it stays JSON."""
    return _INVISIBLE.sub(lambda m: f"\\u{ord(m[0]):04x}", text)


# -- how long a stream may go on ---------------------------------------------------------------------------------

STILL_OPEN = "still open after"  # how `Exchange.truncated` starts when a stream broke the bound of its request


def stream_event_bound(body: Any) -> tuple[int, int, int] | None:
    """(the most data events a stream answering `body` may send, n, its completion limit): 2 x n x (limit + 4) +
    8, room for a chunk per token and choice twice over, the role, finish and usage chunks and `[DONE]`. None when
    the request sets no usable completion limit (the stream's length is then not bounded by the request)."""
    if not isinstance(body, dict):
        return None
    limits = [v for v in (body.get("max_completion_tokens"), body.get("max_tokens")) if _count(v)]
    if not limits:
        return None
    asked = body.get("n", 1)
    n = asked if _count(asked) and asked >= 1 else 1
    limit = max(limits)  # whichever the target honours
    return 2 * n * (limit + 4) + 8, n, limit


def _count(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 1_000_000
