"""Shard transfer benchmark (issue 5): 3 local peers, one shard of N x 384-d points (the third
peer keeps a Raft majority while the replica's peer is down).

1. Copy throughput: `replicate_shard` of the whole shard onto the other peer with
   `stream_records` and with `snapshot` (the replica is dropped between runs); points/s and MB/s
   of raw vector data (N x 384 x 4 bytes), from the POST until the new replica is Active.
2. Recovery: the replica's peer is killed, K points are written (K = 1k, 10k, ...), the peer is
   restarted; time from restart until its replica is Active again, by `wal_delta` (the default)
   and by a full `snapshot` (forced with `storage.shard_transfer_method`), in the same run.

With `--baseline-bin OLD` the whole run is made first with OLD, then with `--bin`, and the
ratios new/old are printed (MB/s: > 1 is faster; seconds: < 1 is faster). The copy phases the
target logs (`stream_records copy`, `snapshot copy`: milliseconds since the transfer started
when the copy was fetched / downloaded / installed) are reported beside each copy.

With `--copies K` each build copies the shard K times by each method (alternating), and the
ratios give each build's range and the ratio of the medians.

Usage: bench/.venv/bin/python bench/transfers.py --bin target/release/quiver [--points 100000]
       [--baseline-bin /path/to/old/quiver] [--copies 3] [--missed 1000,10000]
       [--out bench/out/transfers.json]
"""

from __future__ import annotations

import argparse
import json
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
from cluster_harness import Cluster  # noqa: E402

NAME = "bench_transfer"


def upsert(url: str, vectors: np.ndarray, first_id: int, batch: int = 1000) -> None:
    session = requests.Session()
    for start in range(0, len(vectors), batch):
        chunk = vectors[start:start + batch]
        points = [{"id": first_id + start + j, "vector": chunk[j], "payload": {"i": first_id + start + j}}
                  for j in range(len(chunk))]
        body = orjson.dumps({"points": points}, option=orjson.OPT_SERIALIZE_NUMPY)
        r = session.put(f"{url}/collections/{NAME}/points?wait=true", data=body,
                        headers={"content-type": "application/json"}, timeout=120)
        r.raise_for_status()


def states(url: str) -> dict[int, str]:
    info = requests.get(f"{url}/collections/{NAME}/cluster", timeout=10).json()["result"]
    out = {r["peer_id"]: r["state"] for r in info["remote_shards"]}
    out.update({info["peer_id"]: s["state"] for s in info["local_shards"]})
    return out


def wait_state(url: str, peer_id: int, state: str | None, timeout: float = 600) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if states(url).get(peer_id) == state:
                return time.monotonic()
        except requests.RequestException:
            pass
        time.sleep(0.02)
    raise TimeoutError(f"peer {peer_id} not {state} within {timeout}s: {states(url)}")


def op(url: str, body: dict) -> None:
    r = requests.post(f"{url}/collections/{NAME}/cluster", json=body, timeout=60)
    assert r.status_code == 200, r.text


PHASE = re.compile(r"(stream_records copy|snapshot copy).*")


def phases(peer, since: int) -> dict:
    """The last copy phase line the target logged after byte `since` of its log."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", peer.log_path.read_bytes()[since:].decode(errors="replace"))
    lines = [m.group(0) for m in PHASE.finditer(text)]
    if not lines:
        return {}
    return {k: int(v) for k, v in re.findall(r"(\w+_ms)=(\d+)", lines[-1])}


def wait_green(url: str, timeout: float = 900) -> float:
    """Waits until the collection is indexed (its source replica's HNSW build no longer competes
    with the copy for the 2 cores, as for a shard that has been serving for a while)."""
    t0 = time.monotonic()
    while True:
        info = requests.get(f"{url}/collections/{NAME}", timeout=30).json()["result"]
        if info["status"] == "green":
            return time.monotonic() - t0
        assert time.monotonic() - t0 < timeout, info
        time.sleep(0.2)


def disk_MB_per_s(directory: Path, mb: int = 256) -> float:
    """Sequential write + fsync of `mb` MiB in `directory`: the disk's speed in this run."""
    path = directory / "disk-baseline.bin"
    block = os.urandom(1 << 20)
    t0 = time.monotonic()
    with open(path, "wb") as f:
        for _ in range(mb):
            f.write(block)
        f.flush()
        os.fsync(f.fileno())
    seconds = time.monotonic() - t0
    path.unlink()
    return round(mb * (1 << 20) / 1e6 / seconds, 1)


def copy_run(a, b, method: str, n: int) -> dict:
    since = b.log_path.stat().st_size if b.log_path.exists() else 0
    t0 = time.monotonic()
    op(a.url, {"replicate_shard": {"shard_id": 0, "from_peer_id": a.peer_id, "to_peer_id": b.peer_id,
                                   "method": method}})
    t1 = wait_state(a.url, b.peer_id, "Active")
    seconds = t1 - t0
    result = {"method": method, "points": n, "seconds": round(seconds, 2),
              "points_per_s": round(n / seconds), "vector_MB_per_s": round(n * 384 * 4 / 1e6 / seconds, 1),
              "target_phases_ms": phases(b, since)}
    op(a.url, {"drop_replica": {"shard_id": 0, "peer_id": b.peer_id}})
    wait_state(a.url, b.peer_id, None)
    return result


def recovery_run(a, b, vectors: np.ndarray, missed: int, next_id: int) -> float:
    b.kill()
    wait_state(a.url, b.peer_id, "Dead", timeout=30)
    upsert(a.url, vectors[:missed], next_id)
    t0 = time.monotonic()
    b.start(wait_ready=False)
    return wait_state(a.url, b.peer_id, "Active") - t0


def run(binary: str, vectors: np.ndarray, missed: list[int], copies: int) -> dict:
    os.environ["QUIVER_BIN"] = binary
    n = len(vectors)
    out: dict = {"bin": binary, "points": n}
    level = os.environ.get("QUIVER_BENCH_LOG", "WARN") + ",quiver_collection::transfer=info"
    with Cluster(3, env={"QDRANT__LOG_LEVEL": level}) as c:
        body = {"vectors": {"size": 384, "distance": "Cosine"}, "shard_number": 1, "replication_factor": 1}
        requests.put(f"{c.peers[0].url}/collections/{NAME}", json=body, timeout=60).raise_for_status()
        holder = next(iter(states(c.peers[0].url)))
        a = c.peer_by_id(holder)
        b = next(p for p in c.peers if p is not a)
        t = time.monotonic()
        upsert(a.url, vectors, 0)
        out["load_seconds"] = round(time.monotonic() - t, 1)
        out["index_wait_seconds"] = round(wait_green(a.url), 1)
        out["disk_MB_per_s"] = disk_MB_per_s(b.workdir)
        print(json.dumps({"disk_MB_per_s": out["disk_MB_per_s"]}), flush=True)
        out["copy"] = []
        for _ in range(copies):
            for method in ("stream_records", "snapshot"):
                out["copy"].append(copy_run(a, b, method, n))
                print(json.dumps(out["copy"][-1]), flush=True)
        op(a.url, {"replicate_shard": {"shard_id": 0, "from_peer_id": a.peer_id, "to_peer_id": b.peer_id,
                                       "method": "snapshot"}})
        wait_state(a.url, b.peer_id, "Active")
        recoveries = []
        next_id = n
        for m in missed:
            delta = recovery_run(a, b, vectors, m, next_id)
            next_id += m
            b.extra_env["QDRANT__STORAGE__SHARD_TRANSFER_METHOD"] = "snapshot"
            full = recovery_run(a, b, vectors, m, next_id)
            next_id += m
            del b.extra_env["QDRANT__STORAGE__SHARD_TRANSFER_METHOD"]
            recoveries.append({"missed_writes": m, "wal_delta_s": round(delta, 2), "full_snapshot_s": round(full, 2),
                               "full_over_delta": round(full / delta, 2)})
            print(json.dumps(recoveries[-1]), flush=True)
        out["recovery"] = recoveries
    return out


def copy_figures(result: dict, method: str) -> list[float]:
    return [c["vector_MB_per_s"] for c in result["copy"] if c["method"] == method]


def ratios(old: dict, new: dict) -> dict:
    """new/old for every figure of the two runs (MB/s: > 1 faster; seconds: < 1 faster). With
    several copies per method: each build's range and the ratio of the medians."""
    copy = {}
    for method in ("stream_records", "snapshot"):
        o, c = copy_figures(old, method), copy_figures(new, method)
        copy[method] = {"old_MB_per_s": o, "new_MB_per_s": c,
                        "new_over_old_median": round(float(np.median(c)) / float(np.median(o)), 2),
                        "new_median_over_disk": round(float(np.median(c)) / new["disk_MB_per_s"], 2)}
    recovery = [{"missed_writes": c["missed_writes"],
                 "wal_delta_s": [o["wal_delta_s"], c["wal_delta_s"], round(c["wal_delta_s"] / o["wal_delta_s"], 2)],
                 "full_snapshot_s": [o["full_snapshot_s"], c["full_snapshot_s"],
                                     round(c["full_snapshot_s"] / o["full_snapshot_s"], 2)]}
                for o, c in zip(old["recovery"], new["recovery"])]
    return {"disk_MB_per_s": [old["disk_MB_per_s"], new["disk_MB_per_s"]], "copy": copy,
            "recovery_old_new_ratio": recovery}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--baseline-bin", help="an older build to measure first, in the same run")
    ap.add_argument("--points", type=int, default=100_000)
    ap.add_argument("--missed", default="1000,10000,100000", help="'' for no recovery runs")
    ap.add_argument("--copies", type=int, default=1, help="copies per method and build (ranges)")
    ap.add_argument("--out", default=str(REPO / "bench" / "out" / "transfers.json"))
    args = ap.parse_args()
    data = Path(os.environ.get("QUIVER_BENCH_DATA", REPO.parent / "shared" / "data"))
    base = np.load(data / "base.npy", mmap_mode="r")
    vectors = np.asarray(base[:args.points], dtype=np.float32)
    missed = [int(m) for m in args.missed.split(",") if m and int(m) <= args.points]
    result: dict = {}
    if args.baseline_bin:
        result["baseline"] = run(args.baseline_bin, vectors, missed, args.copies)
    result["new"] = run(args.bin, vectors, missed, args.copies)
    if args.baseline_bin:
        result["ratios"] = ratios(result["baseline"], result["new"])
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
