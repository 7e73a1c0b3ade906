"""REST search throughput of a quiver binary against a baseline binary, in one run: the cost of
the response metrics on the hot path (design record 015). Both servers get the same synthetic
collection; each round runs the same query load against one server, alternating, while /metrics
is scraped once a second (as Prometheus would). Prints queries/s per round and the ratio
new/baseline of the medians.

    python bench/metrics_overhead.py --bin target/release/quiver --baseline-bin OLD/quiver
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from pathlib import Path

import numpy as np
import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "python"))
from quiver_server import QuiverServer  # noqa: E402


def load(url: str, points: int, dim: int, rng: np.random.Generator) -> None:
    requests.put(f"{url}/collections/bench", json={"vectors": {"size": dim, "distance": "Cosine"}},
                 timeout=30).raise_for_status()
    vectors = rng.random((points, dim), dtype=np.float32)
    for start in range(0, points, 1000):
        batch = [{"id": i, "vector": vectors[i].tolist(), "payload": {"n": i}}
                 for i in range(start, min(points, start + 1000))]
        requests.put(f"{url}/collections/bench/points?wait=true", json={"points": batch},
                     timeout=60).raise_for_status()


def run_round(url: str, queries: list[list[float]], threads: int, seconds: float) -> float:
    """Queries per second over `seconds` with `threads` clients; /metrics scraped each second."""
    done = [0] * threads
    stop = time.monotonic() + seconds

    def client(k: int) -> None:
        session = requests.Session()
        i = k
        while time.monotonic() < stop:
            body = {"query": queries[i % len(queries)], "limit": 10}
            session.post(f"{url}/collections/bench/points/query", json=body, timeout=30).raise_for_status()
            done[k] += 1
            i += threads

    def scraper() -> None:
        while time.monotonic() < stop:
            requests.get(f"{url}/metrics", timeout=30)
            time.sleep(1.0)

    workers = [threading.Thread(target=client, args=(k,)) for k in range(threads)]
    workers.append(threading.Thread(target=scraper))
    started = time.monotonic()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return sum(done) / (time.monotonic() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bin", required=True)
    parser.add_argument("--baseline-bin", required=True)
    parser.add_argument("--points", type=int, default=5000)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(7)
    queries = rng.random((200, args.dim), dtype=np.float32).tolist()
    # Absolute: each server runs in its own directory.
    binaries = {"baseline": Path(args.baseline_bin).resolve(), "new": Path(args.bin).resolve()}
    servers = {name: QuiverServer(binary=path) for name, path in binaries.items()}
    results: dict[str, list[float]] = {name: [] for name in servers}
    try:
        for srv in servers.values():
            srv.start()
            load(srv.url, args.points, args.dim, np.random.default_rng(11))
        for r in range(args.rounds):
            for name, srv in servers.items():
                qps = run_round(srv.url, queries, args.threads, args.seconds)
                results[name].append(qps)
                print(f"round {r + 1} {name:8s} {qps:9.1f} queries/s", flush=True)
    finally:
        for srv in servers.values():
            srv.stop()
    base, new = (statistics.median(results[n]) for n in ("baseline", "new"))
    print(f"median baseline {base:.1f} q/s, new {new:.1f} q/s, ratio new/baseline {new / base:.3f}")


if __name__ == "__main__":
    main()
