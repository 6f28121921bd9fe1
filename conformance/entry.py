"""The console script: signals are handled from the first line, before the command's modules are imported."""

from __future__ import annotations

import sys

from conformance import interrupts

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """`conformance ...`: install the signal handler, then import and run the command line."""
    if (argv if argv is not None else sys.argv[1:])[:1] in (["run"],):
        interrupts.install()  # a signal during the imports below is kept and ends the run with its reports
    from conformance.cli import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main())
