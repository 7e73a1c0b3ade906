#!/usr/bin/env bash
# Build Quiver (release), set up bench/.venv if missing, run the shard transfer benchmark.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
export QUIVER_BENCH_DATA="${QUIVER_BENCH_DATA:-$REPO/../shared/data}"
cargo build --release -p quiver
VENV="$REPO/bench/.venv"
if [[ ! -x "$VENV/bin/python" ]]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet numpy orjson requests
fi
exec "$VENV/bin/python" "$REPO/bench/transfers.py" --bin "${CARGO_TARGET_DIR:-$REPO/target}/release/quiver" "$@"
