"""The command line: usage errors exit 2 with one line, an unreachable target exits 3, precedence of settings."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import KEY, MODEL, outcome_ids, run_cli, summary


def one_clear_line(proc: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    return lines[0]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["run", "--no-such-option"], "no such option"),
        (["run", "--profile", "azure"], "azure"),
        (["run", "--base-url", "http://127.0.0.1:9"], "--model is required"),
        (["run", "--spec", "/nonexistent/openapi.yaml"], "cannot read spec"),
        (["run", "--seed", "minus-one"], "seed"),
        (["serve", "--fault", "no_such_fault"], "unknown fault"),
        (["run", "--config", "/nonexistent.yaml"], "cannot read"),
    ],
)
def test_usage_errors_exit_2_with_one_line(args: list[str], says: str, tmp_path: Path) -> None:
    proc = run_cli(*args, "--report-dir", str(tmp_path)) if args[0] == "run" else run_cli(*args)
    assert proc.returncode == 2
    assert says.lower() in one_clear_line(proc).lower()
    assert not (tmp_path / "summary.json").exists()  # nothing sent, nothing written


def test_unknown_profile_from_the_environment_exits_2() -> None:
    proc = run_cli("run", env={"CONFORMANCE_PROFILE": "azure"})
    assert proc.returncode == 2 and "azure" in one_clear_line(proc)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_unreachable_target_exits_3_quickly(tmp_path: Path) -> None:
    started = time.monotonic()
    proc = run_cli(
        "run", "--base-url", f"http://127.0.0.1:{free_port()}", "--model", "m", "--report-dir", str(tmp_path)
    )
    assert proc.returncode == 3
    assert time.monotonic() - started < 15
    assert "unreachable" in proc.stderr
    assert summary(tmp_path)["exit_code"] == 3


def test_python_dash_m_and_version() -> None:
    proc = subprocess.run([sys.executable, "-m", "conformance", "--version"], capture_output=True, text=True)
    assert proc.returncode == 0 and "conformance" in proc.stdout


@pytest.fixture
def serve_process() -> Iterator[Callable[..., str]]:
    """Start `conformance serve` as its own process; yield a function that returns its URL."""
    procs: list[subprocess.Popen[str]] = []

    def start(*args: str) -> str:
        port = free_port()
        proc = subprocess.Popen(
            [sys.executable, "-m", "conformance", "serve", "--port", str(port), "--api-key", KEY, *args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        procs.append(proc)
        url = f"http://127.0.0.1:{port}"
        for _ in range(200):
            try:
                httpx.get(f"{url}/v1/models", timeout=0.5)
                return url
            except httpx.TransportError:
                time.sleep(0.05)
        raise RuntimeError("conformance serve did not start")

    yield start
    for proc in procs:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.mark.parametrize(
    ("fault", "failed"),
    [
        ("created_string", {"response.minimal.schema", "response.created"}),
        (
            "range_500:temperature",
            {
                f"request.temperature.{n}"
                for n in ("below_minimum", "above_maximum", "far_below_minimum", "far_above_maximum")
            },
        ),
        ("auth_any_token", {"auth.wrong_token"}),
    ],
)
def test_separately_started_server_with_a_fault(
    fault: str, failed: set[str], serve_process: Callable[..., str], run_against: Callable[..., Any]
) -> None:
    url = serve_process("--fault", fault)
    proc, data = run_against(url, "--skip", "property.*")
    assert proc.returncode == 1
    assert outcome_ids(data, "failed") == failed


def test_trailing_v1_is_stripped(server: Callable[..., Any], run_against: Callable[..., Any]) -> None:
    with server() as url:
        proc, data = run_against(url + "/v1/", "--only", "response.minimal.*")
    assert proc.returncode == 0, proc.stderr
    assert data["target"]["base_url"] == url


def test_precedence_flag_over_env_over_config(tmp_path: Path, server: Callable[..., Any]) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("model: from-config\nprofile: openai\nonly: ['response.minimal.*']\nseed: 11\n")
    with server(models=("from-env", "from-config", "from-flag")) as url:
        env = {"CONFORMANCE_CONFIG": str(config), "CONFORMANCE_BASE_URL": url, "CONFORMANCE_API_KEY": KEY}
        run_cli("run", "--report-dir", str(tmp_path / "a"), env=env)
        run_cli("run", "--report-dir", str(tmp_path / "b"), env={**env, "CONFORMANCE_MODEL": "from-env"})
        run_cli(
            "run",
            "--report-dir",
            str(tmp_path / "c"),
            "--model",
            "from-flag",
            env={**env, "CONFORMANCE_MODEL": "from-env", "CONFORMANCE_PROFILE": "atoma"},
        )
    a, b, c = (summary(tmp_path / d) for d in "abc")
    assert (a["target"]["model"], a["target"]["profile"], a["seed"]) == ("from-config", "openai", 11)
    assert b["target"]["model"] == "from-env"
    assert (c["target"]["model"], c["target"]["profile"]) == ("from-flag", "atoma")
    assert {r["id"] for r in c["results"]} == {
        "response.minimal.status",
        "response.minimal.content_type",
        "response.minimal.schema",
        "response.minimal.completion_limit",
    }


def test_bundled_reference_run_needs_no_options(tmp_path: Path) -> None:
    proc = run_cli("run", "--report-dir", str(tmp_path), "--only", "auth.*", "--only", "response.*")
    assert proc.returncode == 0, proc.stderr
    data = summary(tmp_path)
    assert data["target"]["reference"] is True
    assert outcome_ids(data, "passed") >= {"auth.missing_token", "auth.wrong_token", "response.minimal.schema"}
    assert data["target"]["model"] == MODEL


def test_list_faults_shows_what_each_proves() -> None:
    proc = run_cli("serve", "--list-faults")
    assert proc.returncode == 0
    lines = {line.split()[0]: line for line in proc.stdout.splitlines() if line.strip()}
    assert "response.created" in lines["created_ms"] and "[response]" in lines["created_ms"]
    assert "unsupported" in lines["refuse:FIELD"] and "probe" in lines["extra_keys"]
