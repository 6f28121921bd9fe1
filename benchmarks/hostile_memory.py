"""Peak memory and wall time of whole runs against hostile local servers (issue 10): a gzip answer inflating to
1 GiB, and a target answering every request with a 10 MB completion (under the 16 MiB cap, so judged).

    .venv/bin/python benchmarks/hostile_memory.py
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from hostile import hostile_server
from test_hostile import run_measured


def main() -> None:
    for mode, args in (("gzip_bomb", ()), ("big", ()), ("big", ("--skip", "property.*", "--skip", "client.*"))):
        with hostile_server(mode) as url, tempfile.TemporaryDirectory() as report_dir:
            code, _, elapsed, peak = run_measured(url, Path(report_dir), *args)
            totals = json.loads((Path(report_dir) / "summary.json").read_text())["totals"]
        shown = " ".join(args) or "full run"
        measured = f"exit {code}  peak {peak:4.0f} MB  {elapsed:5.1f} s  {totals['requests']} requests"
        print(f"{mode:<10} {shown:<40} {measured}")


if __name__ == "__main__":
    main()
