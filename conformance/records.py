"""Result records: the one stream every report is written from. Imports nothing of the project."""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["Attachment", "Level", "Outcome", "Result"]

Level = Literal["MUST", "SHOULD"]


class Outcome(enum.StrEnum):
    """The verdict of one result; see design.md, "How a verdict is reached"."""

    PASSED = "passed"
    FAILED = "failed"
    WARNED = "warned"
    UNSUPPORTED = "unsupported"
    SKIPPED = "skipped"
    ERROR = "error"


@dataclass
class Attachment:
    """A redacted piece of evidence (request, response, stream) shown in Allure."""

    name: str
    content: str
    mime: str = "application/json"


@dataclass
class Result:
    """One verdict on one clause and field of the contract."""

    id: str
    clause: str
    citation: str
    field: str | None
    level: Level
    outcome: Outcome
    message: str
    reproduce: str | None = None
    attachments: list[Attachment] = dataclasses.field(default_factory=list)
    duration_s: float = 0.0

    def to_summary(self) -> dict[str, Any]:
        """The `results[]` entry of summary.json."""
        return {
            "id": self.id,
            "clause": self.clause,
            "citation": self.citation,
            "field": self.field,
            "level": self.level,
            "outcome": self.outcome.value,
            "message": self.message,
            "reproduce": self.reproduce if self.outcome is not Outcome.PASSED else None,
        }
