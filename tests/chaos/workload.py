"""The client workload: several threads issuing random operations against the live peers.

Operations (weights in `MIX`): upserts of 1–3 keys, deletes of 1–2 keys, payload updates by id
(1–2 keys) and by filter (``g == group``), reads by id at ``consistency=all`` and ``majority``,
scroll and exact count. Every operation is recorded in the `History` with its outcome (see
history.py). Requests are sent with a fresh connection each (so a refused connection is
certain: the request never reached a server) and a client timeout; the target peer is drawn
from `Targets`, which the nemesis keeps current (a peer that is down is not a target; a peer
back on a new address is a target under its new URL).
"""

from __future__ import annotations

import random
import threading
import time
from typing import Any

import requests

from history import History, Op

DIM = 4
MIX = [
    ("upsert", 30),
    ("delete", 10),
    ("set_payload", 12),
    ("set_payload_filter", 5),
    ("read_all", 16),
    ("read_majority", 12),
    ("scroll", 8),
    ("count", 7),
]


def vector_for(token: int, key: int) -> list[float]:
    return [1.0, (token % 97) / 97.0, (key % 89) / 89.0, ((token * 13 + key) % 83) / 83.0]


def _short(text: str, n: int = 240) -> str:
    text = text.replace("\n", " ")
    return text if len(text) <= n else text[:n] + "…"


def _error_message(resp: requests.Response) -> str:
    try:
        body = resp.json()
        st = body.get("status") if isinstance(body, dict) else None
        if isinstance(st, dict) and "error" in st:
            return _short(str(st["error"]))
    except ValueError:
        pass
    return _short(resp.text) or "<empty body>"


def _refused(e: Exception) -> bool:
    """The TCP connection was refused: nothing listened, the request was never sent."""
    text = repr(e)
    return "NewConnectionError" in text and ("Connection refused" in text or "Errno 111" in text)


class Targets:
    """The REST URLs the workload may use (peer index → URL), kept by the nemesis."""

    def __init__(self, urls: dict[int, str]):
        self._lock = threading.Lock()
        self._urls = dict(urls)

    def set(self, index: int, url: str) -> None:
        with self._lock:
            self._urls[index] = url

    def remove(self, index: int) -> None:
        with self._lock:
            self._urls.pop(index, None)

    def pick(self, rng: random.Random) -> str | None:
        with self._lock:
            urls = sorted(self._urls.values())
        return rng.choice(urls) if urls else None

    def all(self) -> dict[int, str]:
        with self._lock:
            return dict(self._urls)


def request(history: History, op: Op, method: str, path: str, *, json: Any = None,
            params: dict | None = None, timeout: float = 10.0, write: bool = False) -> Any:
    """Sends one request for `op` and completes it in `history`. Returns the envelope's
    `result` on success, else None."""
    op.timeout = timeout
    history.invoke(op)
    try:
        r = requests.request(method, op.url + path, json=json, params=params, timeout=(3.0, timeout))
    except requests.RequestException as e:
        if _refused(e):
            history.complete(op, "fail", definite=True, error=f"{type(e).__name__}: connection refused")
        else:
            history.complete(op, "unknown", error=f"{type(e).__name__}: {_short(str(e), 160)}")
        return None
    except Exception as e:  # noqa: BLE001 - anything else is an unknown outcome, never a crash
        history.complete(op, "unknown", error=f"{type(e).__name__}: {_short(str(e), 160)}")
        return None
    if r.status_code != 200:
        definite = (400 <= r.status_code < 500 and op.f in ("upsert", "delete") and len(op.keys) == 1)
        history.complete(op, "fail", status=r.status_code, definite=definite, error=_error_message(r))
        return None
    try:
        res = r.json()["result"]
        if write and not (isinstance(res, dict) and res.get("status") == "completed"):
            history.complete(op, "unknown", status=200, error=f"not completed: {_short(r.text)}")
            return None
    except (ValueError, KeyError, TypeError):
        history.complete(op, "unknown" if write else "fail", status=200,
                         error=f"unreadable body: {_short(r.text)}")
        return None
    history.complete(op, "ok", status=200)
    return res


class Workload:
    def __init__(self, collection: str, targets: Targets, history: History, *, seed: int,
                 keys: int = 48, groups: int = 4, threads: int = 4, timeout: float = 10.0,
                 pause: float = 0.01):
        self.collection = collection
        self.targets = targets
        self.history = history
        self.keys = list(range(1, keys + 1))
        self.groups = groups
        self.n_threads = threads
        self.timeout = timeout
        self.pause = pause
        self.seed = seed
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def group_keys(self, g: int) -> list[int]:
        return [k for k in self.keys if k % self.groups == g]

    def start(self) -> "Workload":
        for i in range(self.n_threads):
            t = threading.Thread(target=self._run, args=(i,), name=f"client-{i}", daemon=True)
            self._threads.append(t)
            t.start()
        return self

    def stop(self, join_timeout: float) -> list[str]:
        """Stops the threads; returns the names of threads still running after `join_timeout`."""
        self._stop.set()
        deadline = time.monotonic() + join_timeout
        for t in self._threads:
            t.join(timeout=max(0.0, deadline - time.monotonic()))
        return [t.name for t in self._threads if t.is_alive()]

    # ------------------------------------------------------------------ one client
    def _run(self, i: int) -> None:
        rng = random.Random(f"{self.seed}-client-{i}")
        kinds = [k for k, _ in MIX]
        weights = [w for _, w in MIX]
        base = f"/collections/{self.collection}/points"
        while not self._stop.is_set():
            url = self.targets.pick(rng)
            if url is None:
                time.sleep(0.05)
                continue
            kind = rng.choices(kinds, weights)[0]
            op = Op(id=self.history.next_id(), process=f"c{i}", f=kind, url=url)
            if kind == "upsert":
                op.keys = rng.sample(self.keys, rng.choice([1, 1, 2, 3]))
                pts = [{"id": k, "vector": vector_for(op.id, k), "payload": {"v": op.id, "g": k % self.groups}}
                       for k in op.keys]
                request(self.history, op, "PUT", base, json={"points": pts}, params={"wait": "true"},
                        timeout=self.timeout, write=True)
            elif kind == "delete":
                op.keys = rng.sample(self.keys, rng.choice([1, 1, 2]))
                request(self.history, op, "POST", base + "/delete", json={"points": op.keys},
                        params={"wait": "true"}, timeout=self.timeout, write=True)
            elif kind == "set_payload":
                op.keys = rng.sample(self.keys, rng.choice([1, 1, 1, 2]))
                request(self.history, op, "POST", base + "/payload",
                        json={"payload": {"p": op.id}, "points": op.keys},
                        params={"wait": "true"}, timeout=self.timeout, write=True)
            elif kind == "set_payload_filter":
                op.group = rng.randrange(self.groups)
                op.keys = self.group_keys(op.group)
                flt = {"must": [{"key": "g", "match": {"value": op.group}}]}
                request(self.history, op, "POST", base + "/payload",
                        json={"payload": {"p": op.id}, "filter": flt},
                        params={"wait": "true"}, timeout=self.timeout, write=True)
            elif kind in ("read_all", "read_majority"):
                op.f = "read"
                op.consistency = "all" if kind == "read_all" else "majority"
                op.keys = sorted(rng.sample(self.keys, rng.choice([1, 2, 3, 4])))
                res = request(self.history, op, "POST", base, json={"ids": op.keys, "with_payload": True},
                              params={"consistency": op.consistency}, timeout=self.timeout)
                if res is not None:
                    op.value = self._points_value(op, res, op.keys)
            elif kind == "scroll":
                res = request(self.history, op, "POST", base + "/scroll",
                              json={"limit": len(self.keys) + 16, "with_payload": True},
                              timeout=self.timeout)
                if res is not None:
                    op.value = self._points_value(op, res.get("points", []), None)
            else:  # count
                res = request(self.history, op, "POST", base + "/count", json={"exact": True},
                              timeout=self.timeout)
                if res is not None:
                    op.value = res.get("count")
            if self.pause:
                time.sleep(rng.uniform(0, self.pause))

    @staticmethod
    def _points_value(op: Op, points: Any, keys: list[int] | None) -> dict[int, Any]:
        out: dict[int, Any] = {k: None for k in keys} if keys is not None else {}
        for p in points or []:
            pid = p.get("id")
            payload = p.get("payload") or {}
            out[pid] = {"v": payload.get("v"), "p": payload.get("p")}
        return out


def read_state(url: str, collection: str, keys: list[int], consistency: str | None = "all",
               timeout: float = 10.0) -> dict[int, Any]:
    """The current state of `keys` (one request; raises on failure)."""
    params = {"consistency": consistency} if consistency else None
    r = requests.post(f"{url}/collections/{collection}/points", params=params,
                      json={"ids": keys, "with_payload": True}, timeout=timeout)
    if r.status_code != 200:
        raise RuntimeError(f"retrieve via {url} ({consistency}): HTTP {r.status_code} {_error_message(r)}")
    out: dict[int, Any] = {k: None for k in keys}
    for p in r.json()["result"]:
        payload = p.get("payload") or {}
        out[p["id"]] = {"v": payload.get("v"), "p": payload.get("p")}
    return out
