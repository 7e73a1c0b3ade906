#!/usr/bin/env bash
# JSON parsers on upsert bodies as clients send them (issue 20 item 4): serde_json, sonic-rs,
# simd-json, and fast-float2 over the numbers alone. Prints each parser's time and its ratio to
# serde_json, measured in the same round.
#   bench/run_json_decode.sh [ROUNDS]
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
export QUIVER_BENCH_DATA="${QUIVER_BENCH_DATA:-$REPO/../shared/data}"
[[ -f "$QUIVER_BENCH_DATA/base.npy" ]] || { echo "missing $QUIVER_BENCH_DATA/base.npy (set QUIVER_BENCH_DATA)" >&2; exit 2; }
VENV="$REPO/bench/.venv"
[[ -x "$VENV/bin/python" ]] || python3 -m venv "$VENV"
"$VENV/bin/pip" install --quiet numpy orjson
OUT="$REPO/bench/out/json_decode"
"$VENV/bin/python" bench/json_decode.py "$QUIVER_BENCH_DATA" "$OUT"
cargo build --release --manifest-path bench/json_decode/Cargo.toml --target-dir "$REPO/target/json_decode"
for body in orjson python; do
  "$REPO/target/json_decode/release/quiver-json-decode-bench" "$OUT/$body.json" "${1:-3}"
done
