#!/usr/bin/env bash
# ANN search benchmark: Quiver (REST and in-process) vs hnswlib on the shared 100k x 384 set.
#   bench/run_search.sh [--skip-rest]
# Data: $QUIVER_BENCH_DATA (default: ../shared/data relative to the repo root).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"

export QUIVER_BENCH_DATA="${QUIVER_BENCH_DATA:-$REPO/../shared/data}"
for f in base.npy query.npy gt_ids.npy; do
  [[ -f "$QUIVER_BENCH_DATA/$f" ]] || { echo "missing $QUIVER_BENCH_DATA/$f (set QUIVER_BENCH_DATA)" >&2; exit 2; }
done

echo "== cargo build --release (server and the in-process example)" >&2
cargo build --release -p quiver --bin quiver
cargo build --release -p quiver-shard --example ann_bench

VENV="$REPO/bench/.venv"
if [[ ! -x "$VENV/bin/python" ]] || ! "$VENV/bin/python" -c "import hnswlib, numpy, orjson, requests" 2>/dev/null; then
  echo "== setting up $VENV" >&2
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --upgrade pip
  "$VENV/bin/pip" install --quiet numpy orjson requests hnswlib
fi

BIN="${CARGO_TARGET_DIR:-$REPO/target}/release/quiver"
exec "$VENV/bin/python" "$REPO/bench/search.py" --bin "$BIN" "$@"
