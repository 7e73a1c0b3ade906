"""Searches over a 3-peer cluster: what a search costs when its shards live on other peers.

Starts 3 local peers, creates one collection (`shard_number` 6, Cosine, 384-d, `--rf`), loads
`--points` vectors of `base.npy` (batches of 100, `wait=true`), waits until the servers are idle,
then sends `--queries` searches (`POST /points/query`, limit 10, `hnsw_ef` 64, queries from
`query.npy`) with `--clients` client threads (each its own connection, requests dealt round-robin
over the peers). Prints queries/s, latency p50/p99 and the servers' CPU per search (summed over
the three processes); with `--bin` and `--before`, both builds are measured `--rounds` times,
alternating, in one run (each round on a fresh cluster), and the ratios are printed.

Usage: bench/.venv/bin/python bench/cluster_search.py --bin NEW [--before OLD] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path

import numpy as np
import requests

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests" / "python"))
sys.path.insert(0, str(REPO / "bench"))
from cluster_harness import Cluster  # noqa: E402
from replication import load_vectors, servers_cpu_s, upsert_all, wait_quiet  # noqa: E402

NAME = "search_bench"


def search_all(urls: list[str], queries: np.ndarray, n: int, clients: int) -> dict:
    """Sends `n` searches with `clients` threads; each thread its own session."""
    latencies: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()

    def client(k: int) -> None:
        session = requests.Session()
        for i in range(k, n, clients):
            body = {"query": queries[i % len(queries)].tolist(), "limit": 10, "params": {"hnsw_ef": 64}}
            t = time.perf_counter()
            r = session.post(f"{urls[i % len(urls)]}/collections/{NAME}/points/query", json=body, timeout=30)
            elapsed = time.perf_counter() - t
            with lock:
                if r.status_code != 200 or len(r.json()["result"]["points"]) != 10:
                    failures.append(f"{r.status_code} {r.text[:200]}")
                latencies.append(elapsed)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - start
    lat = np.array(latencies) * 1000
    return {"queries": n, "seconds": seconds, "queries_per_s": n / seconds, "p50_ms": float(np.percentile(lat, 50)),
            "p99_ms": float(np.percentile(lat, 99)), "failures": len(failures), "first_failures": failures[:3]}


def measure(binary: str, args, vectors: np.ndarray, queries: np.ndarray) -> dict:
    os.environ["QUIVER_BIN"] = binary
    with Cluster(3, env={"QDRANT__LOG_LEVEL": "WARN"}) as cluster:
        urls = [p.url for p in cluster.peers]
        pids = [p.proc.pid for p in cluster.peers]
        body = {"vectors": {"size": 384, "distance": "Cosine"}, "shard_number": 6, "replication_factor": args.rf}
        requests.put(f"{urls[0]}/collections/{NAME}", json=body, timeout=60).raise_for_status()
        upsert_all(urls, NAME, vectors, 100, 1)
        wait_quiet(pids)
        search_all(urls, queries, min(200, args.queries), args.clients)  # warm-up
        cpu_before = servers_cpu_s(pids)
        result = search_all(urls, queries, args.queries, args.clients)
        result["servers_cpu_us_per_search"] = 1e6 * (servers_cpu_s(pids) - cpu_before) / args.queries
        return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", default=str(REPO / "target" / "release" / "quiver"))
    parser.add_argument("--before", default=None, help="another build, measured alternately in the same run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--data", default=os.environ.get("QUIVER_BENCH_DATA", str(REPO.parent / "shared" / "data")))
    parser.add_argument("--points", type=int, default=20000)
    parser.add_argument("--queries", type=int, default=3000)
    parser.add_argument("--clients", type=int, default=1)
    parser.add_argument("--rf", type=int, default=1)
    parser.add_argument("--out", default=str(REPO / "bench" / "out" / "cluster_search.json"))
    args = parser.parse_args()
    vectors = load_vectors(Path(args.data), args.points)
    queries = np.asarray(np.load(Path(args.data) / "query.npy"), dtype=np.float32)
    builds = {"after": args.bin} | ({"before": args.before} if args.before else {})
    runs: dict[str, list[dict]] = {label: [] for label in builds}
    for _ in range(args.rounds if args.before else 1):
        for label, binary in builds.items():
            result = measure(binary, args, vectors, queries)
            runs[label].append(result)
            print(f"{label}: {result['queries_per_s']:.0f} q/s, p50 {result['p50_ms']:.2f} ms, "
                  f"p99 {result['p99_ms']:.2f} ms, servers' CPU {result['servers_cpu_us_per_search']:.0f} µs/search, "
                  f"failures {result['failures']}", flush=True)
    summary: dict = {"runs": runs}
    if args.before:
        best = {label: max(r["queries_per_s"] for r in rs) for label, rs in runs.items()}
        cpu = {label: min(r["servers_cpu_us_per_search"] for r in rs) for label, rs in runs.items()}
        summary["qps_after_over_before"] = best["after"] / best["before"]
        summary["cpu_after_over_before"] = cpu["after"] / cpu["before"]
        print(f"best queries/s after/before {summary['qps_after_over_before']:.2f}x, "
              f"least CPU per search after/before {summary['cpu_after_over_before']:.2f}x")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
