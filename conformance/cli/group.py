"""The command group and what its options share: bounds, the config file as click's `default_map`."""

from __future__ import annotations

import math
import re
from typing import Any

import click

from conformance import __version__
from conformance.config import ConfigError, load_config

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
