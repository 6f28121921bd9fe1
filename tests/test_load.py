"""Issue 18 end to end: the reference server serves requests in flight together concurrently (in process and on a
socket), a batch is sent together whatever the run's concurrency, and the opt-in rate-limit probe meets a 429 and
judges it, within its budget, and never in a default run."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import httpx
import pytest
from conftest import KEY, MODEL, outcome_ids, run_in_process

from conformance.checks import Request
from conformance.driver.load import together
from conformance.reference import ServerConfig, in_process, running_server
from conformance.reference.faults import RunArgs
from conformance.reference.faults.load import RATE_LIMIT_AFTER
from conformance.transport import TargetClient

RATELIMIT = RunArgs(only=("ratelimit.*",))


@contextmanager
def in_process_client(config: ServerConfig) -> Iterator[TargetClient]:
    with in_process(config) as transport:
        client = TargetClient("http://reference.test", KEY, transport=transport)
        yield client
        client.close()


@contextmanager
def socket_client(config: ServerConfig) -> Iterator[TargetClient]:
    with running_server(config) as url:
        client = TargetClient(url, KEY, timeout=30)
        yield client
        client.close()


@pytest.mark.parametrize("serving", [in_process_client, socket_client], ids=["in-process", "socket"])
def test_the_reference_serves_requests_in_flight_together(
    serving: type[AbstractContextManager[TargetClient]],
) -> None:
    """With a holding fault, five requests sent together are in flight together: the swap fault hands each (but
    the first) the previous one's answer, which only requests served concurrently can show."""
    config = ServerConfig(api_key=KEY, faults=frozenset({"answers_swapped"}))
    prompts = [f"Name thing number {i}." for i in range(5)]
    with serving(config) as client:
        requests = [Request({"model": MODEL, "messages": [{"role": "user", "content": p}]}) for p in prompts]
        exchanges = together(client, requests)
    ids = [e.json["id"] for e in exchanges]
    assert all(e.status == 200 for e in exchanges)
    assert len(set(ids)) < len(ids)  # two requests got the same answer: they were in flight together


def test_a_batch_does_not_depend_on_the_runs_concurrency(tmp_path: Path) -> None:
    """With one request in flight allowed, the batch is still sent together: the swap fault is still caught."""
    args = RunArgs(only=("load.no_cross_talk",))
    code, data = run_in_process(tmp_path, ("answers_swapped",), args=args, concurrency=1)
    assert code == 1 and outcome_ids(data, "failed") == {"load.no_cross_talk"}


def test_the_batch_is_sent_at_once_or_not_at_all(tmp_path: Path) -> None:
    """A budget that cannot pay for the whole batch sends none of it: the check is skipped, the run incomplete."""
    code, data = run_in_process(tmp_path, args=RunArgs(only=("load.no_cross_talk",)), max_requests=3)
    assert code == 3 and data["totals"]["requests"] == 2  # the preflight and `n` sent alone, none of the batch
    (result,) = data["results"]
    assert result["outcome"] == "skipped" and "--max-requests 3" in result["message"]


def test_the_probe_meets_a_429_and_judges_it(tmp_path: Path) -> None:
    code, data = run_in_process(
        tmp_path, ("rate_limited_after_20",), args=RATELIMIT, probe_rate_limit=200, concurrency=2
    )
    outcomes = {r["id"]: (r["outcome"], r["message"]) for r in data["results"]}
    assert code == 0 and outcomes["ratelimit.envelope"][0] == "passed", outcomes
    # the preflight (chat request 1), then the probe in rounds of two up to the round with the first 429 (chat
    # request 21): exactly that, however fast each answer comes
    assert data["totals"]["requests"] == RATE_LIMIT_AFTER + 1


def test_the_probe_stays_within_its_budget(tmp_path: Path) -> None:
    code, data = run_in_process(tmp_path, ("rate_limited_after_20",), args=RATELIMIT, probe_rate_limit=5)
    outcomes = {r["id"]: (r["outcome"], r["message"]) for r in data["results"]}
    assert code == 0 and data["totals"]["requests"] == 1 + 5
    assert outcomes["ratelimit.envelope"][0] == "skipped" and "no 429 met" in outcomes["ratelimit.envelope"][1]


def test_the_probe_judges_a_bad_429(tmp_path: Path) -> None:
    """A 429 without the envelope or Retry-After, met by the probe (which does not retry it): failed."""
    code, data = run_in_process(tmp_path, ("rate_limited_bare",), args=RATELIMIT, probe_rate_limit=10, concurrency=4)
    assert code == 1 and outcome_ids(data, "failed") == {"ratelimit.envelope"}
    # the preflight, then the probe's first round of four, which holds the third chat request's 429
    assert data["totals"]["requests"] == 1 + 4


def test_no_probe_in_a_default_run(tmp_path: Path) -> None:
    code, data = run_in_process(tmp_path, ("rate_limited_after_20",), args=RATELIMIT)
    assert code == 0 and data["totals"]["requests"] == 1
    assert outcome_ids(data, "skipped") == {"ratelimit.envelope"}


@pytest.mark.slow  # over a second: the quick loop stays within two minutes
def test_a_429_met_during_the_run_never_changes_a_verdict(tmp_path: Path) -> None:
    """The bare 429 is retried as before: every other check reaches the verdict it reaches on the clean server."""
    args = RunArgs(only=("response.*", "semantic.seed.*", "ratelimit.*"))
    _, clean = run_in_process(tmp_path, args=args)
    _, limited = run_in_process(tmp_path, ("rate_limited_bare",), args=args)
    verdicts = {r["id"]: r["outcome"] for r in clean["results"]}
    verdicts["ratelimit.envelope"] = "failed"
    assert {r["id"]: r["outcome"] for r in limited["results"]} == verdicts
    assert limited["totals"]["requests"] == clean["totals"]["requests"] + 1


def test_the_client_is_safe_to_share_between_threads() -> None:
    """Requests, tokens and the budget are counted exactly when many threads send at once."""
    answers = threading.Lock()
    seen: list[int] = []

    def answer(request: httpx.Request) -> httpx.Response:
        with answers:
            seen.append(1)
        return httpx.Response(200, json={"usage": {"prompt_tokens": 2, "completion_tokens": 1, "total_tokens": 3}})

    client = TargetClient("http://target.invalid", KEY, max_requests=40, concurrency=4)
    client._http = httpx.Client(transport=httpx.MockTransport(answer))

    def send() -> None:
        for _ in range(10):
            with client.slot():
                try:
                    client.chat({"model": "m", "messages": [], "max_tokens": 3})
                except Exception:
                    return

    threads = [threading.Thread(target=send) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(seen) == client.usage.requests == 40
    assert (client.usage.prompt_tokens, client.usage.completion_tokens) == (80, 40)
