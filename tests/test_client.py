"""The target client: retries honouring Retry-After, the request budget, provider states."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import KEY, MODEL, run_cli, summary

from conformance.runner import DEFAULT_CONCURRENCY
from conformance.transport import BudgetExhausted, TargetClient, normalise_base_url


def client_answering(*responses: httpx.Response, **options: Any) -> tuple[TargetClient, list[httpx.Request]]:
    seen: list[httpx.Request] = []
    queue = list(responses)

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return queue.pop(0) if len(queue) > 1 else queue[0]

    client = TargetClient("http://target.invalid/v1", KEY, **options)
    client._http = httpx.Client(transport=httpx.MockTransport(answer))
    return client, seen


def test_429_is_retried_honouring_retry_after() -> None:
    client, seen = client_answering(
        httpx.Response(429, headers={"retry-after": "0"}, json={"error": {"code": "RATE", "message": "slow"}}),
        httpx.Response(200, json={"usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}}),
    )
    exchange = client.chat({"model": "m", "messages": []})
    assert exchange.status == 200 and exchange.attempts == 2 and len(seen) == 2
    assert (client.usage.requests, client.usage.prompt_tokens, client.usage.completion_tokens) == (2, 3, 2)


def test_503_gives_up_after_two_retries() -> None:
    client, seen = client_answering(httpx.Response(503, headers={"retry-after": "0"}))
    exchange = client.chat({"model": "m", "messages": []})
    assert exchange.status == 503 and exchange.attempts == 3 and len(seen) == 3


def test_retries_keep_to_the_run_s_retry_budget() -> None:
    """Retries (and rule 10's repeats, which take from the same budget) are bounded per run, not only per request:
    past the budget a request is answered with what its last attempt got, and says why it was not retried."""
    client, seen = client_answering(httpx.Response(503, headers={"retry-after": "0"}), retry_budget=3)
    first, second, third = (client.chat({"model": "m", "messages": []}) for _ in range(3))
    assert (first.attempts, second.attempts, third.attempts) == (3, 2, 1) and len(seen) == 6
    assert first.not_repeated is None and "budget of 3 retries" in str(second.not_repeated)
    assert client.retries == 3 and client.retries_held == 2 and not client.take_retry()


def test_retry_after_beyond_the_bound_is_not_waited() -> None:
    client, seen = client_answering(httpx.Response(429, headers={"retry-after": "3600"}), max_retry_wait=5)
    exchange = client.chat({"model": "m", "messages": []})
    assert exchange.status == 429 and len(seen) == 1


def test_budget_is_a_hard_cap() -> None:
    client, seen = client_answering(httpx.Response(200, json={}), max_requests=2)
    client.chat({})
    client.chat({})
    with pytest.raises(BudgetExhausted):
        client.chat({})
    assert len(seen) == 2


def test_base_url_forms() -> None:
    assert normalise_base_url(" https://api.atoma.network/v1/ ") == "https://api.atoma.network"
    client = TargetClient("https://user:secret@host.example/v1", None)
    assert client.public_base_url == "https://host.example"


@pytest.mark.slow  # over a second: the quick loop stays within two minutes
def test_provider_state_at_preflight_exits_3(
    tmp_path: Path, server: Callable[..., Any], run_against: Callable[..., Any]
) -> None:
    with server(faults={"payment_required"}) as url:
        proc, data = run_against(url)
    assert proc.returncode == 3
    assert "FIAT_PAYMENTS_ONLY" in proc.stderr or "402" in proc.stderr
    assert data["exit_code"] == 3 and data["results"] == []


@pytest.mark.slow  # over a second: the quick loop stays within two minutes
def test_wrong_key_at_preflight_exits_3(tmp_path: Path, server: Callable[..., Any]) -> None:
    with server() as url:
        proc = run_cli(
            "run", "--base-url", url, "--api-key", "sk-not-the-key", "--model", MODEL, "--report-dir", str(tmp_path)
        )
    assert proc.returncode == 3 and "401" in proc.stderr
    assert summary(tmp_path)["exit_code"] == 3


@pytest.mark.slow  # over a second: the quick loop stays within two minutes
def test_three_consecutive_infrastructure_errors_stop_the_run(
    server: Callable[..., Any], run_against: Callable[..., Any]
) -> None:
    with server(faults={"unavailable_after_preflight"}) as url:
        proc, data = run_against(url, "--skip", "property.*")
    assert proc.returncode == 3
    assert data["totals"]["errors"] == 3 and data["totals"]["failed"] == 0
    assert "consecutive infrastructure errors" in data["stopped"]
    # the preflight, the control of the status limit (503, tried three times: the target's trouble, not a refusal of
    # the limit), then three requests tried three times each, and what was already on its way when the third was
    # judged (at most the default concurrency less that one), also tried three times
    assert data["totals"]["requests"] <= 1 + 3 + 3 * (3 + DEFAULT_CONCURRENCY - 1)
    assert "refuses a completion limit" not in proc.stderr


def test_a_connection_closed_before_any_answer_is_retried_once() -> None:
    calls: list[int] = []

    def answer(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        if len(calls) == 1:
            raise httpx.RemoteProtocolError("Server disconnected without sending a response.", request=request)
        return httpx.Response(200, json={"usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}})

    client = TargetClient("http://target.invalid", KEY, transport=httpx.MockTransport(answer))
    exchange = client.chat({"model": "m", "messages": []})
    assert exchange.status == 200 and exchange.error is None and len(calls) == 2

    def always_reset(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        raise httpx.ReadError("Connection reset by peer", request=request)

    calls.clear()
    client = TargetClient("http://target.invalid", KEY, transport=httpx.MockTransport(always_reset))
    exchange = client.chat({"model": "m", "messages": []})
    assert exchange.status is None and exchange.error and "reset" in exchange.error and len(calls) == 2


def test_a_stream_is_read_to_its_bound_then_closed() -> None:
    from conformance.transport.client import MAX_STREAM_BYTES

    event = b'data: {"id": "x", "choices": []}\n\n'

    def endless(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=event * 100_000)

    client = TargetClient("http://target.invalid", KEY, transport=httpx.MockTransport(endless))
    exchange = client.chat({"model": "m", "messages": [], "stream": True})
    assert exchange.truncated and "not finished" in exchange.truncated
    assert len(exchange.text) <= MAX_STREAM_BYTES + 65_536 and 0 < len(exchange.events) < 1000
