"""Hook helpers shared by the fault areas: errors the server answers, and small hook makers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from conformance.contract import Contract
from conformance.reference.faults.model import ApiError, Body, Event

__all__ = [
    "always",
    "chunks",
    "crash",
    "crash_when",
    "drop",
    "each_choice",
    "is_number",
    "message_crash",
    "no_usage",
    "refuse",
    "set_key",
    "usage_chunk",
    "violation",
]


def crash(message: str = "inference backend error") -> ApiError:
    return ApiError(500, "INTERNAL_ERROR", message)


def refuse(param: str, message: str) -> ApiError:
    return ApiError(400, "BAD_REQUEST", message, param)


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


# -- request --------------------------------------------------------------------------------------------------


def always(error: ApiError) -> Callable[[Body, Contract], None]:
    """An `after` hook: every request gets `error`."""

    def hook(body: Body, contract: Contract) -> None:
        raise error

    return hook


def crash_when(condition: Callable[[Body], bool], message: str) -> Callable[[Body], None]:
    """A `before` hook: a 500 for a body meeting `condition`."""

    def hook(body: Body) -> None:
        if condition(body):
            raise crash(message)

    return hook


def message_crash(role: str | None, message: str) -> Callable[[Body], None]:
    """A `before` hook: a 500 when a message has `role` (or, with None, when a content is an array of parts)."""

    def hook(body: Body) -> None:
        messages = body.get("messages")
        for m in messages if isinstance(messages, list) else []:
            if isinstance(m, dict) and (m.get("role") == role if role else isinstance(m.get("content"), list)):
                raise crash(message)

    return hook


def violation(field_name: str, validators: tuple[str, ...], *, crashes: bool) -> Callable[[str, str, Any, Body], bool]:
    """A `tolerate` hook: a schema violation of `field_name` (by `validators`; empty: any) is let through, or
    answers 500 (`crashes`)."""

    def hook(name: str, validator: str, instance: Any, schema: Body) -> bool:
        if name != field_name or (validators and validator not in validators):
            return False
        if crashes:
            raise crash()
        return True

    return hook


# -- generation and response ----------------------------------------------------------------------------------


def drop(name: str) -> Callable[[Body], None]:
    """An `asked` hook: the request field `name` is ignored."""

    def hook(asked: Body) -> None:
        asked.pop(name, None)

    return hook


def set_key(key: str, make: Callable[[Any], Any]) -> Callable[[Body, Body], None]:
    """A `payload` hook: the completion's `key` becomes `make(its value)`."""

    def hook(payload: Body, _: Body) -> None:
        payload[key] = make(payload[key])

    return hook


def each_choice(key: str, value: Any) -> Callable[[Body, Body], None]:
    """A `payload` hook: every choice's `key` (`role`: its message's) is `value`."""

    def hook(payload: Body, _: Body) -> None:
        for choice in payload["choices"]:
            if key == "role":
                choice["message"]["role"] = value
            else:
                choice[key] = value

    return hook


# -- stream ---------------------------------------------------------------------------------------------------


def chunks(events: list[Event]) -> list[Body]:
    return [e for e in events if isinstance(e, dict)]


def usage_chunk(events: list[Event]) -> Body | None:
    return next((c for c in chunks(events) if c.get("choices") == [] and "usage" in c), None)


def no_usage(events: list[Event], _: Body) -> list[Event]:
    """An `events` hook: no usage chunk."""
    usage = usage_chunk(events)
    return [e for e in events if e is not usage]
