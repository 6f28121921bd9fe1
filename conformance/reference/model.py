"""A deterministic stand-in model: text from the prompt and `seed`, honouring the request's controls."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Choice", "Generation", "generate", "prompt_tokens"]

VOCABULARY = [
    "alpha",
    "bravo",
    "charlie",
    "delta",
    "echo",
    "foxtrot",
    "golf",
    "hotel",
    "india",
    "juliet",
    "kilo",
    "lima",
    "mike",
    "november",
    "oscar",
    "papa",
    "quebec",
    "romeo",
    "sierra",
    "tango",
    "uniform",
    "victor",
    "whiskey",
    "xray",
    "yankee",
    "zulu",
    "amber",
    "basalt",
    "cedar",
    "dune",
    "ember",
    "fjord",
    "glacier",
    "harbor",
    "island",
    "jungle",
    "kelp",
    "lagoon",
    "meadow",
    "nebula",
    "orchard",
    "prairie",
    "quartz",
    "river",
    "savanna",
    "tundra",
    "upland",
    "valley",
    "willow",
    "yarrow",
    "zephyr",
    "anchor",
    "beacon",
    "canyon",
    "delta",
    "estuary",
    "forest",
]
DEFAULT_LENGTH = (12, 24)  # natural completion length range, in tokens


@dataclass
class ToolCall:
    name: str
    arguments: str
    id: str
    pieces: list[str]


@dataclass
class Choice:
    """One generated choice: tokens (for content) or a tool call, and why it ended."""

    index: int
    tokens: list[str] = field(default_factory=list)
    tool_call: ToolCall | None = None
    finish_reason: str = "stop"
    matched_stop: str | None = None  # the stop sequence that ended the output

    @property
    def content(self) -> str:
        return "".join(self.tokens)

    @property
    def completion_tokens(self) -> int:
        return len(self.tokens) + (len(self.tool_call.pieces) if self.tool_call else 0)


@dataclass
class Generation:
    choices: list[Choice]
    prompt_tokens: int

    @property
    def completion_tokens(self) -> int:
        return sum(c.completion_tokens for c in self.choices)


def _digest(*parts: Any) -> int:
    return int.from_bytes(hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).digest()[:8], "big")


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""


def prompt_tokens(messages: list[Any]) -> int:
    """Whitespace words of every message, plus 3 per message for the template."""
    return sum(len(_text_of(m.get("content")).split()) + 3 for m in messages if isinstance(m, dict))


def _words(key: int, count: int) -> list[str]:
    out = []
    for i in range(count):
        out.append(VOCABULARY[_digest(key, i) % len(VOCABULARY)])
    return out


def _arguments(parameters: Any, key: int) -> str:
    """JSON arguments for a function, one plain value per declared property."""
    props = parameters.get("properties", {}) if isinstance(parameters, dict) else {}
    values: dict[str, Any] = {}
    for i, (name, schema) in enumerate(props.items() if isinstance(props, dict) else []):
        kind = schema.get("type") if isinstance(schema, dict) else None
        if kind in ("number", "integer"):
            values[name] = 1 + _digest(key, name) % 9
        elif kind == "boolean":
            values[name] = True
        elif kind == "array":
            values[name] = []
        elif kind == "object":
            values[name] = {}
        else:
            values[name] = VOCABULARY[_digest(key, i) % len(VOCABULARY)]
    return json.dumps(values)


def _pieces(text: str, size: int = 4) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def _pick_tool(body: dict[str, Any]) -> dict[str, Any] | None:
    tools = body.get("tools") or []
    if not tools:
        return None
    choice = body.get("tool_choice")
    if choice in (None, "auto", "required"):
        return tools[0].get("function", {}) if isinstance(tools[0], dict) else None
    if isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name")
        for tool in tools:
            function = tool.get("function", {}) if isinstance(tool, dict) else {}
            if function.get("name") == name:
                return function
    return None


def generate(body: dict[str, Any], *, limit: int | None) -> Generation:
    """Generate every choice of a validated request. `limit` is the completion-token limit (None: no limit)."""
    messages = body.get("messages") or []
    seed = body.get("seed")
    n = body.get("n")
    n = 1 if n is None else n
    stops = body.get("stop")
    if isinstance(stops, str):
        stops = [stops]
    stops = [s for s in (stops or []) if s]
    fmt = (body.get("response_format") or {}).get("type")
    tool = _pick_tool(body)
    choices = []
    for index in range(n):
        key = _digest(messages, seed, index)
        choice = Choice(index=index)
        if tool is not None:
            pieces = _pieces(_arguments(tool.get("parameters"), key))
            if limit is not None and len(pieces) > limit:
                pieces, choice.finish_reason = pieces[:limit], "length"
            else:
                choice.finish_reason = "tool_calls"
            choice.tool_call = ToolCall(str(tool.get("name", "")), "".join(pieces), f"call_{key % 10**10}", pieces)
            choices.append(choice)
            continue
        low, high = DEFAULT_LENGTH
        words = _words(key, low + key % (high - low + 1))
        if fmt == "json_object" or fmt == "json_schema":
            natural = _pieces(json.dumps({"answer": " ".join(words)}), size=6)
        else:
            natural = [w if i == 0 else " " + w for i, w in enumerate(words)]
        text = ""
        for token in natural:
            if limit is not None and len(choice.tokens) >= limit:
                choice.finish_reason = "length"
                break
            candidate = text + token
            found = [(candidate.find(s), s) for s in stops if s in candidate]
            if found:
                cut, choice.matched_stop = min(found)
                kept = candidate[:cut][len(text) :]
                if kept:
                    choice.tokens.append(kept)
                choice.finish_reason = "stop"
                break
            choice.tokens.append(token)
            text = candidate
        choices.append(choice)
    return Generation(choices=choices, prompt_tokens=prompt_tokens(messages))
