"""Wall time of the property layer against the plain schemathesis CLI, on the same document, examples, seed and server.

    python benchmarks/property_layer.py [--max-examples 20] [--seed 1] [--repeat 3]

Both generate positive and negative requests with the examples, coverage and fuzzing phases, from the effective
contract (atoma profile), without shrinking, against one reference server on 127.0.0.1. Prints the best wall time
of each over `--repeat` runs, the requests each sent, and their ratio (layer / CLI).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from conformance.checks import Facts
from conformance.contract import load_contract
from conformance.driver.property import run_mode
from conformance.reference import DEFAULT_MODEL, ServerConfig, running_server
from conformance.transport import TargetClient

KEY = "sk-benchmark"


def layer(url: str, seed: int, examples: int) -> tuple[float, int]:
    contract = load_contract()
    client = TargetClient(url, KEY)
    facts = Facts(contract, DEFAULT_MODEL, seed)
    started = time.perf_counter()
    for mode in ("positive", "negative"):
        run_mode(facts, client, mode, examples)
    elapsed = time.perf_counter() - started
    client.close()
    return elapsed, client.usage.requests


def plain_cli(url: str, seed: int, examples: int, spec: Path, workdir: Path) -> tuple[float, int]:
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "run",
        str(spec),
        "--url",
        url,
        "--phases",
        "examples,coverage,fuzzing",
        "--mode",
        "all",
        "--max-examples",
        str(examples),
        "--seed",
        str(seed),
        "--generation-database",
        "none",
        "--no-shrink",
        "--generation-allow-x00",
        "false",
        "--header",
        f"Authorization: Bearer {KEY}",
        "--continue-on-failure",
        "--checks",
        "not_a_server_error,status_code_conformance,content_type_conformance,"
        "response_schema_conformance,negative_data_rejection,positive_data_acceptance",
        "--report",
        "ndjson",
        "--report-dir",
        str(workdir),
    ]
    started = time.perf_counter()
    subprocess.run(command, capture_output=True, text=True, cwd=workdir, check=False)
    elapsed = time.perf_counter() - started
    requests = 0
    for path in workdir.glob("*.ndjson"):
        for line in path.read_text().splitlines():
            requests += line.count('"request":')
    return elapsed, requests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-examples", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    contract = load_contract()
    with tempfile.TemporaryDirectory() as tmp, running_server(ServerConfig(api_key=KEY)) as url:
        spec = Path(tmp) / "openapi.json"
        spec.write_text(json.dumps(contract.document))
        httpx.get(f"{url}/v1/models")  # warm the server
        ours, theirs = [], []
        for i in range(args.repeat):
            ours.append(layer(url, args.seed, args.max_examples))
            workdir = Path(tmp) / f"cli-{i}"
            workdir.mkdir()
            theirs.append(plain_cli(url, args.seed, args.max_examples, spec, workdir))
    best_ours, best_theirs = min(ours), min(theirs)
    print(f"property layer : {best_ours[0]:6.2f} s, {best_ours[1]} requests (best of {args.repeat})")
    print(f"schemathesis   : {best_theirs[0]:6.2f} s, {best_theirs[1]} requests (best of {args.repeat})")
    print(f"ratio          : {best_ours[0] / best_theirs[0]:.2f} (layer / CLI; the aim is at most 1.5)")


if __name__ == "__main__":
    main()
