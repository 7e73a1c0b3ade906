#!/usr/bin/env bash
# Restart with a saved HNSW index vs a rebuild, and int8 / binary quantization vs f32, both
# in-process on one shard (design record 020) over the shared 100k x 384 set.
#   bench/run_scale_memory.sh
# Data: $QUIVER_BENCH_DATA (default: ../shared/data relative to the repo root). Only the storage
# crates are built in release (no server).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"

export QUIVER_BENCH_DATA="${QUIVER_BENCH_DATA:-$REPO/../shared/data}"
for f in base.npy query.npy gt_ids.npy; do
  [[ -f "$QUIVER_BENCH_DATA/$f" ]] || { echo "missing $QUIVER_BENCH_DATA/$f (set QUIVER_BENCH_DATA)" >&2; exit 2; }
done

echo "== cargo build --release (the two in-process examples)" >&2
cargo build --release -p quiver-shard --example restart_bench --example quant_bench

VENV="$REPO/bench/.venv"
if [[ ! -x "$VENV/bin/python" ]] || ! "$VENV/bin/python" -c "import numpy" 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet numpy
fi

EXPORT="$(mktemp -d)"
trap 'rm -rf "$EXPORT"' EXIT
# The vectors as the other benchmarks read them: float32, renormalised, row-major.
"$VENV/bin/python" - "$QUIVER_BENCH_DATA" "$EXPORT" <<'PY'
import sys, numpy as np
data, out = sys.argv[1], sys.argv[2]
for name, target in (("base", "base.f32"), ("query", "query.f32")):
    v = np.load(f"{data}/{name}.npy").astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    v.tofile(f"{out}/{target}")
np.load(f"{data}/gt_ids.npy").astype(np.int32).tofile(f"{out}/gt.i32")
PY
TARGET="${CARGO_TARGET_DIR:-$REPO/target}/release/examples"
echo "== restart_bench" >&2
"$TARGET/restart_bench" "$EXPORT" 384
echo "== quant_bench" >&2
"$TARGET/quant_bench" "$EXPORT" 384 64,128
