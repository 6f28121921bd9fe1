"""Issue 18's options: `--concurrency` and `--rate` (and the opt-in `--probe-rate-limit`), with the precedence and
the input checks of every other option; read by the command's own parser, as the pytest plugin reads them."""

from __future__ import annotations

from pathlib import Path

import click
import pytest

from conformance.cli import main, settings_from_args
from conformance.runner import DEFAULT_CONCURRENCY, RunSettings, concurrency_of

TARGETS = """
targets:
  - name: fast
    base_url: https://fast.example
    model: m
    concurrency: 8
    rate: 5
  - name: plain
    base_url: https://plain.example
    model: m
"""


def settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, *args: str, env: str | None = None) -> RunSettings:
    for name in ("CONFORMANCE_CONCURRENCY", "CONFORMANCE_CONFIG", "CONFORMANCE_BASE_URL", "CONFORMANCE_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    if env is not None:
        monkeypatch.setenv("CONFORMANCE_CONCURRENCY", env)
    return settings_from_args([*args, "--report-dir", str(tmp_path / "reports")])


def config(tmp_path: Path, text: str) -> str:
    path = tmp_path / "conformance.yaml"
    path.write_text(text)
    return str(path)


def test_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    chosen = settings(monkeypatch, tmp_path)
    assert chosen.concurrency is None and chosen.rate is None and chosen.probe_rate_limit is None
    assert concurrency_of(chosen) == DEFAULT_CONCURRENCY == 4


def test_command_line_beats_environment_beats_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    file = config(tmp_path, "concurrency: 2\nrate: 1.5\nprobe_rate_limit: 50\n")
    chosen = settings(monkeypatch, tmp_path, "--config", file)
    assert (chosen.concurrency, chosen.rate, chosen.probe_rate_limit) == (2, 1.5, 50)
    assert settings(monkeypatch, tmp_path, "--config", file, env="6").concurrency == 6
    chosen = settings(monkeypatch, tmp_path, "--config", file, "--concurrency", "3", "--rate", "0.5", env="6")
    assert (chosen.concurrency, chosen.rate) == (3, 0.5)


def test_a_target_gives_its_own_unless_the_command_line_does(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CONFORMANCE_API_KEY", "sk-test-key-12345")
    file = config(tmp_path, "concurrency: 2\n" + TARGETS)
    fast = settings(monkeypatch, tmp_path, "--config", file, "--target", "fast")
    assert (fast.concurrency, fast.rate) == (8, 5)
    plain = settings(monkeypatch, tmp_path, "--config", file, "--target", "plain")
    assert (plain.concurrency, plain.rate) == (2, None)  # the config's top level
    given = settings(monkeypatch, tmp_path, "--config", file, "--target", "fast", "--concurrency", "1")
    assert (given.concurrency, given.rate) == (1, 5)


@pytest.mark.parametrize(
    "args",
    [
        ["--concurrency", "0"],
        ["--concurrency", "65"],
        ["--concurrency", "two"],
        ["--rate", "0"],
        ["--rate", "-1"],
        ["--rate", "inf"],
        ["--rate", "nan"],
        ["--rate", "1e9"],
        ["--probe-rate-limit", "0"],
    ],
)
def test_unusable_values_are_usage_errors(
    args: list[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(click.UsageError):
        settings(monkeypatch, tmp_path, *args)
    assert main(["run", *args, "--report-dir", str(tmp_path / "r")]) == 2
    assert capsys.readouterr().err.startswith("conformance: error:")


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("concurrency: 0\n", "concurrency: must be >= 1"),
        ("rate: 0\n", "rate: must be > 0"),
        ("rate: .inf\n", "rate: must be <= 1000"),
        ("rate: .nan\n", "rate: must be a finite number"),
        ("rate: fast\n", "rate: must be a number, not a string"),
        (TARGETS.replace("rate: 5", "rate: .nan"), "targets.0.rate: must be a finite number"),
    ],
)
def test_config_values_are_checked(
    text: str, says: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("CONFORMANCE_CONFIG", raising=False)
    assert main(["run", "--config", config(tmp_path, text), "--report-dir", str(tmp_path / "r")]) == 2
    assert says in capsys.readouterr().err


def test_the_plugin_passes_them_on() -> None:
    from conformance.plugin import OPTIONS

    names = {name for name, _, _ in OPTIONS}
    assert {"concurrency", "rate", "probe-rate-limit"} <= names
