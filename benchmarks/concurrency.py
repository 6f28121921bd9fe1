"""A full default run against the reference server behind a proxy that holds every request 0.5 s (a remote,
large model), at 1, 4 and 8 requests in flight; and the embedded default run (no proxy) for comparison.

    .venv/bin/python benchmarks/concurrency.py [--delay 0.5] [--runs 1 4 8]

Prints, per N: wall time, requests, and the bound of issue 18 (1.5 x (requests x delay / N + the embedded run's
wall time)); and whether the recorded results are the same at every N.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from conformance.contract import load_contract
from conformance.reference import ServerConfig, create_app, serving
from conformance.runner import RunSettings, run

KEY = "sk-bench-0123456789"
MODEL = "conformance-reference"


def delayed(seconds: float) -> Any:
    app = create_app(ServerConfig(api_key=KEY, models=(MODEL,)))

    async def proxy(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            await asyncio.sleep(seconds)
        await app(scope, receive, send)

    return proxy


def one(base_url: str | None, concurrency: int | None, report_dir: Path) -> tuple[float, dict[str, Any]]:
    settings = RunSettings(
        contract=load_contract(),
        base_url=base_url,
        api_key=KEY if base_url else None,
        model=MODEL if base_url else None,
        report_dir=report_dir,
        seed=7,
        progress=False,
        concurrency=concurrency,
    )
    started = time.monotonic()
    run(settings)
    return time.monotonic() - started, json.loads((report_dir / "summary.json").read_text())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--delay", type=float, default=0.5)
    parser.add_argument("--runs", type=int, nargs="+", default=[1, 4, 8])
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="conformance-bench-"))
    embedded, _ = one(None, None, work / "embedded")
    print(f"embedded default run: {embedded:.1f} s")
    recorded = {}
    with serving(delayed(args.delay), name="delaying-proxy") as url:
        for n in args.runs:
            wall, data = one(url, n, work / f"n{n}")
            requests = data["totals"]["requests"]
            bound = 1.5 * (requests * args.delay / n + embedded)
            recorded[n] = [(r["id"], r["outcome"]) for r in data["results"]]
            print(f"N={n}: {wall:.1f} s, {requests} requests; bound 1.5 x ({requests} x {args.delay} / {n} + "
                  f"{embedded:.1f}) = {bound:.1f} s: {'within' if wall <= bound else 'OVER'}")  # fmt: skip
    same = len({json.dumps(r) for r in recorded.values()}) == 1
    print(f"results (id, outcome) the same at every N: {same}")


if __name__ == "__main__":
    main()
