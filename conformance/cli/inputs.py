"""Input validation of the command line, in one place: text, the key, base URLs, the contract, the selection,
report directories. A usage error is one line and shows no secret."""

from __future__ import annotations

import contextlib
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import httpx

from conformance.contract import Contract, ContractError, load_contract
from conformance.report import ReportDirInUse, lock_report_dir
from conformance.transport import checked_key, visible


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
