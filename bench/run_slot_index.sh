#!/usr/bin/env bash
# One copy of each vector (design record 023): the in-process ANN benchmark of one shard with
# the HNSW index reading the point table's vectors ("table") and, in the same run, with the
# index's own f32 copy ("f32", the layout before record 023), over the shared 100k x 384 set;
# then the live usearch index alone built both ways. Prints each run's JSON rows and the
# ratios table / f32.
#   bench/run_slot_index.sh
# Data: $QUIVER_BENCH_DATA (default: ../shared/data relative to the repo root).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"

export QUIVER_BENCH_DATA="${QUIVER_BENCH_DATA:-$REPO/../shared/data}"
for f in base.npy query.npy gt_ids.npy; do
  [[ -f "$QUIVER_BENCH_DATA/$f" ]] || { echo "missing $QUIVER_BENCH_DATA/$f (set QUIVER_BENCH_DATA)" >&2; exit 2; }
done

echo "== cargo build --release -p quiver-shard --example ann_bench" >&2
cargo build --release -p quiver-shard --example ann_bench

VENV="$REPO/bench/.venv"
if [[ ! -x "$VENV/bin/python" ]] || ! "$VENV/bin/python" -c "import numpy" 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet numpy
fi

EXPORT="${SLOT_BENCH_EXPORT:-}"
if [[ -z "$EXPORT" ]]; then
  EXPORT="$(mktemp -d)"
  trap 'rm -rf "$EXPORT"' EXIT
fi
if [[ ! -f "$EXPORT/base.f32" ]]; then
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
fi
BENCH="${CARGO_TARGET_DIR:-$REPO/target}/release/examples/ann_bench"
OUT="$(mktemp)"
# Two rounds of the shard run each way, alternating (the machine is shared), and one without
# payloads (the memory of vectors, index and ids alone).
for scalar in table f32 table f32; do
  echo "== ann_bench HNSW_SCALAR=$scalar" >&2
  HNSW_SCALAR=$scalar ANN_BENCH_FILTERED=0 "$BENCH" "$EXPORT" 384 64,128 | sed "s/^/$scalar /" | tee -a "$OUT"
done
for scalar in table f32; do
  echo "== ann_bench HNSW_SCALAR=$scalar ANN_BENCH_PAYLOAD=0" >&2
  HNSW_SCALAR=$scalar ANN_BENCH_PAYLOAD=0 ANN_BENCH_FILTERED=0 "$BENCH" "$EXPORT" 384 64 | grep '"build"' | sed "s/^/$scalar-nopayload /" | tee -a "$OUT"
done
echo "== ann_bench ANN_BENCH_LIVE=1 (the live usearch index alone)" >&2
ANN_BENCH_LIVE=1 ANN_BENCH_FILTERED=0 "$BENCH" "$EXPORT" 384 64,128 | grep live_index | sed "s/^/live /" | tee -a "$OUT"
python3 - "$OUT" <<'PY'
import json, sys
rows = {}
for line in open(sys.argv[1]):
    tag, body = line.split(" ", 1)
    row = json.loads(body)
    key = (tag if row["kind"] != "live_index" else row["scalar"].lower(), row["kind"], row.get("ef"))
    rows.setdefault(key, []).append(row)
def best(key, field, pick=max):
    return pick(r[field] for r in rows[key])
def ratio(a, b):
    return f"{a / b:.2f}" if b else "n/a"
print("\nshard, 100k x 384, m=16 (best of 2 runs)    table       f32  table/f32")
for tag, label in (("", ""), ("-nopayload", " (no payload)")):
    for name in ("rss_bytes_per_point", "bytes_per_point"):
        t, f = best(("table" + tag, "build", None), name, min), best(("f32" + tag, "build", None), name, min)
        print(f"  {name + label:38s} {t:8.1f} {f:9.1f}  {ratio(t, f)}")
for name in ("build_s", "frozen_s"):
    t, f = best(("table", "build", None), name, min), best(("f32", "build", None), name, min)
    print(f"  {name:38s} {t:8.1f} {f:9.1f}  {ratio(t, f)}")
for t in rows[("table", "build", None)]:
    print(f"  indexer read-lock holds: {t['lock_batches']} batches of {t['lock_slots'] / max(t['lock_batches'], 1):.0f} slots, "
          f"mean {t['lock_hold_mean_ms']:.2f} ms, longest {t['lock_hold_max_ms']:.2f} ms, {t['lock_holds_16ms']} of 16 ms or more")
for ef in (64, 128):
    k1, k2 = ("table", "search", ef), ("f32", "search", ef)
    print(f"  frozen graph ef={ef:3d}: recall@10 {best(k1, 'recall10'):.4f} vs {best(k2, 'recall10'):.4f}; "
          f"QPS 1 thread {best(k1, 'qps1'):.0f} vs {best(k2, 'qps1'):.0f} ({ratio(best(k1, 'qps1'), best(k2, 'qps1'))}), "
          f"2 threads {best(k1, 'qps2'):.0f} vs {best(k2, 'qps2'):.0f} ({ratio(best(k1, 'qps2'), best(k2, 'qps2'))})")
a, b = best(("table", "live_index", 64), "build_s"), best(("f32", "live_index", 64), "build_s")
print(f"  live usearch index build (2 threads): {a:.1f} s vs {b:.1f} s ({ratio(a, b)})")
for ef in (64, 128):
    k1, k2 = ("table", "live_index", ef), ("f32", "live_index", ef)
    print(f"  live usearch index ef={ef:3d}: recall@10 {best(k1, 'recall10'):.4f} vs {best(k2, 'recall10'):.4f}; "
          f"QPS 1 thread {best(k1, 'qps1'):.0f} vs {best(k2, 'qps1'):.0f} ({ratio(best(k1, 'qps1'), best(k2, 'qps1'))})")
PY
