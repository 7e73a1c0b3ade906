#!/usr/bin/env bash
# Build Quiver (release), set up bench/.venv if missing, run the single-node benchmark.
#   bench/run.sh [extra args for upsert_restart.py, e.g. --no-two-threads]
# Data: $QUIVER_BENCH_DATA (default: ../shared/data relative to the repo root).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
source "$REPO/bench/common.sh" numpy orjson requests

echo "== running bench/upsert_restart.py" >&2
exec "$VENV/bin/python" "$REPO/bench/upsert_restart.py" --bin "$BIN" "$@"
