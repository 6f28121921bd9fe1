"""What leaves the process: the API key redacted by value, and a target's text made safe to show.

Redaction happens on the way out (reports, attachments, curl lines, console), never on a response before it is
judged: a short key must not corrupt a verdict. The key is found literally and in the forms a target can echo it
in: each character literal, `\\uXXXX`-escaped in either letter case, or %-encoded, mixed freely.
"""

from __future__ import annotations

import dataclasses
import re
from urllib.parse import urlsplit, urlunsplit

from conformance.records import KEY_PLACEHOLDER, Attachment, Result

__all__ = ["REDACTED", "Redactor", "strip_credentials", "visible"]

REDACTED = KEY_PLACEHOLDER

# C0 controls but tab and newline, DEL, C1 controls, lone surrogates, and the two non-characters of the BMP's end:
# what would corrupt a terminal, an XML 1.0 document or a Markdown table
_INVISIBLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


def visible(text: str) -> str:
    """`text` with control characters written visibly (`\\x1b`, `\\ud800`): safe for XML, Markdown, terminals."""
    return _INVISIBLE.sub(lambda m: f"\\x{ord(m[0]):02x}" if ord(m[0]) < 0x100 else f"\\u{ord(m[0]):04x}", text)


def _either_case(hex_digits: str) -> str:
    return "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else c for c in hex_digits)


def _char_pattern(char: str) -> str:
    forms = [re.escape(char)]
    if ord(char) < 0x10000:
        forms.append(r"\\u" + _either_case(f"{ord(char):04x}"))
    forms.append("".join("%" + _either_case(f"{b:02x}") for b in char.encode()))
    return "(?:" + "|".join(forms) + ")"


class Redactor:
    """Replaces every occurrence of the secret, in any of the forms above, in text and in results."""

    def __init__(self, secret: str | None) -> None:
        self.secret = secret or None
        self._pattern = re.compile("".join(_char_pattern(c) for c in self.secret)) if self.secret else None

    def text(self, value: str) -> str:
        if self._pattern is None:
            return value
        return self._pattern.sub(REDACTED, value)

    def clean(self, value: str) -> str:
        """Redacted, then made visible: what any output may show of a target's text."""
        return visible(self.text(value))

    def result(self, result: Result) -> Result:
        """A result as it may leave the process: every text field redacted and made visible."""
        return dataclasses.replace(
            result,
            message=self.clean(result.message),
            reproduce=self.clean(result.reproduce) if result.reproduce is not None else None,
            field=self.clean(result.field) if result.field is not None else None,
            attachments=tuple(
                Attachment(self.clean(a.name), self.clean(a.content), a.mime) for a in result.attachments
            ),
        )


def strip_credentials(url: str) -> str:
    """`https://user:pw@host/x` -> `https://host/x`; query strings are dropped too (they may hold keys)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))
