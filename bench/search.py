#!/usr/bin/env python3
"""ANN search benchmark of Quiver against hnswlib on the shared 100k x 384 set.

One run, one machine, same data and HNSW settings (M=16, ef_construct=100):

1. Quiver over REST: create a Cosine collection, upsert 100k points (payload `group`: "a" on 50%,
   "b" on 5%, "c" on 0.1% of points; keyword payload index on it), wait until every vector is
   indexed (build time = first upsert -> indexed_vectors_count == N and status green), then for
   each hnsw_ef: recall@10 against gt_ids.npy and QPS with 1 and 2 client threads
   (`POST /collections/bench/points/query`).
2. Filtered search over REST for the three groups: recall@10 against the same query with
   `exact: true`, and QPS.
3. The same index in-process (no HTTP): `cargo run --release --example ann_bench`.
4. hnswlib (PyPI), same data and settings, 2 build threads; queries one at a time in C++
   (knn_query over the query matrix with num_threads=1 / 2).
5. Ratios Quiver / hnswlib QPS at equal recall (hnswlib's QPS interpolated at Quiver's recall).

Prints tables; writes bench/out/search.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from upsert_restart import Server, api  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data"
COLLECTION = "bench"
M, EF_CONSTRUCT = 16, 100
EFS = [16, 32, 64, 128]
HNSWLIB_EFS = EFS + [256]  # one more point so Quiver's recall stays inside hnswlib's curve


def groups(i: int) -> list[str]:
    g = []
    if i % 2 == 0:
        g.append("a")
    if i % 20 == 1:
        g.append("b")
    if i % 1000 == 3:
        g.append("c")
    return g


def recall_at(found: list[list[int]], truth, k: int = 10) -> float:
    hit = 0
    for f, t in zip(found, truth):
        hit += len(set(f[:k]) & set(int(x) for x in t[:k]))
    return hit / (len(found) * k)


def run_queries(url: str, bodies: list[dict], threads: int) -> tuple[list[list[int]], float]:
    out: list[list[int] | None] = [None] * len(bodies)

    def worker(t: int):
        sess = requests.Session()
        for i in range(t, len(bodies), threads):
            r = sess.post(url, json=bodies[i], timeout=120)
            r.raise_for_status()
            out[i] = [p["id"] for p in r.json()["result"]["points"]]

    start = time.perf_counter()
    ts = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return out, len(bodies) / (time.perf_counter() - start)


def quiver_rest(binary: Path, base: np.ndarray, queries: np.ndarray, gt: np.ndarray, workdir: Path) -> dict:
    srv = Server(binary, workdir)
    sess = requests.Session()
    res: dict = {}
    try:
        srv.start()
        srv.wait_until(sess, None, 120)
        api(sess, "PUT", f"{srv.url}/collections/{COLLECTION}",
            json={"vectors": {"size": base.shape[1], "distance": "Cosine"},
                  "hnsw_config": {"m": M, "ef_construct": EF_CONSTRUCT}})
        api(sess, "PUT", f"{srv.url}/collections/{COLLECTION}/index?wait=true",
            json={"field_name": "group", "field_schema": "keyword"})
        t0 = time.perf_counter()
        for s in range(0, len(base), 1000):
            pts = [{"id": i, "vector": base[i].tolist(), "payload": {"group": groups(i)}}
                   for i in range(s, min(s + 1000, len(base)))]
            api(sess, "PUT", f"{srv.url}/collections/{COLLECTION}/points?wait=true", json={"points": pts})
        res["load_s"] = time.perf_counter() - t0
        while True:
            info = api(sess, "GET", f"{srv.url}/collections/{COLLECTION}")["result"]
            if info.get("indexed_vectors_count", 0) >= len(base) and info["status"] == "green":
                break
            time.sleep(0.1)
        res["build_s"] = time.perf_counter() - t0
        url = f"{srv.url}/collections/{COLLECTION}/points/query"
        res["search"] = []
        for ef in EFS:
            bodies = [{"query": q.tolist(), "limit": 10, "params": {"hnsw_ef": ef}} for q in queries]
            found, qps1 = run_queries(url, bodies, 1)
            _, qps2 = run_queries(url, bodies, 2)
            res["search"].append({"ef": ef, "recall10": recall_at(found, gt), "qps1": qps1, "qps2": qps2})
        res["filtered"] = []
        for value, share in (("a", 0.5), ("b", 0.05), ("c", 0.001)):
            flt = {"must": [{"key": "group", "match": {"value": value}}]}
            exact = [{"query": q.tolist(), "limit": 10, "filter": flt, "params": {"exact": True}} for q in queries]
            truth, _ = run_queries(url, exact, 2)
            bodies = [{"query": q.tolist(), "limit": 10, "filter": flt} for q in queries]
            found, qps1 = run_queries(url, bodies, 1)
            _, qps2 = run_queries(url, bodies, 2)
            res["filtered"].append({"share": share, "recall10": recall_at(found, truth), "qps1": qps1, "qps2": qps2})
    finally:
        srv.shutdown()
    return res


def hnswlib_build(base: np.ndarray):
    import hnswlib

    index = hnswlib.Index(space="ip", dim=base.shape[1])
    t0 = time.perf_counter()
    index.init_index(max_elements=len(base), M=M, ef_construction=EF_CONSTRUCT)
    index.add_items(base, np.arange(len(base)), num_threads=2)
    return index, time.perf_counter() - t0


def hnswlib_run(index, build_s: float, queries: np.ndarray, gt: np.ndarray) -> dict:
    res = {"build_s": build_s, "search": []}
    for ef in HNSWLIB_EFS:
        index.set_ef(max(ef, 10))
        row = {"ef": ef}
        for threads in (1, 2):
            t0 = time.perf_counter()
            labels, _ = index.knn_query(queries, k=10, num_threads=threads)
            row[f"qps{threads}"] = len(queries) / (time.perf_counter() - t0)
        row["recall10"] = recall_at([list(map(int, l)) for l in labels], gt)
        res["search"].append(row)
    return res


def in_process(export: Path, dim: int, scalar: str = "f32") -> dict:
    cmd = ["cargo", "run", "--quiet", "--release", "-p", "quiver-shard", "--example", "ann_bench", "--",
           str(export), str(dim), ",".join(map(str, EFS))]
    env = dict(os.environ, HNSW_M=str(M), HNSW_EF_CONSTRUCT=str(EF_CONSTRUCT), HNSW_SCALAR=scalar)
    out = subprocess.run(cmd, cwd=REPO, env=env, check=True, capture_output=True, text=True).stdout
    res: dict = {"search": [], "filtered": []}
    for line in out.splitlines():
        row = json.loads(line)
        kind = row.pop("kind")
        if kind == "build":
            res["build"] = row
        else:
            res[kind].append(row)
    return res


def qps_at_recall(curve: list[dict], recall: float, key: str) -> float | None:
    """hnswlib's QPS at `recall`, linear between its measured points (None outside them)."""
    pts = sorted((r["recall10"], r[key]) for r in curve)
    for (r0, q0), (r1, q1) in zip(pts, pts[1:]):
        if r0 <= recall <= r1:
            return q0 if r1 == r0 else q0 + (q1 - q0) * (recall - r0) / (r1 - r0)
    if pts and abs(recall - pts[-1][0]) < 1e-9:
        return pts[-1][1]
    return None


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=str(REPO / "target" / "release" / "quiver"))
    ap.add_argument("--data", default=os.environ.get("QUIVER_BENCH_DATA", str(DEFAULT_DATA)))
    ap.add_argument("--skip-rest", action="store_true")
    ap.add_argument("--bf16", action="store_true", help="also run in-process with bf16 index vectors")
    args = ap.parse_args()
    data = Path(args.data)
    base = np.load(data / "base.npy").astype(np.float32)
    base /= np.linalg.norm(base, axis=1, keepdims=True)
    queries = np.load(data / "query.npy").astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    gt = np.load(data / "gt_ids.npy")
    results: dict = {"n": len(base), "dim": base.shape[1], "m": M, "ef_construct": EF_CONSTRUCT}

    with tempfile.TemporaryDirectory(prefix="quiver-search-bench-") as tmp:
        tmp = Path(tmp)
        base.tofile(tmp / "base.f32")
        queries.tofile(tmp / "query.f32")
        gt.astype(np.int32).tofile(tmp / "gt.i32")
        # The machine is shared: hnswlib's sweep runs before and after Quiver's in-process run
        # and the better QPS of the two is kept (the baseline gets the benefit of the doubt).
        print("== hnswlib", file=sys.stderr)
        index, build_s = hnswlib_build(base)
        first = hnswlib_run(index, build_s, queries, gt)
        print("== Quiver in-process", file=sys.stderr)
        results["in_process"] = in_process(tmp, base.shape[1])
        if args.bf16:
            print("== Quiver in-process, bf16 graph vectors", file=sys.stderr)
            results["in_process_bf16"] = in_process(tmp, base.shape[1], "bf16")
        print("== hnswlib again", file=sys.stderr)
        second = hnswlib_run(index, build_s, queries, gt)
        for a, b in zip(first["search"], second["search"]):
            a["qps1"], a["qps2"] = max(a["qps1"], b["qps1"]), max(a["qps2"], b["qps2"])
        results["hnswlib"] = first
        del index
        if not args.skip_rest:
            print("== Quiver over REST", file=sys.stderr)
            (tmp / "srv").mkdir()
            results["rest"] = quiver_rest(Path(args.bin), base, queries, gt, tmp / "srv")

    h = results["hnswlib"]
    ip = results["in_process"]
    print(f"\nN={results['n']} dim={results['dim']} M={M} ef_construct={EF_CONSTRUCT}  (cpus: {os.cpu_count()})")
    print(f"build: hnswlib {h['build_s']:.1f} s (2 threads); Quiver in-process {ip['build']['build_s']:.1f} s"
          + (f"; Quiver REST load+index {results['rest']['build_s']:.1f} s" if "rest" in results else ""))
    print(f"memory: Quiver {ip['build']['bytes_per_point']:.0f} bytes/point "
          f"(vectors {ip['build']['vector_bytes']/ip['build']['n']:.0f}, index {ip['build']['index_bytes']/ip['build']['n']:.0f}, "
          f"payload index {ip['build']['payload_index_bytes']/ip['build']['n']:.0f})")
    print("\n| ef | hnswlib recall | hnswlib qps 1t / 2t | in-proc recall | in-proc qps 1t / 2t | ratio 1t at equal recall | REST recall | REST qps 1t / 2t |")
    print("|---|---|---|---|---|---|---|---|")
    for i, ef in enumerate(EFS):
        hr, qr = h["search"][i], ip["search"][i]
        ref = qps_at_recall(h["search"], qr["recall10"], "qps1")
        ratio = f"{qr['qps1'] / ref:.2f}" if ref else "n/a (outside hnswlib's range)"
        rest = results.get("rest", {}).get("search", [None] * len(EFS))[i]
        rest_s = f"{rest['recall10']:.4f} | {rest['qps1']:.0f} / {rest['qps2']:.0f}" if rest else "- | -"
        print(f"| {ef} | {hr['recall10']:.4f} | {hr['qps1']:.0f} / {hr['qps2']:.0f} | {qr['recall10']:.4f} | "
              f"{qr['qps1']:.0f} / {qr['qps2']:.0f} | {ratio} | {rest_s} |")
    if "in_process_bf16" in results:
        b = results["in_process_bf16"]
        print(f"\nin-process with bf16 graph vectors (results rescored in f32): build {b['build']['build_s']:.1f} s, "
              f"{b['build']['bytes_per_point']:.0f} bytes/point")
        print("| ef | recall | qps 1t / 2t | ratio 1t vs hnswlib at equal recall |")
        print("|---|---|---|---|")
        for qr in b["search"]:
            ref = qps_at_recall(h["search"], qr["recall10"], "qps1")
            ratio = f"{qr['qps1'] / ref:.2f}" if ref else "n/a (outside hnswlib's range)"
            print(f"| {qr['ef']} | {qr['recall10']:.4f} | {qr['qps1']:.0f} / {qr['qps2']:.0f} | {ratio} |")
    print("\n| filter share | in-proc recall | in-proc qps 1t / 2t | plan | REST recall | REST qps 1t / 2t |")
    print("|---|---|---|---|---|---|")
    for i, fr in enumerate(ip["filtered"]):
        rest = results.get("rest", {}).get("filtered", [None] * 3)[i]
        rest_s = f"{rest['recall10']:.4f} | {rest['qps1']:.0f} / {rest['qps2']:.0f}" if rest else "- | -"
        print(f"| {fr['share']} | {fr['recall10']:.4f} | {fr['qps1']:.0f} / {fr['qps2']:.0f} | {fr['plans']} | {rest_s} |")
    out = REPO / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    (out / "search.json").write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
