"""Issue 11: `conformance report` from several runs: the matrix, matrix.md, badges, the trend with a history."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from conftest import KEY, outcome_ids, run_cli, run_in_process

from conformance.reference.faults import HAND_WRITTEN

FAULTS = {"created_string": {"response.minimal.schema", "response.created"}, "ignore_n": {"semantic.n.choices"}}


@pytest.fixture(scope="module")
def three_runs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """The reference server clean, and with each of two faults, as three named targets."""
    base = tmp_path_factory.mktemp("runs")
    runs = []
    for name, faults in (("clean", ()), ("created", ("created_string",)), ("n", ("ignore_n",))):
        run_in_process(base, faults, args=HAND_WRITTEN, target_name=name)
        runs.append(sorted(base.glob("reports-*"), key=lambda p: int(p.name.split("-")[1]))[-1])
    return runs


def cells(html: str) -> dict[tuple[str, str], str]:
    found = re.findall(r"data-target='([^']*)' data-id='([^']*)' data-outcome='([^']*)'", html)
    return {(target, rid): outcome for target, rid, outcome in found}


def test_the_matrix_matches_the_known_faults(three_runs: list[Path], tmp_path: Path) -> None:
    proc = run_cli("report", *map(str, three_runs), "--out", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr
    page = (tmp_path / "out" / "report.html").read_text()
    matrix = cells(page)
    failed = {(t, rid) for (t, rid), o in matrix.items() if o == "failed"}
    assert failed == {("created", rid) for rid in FAULTS["created_string"]} | {("n", "semantic.n.choices")}
    assert {t for t, _ in matrix} == {"clean", "created", "n"}
    assert "<script" not in page and "http://" not in page.split("<body>", 1)[1].split("Failures", 1)[0]
    markdown = (tmp_path / "out" / "matrix.md").read_text()
    assert "| `response.created` | ✓ | ✗ | ✓ |" in markdown
    badge = json.loads((tmp_path / "out" / "badges" / "created.json").read_text())
    assert badge["schemaVersion"] == 1 and badge["color"] == "red" and badge["message"] == "2 failed"
    assert json.loads((tmp_path / "out" / "badges" / "clean.json").read_text())["color"] == "brightgreen"


def test_a_trend_over_three_nights(three_runs: list[Path], tmp_path: Path) -> None:
    """Three successive reports with --history: "failing since" for a still-broken check, a fixed one, and a
    night whose contract sha256 changed flagged."""
    history = tmp_path / "history.jsonl"
    created = three_runs[1]
    nights = []
    for night, sha in ((1, "a" * 64), (2, "a" * 64), (3, "b" * 64)):
        data = json.loads((created / "summary.json").read_text())
        data["finished_at"] = f"2026-11-0{night}T03:00:00+00:00"
        data["spec"]["sha256"] = sha
        if night == 3:  # response.created is fixed on night 3; the schema break goes on
            for r in data["results"]:
                if r["id"] == "response.created":
                    r["outcome"] = "passed"
        directory = tmp_path / f"night{night}"
        directory.mkdir()
        (directory / "summary.json").write_text(json.dumps(data))
        nights.append(directory)
        proc = run_cli("report", str(directory), "--out", str(tmp_path / f"out{night}"), "--history", str(history))
        assert proc.returncode == 0, proc.stderr
    assert len(history.read_text().splitlines()) == 3
    page = (tmp_path / "out3" / "report.html").read_text()
    assert "still broken: <code>response.minimal.schema</code>, failing since 2026-11-01T03:00:00+00:00" in page
    assert "fixed: response.created" in page
    assert "2026-11-03T03:00:00+00:00: contract changed" in page


def test_everything_a_target_sent_is_escaped_and_no_key_is_in_any_report(tmp_path: Path) -> None:
    """A hostile run: a message carrying markup; report.html and matrix.md escape it; the canary key is nowhere."""
    _, data = run_in_process(tmp_path, ("created_string",), args=HAND_WRITTEN, target_name="t<script>")
    run = next(tmp_path.glob("reports-*"))
    summary = json.loads((run / "summary.json").read_text())
    summary["results"][0]["message"] = "<img src=x onerror=alert(1)> | `code` " + "\x1b[31m"
    (run / "summary.json").write_text(json.dumps(summary))
    proc = run_cli("report", str(run), "--out", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr
    for path in (tmp_path / "out").rglob("*"):
        if path.is_file():
            text = path.read_text()
            assert KEY not in text and "\x1b" not in text, path
            if path.suffix == ".json":  # data (shields.io escapes what it draws)
                json.loads(text)
            else:
                assert "<img" not in text and "<script>" not in text, path
    assert outcome_ids(data, "failed")
