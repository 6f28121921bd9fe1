"""The suite against real third-party servers, pinned and installed by `tests/integration/install.sh`: the
LiteLLM proxy in mock mode and the Prism mock serving our `openapi.yaml`. Every result's outcome must match the
hand-judged table in `verdicts/<server>.yaml`; each result that is not `passed` is judged there, with a transcript
of a curl request made without the suite (`transcripts/<server>.md`) that shows the behaviour. Any difference fails
the test, so a verdict change is always a deliberate edit of the table."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ROOT, run_cli, summary

HERE = Path(__file__).resolve().parent
INSTALL = "bash tests/integration/install.sh"
pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Server:
    """How to start one third-party server and run the suite against it."""

    name: str
    command: tuple[str, ...]  # {port} is replaced
    key: str
    model: str
    args: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)


SERVERS = {
    "litellm": Server(
        "litellm",
        (str(HERE / ".litellm/bin/litellm"), "--config", str(HERE / "litellm.yaml"), "--host", "127.0.0.1"),
        "sk-litellm-master-key",
        "mock-model",
        ("--seed", "7", "--timeout", "10"),
        {"LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_TELEMETRY": "False", "DISABLE_SCHEMA_UPDATE": "True"},
    ),
    "prism": Server(
        "prism",
        (str(HERE / "node/node_modules/.bin/prism"), "mock", "-h", "127.0.0.1", str(ROOT / "openapi.yaml")),
        "sk-prism-any-key",
        "m",
        ("--seed", "7", "--timeout", "5"),
    ),
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for(port: int, proc: subprocess.Popen[bytes], log: Path, seconds: float = 180) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the server exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"the server did not listen within {seconds} s:\n{log.read_text()[-3000:]}")


@pytest.fixture
def started(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Server, str]]:
    server: Server = SERVERS[request.param]
    if not Path(server.command[0]).exists():
        pytest.fail(f"{server.name} is not installed: run `{INSTALL}` (the README's test command does)")
    port = _free_port()
    flag = "--port" if server.name == "litellm" else "-p"
    log = tmp_path / f"{server.name}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*server.command, flag, str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **server.env},
            cwd=tmp_path,
        )
    try:
        _wait_for(port, proc, log)
        yield server, f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def table(name: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((HERE / "verdicts" / f"{name}.yaml").read_text())
    return data


def expected_outcomes(data: dict[str, Any]) -> dict[str, str]:
    expected = dict.fromkeys(data["passed"], "passed")
    for group in data["judged"]:
        for rid in group["ids"]:
            assert rid not in expected, f"{rid} listed twice"
            expected[rid] = group["outcome"]
    return expected


@pytest.mark.parametrize("name", sorted(SERVERS))
def test_every_judged_group_has_a_reason_and_a_transcript(name: str) -> None:
    data = table(name)
    expected_outcomes(data)
    for group in data["judged"]:
        assert group["outcome"] != "passed" and group["why"].strip() and group["ids"], group
        path, _, anchor = group["transcript"].partition("#")
        text = (HERE / path).read_text()
        assert re.search(rf'<a id="{re.escape(anchor)}"></a>', text), group["transcript"]
        assert "```console\n$ curl " in text.split(f'<a id="{anchor}"></a>', 1)[1], group["transcript"]


@pytest.mark.parametrize("started", sorted(SERVERS), indirect=True)
def test_verdicts_match_the_hand_judged_table(started: tuple[Server, str], tmp_path: Path) -> None:
    server, url = started
    data = table(server.name)
    report_dir = tmp_path / "reports"
    proc = run_cli(
        "run",
        "--base-url",
        url,
        "--api-key",
        server.key,
        "--model",
        server.model,
        "--report-dir",
        str(report_dir),
        *server.args,
        timeout=900,
    )
    assert proc.returncode in (0, 1), proc.stdout[-3000:] + proc.stderr[-3000:]
    got = {r["id"]: r["outcome"] for r in summary(report_dir)["results"]}
    expected = expected_outcomes(data)
    differences = {
        rid: (expected.get(rid, "(not in the table)"), got.get(rid, "(no result)"))
        for rid in sorted(set(got) | set(expected))
        if got.get(rid) != expected.get(rid)
    }
    assert not differences, f"expected vs got, see {report_dir}/summary.md:\n" + "\n".join(
        f"  {rid}: {want} -> {have}" for rid, (want, have) in differences.items()
    )
