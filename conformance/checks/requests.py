"""The requests checks send: small, deterministic bodies built from the run's facts, and the recipes shared
by several checks (each capability's basic use, the unconstrained completion)."""

from __future__ import annotations

import copy
from typing import Any

from conformance.checks.base import STATUS_LIMIT, Facts, Recipe, Request
from conformance.records import Exchange

__all__ = [
    "BASIC",
    "CAPABILITIES",
    "FREE",
    "FREE_AGAIN",
    "JSON_PROMPT",
    "JSON_SCHEMA_FORMAT",
    "JSON_SCHEMA_NONSTRICT",
    "LOGIT_CONTROL",
    "LONG_PROMPT",
    "MISSING_MESSAGES",
    "PROMPT",
    "SAMPLE_TOKEN",
    "SMALL_LIMIT",
    "STATUS_LIMIT",
    "TIME_TOOL",
    "TOOL_LIMIT",
    "TOOL_PROMPT",
    "WEATHER_TOOL",
    "body",
    "free_body",
    "recipe",
]

SMALL_LIMIT = 4  # completion tokens for requests whose output does not matter
# The token id `logit_bias` checks bias: ids are dense from 0, so 0 is in every vocabulary, however small (a server
# with a 512-token vocabulary refuses 1000 as out of vocabulary, which says nothing about the bias value).
SAMPLE_TOKEN = "0"
TOOL_LIMIT = 64  # enough for a tool call or a small JSON object
FREE_LIMIT = 16  # an "unconstrained" completion: long enough to take a stop word from
PROMPT = "Reply with one short sentence about the sea."
LONG_PROMPT = "Count from one to fifty in words, separated by spaces."
TOOL_PROMPT = "What is the weather in Paris right now? Use a tool."
JSON_PROMPT = "Reply with a JSON object whose one key, answer, holds a short sentence about the sea."
WEATHER_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "get_current_weather",
        "description": "Get the current weather in a location",
        "parameters": {
            "type": "object",
            "properties": {"location": {"type": "string", "description": "The location to get the weather for"}},
            "required": ["location"],
        },
    },
}
TIME_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "get_local_time",
        "description": "Get the local time in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string", "description": "The city"}},
            "required": ["city"],
        },
    },
}
JSON_SCHEMA_NONSTRICT: dict[str, Any] = {
    "type": "json_schema",
    "json_schema": {
        "name": "answer",
        "schema": {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]},
    },
}
# OpenAI guarantees adherence to the schema only with `strict: true`
JSON_SCHEMA_FORMAT: dict[str, Any] = {
    "type": "json_schema",
    "json_schema": {**JSON_SCHEMA_NONSTRICT["json_schema"], "strict": True},
}
# The basic use of each optional capability (docs/verdicts.md rule 4): a clean 4xx to it means `unsupported`.
CAPABILITIES: dict[str, dict[str, Any]] = {
    "n": {"n": 2},
    "tools": {"tools": [WEATHER_TOOL], "tool_choice": "auto"},
    "logprobs": {"logprobs": True},
    "response_format": {"response_format": {"type": "json_object"}},
    "stream": {"stream": True},
}
_PROMPT_OF = {"tools": TOOL_PROMPT, "response_format": JSON_PROMPT}
_LIMIT_OF = {"tools": TOOL_LIMIT, "response_format": TOOL_LIMIT}  # enough for a tool call or a small JSON object


def body(facts: Facts, limit: int = SMALL_LIMIT, prompt: str = PROMPT, **fields: Any) -> dict[str, Any]:
    """A minimal valid request with a small completion limit (in the field the target honours), plus `fields`
    (a None value drops the field)."""
    base: dict[str, Any] = {
        "model": facts.model,
        "messages": [{"role": "user", "content": prompt}],
        facts.limit_field: limit,
    }
    base.update(copy.deepcopy(fields))
    return {k: v for k, v in base.items() if v is not None}


def free_body(facts: Facts, **fields: Any) -> dict[str, Any]:
    """A completion made as deterministic as the contract allows: temperature 0, the run's seed."""
    return body(facts, FREE_LIMIT, LONG_PROMPT, temperature=0, seed=facts.seed, **fields)


def recipe(key: str, limit: int = SMALL_LIMIT, prompt: str = PROMPT, **fields: Any) -> Recipe:
    """A recipe for `body(facts, limit, prompt, **fields)`."""

    def build(facts: Facts, _: tuple[Exchange, ...]) -> Request:
        return Request(body(facts, limit, prompt, **fields))

    return Recipe(key, build)


BASIC: dict[str, Recipe] = {
    name: recipe(f"capability.{name}", _LIMIT_OF.get(name, SMALL_LIMIT), _PROMPT_OF.get(name, PROMPT), **fields)
    for name, fields in CAPABILITIES.items()
}
MISSING_MESSAGES = Recipe(
    "request.messages.missing",
    lambda facts, _: Request({"model": facts.model, facts.limit_field: facts.status_limit}),
    status_only=True,
)
LOGIT_CONTROL = Recipe(  # a neutral bias on the sample token: is the token id itself accepted?
    "request.logit_bias.control", lambda facts, _: Request(body(facts, logit_bias={SAMPLE_TOKEN: 0}))
)
# sent alone: seed reproducibility is judged on requests that no other request rode beside (load.* send batches)
FREE = Recipe("semantic.free", lambda facts, _: Request(free_body(facts)), alone=True)
FREE_AGAIN = Recipe("semantic.free.again", lambda facts, _: Request(free_body(facts)), alone=True)
