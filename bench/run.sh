#!/usr/bin/env bash
# Build Quiver (release), set up bench/.venv if missing, run the single-node benchmark.
#   bench/run.sh [extra args for upsert_restart.py, e.g. --no-two-threads]
# Data: $QUIVER_BENCH_DATA (default: ../shared/data relative to the repo root).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"

export QUIVER_BENCH_DATA="${QUIVER_BENCH_DATA:-$REPO/../shared/data}"
for f in base.npy query.npy gt_ids.npy; do
  [[ -f "$QUIVER_BENCH_DATA/$f" ]] || { echo "missing $QUIVER_BENCH_DATA/$f (set QUIVER_BENCH_DATA)" >&2; exit 2; }
done

echo "== cargo build --release" >&2
cargo build --release

VENV="$REPO/bench/.venv"
if [[ ! -x "$VENV/bin/python" ]]; then
  echo "== creating $VENV" >&2
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --upgrade pip
  "$VENV/bin/pip" install --quiet numpy orjson requests
fi

echo "== running bench/upsert_restart.py" >&2
BIN="${CARGO_TARGET_DIR:-$REPO/target}/release/quiver"
exec "$VENV/bin/python" "$REPO/bench/upsert_restart.py" --bin "$BIN" "$@"
