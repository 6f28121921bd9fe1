"""Issue 18: the same seed gives the same requests and the same results, in the same order, whatever the number
of requests in flight (docs/verdicts.md rule 13)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from conftest import run_in_process

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
