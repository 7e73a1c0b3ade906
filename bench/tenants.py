"""Tenant graphs (design record 021), in-process on one shard: filtered search at three group
sizes (50%, 5%, 0.1% of the points, `full_scan_threshold` 1,000 KB) with the `group` index a plain keyword index, then with it
an `is_tenant` index (a graph per big group). Both runs load the same set in the same process
kind; the table quotes recall@10 against exact filtered search and the QPS ratio."""

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np


def run(export: Path, dim: int, tenant: bool) -> list:
    # `full_scan_threshold` 1,000 KB (≈ 670 points of 384-d) instead of 10,000: the 5% group is
    # then searched through a graph (the shard's, filtered, or its own tenant graph).
    env = {**os.environ, "ANN_BENCH_TENANT": "1" if tenant else "0", "HNSW_FULL_SCAN_KB": "1000"}
    cmd = ["cargo", "run", "--quiet", "--release", "-p", "quiver-shard", "--example", "ann_bench", "--",
           str(export), str(dim), "64"]
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def main() -> None:
    data = Path(os.environ.get("QUIVER_BENCH_DATA", Path(__file__).resolve().parent.parent.parent / "shared/data"))
    base = np.load(data / "base.npy").astype(np.float32)
    base /= np.linalg.norm(base, axis=1, keepdims=True)
    queries = np.load(data / "query.npy").astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    with tempfile.TemporaryDirectory(prefix="quiver-tenant-bench-") as tmp:
        tmp = Path(tmp)
        base.tofile(tmp / "base.f32")
        queries.tofile(tmp / "query.f32")
        np.load(data / "gt_ids.npy").astype(np.int32).tofile(tmp / "gt.i32")
        print("== keyword index", file=sys.stderr)
        plain = run(tmp, base.shape[1], False)
        print("== tenant index", file=sys.stderr)
        tenant = run(tmp, base.shape[1], True)
    build = next((r["build_s"] for r in tenant if r["kind"] == "tenant_graphs"), None)
    print(f"n={len(base)} dim={base.shape[1]}; tenant graphs ready {build:.1f} s after the shard's own graph")
    print("| group share | keyword: recall@10, QPS, plan | tenant: recall@10, QPS, plan | QPS ratio |")
    print("|---|---|---|---|")
    rows = zip((r for r in plain if r["kind"] == "filtered"), (r for r in tenant if r["kind"] == "filtered"))
    for p, t in rows:
        print(f"| {p['share']:.1%} | {p['recall10']:.3f}, {p['qps1']:.0f}, {p['plans']} | "
              f"{t['recall10']:.3f}, {t['qps1']:.0f}, {t['plans']} | {t['qps1'] / p['qps1']:.2f}× |")


if __name__ == "__main__":
    main()
