"""Every request is cheap (docs/verdicts.md rule 9), counted at the reference server over a full default run."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import KEY, MODEL, summary

from conformance.checks import Facts
from conformance.checks.requests import STATUS_LIMIT
from conformance.contract import PROFILES, REQUEST_SCHEMA, load_contract
from conformance.driver.attribution import CAP, LIMIT_FIELDS, completion_ceiling, costly, ready
from conformance.driver.generation import prepare
from conformance.reference import ServerConfig, in_process
from conformance.runner import RunSettings, run

MOST_TOKENS = 64  # a check that needs a longer output asks for at most this many
MAX_N = 2
N_RANGE = {"request.n.at_maximum", "request.n.above_maximum"}  # the one named exception: n 128/129, 1 token


@contextmanager
def counting(profile: str, bodies: list[Any]) -> Iterator[httpx.BaseTransport]:
    config = ServerConfig(api_key=KEY, profile=profile, contract=load_contract(None, profile))
    with in_process(config) as inner:

        def handle(request: httpx.Request) -> httpx.Response:
            try:
                bodies.append(json.loads(request.content))
            except ValueError:
                bodies.append(None)  # a body that is not JSON: it asks for nothing
            return inner.handle_request(request)

        yield httpx.MockTransport(handle)


@pytest.mark.slow
@pytest.mark.parametrize("profile", PROFILES)
def test_a_full_default_run_is_cheap(profile: str, tmp_path: Path) -> None:
    bodies: list[Any] = []
    with counting(profile, bodies) as transport:
        settings = RunSettings(
            contract=load_contract(None, profile),
            base_url="http://reference.test",
            api_key=KEY,
            model=MODEL,
            report_dir=tmp_path,
            seed=7,
            progress=False,
            transport=transport,
        )
        assert run(settings) == 0
    data = summary(tmp_path)
    objects = [b for b in bodies if isinstance(b, dict)]
    limits = [[b.get(k) for k in ("max_tokens", "max_completion_tokens")] for b in objects]
    # a positive one: a limit of 0 or less may read as none at all (a proxy's `if max_tokens:`, Ollama's -1)
    numeric = [[v for v in pair if isinstance(v, int) and not isinstance(v, bool) and v > 0] for pair in limits]
    assert all(numeric), [b for b, n in zip(objects, numeric, strict=True) if not n][:3]
    assert max(min(n) for n in numeric) <= MOST_TOKENS
    many = [b for b in objects if isinstance(b.get("n"), int | float) and b["n"] > MAX_N]
    assert all(b.get("max_completion_tokens") == 1 for b in many)
    assert len(many) == (len(N_RANGE) if profile == "openai" else 0)
    assert data["totals"]["requests"] == len(bodies) <= 400
    assert data["totals"]["largest_completion_limit"] <= MOST_TOKENS
    # a request a conforming server refuses is judged by its status: one token, one choice, unless the broken
    # field is a completion limit or `n` (sent as broken, the other limit at one token)
    contract = load_contract(None, profile)
    invalid = [b for b in objects if not contract.is_valid(REQUEST_SCHEMA, b)]
    assert len(invalid) > 50
    for sent in invalid:
        broken = {v.pointer for v in contract.violations(REQUEST_SCHEMA, sent)}
        about_limits = any(f"/properties/{name}" in p for p in broken for name in LIMIT_FIELDS)
        about_n = any("/properties/n" in p for p in broken)
        limit = completion_ceiling({**sent, "n": 1})
        assert limit <= (CAP if about_limits else STATUS_LIMIT), (sent, broken)
        assert about_n or completion_ceiling(sent) == limit, (sent, broken)  # one choice


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("max_tokens", 5),
        ("max_tokens", 4.5),
        ("max_tokens", "5"),  # pydantic's lax mode, and many servers with it, read a numeric string as its number
        ("max_tokens", " 99999 "),
        ("max_tokens", " " * 400 + "99999"),
        ("max_tokens", "0" * 396 + "99999"),
        ("max_completion_tokens", "1e9"),
        ("max_completion_tokens", "inf"),
        ("max_completion_tokens", "NaN"),
        ("n", "3"),
        ("n", 2.5),
        ("n", 10**30),
    ],
)
def test_a_value_a_lenient_server_reads_as_a_costly_number_is_not_sent(field: str, value: Any) -> None:
    assert costly(field, value)
    contract = load_contract()
    sent = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], field: value}
    assert prepare(sent, "negative", Facts(contract, MODEL), set(), field) is None


def test_a_limit_of_zero_or_less_bounds_nothing_and_gets_the_other_beside_it() -> None:
    facts = Facts(load_contract(), MODEL)
    for value in (0, -1):
        for protected in (set(), {"max_completion_tokens"}):
            sent = ready(facts, {"model": MODEL, "max_completion_tokens": value}, protected)
            if value == 0 or protected:  # kept (a generated or tested value): the other limit beside it
                assert sent["max_completion_tokens"] == value and sent["max_tokens"] == CAP
    assert completion_ceiling({"max_tokens": 0}) == completion_ceiling({"max_tokens": -1}) == completion_ceiling({})


@pytest.mark.parametrize(
    ("field", "value"), [("max_tokens", 4), ("max_tokens", "4"), ("n", "2"), ("n", True), ("n", "x"), ("n", None)]
)
def test_a_value_within_the_caps_is_not_costly(field: str, value: Any) -> None:
    assert not costly(field, value)
