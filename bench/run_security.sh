#!/usr/bin/env bash
# Search and upsert throughput with an API key, a JWT and TLS against a plain server, in one run
# (ratios against plain; see bench/README.md).
#   bench/run_security.sh [extra args for security.py, e.g. --points 50000 --queries 2000]
# QUIVER_BENCH_PROFILE=debug uses target/debug/quiver (no release build).
# Data: $QUIVER_BENCH_DATA (default: ../shared/data relative to the repo root).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
if [[ "${QUIVER_BENCH_PROFILE:-release}" == "debug" ]]; then
  cargo() { if [[ "$1" == "build" ]]; then command cargo build; else command cargo "$@"; fi; }
fi
source "$REPO/bench/common.sh" numpy orjson requests trustme
if [[ "${QUIVER_BENCH_PROFILE:-release}" == "debug" ]]; then
  BIN="${CARGO_TARGET_DIR:-$REPO/target}/debug/quiver"
fi

echo "== running bench/security.py ($BIN)" >&2
exec "$VENV/bin/python" "$REPO/bench/security.py" --bin "$BIN" "$@"
