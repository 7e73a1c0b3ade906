"""Writes while replicas compare digests (design record 052), on local release processes.

2 peers, one shard at rf=2 holding N x 384-d points, `cluster.digest_check_interval_sec` = 5:
every 5 s the primary computes its replica's digest and asks the other replica for its own,
each under its table's read lock. One client writes one point at a time (`wait=true`) for
`--seconds`; the figures are its latency p50 / p99 / max and the digest checks counted in the
same window (`quiver_digest_checks_total`). With `--baseline-bin OLD` the run is made with OLD
first, then with `--bin`, and the ratios new/old are printed.

Usage: bench/.venv/bin/python bench/digest_stall.py --bin target/release/quiver
       [--baseline-bin /path/to/old/quiver] [--points 200000] [--seconds 30]
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path

import numpy as np
import orjson
import requests

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests" / "python"))
from cluster_harness import Cluster, wait_until  # noqa: E402

NAME = "bench_digest"
DIM = 384


def load_vectors(points: int) -> np.ndarray:
    data = Path(os.environ.get("QUIVER_BENCH_DATA", REPO.parent / "shared" / "data")) / "base.npy"
    base = np.load(data).astype(np.float32)
    return np.concatenate([base] * -(-points // len(base)))[:points]


def fill(url: str, vectors: np.ndarray, batch: int = 1000) -> None:
    session = requests.Session()
    for start in range(0, len(vectors), batch):
        chunk = vectors[start:start + batch]
        points = [{"id": start + j, "vector": chunk[j], "payload": {"i": start + j}} for j in range(len(chunk))]
        body = orjson.dumps({"points": points}, option=orjson.OPT_SERIALIZE_NUMPY)
        session.put(f"{url}/collections/{NAME}/points?wait=true", data=body,
                    headers={"content-type": "application/json"}, timeout=300).raise_for_status()


def digest_checks(urls: list[str]) -> int:
    total = 0
    for url in urls:
        text = requests.get(f"{url}/metrics", timeout=10).text
        total += sum(int(float(v)) for v in re.findall(r'^quiver_digest_checks_total\{[^}]*\} (\S+)$', text, re.M))
    return total


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * q))]


def run(binary: str, vectors: np.ndarray, seconds: float) -> dict:
    os.environ["QUIVER_BIN"] = binary
    env = {"QDRANT__LOG_LEVEL": "WARN", "QDRANT__CLUSTER__DIGEST_CHECK_INTERVAL_SEC": "5"}
    with Cluster(2, env=env, ready_timeout=120) as c:
        url = c.peers[0].url
        body = {"vectors": {"size": DIM, "distance": "Cosine"}, "shard_number": 1, "replication_factor": 2}
        requests.put(f"{url}/collections/{NAME}", json=body, timeout=60).raise_for_status()
        fill(url, vectors)
        wait_until(lambda: requests.get(f"{url}/collections/{NAME}", timeout=10).json()["result"]["status"]
                   == "green", timeout=900, interval=0.5, desc="indexed")
        urls = [p.url for p in c.peers]
        checks_before = digest_checks(urls)
        session = requests.Session()
        latencies, i, end = [], 0, time.monotonic() + seconds
        point = {"vector": vectors[0].tolist(), "payload": {"w": 0}}
        while time.monotonic() < end:
            body = {"points": [{**point, "id": len(vectors) + i % 1000}]}
            t = time.monotonic()
            session.put(f"{url}/collections/{NAME}/points?wait=true", json=body, timeout=60).raise_for_status()
            latencies.append(time.monotonic() - t)
            i += 1
        checks = digest_checks(urls) - checks_before
    out = {"bin": binary, "points": len(vectors), "writes": len(latencies), "digest_checks": checks,
           "p50_ms": round(percentile(latencies, 0.5) * 1e3, 2), "p99_ms": round(percentile(latencies, 0.99) * 1e3, 2),
           "max_ms": round(max(latencies) * 1e3, 1)}
    print(out, flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin", required=True)
    parser.add_argument("--baseline-bin")
    parser.add_argument("--points", type=int, default=200_000)
    parser.add_argument("--seconds", type=float, default=30)
    args = parser.parse_args()
    vectors = load_vectors(args.points)
    old = run(args.baseline_bin, vectors, args.seconds) if args.baseline_bin else None
    new = run(args.bin, vectors, args.seconds)
    if old:
        for key in ("p50_ms", "p99_ms", "max_ms"):
            print(f"{key}: old {old[key]} -> new {new[key]} (new/old {new[key] / old[key]:.3f})")


if __name__ == "__main__":
    main()
