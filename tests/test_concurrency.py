"""Issue 18: the same seed gives the same requests and the same results, in the same order, whatever the number
of requests in flight (docs/verdicts.md rule 13)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from conftest import run_in_process

from conformance.reference.faults import RunArgs
from conformance.transport import RETRY_BUDGET

# what differs between any two runs of a server, whatever the concurrency: the ids and times it makes up
VOLATILE = re.compile(r"chatcmpl-[\w-]+|call_[\w-]+|\"created\": ?\d+|created \d+|\b17\d{8}\b")


def _recorded(data: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [
        (
            r["id"],
            r["outcome"],
            r["field"],
            r["level"],
            VOLATILE.sub("*", r["message"]),
            VOLATILE.sub("*", r["reproduce"] or ""),
            r.get("cause"),
        )
        for r in data["results"]
    ]


@pytest.mark.slow
@pytest.mark.parametrize("faults", [(), ("created_string",), ("range_500:temperature",), ("stream_no_done",),
                                    ("top_p_null_500", "tool_call_id_missing_500")])  # fmt: skip
def test_the_recorded_results_are_identical_at_one_and_eight_in_flight(faults: tuple[str, ...], tmp_path: Path) -> None:
    code_1, one = run_in_process(tmp_path, faults, concurrency=1)
    code_8, eight = run_in_process(tmp_path, faults, concurrency=8)
    assert code_1 == code_8
    assert _recorded(one) == _recorded(eight)
    assert one["totals"]["requests"] == eight["totals"]["requests"]


@pytest.mark.slow  # over a second: the quick loop stays within two minutes
def test_max_requests_stays_an_exact_cap_and_cuts_the_same_checks(tmp_path: Path) -> None:
    """--max-requests cuts in plan order: the same results are skipped at 1 and 8 in flight, and no more requests
    are sent than allowed."""
    runs = [run_in_process(tmp_path, (), concurrency=n, max_requests=40) for n in (1, 8)]
    for code, data in runs:
        assert code == 3 and data["totals"]["requests"] <= 40
    assert _recorded(runs[0][1]) == _recorded(runs[1][1])


RANGE_500 = ("range_500:temperature", "range_500:top_p", "range_500:presence_penalty", "range_500:frequency_penalty")


@pytest.mark.slow
@pytest.mark.parametrize("cap", [12, 25, 38])
def test_a_cap_among_5xx_repeats_cuts_the_same_checks(cap: int, tmp_path: Path) -> None:
    """Server errors (each repeated once, rule 10) where --max-requests runs out: a request is sent ahead only while
    the budget also holds a repeat for every one not judged yet, so the same requests and repeats are sent, and the
    same results recorded, at 1 and 8 in flight."""
    args = RunArgs(only=("response.minimal.*", "request.*"))
    runs = [run_in_process(tmp_path, RANGE_500, args=args, concurrency=n, max_requests=cap) for n in (1, 8, 8)]
    for code, data in runs:
        assert code in (1, 3) and data["totals"]["requests"] <= cap
    assert any(r["outcome"] == "failed" for r in runs[0][1]["results"])  # 5xx met and repeated within the cap
    assert _recorded(runs[0][1]) == _recorded(runs[1][1]) == _recorded(runs[2][1])
    assert runs[0][1]["totals"] == runs[1][1]["totals"] == runs[2][1]["totals"]


@pytest.mark.slow
def test_more_5xx_than_the_retry_budget_repeats_the_same_ones(tmp_path: Path) -> None:
    """More server errors than the run's retry budget: the ones repeated (confirmed, failed) and the ones left
    unrepeated (warned) are the same at 1 and 8 in flight."""
    fields = ("temperature", "presence_penalty", "frequency_penalty", "top_logprobs", "logit_bias")
    others = ("stop_500", "tools_malformed_500", "messages_missing_500", "malformed_json_500", "response_format_500")
    faults = tuple(f"range_500:{f}" for f in fields) + others + ("empty_messages_500", "content_parts_500")
    args = RunArgs(only=("response.minimal.*", "request.*"))
    runs = [run_in_process(tmp_path, faults, args=args, concurrency=n) for n in (1, 8, 8)]
    assert runs[0][1]["totals"]["retries"] == RETRY_BUDGET  # the budget is spent: some 5xx go unrepeated
    assert any("not confirmed" in r["message"] or r["outcome"] == "warned" for r in runs[0][1]["results"])
    assert _recorded(runs[0][1]) == _recorded(runs[1][1]) == _recorded(runs[2][1])
