"""Signals from the first line: a SIGINT or SIGTERM at any moment of `conformance run` ends in every report and
exit 3 (nothing failed), never a traceback or a bare 130. Each test waits for an event (a line the run prints,
the process's exit), never for a fixed time to pass, except the delay after start that the test is about."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from conftest import KEY, MODEL, summary
from hostile import hostile_server

from conformance import interrupts
from conformance.reference import ServerConfig, create_app, serving

pytestmark = pytest.mark.slow


def assert_reports_valid(report_dir: Path) -> dict[str, Any]:
    """summary.json (returned), junit.xml and every Allure file parse."""
    ET.parse(report_dir / "junit.xml")
    for path in (report_dir / "allure-results").glob("*.json"):
        json.loads(path.read_text())
    return summary(report_dir)


def _start(report_dir: Path, *args: str) -> subprocess.Popen[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CONFORMANCE_")}
    argv = [sys.executable, "-m", "conformance", "run", "--report-dir", str(report_dir), "--seed", "7", *args]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=clean)


def _assert_interrupted(proc: subprocess.Popen[str], report_dir: Path) -> dict[str, Any]:
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 3, (proc.returncode, err[-3000:])
    assert "Traceback" not in out + err, err[-3000:]
    assert (report_dir / "junit.xml").is_file() and (report_dir / "allure-results").is_dir()
    data = assert_reports_valid(report_dir)
    assert data["stopped"] == "interrupted", data["stopped"]
    assert "exit 3" in out.splitlines()[-1]
    return data


@pytest.mark.parametrize("after", [0.2, 1.0])
def test_a_sigterm_early_in_an_embedded_run_still_writes_every_report(after: float, tmp_path: Path) -> None:
    """0.2 s in, the command's modules are still being imported; 1 s in, the reference server is starting or the
    first checks run: either way exit 3 with summary.json, junit.xml and allure-results/."""
    proc = _start(tmp_path)
    time.sleep(after)  # the moment under test, not a wait for readiness
    proc.send_signal(signal.SIGTERM)
    data = _assert_interrupted(proc, tmp_path)
    assert data["results"] and all(r["outcome"] != "failed" for r in data["results"])


@contextmanager
def _slowed_reference(seconds: float) -> Iterator[str]:
    """The reference server behind an ASGI wrapper that holds every request `seconds` before serving it."""
    app = create_app(ServerConfig(api_key=KEY, models=(MODEL,)))

    async def slowed(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            await asyncio.sleep(seconds)
        await app(scope, receive, send)

    with serving(slowed, name="slowed-reference") as url:
        yield url


def test_a_sigterm_midway_through_a_run_against_a_slow_target(tmp_path: Path) -> None:
    """Against a target that takes 0.5 s an answer, SIGTERM once a few checks have printed their result."""
    with _slowed_reference(0.5) as url:
        proc = _start(tmp_path, "--base-url", url, "--api-key", KEY, "--model", MODEL)
        assert proc.stdout is not None
        printed = 0
        while printed < 3:  # wait for three result lines: the run is midway through its checks
            line = proc.stdout.readline()
            assert line, "the run ended before printing three results"
            printed += line.lstrip().startswith("[")
        proc.send_signal(signal.SIGTERM)
        data = _assert_interrupted(proc, tmp_path)
    outcomes = [r["outcome"] for r in data["results"]]
    assert "passed" in outcomes and "skipped" in outcomes  # what ran is kept, the rest is skipped
    assert all("interrupted" in r["message"] for r in data["results"] if r["outcome"] == "skipped")


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_during_a_request_abandons_it_and_writes_every_report(signum: int, tmp_path: Path) -> None:
    """The first SIGINT or SIGTERM abandons the in-flight request (a drip answer here), writes every report with
    `stopped: interrupted` and what did not run as `skipped`, and exits 3 (nothing failed yet)."""
    with hostile_server("drip") as url:
        proc = _start(tmp_path, "--base-url", url, "--api-key", KEY, "--model", "m", "--timeout", "60")
        assert proc.stderr is not None
        line = proc.stderr.readline()  # the run's first line: the target is being contacted
        assert line.startswith("conformance "), line
        started = time.monotonic()
        proc.send_signal(signum)
        data = _assert_interrupted(proc, tmp_path)
    assert time.monotonic() - started < 10
    assert {r["outcome"] for r in data["results"]} == {"skipped"}
    assert all("interrupted" in r["message"] for r in data["results"])


def test_a_second_sigint_exits_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The first SIGINT interrupts the run; a second, while the reports are written, exits at once (130)."""

    def exit_now(code: int) -> None:
        raise SystemExit(code)

    monkeypatch.setattr(interrupts.os, "_exit", exit_now)
    delivered = threading.Event()
    with interrupts.session():
        with pytest.raises(KeyboardInterrupt), interrupts.armed():
            os.kill(os.getpid(), signal.SIGINT)
            delivered.wait(5)  # the handler raises while this waits
        interrupts.reporting()
        os.kill(os.getpid(), signal.SIGTERM)  # a first signal would now let the reports be written; this is a second
        with pytest.raises(SystemExit) as exited:
            os.kill(os.getpid(), signal.SIGINT)
            delivered.wait(5)
    assert exited.value.code == 130
