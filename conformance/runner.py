"""One run, in order: preflight, the suite, reports. Returns the exit code of design.md."""

from __future__ import annotations

import contextlib
import hashlib
import random
import secrets
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest

from conformance import __version__
from conformance.checks import infrastructure_problem
from conformance.contract import Contract
from conformance.records import Outcome, Result
from conformance.report import RunInfo, totals, write_reports
from conformance.suite.context import RunContext
from conformance.suite.plugin import SuitePlugin
from conformance.transport import Exchange, TargetClient
from conformance.transport.redact import strip_credentials

__all__ = ["EXIT_ERRORS", "EXIT_FAILED", "EXIT_OK", "EXIT_USAGE", "RunSettings", "run"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_ERRORS = 0, 1, 2, 3
SUITE_DIR = Path(__file__).parent / "suite"


@dataclass
class RunSettings:
    """Effective settings of a run, after command line > environment > config file > defaults."""

    contract: Contract
    base_url: str | None = None
    api_key: str | None = None
    model: str | None = None
    report_dir: Path = Path("reports")
    seed: int | None = None
    max_examples: int | None = None
    max_requests: int | None = None
    only: list[str] = field(default_factory=list)
    skip: list[str] = field(default_factory=list)
    timeout: float = 30.0
    capabilities: list[str] = field(default_factory=list)
    progress: bool = True


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


@contextlib.contextmanager
def _target(settings: RunSettings) -> Iterator[tuple[str, str | None, str, bool]]:
    """(base URL, key, model, is_reference): the given target, or a bundled reference server."""
    if settings.base_url:
        assert settings.model, "--model is required with --base-url"
        yield settings.base_url, settings.api_key, settings.model, False
        return
    from conformance.reference import DEFAULT_MODEL, ServerConfig, running_server

    model = settings.model or DEFAULT_MODEL
    key = settings.api_key or f"ref-{secrets.token_urlsafe(16)}"
    config = ServerConfig(api_key=key, profile=settings.contract.profile, models=(model,), contract=settings.contract)
    with running_server(config) as url:
        yield url, key, model, True


def preflight_problem(ctx: RunContext, exchange: Exchange) -> str | None:
    """Why the run cannot go on at all (exit 3), or None."""
    if exchange.error:
        return f"target unreachable: {exchange.error}"
    if exchange.status == 401:
        given = "the given key" if ctx.api_key_given else "no key (pass --api-key)"
        return f"the target refused {given}: HTTP 401 {exchange.text[:200]}"
    return infrastructure_problem(ctx.contract, exchange)


def run(settings: RunSettings) -> int:
    """Run the suite against the target of `settings`; write reports; return the exit code."""
    contract = settings.contract
    seed = settings.seed if settings.seed is not None else random.randrange(2**31)
    started = _now()
    results: list[Result] = []
    stopped: str | None = None
    with _target(settings) as (base_url, api_key, model, is_reference):
        client = TargetClient(base_url, api_key, timeout=settings.timeout, max_requests=settings.max_requests)
        shown_url = "bundled reference server" if is_reference else client.public_base_url
        _say(f"conformance {__version__}: target {shown_url}, model {model}, profile {contract.profile}, seed {seed}")
        ctx = RunContext(
            contract=contract,
            client=client,
            model=model,
            seed=seed,
            api_key_given=bool(api_key),
            declared=frozenset(settings.capabilities),
            max_examples=settings.max_examples,
        )
        try:
            ctx.preflight = client.chat(ctx.body())
            problem = preflight_problem(ctx, ctx.preflight)
            if problem:
                stopped = problem
                _say(f"conformance: preflight: {problem}")
            else:
                ctx.limit_honoured = ctx.preflight_limit()[0]
                if ctx.preflight.status != 200:
                    ctx.skip_all = f"the minimal request was answered HTTP {ctx.preflight.status}, not 200"
                plugin = SuitePlugin(ctx, settings.only, settings.skip, progress=settings.progress)
                args = [str(SUITE_DIR), "-c", str(SUITE_DIR / "suite.ini"), "--rootdir", str(SUITE_DIR)]
                code = pytest.main([*args, "-p", "no:cacheprovider", "-p", "no:terminal"], plugins=[plugin])
                if code == pytest.ExitCode.INTERRUPTED:
                    stopped = "interrupted"
                elif code not in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED, pytest.ExitCode.TESTS_FAILED):
                    stopped = f"the suite could not run (pytest exit {int(code)})"
                stopped = stopped or ctx.stop_reason
            results = ctx.results
        except KeyboardInterrupt:
            stopped, results = "interrupted", ctx.results
        finally:
            client.close()
    info = RunInfo(
        version=__version__,
        spec_path=str(contract.path),
        spec_sha256=contract.sha256,
        spec_file_sha256=hashlib.sha256(contract.path.read_bytes()).hexdigest(),
        base_url="reference" if is_reference else strip_credentials(client.base_url),
        model=model,
        profile=contract.profile,
        seed=seed,
        started_at=started,
        finished_at=_now(),
        stopped=stopped,
        requests=client.usage.requests,
        prompt_tokens=client.usage.prompt_tokens,
        completion_tokens=client.usage.completion_tokens,
        reference=is_reference,
    )
    info.exit_code = exit_code(results, stopped)
    write_reports(results, info, settings.report_dir)
    _print_summary(results, info, settings.report_dir)
    return info.exit_code


def exit_code(results: list[Result], stopped: str | None) -> int:
    """1 if anything failed; else 3 if errors kept verdicts from being reached; else 0."""
    outcomes = {r.outcome for r in results}
    if Outcome.FAILED in outcomes:
        return EXIT_FAILED
    if Outcome.ERROR in outcomes or stopped:
        return EXIT_ERRORS
    return EXIT_OK


def _print_summary(results: list[Result], info: RunInfo, report_dir: Path) -> None:
    t = totals(results, info)
    _say("")
    _say(
        f"{t['passed']} passed, {t['failed']} failed, {t['warned']} warned, {t['unsupported']} unsupported, "
        f"{t['skipped']} skipped, {t['errors']} errors; {t['requests']} requests, "
        f"{t['prompt_tokens']} + {t['completion_tokens']} tokens"
    )
    shown = [r for r in results if r.outcome in (Outcome.FAILED, Outcome.ERROR)]
    for r in shown[:15]:
        _say(f"  {r.outcome.value:<6} {r.id}: {r.message.splitlines()[0][:160]}")
    if len(shown) > 15:
        _say(f"  ... and {len(shown) - 15} more in {report_dir / 'summary.md'}")
    if info.stopped:
        _say(f"stopped: {info.stopped}")
    _say(f"reports: {report_dir}/ (summary.json, summary.md, junit.xml, allure-results/); exit {info.exit_code}")
