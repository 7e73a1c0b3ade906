#!/usr/bin/env python3
"""The 1M-point scale run of issue 19 (item 5), against a real `quiver` process.

Data: the 100k real 384-d vectors of ``base.npy`` and 9 perturbed copies of them, 1,000,000 in
all. Copy ``k`` (1..9) of vector ``v`` is ``normalize(v + sigma * g / sqrt(384))`` with ``g`` a
standard normal vector from a generator seeded with ``k`` and ``sigma`` 0.3 by default
(``--sigma``): each copy lands near its original (cosine ≈ 0.96) and apart from the other copies,
so a query's true top 10 mixes originals and copies (about 2 of 3 are originals at 200k points). Ground truth is
exact: the top 10 of the first 200 queries of ``query.npy`` (``--queries``) over the whole
million, by numpy.

For each configuration (``f32``: the defaults; ``ondisk``: ``on_disk: true`` originals, in a
memory-mapped file; ``int8``: scalar int8 quantization with ``always_ram``, originals in RAM;
``int8-ondisk``: both; ``int8-ondisk-graph``: also ``hnsw_config.on_disk``), on a fresh server:

1. load over REST, batches of 1,000 with ``wait=true``: points/s over the whole load and over
   the first and the last 100k (their ratio is the issue's "the last 100k load as fast as the
   first" figure);
2. seconds from the end of the load until the collection is green with every vector indexed;
3. ``RssAnon``, ``RssFile`` and ``VmRSS`` of the process (``/proc/<pid>/status``) before the load
   and once indexed, and bytes per point = growth of ``RssAnon`` ÷ points (mapped files are
   ``RssFile``: page cache the kernel may reclaim);
4. recall@10 and queries/s (one client thread, REST) at ``hnsw_ef`` 64, 128 and 256 (``--efs``;
   quantized: also with ``oversampling`` 2);
5. restart (SIGTERM, start): seconds until ``/readyz`` and the point count are back, and until
   the p50 latency of the same queries is within 1.5× of its value before the restart (the
   "full speed" mark; a rebuilt graph would take minutes to get there); then, once green again,
   ``RssAnon`` after the restart, taken when it has held still (±1 MiB) for 2 s: the indexer
   releases the graph for a view of its saved file just after green (design record 041).

Prints each figure as it comes and writes ``bench/out/scale.json``. ``--points`` shrinks the run
(e.g. ``--points 200000`` for a quick look); the full run takes 15–25 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import orjson
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from upsert_restart import COLLECTION, DEFAULT_BIN, DEFAULT_DATA, Server, api  # noqa: E402

BATCH = 1000
SEGMENT = 100_000
EFS = (64, 128, 256)
INT8 = {"scalar": {"type": "int8", "quantile": 0.99, "always_ram": True}}
CONFIGS = {
    "f32": {},
    "ondisk": {"vectors": {"on_disk": True}},
    "int8": {"quantization_config": INT8},
    "int8-ondisk": {"vectors": {"on_disk": True}, "quantization_config": INT8},
    "int8-ondisk-graph": {"vectors": {"on_disk": True}, "hnsw_config": {"on_disk": True}, "quantization_config": INT8},
}


def make_vectors(data: Path, points: int, sigma: float) -> np.ndarray:
    base = np.load(data / "base.npy").astype(np.float32)
    base /= np.linalg.norm(base, axis=1, keepdims=True)
    copies = [base]
    k = 1
    while sum(len(c) for c in copies) < points:
        noise = np.random.default_rng(k).standard_normal(base.shape, dtype=np.float32)
        copy = base + sigma * noise / np.sqrt(base.shape[1])
        copy /= np.linalg.norm(copy, axis=1, keepdims=True)
        copies.append(copy)
        k += 1
    return np.concatenate(copies)[:points]


def exact_top10(vectors: np.ndarray, queries: np.ndarray, chunk: int = 100_000) -> np.ndarray:
    """The ids of the 10 best points per query (cosine on normalised vectors), chunk by chunk."""
    best_ids = np.empty((len(queries), 0), dtype=np.int64)
    best_scores = np.empty((len(queries), 0), dtype=np.float32)
    for start in range(0, len(vectors), chunk):
        scores = queries @ vectors[start:start + chunk].T  # (queries, chunk)
        top = np.argpartition(-scores, 10, axis=1)[:, :10]
        best_ids = np.concatenate([best_ids, top + start], axis=1)
        best_scores = np.concatenate([best_scores, np.take_along_axis(scores, top, axis=1)], axis=1)
        keep = np.argsort(-best_scores, axis=1)[:, :10]
        best_ids = np.take_along_axis(best_ids, keep, axis=1)
        best_scores = np.take_along_axis(best_scores, keep, axis=1)
    return best_ids


def proc_memory(pid: int) -> dict:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("RssAnon", "VmRSS", "RssFile"):
            fields[key] = int(value.split()[0]) * 1024
    return fields


def settled_memory(pid: int, quiet_s: float = 2.0, timeout_s: float = 30.0) -> dict:
    """``proc_memory`` once ``RssAnon`` has moved by less than 1 MiB for ``quiet_s`` (at most
    ``timeout_s``): work the indexer does just after green (releasing the graph for a view of its
    saved file, design record 041) is counted."""
    t0 = time.perf_counter()
    last, since = proc_memory(pid), time.perf_counter()
    while time.perf_counter() - t0 < timeout_s:
        time.sleep(0.25)
        now = proc_memory(pid)
        if abs(now["RssAnon"] - last["RssAnon"]) >= 1 << 20:
            last, since = now, time.perf_counter()
        elif time.perf_counter() - since >= quiet_s:
            return now
    return proc_memory(pid)


def renice_indexers(pid: int, niceness: int) -> int:
    """Sets the niceness of the server's indexer threads (threads they spawn later inherit it);
    lowering it below the default needs root. Returns how many threads were changed."""
    changed = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        if (task / "comm").read_text().strip() == "quiver-indexer":
            os.setpriority(os.PRIO_PROCESS, int(task.name), niceness)
            changed += 1
    return changed


def load(srv: Server, sess: requests.Session, vectors: np.ndarray) -> dict:
    url = f"{srv.url}/collections/{COLLECTION}/points?wait=true"
    marks = [(0, time.perf_counter())]
    for start in range(0, len(vectors), BATCH):
        end = min(start + BATCH, len(vectors))
        points = [{"id": i, "vector": vectors[i]} for i in range(start, end)]
        body = orjson.dumps({"points": points}, option=orjson.OPT_SERIALIZE_NUMPY)
        r = sess.put(url, data=body, headers={"content-type": "application/json"}, timeout=300)
        r.raise_for_status()
        if end % SEGMENT == 0 or end == len(vectors):
            marks.append((end, time.perf_counter()))
            rate = (end - marks[-2][0]) / (marks[-1][1] - marks[-2][1])
            print(f"  loaded {end:>9,} points, last segment {rate:,.0f} points/s", flush=True)
    segments = [(b[0] - a[0]) / (b[1] - a[1]) for a, b in zip(marks, marks[1:])]
    took = marks[-1][1] - marks[0][1]
    return {"load_s": took, "points_per_s": len(vectors) / took, "first_segment_pps": segments[0],
            "last_segment_pps": segments[-1], "last_over_first": segments[-1] / segments[0]}


def wait_indexed(srv: Server, sess: requests.Session, points: int, timeout_s: float = 1800) -> float:
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout_s:
        info = api(sess, "GET", f"{srv.url}/collections/{COLLECTION}")["result"]
        if info["status"] == "green" and info.get("indexed_vectors_count", 0) >= points:
            return time.perf_counter() - t0
        time.sleep(0.5)
    raise RuntimeError(f"not indexed within {timeout_s} s")


def search(srv: Server, sess: requests.Session, queries: np.ndarray, truth: np.ndarray, ef: int,
           oversampling: float | None = None) -> dict:
    url = f"{srv.url}/collections/{COLLECTION}/points/query"
    params: dict = {"hnsw_ef": ef}
    if oversampling is not None:
        params["quantization"] = {"rescore": True, "oversampling": oversampling}
    found, latencies = [], []
    for q in queries:
        body = orjson.dumps({"query": q, "limit": 10, "params": params}, option=orjson.OPT_SERIALIZE_NUMPY)
        t0 = time.perf_counter()
        r = sess.post(url, data=body, headers={"content-type": "application/json"}, timeout=120)
        latencies.append(time.perf_counter() - t0)
        r.raise_for_status()
        found.append([p["id"] for p in r.json()["result"]["points"]])
    hits = sum(len(set(f[:10]) & set(int(x) for x in t[:10])) for f, t in zip(found, truth))
    return {"ef": ef, "oversampling": oversampling, "recall10": hits / (10 * len(queries)), "qps": len(queries) / sum(latencies),
            "p50_ms": 1000 * statistics.median(latencies)}


def restart(srv: Server, sess: requests.Session, queries: np.ndarray, truth: np.ndarray, points: int,
            p50_before_ms: float) -> dict:
    stop_s = srv.sigterm()
    t0 = srv.start()
    marks = srv.wait_until(sess, points, 600)
    full_speed = None
    while time.perf_counter() - t0 < 900:
        if search(srv, sess, queries[:20], truth[:20], EFS[0])["p50_ms"] <= 1.5 * p50_before_ms:
            full_speed = time.perf_counter() - t0
            break
        time.sleep(0.2)
    return {"sigterm_s": stop_s, "ready_s": marks["ready_at"] - t0, "loaded_s": marks["loaded_at"] - t0,
            "full_speed_s": full_speed}


def run_config(binary: Path, name: str, vectors: np.ndarray, queries: np.ndarray, truth: np.ndarray,
               indexer_niceness: int | None = None, efs: tuple[int, ...] = EFS, keep_log: Path | None = None) -> dict:
    print(f"== {name}" + (f" (indexer niceness {indexer_niceness})" if indexer_niceness is not None else ""),
          flush=True)
    with tempfile.TemporaryDirectory(prefix=f"quiver-scale-{name}-") as workdir:
        srv, sess = Server(binary, Path(workdir)), requests.Session()
        try:
            srv.start()
            srv.wait_until(sess, None, 120)
            body = {"vectors": {"size": vectors.shape[1], "distance": "Cosine"}}
            for key, value in CONFIGS[name].items():
                body[key] = {**body.get(key, {}), **value}
            api(sess, "PUT", f"{srv.url}/collections/{COLLECTION}", json=body)
            if indexer_niceness is not None:
                assert renice_indexers(srv.proc.pid, indexer_niceness) > 0, "no indexer thread"
            before = proc_memory(srv.proc.pid)
            res: dict = {"config": name, "indexer_niceness": indexer_niceness, **load(srv, sess, vectors)}
            res["index_s"] = wait_indexed(srv, sess, len(vectors))
            print(f"  indexed {res['index_s']:.1f} s after the load", flush=True)
            after = proc_memory(srv.proc.pid)
            res["memory"] = {"before": before, "indexed": after,
                             "rss_anon_bytes_per_point": (after["RssAnon"] - before["RssAnon"]) / len(vectors)}
            print(f"  RssAnon {after['RssAnon'] / 2**30:.2f} GiB, RssFile {after['RssFile'] / 2**30:.2f} GiB, "
                  f"VmRSS {after['VmRSS'] / 2**30:.2f} GiB, "
                  f"{res['memory']['rss_anon_bytes_per_point']:,.0f} bytes/point", flush=True)
            res["search"] = [search(srv, sess, queries, truth, ef) for ef in efs]
            if "quantization_config" in CONFIGS[name]:
                res["search"] += [search(srv, sess, queries, truth, ef, oversampling=2.0) for ef in efs]
            for s in res["search"]:
                print(f"  ef {s['ef']}, oversampling {s['oversampling']}: recall@10 {s['recall10']:.3f}, {s['qps']:,.0f} queries/s", flush=True)
            res["restart"] = restart(srv, sess, queries, truth, len(vectors), res["search"][0]["p50_ms"])
            print(f"  restart: ready {res['restart']['ready_s']:.1f} s, full speed "
                  f"{res['restart']['full_speed_s']} s", flush=True)
            # Green again: the saved graph attached and the quantized codes rebuilt (they count
            # as indexing work), so the figure is the steady state, not a half-built one.
            res["restart"]["green_s"] = wait_indexed(srv, sess, len(vectors))
            res["memory"]["after_restart"] = settled_memory(srv.proc.pid)
            res["memory"]["rss_anon_bytes_per_point_after_restart"] = (
                (res["memory"]["after_restart"]["RssAnon"] - before["RssAnon"]) / len(vectors))
            print(f"  after the restart: RssAnon {res['memory']['after_restart']['RssAnon'] / 2**30:.2f} GiB, "
                  f"{res['memory']['rss_anon_bytes_per_point_after_restart']:,.0f} bytes/point", flush=True)
        finally:
            srv.shutdown()
            if keep_log is not None:
                keep_log.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(srv.log_path, keep_log.with_name(f"{keep_log.stem}-{name}{keep_log.suffix}"))
    return res


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin", type=Path, default=DEFAULT_BIN)
    parser.add_argument("--data", type=Path, default=Path(os.environ.get("QUIVER_BENCH_DATA", DEFAULT_DATA)))
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--sigma", type=float, default=0.3)
    parser.add_argument("--queries", type=int, default=200, help="the first N queries of query.npy")
    parser.add_argument("--configs", default="f32,ondisk,int8-ondisk", help=f"some of {','.join(CONFIGS)}")
    parser.add_argument("--indexer-niceness", type=int, default=None,
                        help="run each configuration a second time with the indexer threads at this niceness "
                             "(the server's own is 10; 0 gives the same-run baseline of that choice; needs root)")
    parser.add_argument("--efs", default=",".join(map(str, EFS)), help="hnsw_ef values of the recall/QPS rows")
    parser.add_argument("--keep-log", type=Path, default=None,
                        help="copy each config's server log to KEEP_LOG's name with -CONFIG appended")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "out" / "scale.json")
    args = parser.parse_args()
    vectors = make_vectors(args.data, args.points, args.sigma)
    queries = np.load(args.data / "query.npy")[: args.queries].astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    truth = exact_top10(vectors, queries)
    efs = tuple(int(ef) for ef in args.efs.split(","))
    results = []
    for name in args.configs.split(","):
        results.append(run_config(args.bin, name, vectors, queries, truth, efs=efs, keep_log=args.keep_log))
        if args.indexer_niceness is not None:
            results.append(run_config(args.bin, name, vectors, queries, truth, args.indexer_niceness, efs,
                                      args.keep_log))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"points": args.points, "sigma": args.sigma, "results": results}, indent=2))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
