"""Issue 11: `conformance report` from several runs: the matrix, matrix.md, badges, the trend with a history."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from conftest import KEY, outcome_ids, run_cli, run_in_process

from conformance.reference.faults import HAND_WRITTEN

# ignore_n does not break load.no_cross_talk: n is ignored alone too (inconclusive there)
FAULTS = {
    "created_string": {"response.minimal.schema", "response.created"},
    "ignore_n": {"semantic.n.choices"},
}


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
    assert failed == {("created", rid) for rid in FAULTS["created_string"]} | {("n", rid) for rid in FAULTS["ignore_n"]}
    assert {t for t, _ in matrix} == {"clean", "created", "n"}
    assert "<script" not in page and not re.search(r"(?:href|src)=", page)  # no script, nothing fetched
    markdown = (tmp_path / "out" / "matrix.md").read_text()
    assert "| `response.created` | ✓ | ✗ | ✓ |" in markdown
    badge = json.loads((tmp_path / "out" / "badges" / "created.json").read_text())
    assert badge["schemaVersion"] == 1 and badge["color"] == "red" and badge["message"] == "2 failed"
    assert json.loads((tmp_path / "out" / "badges" / "clean.json").read_text())["color"] == "brightgreen"


@pytest.mark.slow  # over a second: the quick loop stays within two minutes
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
    assert "still broken: <code>response.minimal.schema</code>, failing since 2026-11-01T03:00Z" in page
    assert "fixed: response.created" in page
    assert "2026-11-03T03:00Z: contract changed" in page


@pytest.mark.slow  # over a second: the quick loop stays within two minutes
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


# -- issue 19: the morning view, NOT RUN targets, and a trend over two nights -----------------------------------


def _night(source: Path, directory: Path, night: int, name: str, edit: Any = None) -> Path:
    """A copy of `source`'s summary as the run of target `name` on night `night` (03:00 to 03:20 UTC)."""
    data = json.loads((source / "summary.json").read_text())
    data["target"]["name"] = name
    data["started_at"], data["finished_at"] = f"2026-11-0{night}T03:00:00+00:00", f"2026-11-0{night}T03:20:00+00:00"
    if edit is not None:
        edit(data)
    directory.mkdir(parents=True)
    (directory / "summary.json").write_text(json.dumps(data))
    return directory


def _set(data: dict[str, Any], rid: str, outcome: str, **extra: Any) -> None:
    for r in data["results"]:
        if r["id"] == rid:
            r.update(outcome=outcome, **extra)
    counts = {o: sum(r["outcome"] == o for r in data["results"]) for o in ("passed", "failed", "xfailed", "xpassed")}
    data["totals"] = {**data["totals"], **counts}


def not_run(directory: Path, name: str, reason: str) -> Path:
    """The summary `conformance run --all-targets` writes for a target it could not start."""
    directory.mkdir(parents=True)
    data = {
        "tool": {"name": "conformance", "version": "0.1.0"},
        "target": {"name": name, "base_url": "https://n.example", "model": "conformance-reference", "profile": "atoma"},
        "status": "NOT RUN",
        "stopped": reason,
        "exit_code": 3,
    }
    (directory / "summary.json").write_text(json.dumps(data))
    return directory


KNOWN = {"id": "response.created", "reason": "created is sent as a string", "issue": "https://example.invalid/1"}


def two_nights(runs: list[Path], base: Path) -> tuple[Path, Path]:
    """Night 1: clean clean, created with its two failures (response.created known), n with ignore_n. Night 2:
    clean newly fails semantic.n.choices (the n run's verdicts, with a cause), created is fixed (its known failure
    passes: stale), n is NOT RUN. Returns the history file and night 2's report folder."""
    clean, created, n = runs
    history = base / "history.jsonl"

    def known(data: dict[str, Any]) -> None:
        _set(data, "response.created", "xfailed", known=KNOWN)

    def newly(data: dict[str, Any]) -> None:
        _set(data, "semantic.n.choices", "failed", cause="n ignored")

    def stale(data: dict[str, Any]) -> None:
        _set(data, "response.created", "xpassed", known=KNOWN)

    first = [
        _night(clean, base / "1" / "clean", 1, "clean"),
        _night(created, base / "1" / "created", 1, "created", known),
        _night(n, base / "1" / "n", 1, "n"),
    ]
    second = [
        _night(n, base / "2" / "clean", 2, "clean", newly),
        _night(clean, base / "2" / "created", 2, "created", stale),
        not_run(base / "2" / "n", "n", "N_API_KEY is not set"),
    ]
    for night, dirs in ((1, first), (2, second)):
        proc = run_cli("report", *map(str, dirs), "--out", str(base / f"site{night}"), "--history", str(history))
        assert proc.returncode == 0, proc.stderr
    return history, base / "site2"


@pytest.mark.slow  # over a second: the quick loop stays within two minutes
def test_the_morning_view_over_two_nights_with_a_target_not_run(three_runs: list[Path], tmp_path: Path) -> None:
    history, site = two_nights(three_runs, tmp_path)
    page = (site / "report.html").read_text()
    assert [json.loads(line)["status"] for line in history.read_text().splitlines()][-1] == "NOT RUN"
    # the order: when, the targets, the news, the matrix, the trend, the failures, the coverage
    marks = ["id=when", "id=targets", "id=news", "id=matrix", "id=trend", "id=failures", "id=coverage"]
    assert [page.index(m) for m in marks] == sorted(page.index(m) for m in marks)
    assert "Runs of <time datetime='2026-11-02T03:00Z'>2026-11-02T03:00Z</time> to" in page
    targets = dict(re.findall(r"<li class=target data-target='([^']*)' data-status='([^']*)'", page))
    assert targets == {"clean": "ran", "created": "ran", "n": "NOT RUN"}
    assert "NOT RUN: N_API_KEY is not set" in page
    news = set(re.findall(r"data-kind='([^']*)' data-target='([^']*)' data-id='([^']*)'", page))
    assert news == {
        ("newly failing", "clean", "semantic.n.choices"),
        ("fixed", "created", "response.created"),
        ("fixed", "created", "response.minimal.schema"),
        ("stale baseline entry", "created", "response.created"),
    }
    assert "<h4 class=cause>n ignored (1)</h4>" in page  # the run's cause, when given
    assert "<h4 class=cause>response: schema (1)</h4>" in page  # else derived from the id
    heads = re.findall(r"<th scope=col class='c t[^']*' data-target='([^']*)'>", page)
    assert heads[:3] == ["clean", "created", "n"]
    matrix = cells(page)
    assert {rid for (t, rid), o in matrix.items() if o == "failed"} == FAULTS["ignore_n"]
    assert {o for (t, _), o in matrix.items() if t == "n"} == {"not run"}
    assert "NOT RUN tonight: N_API_KEY is not set" in page
    assert "fixed: response.created, response.minimal.schema" in page and "stale: response.created" in page
    assert re.search(r"pass rate by night: 2026-11-01 9\d%, 2026-11-02 NOT RUN", page), re.findall(
        r"pass rate by night: [^<]*", page
    )
    markdown = (site / "matrix.md").read_text()
    order = [
        "Runs of 2026-11-02T03:00Z",
        "| n | conformance-reference | atoma | NOT RUN: N_API_KEY is not set",
        "## What is new tonight (4)",
        "## Matrix",
        "| result | clean | created | n (NOT RUN) |",
        "## Trend",
        "## Coverage of the contract",
    ]
    assert [markdown.index(m) for m in order] == sorted(markdown.index(m) for m in order)
    badge = json.loads((site / "badges" / "n.json").read_text())
    assert badge["message"] == "not run" and badge["color"] == "lightgrey"
    # the coverage map of the runs' profile: what nothing exercises, with the reason
    assert "<p>Profile atoma: " in page and "Profile openai" not in page
    uncovered = re.findall(r"<li data-pointer='([^']*)' data-keyword='([^']*)'>", page)
    assert ("#/components/schemas/ChatCompletionRequest/properties/model", "type") in uncovered
    assert "NO REASON GIVEN" not in page


def test_causes_fall_back_to_the_result_id() -> None:
    from conformance.report.runs import cause

    assert cause({"id": "request.temperature.above_maximum"}) == "request: range"
    assert cause({"id": "request.temperature.wrong_type"}) == "request: type"
    assert cause({"id": "property.not_a_server_error.temperature"}) == "property: not a server error"
    assert cause({"id": "request.temperature.above_maximum", "cause": "invalid value accepted"}) == (
        "invalid value accepted"
    )


def test_a_baselined_property_finding_not_seen_tonight_is_stale() -> None:
    """A finding has no result when the property layer does not find it: its exact baseline entry gets an
    `xpassed` result of its own, when the modes that could find it ran to a verdict and the run was not stopped."""
    from jsonschema import Draft202012Validator

    from conformance.baseline import Baseline, Entry
    from conformance.records import Outcome, Result
    from conformance.report import summary_schema

    def result(rid: str, outcome: Outcome) -> Result:
        return Result(rid, "openapi.yaml#/components/schemas/ChatCompletionRequest", "atoma-docs", None, "MUST",
                      outcome, "sent 40 requests")  # fmt: skip

    ran = [result("property.positive", Outcome.PASSED), result("property.negative", Outcome.FAILED)]
    baseline = Baseline((
        Entry("property.not_a_server_error.temperature", "crashes above 2"),
        Entry("property.negative_data_rejection.top_p", "accepts top_p 1.5"),
        Entry("property.usage_arithmetic.*", "a glob: which finding is meant is not known"),
        Entry("request.temperature.above_maximum", "a hand-written check: its result says"),
    ))  # fmt: skip
    stale = [r for r in baseline.apply(ran) if r.outcome is Outcome.XPASSED]
    assert [(r.id, r.field) for r in stale] == [
        ("property.not_a_server_error.temperature", "temperature"),
        ("property.negative_data_rejection.top_p", "top_p"),
    ]
    assert "did not find it tonight" in stale[0].message and stale[0].known is not None
    validator = Draft202012Validator(summary_schema()["properties"]["results"]["items"])
    for r in stale:
        validator.validate(r.to_summary())
    assert not [r for r in baseline.apply(ran, stopped="interrupted") if r.outcome is Outcome.XPASSED]
    cut = [result("property.positive", Outcome.SKIPPED), result("property.negative", Outcome.PASSED)]
    assert [r.id for r in baseline.apply(cut) if r.outcome is Outcome.XPASSED] == [
        "property.negative_data_rejection.top_p"  # the negative mode ran in full; the other finding needs both
    ]
