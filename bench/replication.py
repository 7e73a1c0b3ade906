"""Replication benchmark (issue 4): 3 local peers, shard_number=6.

1. Write throughput with replication_factor 1, 2, 3: 384-d vectors from base.npy, batches of 100 (`--batch`),
   wait=true, with 1 and with 4 concurrent client threads (`--clients`); points/s, p50/p99 batch
   latency, and the rf=2/rf=1 and rf=3/rf=1 time ratios for each client count (measured in the
   same run, so machine noise affects all alike), with each load's WAL fsyncs and the servers'
   CPU time per batch (summed over the peers). Each load starts once the servers have been idle
   for longer than the checkpoint interval (5 s), so no load runs beside the checkpoints of the
   one before it.
2. Failure detection: rf=2 under a light write+read load, kill -9 one peer; time until its
   replicas show Dead on a survivor, and the load's errors (all, and from 3 s after the kill).

Usage: bench/.venv/bin/python bench/replication.py --bin target/release/quiver [--points 20000]
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
import orjson
import requests

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests" / "python"))
sys.path.insert(0, str(REPO / "bench"))
from cluster_harness import Cluster  # noqa: E402
from upsert_restart import cpu_s  # noqa: E402


def load_vectors(data_dir: Path, n: int) -> np.ndarray:
    base = np.load(data_dir / "base.npy", mmap_mode="r")
    return np.asarray(base[:n], dtype=np.float32)


def create(peer, name: str, rf: int) -> None:
    body = {"vectors": {"size": 384, "distance": "Cosine"}, "shard_number": 6, "replication_factor": rf}
    r = requests.put(f"{peer.url}/collections/{name}", json=body, timeout=60)
    r.raise_for_status()


def upsert_all(urls: list[str], name: str, vectors: np.ndarray, batch: int, clients: int = 1) -> dict:
    """Loads `vectors` in batches of `batch` with `clients` concurrent client threads (each its own
    session; batches dealt round-robin), `wait=true`."""
    starts = list(range(0, len(vectors), batch))
    latencies: list[float] = []
    failures: list[BaseException] = []

    def client(k: int) -> None:
        session = requests.Session()
        try:
            for i in range(k, len(starts), clients):
                start = starts[i]
                chunk = vectors[start:start + batch]
                points = [{"id": start + j, "vector": chunk[j], "payload": {"i": start + j}} for j in range(len(chunk))]
                body = orjson.dumps({"points": points}, option=orjson.OPT_SERIALIZE_NUMPY)
                t = time.perf_counter()
                r = session.put(f"{urls[i % len(urls)]}/collections/{name}/points?wait=true", data=body,
                                headers={"content-type": "application/json"}, timeout=60)
                latencies.append(time.perf_counter() - t)
                r.raise_for_status()
        except BaseException as e:  # reported by the caller
            failures.append(e)

    started = time.perf_counter()
    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    if failures:
        raise failures[0]
    lat = np.array(latencies) * 1000
    return {"points": len(vectors), "clients": clients, "seconds": elapsed, "points_per_s": len(vectors) / elapsed,
            "p50_ms": float(np.percentile(lat, 50)), "p99_ms": float(np.percentile(lat, 99))}


def wal_fsyncs(urls: list[str]) -> tuple[float, float]:
    """(count, seconds) of WAL fsyncs so far, summed over the peers (their `/metrics`)."""
    count = seconds = 0.0
    for u in urls:
        for line in requests.get(f"{u}/metrics", timeout=10).text.splitlines():
            if line.startswith("quiver_wal_fsync_duration_seconds_count"):
                count += float(line.split()[-1])
            elif line.startswith("quiver_wal_fsync_duration_seconds_sum"):
                seconds += float(line.split()[-1])
    return count, seconds


def servers_cpu_s(pids: list[int]) -> float:
    """User + system CPU seconds the server processes used so far."""
    return sum(cpu_s(f"/proc/{pid}/stat") for pid in pids)


def wait_quiet(pids: list[int], window_s: float = 6.0, busy_s: float = 0.05, timeout_s: float = 120.0) -> float:
    """Waits until the servers used less than `busy_s` of CPU in each half second of the last
    `window_s` (longer than the 5 s checkpoint interval: the last load's checkpoints are done);
    returns the seconds waited. Each load then starts on an idle cluster instead of beside the
    deferred work of the load before it."""
    started = time.perf_counter()
    quiet_since, last = started, servers_cpu_s(pids)
    while time.perf_counter() - quiet_since < window_s:
        if time.perf_counter() - started > timeout_s:
            raise TimeoutError(f"servers still busy after {timeout_s} s")
        time.sleep(0.5)
        now = servers_cpu_s(pids)
        if now - last >= busy_s:
            quiet_since = time.perf_counter()
        last = now
    return time.perf_counter() - started


def replicas_of(url: str, name: str, peer_id: int) -> list[str]:
    info = requests.get(f"{url}/collections/{name}/cluster", timeout=5).json()["result"]
    states = [r["state"] for r in info["remote_shards"] if r["peer_id"] == peer_id]
    if info["peer_id"] == peer_id:
        states += [s["state"] for s in info["local_shards"]]
    return states


def failure_detection(cluster: Cluster, vectors: np.ndarray) -> dict:
    name = "bench_kill"
    a, b, victim = cluster.peers
    create(a, name, 2)
    upsert_all([a.url], name, vectors[:1000], 100)
    errors: list[float] = []
    stop = threading.Event()

    def load() -> None:
        session, i = requests.Session(), 0
        while not stop.is_set():
            url = (a.url, b.url)[i % 2]
            i += 1
            v = vectors[i % len(vectors)]
            body = orjson.dumps({"points": [{"id": 100000 + i, "vector": v}]}, option=orjson.OPT_SERIALIZE_NUMPY)
            for request in (
                lambda: session.put(f"{url}/collections/{name}/points?wait=true", data=body,
                                    headers={"content-type": "application/json"}, timeout=15),
                lambda: session.post(f"{url}/collections/{name}/points/count", json={}, timeout=15),
            ):
                try:
                    if request().status_code != 200:
                        errors.append(time.monotonic())
                except requests.RequestException:
                    errors.append(time.monotonic())

    thread = threading.Thread(target=load, daemon=True)
    thread.start()
    time.sleep(1.0)
    t0 = time.monotonic()
    victim.kill()
    dead_after = None
    while time.monotonic() - t0 < 20:
        states = replicas_of(a.url, name, victim.peer_id)
        if states and all(s == "Dead" for s in states):
            dead_after = time.monotonic() - t0
            break
        time.sleep(0.02)
    time.sleep(max(0.0, t0 + 6.0 - time.monotonic()))
    stop.set()
    thread.join(timeout=20)
    return {"kill_to_dead_s": dead_after, "errors_total": len(errors),
            "errors_after_3s": sum(1 for t in errors if t >= t0 + 3.0)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", default=str(REPO / "target" / "release" / "quiver"))
    parser.add_argument("--data", default=os.environ.get("QUIVER_BENCH_DATA", str(REPO.parent / "shared" / "data")))
    parser.add_argument("--points", type=int, default=20000)
    parser.add_argument("--clients", type=lambda v: [int(x) for x in v.split(",")], default=[1, 4],
                        help="concurrent client threads, comma-separated runs (default 1,4)")
    parser.add_argument("--batch", type=int, default=100, help="points per upsert request (default 100)")
    parser.add_argument("--out", default=str(REPO / "bench" / "out" / "replication.json"))
    args = parser.parse_args()
    os.environ["QUIVER_BIN"] = args.bin
    vectors = load_vectors(Path(args.data), args.points)
    results: dict = {"points": args.points, "batch": args.batch, "shard_number": 6}
    with Cluster(3, env={"QDRANT__LOG_LEVEL": os.environ.get("QUIVER_BENCH_LOG_LEVEL", "WARN")}) as cluster:
        urls = [p.url for p in cluster.peers]
        pids = [p.proc.pid for p in cluster.peers]
        for clients in args.clients:
            for rf in (1, 2, 3):
                name = f"bench_rf{rf}_c{clients}"
                create(cluster.peers[0], name, rf)
                waited_s = wait_quiet(pids)
                fsyncs_before, cpu_before = wal_fsyncs(urls), servers_cpu_s(pids)
                load = upsert_all(urls, name, vectors, args.batch, clients)
                load_cpu_s = servers_cpu_s(pids) - cpu_before
                fsyncs, fsync_s = (a - b for a, b in zip(wal_fsyncs(urls), fsyncs_before))
                batches = -(-len(vectors) // args.batch)
                load.update(wal_fsyncs_per_batch=fsyncs / batches, wal_fsync_ms_mean=1000 * fsync_s / max(fsyncs, 1),
                            servers_cpu_ms_per_batch=1000 * load_cpu_s / batches, waited_quiet_s=waited_s)
                results[f"rf{rf}_c{clients}"] = load
                print(f"rf={rf} clients={clients}: {results[f'rf{rf}_c{clients}']}", flush=True)
            for rf in (2, 3):
                results[f"rf{rf}_over_rf1_time_c{clients}"] = (
                    results[f"rf{rf}_c{clients}"]["seconds"] / results[f"rf1_c{clients}"]["seconds"])
        results["failure"] = failure_detection(cluster, vectors)
    print(json.dumps(results, indent=2))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
