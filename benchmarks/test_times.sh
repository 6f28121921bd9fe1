#!/usr/bin/env bash
# Wall time of the project's own tests: the quick loop (`pytest -m "not slow"`) and the whole README test
# command, install included, on a fresh clone of HEAD (as CI runs it).
#     bash benchmarks/test_times.sh
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
git clone -q "$root" "$work/clone"
cd "$work/clone"
started=$SECONDS
CI=true bash .ci/run > "$work/ci.log" 2>&1 || { tail -30 "$work/ci.log"; exit 1; }
whole=$((SECONDS - started))
started=$SECONDS
.venv/bin/pytest -q -m "not slow" > "$work/quick.log" 2>&1 || { tail -30 "$work/quick.log"; exit 1; }
quick=$((SECONDS - started))
echo "whole README test command, install included: ${whole} s ($(tail -2 "$work/ci.log" | head -1))"
echo "quick loop, pytest -m 'not slow': ${quick} s ($(tail -1 "$work/quick.log"))"
