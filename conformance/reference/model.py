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
    tool_calls: list[ToolCall] = field(default_factory=list)
    finish_reason: str = "stop"
    matched_stop: str | None = None  # the stop sequence that ended the output

    @property
    def content(self) -> str:
        return "".join(self.tokens)

    @property
    def completion_tokens(self) -> int:
        return len(self.tokens) + sum(len(call.pieces) for call in self.tool_calls)


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


def _json_key(body: dict[str, Any]) -> str:
    """The key of the JSON object the stand-in writes: the schema's first required property, else `result`."""
    spec = (body.get("response_format") or {}).get("json_schema") or {}
    required = (spec.get("schema") or {}).get("required") or []
    return str(required[0]) if required else "result"


def _pick_tools(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The functions the stand-in calls: every tool in parallel unless told not to, or the named one."""
    functions = [t.get("function", {}) for t in body.get("tools") or [] if isinstance(t, dict)]
    choice = body.get("tool_choice")
    messages = body.get("messages") or []
    after_a_result = bool(messages) and isinstance(messages[-1], dict) and messages[-1].get("role") == "tool"
    if not functions or choice == "none" or (after_a_result and not isinstance(choice, dict)):
        return []  # after a tool result the stand-in answers with text, so an agent loop ends
    if isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name")
        return [f for f in functions if f.get("name") == name][:1]
    return functions if body.get("parallel_tool_calls") is not False else functions[:1]


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
    tools = _pick_tools(body)
    choices = []
    for index in range(n):
        key = _digest(messages, seed, index)
        choice = Choice(index=index)
        if tools:
            budget = limit
            choice.finish_reason = "tool_calls"
            for number, tool in enumerate(tools):
                pieces = _pieces(_arguments(tool.get("parameters"), key + number))
                if budget is not None and len(pieces) > budget:
                    pieces, choice.finish_reason = pieces[:budget], "length"
                call_id = f"call_{(key + number) % 10**10:010d}"
                choice.tool_calls.append(ToolCall(str(tool.get("name", "")), "".join(pieces), call_id, pieces))
                budget = None if budget is None else budget - len(pieces)
                if choice.finish_reason == "length":
                    break
            choices.append(choice)
            continue
        low, high = DEFAULT_LENGTH
        words = _words(key, low + key % (high - low + 1))
        if fmt in ("json_object", "json_schema"):
            natural = _pieces(json.dumps({_json_key(body): " ".join(words)}), size=6)
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
