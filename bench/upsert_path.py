#!/usr/bin/env python3
"""The upsert path (issue 20 item 4): where a batch's time goes, before and after, in one run.

Each round loads a fresh server per binary with the load of `bench/run.sh` (N x 384-d points
from base.npy, batches of 1,000, `PUT /collections/bench/points?wait=true`, one client thread,
orjson bodies) and measures, per batch, the client's serialisation, the request's wall time and
the server's CPU time (`/proc`), plus a transfer baseline (the same PUTs to a do-nothing sink in
another process). With `--before OLD_BINARY` the binaries alternate within every round (the
order flips each round), so a change of the shared machine's load hits both alike; the ratios
are taken round by round and reported as ranges.

    bench/.venv/bin/python bench/upsert_path.py --bin target/release/quiver \\
        --before /tmp/quiver-upsert-before --rounds 3

Figures go to bench/out/upsert_path.json.
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
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
import upsert_restart as ur  # noqa: E402  (the shared helpers of bench/run.sh)


def load_once(binary: Path, vectors: np.ndarray, ranges) -> dict:
    """A fresh server, the collection, the whole load with one client thread, the count check."""
    workdir = Path(tempfile.mkdtemp(prefix="quiver-upsert-"))
    srv = ur.Server(binary, workdir)
    ok = False
    try:
        with requests.Session() as sess:
            srv.start()
            srv.wait_until(sess, None, ur.READY_TIMEOUT)
            ur.create_collection(sess, srv)
            result = ur.upsert_load(srv, vectors, ranges, threads=1)
            n = ranges[-1][1]
            if ur.count_points(sess, srv) != n:
                raise RuntimeError(f"count after load is not {n}")
        ok = True
        return result
    finally:
        srv.shutdown()
        if ok:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"{srv.log_tail()}\nserver dir kept: {workdir}", file=sys.stderr)


def summary(loads: list[dict], transfer_ms: list[float]) -> dict:
    """Per figure: min, median, max over the rounds."""
    def spread(values):
        return {"min": min(values), "median": statistics.median(values), "max": max(values)}

    return {
        "points_per_s": spread([u["points_per_s"] for u in loads]),
        "serialize_mean_ms": spread([u["serialize_mean_ms"] for u in loads]),
        "request_mean_ms": spread([u["request_mean_ms"] for u in loads]),
        "server_share": spread([u["server_share"] for u in loads]),
        "server_share_beyond_transfer": spread(
            [ur.server_share_beyond(u, t) for u, t in zip(loads, transfer_ms)]
        ),
        "request_threads_cpu_ms": spread([u["server_cpu_per_batch_ms"]["request_threads_s"] for u in loads]),
        "other_threads_cpu_ms": spread([u["server_cpu_per_batch_ms"]["other_threads_s"] for u in loads]),
        "server_reported_mean_ms": spread([u["server_reported_mean_ms"] for u in loads]),
        "wal_fsync_per_batch_ms": spread([u["wal_fsync_per_batch_ms"] for u in loads]),
    }


def ratios(after: list[dict], before: list[dict]) -> dict:
    """After ÷ before, round by round (same round = same moment of the machine), as ranges."""
    def per_round(get):
        values = [get(a) / get(b) for a, b in zip(after, before)]
        return {"min": min(values), "max": max(values), "each": values}

    return {
        "points_per_s": per_round(lambda u: u["points_per_s"]),
        "request_mean_ms": per_round(lambda u: u["request_mean_ms"]),
        "request_threads_cpu_ms": per_round(lambda u: u["server_cpu_per_batch_ms"]["request_threads_s"]),
    }


def print_table(results: dict) -> None:
    def rng(s, scale=1.0, d=0):
        return f"{s['min'] * scale:,.{d}f} / {s['median'] * scale:,.{d}f} / {s['max'] * scale:,.{d}f}"

    print(f"\nupsert path: {results['params']['points']:,} x 384, batch {results['params']['batch']}, "
          f"wait=true, 1 client thread, {results['params']['rounds']} rounds (min / median / max)")
    print(f"  transfer baseline (PUT to a sink in another process), ms per batch: "
          f"{', '.join(f'{t:.1f}' for t in results['transfer_ms'])}")
    rows = [
        ("points/s", "points_per_s", 1, 0),
        ("client serialise, ms per batch", "serialize_mean_ms", 1, 1),
        ("request wall time, ms per batch", "request_mean_ms", 1, 1),
        ("server share = request / (serialise + request), %", "server_share", 100, 1),
        ("  beyond the transfer baseline, %", "server_share_beyond_transfer", 100, 1),
        ("server CPU per batch, request threads, ms", "request_threads_cpu_ms", 1, 1),
        ("server CPU per batch, other threads (indexer), ms", "other_threads_cpu_ms", 1, 1),
        ("server's own `time` per batch, ms", "server_reported_mean_ms", 1, 1),
        ("WAL fsync time per batch, ms", "wal_fsync_per_batch_ms", 1, 1),
    ]
    for label, s in results["summary"].items():
        print(f"  [{label}]")
        for name, key, scale, d in rows:
            print(f"    {name:<56} {rng(s[key], scale, d)}")
    if "ratios" in results:
        print("  after / before, per round (min .. max):")
        for key, r in results["ratios"].items():
            print(f"    {key:<56} {r['min']:.2f} .. {r['max']:.2f}   ({', '.join(f'{x:.2f}' for x in r['each'])})")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=os.environ.get("QUIVER_BENCH_DATA", str(ur.DEFAULT_DATA)))
    ap.add_argument("--bin", default=str(ur.DEFAULT_BIN), help="the binary measured (\"after\")")
    ap.add_argument("--before", default=None, help="an older binary measured alternately (\"before\")")
    ap.add_argument("-n", "--points", type=int, default=100_000)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", default=str(ur.REPO / "bench" / "out" / "upsert_path.json"))
    args = ap.parse_args()

    base16 = np.load(Path(args.data) / "base.npy", mmap_mode="r")
    n = min(args.points, base16.shape[0])
    vectors = np.ascontiguousarray(base16[:n], dtype=np.float32)
    ranges = ur.batch_ranges(n, args.batch)
    binaries = {"after": Path(args.bin).resolve()}
    if args.before:
        binaries = {"before": Path(args.before).resolve(), **binaries}
    for b in binaries.values():
        if not b.exists():
            print(f"error: {b} not found", file=sys.stderr)
            return 2

    for s0, e0 in ranges[:5]:  # warm the serialiser
        ur.make_body(vectors, s0, e0)
    loads: dict[str, list[dict]] = {label: [] for label in binaries}
    transfer_ms: list[float] = []
    for r in range(args.rounds):
        order = list(binaries) if r % 2 == 0 else list(reversed(binaries))
        transfer_ms.append(ur.baseline_transfer(vectors, ranges)["request_mean_ms"])
        for label in order:
            print(f"== round {r + 1}/{args.rounds}: {label}", file=sys.stderr, flush=True)
            u = load_once(binaries[label], vectors, ranges)
            u["round"] = r + 1
            loads[label].append(u)
            print(f"   {u['points_per_s']:,.0f} points/s, share {100 * u['server_share']:.1f}%", file=sys.stderr)

    results = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "git": ur.git_rev(),
        "binaries": {k: str(v) for k, v in binaries.items()},
        "load_average": os.getloadavg(),
        "params": {"points": n, "batch": args.batch, "rounds": args.rounds},
        "transfer_ms": transfer_ms,
        "loads": loads,
        "summary": {label: summary(lo, transfer_ms) for label, lo in loads.items()},
    }
    if "before" in loads:
        results["ratios"] = ratios(loads["after"], loads["before"])
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print_table(results)
    print(f"\nJSON written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
