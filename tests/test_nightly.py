"""Issue 16, the nightly setup: a setup that checks nothing is an error, a target that cannot run says so in its
own reports, reproduction lines run as pasted, and the console and reports say why a run ended as it did."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import KEY, MODEL, run_cli, summary

ONLY = ["response.minimal.*"]  # a few checks: what is under test here is the setup, not the verdicts


def _config(tmp_path: Path, targets: list[dict[str, Any]], **top: Any) -> Path:
    path = tmp_path / "conformance.yaml"
    path.write_text(yaml.safe_dump({"seed": 7, "only": ONLY, **top, "targets": targets}))
    return path


def test_a_config_with_targets_and_none_chosen_is_a_usage_error(tmp_path: Path) -> None:
    """Without --target or --all-targets, a targets file would silently run the bundled reference: exit 2,
    naming the choices, nothing written."""
    path = _config(tmp_path, [{"name": "alpha", "base_url": "http://127.0.0.1:9", "model": "m"},
                              {"name": "beta", "base_url": "http://127.0.0.1:9", "model": "m"}])  # fmt: skip
    proc = run_cli("run", "--config", str(path), "--report-dir", str(tmp_path / "r"))
    assert proc.returncode == 2 and "alpha, beta" in proc.stderr and "--target" in proc.stderr
    assert not (tmp_path / "r" / "summary.json").exists()


def test_every_target_is_checked_before_anything_is_sent(
    server: Callable[..., AbstractContextManager[str]], tmp_path: Path
) -> None:
    """A missing baseline file of the second of three targets: exit 2 before the first target sends anything."""
    with server() as url:
        path = _config(tmp_path, [
            {"name": "one", "base_url": url, "model": MODEL, "api_key_env": "K"},
            {"name": "two", "base_url": url, "model": MODEL, "api_key_env": "K", "baseline": "missing.yaml"},
            {"name": "three", "base_url": url, "model": MODEL, "api_key_env": "K"},
        ])  # fmt: skip
        proc = run_cli("run", "--config", str(path), "--all-targets", "--report-dir", str(tmp_path / "r"),
                       env={"K": KEY})  # fmt: skip
    assert proc.returncode == 2 and "missing.yaml" in proc.stderr, proc.stderr
    assert not list((tmp_path / "r").rglob("summary.json"))


@pytest.mark.slow  # over a second: the quick loop stays within two minutes
def test_a_target_whose_key_is_unset_is_not_run_and_the_others_run(
    server: Callable[..., AbstractContextManager[str]], tmp_path: Path
) -> None:
    """Its key variable unset is that target's configuration error: `D/<name>/summary.json` says NOT RUN with
    the reason, the others run, and the exit code is 3 (nothing failed, a target did not run)."""
    with server() as url:
        path = _config(tmp_path, [
            {"name": "alpha", "base_url": url, "model": MODEL, "api_key_env": "ALPHA_KEY"},
            {"name": "charlie", "base_url": url, "model": MODEL, "api_key_env": "CHARLIE_KEY"},
        ])  # fmt: skip
        reports = tmp_path / "r"
        proc = run_cli("run", "--config", str(path), "--all-targets", "--report-dir", str(reports),
                       env={"ALPHA_KEY": KEY})  # fmt: skip
    assert proc.returncode == 3, proc.stderr[-2000:]
    alpha, charlie = summary(reports / "alpha"), summary(reports / "charlie")
    assert alpha["exit_code"] == 0 and alpha["status"] == "ran"
    assert charlie["status"] == "NOT RUN" and "CHARLIE_KEY is not set" in charlie["stopped"]
    assert "configuration error" in charlie["stopped"] and charlie["results"] == []
    assert "infrastructure" not in proc.stderr
    assert proc.stdout.strip().splitlines()[-1].startswith("targets: alpha 0, charlie 3; exit 3")


@pytest.mark.slow  # over a second: the quick loop stays within two minutes
def test_reproduction_lines_use_the_targets_key_variable_header_and_query(
    server: Callable[..., AbstractContextManager[str]], tmp_path: Path
) -> None:
    """A failed result's curl line names the target's own key variable (not $CONFORMANCE_API_KEY), its auth header
    and its query, so it runs as pasted."""
    with server(faults={"created_string"}) as url:
        target = {"name": "charlie", "base_url": url, "model": MODEL, "api_key_env": "CHARLIE_KEY",
                  "query": {"tenant": "t1"}}  # fmt: skip
        path = _config(tmp_path, [target])
        proc = run_cli("run", "--config", str(path), "--target", "charlie", "--report-dir", str(tmp_path / "r"),
                       env={"CHARLIE_KEY": KEY})  # fmt: skip
    assert proc.returncode == 1, proc.stderr[-2000:]
    failed = [r for r in summary(tmp_path / "r")["results"] if r["outcome"] == "failed"]
    assert failed
    for result in failed:
        assert '"authorization: Bearer $CHARLIE_KEY"' in result["reproduce"], result["reproduce"]
        assert "?tenant=t1" in result["reproduce"] and "CONFORMANCE_API_KEY" not in result["reproduce"]


@pytest.mark.slow  # over a second: the quick loop stays within two minutes
def test_the_console_shows_outcomes_after_the_baseline_and_ends_with_why(
    server: Callable[..., AbstractContextManager[str]], tmp_path: Path
) -> None:
    """Known failures show as xfailed while the run goes, the totals count xfailed and xpassed, and the last line
    says the exit code and why (also under --strict-baseline, where a stale entry fails the run)."""
    known = tmp_path / "known.yaml"
    known.write_text(yaml.safe_dump({"known": [{"id": "response.created", "reason": "created is a string"}]}))
    base = ["run", "--api-key", KEY, "--model", MODEL, "--only", "response.*", "--seed", "7", "--baseline", str(known)]
    with server(faults={"created_string"}) as broken, server() as clean:
        proc = run_cli(*base, "--base-url", broken, "--report-dir", str(tmp_path / "a"))
        strict = run_cli(*base, "--base-url", clean, "--report-dir", str(tmp_path / "b"), "--strict-baseline")
    lines = proc.stdout.strip().splitlines()
    assert any("xfailed" in line and "response.created" in line for line in lines if line.startswith("["))
    assert not any(" failed " in line and "response.created" in line for line in lines if line.startswith("["))
    assert "1 xfailed, 0 xpassed" in proc.stdout
    assert proc.returncode == 1 and lines[-1].startswith("exit 1: ")  # response.minimal.schema fails too
    assert strict.returncode == 1, strict.stdout[-2000:]
    last = strict.stdout.strip().splitlines()[-1]
    assert last == "exit 1: 1 stale baseline entries (--strict-baseline)", last


@pytest.mark.slow  # over a second: the quick loop stays within two minutes
def test_a_run_stopped_early_says_why_in_every_report(tmp_path: Path) -> None:
    """A run cut short (here by --max-requests) names the reason in summary.json, summary.md and junit.xml (one
    error case), and its last console line."""
    reports = tmp_path / "r"
    proc = run_cli("run", "--max-requests", "3", "--skip", "property.*", "--report-dir", str(reports))
    assert proc.returncode == 3, proc.stderr[-2000:]
    data = summary(reports)
    assert data["status"] == "INCOMPLETE" and data["stopped"].startswith("incomplete: --max-requests 3")
    assert data["stopped"] in (reports / "summary.md").read_text()
    suite = ET.parse(reports / "junit.xml").getroot()
    errors = [c for c in suite.iter("testcase") if c.get("name") == "stopped"]
    assert len(errors) == 1 and "--max-requests 3" in (errors[0].find("error").get("message") or "")  # type: ignore[union-attr]
    assert proc.stdout.strip().splitlines()[-1].startswith("exit 3: incomplete: --max-requests 3")
