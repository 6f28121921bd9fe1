"""Issue 11: Allure done right, rendered offline with Allure 3 (npm `allure`, pinned in tests/integration/node):
two targets share one report without reading as retries, and each category holds the expected results."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from conftest import ROOT, run_in_process

from conformance.reference.faults import HAND_WRITTEN

ALLURE = ROOT / "tests" / "integration" / "node" / "node_modules" / ".bin" / "allure"
FAULTS = ("created_string", "range_500:temperature", "refuse:n")
EXPECTED = {
    "Schema violation": {"response.created", "response.minimal.schema"},
    "Server error on bad input": {f"request.temperature.{n}" for n in ("above_maximum", "below_minimum",
                                                                      "far_above_maximum", "far_below_minimum")},
    "Unsupported capability": {"request.n.accepted", "semantic.n.choices", "load.no_cross_talk"},
}  # fmt: skip


def leaves(nodes: dict[str, dict[str, object]], node_id: str) -> list[str]:
    node = nodes[node_id]
    if node["type"] == "tr":
        return [str(node["name"])]
    return [name for child in node.get("childrenIds", []) for name in leaves(nodes, str(child))]  # type: ignore[attr-defined]


@pytest.mark.slow
def test_two_targets_render_in_one_allure_report_with_their_categories(tmp_path: Path) -> None:
    if not ALLURE.exists():
        pytest.fail("Allure 3 is not installed: run `bash tests/integration/install.sh`")
    clean_code, clean = run_in_process(tmp_path, args=HAND_WRITTEN, target_name="clean")
    broken_code, broken = run_in_process(tmp_path, FAULTS, args=HAND_WRITTEN, target_name="broken")
    assert (clean_code, broken_code) == (0, 1)
    runs = sorted(tmp_path.glob("reports-*"))
    out = tmp_path / "allure-report"
    command = [str(ALLURE), "generate", *(str(r / "allure-results") for r in runs)]
    command += ["--config", str(runs[0] / "allurerc.json"), "-o", str(out)]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    stats = json.loads((out / "summary.json").read_text())["stats"]
    assert stats["total"] == len(clean["results"]) + len(broken["results"]) == 2 * len(clean["results"])
    for path in (out / "data" / "test-results").glob("*.json"):
        result = json.loads(path.read_text())
        assert not result["retries"] and not result["isRetry"], result["name"]
        assert result["start"] and result["stop"] and result["stop"] >= result["start"]
    categories = json.loads((out / "widgets" / "categories.json").read_text())
    found = {categories["nodes"][root]["name"]: set(leaves(categories["nodes"], root)) for root in categories["roots"]}
    assert found == EXPECTED
    every = [json.loads(p.read_text()) for p in (runs[0] / "allure-results").glob("*-result.json")]
    with_attachments = [r for r in every if r["name"] != "ratelimit.envelope"]  # no 429 met: it sent nothing
    assert all(r["attachments"] for r in with_attachments), [
        r["name"] for r in with_attachments if not r["attachments"]
    ]
