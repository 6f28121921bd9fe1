"""Every check proven twice: it passes on the reference server, and fails with its fault injected.

Each fault run asserts the exact set of failed result ids, so neither a server nor a suite that fails
everything can pass.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from conftest import outcome_ids

RANGED = ["frequency_penalty", "presence_penalty", "logit_bias", "temperature", "top_logprobs"]
OUTSIDE = ["below_minimum", "above_maximum", "far_below_minimum", "far_above_maximum"]


def ids(fields: list[str], names: list[str]) -> set[str]:
    return {f"request.{f}.{n}" for f in fields for n in names}


SINGLE_FAULTS: dict[str, set[str]] = {
    "chat_500": {"response.minimal.status"},
    "wrong_content_type": {"response.minimal.content_type"},
    "created_string": {"response.minimal.schema"},
    "auth_not_enforced": {"auth.missing_token", "auth.wrong_token"},
    "auth_any_token": {"auth.wrong_token"},
    "auth_flat_error": {"auth.missing_token", "auth.wrong_token"},
}
RANGE_FAULTS: dict[str, set[str]] = {
    "range_unchecked": ids(RANGED, OUTSIDE),
    "range_500": ids(RANGED, OUTSIDE),
    "range_exclusive": ids(RANGED, ["at_minimum", "at_maximum"]),
    "range_tolerant": ids(RANGED, ["below_minimum", "above_maximum"]),
    "type_unchecked": ids(RANGED, ["wrong_type"]),
}


def test_reference_server_passes_everything(server: Callable[..., Any], run_against: Callable[..., Any]) -> None:
    with server() as url:
        proc, data = run_against(url)
    assert proc.returncode == 0, proc.stderr
    assert data["totals"]["failed"] == 0 and data["totals"]["errors"] == 0
    assert outcome_ids(data, "passed") >= {
        "response.minimal.schema",
        "auth.wrong_token",
        "request.temperature.at_maximum",
    }


@pytest.mark.parametrize("fault", sorted(SINGLE_FAULTS))
def test_single_fault_is_caught(fault: str, server: Callable[..., Any], run_against: Callable[..., Any]) -> None:
    with server(faults={fault}) as url:
        proc, data = run_against(url)
    assert proc.returncode == 1, proc.stderr
    assert outcome_ids(data, "failed") == SINGLE_FAULTS[fault]


@pytest.mark.parametrize("fault", sorted(RANGE_FAULTS))
def test_range_fault_is_caught_on_every_field(
    fault: str, server: Callable[..., Any], run_against: Callable[..., Any]
) -> None:
    with server(faults={f"{fault}:{field}" for field in RANGED}) as url:
        proc, data = run_against(url)
    assert proc.returncode == 1, proc.stderr
    assert outcome_ids(data, "failed") == RANGE_FAULTS[fault]


def test_chat_500_skips_the_rest(server: Callable[..., Any], run_against: Callable[..., Any]) -> None:
    with server(faults={"chat_500"}) as url:
        _, data = run_against(url)
    skipped = outcome_ids(data, "skipped")
    assert "request.temperature.above_maximum" in skipped and "auth.missing_token" in skipped
    assert data["totals"]["requests"] == 1  # only the preflight was sent
