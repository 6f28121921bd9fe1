"""Redaction of the API key, by value, before anything is recorded."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

from conformance.records import KEY_PLACEHOLDER

__all__ = ["REDACTED", "Redactor", "strip_credentials"]

REDACTED = KEY_PLACEHOLDER


class Redactor:
    """Replaces every occurrence of the secret (and its Bearer header form) in text and JSON values."""

    def __init__(self, secret: str | None) -> None:
        self.secret = secret or None

    def text(self, value: str) -> str:
        if self.secret and self.secret in value:
            return value.replace(self.secret, REDACTED)
        return value

    def value(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list):
            return [self.value(item) for item in value]
        if isinstance(value, dict):
            return {self.text(str(k)): self.value(v) for k, v in value.items()}
        return value


def strip_credentials(url: str) -> str:
    """`https://user:pw@host/x` -> `https://host/x`; query strings are dropped too (they may hold keys)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))
