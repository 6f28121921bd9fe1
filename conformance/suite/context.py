"""What one run's checks share: the contract, the client, the judge, the preflight answer and the results."""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass
from typing import Any

from conformance.checks import Judge
from conformance.records import Result
from conformance.spec import Contract
from conformance.target import Exchange, TargetClient

__all__ = ["Case", "RunContext"]

SMALL_LIMIT = 4  # completion tokens for requests whose output does not matter
PROMPT = "Reply with one short sentence about the sea."


@dataclass(frozen=True)
class Case:
    """One planned result: its id, the field and clause it concerns, and what to send."""

    rid: str
    field: str | None
    pointer: str
    params: dict[str, Any] = dataclasses.field(default_factory=dict)
    level: str = "MUST"
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
