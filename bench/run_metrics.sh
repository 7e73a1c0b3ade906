#!/usr/bin/env bash
# REST search throughput of this build against a baseline binary (e.g. a build of the commit
# before the metrics changed), one run, ratio new/baseline (see bench/README.md).
#   BASELINE_BIN=/path/to/old/quiver bench/run_metrics.sh [--points N --seconds S --rounds R]
# QUIVER_BENCH_PROFILE=debug compares target/debug/quiver (no release build).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
: "${BASELINE_BIN:?set BASELINE_BIN to the quiver binary to compare against}"
PROFILE="${QUIVER_BENCH_PROFILE:-release}"
if [[ "$PROFILE" == "release" ]]; then cargo build --release -p quiver; else cargo build -p quiver; fi
VENV="$REPO/bench/.venv"
if [[ ! -x "$VENV/bin/python" ]]; then python3 -m venv "$VENV"; fi
"$VENV/bin/pip" install --quiet numpy requests
exec "$VENV/bin/python" "$REPO/bench/metrics_overhead.py" \
  --bin "${CARGO_TARGET_DIR:-$REPO/target}/$PROFILE/quiver" --baseline-bin "$BASELINE_BIN" "$@"
