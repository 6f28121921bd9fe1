"""Talking to a target: httpx client, auth, retries, budget, redaction, SSE parsing. Knows nothing of checks."""

from conformance.transport.client import (
    DEFAULT_AUTH,
    RETRY_STATUSES,
    BudgetExhausted,
    Exchange,
    SseEvent,
    TargetClient,
    Usage,
    normalise_base_url,
)
from conformance.transport.redact import Redactor

__all__ = [
    "DEFAULT_AUTH",
    "RETRY_STATUSES",
    "BudgetExhausted",
    "Exchange",
    "Redactor",
    "SseEvent",
    "TargetClient",
    "Usage",
    "normalise_base_url",
]
