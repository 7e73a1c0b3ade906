"""Placement benchmark (issue 17, design record 012), on local release processes:

1. Peer gone for good: 4 peers, rf=2, N x 384-d points; one peer is killed and never comes back.
   Seconds from the kill until every shard is back at rf=2 Active replicas on the other peers,
   the copy rate of the data re-replicated (raw vector bytes / (time - grace period)), and the
   seconds until the cluster has settled (the gone peer's replicas dropped, rebalancing done).
2. Drain: 4 peers, rf=2, under a write+read load: `POST /cluster/peer/{id}/drain` of a peer
   holding about 1/4 of the data; duration and failed requests.
3. Rolling restart: 3 peers, rf=2, under load; each peer in turn stopped with SIGTERM and
   started again; failed requests and the write latency p99 during the restarts against the p99
   of a quiet window of the same load before them (the ratio is the figure).

Usage: bench/.venv/bin/python bench/placement.py --bin target/release/quiver [--points 100000]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import orjson
import requests

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests" / "python"))
from cluster_harness import Cluster, wait_until  # noqa: E402
import replication_load  # noqa: E402
from replication_load import Load, replica_states  # noqa: E402

# The load's own vectors are 4-d; this benchmark's collection is 384-d: pad them with zeros.
_vector_4d = replication_load.vector_for
replication_load.vector_for = lambda i: [*_vector_4d(i), *([0.0] * 380)]

NAME = "bench_placement"
DIM = 384


def load_vectors(points: int) -> np.ndarray:
    data = Path(os.environ.get("QUIVER_BENCH_DATA", REPO.parent / "shared" / "data")) / "base.npy"
    base = np.load(data).astype(np.float32)
    reps = -(-points // len(base))
    return np.concatenate([base] * reps)[:points]


def create(url: str, shards: int, rf: int) -> None:
    body = {"vectors": {"size": DIM, "distance": "Cosine"}, "shard_number": shards, "replication_factor": rf}
    requests.put(f"{url}/collections/{NAME}", json=body, timeout=60).raise_for_status()


def fill(url: str, vectors: np.ndarray, batch: int = 1000) -> None:
    session = requests.Session()
    for start in range(0, len(vectors), batch):
        chunk = vectors[start:start + batch]
        points = [{"id": 10_000_000 + start + j, "vector": chunk[j]} for j in range(len(chunk))]
        body = orjson.dumps({"points": points}, option=orjson.OPT_SERIALIZE_NUMPY)
        r = session.put(f"{url}/collections/{NAME}/points?wait=true", data=body,
                        headers={"content-type": "application/json"}, timeout=300)
        r.raise_for_status()


def at_factor(url: str, rf: int, shards: int, off: set[int]) -> bool:
    states = replica_states(url, NAME, timeout=5)
    return len(states) == shards and all(
        len(reps) == rf and all(s == "Active" for s in reps.values()) and not set(reps) & off
        for reps in states.values())


def active_on_live(url: str, rf: int, shards: int, off: set[int]) -> bool:
    """Every shard has `rf` Active replicas on peers not in `off` (others may be copying)."""
    states = replica_states(url, NAME, timeout=5)
    return len(states) == shards and all(
        sum(1 for peer, s in reps.items() if s == "Active" and peer not in off) >= rf for reps in states.values())


def make_cluster(binary: str, peers: int, env: dict[str, str]) -> Cluster:
    os.environ["QUIVER_BIN"] = binary
    env = {"QDRANT__LOG_LEVEL": "WARN", **env}
    return Cluster(peers, env=env, ready_timeout=120)


def p99(values: list[float]) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * 0.99))] if values else float("nan")


def indexed_everywhere(urls: list[str]) -> bool:
    """Every peer's own replicas are indexed: each answers the collection `green`."""
    return all(requests.get(f"{u}/collections/{NAME}", timeout=5).json()["result"]["status"] == "green"
               for u in urls)


def gone_for_good(binary: str, vectors: np.ndarray, grace: int, indexed: bool) -> None:
    shards = 8
    with make_cluster(binary, 4, {"QDRANT__CLUSTER__REPLICA_GRACE_PERIOD_SEC": str(grace)}) as c:
        url = c.peer(0).url
        create(url, shards, 2)
        fill(url, vectors)
        wait_until(lambda: at_factor(url, 2, shards, set()), timeout=600, desc="loaded")
        if indexed:
            # A cluster in its steady state: no HNSW build shares the cores with the copies.
            wait_until(lambda: indexed_everywhere([p.url for p in c.peers]), timeout=600, interval=0.2,
                       desc="every replica indexed")
        victim = c.peers[3]
        held = sum(1 for reps in replica_states(url, NAME).values() if victim.peer_id in reps)
        t0 = time.monotonic()
        victim.kill()
        wait_until(lambda: active_on_live(url, 2, shards, {victim.peer_id}), timeout=1800, interval=0.1,
                   desc="every shard with rf=2 Active replicas on live peers")
        took = time.monotonic() - t0
        wait_until(lambda: at_factor(url, 2, shards, {victim.peer_id}), timeout=1800, interval=0.1,
                   desc="every shard at exactly rf=2, the gone peer's replicas dropped, rebalancing done")
        settled = time.monotonic() - t0
        copied = len(vectors) * DIM * 4 * held / shards
        rate = copied / max(took - grace, 1e-6) / 1e6
        when = "after every replica was indexed" if indexed else "right after the load"
        print(f"gone for good ({when}): {len(vectors)} points, {held}/{shards} shards re-replicated "
              f"({copied / 1e6:.0f} MB of vectors): back at rf=2 {took:.1f} s after the kill "
              f"(grace {grace} s; copy {took - grace:.1f} s = {rate:.0f} MB/s); "
              f"settled (rebalanced, exactly rf=2) {settled:.1f} s after the kill")


def drain(binary: str, vectors: np.ndarray) -> None:
    shards = 8
    with make_cluster(binary, 4, {}) as c:
        url = c.peer(0).url
        create(url, shards, 2)
        fill(url, vectors)
        wait_until(lambda: at_factor(url, 2, shards, set()), timeout=600, desc="loaded")
        victim = c.peers[2]
        load = Load(NAME, [p.url for p in c.peers], writers=2, start_id=1).start()
        load.wait_acks(20, timeout=60)
        t0 = time.monotonic()
        requests.post(f"{url}/cluster/peer/{victim.peer_id}/drain", timeout=30).raise_for_status()
        wait_until(lambda: requests.get(f"{url}/cluster/peer/{victim.peer_id}/drain", timeout=5)
                   .json()["result"]["done"], timeout=1800, interval=0.2, desc="drained")
        took = time.monotonic() - t0
        rec = load.stop()
        print(f"drain: a peer holding 1/4 of {len(vectors)} points drained in {took:.1f} s under load; "
              f"{len(rec.acks)} writes acknowledged, {len(rec.failures)} failed requests")
        for failure in rec.failures[:10]:
            print(f"  failed: {failure}")


def rolling_restart(binary: str, vectors: np.ndarray) -> None:
    shards = 6
    with make_cluster(binary, 3, {}) as c:
        url = c.peer(0).url
        create(url, shards, 2)
        fill(url, vectors)
        wait_until(lambda: at_factor(url, 2, shards, set()), timeout=600, desc="loaded")
        load = Load(NAME, [p.url for p in c.peers], writers=2, start_id=1, write_timeout=10.0).start()
        load.wait_acks(20, timeout=60)
        quiet_from = time.monotonic()
        load.wait_acks(len(load.acks_so_far()) + 300, timeout=300)  # a quiet window: the baseline
        t0 = time.monotonic()
        for victim in c.peers:
            others = [p.url for p in c.peers if p is not victim]
            load.set_urls(write_urls=others, read_urls=others)
            assert victim.stop() == 0
            victim.start(wait_ready=True, ready_timeout=300)
            wait_until(lambda: at_factor(url, 2, shards, set()), timeout=600, interval=0.2, desc="all Active")
            load.set_urls(write_urls=[p.url for p in c.peers], read_urls=[p.url for p in c.peers])
        took = time.monotonic() - t0
        rec = load.stop()
        quiet = [a.t_end - a.t_start for a in rec.acks if quiet_from <= a.t_start < t0]
        during = [a.t_end - a.t_start for a in rec.acks if a.t_start >= t0]
        print(f"rolling restart of 3 peers ({len(vectors)} points): {took:.1f} s, {len(rec.failures)} failed "
              f"requests of {len(rec.acks) + len(rec.failures)}; write p99 {p99(during) * 1000:.1f} ms during "
              f"vs {p99(quiet) * 1000:.1f} ms quiet ({p99(during) / p99(quiet):.2f}x)")
        for failure in rec.failures[:10]:
            print(f"  failed: {failure}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", required=True)
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--grace", type=int, default=5)
    parser.add_argument("--only", choices=["gone", "drain", "rolling"])
    parser.add_argument("--gone-when", choices=["loaded", "indexed", "both"], default="both",
                        help="kill the peer right after the load, once every replica is indexed, or both runs")
    args = parser.parse_args()
    vectors = load_vectors(args.points)
    if args.only in (None, "gone"):
        for indexed in {"loaded": [False], "indexed": [True], "both": [False, True]}[args.gone_when]:
            gone_for_good(args.bin, vectors, args.grace, indexed)
    if args.only in (None, "drain"):
        drain(args.bin, vectors)
    if args.only in (None, "rolling"):
        rolling_restart(args.bin, vectors)


if __name__ == "__main__":
    main()
