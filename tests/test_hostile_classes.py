"""Issue 16, first table: "a nightly run that cannot lie, leak, hang or crash", class by class. Each class is tested
on the forms the issue saw and on at least one further form of it, against the raw hostile server of
tests/hostile.py (one port, the base URL's first path segment picks the misbehaviour) or with a bad input, through
the CLI's entry point in process. Every test: no traceback, every report valid (or, for exit 2, none written and
nothing sent), and the canary key in no output in any form (conftest.assert_no_key)."""

from __future__ import annotations

import json
import os
import shlex
import socket
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import KEY, assert_no_key, report_text
from hostile import FREE_WORDS, RawServer, raw_server
from jsonschema import Draft202012Validator

from conformance.cli import main
from conformance.report import summary_schema

RAW_CONTROLS = "\x00\x07\x1b\x7f\x85\x9b\ufffe"


@pytest.fixture(scope="module")
def raw() -> Iterator[RawServer]:
    with raw_server() as server:
        yield server


@dataclass
class Ran:
    code: int
    out: str
    err: str
    report_dir: Path
    elapsed: float

    def texts(self) -> dict[str, str]:
        """The console and every file the run left."""
        texts = {"console": self.out + self.err}
        if self.report_dir.exists():
            texts |= {str(p): report_text(p) for p in self.report_dir.rglob("*") if p.is_file()}
        return texts

    @property
    def summary(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.report_dir / "summary.json").read_text(encoding="utf-8"))
        return data

    def outcome(self, rid: str) -> tuple[str, str]:
        result = next(r for r in self.summary["results"] if r["id"] == rid)
        return result["outcome"], result["message"]


@pytest.fixture
def cli(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Callable[..., Ran]:
    """`cli(*args, env={...})`: `conformance ARGS` in process (with `--report-dir` added when not given), with a
    clean CONFORMANCE_* environment."""
    counter = iter(range(100))

    def go(*args: str, env: dict[str, str] | None = None) -> Ran:
        report_dir = tmp_path / f"reports-{next(counter)}"
        argv = list(args)
        if argv[0] == "run" and "--report-dir" not in argv:
            argv += ["--report-dir", str(report_dir)]
        elif "--report-dir" in argv:
            report_dir = Path(argv[argv.index("--report-dir") + 1])
        for name in [k for k in os.environ if k.startswith("CONFORMANCE_")]:
            monkeypatch.delenv(name)
        for name, value in (env or {}).items():
            monkeypatch.setenv(name, value)
        capsys.readouterr()
        started = time.monotonic()
        code = main(argv)
        elapsed = time.monotonic() - started
        out, err = capsys.readouterr()
        assert "Traceback" not in out + err
        return Ran(code, out, err, report_dir, elapsed)

    return go


def run_against(cli: Callable[..., Ran], url: str, *extra: str, key: str = KEY, model: str = "m", **env: str) -> Ran:
    """A run against `url` with the canary key (from the environment, as in CI), seed 7, a 5 s deadline."""
    args = ["run", "--base-url", url, "--model", model, "--seed", "7", "--timeout", "5", *extra]
    return cli(*args, env={"CONFORMANCE_API_KEY": key, **env})


def assert_sound(ran: Ran, key: str = KEY) -> None:
    """Every report there and valid (summary.json against its schema, junit.xml, every Allure JSON file), no raw
    control character in any report or on the console, no form of the key anywhere."""
    Draft202012Validator(summary_schema()).validate(ran.summary)
    ET.parse(ran.report_dir / "junit.xml")
    allure = list((ran.report_dir / "allure-results").glob("*.json"))
    assert allure
    for path in allure:
        json.loads(path.read_text(encoding="utf-8"))
    assert not list(ran.report_dir.glob(".staging-*"))
    for where, text in ran.texts().items():
        assert not any(ch in text for ch in RAW_CONTROLS), where
    assert_no_key(ran.texts(), key)


def one_line(ran: Ran) -> str:
    lines = [line for line in ran.err.splitlines() if line.strip()]
    assert len(lines) == 1, ran.err
    return lines[0]


@pytest.fixture
def untouched() -> Iterator[str]:
    """A base URL whose listener must never see a connection (exit 2 sends nothing)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.settimeout(0.2)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
        with pytest.raises(TimeoutError):
            listener.accept()


def assert_usage_error(ran: Ran, says: str, key: str = KEY) -> str:
    """Exit 2, one line saying `says`, no report written, no form of the key."""
    assert ran.code == 2, ran.err
    line = one_line(ran)
    assert says.lower() in line.lower(), line
    assert not (ran.report_dir / "summary.json").exists()
    assert_no_key(ran.texts(), key)
    return line


# -- the key, in any form that leaves the process ---------------------------------------------------------------------


ECHOED = ("--only", "response.*", "--only", "stream.*", "--only", "auth.*", "--only", "request.n.*")


def test_a_key_echoed_cut_split_and_requoted_leaks_nowhere(raw: RawServer, cli: Callable[..., Ran]) -> None:
    """The target echoes the key raw, \\u-escaped behind one and two backslashes, \\x-escaped, %-encoded, mixed;
    at offsets where messages are cut (its first 8+ characters kept); split across two stream chunks; \\u-escaped
    inside a data line that is not JSON (which the tool quotes with repr): no form of it in any output."""
    ran = run_against(cli, raw.url("key_echo"), *ECHOED)
    assert ran.code in (0, 1), ran.err
    assert_sound(ran)
    assert "$CONFORMANCE_API_KEY" in ran.out + (ran.report_dir / "summary.md").read_text()
    assert ran.outcome("stream.data_json")[0] == "failed"  # the non-JSON line was read, and shown redacted


@pytest.mark.parametrize("sent", [KEY + "\n", "\t" + KEY + "\r\n", " " + KEY + " "])
def test_whitespace_around_the_key_is_stripped_and_said(raw: RawServer, cli: Callable[..., Ran], sent: str) -> None:
    """A CI secret saved with its newline (and, further, a tab and CRLF, or spaces): stripped, said on stderr
    without the key; the run goes on with the key the target expects."""
    ran = run_against(cli, raw.url("key_echo"), "--only", "response.minimal.*", key=sent)
    assert ran.code in (0, 1), ran.err
    assert "whitespace around it" in ran.err and "not shown" in ran.err
    assert_sound(ran)


@pytest.mark.parametrize(
    ("sent", "kind"),
    [
        (KEY[:5] + "\x01" + KEY[5:], "control"),
        (KEY[:12] + "\n" + KEY[12:], "control"),
        (KEY[:6] + "\x7f" + KEY[6:], "control"),
        (KEY[:5] + "é" + KEY[5:], "non-ASCII"),
        (KEY[:9] + "\udcff" + KEY[9:], "non-ASCII"),  # invalid UTF-8, as Python hands it on
    ],
)
def test_a_key_with_any_other_control_or_non_ascii_character_is_exit_2_unshown(
    cli: Callable[..., Ran], untouched: str, sent: str, kind: str
) -> None:
    ran = run_against(cli, untouched, key=sent)
    line = assert_usage_error(ran, f"a {kind} character", key=sent)
    assert "not shown" in line
    assert_no_key(ran.texts(), KEY)


def test_a_targets_key_variable_is_checked_like_the_key_before_any_target_runs(
    cli: Callable[..., Ran], untouched: str, tmp_path: Path
) -> None:
    """Further: the key of the second target (from its `api_key_env` variable) has a control character: exit 2,
    unshown, and nothing is sent to the first target either; the first target's key, with a newline, is stripped."""
    config = tmp_path / "c.yaml"
    targets = [
        {"name": "a", "base_url": untouched, "model": "m", "api_key_env": "A_KEY"},
        {"name": "b", "base_url": untouched, "model": "m", "api_key_env": "B_KEY"},
    ]
    config.write_text(json.dumps({"targets": targets}))
    bad = KEY[:10] + "\x1b" + KEY[10:]
    ran = cli("run", "--config", str(config), "--all-targets", env={"A_KEY": KEY + "\n", "B_KEY": bad})
    assert ran.code == 2 and "target b" in ran.err and "a control character" in ran.err, ran.err
    assert "whitespace around it" in ran.err  # target a's key, checked first
    assert_no_key(ran.texts(), bad)
    assert not list(tmp_path.rglob("summary.json"))


def test_a_config_value_that_is_the_key_is_never_printed(cli: Callable[..., Ran], tmp_path: Path) -> None:
    """The key pasted under `api_key_env:` (a valid variable name, unset): the error names no value. Further: the
    key where a number belongs, as an unknown key's name, and as a target's base URL."""
    config = tmp_path / "conformance.yaml"
    target = {"name": "a", "base_url": "http://127.0.0.1:9", "model": "m"}
    key_like = KEY.replace("-", "_")  # a valid variable name
    cases = [
        ({"targets": [{**target, "api_key_env": key_like}]}, "--all-targets", "key variable"),
        ({"timeout": KEY}, "", "must be a number"),
        ({KEY: 1}, "", "unknown key"),
        ({"targets": [{**target, "base_url": KEY}]}, "--all-targets", "does not match"),
    ]
    for data, flag, says in cases:
        config.write_text(json.dumps(data))
        args = ["run", "--config", str(config), *([flag] if flag else []), "--only", "response.minimal.*"]
        ran = cli(*args)
        assert says in ran.err, ran.err
        assert_no_key(ran.texts(), KEY)
        assert_no_key(ran.texts(), key_like)


def test_a_usage_error_quoting_a_value_never_shows_the_key(cli: Callable[..., Ran], untouched: str) -> None:
    """The key given where a number belongs: click quotes the value; the line shows the key redacted. Further: from
    the environment, and cut to a prefix."""
    assert_usage_error(cli("run", "--base-url", untouched, "--api-key", KEY, "--timeout", KEY), "--timeout")
    ran = cli("run", "--base-url", untouched, "--seed", KEY[:10] + "x", env={"CONFORMANCE_API_KEY": KEY})
    assert_usage_error(ran, "--seed")


def test_the_redactor_finds_every_form_and_keeps_the_rest() -> None:
    """Units: each form, a prefix of 8+ characters at a cut, a split key, a repr of a repr; text around kept;
    a JSON attachment stays JSON."""
    from conformance.records import Attachment, Outcome, Result
    from conformance.transport import Redactor

    redactor = Redactor(KEY)
    for form in [
        f"before {KEY} after",
        f"cut at a limit: {KEY[:9]}",
        f'{KEY[:7]}" , "{KEY[7:]}',  # split across two chunks: each half redacted
        repr(repr("".join(f"\\u{ord(c):04x}" for c in KEY))),
        "".join(f"\\x{ord(c):02x}" for c in KEY),
        "'" + KEY[:4] + "'\"'\"'" + KEY[4:] + "'",
    ]:
        cleaned = redactor.text(form)
        assert_no_key({form: cleaned})
    assert redactor.text("sk-test- is 8, sk-test is 7") == "$CONFORMANCE_API_KEY is 8, sk-test is 7"
    assert redactor.text("nothing \\n here %41") == "nothing \\n here %41"
    content = json.dumps({"model": "m\x9b\x1b\ud800", "key": KEY}, ensure_ascii=False)
    result = Result("x", "c", "c", None, "MUST", Outcome.FAILED, "m", attachments=[Attachment("request", content)])
    cleaned = redactor.result(result).attachments[0].content
    assert json.loads(cleaned) == {"model": "m\x9b\x1b\ud800", "key": "$CONFORMANCE_API_KEY"}


# -- every deadline, from connect to the last byte --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "scheme"),
    [
        ("header_drip", "http"),  # headers a byte every 0.2 s
        ("interim_100", "http"),  # `100 Continue` forever
        ("interim_103", "http"),  # further: `103 Early Hints` with headers, forever
        ("silent", "https"),  # further: a TLS handshake never answered
        ("silent", "http"),  # further: no answer at all
    ],
)
@pytest.mark.slow  # over a second: the quick loop stays within two minutes
def test_timeout_bounds_every_phase_of_a_request(
    raw: RawServer, cli: Callable[..., Ran], mode: str, scheme: str
) -> None:
    """`--timeout 1.5` bounds connect, TLS, interim responses, headers and body together: the preflight is an
    error within it, the run exits 3 with every report."""
    ran = run_against(cli, raw.url(mode, scheme), "--timeout", "1.5", "--only", "response.minimal.*")
    assert ran.code == 3, ran.err
    assert "1.5s" in (ran.summary["stopped"] or ""), ran.summary["stopped"]
    assert ran.elapsed < 8, ran.elapsed  # the deadline and a contract load; without the fix: forever
    assert_sound(ran)
    print(f"{mode} over {scheme}: {ran.elapsed:.1f} s")


def test_the_deadline_cuts_each_socket_operation_to_the_time_left() -> None:
    """Unit: under `within`, a read asked to wait 30 s waits only what is left, and none is allowed once passed."""
    import httpcore

    from conformance.transport.deadline import _left, within

    assert _left(30.0, httpcore.ReadTimeout) == 30.0
    with within(0.5):
        left = _left(30.0, httpcore.ReadTimeout)
        assert left is not None and 0 < left <= 0.5
        with within(0.0), pytest.raises(httpcore.ReadTimeout):
            _left(30.0, httpcore.ReadTimeout)


# -- every number, date and size a target sends -----------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["retry_after_year", "retry_after_offset", "retry_after_digits"])
@pytest.mark.slow  # over a second: the quick loop stays within two minutes
def test_a_retry_after_no_calendar_can_hold_is_waited_by_default(
    raw: RawServer, cli: Callable[..., Ran], mode: str
) -> None:
    """A Retry-After date in year 10^20 (OverflowError in the standard library), further a +9999 offset and 5,000
    digits of seconds: the default wait, then the retry is judged."""
    ran = run_against(cli, raw.url(mode), "--only", "response.minimal.*")
    assert ran.code == 0, ran.out + ran.err
    assert_sound(ran)


def test_integers_of_thousands_of_digits_in_usage_leave_summary_json_writable(
    raw: RawServer, cli: Callable[..., Ran]
) -> None:
    """4,300-digit usage counts in every answer (their sum has more digits than Python writes): not added to the
    run's totals; summary.json written."""
    ran = run_against(cli, raw.url("usage_huge"), "--only", "request.temperature.*")
    assert ran.code in (0, 1), ran.err
    assert ran.summary["totals"]["requests"] >= 10 and ran.summary["totals"]["prompt_tokens"] == 0
    assert_sound(ran)


@pytest.mark.parametrize(
    ("mode", "says"),
    [("usage_huger", "an integer of 5000 digits"), ("created_overflow", "created")],
)
def test_numbers_past_any_representation_are_a_verdict(
    raw: RawServer, cli: Callable[..., Ran], mode: str, says: str
) -> None:
    """Further: a 5,000-digit count (valid JSON text no parser here turns into a number: failed, with why), and
    `created: 1e400` (read as inf: not an integer)."""
    ran = run_against(cli, raw.url(mode), "--only", "response.*")
    failed = [r["message"] for r in ran.summary["results"] if r["outcome"] == "failed"]
    assert ran.code == 1 and any(says in m for m in failed), failed
    assert_sound(ran)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--timeout", "inf"], "--timeout"),
        (["--timeout", "nan"], "not a finite number"),
        (["--timeout", "-nan"], "not a finite number"),
        (["--timeout", "1e309"], "--timeout"),
        (["--timeout", "1e300"], "--timeout"),  # finite, but no socket takes it
        (["--max-response-bytes", "9" * 30], "--max-response-bytes"),
        (["--seed", str(2**64)], "--seed"),
        (["--max-requests", "1" + "0" * 5000], "--max-requests"),
    ],
)
def test_an_unusable_option_value_is_exit_2(
    cli: Callable[..., Ran], untouched: str, args: list[str], says: str
) -> None:
    assert_usage_error(cli("run", "--base-url", untouched, "--model", "m", *args), says)


def test_an_unusable_number_in_the_config_is_exit_2(cli: Callable[..., Ran], untouched: str, tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    for text in ("timeout: .nan", "timeout: .inf", "max_response_bytes: 1e400"):
        config.write_text(text)
        ran = cli("run", "--base-url", untouched, "--model", "m", "--config", str(config))
        assert ran.code == 2 and len(ran.err.splitlines()) == 1, ran.err


# -- a broken target never "conforms" ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "mode",
    [
        "stream_fast_chunks",  # chunks as fast as the socket takes them
        "stream_fast_comments",  # comments only
        "stream_one_huge_line",  # one data line, never ended
        "stream_nameless_events",  # further: `event:` lines without data
        "stream_after_done",  # further: [DONE], and the stream goes on
    ],
)
def test_a_stream_that_never_ends_fails_stream_done(raw: RawServer, cli: Callable[..., Ran], mode: str) -> None:
    """Past 2 x n x (limit + 4) + 8 data events, or the stream's byte bound: `stream.done` failed with the counts,
    `stream.finish_reason` failed (warned: SHOULD in the atoma profile); never a conforming exit 0."""
    ran = run_against(cli, raw.url(mode), "--only", "stream.done", "--only", "stream.finish_reason")
    outcome, message = ran.outcome("stream.done")
    assert ran.code == 1 and outcome == "failed", ran.out
    assert "still open after" in message and ("2 x n x (limit + 4) + 8 = 48" in message or "bytes" in message)
    assert ran.outcome("stream.finish_reason")[0] == "warned"
    assert_sound(ran)


@pytest.mark.slow  # over a second: the quick loop stays within two minutes
def test_a_stream_sending_only_comments_until_the_deadline_is_an_error(raw: RawServer, cli: Callable[..., Ran]) -> None:
    ran = run_against(cli, raw.url("stream_slow_comments"), "--timeout", "1.5", "--only", "stream.done")
    outcome, message = ran.outcome("stream.done")
    assert ran.code == 3 and outcome == "error" and "1.5s" in message, message
    assert_sound(ran)


@pytest.mark.parametrize("mode", ["nan", "infinity_usage"])
def test_nan_and_infinity_are_not_json(raw: RawServer, cli: Callable[..., Ran], mode: str) -> None:
    """`NaN` (and, further, `-Infinity`) in a body: not JSON (RFC 8259): failed."""
    ran = run_against(cli, raw.url(mode), "--only", "response.minimal.*")
    outcome, message = ran.outcome("response.minimal.schema")
    assert ran.code == 1 and outcome == "failed" and "RFC 8259" in message, message
    assert_sound(ran)


def test_nan_in_a_stream_chunk_is_not_json(raw: RawServer, cli: Callable[..., Ran]) -> None:
    """Further: `NaN` inside a stream chunk fails stream.data_json."""
    ran = run_against(cli, raw.url("nan_in_stream"), "--only", "stream.data_json")
    assert ran.code == 1 and ran.outcome("stream.data_json")[0] == "failed"
    assert_sound(ran)


@pytest.mark.parametrize(
    ("mode", "outcome"), [("stop_inside", "failed"), ("stop_only", "failed"), ("stop_honoured", "passed")]
)
def test_output_containing_its_stop_sequence_fails(
    raw: RawServer, cli: Callable[..., Ran], mode: str, outcome: str
) -> None:
    """The stop word inside output that differs before it (was: inconclusive) and, further, output that is nothing
    but the stop sequence: failed. A target that honours it passes."""
    ran = run_against(cli, raw.url(mode), "--only", "semantic.stop.truncates")
    got, message = ran.outcome("semantic.stop.truncates")
    assert got == outcome, message
    if outcome == "failed":
        assert "contains the stop sequence" in message and "charlie" in message
    assert_sound(ran)
    assert FREE_WORDS  # the unconstrained answer the stop word is taken from


# -- bounded input files ----------------------------------------------------------------------------------------------


BOMB = "".join(
    f"{name}: &{name} [{', '.join([f'*{prev}'] * 9) if prev else ', '.join(['x'] * 9)}]\n"
    for prev, name in zip(["", *"abcdefgh"], "abcdefghi", strict=True)
)  # 9^9 = 387 million nodes in 400 bytes


@pytest.mark.parametrize(
    ("option", "text", "says"),
    [
        ("--config", BOMB, "aliases expand to more than"),
        ("--spec", BOMB, "aliases expand to more than"),
        ("--config", "a: &a [*a]\n", "aliases expand to more than"),  # further: a recursive alias
        (
            "--config",
            "a: &a {"
            + ", ".join(f"k{i}: {i}" for i in range(50))
            + "}\n"
            + "".join(f"b{i}: &b{i} {{<<: [*{'a' if i == 0 else f'b{i - 1}'}], z{i}: 1}}\n" for i in range(3000)),
            "aliases expand to more than",
        ),  # further: merge keys, each copying the last
        ("--config", "seed: 1\n" + "# padding\n" * 200_000, "larger than"),  # further: 2 MB
        ("--baseline", BOMB, "aliases expand to more than"),  # further: a baseline
    ],
)
def test_an_input_file_is_read_within_bounds(
    cli: Callable[..., Ran], untouched: str, tmp_path: Path, option: str, text: str, says: str
) -> None:
    """An alias bomb of a few hundred bytes (was: 36 s, 1.75 GB, a 351 MB error line) in the config, the spec and,
    further, a baseline; a recursive alias; a 2 MB config: exit 2 at once, one short line."""
    path = tmp_path / "input.yaml"
    path.write_text(text)
    ran = cli("run", "--base-url", untouched, "--model", "m", option, str(path))
    line = assert_usage_error(ran, says)
    assert ran.elapsed < 5 and len(line) < 400, (ran.elapsed, len(line))


# -- the report directory ---------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_six_runs_into_one_report_dir_at_once_leave_one_complete_set(raw: RawServer, tmp_path: Path) -> None:
    """6 runs into one --report-dir at once (was: 8 of 18 crashed): each exits 0 or is refused with exit 2 (the
    directory is in use); no traceback; the directory ends with one complete, valid set."""
    report_dir = tmp_path / "shared"
    argv = ["run", "--base-url", raw.url("plain"), "--model", "m", "--only", "response.minimal.*"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONFORMANCE_")} | {"CONFORMANCE_API_KEY": KEY}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "conformance", *argv, "--report-dir", str(report_dir)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(6)
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    codes = [p.returncode for p in procs]
    assert set(codes) <= {0, 2} and 0 in codes, (codes, outputs)
    for (out, err), code in zip(outputs, codes, strict=True):
        assert "Traceback" not in out + err
        if code == 2:
            assert "in use by another run" in err
    ran = Ran(0, "", "", report_dir, 0)
    assert_sound(ran)
    assert len(list((report_dir / "allure-results").glob("*-result.json"))) == len(ran.summary["results"])


def test_a_report_dir_held_by_another_run_is_exit_2(cli: Callable[..., Ran], untouched: str, tmp_path: Path) -> None:
    from conformance.report import lock_report_dir

    report_dir = tmp_path / "busy"
    with lock_report_dir(report_dir):
        ran = cli("run", "--base-url", untouched, "--model", "m", "--report-dir", str(report_dir))
    assert_usage_error(ran, "in use by another run")


def _write(report_dir: Path, seed: int) -> None:
    from conformance.records import Outcome, Result
    from conformance.report import RunInfo, write_reports

    results = [
        Result(f"x.r{i}", "openapi.yaml#/x", "c", None, "MUST", Outcome.PASSED, f"run {seed}")
        for i in range(seed % 7 + 3)
    ]
    info = RunInfo("0", "spec", "0" * 64, "0" * 64, "http://h", "m", "atoma", seed, "2026-01-01T00:00:00+00:00")
    write_reports(results, info, report_dir)


def test_reports_are_written_atomically(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Further: 8 writers at once without the lock (the runner used as a library) end with one complete set; a
    writer that fails half-way leaves the previous complete set as it was, and no staging directory."""
    from conformance import report

    report_dir = tmp_path / "r"
    threads = [threading.Thread(target=_write, args=(report_dir, seed)) for seed in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ran = Ran(0, "", "", report_dir, 0)
    assert_sound(ran)
    assert len(list((report_dir / "allure-results").glob("*-result.json"))) == len(ran.summary["results"])
    before = {p.name: p.read_bytes() for p in report_dir.iterdir() if p.is_file()}

    def broken(*args: Any) -> bytes:
        raise OSError("disk full")

    monkeypatch.setattr(report, "junit", broken)
    with pytest.raises(OSError):
        _write(report_dir, 99)
    assert {p.name: p.read_bytes() for p in report_dir.iterdir() if p.is_file()} == before
    assert_sound(ran)


# -- the base URL -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://user:s3cr3t-pa55@HOST", "credentials"),
        ("http://token-0123456789abcdef@HOST", "credentials"),  # further: a user name alone (a token)
        ("http://HOST?token=abc", "`query` setting"),
        ("http://HOST/v1?api-version=1", "`query` setting"),
        ("http://HOST#fragment", "fragment"),
        ("http://HOST/?", "`query` setting"),  # further: an empty query
    ],
)
def test_a_base_url_with_credentials_query_or_fragment_is_exit_2(
    cli: Callable[..., Ran], untouched: str, url: str, says: str
) -> None:
    host = untouched.removeprefix("http://")
    line = assert_usage_error(cli("run", "--base-url", url.replace("HOST", host), "--model", "m"), says)
    assert "s3cr3t" not in line and "0123456789abcdef" not in line and "token=abc" not in line


def test_a_targets_base_url_with_a_query_is_exit_2_before_any_target_runs(
    cli: Callable[..., Ran], untouched: str, tmp_path: Path
) -> None:
    """Further: in a targets file, the second target's base URL is bad: nothing is sent to the first either."""
    config = tmp_path / "c.yaml"
    targets = [
        {"name": "a", "base_url": untouched, "model": "m"},
        {"name": "b", "base_url": untouched + "?k=v", "model": "m"},
    ]
    config.write_text(json.dumps({"targets": targets}))
    assert_usage_error(cli("run", "--config", str(config), "--all-targets"), "`query` setting")


def test_an_ipv6_literal_stays_bracketed_in_curl_lines(cli: Callable[..., Ran]) -> None:
    """`http://[::1]:P` (a loopback server of its own): every curl line's URL parses back to that host and port.
    Further: a zone id and no port, in the unit."""
    from conformance.transport import strip_credentials

    with raw_server("::1") as server:
        ran = run_against(cli, server.url("nan"), "--only", "response.minimal.*")
        port = server.port
    curls = [r["reproduce"] for r in ran.summary["results"] if r["reproduce"]]
    assert curls
    for line in curls:
        url = httpx.URL(next(part for part in shlex.split(line) if part.startswith("http")))
        assert (url.host, url.port) == ("::1", port), line
    assert_sound(ran)
    assert strip_credentials("http://u:p@[fe80::1%25eth0]/v1/x?k=1") == "http://[fe80::1%25eth0]/v1/x"


# -- reports stay valid -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("model", ["m\x1b[31m\x07\x00", "m\x7f\x85\x9b\ufffe|`<&>"])
def test_a_model_name_with_control_characters_leaves_every_report_valid(
    raw: RawServer, cli: Callable[..., Ran], model: str
) -> None:
    """A model name with terminal escapes, BEL, NUL (and, further, DEL, C1 controls, a non-character, Markdown and
    XML syntax): junit.xml well-formed, the request attachments JSON (`\\u....`), nothing raw anywhere."""
    ran = run_against(cli, raw.url("nan"), "--only", "response.minimal.*", model=model)
    assert ran.code == 1, ran.err
    assert_sound(ran)
    requests = [
        json.loads(p.read_text())
        for p in (ran.report_dir / "allure-results").glob("*-attachment.json")
        if "messages" in p.read_text()
    ]
    assert requests and all(r["model"] == model for r in requests)


@pytest.mark.parametrize(
    ("args", "env", "says"),
    [
        (["--model", "m\udcff"], {}, "--model is not valid UTF-8"),
        ([], {"CONFORMANCE_MODEL": "m\udcfe"}, "--model is not valid UTF-8"),  # further: from the environment
        (["--model", "m", "--only", "response.\udce9*"], {}, "--only is not valid UTF-8"),
        (["--model", "m", "--report-dir", "reports-\udcff"], {}, "--report-dir is not valid UTF-8"),
    ],
)
def test_invalid_utf8_in_any_option_is_exit_2_before_sending(
    cli: Callable[..., Ran], untouched: str, args: list[str], env: dict[str, str], says: str
) -> None:
    assert_usage_error(cli("run", "--base-url", untouched, *args, env=env), says)
