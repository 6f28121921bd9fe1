"""Attribution: a generated request's finding is reproduced on the minimal request before it is reported under a
field (docs/verdicts.md rule 8), a server error only counts when an identical repeat agrees (rule 10), and the number of
extra requests stays within its bounds."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from conftest import KEY, MODEL

from conformance.checks import Facts
from conformance.checks.requests import STATUS_LIMIT
from conformance.contract import load_contract
from conformance.driver.attribution import Attributor, completion_ceiling
from conformance.reference import ServerConfig, in_process
from conformance.transport import TargetClient

BASE = {"model": MODEL, "messages": [{"role": "user", "content": "Say hello."}], "max_completion_tokens": 4}
MANY = {
    "temperature": 0.7,
    "top_p": 0.9,
    "stop": ["END"],
    "presence_penalty": 0.5,
    "user": "someone",
    "seed": 3,
    "logit_bias": {"1000": 5},
    "parallel_tool_calls": True,
}


@contextmanager
def attributor(*faults: str, **budget: int) -> Iterator[tuple[Attributor, TargetClient]]:
    facts = Facts(load_contract(), MODEL, 7)
    with in_process(ServerConfig(api_key=KEY, faults=frozenset(faults))) as transport:
        client = TargetClient("http://reference.test", KEY, transport=transport)
        yield Attributor(facts, client, **budget), client


def test_a_multi_field_body_against_a_one_field_fault() -> None:
    with attributor("top_p_null_500") as (attr, client):
        body = {**BASE, **MANY, "top_p": None}
        assert client.chat(body).status == 500
        found = attr.attribute("server_error", body, suspects=["temperature"])
    assert found.fields == ("top_p",)
    assert found.repeat is not None and found.repeat.status == 500  # the identical repeat agreed
    assert found.minimal is not None and found.minimal.request_body["top_p"] is None
    assert set(found.minimal.request_body) <= {"model", "messages", "max_completion_tokens", "top_p"}


def test_a_fault_that_needs_two_fields_is_reported_under_both() -> None:
    with attributor("n_with_stream_500") as (attr, _):
        body = {**BASE, **MANY, "n": 2, "stream": True}
        found = attr.attribute("server_error", body, suspects=["n"])
    assert found.fields == ("n", "stream") and found.name == "n+stream"


def test_a_cause_found_before_costs_one_request() -> None:
    with attributor("top_p_null_500") as (attr, _):
        attr.attribute("server_error", {**BASE, **MANY, "top_p": None}, suspects=[])
        spent = attr.spent
        found = attr.attribute("server_error", {**BASE, "top_p": None, "seed": 9, "user": "x"}, suspects=["seed"])
    assert found.fields == ("top_p",) and attr.spent - spent == 1


@pytest.mark.parametrize("per_finding", [2, 4])
def test_the_bound_on_extra_requests_holds(per_finding: int) -> None:
    with attributor("n_with_stream_500", per_finding=per_finding, per_run=5) as (attr, client):
        before = client.usage.requests
        found = attr.attribute("server_error", {**BASE, **MANY, "n": 2, "stream": True}, suspects=[])
        assert client.usage.requests - before == found.requests <= per_finding
        assert found.note  # it says the budget was what stopped it
        attr.attribute("server_error", {**BASE, **MANY, "n": 2, "stream": True, "seed": 4}, suspects=[])
    assert attr.spent <= 5


def test_a_500_that_does_not_repeat_is_not_attributed() -> None:
    with attributor("flaky_500") as (attr, client):
        body = {**BASE, "seed": 11}
        assert client.chat(body).status == 500
        found = attr.attribute("server_error", body, suspects=["seed"])
    assert found.fields is None and "not reproducible" in found.note
    assert found.repeat is not None and found.repeat.status == 200


def test_an_accepted_invalid_value_is_narrowed_to_its_field() -> None:
    with attributor("range_unchecked:temperature") as (attr, _):
        found = attr.attribute("accepted_invalid", {**BASE, **MANY, "temperature": 7}, suspects=["top_p"])
    assert found.fields == ("temperature",)


def test_an_invalid_body_is_narrowed_at_its_own_status_limit() -> None:
    """A negative-mode body (an invalid one, sent at the status limit and one choice) is narrowed at that limit:
    its limit is no change to narrow over, and no body tried asks for more than it did."""
    sent = {**BASE, "max_completion_tokens": STATUS_LIMIT, **MANY, "temperature": 7}
    with attributor("range_unchecked:temperature") as (attr, client):
        assert "max_completion_tokens" not in attr.changes(sent, status_only=True)
        before = client.usage.requests
        found = attr.attribute("accepted_invalid", sent, suspects=[], status_only=True)
        assert client.usage.requests - before == found.requests
    assert found.fields == ("temperature",)
    assert found.minimal is not None and found.minimal.request_body["max_completion_tokens"] == STATUS_LIMIT
    assert found.minimal.request_body.get("n", 1) == 1


def test_a_5xx_of_a_valid_body_is_narrowed_at_the_limit_it_was_sent_with() -> None:
    """A server error that needs more than one token of output (here: `stop` with a limit of 2 or more) is narrowed
    at the valid body's own limit, and blamed on its field."""

    def answer(request: httpx.Request) -> httpx.Response:
        sent = json.loads(request.content)
        if "stop" in sent and completion_ceiling({**sent, "n": 1}) >= 2:
            return httpx.Response(500, json={"error": {"message": "boom"}})
        return httpx.Response(200, json={"id": "x", "choices": []})

    client = TargetClient("http://t.test", KEY, transport=httpx.MockTransport(answer))
    attr = Attributor(Facts(load_contract(), MODEL, 7), client)
    found = attr.attribute("server_error", {**BASE, **MANY}, suspects=["temperature"])
    assert found.fields == ("stop",) and not found.note, found


def test_the_bound_on_completion_tokens_holds() -> None:
    """Each answered attribution request counts its completion ceiling, counted here at the server; one that would
    pass the run's allowance is not sent (a field under test keeps its value: `n` 2 costs 2 choices), and a finding
    the allowance leaves unnarrowed is not attributed (no field guessed)."""
    answered: list[int] = []
    facts = Facts(load_contract(), MODEL, 7)
    with in_process(ServerConfig(api_key=KEY, faults=frozenset({"n_with_stream_500"}))) as inner:

        def handle(request: httpx.Request) -> httpx.Response:
            answer = inner.handle_request(request)
            if answer.status_code == 200:
                answered.append(completion_ceiling(json.loads(request.content)))
            return answer

        client = TargetClient("http://reference.test", KEY, transport=httpx.MockTransport(handle))
        attr = Attributor(facts, client, per_run_tokens=8)
        found = attr.attribute("server_error", {**BASE, **MANY, "n": 2, "stream": True}, suspects=[])
        assert found.spent and found.fields is None  # its repeat (a 500) sent, the narrowing cut short
        attr.attribute("server_error", {**BASE, **MANY, "n": 2, "stream": True, "seed": 4}, suspects=[])
    assert answered and sum(answered) <= 8


def test_a_finding_that_does_not_reproduce_is_warned_under_no_guessed_field() -> None:
    from conformance.checks.properties import Attribution, request_finding
    from conformance.records import Exchange, Outcome

    facts = Facts(load_contract(), MODEL, 7)
    crashed = Exchange("POST", "http://t", {}, {**BASE, **MANY}, status=500, text="{}")
    repeat = Exchange("POST", "http://t", {}, {**BASE, **MANY}, status=200, text="{}")
    found = Attribution(None, repeat=repeat, note="not reproducible: an identical repeat got HTTP 200")
    finding = request_finding(facts, "server_error", crashed, found, "fuzzing", None)
    assert finding.outcome is Outcome.WARNED and finding.field == "body"
    assert "not reproducible" in finding.message and finding.exchanges == (crashed, repeat)
