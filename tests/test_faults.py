"""Every check proven twice: it passes on the reference server, and fails with its fault injected.

The faults are a registry (`conformance.reference.faults`) in which each fault declares, per profile, variant
and run arguments, the exact result ids it must turn failed, warned and unsupported. This file runs every
proof (in process: the runner called as a function, the reference app behind an httpx transport), and fails
when a planned check is proven by no fault.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import httpx
import pytest
from conftest import KEY, MODEL, outcome_ids, run_in_process

from conformance.checks import plan
from conformance.contract import PROFILES, load_contract
from conformance.reference import FAULTS, PARAMETRIC, Proof, ServerConfig, every_proof, in_process
from conformance.reference.faults import HAND_WRITTEN, SDK_NULL_CONTENT, RunArgs

PROOFS = [(name, dataclasses.replace(p, faults=p.faults or (name,))) for name, p in every_proof()]
# planned ids no server behaviour can break, each with its reason (aim: none)
UNPROVABLE: dict[str, str] = {}


def proof_id(item: tuple[str, Proof]) -> str:
    _, proof = item
    return f"{','.join(proof.faults)}-{proof.profile}-{proof.variant}-{'_'.join(proof.args.argv())}"


def check(data: dict[str, object], proof: Proof) -> None:
    got = {o: outcome_ids(data, o) for o in ("failed", "warned", "unsupported", "error")}  # type: ignore[arg-type]
    want = {"failed": proof.failed, "warned": proof.warned, "unsupported": proof.unsupported, "error": set()}
    assert got == want


def is_slow(proof: Proof) -> bool:
    """Proofs that run the property layer (generation takes seconds) or several seeds."""
    return len(proof.seeds) > 1 or any(only.startswith("property.") for only in proof.args.only)


@pytest.mark.parametrize(
    "item",
    [pytest.param(item, marks=[pytest.mark.slow] if is_slow(item[1]) else []) for item in PROOFS],
    ids=[proof_id(item) for item in PROOFS],
)
def test_fault_is_proven(item: tuple[str, Proof], tmp_path: Path) -> None:
    """Every proof, with 8 requests in flight (the fault matrix runs at N = 8), but for faults that act on the
    order in which requests arrive: those run one request at a time (ORDERED)."""
    _, proof = item
    concurrency = 1 if set(proof.faults) & ORDERED else 8
    for seed in proof.seeds:
        code, data = run_in_process(
            tmp_path,
            proof.faults,
            profile=proof.profile,
            variant=proof.variant,
            args=proof.args,
            seed=seed,
            concurrency=concurrency,
        )
        check(data, proof)
        assert code == (1 if proof.failed else 0)


# faults that act on the order of arrival, proven one request at a time: which request a connection reset hits
# (`reset_after_500`: the next request on a connection that carried a 500) depends on what else is in flight on
# which connection. (`flaky_500` and `unavailable_after_preflight` also count requests, and hold at 8 in flight.)
ORDERED = frozenset({"reset_after_500"})


# what the strict variant refuses of valid generated requests: `warned` (rule 3), each for its reason
# every answer parses in the openai SDK; atoma-sdk cannot read the tool-call answer (content null), by design. The
# strict variant refuses what the contract leaves open (`messages: []`, a limit of 0, `n: 0`): a refusal is a valid
# answer there (docs/verdicts.md rule 3), so it is no warning either
EXPECTED_WARNED = {(profile, variant): {SDK_NULL_CONTENT} for profile in PROFILES for variant in ("lenient", "strict")}
# nothing rate-limits a run against the clean reference: `ratelimit.envelope`, judged on the 429s a run meets, has
# none to judge (the `rate_limited_bare` fault fails it; the probe meets a good 429 in tests/test_load.py)
EXPECTED_SKIPPED = {"ratelimit.envelope"}


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["lenient", "strict"])
@pytest.mark.parametrize("profile", PROFILES)
def test_reference_server_passes_everything(profile: str, variant: str, tmp_path: Path) -> None:
    """Both variants, both profiles, the property layer included: zero failed, and exactly the warnings listed
    (the strict variant's refusals of what the contract leaves open pass: rule 3). A full default run stays
    cheap."""
    code, data = run_in_process(tmp_path, profile=profile, variant=variant)
    assert code == 0
    assert outcome_ids(data, "failed") == outcome_ids(data, "error") == outcome_ids(data, "unsupported") == set()
    assert outcome_ids(data, "warned") == EXPECTED_WARNED[(profile, variant)]
    assert outcome_ids(data, "skipped") == EXPECTED_SKIPPED
    assert data["totals"]["passed"] + data["totals"]["warned"] + len(EXPECTED_SKIPPED) == len(data["results"]) > 90
    assert data["totals"]["requests"] <= 400


def test_every_planned_check_is_proven_by_a_fault() -> None:
    """The reverse direction: an id planned in either profile is made failed, warned or unsupported by a fault."""
    planned = {c.id for profile in PROFILES for c in plan(load_contract(None, profile))}
    proven = {rid for _, proof in PROOFS for rid in proof.ids}
    unproven = planned - proven - set(UNPROVABLE)
    assert not unproven, f"planned ids no fault proves: {sorted(unproven)}"
    assert set(UNPROVABLE) <= planned


# faults that prove behaviour outside the check matrix, and where
PROVEN_ELSEWHERE = {
    "payment_required": "a provider state at the preflight exits 3 (tests/test_client.py)",
    "unavailable_after_preflight": "3 consecutive infrastructure errors stop the run (tests/test_client.py)",
    "n_with_stream_500": "a crash needing two fields is attributed to both (tests/test_attribution.py)",
    "rate_limited_after_20": "the rate-limit probe meets its 429 and judges it (tests/test_load.py)",
}


def test_every_fault_proves_something() -> None:
    for fault in FAULTS.values():
        assert fault.proves or fault.name in PROVEN_ELSEWHERE, fault.name
        if fault.proves and not any(p.ids for p in fault.proves):
            assert fault.probe is not None, f"{fault.name} should change nothing: it needs a probe"
    assert all(family.proves for family in PARAMETRIC.values())


@pytest.mark.parametrize("name", [f.name for f in FAULTS.values() if f.probe])
def test_a_fault_that_changes_nothing_was_applied(name: str) -> None:
    """A must-not-fail fault is shown to act: its probe's mark is in the faulty server's answer only."""
    probe = FAULTS[name].probe
    assert probe is not None
    seen = {}
    for faults in (frozenset(), frozenset({name})):
        with (
            in_process(ServerConfig(api_key=KEY, faults=faults)) as transport,
            httpx.Client(transport=transport) as client,
        ):
            answer = client.post(
                "http://reference.test/v1/chat/completions",
                json={"model": MODEL, **probe.body},
                headers={"authorization": f"Bearer {KEY}"},
            )
            assert answer.status_code == 200 or faults  # the clean server serves the probe
            seen[bool(faults)] = probe.shows in answer.text
    assert seen == {False: False, True: True}


@pytest.mark.parametrize("variant", ["lenient", "strict"])
@pytest.mark.parametrize("profile", PROFILES)
def test_reference_server_passes_every_hand_written_check(profile: str, variant: str, tmp_path: Path) -> None:
    code, data = run_in_process(tmp_path, profile=profile, variant=variant, args=HAND_WRITTEN)
    assert code == 0
    assert outcome_ids(data, "skipped") == EXPECTED_SKIPPED
    assert data["totals"]["passed"] + len(EXPECTED_SKIPPED) == len(data["results"]) > 90


def test_chat_500_skips_the_rest(tmp_path: Path) -> None:
    code, data = run_in_process(tmp_path, ("chat_500",), args=HAND_WRITTEN)
    skipped = outcome_ids(data, "skipped")
    assert code == 1
    assert "request.temperature.above_maximum" in skipped and "auth.missing_token" in skipped
    assert data["totals"]["requests"] == 2  # only the preflight was sent, and its identical repeat (rule 10)


def test_a_stream_past_its_bound_fails_its_end_and_the_rest_is_judged(tmp_path: Path) -> None:
    """Issue 16: a stream still open after 2 x n x (limit + 4) + 8 data events never ends: `stream.done` fails (and
    finish_reason, SHOULD in the atoma profile), with the counts; what needs its end is skipped; the rest judged."""
    code, data = run_in_process(tmp_path, ("stream_endless",), args=RunArgs(only=("stream.*",)))
    outcomes = {r["id"]: (r["outcome"], r["message"]) for r in data["results"]}
    assert code == 1
    assert (
        outcomes["stream.done"][0] == "failed"
        and "data events, more than 2 x n x (limit + 4) + 8 = 48" in outcomes["stream.done"][1]
    )
    assert outcomes["stream.finish_reason"][0] == "warned"
    for rid in ("stream.usage_chunk", "stream.content_matches"):
        assert outcomes[rid][0] == "skipped" and "still open after" in outcomes[rid][1], rid
    for rid in ("stream.content_type", "stream.data_json", "stream.chunk_schema", "stream.single_id"):
        assert outcomes[rid][0] == "passed", rid


def test_max_tokens_caps_the_run_when_max_completion_tokens_is_ignored(tmp_path: Path) -> None:
    code, data = run_in_process(tmp_path, ("ignore_completion_limit",), args=HAND_WRITTEN)
    outcomes = {r["id"]: (r["outcome"], r["message"]) for r in data["results"]}
    assert code == 1 and outcomes["response.minimal.completion_limit"][0] == "failed"
    assert outcomes["semantic.stop.truncates"][0] == outcomes["stream.usage_chunk"][0] == "passed"
    skipped = outcomes["semantic.max_completion_tokens.usage"]
    assert skipped[0] == "skipped" and "ignores max_completion_tokens" in skipped[1]
    assert data["totals"]["largest_completion_limit"] <= 64


def test_when_no_limit_is_honoured_costly_checks_are_skipped(tmp_path: Path) -> None:
    faults = ("ignore_completion_limit", "ignore_max_tokens")
    code, data = run_in_process(tmp_path, faults, args=HAND_WRITTEN)
    outcomes = {r["id"]: r["outcome"] for r in data["results"]}
    assert code == 1 and outcomes["response.minimal.completion_limit"] == "failed"
    assert outcomes["semantic.stop.truncates"] == outcomes["semantic.max_tokens.usage"] == "skipped"
    assert outcomes["stream.usage_chunk"] == "passed"  # read to its bound, whatever the limit


def test_reset_after_500_acts_on_the_wire_and_the_client_retries_once() -> None:
    """The wire fault really resets the next request on a connection that carried a 500 (a plain httpx client
    fails), and the suite's client answers both requests by retrying once on a new connection."""
    from conformance.reference import running_server
    from conformance.transport import TargetClient

    bad = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "temperature": 5}
    faults = frozenset({"reset_after_500", "range_500:temperature"})
    with running_server(ServerConfig(api_key=KEY, faults=faults)) as url:
        headers = {"authorization": f"Bearer {KEY}"}
        with httpx.Client(base_url=url, headers=headers) as plain:
            assert plain.post("/v1/chat/completions", json=bad).status_code == 500
            with pytest.raises(httpx.TransportError):
                plain.post("/v1/chat/completions", json=bad)
        client = TargetClient(url, KEY, timeout=10)
        assert [client.chat(bad).status for _ in range(3)] == [500, 500, 500]
