"""Talking to a target: httpx client, auth, retries, budget, redaction, SSE parsing. Knows nothing of checks."""

from conformance.transport.client import (
    DEFAULT_AUTH,
    EXTRA_BUDGET,
    RETRY_BUDGET,
    RETRY_STATUSES,
    BudgetExhausted,
    TargetClient,
    Usage,
    checked_key,
    normalise_base_url,
    parse_events,
)
from conformance.transport.redact import Redactor, strip_credentials, visible

__all__ = [
    "DEFAULT_AUTH",
    "EXTRA_BUDGET",
    "RETRY_BUDGET",
    "RETRY_STATUSES",
    "BudgetExhausted",
    "Redactor",
    "TargetClient",
    "Usage",
    "checked_key",
    "normalise_base_url",
    "parse_events",
    "strip_credentials",
    "visible",
]
