"""What one run's checks share: the contract, the client, the judge, the preflight answer and the results."""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass
from typing import Any

from conformance.checks import Judge
from conformance.contract import Contract
from conformance.records import Level, Outcome, Result
from conformance.transport import Exchange, TargetClient

__all__ = ["Case", "RunContext"]

SMALL_LIMIT = 4  # completion tokens for requests whose output does not matter
TOOL_LIMIT = 64  # enough for a tool call or a small JSON object
FREE_LIMIT = 16  # an "unconstrained" completion: long enough to take a stop word from
PROMPT = "Reply with one short sentence about the sea."
LONG_PROMPT = "Count from one to fifty in words, separated by spaces."
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
TOOL_PROMPT = "What is the weather in Paris right now? Use a tool."
JSON_PROMPT = "Reply with a JSON object whose one key, answer, holds a short sentence about the sea."
JSON_SCHEMA_FORMAT: dict[str, Any] = {
    "type": "json_schema",
    "json_schema": {
        "name": "answer",
        "schema": {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]},
    },
}
# The basic use of each optional capability (rule 4 of design.md): a clean 4xx to it means `unsupported`.
CAPABILITIES: dict[str, dict[str, Any]] = {
    "n": {"n": 2},
    "tools": {"tools": [WEATHER_TOOL], "tool_choice": "auto", "max_completion_tokens": TOOL_LIMIT},
    "logprobs": {"logprobs": True},
    "response_format": {"response_format": {"type": "json_object"}, "max_completion_tokens": TOOL_LIMIT},
    "stream": {"stream": True},
}


@dataclass(frozen=True)
class Case:
    """One planned result: its id, the field and clause it concerns, and what to send."""

    rid: str
    field: str | None
    pointer: str
    params: dict[str, Any] = dataclasses.field(default_factory=dict)
    level: Level | None = None  # None: the clause's own level
    sends: bool = True  # False: judges the preflight only, so it runs even when the rest is skipped

    def __getitem__(self, key: str) -> Any:
        return self.params[key]


@dataclass
class RunContext:
    """Shared by every check of a run."""

    contract: Contract
    client: TargetClient
    model: str
    seed: int
    api_key_given: bool
    preflight: Exchange | None = None
    skip_all: str | None = None
    results: list[Result] = dataclasses.field(default_factory=list)
    stop_reason: str | None = None
    declared: frozenset[str] = frozenset()
    max_examples: int | None = None
    limit_honoured: bool = True
    cache: dict[str, Exchange] = dataclasses.field(default_factory=dict)

    @property
    def judge(self) -> Judge:
        return Judge(self.contract)

    def body(self, limit: int = SMALL_LIMIT, **fields: Any) -> dict[str, Any]:
        """A minimal valid request with a small completion limit, plus `fields`."""
        base: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": "user", "content": PROMPT}],
            "max_completion_tokens": limit,
        }
        base.update(copy.deepcopy(fields))
        return base

    def preflight_limit(self) -> tuple[bool, str]:
        """Whether the preflight honoured its completion limit (judged on `usage.completion_tokens`)."""
        body = self.preflight.json if self.preflight is not None else None
        usage = body.get("usage") if isinstance(body, dict) else None
        used = usage.get("completion_tokens") if isinstance(usage, dict) else None
        if not isinstance(used, int):
            return True, "no usage.completion_tokens to compare with the limit"
        if used > SMALL_LIMIT:
            return False, f"sent max_completion_tokens={SMALL_LIMIT}; usage.completion_tokens is {used}"
        return True, f"sent max_completion_tokens={SMALL_LIMIT}; completion_tokens {used}"

    def verdict(
        self, case: Case, outcome: Outcome, message: str, *exchanges: Exchange, level: Level | None = None
    ) -> Result:
        """A result for `case`, citing its clause and field."""
        return self.judge.result(
            case.rid, case.pointer, case.field, outcome, message, exchanges=exchanges, level=level or case.level
        )

    def free_body(self, **fields: Any) -> dict[str, Any]:
        """A completion made as deterministic as the contract allows: temperature 0, the run's seed."""
        body = self.body(limit=FREE_LIMIT, temperature=0, seed=self.seed, **fields)
        body["messages"][0]["content"] = LONG_PROMPT
        return body

    def send(self, key: str, body: dict[str, Any]) -> Exchange:
        """Send `body` once per run; later calls with the same key reuse the exchange (and cost nothing)."""
        if key not in self.cache:
            self.cache[key] = self.client.chat(body)
        return self.cache[key]

    def basic_use(self, capability: str) -> Exchange:
        """The exchange of a capability's basic use (sent once per run)."""
        fields = CAPABILITIES[capability]
        prompt = {"tools": TOOL_PROMPT, "response_format": JSON_PROMPT}.get(capability, PROMPT)
        body = self.body(**fields)
        body["messages"][0]["content"] = prompt
        return self.send(f"capability.{capability}", body)

    def refused(self, capability: str) -> bool:
        """True when the capability's basic use got a clean 4xx and the target did not declare it."""
        if capability in self.declared:
            return False
        status = self.basic_use(capability).status or 0
        return 400 <= status < 500
