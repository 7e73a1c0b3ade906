#!/usr/bin/env bash
# Query and upsert throughput over gRPC vs REST on the shared 100k set, measured in one run on one
# release server; prints the figures and their ratios gRPC/REST (see bench/README.md).
#   bench/run_grpc.sh [extra args for grpc_vs_rest.py, e.g. --queries 1000]
# Data: $QUIVER_BENCH_DATA (default: ../shared/data relative to the repo root).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
# qdrant-client brings grpcio and the generated protobuf modules of Qdrant's API.
source "$REPO/bench/common.sh" numpy orjson requests qdrant-client==1.20.0

echo "== running bench/grpc_vs_rest.py" >&2
exec "$VENV/bin/python" "$REPO/bench/grpc_vs_rest.py" --bin "$BIN" "$@"
