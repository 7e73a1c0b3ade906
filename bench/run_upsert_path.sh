#!/usr/bin/env bash
# Issue 20 item 4: the upsert path, with an older binary measured alternately in the same run.
#   bash bench/run_upsert_path.sh [--before OLD_BINARY] [--rounds R] [-n POINTS]
# Builds target/release/quiver, sets up bench/.venv, runs bench/upsert_path.py; figures in
# bench/out/upsert_path.json. Data: $QUIVER_BENCH_DATA (default ../shared/data).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
source "$REPO/bench/common.sh" numpy orjson requests

echo "== running bench/upsert_path.py" >&2
exec "$VENV/bin/python" "$REPO/bench/upsert_path.py" --bin "$BIN" "$@"
