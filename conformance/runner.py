"""One run, in order: preflight, the suite, reports. Returns the exit code of docs/verdicts.md."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import random
import secrets
import sys
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from conformance import __version__, interrupts
from conformance.baseline import Baseline
from conformance.checks import (
    Check,
    Facts,
    body,
    infrastructure_problem,
    is_server_error,
    limit_honoured,
    make_result,
    plan,
    selected,
)
from conformance.checks.base import STATUS_LIMIT
from conformance.checks.requests import SMALL_LIMIT
from conformance.contract import Contract
from conformance.driver import Driver, uses_status_limit
from conformance.driver.clients import installed
from conformance.driver.pregenerate import Pregenerated
from conformance.driver.saved import SAVED, Recorder, facts_json
from conformance.records import Exchange, Outcome, Result
from conformance.report import RunInfo, by_cause, totals, write_reports
from conformance.transport import EXTRA_BUDGET, RETRY_BUDGET, TargetClient, strip_credentials, visible

if TYPE_CHECKING:
    from conformance.driver.plan import Plan

__all__ = [
    "DEFAULT_CONCURRENCY",
    "EXIT_ERRORS",
    "EXIT_FAILED",
    "EXIT_OK",
    "EXIT_USAGE",
    "Opened",
    "RunSettings",
    "concurrency_of",
    "exit_code",
    "opened",
    "plan_of",
    "run",
]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_ERRORS = 0, 1, 2, 3
# requests in flight at once when none is given: most providers allow that many per key, and a nightly of about
# 300 requests then takes about a quarter of the time; the bundled reference server runs fastest with this many
# (benchmarks/README.md)
DEFAULT_CONCURRENCY = 4
REFERENCE_CONCURRENCY = 2


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
    max_response_bytes: int = 16 * 1024 * 1024
    capabilities: list[str] = field(default_factory=list)
    target_name: str = ""  # the targets file's name for this target
    chat_path: str = "/v1/chat/completions"
    query: dict[str, str] = field(default_factory=dict)
    auth_header: str = "Authorization"
    auth_prefix: str = "Bearer "
    key_variable: str = "CONFORMANCE_API_KEY"  # the environment variable reproduction lines name for the key
    baseline: Baseline | None = None  # known failures: failed -> xfailed, stale entries -> xpassed
    strict_baseline: bool = False  # a stale baseline entry fails the run
    concurrency: int | None = None  # requests in flight at once; None: DEFAULT_CONCURRENCY (`concurrency_of`)
    rate: float | None = None  # at most this many requests per second; None: unpaced
    probe_rate_limit: int | None = None  # opt in: up to this many requests until a 429 (`ratelimit.envelope`)
    progress: bool = True
    transport: httpx.BaseTransport | None = None  # send through this instead of the network (in-process tests)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _say(line: str) -> None:
    """A diagnostic, on stderr."""
    print(visible(line), file=sys.stderr, flush=True)


def _show(line: str) -> None:
    """Part of the results, on stdout."""
    print(visible(line), flush=True)


@dataclass(frozen=True)
class Target:
    """What the run talks to: its base URL, key and model, and whether it is the bundled reference server."""

    base_url: str
    api_key: str | None
    model: str
    is_reference: bool


@contextlib.contextmanager
def _target(settings: RunSettings) -> Iterator[Target]:
    """The given target, or a bundled reference server started for the run."""
    if settings.base_url:
        assert settings.model, "--model is required with --base-url"
        yield Target(settings.base_url, settings.api_key, settings.model, False)
        return
    from conformance.reference import DEFAULT_MODEL, ServerConfig, running_server

    model = settings.model or DEFAULT_MODEL
    key = settings.api_key or f"ref-{secrets.token_urlsafe(16)}"
    config = ServerConfig(api_key=key, profile=settings.contract.profile, models=(model,), contract=settings.contract)
    with running_server(config) as url:
        yield Target(url, key, model, True)


@dataclass(frozen=True)
class Ran:
    """What the sending part of a run produced: its results, in order, why it stopped early (or None), and
    whether the target was found misconfigured (exit 2, no reports)."""

    results: tuple[Result, ...] = ()
    stopped: str | None = None
    usage_error: bool = False
    facts: Facts | None = None  # what the checks knew (the completion limit settled by the preflight), if it got so far
    plan: Plan | None = None  # the ceilings stated before sending
    recorder: Recorder | None = None  # the exchanges judged, saved with the reports (`conformance rejudge`)


def unknown_model(model: str, preflight: Exchange, client: TargetClient) -> str | None:
    """A configuration mistake the preflight shows (docs/verdicts.md): the model is unknown to the target (a 404,
    or a 4xx naming the model, and `/v1/models`, when it answers, does not list it). None otherwise."""
    status = preflight.status or 0
    if status in (401, 402, 403, 423, 425, 429) or not 400 <= status < 500:
        return None
    if status != 404 and model not in preflight.text:
        return None
    listed = client.models()
    if listed is not None and model in listed:
        return None
    shown = (f"; it lists: {', '.join(listed[:20])}" + (" ..." if len(listed) > 20 else "")) if listed else ""
    return f"the target does not serve model {model!r} (HTTP {status}: {preflight.text[:160]}){shown}"


def preflight_problem(facts: Facts, exchange: Exchange) -> str | None:
    """Why the run cannot go on at all (exit 3), or None."""
    if exchange.error:
        return f"target unreachable: {exchange.error}"
    if exchange.status == 401:
        given = "the given key" if facts.api_key_given else "no key (pass --api-key)"
        return f"the target refused {given}: HTTP 401 {exchange.text[:200]}"
    return infrastructure_problem(facts.contract, exchange)


def _limit_facts(facts: Facts, client: TargetClient, preflight: Exchange, controlled: bool) -> Facts:
    """Which completion limit the run caps its requests with (`_limit_field`), and, when the run sends requests
    judged by their status alone (`controlled`), the one they ask for (`_status_limit`)."""
    facts = _limit_field(facts, client, preflight)
    return _status_limit(facts, client) if controlled and preflight.status == 200 else facts


def _selected(settings: RunSettings, planned: list[Check]) -> list[Check]:
    return [c for c in planned if selected(c.id, settings.only, settings.skip)]


def _status_limit(facts: Facts, client: TargetClient) -> Facts:
    """The control of the status limit: the minimal request at `STATUS_LIMIT` (one token). A target that does not
    serve it would refuse every request judged by its status alone because of its limit, whatever the value under
    test: those ask for the small default instead (and the plan is revised)."""
    control = client.chat(body(facts, STATUS_LIMIT))
    if control.status is None or not 400 <= control.status < 500 or control.status in (408, 429):
        return facts  # served, or the target's trouble (no answer, 5xx, a rate limit): not a refusal of the limit
    _say(
        f"conformance: the target refuses a completion limit of {STATUS_LIMIT} (HTTP {control.status}); requests "
        f"judged by their status alone ask for {SMALL_LIMIT} tokens instead"
    )
    return dataclasses.replace(facts, status_limit=SMALL_LIMIT)


def _limit_field(facts: Facts, client: TargetClient, preflight: Exchange) -> Facts:
    """When the preflight's `max_completion_tokens` is ignored, one more request tries `max_tokens`; a target that
    honours it gets it for the rest of the run."""
    if preflight.status != 200 or limit_honoured(preflight)[0]:
        return facts
    fallback = dataclasses.replace(facts, limit_field="max_tokens")
    second = client.chat(body(fallback))
    ignored = frozenset({"max_completion_tokens"})
    if second.status == 200 and limit_honoured(second)[0]:
        _say("conformance: max_completion_tokens is ignored; max_tokens is honoured and caps every request")
        return dataclasses.replace(fallback, ignored_limits=ignored)
    _say("conformance: no completion limit is honoured; checks with longer outputs are skipped")
    return dataclasses.replace(facts, limit_honoured=False, ignored_limits=ignored | {"max_tokens"})


def run(settings: RunSettings) -> int:
    """Run the suite against the target of `settings`; write reports; return the exit code. A SIGINT or SIGTERM
    at any moment of it ends in reports (`conformance.interrupts`)."""
    with interrupts.session():
        with opened(settings) as session:
            try:
                ran = _send(settings, session.target, session.client, session.seed, session.planned)
            finally:
                interrupts.reporting()
        if ran.usage_error:
            return EXIT_USAGE
        return _report(settings, session.target, session.client, session.seed, session.started, ran)


@dataclass
class Opened:
    """A run held open between its steps, for a caller that runs checks of its own beside the planned ones (the
    pytest plugin): from `opened` until it returns, the target is up and the client open. `send` runs the
    preflight and the chosen planned checks, `record` takes a result of the caller's own (redacted on the way in,
    like the driver's), and `report` writes every report of both. `run` is the same steps in one call."""

    settings: RunSettings
    target: Target
    client: TargetClient
    seed: int
    started: str
    planned: list[Check]
    ran: Ran = Ran()
    extra: list[Result] = field(default_factory=list)

    def send(self, chosen: Collection[str] | None = None) -> Ran:
        """Setup, the preflight, then the planned checks whose ids are `chosen` (all when None)."""
        checks = [c for c in self.planned if chosen is None or c.id in chosen]
        self.ran = _send(self.settings, self.target, self.client, self.seed, checks)
        return self.ran

    def record(self, result: Result) -> Result:
        """A result of the caller's own, as it leaves the process (redacted); it is reported after the run's."""
        result = self.client.redactor.result(result)
        self.extra.append(result)
        return result

    def info(self) -> RunInfo:
        """The run's provenance so far (what a report written now would record)."""
        return run_info(self.settings, self.target, self.client, self.seed, self.started)

    def report(self) -> int:
        """Every report of the run's results and the recorded ones; the exit code (2: nothing written, as `run`)."""
        if self.ran.usage_error:
            return EXIT_USAGE
        stopped = self.ran.stopped
        if stopped is None and self.client.budget_hit:  # the caller's checks spent what was left
            stopped = f"incomplete: --max-requests {self.client.max_requests} reached before every check ran"
        ran = dataclasses.replace(self.ran, results=self.ran.results + tuple(self.extra), stopped=stopped)
        return _report(self.settings, self.target, self.client, self.seed, self.started, ran, show=False)


@contextlib.contextmanager
def opened(settings: RunSettings) -> Iterator[Opened]:
    """A run of `settings` held open (see `Opened`); its target (a bundled reference server started for it, when
    no base URL is given) and its client live until the block ends. Signals are the caller's to handle."""
    seed = settings.seed if settings.seed is not None else random.randrange(2**31)
    started = _now()
    planned = plan(settings.contract)
    with _target(settings) as target:
        client = _client(settings, target)
        try:
            yield Opened(settings, target, client, seed, started, planned)
        finally:
            client.close()


def concurrency_of(settings: RunSettings, reference: bool = False) -> int:
    """The requests a run may have in flight at once: the given concurrency, else DEFAULT_CONCURRENCY (for the
    bundled reference server, REFERENCE_CONCURRENCY: what runs it fastest)."""
    if settings.concurrency is not None:
        return settings.concurrency
    return REFERENCE_CONCURRENCY if reference else DEFAULT_CONCURRENCY


def _client(settings: RunSettings, target: Target) -> TargetClient:
    return TargetClient(
        target.base_url,
        target.api_key,
        timeout=settings.timeout,
        max_requests=settings.max_requests,
        max_response_bytes=settings.max_response_bytes,
        chat_path=settings.chat_path,
        query=settings.query,
        auth_header=settings.auth_header,
        auth_prefix=settings.auth_prefix,
        transport=settings.transport,
        key_variable=settings.key_variable,
        rate=settings.rate,
        concurrency=concurrency_of(settings, target.is_reference),
        retry_budget=RETRY_BUDGET,
        extra_budget=EXTRA_BUDGET,
    )


def _send(settings: RunSettings, target: Target, client: TargetClient, seed: int, planned: list[Check]) -> Ran:
    """Setup, the preflight, then every check; a signal (before or during) ends it with what ran. The property
    layer's bodies are generated meanwhile, by a helper process (`driver.pregenerate`)."""
    modes = [c.params["mode"] for c in _selected(settings, planned) if c.kind == "property"]
    with contextlib.closing(Pregenerated(settings.contract, modes, settings.max_examples, seed)) as pregenerated:
        return _sent(settings, target, client, seed, planned, pregenerated)


def _sent(
    settings: RunSettings,
    target: Target,
    client: TargetClient,
    seed: int,
    planned: list[Check],
    pregenerated: Pregenerated,
) -> Ran:
    shown_url = "bundled reference server" if target.is_reference else client.public_base_url
    profile = settings.contract.profile
    _say(f"conformance {__version__}: target {shown_url}, model {target.model}, profile {profile}, seed {seed}")
    driver: Driver | None = None
    ceilings: Plan | None = None
    recorder = Recorder(client.redactor, settings.max_response_bytes)
    try:
        ceilings = _stated_plan(settings, bool(target.api_key), planned)
        with interrupts.armed():
            facts = _facts(settings, target, seed)
            preflight = _preflight(facts, client)
            unknown = unknown_model(target.model, preflight, client)
            if unknown:
                _say(f"conformance: {client.redactor.clean(unknown)}")
                return Ran(usage_error=True)
            problem = preflight_problem(facts, preflight)
            if problem:
                _say(f"conformance: preflight: {client.redactor.clean(problem)}")
                return Ran(stopped=client.redactor.clean(problem))
            facts = _limit_facts(facts, client, preflight, uses_status_limit(_selected(settings, planned), facts))
            if facts.status_limit != STATUS_LIMIT and ceilings is not None:
                ceilings = _stated_plan(settings, bool(target.api_key), planned, facts.status_limit) or ceilings
            driver = _driver(settings, facts, client, preflight, planned, concurrency_of(settings, target.is_reference))
            driver.recorder = recorder
            driver.pregenerated = pregenerated
            driver.run(planned)
    except KeyboardInterrupt:
        done = tuple(driver.results) if driver else ()
        not_run = tuple(_not_run(planned, settings, {r.id for r in done}, "interrupted"))
        facts_then = driver.facts if driver else None
        return Ran(done + not_run, "interrupted", facts=facts_then, plan=ceilings, recorder=recorder)
    stopped = driver.stop_reason
    if stopped is None and client.budget_hit:
        stopped = f"incomplete: --max-requests {client.max_requests} reached before every check ran"
    # nothing planned vanishes: a check that ended without a record is an error
    done = tuple(driver.results)
    missing = _not_run(planned, settings, {r.id for r in done}, "it ended without a record", Outcome.ERROR)
    return Ran(done + tuple(missing), stopped, facts=driver.facts, plan=ceilings, recorder=recorder)


def plan_of(
    settings: RunSettings, api_key_given: bool, checks: list[Check] | None = None, status_limit: int = STATUS_LIMIT
) -> Plan:
    """The ceilings of a run of `settings` (`conformance plan`), before any traffic; `status_limit`: what a request
    judged by its status alone asks for (the run's control may revise it, `_status_limit`)."""
    from conformance.driver.plan import plan_run  # imports the property layer's generator: only when planning

    return plan_run(
        settings.contract,
        checks=checks,
        only=settings.only,
        skip=settings.skip,
        max_examples=settings.max_examples,
        max_requests=settings.max_requests,
        declared=settings.capabilities,
        api_key_given=api_key_given,
        bearer_auth=_bearer(settings),
        probe_rate_limit=settings.probe_rate_limit,
        status_limit=status_limit,
    )


def _stated_plan(
    settings: RunSettings, api_key_given: bool, planned: list[Check], status_limit: int = STATUS_LIMIT
) -> Plan | None:
    """The run's plan, said on stderr before anything is sent (again, revised, when the control of the status
    limit changes it); None (and said) if it could not be made: a bug of ours in planning must not stop a run."""
    try:
        ceilings = plan_of(settings, api_key_given, planned, status_limit)
    except Exception as exc:
        _say(f"conformance: the plan could not be made ({type(exc).__name__}: {exc}); the run goes on without it")
        return None
    if status_limit != STATUS_LIMIT:
        _say(f"conformance: the plan revised, requests judged by their status alone asking for {status_limit} tokens:")
    for line in ceilings.lines():
        _say(line)
    return ceilings


def _bearer(settings: RunSettings) -> bool:
    return settings.auth_header.lower() == "authorization" and settings.auth_prefix == "Bearer "


def _facts(settings: RunSettings, target: Target, seed: int) -> Facts:
    """What the checks may know of the run (the SDK clients imported here: a signal meanwhile still reports)."""
    return Facts(
        settings.contract,
        target.model,
        seed,
        frozenset(settings.capabilities),
        api_key_given=bool(target.api_key),
        clients=installed(),
        bearer_auth=_bearer(settings),
    )


def _preflight(facts: Facts, client: TargetClient) -> Exchange:
    """The minimal request; a server error is repeated once, identically (rule 10)."""
    preflight = client.chat(body(facts))
    if not is_server_error(preflight):
        return preflight
    if client.remaining == 0:
        return preflight.without_repeat(f"--max-requests {client.max_requests} reached")
    if not client.take_retry():
        return preflight.without_repeat(client.retry_spent)
    repeat = client.chat(body(facts))
    if is_server_error(repeat):
        return preflight.with_repeat(repeat)
    _say(
        f"conformance: preflight: {client.redactor.clean(preflight.describe(120))}, but an identical repeat was served"
    )
    return repeat


def _driver(
    settings: RunSettings,
    facts: Facts,
    client: TargetClient,
    preflight: Exchange,
    planned: list[Check],
    concurrency: int = 1,
) -> Driver:
    driver = Driver(
        facts,
        client,
        preflight,
        only=settings.only,
        skip=settings.skip,
        progress=settings.progress,
        max_examples=settings.max_examples,
        known=settings.baseline.entry_for if settings.baseline is not None else None,
        concurrency=concurrency,
        probe_rate_limit=settings.probe_rate_limit,
    )
    if preflight.status != 200:
        driver.skip_all = f"the minimal request was answered HTTP {preflight.status}, not 200"
    needed = driver.requests_needed(planned)
    if client.remaining is not None and client.remaining < needed:
        _say(
            f"conformance: --max-requests {client.max_requests} is below the {needed + 1} requests "
            "the selected hand-written checks need: the run will be incomplete (--skip runs less on purpose)"
        )
    return driver


def _report(
    settings: RunSettings, target: Target, client: TargetClient, seed: int, started: str, ran: Ran, show: bool = True
) -> int:
    """The baseline applied, every report written, the summary printed (unless `show` is False); the exit code."""
    results = list(ran.results)
    if settings.baseline is not None:
        results = settings.baseline.apply(results, stopped=ran.stopped)
    code = exit_code(results, ran.stopped, settings.strict_baseline)
    info = run_info(settings, target, client, seed, started, code, ran.stopped)
    if ran.plan is not None:
        info = dataclasses.replace(info, plan=ran.plan.to_json())
    files = {}
    if ran.recorder is not None and ran.facts is not None:
        header = {
            "tool": __version__,
            "spec_path": info.spec_path,
            "spec_sha256": info.spec_sha256,
            "profile": info.profile,
            "model": info.model,
            "seed": seed,
            "only": settings.only,
            "skip": settings.skip,
            "started_at": started,
            "facts": facts_json(ran.facts),
            "max_response_bytes": settings.max_response_bytes,
        }
        files[SAVED] = ran.recorder.payload(header)
    write_reports(results, info, settings.report_dir, files)
    if show:
        _print_summary(results, info, settings.report_dir)
    return info.exit_code


def run_info(
    settings: RunSettings,
    target: Target,
    client: TargetClient,
    seed: int,
    started: str,
    code: int = EXIT_OK,
    stopped: str | None = None,
) -> RunInfo:
    """The provenance of a run as its reports record it, its usage counted so far."""
    contract = settings.contract
    return RunInfo(
        version=__version__,
        spec_path=str(contract.path),
        spec_sha256=contract.sha256,
        spec_file_sha256=hashlib.sha256(contract.path.read_bytes()).hexdigest(),
        base_url="reference" if target.is_reference else strip_credentials(client.base_url),
        model=target.model,
        profile=contract.profile,
        seed=seed,
        started_at=started,
        finished_at=_now(),
        exit_code=code,
        stopped=stopped,
        requests=client.usage.requests,
        largest_completion_limit=client.usage.largest_limit,
        prompt_tokens=client.usage.prompt_tokens,
        completion_tokens=client.usage.completion_tokens,
        retries=client.retries,
        reference=target.is_reference,
        target_name=settings.target_name,
        baseline=settings.baseline.path if settings.baseline else None,
        strict_baseline=settings.strict_baseline,
    )


def _not_run(
    planned: list[Check], settings: RunSettings, done: set[str], reason: str, outcome: Outcome = Outcome.SKIPPED
) -> list[Result]:
    """A result (`skipped` unless told) for each selected check of `planned` that has no result yet."""
    contract = settings.contract
    return [
        make_result(contract, c.id, c.pointer, c.field, outcome, f"not run: {reason}", level=c.level)
        for c in planned
        if c.id not in done and selected(c.id, settings.only, settings.skip)
    ]


def exit_code(results: list[Result], stopped: str | None, strict_baseline: bool = False) -> int:
    """1 if anything failed (or a baseline entry is stale, with `strict_baseline`); else 3 if errors kept verdicts
    from being reached; else 0. A known failure (`xfailed`) does not count."""
    outcomes = {r.outcome for r in results}
    if Outcome.FAILED in outcomes or (strict_baseline and Outcome.XPASSED in outcomes):
        return EXIT_FAILED
    if Outcome.ERROR in outcomes or stopped:
        return EXIT_ERRORS
    return EXIT_OK


def exit_reason(results: list[Result], info: RunInfo) -> str:
    """Why the run exits with its code, in a few words (the console's last line)."""
    t = totals(results, info)
    if info.exit_code == EXIT_FAILED:
        stale = t["xpassed"] if info.strict_baseline else 0
        parts = [f"{t['failed']} failed"] if t["failed"] else []
        parts += [f"{stale} stale baseline entries (--strict-baseline)"] if stale else []
        return ", ".join(parts) or "failed"
    if info.exit_code == EXIT_ERRORS:
        return info.stopped or f"{t['errors']} errors kept verdicts from being reached"
    known = f" ({t['xfailed']} known failures)" if t["xfailed"] else ""
    return f"conforms{known}"


def _print_summary(results: list[Result], info: RunInfo, report_dir: Path) -> None:
    t = totals(results, info)
    _show("")
    known = f", {t['xfailed']} xfailed, {t['xpassed']} xpassed" if info.baseline else ""
    _show(
        f"{t['passed']} passed, {t['failed']} failed, {t['warned']} warned, {t['unsupported']} unsupported, "
        f"{t['skipped']} skipped, {t['errors']} errors{known}; {t['requests']} requests, "
        f"{t['prompt_tokens']} + {t['completion_tokens']} tokens"
    )
    for cause, members in by_cause(results):  # causes first: one line for many results of one kind of break
        ids = ", ".join(r.id for r in members[:6]) + (f", ... {len(members) - 6} more" if len(members) > 6 else "")
        _show(f"  cause: {cause}: {len(members)} ({ids})")
    shown = [r for r in results if r.outcome in (Outcome.FAILED, Outcome.ERROR, Outcome.XPASSED)]
    for r in shown[:15]:
        _show(f"  {r.outcome.value:<7} {r.id}: {r.message.splitlines()[0][:160]}")
    if len(shown) > 15:
        _show(f"  ... and {len(shown) - 15} more in {report_dir / 'summary.md'}")
    if info.plan is not None:
        _show(
            f"used {info.requests} of at most {info.plan['requests']} requests planned ({info.retries} retries and "
            f"repeats), {info.completion_tokens} of at most {info.plan['completion_tokens']} completion tokens"
        )
    if info.stopped:
        _show(f"stopped: {info.stopped}")
    saved = f", {SAVED}" if (report_dir / SAVED).exists() else ""
    _show(f"reports: {report_dir}/ (summary.json, summary.md, junit.xml, allure-results/{saved})")
    _show(f"exit {info.exit_code}: {exit_reason(results, info)}")
