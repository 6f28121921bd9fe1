"""`conformance plan`: a run's ceilings before any traffic bound what it uses, on the clean reference and under
faults, in both profiles, and stay within 1.5 x what a clean reference run uses (requests; completion tokens within
2.5 x: what a conforming target never spends is in them, README "What a run may cost"); the retry budget that
makes the ceiling statable keeps verdicts right (a 5xx it leaves unrepeated is warned, never failed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import outcome_ids, run_in_process

from conformance.cli import main
from conformance.contract import PROFILES, load_contract
from conformance.driver.attribution import PER_RUN
from conformance.driver.plan import completion_ceiling, plan_run
from conformance.reference.faults import RunArgs
from conformance.transport import EXTRA_BUDGET, RETRY_BUDGET

RANGE_500 = tuple(f"range_500:{f}" for f in ("frequency_penalty", "presence_penalty", "logit_bias", "temperature"))
# what costs more than a clean run: 5xx repeats and attribution, retries, the max_tokens fallback, a 5xx the property
# layer attributes, streams read to their bound
FAULTS: list[tuple[str, ...]] = [
    (),
    (*RANGE_500, "range_500:top_logprobs"),
    ("unavailable_after_preflight",),
    ("ignore_completion_limit",),
    ("top_p_null_500", "assistant_message_500"),
    ("stream_endless",),
    # invalid values served: the 1-token ceilings of refused requests spent, attribution answered (its token budget)
    tuple(f"range_unchecked:{f}" for f in ("temperature", "top_p", "presence_penalty", "frequency_penalty")),
    # a 1-token limit refused: the run's control revises the plan, status-only requests ask for more
    ("one_token_refused", "range_unchecked:temperature"),
]


def used(data: dict[str, Any]) -> tuple[int, int]:
    return data["totals"]["requests"], data["totals"]["completion_tokens"]


@pytest.mark.slow
@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("faults", FAULTS, ids=lambda f: "+".join(f) or "clean")
def test_the_plan_bounds_a_full_run(tmp_path: Path, profile: str, faults: tuple[str, ...]) -> None:
    _, data = run_in_process(tmp_path, faults, profile=profile)
    plan = data["plan"]
    requests, tokens = used(data)
    assert requests <= plan["requests"] and tokens <= plan["completion_tokens"], (requests, tokens, plan)
    assert data["totals"]["retries"] <= RETRY_BUDGET
    if not faults:  # the ceiling is not a wild guess: within 1.5 x what the clean reference uses
        assert plan["requests"] <= 1.5 * requests, (plan["requests"], requests)
        assert plan["completion_tokens"] <= 2.5 * tokens, (plan["completion_tokens"], tokens)
        assert data["totals"]["retries"] == 0


def test_the_printed_plan_is_the_run_s(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = RunArgs(only=("response.*", "request.temperature.*", "stream.*"))
    _, data = run_in_process(tmp_path, ("range_500:temperature",), args=args)
    capsys.readouterr()
    code = main(["plan", "--only", "response.*", "--only", "request.temperature.*", "--only", "stream.*"])
    lines = capsys.readouterr().out.splitlines()
    plan = data["plan"]
    assert code == 0 and lines[-1] == (
        f"total: at most {plan['requests']} requests, at most {plan['completion_tokens']} completion tokens"
    )
    assert plan["areas"]["property layer"]["requests"] == 0
    assert plan["areas"]["attribution and retries"]["requests"] == RETRY_BUDGET
    requests, tokens = used(data)
    assert requests <= plan["requests"] and tokens <= plan["completion_tokens"]
    assert data["totals"]["retries"] == 4  # each 5xx repeated once (rule 10)


def test_the_plan_follows_the_options() -> None:
    contract = load_contract(None, "atoma")
    full = plan_run(contract)
    names = [a.name for a in full.areas]
    assert names == ["hand-written", "clients", "load", "property layer", "attribution and retries"]
    # attribution and retries share one budget: a clean run needs none of it, a run rarely needs both at once
    assert max(PER_RUN, RETRY_BUDGET) < EXTRA_BUDGET < PER_RUN + RETRY_BUDGET
    assert full.area("attribution and retries").requests == EXTRA_BUDGET
    assert full.lines()[-1] == (
        f"total: at most {full.requests} requests, at most {full.completion_tokens} completion tokens"
    )
    fewer = plan_run(contract, max_examples=5)
    assert full.area("property layer").requests - fewer.area("property layer").requests == 2 * (20 - 5)
    alone = plan_run(contract, skip=["property.*"])
    assert alone.area("property layer").requests == 0
    assert alone.area("attribution and retries").requests == RETRY_BUDGET
    no_key = plan_run(contract, skip=["property.*"], api_key_given=False)
    assert no_key.area("hand-written").requests == alone.area("hand-written").requests - 3  # the three auth checks
    capped = plan_run(contract, max_requests=100)
    assert capped.requests == 100 and capped.completion_tokens < full.completion_tokens
    assert "--max-requests 100 caps the total" in "\n".join(capped.lines())
    preflight_only = plan_run(contract, only=["response.minimal.*"])
    assert preflight_only.area("hand-written").requests == 2  # the preflight and its max_tokens fallback
    # rule 9's exception, the openai profile's n range with a 1-token limit, costs n tokens
    assert completion_ceiling({"max_completion_tokens": 1, "n": 129}) == 129
    assert completion_ceiling({"max_tokens": 4, "max_completion_tokens": 2, "n": 2}) == 8
    assert completion_ceiling("not json") == completion_ceiling({"n": "x"}) == completion_ceiling({"n": True}) == 4
    # read as a lenient server reads them: a numeric string is its number, a fraction rounds up
    assert completion_ceiling({"n": "2"}) == completion_ceiling({"max_tokens": " 8 "}) == 8
    assert completion_ceiling({"max_tokens": 2.5}) == 3


def test_a_5xx_past_the_retry_budget_is_warned_not_failed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("conformance.runner.RETRY_BUDGET", 2)
    args = RunArgs(only=("request.temperature.*",))
    code, data = run_in_process(tmp_path, ("range_500:temperature",), args=args, concurrency=1)
    failed, warned = outcome_ids(data, "failed"), outcome_ids(data, "warned")
    assert code == 1 and len(failed) == 2 and len(warned) == 2  # four 5xx: two confirmed, two not repeated
    messages = [r["message"] for r in data["results"] if r["id"] in warned]
    assert all("not confirmed" in m and "budget of 2 retries and repeats is spent" in m for m in messages)
    assert data["totals"]["retries"] == 2


def test_the_control_is_planned_and_sent_for_the_same_checks() -> None:
    """The status limit's control goes with a selected check that sends a status-only request and is not skipped
    whatever the target answers: the wrong-key checks without a key send nothing, so neither does the control."""
    from conformance.checks import Facts, plan
    from conformance.driver import uses_status_limit

    contract = load_contract(None, "atoma")
    auth = [c for c in plan(contract) if c.id.startswith("auth.")]
    assert uses_status_limit(auth, Facts(contract))
    assert not uses_status_limit(auth, Facts(contract, api_key_given=False))
    keyless = plan_run(contract, only=["auth.*"], api_key_given=False)
    assert keyless.area("hand-written").requests == 2  # the preflight and its fallback: no control
    assert plan_run(contract, only=["auth.*"]).area("hand-written").requests == 2 + 1 + len(auth)
