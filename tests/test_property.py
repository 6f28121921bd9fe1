"""The property-based layer on its own: a seed reproduces its requests, the layer keeps to its budget, and its
findings carry a reproduction. What it must catch is proven in tests/test_faults.py (the faults' proofs with
`--only property.*`, on three seeds)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest
from conftest import outcome_ids, run_in_process

from conformance.checks import Facts
from conformance.contract import REQUEST_SCHEMA, load_contract
from conformance.driver.property import run_mode
from conformance.reference.faults import RunArgs
from conformance.transport import TargetClient


def recording_client(requests: list[bytes], max_requests: int | None = None) -> TargetClient:
    """A client whose target answers every request with a 400 envelope and records what was sent."""

    def answer(request: httpx.Request) -> httpx.Response:
        requests.append(request.content)
        return httpx.Response(400, json={"error": {"code": "BAD_REQUEST", "message": "no"}})

    return TargetClient(
        "http://target.invalid", "sk-x", max_requests=max_requests, transport=httpx.MockTransport(answer)
    )


@pytest.mark.slow
def test_the_same_seed_sends_the_same_requests() -> None:
    first: list[bytes] = []
    second: list[bytes] = []
    other: list[bytes] = []
    for seed, sink in ((5, first), (5, second), (6, other)):
        facts = Facts(load_contract(), "m", seed)
        client = recording_client(sink)
        run_mode(facts, client, "positive", 10)
        run_mode(facts, client, "negative", 10)
    assert first == second and len(first) > 50
    assert first != other


@pytest.mark.slow
def test_the_layer_keeps_to_its_budget() -> None:
    sent: list[bytes] = []
    facts = Facts(load_contract(), "m", 5)
    client = recording_client(sent)
    reports = [run_mode(facts, client, mode, 10) for mode in ("positive", "negative")]
    for report in reports:
        assert report.by_phase.get("fuzzing", 0) <= 10
    assert client.usage.requests == len(sent) == sum(r.sent + r.attribution for r in reports)
    capped: list[bytes] = []
    client = recording_client(capped, max_requests=30)
    report = run_mode(facts, client, "negative", 10)
    assert len(capped) == 30 and report.stopped and "max-requests" in report.stopped


@pytest.mark.slow  # over a second: the quick loop stays within two minutes
def test_a_finding_carries_a_reproduction(tmp_path: Path) -> None:
    code, data = run_in_process(tmp_path, ("schema_break_with_logprobs",), args=RunArgs(only=("property.positive",)))
    assert code == 1
    assert outcome_ids(data, "failed") == {"property.positive", "property.response_schema_conformance.choices"}
    finding = next(r for r in data["results"] if r["id"] == "property.response_schema_conformance.choices")
    assert "max_completion_tokens" in finding["reproduce"] and "$CONFORMANCE_API_KEY" in finding["reproduce"]
    assert "property.response_schema_conformance.choices" in next(
        r["message"] for r in data["results"] if r["id"] == "property.positive"
    )


@pytest.mark.slow  # over a second: the quick loop stays within two minutes
def test_the_progress_counter_counts_planned_results_only(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, data = run_in_process(
        tmp_path, ("schema_break_with_logprobs",), args=RunArgs(only=("property.*",)), progress=True
    )
    counters = [tuple(map(int, m)) for m in re.findall(r"^\[\s*(\d+)/(\d+)\]", capsys.readouterr().out, flags=re.M)]
    assert code == 1 and len(data["results"]) > len(counters) == 2
    assert counters == [(1, 2), (2, 2)]


def accepting_client(requests: list[dict[str, object]]) -> TargetClient:
    """A client whose target accepts every request with a small valid completion and records what was sent."""

    def answer(request: httpx.Request) -> httpx.Response:
        requests.append(json.loads(request.content))
        message = {"role": "assistant", "content": "Hi."}
        choice = {"index": 0, "message": message, "finish_reason": "stop", "logprobs": None}
        usage = {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}
        completion = {"id": "c1", "object": "chat.completion", "created": 1700000000, "model": "m"}
        return httpx.Response(200, json={**completion, "choices": [choice], "usage": usage})

    return TargetClient("http://target.invalid", "sk-x", transport=httpx.MockTransport(answer))


def test_an_ordinary_value_accepted_does_not_take_the_blame_for_an_invalid_one() -> None:
    """Issue 17: a control (`type: json_schema` with an ordinary schema, a documented object whole) is valid, so
    its being accepted is a right answer and cannot show an accepted invalid value: the invalid `json_schema`
    and the tool message without `tool_call_id` stay findings of their own fields, and no control is sent."""
    sent: list[dict[str, object]] = []
    report = run_mode(Facts(load_contract(), "m", 7), accepting_client(sent), "negative", 1)
    found = {fid: finding.outcome.value for fid, finding in report.findings.items()}
    assert found["property.negative_data_rejection.response_format.json_schema"] == "failed"
    assert found["property.negative_data_rejection.response_format.type"] == "failed"
    assert found["property.negative_data_rejection.messages.tool_call_id"] == "warned"  # only the capture requires it
    valid = load_contract().validator(REQUEST_SCHEMA).is_valid
    assert not [body for body in sent if valid(body)]  # no valid control was sent to show an accepted invalid value
