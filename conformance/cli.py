"""`conformance run`, `serve`, `list`, `report`, `coverage`, `baseline` and `config`.

Precedence of settings, applied here and only here: command line > environment > config file > defaults.
Click resolves the first, second and last; the config file enters as click's `default_map`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
import httpx

from conformance import __version__
from conformance.baseline import Baseline, BaselineError, baseline_from_summary
from conformance.config import ConfigError, Target, config_schema, load_config
from conformance.contract import PROFILES, Contract, ContractError, load_contract
from conformance.report import ReportDirInUse, RunInfo, lock_report_dir, write_not_run
from conformance.runner import EXIT_ERRORS, EXIT_FAILED, EXIT_OK, EXIT_USAGE, RunSettings, run
from conformance.transport import Redactor, checked_key, strip_credentials, visible
from conformance.transport.pacing import MAX_CONCURRENCY, MAX_RATE

__all__ = ["main"]

MAX_SEED = 2**63 - 1
MAX_TIMEOUT = 86_400.0  # a day: a longer deadline cannot be handed to a socket
MAX_RESPONSE_BYTES = 2**40
MAX_PROBE = 100_000  # requests `--probe-rate-limit` may send, at most
_ENV_NAME = re.compile(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*")  # what a variable name looks like (so it can be shown)


class FiniteFloat(click.FloatRange):
    """A float within a range, and finite: `inf` and `nan` are usage errors (nan compares false with any bound)."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{number} is not a finite number", param, ctx)
        return number


def _load_config(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Read the config file (validated against config.schema.json): its run options become click's default_map
    (below env vars and flags), its targets are kept for --target / --all-targets."""
    if not value:
        return value
    try:
        options, targets = load_config(value)
    except ConfigError as exc:
        raise click.BadParameter(str(exc)) from None
    ctx.meta["targets"] = targets
    ctx.default_map = {**(ctx.default_map or {}), **options}
    return value


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="conformance")
def cli() -> None:
    """Contract-conformance test suite for chat-completions APIs."""


@cli.command("run")
@click.option(
    "--config",
    envvar="CONFORMANCE_CONFIG",
    callback=_load_config,
    is_eager=True,
    expose_value=False,
    type=click.Path(dir_okay=False),
    help="YAML file: base_url, model, profile, capabilities, ...",
)
@click.option("--base-url", envvar="CONFORMANCE_BASE_URL", help="Server root; absent: the bundled reference server.")
@click.option("--api-key", envvar="CONFORMANCE_API_KEY", help="Bearer token; never written anywhere.")
@click.option("--model", envvar="CONFORMANCE_MODEL", help="Model name; required with --base-url.")
@click.option(
    "--profile",
    envvar="CONFORMANCE_PROFILE",
    type=click.Choice(PROFILES),
    default="atoma",
    show_default=True,
    help="Which contract.",
)
@click.option("--spec", type=click.Path(dir_okay=False), help="Contract document; default: the packaged openapi.yaml.")
@click.option(
    "--report-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("reports"), show_default=True
)
@click.option(
    "--seed", type=click.IntRange(0, MAX_SEED), help="Default random; recorded; reproduces the same requests."
)
@click.option("--max-examples", type=click.IntRange(1, 1_000_000), help="Property-based examples per generation mode.")
@click.option("--max-requests", type=click.IntRange(1, 1_000_000_000), help="Hard cap on requests sent.")
@click.option("--only", multiple=True, help="Run only result ids matching this glob (repeatable).")
@click.option("--skip", multiple=True, help="Skip result ids matching this glob (repeatable).")
@click.option(
    "--timeout",
    type=FiniteFloat(0.1, MAX_TIMEOUT),
    default=30.0,
    show_default=True,
    help="Whole-response deadline per request (connect, headers, body or stream), in seconds.",
)
@click.option(
    "--max-response-bytes",
    type=click.IntRange(1024, MAX_RESPONSE_BYTES),
    default=16 * 1024 * 1024,
    show_default=True,
    help="Largest answer read, after decompression; a larger one is an error for the checks that needed it.",
)
@click.option(
    "--concurrency",
    envvar="CONFORMANCE_CONCURRENCY",
    type=click.IntRange(1, MAX_CONCURRENCY),
    help="Requests in flight at once (default 4); a 429 lowers it for a while.",
)
@click.option(
    "--rate",
    type=FiniteFloat(0, MAX_RATE, min_open=True),
    help="At most this many requests per second (default: unpaced).",
)
@click.option(
    "--probe-rate-limit",
    type=click.IntRange(1, MAX_PROBE),
    help="Opt in: send up to N small requests as fast as allowed until a 429, and judge ratelimit.envelope on it.",
)
@click.option(
    "--capability",
    "capabilities",
    multiple=True,
    help="Declare a capability the target offers (n, tools, logprobs, response_format, stream).",
)
@click.option("--target", "target", help="Run the config's target of this name.")
@click.option("--all-targets", is_flag=True, help="Run every target of the config, each into REPORT_DIR/NAME/.")
@click.option(
    "--baseline", type=click.Path(dir_okay=False), help="Known failures: failed -> xfailed, stale -> xpassed."
)
@click.option("--strict-baseline", is_flag=True, help="A stale baseline entry (xpassed) fails the run.")
@click.pass_context
def run_command(ctx: click.Context, /, **options: Any) -> None:
    """Run the suite and write reports; exit 0 conforms, 1 failed, 2 usage, 3 incomplete."""
    targets: list[Target] = ctx.meta.get("targets", [])
    options["api_key"] = _checked_key(options["api_key"], "--api-key (or CONFORMANCE_API_KEY)")
    _check_text(ctx, options)
    if options["all_targets"] or options["target"]:
        sys.exit(_run_targets(ctx, options, targets))
    settings = _settings(options, targets)
    with _report_dir_held(options["report_dir"]):
        code = run(settings)
    sys.exit(code)


def settings_from_args(args: list[str]) -> RunSettings:
    """The settings `conformance run ARGS` would run one target with (the pytest plugin's options, unprefixed),
    after the same precedence and checks; a `click.UsageError` where the command would refuse. The API key comes
    from the environment only (its variable, or the target's `api_key_env`)."""
    with run_command.make_context("conformance run", list(args)) as ctx:
        options = ctx.params
        options["api_key"] = _checked_key(options["api_key"], "--api-key (or CONFORMANCE_API_KEY)")
        _check_text(ctx, options)
        if options["all_targets"]:
            raise click.UsageError("--all-targets runs several targets: one pytest session runs one (--target NAME)")
        targets: list[Target] = ctx.meta.get("targets", [])
        if not options["target"]:
            settings = _settings(options, targets)
            _check_report_dir(options["report_dir"])
            return settings
        (_, planned), *_ = _planned_targets(ctx, options, targets)
        if isinstance(planned, str):
            raise click.UsageError(planned)
        _check_report_dir(planned.report_dir)
        return planned


def _settings(options: dict[str, Any], targets: list[Target]) -> RunSettings:
    """The settings of a run of one target given by its options, checked; a config with targets needs one
    chosen (a nightly that silently ran the bundled reference would be green forever)."""
    if targets:
        names = ", ".join(t.name for t in targets)
        raise click.UsageError(f"the config has targets ({names}): choose one with --target NAME, or --all-targets")
    if options["base_url"] is None and os.environ.get("CONFORMANCE_BASE_URL") == "":
        options["base_url"] = ""  # click reads an empty variable as unset: an unset CI secret must not pass
    if options["base_url"] is not None:
        options["base_url"] = _checked_base_url(options["base_url"])
    if options["base_url"] and not options["model"]:
        raise click.UsageError("--model is required with --base-url (or set CONFORMANCE_MODEL)")
    contract = _checked_contract(options["spec"], options["profile"])
    _check_selection(contract, list(options["only"]), list(options["skip"]))
    return RunSettings(
        contract=contract,
        base_url=options["base_url"],
        api_key=options["api_key"],
        model=options["model"],
        report_dir=options["report_dir"],
        max_requests=options["max_requests"],
        capabilities=list(options["capabilities"]),
        baseline=_baseline(options["baseline"]),
        concurrency=options["concurrency"],
        rate=options["rate"],
        **_shared(options),
    )


def _check_text(ctx: click.Context, options: dict[str, Any]) -> None:
    """Every text option (from the command line, the environment or the config) is valid UTF-8: Python hands
    invalid bytes on as lone surrogates, which no report can be written in. The value is not shown."""
    for name, value in options.items():
        values = value if isinstance(value, tuple | list) else [value]
        for item in values:
            if isinstance(item, str | Path) and _SURROGATE.search(str(item)):
                flag = "--" + name.replace("_", "-")
                raise click.UsageError(f"{flag} is not valid UTF-8 text (not shown)")


_SURROGATE = re.compile("[\ud800-\udfff]")


def _checked_key(key: str | None, where: str) -> str | None:
    """The key as it will be sent: surrounding whitespace stripped (said, never shown); a control or non-ASCII
    character elsewhere is a usage error that does not show the key either."""
    if key is None:
        return None
    try:
        checked = checked_key(key)
    except ValueError as exc:
        raise click.UsageError(f"{where}: {exc}; fix the secret") from None
    if checked != key:
        said = "an empty key: none is sent" if checked is None else "stripped (not shown)"
        click.echo(f"conformance: the API key from {where} had whitespace around it (a newline?): {said}", err=True)
    return checked


@contextlib.contextmanager
def _report_dir_held(*paths: Path) -> Iterator[None]:
    """The report directories, writable and held by this run for its whole length (checked before anything is
    sent): another run writing into one of them at the same time is a usage error."""
    with contextlib.ExitStack() as stack:
        for path in paths:
            _check_report_dir(path)
            try:
                stack.enter_context(lock_report_dir(path))
            except ReportDirInUse as exc:
                raise click.UsageError(f"--report-dir {exc}: give each run its own directory") from None
            except OSError as exc:
                raise click.UsageError(f"--report-dir {path} cannot be used: {exc.strerror or exc}") from None
        yield


def _shared(options: dict[str, Any]) -> dict[str, Any]:
    """The run settings a target of the config takes from the command line as they are."""
    return {
        "seed": options["seed"],
        "max_examples": options["max_examples"],
        "only": list(options["only"]),
        "skip": list(options["skip"]),
        "timeout": options["timeout"],
        "max_response_bytes": options["max_response_bytes"],
        "strict_baseline": options["strict_baseline"],
        "probe_rate_limit": options["probe_rate_limit"],
    }


def _baseline(path: str | Path | None) -> Baseline | None:
    if not path:
        return None
    try:
        return Baseline.load(path)
    except BaselineError as exc:
        raise click.UsageError(str(exc)) from None


def _given_outside_the_config(ctx: click.Context, name: str) -> bool:
    source = ctx.get_parameter_source(name)
    return source in (click.core.ParameterSource.COMMANDLINE, click.core.ParameterSource.ENVIRONMENT)


def _per_target(ctx: click.Context, options: dict[str, Any], name: str, value: Any) -> Any:
    """A setting a target may give itself: the command line's or the environment's if given there, else the
    target's own, else the config's top level (or the default)."""
    if _given_outside_the_config(ctx, name) or value is None:
        return options[name]
    return value


def _run_targets(ctx: click.Context, options: dict[str, Any], targets: list[Target]) -> int:
    """--target NAME runs one target of the config; --all-targets each in turn into REPORT_DIR/NAME/, a target that
    cannot run writing a NOT RUN summary there. Exit: 1 if any target failed, else 3 if any ended in errors or did
    not run, else 0."""
    planned = _planned_targets(ctx, options, targets)
    codes = []
    with _report_dir_held(*dict.fromkeys(_report_dir_of(options, t) for t, _ in planned)):
        for target, settings in planned:
            if isinstance(settings, str):
                write_not_run(_not_run_info(options, target, settings), _report_dir_of(options, target))
                codes.append(EXIT_ERRORS)
            else:
                codes.append(run(settings))
    if EXIT_FAILED in codes:
        code, why = EXIT_FAILED, "a target failed"
    elif any(code in (EXIT_ERRORS, EXIT_USAGE) for code in codes):
        code, why = EXIT_ERRORS, "a target ended in errors or did not run"
    else:
        code, why = EXIT_OK, "every target conforms"
    if len(planned) > 1:
        shown = ", ".join(f"{t.name} {c}" for (t, _), c in zip(planned, codes, strict=True))
        click.echo(visible(f"targets: {shown}; exit {code}: {why}"))
    return code


def _report_dir_of(options: dict[str, Any], target: Target) -> Path:
    report_dir: Path = options["report_dir"]
    return report_dir / target.name if options["all_targets"] else report_dir


def _not_run_info(options: dict[str, Any], target: Target, reason: str) -> RunInfo:
    contract = _checked_contract(options["spec"], target.profile or options["profile"])
    now = datetime.now(UTC).isoformat(timespec="seconds")
    return RunInfo(
        version=__version__,
        spec_path=str(contract.path),
        spec_sha256=contract.sha256,
        spec_file_sha256=hashlib.sha256(contract.path.read_bytes()).hexdigest(),
        base_url=strip_credentials(target.base_url),
        model=target.model,
        profile=contract.profile,
        seed=options["seed"] if options["seed"] is not None else 0,
        started_at=now,
        finished_at=now,
        exit_code=EXIT_ERRORS,
        stopped=f"not run: {reason}",
        target_name=target.name,
        status="NOT RUN",
    )


def _planned_targets(
    ctx: click.Context, options: dict[str, Any], targets: list[Target]
) -> list[tuple[Target, RunSettings | str]]:
    """Every chosen target checked before anything is sent: its settings, or why it cannot run (its key variable
    is unset: a configuration error of that target). A usage error stops everything."""
    if options["all_targets"] and options["target"]:
        raise click.UsageError("--target and --all-targets exclude each other")
    if not targets:
        raise click.UsageError("no targets: give --config FILE with a `targets` list")
    for name in ("base_url", "model"):
        if _given_outside_the_config(ctx, name) or (name == "base_url" and "CONFORMANCE_BASE_URL" in os.environ):
            flag = "--" + name.replace("_", "-")
            raise click.UsageError(f"{flag} (or its environment variable) conflicts with the targets of --config")
    if options["target"]:
        chosen = [t for t in targets if t.name == options["target"]]
        if not chosen:
            raise click.UsageError(
                f"no target {options['target']!r}; the config has: {', '.join(t.name for t in targets)}"
            )
    else:
        chosen = targets
    contracts: dict[str, Contract] = {}  # one contract per profile, checked once

    def contract_of(profile: str) -> Contract:
        if profile not in contracts:
            contracts[profile] = _checked_contract(options["spec"], profile)
        return contracts[profile]

    _check_selection(contract_of(options["profile"]), list(options["only"]), list(options["skip"]))
    planned: list[tuple[Target, RunSettings | str]] = []
    for target in chosen:
        where = f"target {target.name}"
        key = os.environ.get(target.api_key_env) if target.api_key_env else options["api_key"]
        if target.api_key_env:
            key = _checked_key(key, f"{where}'s key variable")
        base_url = _checked_base_url(target.base_url, f"{where}: base_url")
        baseline = _baseline(target.baseline or options["baseline"])
        contract = contract_of(target.profile or options["profile"])
        if target.api_key_env and not key:
            shown = target.api_key_env if _ENV_NAME.fullmatch(target.api_key_env) else "(the variable it names)"
            reason = f"configuration error: its key variable {shown} is not set"
            click.echo(visible(f"conformance: {where}: {reason}; not run"), err=True)
            planned.append((target, reason))
            continue
        planned.append(
            (
                target,
                RunSettings(
                    contract=contract,
                    base_url=base_url,
                    api_key=key,
                    model=target.model,
                    report_dir=_report_dir_of(options, target),
                    max_requests=target.max_requests or options["max_requests"],
                    capabilities=sorted(set(options["capabilities"]) | set(target.capabilities)),
                    target_name=target.name,
                    chat_path=target.chat_path,
                    query=target.query,
                    auth_header=target.auth_header,
                    auth_prefix=target.auth_prefix,
                    key_variable=target.api_key_env or "CONFORMANCE_API_KEY",
                    baseline=baseline,
                    concurrency=_per_target(ctx, options, "concurrency", target.concurrency),
                    rate=_per_target(ctx, options, "rate", target.rate),
                    **_shared(options),
                ),
            )
        )
    return planned


def _checked_base_url(value: str, what: str = "--base-url") -> str:
    """A base URL to send to, or a usage error: empty (an unset CI secret), malformed, not http(s), with
    credentials (never shown), a query or a fragment (which would be glued before the chat path)."""
    text = value.strip()
    if not text:
        raise click.UsageError(
            f"{what} is empty (an unset CONFORMANCE_BASE_URL?); omit it to run the bundled reference server"
        )
    shown = _shown_url(text)
    try:
        url = httpx.URL(text)
        port = url.port
    except (httpx.InvalidURL, ValueError) as exc:
        raise click.UsageError(f"{what} {shown!r} is not a URL: {exc}") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise click.UsageError(f"{what} {shown!r} is not an http:// or https:// URL with a host")
    if port is not None and not 0 < port < 65536:
        raise click.UsageError(f"{what} {shown!r}: port {port} is out of range")
    if url.userinfo or "@" in text.split("//", 1)[-1].split("/", 1)[0]:
        raise click.UsageError(
            f"{what} {shown!r} carries credentials (user:password@, not shown): they would replace the key; "
            "pass the key with --api-key or CONFORMANCE_API_KEY"
        )
    if "?" in text or "#" in text:
        part = "a query (?...)" if "?" in text else "a fragment (#...)"
        raise click.UsageError(
            f"{what} {shown!r} has {part}, which would be sent before the chat path: give query parameters in the "
            "target's `query` setting of --config (a fragment is never sent)"
        )
    return text


def _shown_url(text: str) -> str:
    """A URL as an error may show it: no credentials, no query or fragment (either may hold a secret)."""
    text = re.sub(r"(//)[^/?#]*@", r"\1", text)
    return visible(re.split(r"[?#]", text, maxsplit=1)[0])


def _checked_contract(spec: str | None, profile: str) -> Contract:
    """The contract, validated before anything is sent: readable, schemas valid, every planned clause cited."""
    from conformance.checks import plan

    try:
        contract = load_contract(spec, profile)
        problem = contract.problem()
        if problem is None:
            for check in plan(contract):
                contract.clause(check.pointer)
    except ContractError as exc:
        raise click.UsageError(str(exc)) from None
    except UnicodeDecodeError:
        raise click.UsageError(f"--spec {spec} is not UTF-8 text") from None
    except OSError as exc:
        raise click.UsageError(f"cannot read --spec {spec}: {exc.strerror or exc}") from None
    except Exception as exc:
        raise click.UsageError(f"--spec {spec}: the contract cannot be used: {type(exc).__name__}: {exc}") from None
    if problem is not None:
        raise click.UsageError(f"--spec {spec or '(packaged)'}: {problem}")
    return contract


def _check_selection(contract: Contract, only: list[str], skip: list[str]) -> None:
    from conformance.checks import plan, selected

    if (only or skip) and not any(selected(c.id, only, skip) for c in plan(contract)):
        raise click.UsageError("--only/--skip select no check (see `conformance list`)")


def _check_report_dir(path: Path) -> None:
    """The report directory is writable, checked before anything is sent."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".conformance-write-probe-"):
            pass
    except OSError as exc:
        raise click.UsageError(f"--report-dir {path} is not writable: {exc.strerror or exc}") from None


TABLE_BEGIN, TABLE_END = "<!-- checks:begin -->\n", "<!-- checks:end -->"  # each a line of its own
_BEGIN_LINE = re.compile("^" + re.escape(TABLE_BEGIN), flags=re.M)
_END_LINE = re.compile("^" + re.escape(TABLE_END) + "$", flags=re.M)


def with_table(text: str, table: str) -> str:
    """`text` with what lies between its `TABLE_BEGIN` line and its `TABLE_END` line replaced by `table`."""
    begins, ends = list(_BEGIN_LINE.finditer(text)), list(_END_LINE.finditer(text))
    if len(begins) != 1 or len(ends) != 1:
        raise ValueError(f"needs exactly one line {TABLE_BEGIN.strip()!r} and one line {TABLE_END!r}")
    begin, end = begins[0], ends[0]
    if end.start() < begin.end():
        raise ValueError(f"the line {TABLE_END!r} comes before the line {TABLE_BEGIN.strip()!r}")
    return text[: begin.end()] + table + text[end.start() :]


def _write_table(path: Path, table: str) -> None:
    """Put `table` in the file at `path` between its markers; the file is rewritten only when that changes it."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise click.UsageError(f"--write {path}: cannot read it: {exc.strerror or exc}") from None
    try:
        updated = with_table(text, table)
    except ValueError as exc:
        raise click.UsageError(f"--write {path}: {exc}") from None
    rows = table.count("\n") - 2
    if updated == text:
        click.echo(f"{path}: the table of {rows} checks is already current")
        return
    try:
        path.write_text(updated, encoding="utf-8")
    except OSError as exc:
        raise click.UsageError(f"--write {path}: cannot write it: {exc.strerror or exc}") from None
    click.echo(f"{path}: the table of {rows} checks written")


@cli.command("list")
@click.option(
    "--profile", envvar="CONFORMANCE_PROFILE", type=click.Choice(PROFILES), default="atoma", show_default=True
)
@click.option("--spec", type=click.Path(dir_okay=False), help="Contract document; default: the packaged openapi.yaml.")
@click.option("--markdown", is_flag=True, help="A Markdown table (the README's).")
@click.option(
    "--write",
    "write",
    is_flag=False,
    flag_value="README.md",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Put the Markdown table in FILE (default README.md, in the current directory) between its "
    f"'{TABLE_BEGIN.strip()}' and '{TABLE_END}' lines, in place; implies --markdown.",
)
def list_command(profile: str, spec: str | None, markdown: bool, write: Path | None) -> None:
    """List the checks a run plans, with the clause each cites; sends nothing."""
    from conformance.checks import markdown_table, plan

    try:
        contract = load_contract(spec, profile)
    except ContractError as exc:
        raise click.UsageError(str(exc)) from None
    if write is not None:
        _write_table(write, markdown_table(contract))
        return
    if markdown:
        click.echo(markdown_table(contract), nl=False)
        return
    for check in plan(contract):
        clause = contract.clause(check.pointer)
        click.echo(f"{check.id:<52} {check.level or clause.level:<6} {clause.citation}")


@cli.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True)
@click.option("--api-key", envvar="CONFORMANCE_API_KEY", help="Require this bearer token.")
@click.option("--profile", type=click.Choice(PROFILES), default="atoma", show_default=True)
@click.option(
    "--variant",
    type=click.Choice(["lenient", "strict"]),
    default="lenient",
    show_default=True,
    help="strict also rejects what the contract leaves open (empty messages, n 0, max_tokens 0).",
)
@click.option("--fault", "faults", multiple=True, help="Break one clause (repeatable); see --list-faults.")
@click.option("--model", "models", multiple=True, help="Model name served (repeatable).")
@click.option("--spec", type=click.Path(dir_okay=False), help="Contract document; default: the packaged openapi.yaml.")
@click.option("--list-faults", is_flag=True, help="List the faults and exit.")
def serve_command(
    host: str,
    port: int,
    api_key: str | None,
    profile: str,
    variant: str,
    faults: tuple[str, ...],
    models: tuple[str, ...],
    spec: str | None,
    list_faults: bool,
) -> None:
    """Run the reference server."""
    from conformance.reference import DEFAULT_MODEL, FAULTS, PARAMETRIC, ServerConfig, serve

    if list_faults:
        for name, fault in FAULTS.items():
            click.echo(f"{name:<30} {fault.described()}")
        for name, family in PARAMETRIC.items():
            click.echo(f"{name + ':FIELD':<30} {family.described()}")
        return
    try:
        config = ServerConfig(
            api_key=api_key,
            profile=profile,
            variant=variant,
            faults=frozenset(faults),
            models=models or (DEFAULT_MODEL,),
            spec_path=spec,
        )
    except (ValueError, ContractError) as exc:
        raise click.UsageError(str(exc)) from None
    described = f"profile {profile}, variant {variant}, faults {', '.join(sorted(faults)) or 'none'}"
    try:
        serve(config, host, port, ready=lambda url: click.echo(f"reference server on {url} ({described})", err=True))
    except OSError as exc:
        raise click.UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


@cli.command("coverage")
@click.option("--profile", "profiles", multiple=True, type=click.Choice(PROFILES), help="Default: every profile.")
@click.option("--spec", type=click.Path(dir_okay=False), help="Contract document; default: the packaged openapi.yaml.")
@click.option("--markdown", is_flag=True, help="A Markdown table of every keyword.")
def coverage_command(profiles: tuple[str, ...], spec: str | None, markdown: bool) -> None:
    """Map every request and response keyword of the contract to the checks and property-layer phases that
    exercise it; list those nothing exercises with the reason. Exit 1 if one has no reason. Sends nothing."""
    from conformance.driver.coverage import coverage
    from conformance.driver.coverage import markdown as coverage_markdown

    unexplained = 0
    for profile in profiles or PROFILES:
        try:
            contract = load_contract(spec, profile)
        except ContractError as exc:
            raise click.UsageError(str(exc)) from None
        items = coverage(contract)
        unexplained += sum(1 for k in items if not k.exercised and not k.reason)
        if markdown:
            click.echo(coverage_markdown(contract))
            continue
        missing = [k for k in items if not k.exercised]
        click.echo(f"profile {profile}: {len(items) - len(missing)} of {len(items)} keywords exercised")
        for k in items:
            if k.exercised:
                edges = sum(1 for p in k.phases if p.startswith("edge values"))
                shown = ", ".join(k.checks[:3]) + (f" (+{len(k.checks) - 3})" if len(k.checks) > 3 else "")
                click.echo(f"  {k.side:<8} {k.pointer} {k.keyword}: {shown or '-'}; {edges} edge values")
        click.echo(f"not exercised ({len(missing)}):")
        for k in missing:
            click.echo(f"  {k.side:<8} {k.pointer} {k.keyword}: {k.reason or 'NO REASON GIVEN'}")
    if unexplained:
        click.echo(f"conformance: {unexplained} keywords neither exercised nor given a reason", err=True)
        sys.exit(EXIT_FAILED)


@cli.command("report")
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True, help="Output directory.")
@click.option(
    "--history",
    type=click.Path(dir_okay=False, path_type=Path),
    help="A JSON-lines file kept between nights: appended to, and read for the trend.",
)
@click.option(
    "--spec", type=click.Path(dir_okay=False), help="Contract of the coverage map; default: the packaged one."
)
def report_command(run_dirs: tuple[Path, ...], out: Path, history: Path | None, spec: str | None) -> None:
    """Build report.html, matrix.md and a badge per target from several runs' summary.json, with the coverage
    map of the runs' profiles."""
    from conformance.driver.coverage import rows
    from conformance.report.matrix import ReportError, build

    def coverage(profile: str) -> list[dict[str, Any]]:
        return rows(load_contract(spec, profile))

    try:
        built = build(list(run_dirs), out, history, coverage)
    except (ReportError, ContractError) as exc:
        raise click.UsageError(str(exc)) from None
    except OSError as exc:
        raise click.UsageError(f"cannot write the report: {exc.strerror or exc}") from None
    click.echo(f"report of {built['runs']} runs: {out}/report.html, {out}/matrix.md, {out}/badges/", err=True)


@cli.command("baseline")
@click.argument("summary", type=click.Path(dir_okay=False))
@click.option("--out", type=click.Path(dir_okay=False), required=True, help="The baseline file to write.")
def baseline_command(summary: str, out: str) -> None:
    """Write a baseline of known failures from a run's summary.json, as a starting point to edit."""
    try:
        text = baseline_from_summary(summary)
        Path(out).write_text(text, encoding="utf-8")
    except BaselineError as exc:
        raise click.UsageError(str(exc)) from None
    except OSError as exc:
        raise click.UsageError(f"cannot write {out}: {exc.strerror or exc}") from None
    click.echo(f"wrote {out}: {text.count('- id:')} known failures", err=True)


@cli.group("config")
def config_group() -> None:
    """The config file (targets and run options)."""


@config_group.command("check")
@click.argument("file", type=click.Path(dir_okay=False))
def config_check(file: str) -> None:
    """Validate FILE against the config's JSON Schema (and each target's baseline); exit 0 or 2."""
    try:
        options, targets = load_config(file)
        for path in [t.baseline for t in targets if t.baseline] + (
            [options["baseline"]] if "baseline" in options else []
        ):
            Baseline.load(path)
    except (ConfigError, BaselineError) as exc:
        raise click.UsageError(str(exc)) from None
    names = ", ".join(t.name for t in targets) or "none"
    click.echo(f"{file}: valid; targets: {names}")


@config_group.command("schema")
def config_schema_command() -> None:
    """Print the config's JSON Schema."""
    click.echo(json.dumps(config_schema(), indent=2))


def main(argv: list[str] | None = None) -> int:
    """Entry point: usage errors print one line and exit 2, never a traceback, and never a key the process was
    given (on the command line or in the environment), in any form."""
    try:
        cli.main(args=argv, prog_name="conformance", standalone_mode=False)
    except click.exceptions.NoArgsIsHelpError as exc:
        click.echo(exc.ctx.get_help() if exc.ctx else str(exc))
        return EXIT_USAGE
    except click.UsageError as exc:
        click.echo(f"conformance: error: {_unsecret(exc.format_message(), argv)}", err=True)
        return EXIT_USAGE
    except click.exceptions.Abort:
        click.echo("conformance: aborted", err=True)
        return 130
    except SystemExit as exc:
        return int(exc.code or 0) if not isinstance(exc.code, str) else EXIT_USAGE
    return 0


def _unsecret(message: str, argv: list[str] | None) -> str:
    """`message` on one line, visible, with every key this process was given redacted: `--api-key`'s value,
    CONFORMANCE_API_KEY, and any variable whose name ends saying it holds a key, token or secret (the variables a
    config's `api_key_env` names are such)."""
    args = list(sys.argv[1:] if argv is None else argv)
    keys = [v for k, v in os.environ.items() if re.search(r"(KEY|TOKEN|SECRET|PASSWORD)$", k.upper())]
    for i, arg in enumerate(args):
        if arg == "--api-key" and i + 1 < len(args):
            keys.append(args[i + 1])
        elif arg.startswith("--api-key="):
            keys.append(arg.split("=", 1)[1])
    for key in sorted({k.strip() for k in keys if len(k.strip()) >= 8}, key=len, reverse=True):
        message = Redactor(key).text(message)
    return visible(" ".join(message.split()))
