"""The other commands: `plan` (a run's ceilings, before any traffic), `rejudge` (a saved run judged again), `list`,
`serve`, `coverage`, `report`, `baseline`, `config`."""

from __future__ import annotations

import json
import os
import re
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import click

from conformance.baseline import Baseline, BaselineError, baseline_from_summary
from conformance.cli.group import (
    cli,
)
from conformance.cli.inputs import _check_text, _checked_key, _report_dir_held
from conformance.cli.run import _planned_targets, _settings, run_command
from conformance.config import ConfigError, Target, config_schema, load_config
from conformance.contract import PROFILES, ContractError, load_contract
from conformance.runner import EXIT_FAILED, RunSettings, plan_of
from conformance.transport import visible

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


def _echo_plan(settings: RunSettings) -> None:
    # the bundled reference server is given a key of its own, so the auth checks run against it
    key_given = bool(settings.api_key) or not settings.base_url
    for line in plan_of(settings, key_given).lines():
        click.echo(visible(line))


@click.pass_context
def _plan(ctx: click.Context, /, **options: Any) -> None:
    """Print the plan of `conformance run` with the same options, sending nothing: per area (hand-written checks,
    clients, load, property layer, attribution, retries) the most requests and completion tokens the run may use,
    and the options that change them. The last line is the total."""
    targets: list[Target] = ctx.meta.get("targets", [])
    options["api_key"] = _checked_key(options["api_key"], "--api-key (or CONFORMANCE_API_KEY)")
    _check_text(ctx, options)
    if not (options["all_targets"] or options["target"]):
        _echo_plan(_settings(options, targets))
        return
    for target, settings in _planned_targets(ctx, options, targets):
        click.echo(visible(f"target {target.name}:"))
        if isinstance(settings, str):
            click.echo(visible(f"  not run: {settings}"))
        else:
            _echo_plan(settings)


cli.add_command(click.Command("plan", callback=_plan, params=list(run_command.params), help=_plan.__doc__))


@cli.command("rejudge")
@click.argument("run_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--report-dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Where the re-judged reports go (not RUN_DIR).",
)
@click.option("--spec", type=click.Path(dir_okay=False), help="Contract document; default: the packaged openapi.yaml.")
def rejudge_command(run_dir: Path, report_dir: Path, spec: str | None) -> None:
    """Judge the exchanges a run saved in RUN_DIR (exchanges.json.gz) again with the current checks and contract,
    sending nothing, and write reports that say so; list the verdicts that changed. Exit as `run` would."""
    from conformance.rejudge import RejudgeError, rejudge, write

    if os.path.realpath(run_dir) == os.path.realpath(report_dir):
        raise click.UsageError("--report-dir must not be RUN_DIR: the run's own reports and exchanges are kept")
    try:
        rejudged = rejudge(run_dir, spec)
    except (RejudgeError, ContractError) as exc:
        raise click.UsageError(str(exc)) from None
    with _report_dir_held(report_dir):
        write(report_dir, rejudged)
    record = rejudged.record
    counts = Counter(r.outcome.value for r in rejudged.results)
    shown = ", ".join(f"{counts[o]} {o}" for o in ("passed", "failed", "warned", "unsupported", "skipped", "error"))
    original, current = record["original"], record["current"]
    click.echo(
        visible(
            f"re-judged {run_dir} (conformance {original['version']}, contract {original['spec_sha256'][:16]}) with "
            f"conformance {current['version']}, contract {current['spec_sha256'][:16]}; nothing sent"
        )
    )
    click.echo(f"{len(rejudged.results)} results: {shown}")
    click.echo(f"{len(record['changed'])} verdicts changed, {len(record['not_rejudged'])} results not re-judged")
    for change in record["changed"]:
        click.echo(visible(f"  changed {change['id']}: {change['was']} -> {change['now']}"))
    if record["sends_refused"]:
        click.echo(
            f"conformance: {record['sends_refused']} exchanges were needed that the run did not record: "
            "their checks are skipped (not re-judged)",
            err=True,
        )
    click.echo(visible(f"reports: {report_dir}/ (summary.json, summary.md, junit.xml, allure-results/)"))
    sys.exit(rejudged.exit_code)
