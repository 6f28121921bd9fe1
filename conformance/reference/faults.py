"""Faults the reference server can be started with: each breaks one clause, so each check can be shown to fail."""

from __future__ import annotations

__all__ = ["FAULTS"]

FAULTS: dict[str, str] = {
    # the minimal request and the response contract
    "chat_500": "every chat completion answers 500",
    "wrong_content_type": "a 200 completion is sent as text/plain",
    "created_string": "`created` is sent as a string",
    # temperature
    "temperature_unchecked": "temperature outside its bounds is accepted",
    "temperature_500": "temperature outside its bounds answers 500 (Atoma's proxy passes a backend 400 on as 500)",
    "temperature_exclusive": "temperature exactly at a bound is rejected (exclusive bounds)",
    # auth
    "auth_not_enforced": "requests without or with a wrong token are served",
    "auth_any_token": "any bearer token is accepted; only a missing header is refused",
    "auth_flat_error": "401 answers carry a flat `{\"message\": ...}` body, not the error envelope",
}
