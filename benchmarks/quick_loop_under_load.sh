#!/usr/bin/env bash
# The quick loop (`pytest -m "not slow"`) on a busy machine: two CPU-bound busy loops run beside it the whole
# time (on 2 cores, the tests get about a third of the CPU). It must pass, whatever it takes; prints its time.
#     bash benchmarks/quick_loop_under_load.sh
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
busy=()
for _ in 1 2; do
  python3 -c 'while True: pass' &
  busy+=($!)
done
trap 'kill "${busy[@]}" 2>/dev/null || true' EXIT
started=$SECONDS
status=0
.venv/bin/pytest -q -m "not slow" > /tmp/quick-under-load.log 2>&1 || status=$?
echo "quick loop beside two busy loops: $((SECONDS - started)) s, exit $status ($(tail -1 /tmp/quick-under-load.log))"
exit "$status"
