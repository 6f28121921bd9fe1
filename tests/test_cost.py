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

from conformance.contract import PROFILES, load_contract
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
    numeric = [[v for v in pair if isinstance(v, int) and not isinstance(v, bool)] for pair in limits]
    assert all(numeric), [b for b, n in zip(objects, numeric, strict=True) if not n][:3]
    assert max(min(n) for n in numeric) <= MOST_TOKENS
    many = [b for b in objects if isinstance(b.get("n"), int | float) and b["n"] > MAX_N]
    assert all(b.get("max_completion_tokens") == 1 for b in many)
    assert len(many) == (len(N_RANGE) if profile == "openai" else 0)
    assert data["totals"]["requests"] == len(bodies) <= 400
    assert data["totals"]["largest_completion_limit"] <= MOST_TOKENS
