"""Concurrent write + read load for replication fault tests, recording what the client saw.

Usage::

    from replication_load import Load, check_replicas

    load = Load(collection="c", write_urls=[p1.url, p2.url], read_urls=[p1.url, p2.url])
    load.start()
    ...inject a fault at t0 = time.monotonic()...
    rec = load.stop()                      # joins the threads, returns a `LoadRecords`
    rec.errors_after(t0 + 3)               # client-visible failures that ended after t0 + 3 s
    report = check_replicas(live_url, "c", rec.acked_ids(), urls_by_peer_id)
    report.assert_ok()

Writers (`writers=N` threads, default 1): upsert batches (`wait=true`) of unique, increasing ids
with payload `{"n": id}` and 4-d vectors, round-robin over `write_urls`. A batch counts as ACKNOWLEDGED only on HTTP 200 with
`result.status == "completed"`; anything else (HTTP error, timeout, connection error) is an
error record; its ids are "unknown" (may or may not exist) and are never reused.

Reader: cycles search / count / retrieve-of-recently-acknowledged-ids over `read_urls`; records
errors, and "stale" reads: a count smaller than the number of ids acknowledged before the read
started, or a retrieve that misses ids acknowledged before the read started (read-your-writes
across peers, which the replication contract implies for Active replicas).

All timestamps are `time.monotonic()`.
"""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import requests

DIM = 4


def vector_for(i: int) -> list[float]:
    return [1.0, (i % 97) / 97.0, ((i * 7) % 89) / 89.0, ((i * 13) % 83) / 83.0]


def _short(text: str, n: int = 300) -> str:
    text = text.replace("\n", " ")
    return text if len(text) <= n else text[:n] + "…"


@dataclass
class Ack:
    t_start: float
    t_end: float
    url: str
    ids: list[int]


@dataclass
class Failure:
    kind: str  # "write" | "search" | "count" | "retrieve"
    t_start: float
    t_end: float
    url: str
    status: int | None  # HTTP status, None for a transport error (refused, timeout)
    message: str  # error message from the body, or the exception text
    ids: list[int] = field(default_factory=list)  # write: the ids of the failed batch

    @property
    def duration(self) -> float:
        return self.t_end - self.t_start

    def __str__(self) -> str:
        st = self.status if self.status is not None else "transport"
        return (f"{self.kind} via {self.url} [{st}] after {self.duration:.2f}s "
                f"(ended t={self.t_end:.2f}): {self.message}")


@dataclass
class Stale:
    kind: str
    t_start: float
    t_end: float
    url: str
    detail: str

    def __str__(self) -> str:
        return f"STALE {self.kind} via {self.url} (ended t={self.t_end:.2f}): {self.detail}"


@dataclass
class LoadRecords:
    acks: list[Ack]
    failures: list[Failure]
    stale: list[Stale]
    reads_ok: list[tuple[str, float, float, str]]  # (kind, t_start, t_end, url)
    started: float
    stopped: float

    def acked_ids(self) -> list[int]:
        return sorted(i for a in self.acks for i in a.ids)

    def unknown_ids(self) -> list[int]:
        return sorted(i for f in self.failures if f.kind == "write" for i in f.ids)

    def write_failures(self) -> list[Failure]:
        return [f for f in self.failures if f.kind == "write"]

    def read_failures(self) -> list[Failure]:
        return [f for f in self.failures if f.kind != "write"]

    def errors_after(self, t: float, kinds: Iterable[str] | None = None) -> list[Failure]:
        """Failures the client saw at or after `t` (by the time the failing request ended)."""
        ks = set(kinds) if kinds is not None else None
        return [f for f in self.failures if f.t_end >= t and (ks is None or f.kind in ks)]

    def acks_after(self, t: float) -> list[Ack]:
        return [a for a in self.acks if a.t_start >= t]

    def reads_ok_after(self, t: float) -> list:
        return [r for r in self.reads_ok if r[1] >= t]

    def max_ok_latency(self, t_from: float, t_to: float) -> float:
        lat = [a.t_end - a.t_start for a in self.acks if t_from <= a.t_start < t_to]
        lat += [r[2] - r[1] for r in self.reads_ok if t_from <= r[1] < t_to]
        return max(lat, default=0.0)

    def summary(self, t0: float | None = None) -> str:
        ref = t0 if t0 is not None else self.started
        lines = [
            f"load {self.stopped - self.started:.1f}s: {len(self.acks)} batches acked "
            f"({len(self.acked_ids())} ids), {len(self.write_failures())} write failures, "
            f"{len(self.reads_ok)} reads ok, {len(self.read_failures())} read failures, "
            f"{len(self.stale)} stale reads"
        ]
        for f in self.failures[:12]:
            lines.append(f"  t{f.t_end - ref:+.2f}s {f}")
        if len(self.failures) > 12:
            lines.append(f"  … {len(self.failures) - 12} more failures; last: "
                         f"t{self.failures[-1].t_end - ref:+.2f}s {self.failures[-1]}")
        for s in self.stale[:5]:
            lines.append(f"  t{s.t_end - ref:+.2f}s {s}")
        return "\n".join(lines)


def _error_message(resp: requests.Response) -> str:
    try:
        body = resp.json()
        st = body.get("status") if isinstance(body, dict) else None
        if isinstance(st, dict) and "error" in st:
            return str(st["error"])
        return _short(resp.text)
    except ValueError:
        return _short(resp.text) or "<empty body>"


class Load:
    """A writer thread and a reader thread against one collection."""

    def __init__(
        self,
        collection: str,
        write_urls: list[str],
        read_urls: list[str] | None = None,
        batch: int = 4,
        start_id: int = 1,
        write_timeout: float = 10.0,
        read_timeout: float = 10.0,
        write_pause: float = 0.0,
        read_pause: float = 0.01,
        failure_pause: float = 0.05,
        writers: int = 1,
        shard_key: str | int | None = None,
    ):
        self.collection = collection
        self.shard_key = shard_key  # custom sharding: every write names this key
        self.write_urls = list(write_urls)
        self.read_urls = list(read_urls if read_urls is not None else write_urls)
        self.batch = batch
        self.write_timeout = write_timeout
        self.read_timeout = read_timeout
        self.write_pause = write_pause
        self.read_pause = read_pause
        self.failure_pause = failure_pause  # back-off after a failed request (no hot spin on refusal)
        self.n_writers = writers
        self._next_id = start_id
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._acks: list[Ack] = []
        self._failures: list[Failure] = []
        self._stale: list[Stale] = []
        self._reads_ok: list[tuple[str, float, float, str]] = []
        self._acked_count = 0
        self._recent_acked: list[int] = []
        self._started = 0.0

    # ------------------------------------------------------------------ control
    def start(self) -> "Load":
        self._started = time.monotonic()
        for w in range(self.n_writers):
            t = threading.Thread(target=self._writer, args=(w,), name=f"writer-{w}", daemon=True)
            self._threads.append(t)
        if self.read_urls:
            self._threads.append(threading.Thread(target=self._reader, name="reader", daemon=True))
        for t in self._threads:
            t.start()
        return self

    def stop(self) -> LoadRecords:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=max(self.write_timeout, self.read_timeout) + 5)
        with self._lock:
            return LoadRecords(
                acks=sorted(self._acks, key=lambda a: a.t_start),
                failures=sorted(self._failures, key=lambda f: f.t_end),
                stale=list(self._stale),
                reads_ok=list(self._reads_ok),
                started=self._started,
                stopped=time.monotonic(),
            )

    def set_urls(self, write_urls: list[str] | None = None, read_urls: list[str] | None = None):
        with self._lock:
            if write_urls is not None:
                self.write_urls = list(write_urls)
            if read_urls is not None:
                self.read_urls = list(read_urls)

    def acks_so_far(self) -> list[Ack]:
        with self._lock:
            return list(self._acks)

    def acked_count(self) -> int:
        with self._lock:
            return self._acked_count

    def ack_count(self) -> int:
        """Batches acknowledged so far."""
        with self._lock:
            return len(self._acks)

    def wait_acks(self, n: int, timeout: float = 10.0) -> None:
        """Block until at least `n` batches were acknowledged (a warm-up)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self._acks) >= n:
                    return
            time.sleep(0.02)
        raise AssertionError(f"load: fewer than {n} batches acknowledged after {timeout}s; "
                             f"failures so far: {[str(f) for f in self._failures[:5]]}")

    # ------------------------------------------------------------------ threads
    def _take_ids(self) -> list[int]:
        with self._lock:
            ids = list(range(self._next_id, self._next_id + self.batch))
            self._next_id += self.batch
            return ids

    def _pick(self, urls_attr: str, counter) -> str | None:
        with self._lock:
            urls = getattr(self, urls_attr)
            if not urls:
                return None
            return urls[next(counter) % len(urls)]

    def _writer(self, w: int) -> None:
        rr = itertools.count(w)
        path = f"/collections/{self.collection}/points"
        session = requests.Session()
        while not self._stop.is_set():
            url = self._pick("write_urls", rr)
            if url is None:
                time.sleep(0.05)
                continue
            ids = self._take_ids()
            body = {"points": [{"id": i, "vector": vector_for(i), "payload": {"n": i}} for i in ids]}
            if self.shard_key is not None:
                body["shard_key"] = self.shard_key
            t_start = time.monotonic()
            status: int | None = None
            try:
                r = session.put(url + path, params={"wait": "true"}, json=body,
                                timeout=self.write_timeout)
                status = r.status_code
                ok = False
                if r.status_code == 200:
                    try:
                        ok = r.json()["result"]["status"] == "completed"
                    except (ValueError, KeyError, TypeError):
                        ok = False
                msg = "" if ok else _error_message(r)
            except requests.RequestException as e:
                ok, msg = False, f"{type(e).__name__}: {_short(str(e), 200)}"
            t_end = time.monotonic()
            with self._lock:
                if ok:
                    self._acks.append(Ack(t_start, t_end, url, ids))
                    self._acked_count += len(ids)
                    self._recent_acked = ids
                else:
                    self._failures.append(Failure("write", t_start, t_end, url, status, msg, ids))
            pause = self.write_pause if ok else self.failure_pause
            if pause:
                time.sleep(pause)

    def _reader(self) -> None:
        rr = itertools.count()
        kinds = itertools.cycle(["search", "count", "retrieve"])
        base = f"/collections/{self.collection}/points"
        session = requests.Session()
        while not self._stop.is_set():
            url = self._pick("read_urls", rr)
            if url is None:
                time.sleep(0.05)
                continue
            kind = next(kinds)
            with self._lock:
                acked_before = self._acked_count
                recent = list(self._recent_acked)
            if kind == "retrieve" and not recent:
                continue
            t_start = time.monotonic()
            status: int | None = None
            stale: str | None = None
            try:
                if kind == "search":
                    r = session.post(url + base + "/search", timeout=self.read_timeout,
                                     json={"vector": vector_for(0), "limit": 5})
                elif kind == "count":
                    r = session.post(url + base + "/count", json={"exact": True},
                                     timeout=self.read_timeout)
                else:
                    r = session.post(url + base, json={"ids": recent, "with_payload": True},
                                     timeout=self.read_timeout)
                status = r.status_code
                ok = r.status_code == 200
                msg = "" if ok else _error_message(r)
                if ok:
                    res = r.json()["result"]
                    if kind == "count" and res["count"] < acked_before:
                        stale = f"count {res['count']} < {acked_before} ids acknowledged before"
                    elif kind == "retrieve":
                        got = {p["id"]: p.get("payload") for p in res}
                        missing = [i for i in recent if got.get(i) != {"n": i}]
                        if missing:
                            stale = f"acknowledged ids missing or wrong: {missing} (got {got})"
            except (requests.RequestException, ValueError, KeyError, TypeError) as e:
                ok, msg = False, f"{type(e).__name__}: {_short(str(e), 200)}"
            t_end = time.monotonic()
            with self._lock:
                if ok:
                    self._reads_ok.append((kind, t_start, t_end, url))
                    if stale:
                        self._stale.append(Stale(kind, t_start, t_end, url, stale))
                else:
                    self._failures.append(Failure(kind, t_start, t_end, url, status, msg))
            pause = self.read_pause if ok else max(self.read_pause, self.failure_pause)
            if pause:
                time.sleep(pause)


# ---------------------------------------------------------------------------------- checker
def replica_states(url: str, collection: str, timeout: float = 5.0) -> dict[int, dict[int, str]]:
    """{shard_id: {peer_id: state}} as the peer at `url` sees it (local + remote replicas)."""
    r = requests.get(f"{url}/collections/{collection}/cluster", timeout=timeout)
    r.raise_for_status()
    info = r.json()["result"]
    out: dict[int, dict[int, str]] = {}
    for s in info["local_shards"]:
        out.setdefault(s["shard_id"], {})[info["peer_id"]] = s["state"]
    for s in info["remote_shards"]:
        out.setdefault(s["shard_id"], {})[s["peer_id"]] = s["state"]
    return out


def shard_digest(url: str, collection: str, shard_id: int, timeout: float = 5.0) -> dict:
    r = requests.get(f"{url}/collections/{collection}/shards/{shard_id}/digest", timeout=timeout)
    if r.status_code != 200:
        raise AssertionError(f"digest of shard {shard_id} via {url}: HTTP {r.status_code} {r.text[:300]}")
    return r.json()["result"]


def retrieve_payloads(url: str, collection: str, ids: list[int], chunk: int = 500,
                      timeout: float = 15.0) -> dict[int, Any]:
    got: dict[int, Any] = {}
    for k in range(0, len(ids), chunk):
        part = ids[k:k + chunk]
        r = requests.post(f"{url}/collections/{collection}/points",
                          json={"ids": part, "with_payload": True}, timeout=timeout)
        if r.status_code != 200:
            raise AssertionError(f"retrieve via {url}: HTTP {r.status_code} {r.text[:300]}")
        for p in r.json()["result"]:
            got[p["id"]] = p.get("payload")
    return got


@dataclass
class ReplicaReport:
    acked: int
    missing: list[int]
    wrong_payload: list[tuple[int, Any]]
    states: dict[int, dict[int, str]]
    digests: dict[int, dict[int, dict]]  # shard -> peer -> digest result (Active replicas only)
    digest_errors: list[str]
    mismatched_shards: list[int]

    def ok(self) -> bool:
        return not (self.missing or self.wrong_payload or self.digest_errors or self.mismatched_shards)

    def describe(self) -> str:
        lines = [f"{self.acked} acknowledged ids; missing {len(self.missing)}: {self.missing[:20]}; "
                 f"wrong payload {len(self.wrong_payload)}: {self.wrong_payload[:5]}"]
        for sid in sorted(self.states):
            reps = ", ".join(f"{pid}:{st}" for pid, st in sorted(self.states[sid].items()))
            ds = self.digests.get(sid, {})
            dd = ", ".join(f"{pid}:{d['digest']}/{d['points_count']}pts/seq{d['last_seq']}"
                           for pid, d in sorted(ds.items()))
            flag = "  <-- MISMATCH" if sid in self.mismatched_shards else ""
            lines.append(f"  shard {sid}: [{reps}] digests [{dd}]{flag}")
        lines += [f"  digest error: {e}" for e in self.digest_errors]
        return "\n".join(lines)

    def assert_ok(self) -> None:
        assert self.ok(), "replica check failed:\n" + self.describe()


def check_replicas(
    live_url: str,
    collection: str,
    acked_ids: list[int],
    urls_by_peer: dict[int, str],
    exclude_peers: Iterable[int] = (),
) -> ReplicaReport:
    """Every acknowledged id present (read via `live_url`) with payload {"n": id}; for every shard,
    all replicas `Active` in `live_url`'s view have equal digests (and point counts).

    `urls_by_peer` maps peer id → REST url of peers that can be asked for their digest; an Active
    replica on a peer in `exclude_peers` or missing from `urls_by_peer` (e.g. killed) is a
    digest error — Active replicas must be on live peers once faults have been detected."""
    excl = set(exclude_peers)
    got = retrieve_payloads(live_url, collection, acked_ids)
    missing = [i for i in acked_ids if i not in got]
    wrong = [(i, got[i]) for i in acked_ids if i in got and got[i] != {"n": i}]
    states = replica_states(live_url, collection)
    digests: dict[int, dict[int, dict]] = {}
    errors: list[str] = []
    mismatched: list[int] = []
    for sid, reps in sorted(states.items()):
        for pid, st in sorted(reps.items()):
            if st != "Active":
                continue
            url = urls_by_peer.get(pid)
            if url is None or pid in excl:
                errors.append(f"shard {sid}: replica on peer {pid} is Active but the peer is down/excluded")
                continue
            try:
                digests.setdefault(sid, {})[pid] = shard_digest(url, collection, sid)
            except (requests.RequestException, AssertionError) as e:
                errors.append(f"shard {sid} peer {pid}: {e}")
        ds = digests.get(sid, {})
        if len({(d["digest"], d["points_count"]) for d in ds.values()}) > 1:
            mismatched.append(sid)
    return ReplicaReport(len(acked_ids), missing, wrong, states, digests, errors, mismatched)


def wait_for_states(
    url: str, collection: str, pred: Callable[[dict[int, dict[int, str]]], bool],
    timeout: float = 10.0, interval: float = 0.05,
) -> float:
    """Poll `replica_states(url)` until `pred` holds; returns when (monotonic) it first held."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            st = replica_states(url, collection, timeout=2)
            if pred(st):
                return time.monotonic()
            last = st
        except (requests.RequestException, KeyError, ValueError) as e:
            last = e
        if time.monotonic() >= deadline:
            raise AssertionError(f"replica states via {url} did not reach the condition within "
                                 f"{timeout}s; last: {last}")
        time.sleep(interval)
