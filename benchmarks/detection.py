"""Detection: the property layer at its defaults against the plain `schemathesis run` at its defaults.

    python benchmarks/detection.py [--seeds 1 2 3] [--faults NAME ...]

Both run against the same document (the effective atoma contract) and the same reference server on a real socket,
configured to accept any model name (`any_model`, so the CLI's random `model` strings are not rejected before the
other fields are read), once per crash fault of the reference server and seed. A fault is caught when the run
reports a server error: `property.not_a_server_error.*` failed for the layer (`conformance run --only 'property.*'`,
hand-written checks off), a "Server error" failure for the CLI. Requests are counted at the server. Prints one row
per fault and seed, and the totals.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from conformance.contract import load_contract
from conformance.reference import DEFAULT_MODEL, ServerConfig, create_app, serving
from conformance.runner import RunSettings, run

KEY = "sk-benchmark"
CRASH_FAULTS = [
    "seed_negative_500",
    "stop_empty_string_500",
    "user_long_500",
    "top_p_null_500",
    "assistant_message_500",
    "n_with_stream_500",
    "content_parts_500",
    "empty_messages_500",
    "messages_missing_500",
    "response_format_500",
    "tools_malformed_500",
    "stop_500",
    "malformed_json_500",
    "range_500:temperature",
    "range_500:frequency_penalty",
    "range_500:logit_bias",
]


@contextmanager
def server(fault: str) -> Iterator[tuple[str, list[int]]]:
    """A reference server with `fault` and `any_model` on a free port; yields its URL and a request counter."""
    app = create_app(ServerConfig(api_key=KEY, faults=frozenset({fault, "any_model"})))
    count = [0]

    async def counted(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            count[0] += 1
        await app(scope, receive, send)

    with serving(counted, log_level="critical") as url:
        yield url, count


def layer(url: str, seed: int, workdir: Path) -> bool:
    settings = RunSettings(
        contract=load_contract(),
        base_url=url,
        api_key=KEY,
        model=DEFAULT_MODEL,
        report_dir=workdir,
        seed=seed,
        only=["property.*"],
        progress=False,
    )
    with contextlib.redirect_stderr(io.StringIO()):
        run(settings)
    results = json.loads((workdir / "summary.json").read_text())["results"]
    return any(r["id"].startswith("property.not_a_server_error.") and r["outcome"] == "failed" for r in results)


def plain_cli(url: str, seed: int, spec: Path, workdir: Path) -> bool:
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "run",
        str(spec),
        "--url",
        url,
        "--seed",
        str(seed),
        "--header",
        f"Authorization: Bearer {KEY}",
        "--report",
        "json",
        "--report-dir",
        str(workdir),
    ]
    subprocess.run(command, capture_output=True, text=True, cwd=workdir, check=False)
    failures = [f for path in workdir.glob("*.json") for f in json.loads(path.read_text()).get("failures", [])]
    return any("server error" in str(f.get("title", "")).lower() for f in failures)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--faults", nargs="+", default=CRASH_FAULTS)
    args = parser.parse_args()
    totals = {"layer": [0, 0, 0.0], "cli": [0, 0, 0.0]}  # caught, requests, seconds
    print(f"{'fault':<30} {'seed':>4} | {'layer':>6} {'requests':>8} {'s':>6} | {'CLI':>6} {'requests':>8} {'s':>6}")
    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp) / "openapi.json"
        spec.write_text(json.dumps(load_contract().document))
        for fault in args.faults:
            for seed in args.seeds:
                row = []
                for name, runner in (("layer", layer), ("cli", plain_cli)):
                    workdir = Path(tmp) / f"{name}-{fault.replace(':', '_')}-{seed}"
                    workdir.mkdir()
                    with server(fault) as (url, count):
                        started = time.perf_counter()
                        caught = runner(url, seed, spec, workdir) if name == "cli" else runner(url, seed, workdir)
                        elapsed = time.perf_counter() - started
                    totals[name][0] += caught
                    totals[name][1] += count[0]
                    totals[name][2] += elapsed
                    row += [("yes" if caught else "no"), count[0], elapsed]
                layer_cells = f"{row[0]:>6} {row[1]:>8} {row[2]:>6.1f}"
                print(f"{fault:<30} {seed:>4} | {layer_cells} | {row[3]:>6} {row[4]:>8} {row[5]:>6.1f}")
    runs = len(args.faults) * len(args.seeds)
    for name, (caught, requests, seconds) in totals.items():
        print(f"{name:<6} caught {caught}/{runs}, {requests} requests, {seconds:.0f} s")


if __name__ == "__main__":
    main()
