"""Reading completions, chunks and usage out of exchanges: what several judges (and the property layer) share."""

from __future__ import annotations

from typing import Any, TypeGuard

from conformance.checks.base import Inconclusive
from conformance.records import Exchange, load_json

__all__ = [
    "choice_chunks",
    "chunks_of",
    "content_of",
    "first_choice",
    "is_int",
    "tool_calls_of",
    "usage_problem",
]


def is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def first_choice(exchange: Exchange) -> dict[str, Any]:
    """The first choice of a 200 completion; else Inconclusive (rule 7)."""
    body = exchange.json
    choices = body.get("choices") if isinstance(body, dict) else None
    if exchange.status != 200 or not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise Inconclusive(f"no usable completion: {exchange.describe(200)}")
    return choices[0]


def content_of(choice: dict[str, Any]) -> str:
    message = choice.get("message")
    content = message.get("content") if isinstance(message, dict) else None
    return content if isinstance(content, str) else ""


def tool_calls_of(choice: dict[str, Any]) -> list[Any]:
    message = choice.get("message")
    calls = message.get("tool_calls") if isinstance(message, dict) else None
    return calls if isinstance(calls, list) else []


def usage_problem(usage: Any) -> str | None:
    """Why a usage object breaks `total_tokens = prompt_tokens + completion_tokens`, or None."""
    if not isinstance(usage, dict):
        return f"usage is {usage!r}, not an object"
    values = [usage.get(k) for k in ("prompt_tokens", "completion_tokens", "total_tokens")]
    counts = [v for v in values if is_int(v) and v >= 0]
    if len(counts) != len(values):
        return f"usage counts are not non-negative integers: {values}"
    prompt, completion, total = counts
    if total != prompt + completion:
        return f"total_tokens {total} != prompt_tokens {prompt} + completion_tokens {completion}"
    return None


def chunks_of(exchange: Exchange) -> tuple[list[str], list[dict[str, Any]], list[str]]:
    """(the data of every event, the JSON-object chunks among them, the data that are not) of a stream."""
    data = [event.data for event in exchange.events]
    chunks: list[dict[str, Any]] = []
    bad: list[str] = []
    for item in data:
        if item == "[DONE]":
            continue
        try:
            chunk = load_json(item)
        except ValueError:
            bad.append(item)
            continue
        if isinstance(chunk, dict):
            chunks.append(chunk)
        else:
            bad.append(item)
    return data, chunks, bad


def choice_chunks(chunks: list[dict[str, Any]]) -> dict[Any, list[dict[str, Any]]]:
    """Each choice index -> its chunk choices, in order."""
    out: dict[Any, list[dict[str, Any]]] = {}
    for chunk in chunks:
        for choice in chunk.get("choices") or []:
            if isinstance(choice, dict):
                out.setdefault(choice.get("index"), []).append(choice)
    return out
