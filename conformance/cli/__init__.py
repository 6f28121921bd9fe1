"""`conformance run`, `serve`, `list`, `report`, `coverage`, `baseline` and `config`.

Precedence of settings, applied here and only here: command line > environment > config file > defaults.
Click resolves the first, second and last; the config file enters as click's `default_map`.
"""

from __future__ import annotations

import os
import re
import sys

import click

from conformance.cli.commands import TABLE_BEGIN, TABLE_END, with_table
from conformance.cli.group import cli
from conformance.cli.run import settings_from_args
from conformance.runner import EXIT_USAGE
from conformance.transport import Redactor, visible

__all__ = ["TABLE_BEGIN", "TABLE_END", "cli", "main", "settings_from_args", "with_table"]


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
