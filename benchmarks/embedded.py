"""The embedded default run, as a user starts it: `conformance run` with no option but a fresh report directory
(the bundled reference server, a random seed), several times; its wall time, CPU time (the run and its helper
process) and peak memory (the largest process).

    .venv/bin/python benchmarks/embedded.py [--runs 5] [-- extra conformance run options]

Run it on an idle machine. Prints one line per run and the median wall time against issue 18's bound (5 s).
"""

from __future__ import annotations

import argparse
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BOUND_S = 5.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("extra", nargs="*", help="further `conformance run` options (after --)")
    args = parser.parse_args()
    command = shutil.which("conformance", path=str(Path(sys.executable).parent)) or "conformance"
    work = Path(tempfile.mkdtemp(prefix="conformance-embedded-"))
    walls = []
    for i in range(args.runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.monotonic()
        done = subprocess.run(
            [command, "run", "--report-dir", str(work / str(i)), *args.extra],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        wall = time.monotonic() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        walls.append(wall)
        peak = after.ru_maxrss // 1024
        print(f"run {i + 1}: {wall:.2f} s wall, {cpu:.2f} s CPU, exit {done.returncode}, peak {peak} MB")
        if done.returncode not in (0, 1):
            print(done.stderr[-2000:], file=sys.stderr)
    median = statistics.median(walls)
    print(f"median wall: {median:.2f} s ({'within' if median <= BOUND_S else 'OVER'} the {BOUND_S:g} s bound)")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
