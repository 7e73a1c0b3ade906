#!/usr/bin/env bash
# The 1M-point scale run (issue 19 item 5): load, indexing, memory, recall/QPS and restart of a
# real server, with and without int8 quantization and on-disk originals.
#   bench/run_scale.sh [--points N] [--configs f32,int8] [--sigma S]
# Data: $QUIVER_BENCH_DATA (default: ../shared/data relative to the repo root). 15-25 min.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
source "$REPO/bench/common.sh" numpy orjson requests
exec "$VENV/bin/python" "$REPO/bench/scale.py" --bin "$BIN" "$@"
