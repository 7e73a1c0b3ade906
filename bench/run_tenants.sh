#!/usr/bin/env bash
# Tenant graphs (design record 021): filtered search with a keyword index vs an is_tenant index,
# in-process on the shared 100k x 384 set. Prints a table of recall@10 and QPS ratios.
#   bench/run_tenants.sh
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
export QUIVER_BENCH_DATA="${QUIVER_BENCH_DATA:-$REPO/../shared/data}"
VENV="$REPO/bench/.venv"
[[ -x "$VENV/bin/python" ]] || python3 -m venv "$VENV"
"$VENV/bin/pip" install --quiet numpy
cargo build --release -p quiver-shard --example ann_bench
exec "$VENV/bin/python" "$REPO/bench/tenants.py" "$@"
