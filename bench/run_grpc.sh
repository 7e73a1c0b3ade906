#!/usr/bin/env bash
# Query and upsert throughput over gRPC vs REST on the shared 100k set, measured in one run on one
# release server; prints the figures and their ratios gRPC/REST (see bench/README.md).
#   bench/run_grpc.sh [extra args for grpc_vs_rest.py, e.g. --queries 1000]
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
fi
# qdrant-client brings grpcio and the generated protobuf modules of Qdrant's API.
"$VENV/bin/pip" install --quiet numpy orjson requests qdrant-client==1.20.0

echo "== running bench/grpc_vs_rest.py" >&2
BIN="${CARGO_TARGET_DIR:-$REPO/target}/release/quiver"
exec "$VENV/bin/python" "$REPO/bench/grpc_vs_rest.py" --bin "$BIN" "$@"
