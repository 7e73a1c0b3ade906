#!/usr/bin/env python3
"""Single-node benchmark of Quiver: upsert throughput, restart time, exact-search sanity.

What it does (one run, one machine):

1. Baselines, measured in the same run because the machine is shared and noisy:
   - ``serialize``: orjson-serialize the same 100 batches (client CPU cost alone),
   - ``http_sink``: serialize + PUT them with the same requests.Session to a trivial
     http.server sink in a thread (client + loopback HTTP cost),
   - ``fsync``: 100 x (write 1 MiB + fsync) in the server's data dir.
   Each is measured before and after the Quiver load; ratios use the mean of the two.
2. Quiver upsert: 100,000 x 384-d float32 vectors (from float16 base.npy), batches of
   1,000, ``PUT /collections/bench/points?wait=true``, one client thread; count check.
3. Exact-search sanity: 100 queries, limit 10, QPS and recall@10 against gt_ids.npy.
4. Graceful restart: SIGTERM, wait for exit, start, time until /readyz 200 AND
   points_count == N.
5. Crash restart: upsert one more batch (re-upsert of the last 1,000 ids, wait=true),
   SIGKILL at once, start, time the same way (replays the WAL suffix).
6. Two client threads: a second fresh server, same load with 2 concurrent threads.

Prints a table and writes JSON to bench/out/upsert_restart.json.
"""

from __future__ import annotations

import argparse
import http.server
import json
import multiprocessing
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import orjson
import requests

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data"
DEFAULT_BIN = REPO / "target" / "release" / "quiver"
COLLECTION = "bench"
DIM = 384
REQ_TIMEOUT = 120.0  # seconds, per HTTP request
READY_TIMEOUT = 300.0  # seconds, for start / restart


# --------------------------------------------------------------------------- helpers
def free_port(exclude: set[int] = frozenset()) -> int:
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            p = s.getsockname()[1]
        if p not in exclude:
            return p
    raise RuntimeError("no free port")


def pct(values: list[float], q: float) -> float:
    """Percentile (nearest-rank on sorted values, q in [0, 100])."""
    v = sorted(values)
    if not v:
        return float("nan")
    k = max(0, min(len(v) - 1, int(round(q / 100.0 * (len(v) - 1)))))
    return v[k]


def make_body(vectors: np.ndarray, start: int, end: int) -> bytes:
    points = [
        {"id": i, "vector": vectors[i], "payload": {"i": i}} for i in range(start, end)
    ]
    return orjson.dumps({"points": points}, option=orjson.OPT_SERIALIZE_NUMPY)


def batch_ranges(n: int, batch: int) -> list[tuple[int, int]]:
    return [(s, min(s + batch, n)) for s in range(0, n, batch)]


# --------------------------------------------------------------------------- baselines
def baseline_serialize(vectors: np.ndarray, ranges) -> dict:
    t0 = time.perf_counter()
    nbytes = 0
    for s, e in ranges:
        nbytes += len(make_body(vectors, s, e))
    dt = time.perf_counter() - t0
    return {"total_s": dt, "bytes": nbytes}


class _Sink(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    REPLY = b'{"result":{"operation_id":0,"status":"completed"},"status":"ok","time":0.0}'

    def _handle(self):
        n = int(self.headers.get("Content-Length") or 0)
        remaining = n
        while remaining > 0:
            chunk = self.rfile.read(min(remaining, 1 << 20))
            if not chunk:
                break
            remaining -= len(chunk)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.REPLY)))
        self.end_headers()
        self.wfile.write(self.REPLY)

    do_PUT = _handle
    do_POST = _handle

    def log_message(self, *args):  # quiet
        pass


def baseline_http_sink(vectors: np.ndarray, ranges) -> dict:
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    srv.daemon_threads = True
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    url = f"http://127.0.0.1:{srv.server_address[1]}/collections/{COLLECTION}/points?wait=true"
    try:
        with requests.Session() as sess:
            hdr = {"Content-Type": "application/json"}
            t0 = time.perf_counter()
            for s, e in ranges:
                r = sess.put(url, data=make_body(vectors, s, e), headers=hdr, timeout=REQ_TIMEOUT)
                r.raise_for_status()
            dt = time.perf_counter() - t0
    finally:
        srv.shutdown()
        srv.server_close()
        th.join(timeout=10)
    return {"total_s": dt}


def _serve_sink(ports) -> None:
    """Child process: the `_Sink` on a free port, reported through `ports`."""
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    srv.daemon_threads = True
    ports.put(srv.server_address[1])
    srv.serve_forever()


def baseline_transfer(vectors: np.ndarray, ranges) -> dict:
    """The same PUTs to the do-nothing `_Sink` in another process (no GIL shared with the
    client): what sending a batch and reading its reply costs the client and the loopback,
    with a receiver that only reads the bytes. Only the requests are timed."""
    ports = multiprocessing.Queue()
    child = multiprocessing.Process(target=_serve_sink, args=(ports,), daemon=True)
    child.start()
    try:
        url = f"http://127.0.0.1:{ports.get(timeout=30)}/collections/{COLLECTION}/points?wait=true"
        request_s = 0.0
        with requests.Session() as sess:
            hdr = {"Content-Type": "application/json"}
            for s, e in ranges:
                body = make_body(vectors, s, e)
                t = time.perf_counter()
                r = sess.put(url, data=body, headers=hdr, timeout=REQ_TIMEOUT)
                request_s += time.perf_counter() - t
                r.raise_for_status()
    finally:
        child.terminate()
        child.join(timeout=10)
    return {"request_s": request_s, "request_mean_ms": 1000 * request_s / len(ranges)}


def baseline_fsync(directory: Path, n: int = 100, size: int = 1 << 20) -> dict:
    buf = os.urandom(size)
    path = directory / "fsync-baseline.bin"
    lats = []
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        for _ in range(n):
            t = time.perf_counter()
            os.write(fd, buf)
            os.fsync(fd)
            lats.append(time.perf_counter() - t)
    finally:
        os.close(fd)
        path.unlink(missing_ok=True)
    return {
        "total_s": sum(lats),
        "mean_ms": 1000 * statistics.fmean(lats),
        "p50_ms": 1000 * pct(lats, 50),
        "p99_ms": 1000 * pct(lats, 99),
    }


def run_baselines(vectors, ranges, directory: Path) -> dict:
    return {
        "serialize": baseline_serialize(vectors, ranges),
        "http_sink": baseline_http_sink(vectors, ranges),
        "transfer": baseline_transfer(vectors, ranges),
        "fsync": baseline_fsync(directory),
    }


# --------------------------------------------------------------------------- server
class Server:
    def __init__(self, binary: Path, workdir: Path):
        self.binary = binary
        self.workdir = workdir
        self.log_path = workdir / "quiver.log"
        self.proc: subprocess.Popen | None = None
        self.port: int | None = None
        self._log = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> float:
        """Start the process (fresh ports); return the perf_counter time of the spawn."""
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.port = free_port()
        grpc = free_port({self.port})
        self.grpc_port = grpc
        env = dict(os.environ)
        env.update(
            {
                "QDRANT__SERVICE__HTTP_PORT": str(self.port),
                "QDRANT__SERVICE__GRPC_PORT": str(grpc),
                # e.g. QUIVER_BENCH_LOG_LEVEL=warn,quiver_shard=debug logs each shard's open phases
                "QDRANT__LOG_LEVEL": os.environ.get("QUIVER_BENCH_LOG_LEVEL", "WARN"),
            }
        )
        self._close_log()
        self._log = open(self.log_path, "ab")
        self._log.write(f"\n===== start at {time.strftime('%H:%M:%S')} =====\n".encode())
        self._log.flush()
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(
            [str(self.binary)],
            cwd=str(self.workdir),
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        return t0

    def wait_until(self, sess: requests.Session, expect_points: int | None, timeout: float) -> dict:
        """Poll /readyz (then the collection's points_count, if asked) until satisfied."""
        deadline = time.perf_counter() + timeout
        ready_at = None
        last = None
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"quiver exited with code {self.proc.returncode}\n{self.log_tail()}"
                )
            try:
                if ready_at is None:
                    r = sess.get(self.url + "/readyz", timeout=2)
                    last = f"readyz {r.status_code}"
                    if r.status_code == 200:
                        ready_at = time.perf_counter()
                        if expect_points is None:
                            return {"ready_at": ready_at, "loaded_at": ready_at}
                        continue
                else:
                    r = sess.get(f"{self.url}/collections/{COLLECTION}", timeout=5)
                    last = f"collection {r.status_code} {r.text[:200]}"
                    if r.status_code == 200:
                        pc = r.json()["result"].get("points_count")
                        if pc == expect_points:
                            return {"ready_at": ready_at, "loaded_at": time.perf_counter()}
            except requests.RequestException as e:
                last = repr(e)
            time.sleep(0.01)
        raise RuntimeError(f"quiver not ready within {timeout}s (last: {last})\n{self.log_tail()}")

    def sigterm(self, timeout: float = 120.0) -> float:
        """Graceful stop; returns seconds from SIGTERM to exit."""
        t0 = time.perf_counter()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
            raise RuntimeError(f"quiver did not exit within {timeout}s of SIGTERM")
        dt = time.perf_counter() - t0
        if self.proc.returncode != 0:
            print(f"warning: quiver exit code after SIGTERM: {self.proc.returncode}", file=sys.stderr)
        return dt

    def sigkill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def shutdown(self) -> None:
        """Used in `finally`: make sure the process is gone."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                self.proc.send_signal(signal.SIGTERM)
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._close_log()

    def _close_log(self):
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_tail(self, n: int = 40) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return "<no log>"
        return "--- quiver log tail ---\n" + "\n".join(lines[-n:])


CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_s(stat_path: str) -> float:
    """utime + stime of a /proc stat file, in seconds (fields after the parenthesised name)."""
    with open(stat_path) as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def read_cpu(pid: int) -> dict:
    """The process's CPU seconds, and each live thread's (name, CPU seconds) by thread id."""
    threads = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/comm") as fh:
                name = fh.read().strip()
            threads[tid] = (name, cpu_s(f"/proc/{pid}/task/{tid}/stat"))
        except OSError:  # the thread ended meanwhile
            pass
    return {"process_s": cpu_s(f"/proc/{pid}/stat"), "threads": threads}


def wal_fsync_s(srv: "Server") -> float:
    """Seconds the server has spent in WAL fsyncs (its `quiver_wal_fsync_duration_seconds` sum)."""
    text = requests.get(f"{srv.url}/metrics", timeout=REQ_TIMEOUT).text
    sums = [float(line.split()[1]) for line in text.splitlines()
            if line.startswith("quiver_wal_fsync_duration_seconds_sum")]
    return sum(sums)


def cpu_between(before: dict, after: dict) -> dict:
    """CPU seconds the server spent between two `read_cpu` readings: in all, on tokio's threads
    (the async workers and the blocking pool: request handling, WAL appends and fsyncs, applying
    to the table), and elsewhere (the shard indexers building HNSW graphs, and their helpers)."""
    tokio = sum(
        cpu - before["threads"].get(tid, (name, 0.0))[1]
        for tid, (name, cpu) in after["threads"].items()
        if name.startswith("tokio")
    )
    total = after["process_s"] - before["process_s"]
    return {"process_s": total, "request_threads_s": tokio, "other_threads_s": total - tokio}


def api(sess: requests.Session, method: str, url: str, **kw) -> dict:
    r = sess.request(method, url, timeout=REQ_TIMEOUT, **kw)
    if r.status_code != 200:
        raise RuntimeError(f"{method} {url} -> {r.status_code}: {r.text[:500]}")
    return r.json()


def create_collection(sess, srv: Server) -> None:
    api(
        sess,
        "PUT",
        f"{srv.url}/collections/{COLLECTION}",
        json={"vectors": {"size": DIM, "distance": "Cosine"}},
    )


def count_points(sess, srv: Server) -> int:
    res = api(sess, "POST", f"{srv.url}/collections/{COLLECTION}/points/count", json={"exact": True})
    return int(res["result"]["count"])


def upsert_load(srv: Server, vectors: np.ndarray, ranges, threads: int) -> dict:
    """Upsert all batches with `threads` client threads (batch k goes to thread k % threads).

    Total time includes client-side serialization (as the `serialize` baseline does);
    per-batch latency is the HTTP request alone.
    """
    url = f"{srv.url}/collections/{COLLECTION}/points?wait=true"
    hdr = {"Content-Type": "application/json"}
    lats: list[list[float]] = [[] for _ in range(threads)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(threads + 1)

    serialize_s = [0.0] * threads
    reported_s = [0.0] * threads

    def worker(t: int):
        try:
            with requests.Session() as sess:
                barrier.wait(timeout=60)
                for k in range(t, len(ranges), threads):
                    if errors:
                        return
                    s, e = ranges[k]
                    t0 = time.perf_counter()
                    body = make_body(vectors, s, e)
                    t1 = time.perf_counter()
                    r = sess.put(url, data=body, headers=hdr, timeout=REQ_TIMEOUT)
                    dt = time.perf_counter() - t1
                    if r.status_code != 200:
                        raise RuntimeError(f"upsert batch {k} -> {r.status_code}: {r.text[:300]}")
                    serialize_s[t] += t1 - t0
                    reported_s[t] += float(orjson.loads(r.content)["time"])
                    lats[t].append(dt)
        except BaseException as ex:  # noqa: BLE001 - reported by the main thread
            errors.append(ex)

    ths = [threading.Thread(target=worker, args=(t,), daemon=True) for t in range(threads)]
    for th in ths:
        th.start()
    fsync0 = wal_fsync_s(srv)
    cpu0 = read_cpu(srv.proc.pid)
    barrier.wait(timeout=60)
    t0 = time.perf_counter()
    for th in ths:
        th.join(timeout=3600)
    total = time.perf_counter() - t0
    cpu = cpu_between(cpu0, read_cpu(srv.proc.pid))
    fsync_s = wal_fsync_s(srv) - fsync0
    if errors:
        raise RuntimeError(f"upsert failed: {errors[0]!r}\n{srv.log_tail()}")
    if any(th.is_alive() for th in ths):
        raise RuntimeError("upsert threads did not finish within 1 h")
    all_lats = [x for l in lats for x in l]
    n = ranges[-1][1] - ranges[0][0]
    batches = len(all_lats)
    request_s, ser_s = sum(all_lats), sum(serialize_s)
    return {
        "threads": threads,
        "points": n,
        "batches": len(all_lats),
        "total_s": total,
        "points_per_s": n / total,
        "batch_p50_ms": 1000 * pct(all_lats, 50),
        "batch_p99_ms": 1000 * pct(all_lats, 99),
        "batch_mean_ms": 1000 * statistics.fmean(all_lats),
        # Per batch: the client's serialisation, the request's wall time as the client sees it,
        # and the server's `time` field (handler start, body read included, to the reply).
        "serialize_mean_ms": 1000 * ser_s / batches,
        "request_mean_ms": 1000 * request_s / batches,
        "server_reported_mean_ms": 1000 * sum(reported_s) / batches,
        "server_share": request_s / (ser_s + request_s),
        "server_cpu_per_batch_ms": {k: 1000 * v / batches for k, v in cpu.items()},
        "wal_fsync_per_batch_ms": 1000 * fsync_s / batches,
    }


def search_sanity(sess, srv: Server, queries: np.ndarray, gt: np.ndarray, k: int = 10) -> dict:
    url = f"{srv.url}/collections/{COLLECTION}/points/query"
    hdr = {"Content-Type": "application/json"}
    hits = 0
    lats = []
    t0 = time.perf_counter()
    for qi in range(len(queries)):
        body = orjson.dumps({"query": queries[qi], "limit": k}, option=orjson.OPT_SERIALIZE_NUMPY)
        t = time.perf_counter()
        r = sess.post(url, data=body, headers=hdr, timeout=REQ_TIMEOUT)
        lats.append(time.perf_counter() - t)
        if r.status_code != 200:
            raise RuntimeError(f"query {qi} -> {r.status_code}: {r.text[:300]}")
        ids = {int(p["id"]) for p in r.json()["result"]["points"]}
        hits += len(ids & {int(x) for x in gt[qi, :k]})
    total = time.perf_counter() - t0
    return {
        "queries": len(queries),
        "limit": k,
        "qps": len(queries) / total,
        "p50_ms": 1000 * pct(lats, 50),
        "p99_ms": 1000 * pct(lats, 99),
        f"recall_at_{k}": hits / (k * len(queries)),
    }


def dir_size(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for f in files:
            try:
                total += os.path.getsize(os.path.join(root, f))
            except OSError:
                pass
    return total


def git_rev() -> str | None:
    try:
        out = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True, text=True, timeout=10,
        )
        dirty = subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, timeout=10,
        )
        return out.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except Exception:  # noqa: BLE001
        return None


# --------------------------------------------------------------------------- main
def mean2(a: float, b: float) -> float:
    return (a + b) / 2.0


def server_share_beyond(upsert: dict, transfer_ms: float) -> float:
    """The server's share of a batch's time once the request's transfer is taken out: (request
    − the same request to a do-nothing sink) ÷ (serialisation + request), per batch on average."""
    request, serialize = upsert["request_mean_ms"], upsert["serialize_mean_ms"]
    return (request - transfer_ms) / (serialize + request)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=os.environ.get("QUIVER_BENCH_DATA", str(DEFAULT_DATA)),
                    help="directory with base.npy, query.npy, gt_ids.npy (env QUIVER_BENCH_DATA)")
    ap.add_argument("--bin", default=os.environ.get("QUIVER_BIN", str(DEFAULT_BIN)),
                    help="quiver binary (env QUIVER_BIN; default target/release/quiver)")
    ap.add_argument("-n", "--points", type=int, default=100_000)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--queries", type=int, default=100)
    ap.add_argument("--no-two-threads", action="store_true", help="skip the 2-client-thread load")
    ap.add_argument("--out", default=str(REPO / "bench" / "out" / "upsert_restart.json"))
    ap.add_argument("--keep-dir", action="store_true", help="keep the server's temp dirs")
    ap.add_argument("--label", default=os.environ.get("QUIVER_BENCH_LABEL", ""),
                    help="free text recorded with the figures (e.g. which build the binary is)")
    args = ap.parse_args()

    data = Path(args.data)
    binary = Path(args.bin).resolve()
    if not binary.exists():
        print(f"error: {binary} not found (run bench/run.sh, or cargo build --release)", file=sys.stderr)
        return 2

    print(f"loading data from {data} ...", flush=True)
    base16 = np.load(data / "base.npy", mmap_mode="r")
    n = min(args.points, base16.shape[0])
    vectors = np.ascontiguousarray(base16[:n], dtype=np.float32)
    assert vectors.shape == (n, DIM), vectors.shape
    queries = np.ascontiguousarray(np.load(data / "query.npy")[: args.queries], dtype=np.float32)
    gt = np.load(data / "gt_ids.npy")[: args.queries]
    ranges = batch_ranges(n, args.batch)
    check_gt = n == base16.shape[0]  # recall only meaningful against the full base set

    results: dict = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "git": git_rev(),
        "binary": str(binary),
        "label": args.label,
        "host": {"nproc": os.cpu_count(), "platform": platform.platform(),
                 "python": platform.python_version(), "numpy": np.__version__},
        "params": {"points": n, "dim": DIM, "batch": args.batch, "batches": len(ranges),
                   "wait": True, "distance": "Cosine", "queries": len(queries)},
    }

    workdir = Path(tempfile.mkdtemp(prefix="quiver-bench-"))
    workdir2 = Path(tempfile.mkdtemp(prefix="quiver-bench2-"))
    srv = Server(binary, workdir)
    srv2 = Server(binary, workdir2)
    ok = False
    try:
        with requests.Session() as sess:
            # --- baselines (before); a short warm-up first so the first figure is not cold
            print("baselines (before) ...", flush=True)
            for s0, e0 in ranges[:5]:
                make_body(vectors, s0, e0)
            b_pre = run_baselines(vectors, ranges, workdir)

            # --- start, create, load (1 thread)
            t_spawn = srv.start()
            w = srv.wait_until(sess, None, READY_TIMEOUT)
            results["cold_start_s"] = w["ready_at"] - t_spawn
            create_collection(sess, srv)
            print(f"upsert {n} points, 1 client thread ...", flush=True)
            up1 = upsert_load(srv, vectors, ranges, threads=1)
            cnt = count_points(sess, srv)
            if cnt != n:
                raise RuntimeError(f"count after load = {cnt}, expected {n}")
            up1["count_ok"] = True
            results["upsert_1t"] = up1
            results["storage_bytes_after_load"] = dir_size(workdir / "storage")

            # --- baselines (after)
            print("baselines (after) ...", flush=True)
            b_post = run_baselines(vectors, ranges, workdir)
            results["baselines"] = {"before": b_pre, "after": b_post}

            # --- exact search sanity
            print(f"search sanity: {len(queries)} queries ...", flush=True)
            srch = search_sanity(sess, srv, queries, gt)
            if not check_gt:
                srch["recall_at_10"] = None  # gt is for the full 100k base
            results["search"] = srch

            # --- graceful restart
            print("graceful restart ...", flush=True)
            sd = srv.sigterm()
            t_spawn = srv.start()
            w = srv.wait_until(sess, n, READY_TIMEOUT)
            results["restart_graceful"] = {
                "shutdown_s": sd,
                "to_readyz_s": w["ready_at"] - t_spawn,
                "to_all_points_s": w["loaded_at"] - t_spawn,
            }

            # --- crash restart: one more batch (re-upsert of the last ids), then SIGKILL
            print("crash restart ...", flush=True)
            s, e = ranges[-1]
            r = sess.put(f"{srv.url}/collections/{COLLECTION}/points?wait=true",
                         data=make_body(vectors, s, e),
                         headers={"Content-Type": "application/json"}, timeout=REQ_TIMEOUT)
            if r.status_code != 200:
                raise RuntimeError(f"last batch -> {r.status_code}: {r.text[:300]}")
            srv.sigkill()
            t_spawn = srv.start()
            w = srv.wait_until(sess, n, READY_TIMEOUT)
            results["restart_crash"] = {
                "to_readyz_s": w["ready_at"] - t_spawn,
                "to_all_points_s": w["loaded_at"] - t_spawn,
            }
            cnt = count_points(sess, srv)
            if cnt != n:
                raise RuntimeError(f"count after crash restart = {cnt}, expected {n}")
            srch2 = search_sanity(sess, srv, queries[:10], gt[:10])
            results["restart_crash"]["recall_at_10_after"] = srch2["recall_at_10"] if check_gt else None
            srv.shutdown()

            # --- 2 client threads, fresh server
            if not args.no_two_threads:
                print(f"upsert {n} points, 2 client threads (fresh server) ...", flush=True)
                srv2.start()
                srv2.wait_until(sess, None, READY_TIMEOUT)
                create_collection(sess, srv2)
                up2 = upsert_load(srv2, vectors, ranges, threads=2)
                cnt = count_points(sess, srv2)
                if cnt != n:
                    raise RuntimeError(f"count after 2-thread load = {cnt}, expected {n}")
                up2["count_ok"] = True
                results["upsert_2t"] = up2
                srv2.shutdown()
        ok = True
    finally:
        srv.shutdown()
        srv2.shutdown()
        if not ok:
            print(srv.log_tail(), file=sys.stderr)
        if args.keep_dir or not ok:
            print(f"server dirs kept: {workdir} {workdir2}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
            shutil.rmtree(workdir2, ignore_errors=True)

    # --- ratios against same-run baselines (mean of before/after)
    bl = results["baselines"]
    ser_s = mean2(bl["before"]["serialize"]["total_s"], bl["after"]["serialize"]["total_s"])
    sink_s = mean2(bl["before"]["http_sink"]["total_s"], bl["after"]["http_sink"]["total_s"])
    fs_ms = mean2(bl["before"]["fsync"]["p50_ms"], bl["after"]["fsync"]["p50_ms"])
    transfer_ms = mean2(bl["before"]["transfer"]["request_mean_ms"], bl["after"]["transfer"]["request_mean_ms"])
    up1 = results["upsert_1t"]
    ratios = {
        "server_share_1t": up1["server_share"],
        "server_share_1t_beyond_transfer": server_share_beyond(up1, transfer_ms),
        "upsert_1t_time_over_serialize": up1["total_s"] / ser_s,
        "upsert_1t_time_over_http_sink": up1["total_s"] / sink_s,
        "batch_p50_over_fsync_1mib_p50": up1["batch_p50_ms"] / fs_ms,
        "batch_p99_over_fsync_1mib_p50": up1["batch_p99_ms"] / fs_ms,
    }
    if "upsert_2t" in results:
        up2 = results["upsert_2t"]
        ratios["server_share_2t"] = up2["server_share"]
        ratios["upsert_2t_time_over_serialize"] = up2["total_s"] / ser_s
        ratios["upsert_2t_time_over_http_sink"] = up2["total_s"] / sink_s
        ratios["speedup_2t_over_1t"] = up1["total_s"] / up2["total_s"]
    results["ratios"] = ratios

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")

    # --- table
    def row(name, value, unit=""):
        print(f"  {name:<48} {value:>12} {unit}")

    def f(x, d=2):
        return "n/a" if x is None else f"{x:,.{d}f}"

    print()
    print(f"Quiver single-node benchmark  ({args.label or results['git']}, {n:,} x {DIM}-d, batch {args.batch}, wait=true)")
    print("baselines (before / after; ratios use the mean):")
    for key, label in (("serialize", "client serialize only, all batches"),
                       ("http_sink", "client serialize + PUT to http.server sink")):
        row(label, f"{f(bl['before'][key]['total_s'])} / {f(bl['after'][key]['total_s'])}", "s")
    row("client PUT to a sink in another process, per batch",
        f"{f(bl['before']['transfer']['request_mean_ms'], 1)} / {f(bl['after']['transfer']['request_mean_ms'], 1)}", "ms")
    row("fsync 1 MiB write+fsync, p50", f"{f(bl['before']['fsync']['p50_ms'])} / {f(bl['after']['fsync']['p50_ms'])}", "ms")
    print("quiver:")
    row("cold start to /readyz (empty)", f(results["cold_start_s"], 3), "s")
    for key, label in (("upsert_1t", "1 client thread"), ("upsert_2t", "2 client threads")):
        if key in results:
            u = results[key]
            row(f"upsert {label}", f(u["points_per_s"], 0), "points/s")
            row(f"  total time", f(u["total_s"]), "s")
            row(f"  batch latency p50 / p99", f"{f(u['batch_p50_ms'], 1)} / {f(u['batch_p99_ms'], 1)}", "ms")
            row(f"  per batch: serialise / request / server time",
                f"{f(u['serialize_mean_ms'], 1)} / {f(u['request_mean_ms'], 1)} / {f(u['server_reported_mean_ms'], 1)}", "ms")
            row(f"  server's share of a batch's time", f(100 * u["server_share"], 1), "%")
            c_ = u["server_cpu_per_batch_ms"]
            row(f"  server CPU per batch: request threads / other",
                f"{f(c_['request_threads_s'], 1)} / {f(c_['other_threads_s'], 1)}", "ms")
            row(f"  WAL fsync time per batch", f(u["wal_fsync_per_batch_ms"], 1), "ms")
    row("storage size after load", f(results["storage_bytes_after_load"] / 2**20, 1), "MiB")
    s_ = results["search"]
    row(f"exact search ({s_['queries']} q, limit 10), QPS", f(s_["qps"], 1), "q/s")
    row("  latency p50 / p99", f"{f(s_['p50_ms'], 1)} / {f(s_['p99_ms'], 1)}", "ms")
    row("  recall@10", f(s_["recall_at_10"], 3))
    g = results["restart_graceful"]
    row("graceful: SIGTERM to exit", f(g["shutdown_s"], 3), "s")
    row("graceful restart: to /readyz", f(g["to_readyz_s"], 3), "s")
    row("graceful restart: to points_count = N", f(g["to_all_points_s"], 3), "s")
    c = results["restart_crash"]
    row("crash (SIGKILL) restart: to /readyz", f(c["to_readyz_s"], 3), "s")
    row("crash (SIGKILL) restart: to points_count = N", f(c["to_all_points_s"], 3), "s")
    print("ratios (against same-run baselines):")
    for k, v in ratios.items():
        if k.startswith("server_share"):  # a share of the batch's time, not a ratio
            row(k, f(100 * v, 1), "%")
        else:
            row(k, f(v, 2), "x")
    print(f"\nJSON written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
