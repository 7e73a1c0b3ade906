#!/usr/bin/env bash
# Request-path benchmark (issue 20 item 1): Python client and native REST/gRPC load against
# Quiver's engine in-process and qdrant-edge-py in-process, on the shared 100k x 384 set.
#   bench/run_request_path.sh [--before /path/to/older/quiver] [--requests N] [--skip-edge]
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
source bench/common.sh numpy orjson requests qdrant-client==1.20.0 qdrant-edge-py==0.9.0
cargo build --release -p quiver-shard --example ann_bench
cargo build --release -p quiver-loadgen
exec "$VENV/bin/python" "$REPO/bench/request_path.py" --bin "$BIN" "$@"
