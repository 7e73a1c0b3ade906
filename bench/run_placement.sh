#!/usr/bin/env bash
# Build Quiver (release), set up bench/.venv if missing, run the placement benchmark
# (peer gone for good, drain under load, rolling restart under load; design record 012).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
export QUIVER_BENCH_DATA="${QUIVER_BENCH_DATA:-$REPO/../shared/data}"
cargo build --release
VENV="$REPO/bench/.venv"
if [[ ! -x "$VENV/bin/python" ]]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet numpy orjson requests
fi
exec "$VENV/bin/python" "$REPO/bench/placement.py" --bin "${CARGO_TARGET_DIR:-$REPO/target}/release/quiver" "$@"
