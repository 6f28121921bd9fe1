"""`conformance run`: one target, `--target` or `--all-targets`; the settings a run takes, after precedence and checks
(command line > environment > config file > defaults, here and only here)."""

from __future__ import annotations

import hashlib
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from conformance import __version__
from conformance.baseline import Baseline, BaselineError
from conformance.cli.group import (
    _ENV_NAME,
    MAX_PROBE,
    MAX_RESPONSE_BYTES,
    MAX_SEED,
    MAX_TIMEOUT,
    FiniteFloat,
    _load_config,
    cli,
)
from conformance.cli.inputs import (
    _check_report_dir,
    _check_selection,
    _check_text,
    _checked_base_url,
    _checked_contract,
    _checked_key,
    _report_dir_held,
)
from conformance.config import Target
from conformance.contract import PROFILES, Contract
from conformance.report import RunInfo, write_not_run
from conformance.runner import EXIT_ERRORS, EXIT_FAILED, EXIT_OK, EXIT_USAGE, RunSettings, run
from conformance.transport import strip_credentials, visible
from conformance.transport.pacing import MAX_CONCURRENCY, MAX_RATE


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
