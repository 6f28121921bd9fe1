"""Shared helpers: a reference server on a real socket, and the real CLI in a subprocess."""

from __future__ import annotations

import functools
import gzip
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from conformance.contract import load_contract
from conformance.reference import FAULTS, ServerConfig, in_process, running_server
from conformance.reference.faults import RunArgs
from conformance.report import summary_schema
from conformance.runner import RunSettings, run

ROOT = Path(__file__).resolve().parent.parent
SLOW_AFTER_S = 5.0  # a test longer than this on an idle machine carries the `slow` marker
_unmarked_slow: list[tuple[str, float]] = []


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    """Time each test, setup and teardown included, to name the unmarked ones over `SLOW_AFTER_S`."""
    started = time.monotonic()
    yield
    took = time.monotonic() - started
    if took > SLOW_AFTER_S and item.get_closest_marker("slow") is None:
        _unmarked_slow.append((item.nodeid, took))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Say which tests without the `slow` marker took longer than `SLOW_AFTER_S` (on a loaded machine, some may)."""
    if _unmarked_slow:
        terminalreporter.section(f"tests over {SLOW_AFTER_S:g} s without the slow marker")
        for nodeid, took in sorted(_unmarked_slow, key=lambda entry: -entry[1]):
            terminalreporter.write_line(f"{took:6.1f} s  {nodeid}")


REFERENCE = ROOT / "docs" / "reference"
KEY = "sk-test-4f1c9a0b7e"
MODEL = "conformance-reference"
EVERY_CHECK = RunArgs()  # no --only, --skip or --capability


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run `python -m conformance ARGS` with a clean CONFORMANCE_* environment."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CONFORMANCE_")}
    clean.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "conformance", *args], capture_output=True, text=True, env=clean, timeout=timeout
    )


@functools.cache
def _contract(profile: str) -> Any:
    return load_contract(None, profile)


def run_in_process(
    tmp_path: Path,
    faults: tuple[str, ...] | frozenset[str] = (),
    *,
    profile: str = "atoma",
    variant: str = "lenient",
    args: RunArgs = EVERY_CHECK,
    seed: int = 7,
    key: str = KEY,
    **settings: Any,
) -> tuple[int, dict[str, Any]]:
    """Run the suite (the runner called as a function) against an in-process reference server (on a real socket
    when a fault acts on the wire); return the exit code and summary.json. `args`: the checks selected and the
    capabilities claimed."""
    contract = _contract(profile)
    config = ServerConfig(api_key=key, profile=profile, variant=variant, faults=frozenset(faults), contract=contract)
    report_dir = tmp_path / f"reports-{len(list(tmp_path.glob('reports-*')))}"
    on_the_wire = any(name in FAULTS and FAULTS[name].socket for name in faults)
    with (
        running_server(config) if on_the_wire else nullcontext("http://reference.test") as url,
        nullcontext(None) if on_the_wire else in_process(config) as transport,
    ):
        code = run(
            RunSettings(
                contract=contract,
                base_url=url,
                api_key=key,
                model=MODEL,
                report_dir=report_dir,
                seed=seed,
                only=list(args.only),
                skip=list(args.skip),
                capabilities=list(args.capabilities),
                transport=transport,
                **{"progress": False, "concurrency": 8, **settings},
            )
        )
    data = summary(report_dir)
    Draft202012Validator(summary_schema()).validate(data)
    if len(key) >= 8:  # the canary: no report of any run holds the key, in any form a target could echo
        for path in report_dir.rglob("*"):
            text = report_text(path) if path.is_file() else ""
            assert not any(form in text for form in echoed_forms(key)), path
    return code, data


def report_text(path: Path, errors: str = "replace") -> str:
    """A report file's text; a gzip file (`exchanges.json.gz`) decompressed, every member of it."""
    if path.suffix == ".gz":
        return gzip.decompress(path.read_bytes()).decode("utf-8", errors=errors)
    return path.read_text(encoding="utf-8", errors=errors)


def echoed_forms(key: str) -> list[str]:
    """The forms a key can leave the process in: raw, its first 8 characters (a cut), fully \\u-escaped (both
    letter cases, behind one or two backslashes), \\x-escaped, mixed, %-encoded; and each half of a split key that
    is 8 characters or longer."""
    escaped = "".join(f"\\u{ord(c):04x}" for c in key)
    upper = "".join(f"\\u{ord(c):04X}" for c in key)
    hexed = "".join(f"\\x{ord(c):02x}" for c in key)
    mixed = "".join(f"\\u{ord(c):04x}" if i % 2 else c for i, c in enumerate(key))
    encoded = "".join(f"%{ord(c):02X}" if i % 3 == 0 else c for i, c in enumerate(key))
    forms = [key, escaped, upper, escaped.replace("\\", "\\\\"), hexed, mixed, encoded]
    if len(key) >= 8:
        half = len(key) // 2
        forms += [key[:8], "".join(f"\\u{ord(c):04x}" for c in key[:8]), key[-8:]]
        forms += [part for part in (key[:half], key[half:]) if len(part) >= 8]
    return forms


def assert_no_key(texts: dict[str, str], key: str = KEY) -> None:
    """The canary: no text (the console, every report file) holds the key in any form it can leave in."""
    for where, text in texts.items():
        found = [form for form in echoed_forms(key) if form in text]
        assert not found, f"{where} holds the key as {found[0]!r}"


def summary(report_dir: Path) -> dict[str, Any]:
    return json.loads((report_dir / "summary.json").read_text())


def outcome_ids(data: dict[str, Any], outcome: str) -> set[str]:
    return {r["id"] for r in data["results"] if r["outcome"] == outcome}


@pytest.fixture
def server() -> Callable[..., AbstractContextManager[str]]:
    """`with server(faults={"chat_500"}) as url:` runs a reference server with the test key and model."""

    def start(faults: frozenset[str] | set[str] = frozenset(), **options: Any) -> AbstractContextManager[str]:
        options.setdefault("api_key", KEY)
        return running_server(ServerConfig(faults=frozenset(faults), **options))

    return start


@pytest.fixture
def run_against(tmp_path: Path) -> Callable[..., tuple[subprocess.CompletedProcess[str], dict[str, Any]]]:
    """Run the CLI against a URL with the test key and model; return the process and summary.json."""
    counter = iter(range(1000))

    def go(url: str, *extra: str) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
        report_dir = tmp_path / f"reports-{next(counter)}"
        proc = run_cli(
            "run",
            "--base-url",
            url,
            "--api-key",
            KEY,
            "--model",
            MODEL,
            "--report-dir",
            str(report_dir),
            "--seed",
            "7",
            *extra,
        )
        assert (report_dir / "summary.json").exists(), proc.stderr
        return proc, summary(report_dir)

    return go
