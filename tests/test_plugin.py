"""Issue 20: the checks as pytest items (`pytest --conformance`, conformance/plugin/). Each test runs pytest in a
subprocess in an empty directory (the project's own pytest configuration does not apply there)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from conftest import KEY, MODEL, ROOT, echoed_forms, outcome_ids, report_text, summary

from conformance.reference import ServerConfig, create_app, running_server, serving

EXAMPLE = ROOT / "examples" / "pytest" / "test_atoma_checks.py"
HAND_WRITTEN = ("--conformance-skip", "property.*", "--conformance-skip", "client.*")
OTHER_PLUGINS = ("-p", "no:schemathesis", "-p", "no:hypothesispytest", "-p", "no:anyio", "-p", "no:allure_pytest")


def pytest_run(
    cwd: Path, *args: str, url: str | None = None, key: str | None = KEY
) -> subprocess.CompletedProcess[str]:
    """`python -m pytest ARGS` in `cwd`, with the key in the environment only, against `url` (else the bundled
    reference server)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONFORMANCE_")}
    if key:
        env["CONFORMANCE_API_KEY"] = key
    target = ("--conformance-base-url", url, "--conformance-model", MODEL) if url else ()
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *target, *args]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, env=env, timeout=600)


def junit_outcomes(path: Path) -> dict[str, str]:
    """Node id -> passed, failed, error or skipped, from pytest's own junit.xml."""
    out = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        node = f"{case.get('classname')}::{case.get('name')}"
        kinds = [child.tag for child in case if child.tag in ("failure", "error", "skipped")]
        out[node] = {"failure": "failed", "error": "error", "skipped": "skipped"}.get(
            kinds[0] if kinds else "", "passed"
        )
    return out


def failed_nodes(path: Path) -> set[str]:
    return {node.removeprefix("conformance::") for node, outcome in junit_outcomes(path).items() if outcome == "failed"}


@contextmanager
def reference(*faults: str) -> Iterator[str]:
    with running_server(ServerConfig(api_key=KEY, faults=frozenset(faults))) as url:
        yield url


def test_loaded_without_the_option_it_imports_only_pytest_and_the_standard_library(tmp_path: Path) -> None:
    probe = (
        "import sys, pytest; before = set(sys.modules); import conformance.plugin; "
        "new = set(sys.modules) - before - {'conformance', 'conformance.plugin'}; "
        "print(sorted(m for m in new if m.split('.')[0] not in sys.stdlib_module_names))"
    )
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "[]", proc.stdout
    (tmp_path / "test_other.py").write_text(
        "import sys\n\n"
        "def test_nothing_of_the_suite_is_imported():\n"
        "    assert 'conformance.plugin' in sys.modules\n"
        "    heavy = ('conformance.', 'httpx', 'schemathesis', 'allure_commons', 'yaml', 'jsonschema', 'click')\n"
        "    assert not [m for m in sys.modules if m.startswith(heavy) and m != 'conformance.plugin']\n"
    )
    proc = pytest_run(tmp_path, *OTHER_PLUGINS, "-q")
    assert proc.returncode == 0 and "1 passed" in proc.stdout, proc.stdout + proc.stderr
    assert "@pytest.mark.must:" not in pytest_run(tmp_path, *OTHER_PLUGINS, "--markers").stdout


@pytest.mark.slow  # over a second: the quick loop stays within two minutes
def test_options_conformance_run_refuses_are_a_usage_error(tmp_path: Path) -> None:
    proc = pytest_run(tmp_path, "--conformance", "--conformance-base-url", "http://127.0.0.1:9")
    assert proc.returncode == 4, proc.stdout + proc.stderr
    assert "--conformance: --model is required with --base-url" in proc.stderr


@pytest.mark.slow
def test_k_sends_only_the_requests_of_the_selected_checks(tmp_path: Path, run_against: Any) -> None:
    """`-k temperature` sends what `conformance run --only '*temperature*'` sends, counted at the server."""
    counted: list[str] = []
    app = create_app(ServerConfig(api_key=KEY))

    async def counting(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            counted.append(scope["path"])
        await app(scope, receive, send)

    with serving(counting) as url:
        proc = pytest_run(tmp_path, "--conformance", "-k", "temperature", "--junitxml=j.xml", url=url)
        by_pytest = len(counted)
        command, data = run_against(url, "--only", "*temperature*")
        by_the_command = len(counted) - by_pytest
    assert proc.returncode == 0, proc.stdout + proc.stderr
    nodes = set(junit_outcomes(tmp_path / "j.xml"))
    assert nodes == {f"conformance::{r['id']}" for r in data["results"]} and len(nodes) == 8, nodes
    assert by_pytest == by_the_command == summary(tmp_path / "reports")["totals"]["requests"] < 20, counted
    assert command.returncode == 0


@pytest.mark.slow  # over a second: the quick loop stays within two minutes
def test_node_ids_markers_and_collect_only_sends_nothing(tmp_path: Path) -> None:
    proc = pytest_run(
        tmp_path, "--conformance", "--collect-only", "-q", "-m", "stream and must", url="http://127.0.0.1:9"
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    nodes = [line for line in proc.stdout.splitlines() if line.startswith("conformance::")]
    assert "conformance::stream.done" in nodes and all(n.startswith("conformance::stream.") for n in nodes)
    assert "conformance::stream.finish_reason" not in nodes  # a SHOULD clause
    assert not (tmp_path / "reports" / "summary.json").exists()


@pytest.mark.slow
def test_in_an_empty_directory_the_suite_passes_on_the_bundled_reference(tmp_path: Path) -> None:
    proc = pytest_run(tmp_path, "--conformance", "--junitxml=j.xml", key=None)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    outcomes = junit_outcomes(tmp_path / "j.xml")
    data = summary(tmp_path / "reports")
    assert set(outcomes) == {f"conformance::{r['id']}" for r in data["results"]}
    # ratelimit.envelope is skipped: no 429 met on the reference (it is judged where a run meets one)
    skipped = {rid for rid, outcome in outcomes.items() if outcome == "skipped"}
    assert skipped == {"conformance::ratelimit.envelope"}
    assert set(outcomes.values()) == {"passed", "skipped"} and data["exit_code"] == 0
    assert "ConformanceWarning: client.atoma_sdk.tools" in proc.stdout  # the one warning of a clean run


FAULT_RUNS = {  # fault -> the selection both runs make (property faults: the layer's positive mode)
    "created_string": ("--skip", "property.*", "--skip", "client.*"),
    "range_500:temperature": ("--skip", "property.*", "--skip", "client.*"),
    "error_flat": ("--skip", "property.*", "--skip", "client.*"),
    "stream_no_done": ("--skip", "property.*"),
    "auth_any_token": ("--skip", "property.*", "--skip", "client.*"),
    "top_p_null_500": ("--only", "property.positive"),
}


@pytest.mark.slow
@pytest.mark.parametrize("fault", sorted(FAULT_RUNS))
def test_failed_node_ids_are_the_failed_result_ids_of_conformance_run(
    tmp_path: Path, run_against: Any, fault: str
) -> None:
    selection = FAULT_RUNS[fault]
    with reference(fault) as url:
        proc = pytest_run(
            tmp_path,
            "--conformance",
            "--junitxml=j.xml",
            "--conformance-seed",
            "7",
            *(f"--conformance-{a[2:]}" if a.startswith("--") else a for a in selection),
            url=url,
        )
        command, data = run_against(url, *selection)
    assert command.returncode == 1 and proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert failed_nodes(tmp_path / "j.xml") == outcome_ids(data, "failed") != set()
    assert outcome_ids(summary(tmp_path / "reports"), "failed") == outcome_ids(data, "failed")


@pytest.mark.slow
def test_baseline_known_failures_are_xfailed_and_stale_entries_xpassed(tmp_path: Path) -> None:
    baseline = tmp_path / "baseline.yaml"
    baseline.write_text(
        "known:\n  - id: response.created\n    reason: created is a string\n"
        "  - id: response.id\n    reason: fixed since\n"
    )
    with reference("created_string") as url:
        args = ("--conformance", "-k", "response.", "-rxX", "--conformance-baseline", str(baseline))
        loose = pytest_run(tmp_path, *args, "--junitxml=j.xml", url=url)
        strict = pytest_run(tmp_path, *args, "--conformance-strict-baseline", "--junitxml=s.xml", url=url)
    assert loose.returncode == 1, loose.stdout  # response.minimal.schema still fails
    assert "XFAIL conformance::response.created" in loose.stdout
    assert "XPASS conformance::response.id" in loose.stdout
    assert failed_nodes(tmp_path / "j.xml") == {"response.minimal.schema"}
    assert strict.returncode == 1 and "[XPASS(strict)]" in strict.stdout, strict.stdout
    assert failed_nodes(tmp_path / "s.xml") == {"response.minimal.schema", "response.id"}


@pytest.mark.slow
def test_the_example_checks_pass_on_the_reference_and_fail_on_the_faults_they_target(tmp_path: Path) -> None:
    shutil.copy(EXAMPLE, tmp_path)
    proc = pytest_run(tmp_path, "--conformance", *HAND_WRITTEN, "--junitxml=j.xml")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    data = summary(tmp_path / "reports")
    custom = {r["id"]: r for r in data["results"] if r["id"].startswith("custom.")}
    assert {i: r["outcome"] for i, r in custom.items()} == {
        "custom.test_refusal_carries_atoma_error_code": "passed",
        "custom.test_one_token_limit_is_exact": "passed",
    }
    clause = custom["custom.test_refusal_carries_atoma_error_code"]["clause"]
    assert clause.startswith("Atoma refuses an out-of-range temperature with its own error body")
    assert "custom.test_one_token_limit_is_exact" in (tmp_path / "reports" / "summary.md").read_text()
    for fault, red in (("error_flat", "refusal_carries_atoma_error_code"), ("limit_floor", "one_token_limit_is_exact")):
        with reference(fault) as url:
            proc = pytest_run(tmp_path, "--conformance", "-m", "custom", "--junitxml=j.xml", url=url)
        assert proc.returncode == 1, proc.stdout[-3000:]
        assert failed_nodes(tmp_path / "j.xml") == {f"test_atoma_checks::test_{red}"}
        data = summary(tmp_path / "reports")
        assert outcome_ids(data, "failed") == {f"custom.test_{red}"}, data["results"]
        result = next(r for r in data["results"] if r["id"] == f"custom.test_{red}")
        assert result["reproduce"].startswith("curl ") and "$CONFORMANCE_API_KEY" in result["reproduce"]
        for path in (tmp_path / "reports").rglob("*"):
            text = report_text(path) if path.is_file() else ""
            assert not any(form in text for form in echoed_forms(KEY)), path
    out = tmp_path / "site"
    built = subprocess.run(
        [sys.executable, "-m", "conformance", "report", str(tmp_path / "reports"), "--out", str(out)],
        capture_output=True,
        text=True,
    )
    assert built.returncode == 0, built.stderr
    assert "custom.test_one_token_limit_is_exact" in (out / "report.html").read_text()


@pytest.mark.slow
def test_a_provider_check_obeys_the_request_budget(tmp_path: Path) -> None:
    shutil.copy(EXAMPLE, tmp_path)
    proc = pytest_run(tmp_path, "--conformance", "-m", "custom", "--conformance-max-requests", "2", "-rs")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = summary(tmp_path / "reports")
    outcomes = {r["id"]: r["outcome"] for r in data["results"]}
    assert sorted(outcomes.values()) == ["passed", "skipped"], outcomes  # the preflight, one check, then the cap
    assert data["stopped"].startswith("incomplete: --max-requests 2") and data["exit_code"] == 3
    assert "--max-requests 2 reached" in proc.stdout


def _allure(directory: Path) -> dict[str, dict[str, Any]]:
    """History id -> what a report shows of it: status, category message, labels, attachments (name, content)."""
    out = {}
    for path in directory.glob("*-result.json"):
        test = json.loads(path.read_text())
        attachments = sorted((a["name"], (directory / a["source"]).read_text()) for a in test.get("attachments", []))
        out[test["historyId"]] = {
            "name": test["name"],
            "status": test["status"],
            "message": test["statusDetails"]["message"],
            "labels": sorted((label["name"], label.get("value", "")) for label in test["labels"]),
            "attachments": attachments,
        }
    return out


@pytest.mark.slow
def test_alluredir_gives_the_results_conformance_run_writes(tmp_path: Path, run_against: Any) -> None:
    pytest.importorskip("allure_pytest")
    shutil.copy(EXAMPLE, tmp_path)
    faults = ("created_string", "range_500:temperature", "error_flat")
    with reference(*faults) as url:
        args = ("--conformance", *HAND_WRITTEN, "--conformance-seed", "7", "--alluredir", "allure")
        proc = pytest_run(tmp_path, *args, url=url)
        command, data = run_against(url, "--skip", "property.*", "--skip", "client.*")
    assert proc.returncode == 1 and command.returncode == 1, proc.stdout[-3000:]
    via_pytest = _allure(tmp_path / "allure")
    own = _allure(tmp_path / "reports" / "allure-results")  # the same session's own writer
    kept = {"framework", "language", "thread"}
    for entry in via_pytest.values():
        entry["labels"] = [label for label in entry["labels"] if label[0] not in kept]
        entry["attachments"] = [a for a in entry["attachments"] if a[0] not in ("stdout", "stderr", "log")]
    assert via_pytest == own and len(own) == len(summary(tmp_path / "reports")["results"])
    assert {e["name"] for e in own.values()} >= {"custom.test_refusal_carries_atoma_error_code"}
    for name in ("categories.json", "environment.properties", "executor.json"):
        assert (tmp_path / "allure" / name).read_text() == (tmp_path / "reports" / "allure-results" / name).read_text()
    command = _allure(next(tmp_path.glob("reports-*")) / "allure-results")  # a `conformance run` of its own
    assert set(command) <= set(own)
    for history, entry in command.items():
        assert (entry["status"], entry["message"].split(":")[0], entry["labels"]) == (
            own[history]["status"],
            own[history]["message"].split(":")[0],
            own[history]["labels"],
        ), entry["name"]
        assert [a[0] for a in entry["attachments"]] == [a[0] for a in own[history]["attachments"]], entry["name"]
    assert data["results"]


PROVIDER_CHECKS = """
import pytest


@pytest.fixture
def broken():
    raise RuntimeError("the fixture broke")


def test_passes(conformance_send, conformance_body, conformance_judge):
    \"\"\"A plain request is served.\"\"\"
    conformance_judge.accepted(conformance_send(conformance_body()))


def test_fails(conformance_send, conformance_body):
    \"\"\"The answer says hello.\"\"\"
    exchange = conformance_send(conformance_body())
    assert "hello" in exchange.text, "no hello in the answer"


def test_skips(conformance_send):
    pytest.skip("not for this model")


def test_setup_breaks(conformance_send, broken):
    pass


@pytest.mark.xfail(reason="known to fail")
def test_known(conformance_send, conformance_body):
    assert conformance_send(conformance_body(), authorization=None).status == 200
"""


@pytest.mark.slow
def test_a_provider_checks_outcome_is_its_result(tmp_path: Path) -> None:
    (tmp_path / "test_provider.py").write_text(PROVIDER_CHECKS)
    proc = pytest_run(tmp_path, "--conformance", "-m", "custom", "--junitxml=j.xml")
    assert proc.returncode == 1, proc.stdout[-3000:]
    results = {r["id"]: r for r in summary(tmp_path / "reports")["results"]}
    assert {rid: r["outcome"] for rid, r in results.items()} == {
        "custom.test_passes": "passed",
        "custom.test_fails": "failed",
        "custom.test_skips": "skipped",
        "custom.test_setup_breaks": "error",
        "custom.test_known": "xfailed",
    }
    assert results["custom.test_fails"]["message"].startswith("no hello in the answer")
    assert results["custom.test_fails"]["clause"] == "The answer says hello."
    assert results["custom.test_skips"]["clause"].startswith("(the provider's check states no clause")
    assert "RuntimeError: the fixture broke" in results["custom.test_setup_breaks"]["message"]
    assert '"authorization' not in results["custom.test_known"]["reproduce"]  # sent without the key
    assert junit_outcomes(tmp_path / "j.xml")["test_provider::test_setup_breaks"] == "error"
    with reference("unavailable_after_preflight") as url:
        proc = pytest_run(tmp_path, "--conformance", "-k", "test_passes", url=url)
    result = summary(tmp_path / "reports")["results"][0]
    assert (result["id"], result["outcome"]) == ("custom.test_passes", "error"), result
    assert "HTTP 503" in result["message"]
