"""What leaves the process: the API key redacted by value, and a target's text made safe to show.

Redaction happens on the way out (reports, attachments, curl lines, console), never on a response before it is
judged: a short key must not corrupt a verdict. The key is found in any form it can take on its way out:

- each character literal, `\\uXXXX`- or `\\xXX`-escaped (either letter case, behind any number of backslashes:
  a `repr` of a `repr` doubles them), %-encoded, backslash-quoted (`\\"`, `\\/`), or shell-quoted (`'"'"'`),
  mixed freely;
- cut: any run of at least `MIN_PIECE` (8) consecutive characters of the key is redacted, so a message cut at a
  length limit before redaction, the tail of a text, or a key a target split across two stream chunks (each part
  written on its own) shows none of it. A key shorter than that is redacted whole.
"""

from __future__ import annotations

import dataclasses
import re
from urllib.parse import urlsplit, urlunsplit

from conformance.records import KEY_PLACEHOLDER, Attachment, Result, visible, visible_json

__all__ = ["MIN_PIECE", "REDACTED", "Redactor", "strip_credentials", "visible", "visible_json"]

REDACTED = KEY_PLACEHOLDER
MIN_PIECE = 8  # the shortest run of the key's characters that is redacted on its own (a cut key's prefix)

# one character of text as the tool or a target may have written it; group 1: the hex code of an escape
_UNIT = re.compile(
    r"\\+[uU]([0-9a-fA-F]{4})"  # \u0073, \\u0073, \U0073
    r"|\\+x([0-9a-fA-F]{2})"  # \x73, \\x73
    r"|%([0-9a-fA-F]{2})"  # %73
    r"|'\"'\"(')"  # a single quote inside a shell single-quoted string
    r"|\\+([^0-9A-Za-z\\])"  # \" \/ \\' : a character quoted with backslashes
    r"|(\\+)"  # backslashes before a letter (\n): one backslash
    r"|(.)",
    re.DOTALL,
)
_ESCAPING = re.compile(r"[\\%']")


def _decode(text: str) -> tuple[str, list[int]]:
    """`text` with every escaped or quoted character decoded, and where each decoded character starts in `text`
    (plus the end)."""
    chars: list[str] = []
    starts: list[int] = []
    for match in _UNIT.finditer(text):
        code = match.group(1) or match.group(2) or match.group(3)
        if code is not None:
            chars.append(chr(int(code, 16)))
        elif match.group(6) is not None:
            chars.append("\\")
        else:
            chars.append(match.group(4) or match.group(5) or match.group(7))
        starts.append(match.start())
    starts.append(len(text))
    return "".join(chars), starts


class Redactor:
    """Replaces every occurrence of the secret, in any of the forms above, in text and in results."""

    def __init__(self, secret: str | None, placeholder: str = REDACTED) -> None:
        self.secret = secret or None
        self.placeholder = placeholder  # `$VARIABLE`: the target's own key variable, so a curl line runs as is
        self._pieces: re.Pattern[str] | None = None
        if self.secret:
            size = min(MIN_PIECE, len(self.secret))
            pieces = sorted({self.secret[i : i + size] for i in range(len(self.secret) - size + 1)})
            self._pieces = re.compile("(?=(" + "|".join(re.escape(p) for p in pieces) + "))")
            self._size = size

    def text(self, value: str) -> str:
        if self._pieces is None or not value:
            return value
        if _ESCAPING.search(value):
            decoded, starts = _decode(value)
        else:
            decoded, starts = value, []
        spans: list[list[int]] = []  # runs of the key's characters, merged, in decoded positions
        for match in self._pieces.finditer(decoded):
            begin, end = match.start(), match.start() + self._size
            if spans and begin <= spans[-1][1]:
                spans[-1][1] = max(spans[-1][1], end)
            else:
                spans.append([begin, end])
        if not spans:
            return value
        out, last = [], 0
        for begin, end in spans:
            if starts:
                begin, end = starts[begin], starts[end]
            out += [value[last:begin], self.placeholder]
            last = end
        out.append(value[last:])
        return "".join(out)

    def clean(self, value: str) -> str:
        """Redacted, then made visible: what any output may show of a target's text."""
        return visible(self.text(value))

    def clean_json(self, value: str) -> str:
        """Redacted, then made visible with JSON escapes (`\\u009b`): a JSON document stays JSON."""
        return visible_json(self.text(value))

    def result(self, result: Result) -> Result:
        """A result as it may leave the process: every text field redacted and made visible."""
        return dataclasses.replace(
            result,
            message=self.clean(result.message),
            reproduce=self.clean(result.reproduce) if result.reproduce is not None else None,
            field=self.clean(result.field) if result.field is not None else None,
            attachments=type(result.attachments)(
                Attachment(
                    self.clean(a.name),
                    self.clean_json(a.content) if a.mime == "application/json" else self.clean(a.content),
                    a.mime,
                )
                for a in result.attachments
            ),
        )


def strip_credentials(url: str) -> str:
    """`https://user:pw@host/x` -> `https://host/x`; query strings are dropped too (they may hold keys). An IPv6
    literal keeps its brackets (`http://[::1]:8000`)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:  # an IPv6 literal (its zone, if any, stays %25-encoded as given)
        host = f"[{host}]"
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))
