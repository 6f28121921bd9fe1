"""The property-based layer on its own (hand-written checks switched off): what it must catch, on three seeds,
that it stays quiet on correct servers, that a seed reproduces its requests, and that it keeps to its budget."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from conftest import outcome_ids

from conformance.contract import load_contract
from conformance.suite.context import RunContext
from conformance.suite.property import COVERAGE_CAP, run_mode
from conformance.transport import TargetClient

SEEDS = ["1", "2", "3"]
RANGED = ["frequency_penalty", "presence_penalty", "logit_bias", "temperature", "top_logprobs"]


def run_property(server: Callable[..., Any], run_against: Callable[..., Any], fault: str, seed: str) -> dict[str, Any]:
    with server(faults={fault}) as url:
        proc, data = run_against(url, "--only", "property.*", "--seed", seed)
    assert {r["id"].split(".")[0] for r in data["results"]} == {"property"}
    assert proc.returncode == (1 if outcome_ids(data, "failed") else 0)
    return data


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("field", RANGED)
def test_out_of_range_accepted_is_caught(
    field: str, seed: str, server: Callable[..., Any], run_against: Callable[..., Any]
) -> None:
    data = run_property(server, run_against, f"range_unchecked:{field}", seed)
    assert outcome_ids(data, "failed") == {f"property.negative_data_rejection.{field}"}


@pytest.mark.parametrize("seed", SEEDS)
def test_500_on_an_unusual_valid_request_is_caught(
    seed: str, server: Callable[..., Any], run_against: Callable[..., Any]
) -> None:
    data = run_property(server, run_against, "assistant_message_500", seed)
    failed = outcome_ids(data, "failed")
    assert "property.not_a_server_error.body" in failed  # from a generated valid request
    assert all(rid.startswith("property.not_a_server_error.") for rid in failed)


@pytest.mark.parametrize("seed", SEEDS)
def test_schema_break_for_some_inputs_is_caught(
    seed: str, server: Callable[..., Any], run_against: Callable[..., Any]
) -> None:
    data = run_property(server, run_against, "schema_break_with_logprobs", seed)
    assert outcome_ids(data, "failed") == {"property.response_schema_conformance.choices"}
    finding = next(r for r in data["results"] if r["outcome"] == "failed")
    assert "max_completion_tokens" in finding["reproduce"] and "$CONFORMANCE_API_KEY" in finding["reproduce"]


def recording_context(seed: int, requests: list[bytes], max_requests: int | None = None) -> RunContext:
    """A run context whose client answers every request with a 400 envelope and records what was sent."""

    def answer(request: httpx.Request) -> httpx.Response:
        requests.append(request.content)
        return httpx.Response(400, json={"error": {"code": "BAD_REQUEST", "message": "no"}})

    client = TargetClient("http://target.invalid", "sk-x", max_requests=max_requests)
    client._http = httpx.Client(transport=httpx.MockTransport(answer))
    return RunContext(load_contract(), client, "m", seed, api_key_given=True, max_examples=10)


def test_the_same_seed_sends_the_same_requests() -> None:
    first: list[bytes] = []
    second: list[bytes] = []
    other: list[bytes] = []
    for seed, sink in ((5, first), (5, second), (6, other)):
        ctx = recording_context(seed, sink)
        run_mode(ctx, "positive", 10)
        run_mode(ctx, "negative", 10)
    assert first == second and len(first) > 50
    assert first != other


def test_the_layer_keeps_to_its_budget() -> None:
    sent: list[bytes] = []
    ctx = recording_context(5, sent)
    reports = [run_mode(ctx, mode, 10) for mode in ("positive", "negative")]
    for report in reports:
        assert report.by_phase.get("coverage", 0) <= COVERAGE_CAP
        assert report.by_phase.get("fuzzing", 0) <= 10
    assert ctx.client.usage.requests == len(sent) == sum(r.sent for r in reports)
    capped: list[bytes] = []
    ctx = recording_context(5, capped, max_requests=30)
    report = run_mode(ctx, "negative", 10)
    assert len(capped) == 30 and report.stopped and "max-requests" in report.stopped
