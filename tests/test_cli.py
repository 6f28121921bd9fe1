"""The command line: usage errors exit 2 with one line, an unreachable target exits 3, precedence of settings."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import KEY, MODEL, ROOT, outcome_ids, run_cli, summary


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


@pytest.mark.slow  # over a second: the quick loop stays within two minutes
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
        proc = subprocess.Popen(
            [sys.executable, "-m", "conformance", "serve", "--port", "0", "--api-key", KEY, *args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        procs.append(proc)
        assert proc.stderr is not None
        line = proc.stderr.readline()  # `--port 0`: the line names the port it really listens on
        url = line.split(" on ", 1)[1].split()[0]
        assert not url.endswith(":0"), line
        deadline = time.monotonic() + 120  # bound only: it answers as soon as it listens, on any machine load
        while time.monotonic() < deadline:
            try:
                httpx.get(f"{url}/v1/models", timeout=5)
                return url
            except httpx.TransportError:
                time.sleep(0.05)  # a poll interval, not a wait for time to pass
        raise RuntimeError("conformance serve did not start")

    yield start
    for proc in procs:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.mark.slow
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


@pytest.mark.slow  # over a second: the quick loop stays within two minutes
def test_trailing_v1_is_stripped(server: Callable[..., Any], run_against: Callable[..., Any]) -> None:
    with server() as url:
        proc, data = run_against(url + "/v1/", "--only", "response.minimal.*")
    assert proc.returncode == 0, proc.stderr
    assert data["target"]["base_url"] == url


@pytest.mark.slow  # over a second: the quick loop stays within two minutes
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


@pytest.mark.slow  # over a second: the quick loop stays within two minutes
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


def _broken_spec(tmp_path: Path, how: str) -> str:
    import yaml

    document = yaml.safe_load((ROOT / "openapi.yaml").read_text())
    path = tmp_path / f"{how}.yaml"
    if how == "not_utf8":
        path.write_bytes(b"\xff\xfe openapi")
        return str(path)
    if how == "minimum_zero":
        document["components"]["schemas"]["ChatCompletionRequest"]["properties"]["temperature"]["minimum"] = "zero"
    if how == "no_x_source":

        def strip(node: Any) -> None:
            if isinstance(node, dict):
                node.pop("x-source", None)
                for value in node.values():
                    strip(value)
            elif isinstance(node, list):
                for value in node:
                    strip(value)

        strip(document)
    path.write_text(yaml.safe_dump(document))
    return str(path)


def _config(tmp_path: Path, text: str | bytes) -> str:
    path = tmp_path / f"conformance-{len(list(tmp_path.glob('conformance-*')))}.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return str(path)


@pytest.mark.parametrize(
    ("case", "says"),
    [
        ("empty base URL", "empty"),
        ("empty base URL from the environment", "empty"),
        ("not a url", "not an http"),
        ("ftp", "not an http"),
        ("port out of range", "out of range"),
        ("unclosed IPv6", "not a url"),
        ("base_url a list in the config", "base_url: must be a string, not a list"),
        ("timeout a list", "timeout: must be a number, not a list"),
        ("seed a mapping", "seed: must be an integer, not a mapping"),
        ("spec a list", "spec: must be a string, not a list"),
        ("config not UTF-8", "not utf-8"),
        ("spec not UTF-8", "not utf-8"),
        ("spec minimum not a number", "'zero' is not of type 'number'"),
        ("spec without x-source", "no x-source"),
        ("only selects nothing", "select no check"),
        ("report dir under a file", "not writable"),
        ("report dir in /proc", "not writable"),
    ],
)
def test_bad_input_is_a_usage_error_and_nothing_is_sent(
    case: str, says: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 10, rows 8, 9, 11-14: exit 2, one line, no traceback, and no connection made to the target (the
    CLI's entry point called in process: the same code as `conformance`, without a new interpreter per case)."""
    from conformance.cli import main

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.settimeout(0.3)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        (tmp_path / "a-file").write_text("")
        target = ["--base-url", url, "--model", "m"]
        args, env = {
            "empty base URL": (["--base-url", "", "--model", "m"], {}),
            "empty base URL from the environment": (["--model", "m"], {"CONFORMANCE_BASE_URL": ""}),
            "not a url": (["--base-url", "not a url", "--model", "m"], {}),
            "ftp": (["--base-url", "ftp://127.0.0.1/", "--model", "m"], {}),
            "port out of range": (["--base-url", "http://127.0.0.1:99999", "--model", "m"], {}),
            "unclosed IPv6": (["--base-url", "http://[::1", "--model", "m"], {}),
            "base_url a list in the config": (["--config", _config(tmp_path, "base_url: [a]")], {}),
            "timeout a list": ([*target, "--config", _config(tmp_path, "timeout: [1, 2]")], {}),
            "seed a mapping": ([*target, "--config", _config(tmp_path, "seed: {a: 1}")], {}),
            "spec a list": ([*target, "--config", _config(tmp_path, "spec: [a]")], {}),
            "config not UTF-8": ([*target, "--config", _config(tmp_path, b"\xff\xfe")], {}),
            "spec not UTF-8": ([*target, "--spec", _broken_spec(tmp_path, "not_utf8")], {}),
            "spec minimum not a number": ([*target, "--spec", _broken_spec(tmp_path, "minimum_zero")], {}),
            "spec without x-source": ([*target, "--spec", _broken_spec(tmp_path, "no_x_source")], {}),
            "only selects nothing": ([*target, "--only", "request.temprature.*"], {}),
            "report dir under a file": ([*target, "--report-dir", str(tmp_path / "a-file" / "reports")], {}),
            "report dir in /proc": ([*target, "--report-dir", "/proc/conformance-reports"], {}),
        }[case]
        if "--report-dir" not in args:
            args = [*args, "--report-dir", str(tmp_path / "reports")]
        for name in [k for k in os.environ if k.startswith("CONFORMANCE_")]:
            monkeypatch.delenv(name)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        code = main(["run", *args])
        out, err = capsys.readouterr()
        proc = subprocess.CompletedProcess(["conformance"], code, out, err)
        assert proc.returncode == 2, proc.stderr[-2000:]
        assert says.lower() in one_clear_line(proc).lower()
        with pytest.raises(TimeoutError):
            listener.accept()  # nothing connected
    assert not (tmp_path / "reports" / "summary.json").exists()


@pytest.mark.slow  # over a second: the quick loop stays within two minutes
def test_a_model_the_target_does_not_serve_is_a_configuration_mistake(
    server: Callable[..., AbstractContextManager[str]], tmp_path: Path
) -> None:
    """Row 16: exit 2 and one line naming the cause and the models the target lists; the provider is not
    blamed (no report of failures)."""
    with server() as url:
        proc = run_cli(
            "run", "--base-url", url, "--api-key", KEY, "--model", "no-such-model", "--report-dir", str(tmp_path)
        )
    assert proc.returncode == 2, proc.stderr[-2000:]
    line = [x for x in proc.stderr.splitlines() if "no-such-model" in x and "does not serve" in x]
    assert line and MODEL in line[0], proc.stderr
    assert not (tmp_path / "summary.json").exists()


@pytest.mark.slow  # over a second: the quick loop stays within two minutes
def test_a_key_the_target_rejects_at_the_preflight_exits_3(
    server: Callable[..., AbstractContextManager[str]], tmp_path: Path
) -> None:
    with server() as url:
        proc = run_cli("run", "--base-url", url, "--api-key", "sk-wrong-key-123", "--model", MODEL,
                       "--report-dir", str(tmp_path))  # fmt: skip
    assert proc.returncode == 3 and "refused the given key" in proc.stderr
    assert "sk-wrong-key-123" not in proc.stderr + proc.stdout


@pytest.mark.slow  # over a second: the quick loop stays within two minutes
def test_a_budget_below_the_hand_written_checks_is_said_before_and_the_run_is_incomplete(tmp_path: Path) -> None:
    """Row 17: `--max-requests` below what the hand-written checks need is said before the run starts; a run
    cut short by the budget is headed INCOMPLETE and exits 3 (nothing failed), never "conforms"."""
    proc = run_cli("run", "--max-requests", "60", "--seed", "7", "--report-dir", str(tmp_path))
    assert proc.returncode == 3, proc.stderr[-2000:]
    assert "is below the" in proc.stderr and "will be incomplete" in proc.stderr
    data = summary(tmp_path)
    assert data["stopped"].startswith("incomplete") and data["totals"]["requests"] == 60
    assert "INCOMPLETE" in (tmp_path / "summary.md").read_text()


@pytest.mark.slow
def test_the_hand_written_checks_auth_included_run_before_the_property_layer(tmp_path: Path) -> None:
    """A budget cuts generation first: with room for the hand-written checks only, every auth check has run."""
    proc = run_cli("run", "--max-requests", "240", "--seed", "7", "--report-dir", str(tmp_path))
    data = summary(tmp_path)
    assert proc.returncode == 3 and data["stopped"].startswith("incomplete")
    auth = {r["id"]: r["outcome"] for r in data["results"] if r["id"].startswith("auth.")}
    assert auth and set(auth.values()) == {"passed"}, auth


@pytest.mark.slow
def test_the_users_pytest_settings_do_not_reach_a_run_and_nothing_is_left_in_the_working_directory(
    tmp_path: Path,
) -> None:
    """Row 10: PYTEST_ADDOPTS and a pytest.ini of the user's do not change a run (it does not run on pytest);
    Hypothesis' caches stay out of the working directory."""
    (tmp_path / "pytest.ini").write_text("[pytest]\naddopts = -k status --collect-only\n")
    env = {"PYTEST_ADDOPTS": "-k status --collect-only -p no:randomly"}
    proc = subprocess.run(
        [sys.executable, "-m", "conformance", "run", "--seed", "7", "--report-dir", "reports", "--only", "property.*",
         "--only", "response.minimal.*"],
        capture_output=True, text=True, cwd=tmp_path, env={**os.environ, **env}, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    data = summary(tmp_path / "reports")
    assert {r["id"] for r in data["results"]} >= {"property.positive", "property.negative", "response.minimal.status"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pytest.ini", "reports"]


def test_list_write_puts_the_table_in_place_and_is_idempotent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`conformance list --markdown --write` replaces what lies between the README's markers (README.md in the
    current directory by default, or the file given), and leaves a current table as it is."""
    from conformance.cli import TABLE_BEGIN, TABLE_END, main

    current = (ROOT / "README.md").read_text()  # its table is current (tests/test_readme.py)
    head, rest = current.split(TABLE_BEGIN)
    stale = head + TABLE_BEGIN + "| an old row |\n" + TABLE_END + rest.split(TABLE_END, 1)[1]
    (tmp_path / "README.md").write_text(stale)
    monkeypatch.chdir(tmp_path)
    assert main(["list", "--markdown", "--write"]) == 0
    assert (tmp_path / "README.md").read_text() == current
    assert "table of" in capsys.readouterr().out
    assert main(["list", "--markdown", "--write"]) == 0
    assert (tmp_path / "README.md").read_text() == current
    assert "already current" in capsys.readouterr().out

    other = tmp_path / "docs" / "checks.md"
    other.parent.mkdir()
    other.write_text(f"# Checks\n\n{TABLE_BEGIN}{TABLE_END}\n\nafter\n")
    assert main(["list", "--write", str(other), "--profile", "openai"]) == 0
    written = other.read_text()
    assert written.startswith(f"# Checks\n\n{TABLE_BEGIN}| id |") and written.endswith(f"{TABLE_END}\n\nafter\n")
    assert "`request.n.above_maximum`" in written  # the profile asked for


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (None, "cannot read it"),
        ("no markers here\n", "needs exactly one"),
        ("<!-- checks:end -->\n<!-- checks:begin -->\n", "comes before"),
    ],
)
def test_list_write_refuses_a_file_it_cannot_fill(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | None, says: str
) -> None:
    from conformance.cli import main

    path = tmp_path / "README.md"
    if content is not None:
        path.write_text(content)
    assert main(["list", "--write", str(path)]) == 2
    assert says in capsys.readouterr().err
    assert content is None or path.read_text() == content
