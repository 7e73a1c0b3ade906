"""Small helpers shared by the e2e tests (raw REST calls, envelope checks, brute force)."""

from __future__ import annotations

import time
from typing import Any, Callable

import numpy as np
import requests

TIMEOUT = 30


class Rest:
    """Thin wrapper over `requests` bound to a server URL."""

    def __init__(self, url: str):
        self.url = url.rstrip("/")
        self.s = requests.Session()

    def req(self, method: str, path: str, **kw) -> requests.Response:
        kw.setdefault("timeout", TIMEOUT)
        return self.s.request(method, self.url + path, **kw)

    def get(self, path: str, **kw):
        return self.req("GET", path, **kw)

    def put(self, path: str, **kw):
        return self.req("PUT", path, **kw)

    def post(self, path: str, **kw):
        return self.req("POST", path, **kw)

    def patch(self, path: str, **kw):
        return self.req("PATCH", path, **kw)

    def delete(self, path: str, **kw):
        return self.req("DELETE", path, **kw)

    def raw(self, method: str, path: str, data: bytes | str, content_type="application/json"):
        return self.req(method, path, data=data, headers={"Content-Type": content_type})

    # -- convenience wrappers that assert success and return `result`
    def ok(self, method: str, path: str, **kw) -> Any:
        r = self.req(method, path, **kw)
        assert r.status_code == 200, f"{method} {path} -> {r.status_code}: {r.text[:500]}"
        return assert_ok_envelope(r)


def describe(r: requests.Response) -> str:
    req = r.request
    body = req.body
    if isinstance(body, bytes):
        body = body[:300].decode("utf-8", "replace")
    elif isinstance(body, str):
        body = body[:300]
    return f"{req.method} {req.url} body={body!r} -> HTTP {r.status_code}: {r.text[:500]}"


def assert_ok_envelope(r: requests.Response) -> Any:
    """Check `{"result": ..., "status": "ok", "time": float}` and return result."""
    assert r.status_code == 200, describe(r)
    assert r.headers.get("content-type", "").startswith("application/json"), (
        f"content-type {r.headers.get('content-type')!r}; " + describe(r)
    )
    body = r.json()
    assert isinstance(body, dict), describe(r)
    assert body.get("status") == "ok", describe(r)
    assert "result" in body, describe(r)
    assert isinstance(body.get("time"), (int, float)) and not isinstance(body["time"], bool), describe(r)
    assert body["time"] >= 0, describe(r)
    return body["result"]


def assert_error(
    r: requests.Response,
    status: int | tuple[int, ...],
    contains: str | None = None,
) -> str:
    """Check an error response: HTTP status and `{"status": {"error": str}, "time": ...}`, no result."""
    statuses = (status,) if isinstance(status, int) else status
    assert r.status_code in statuses, f"expected HTTP {statuses}; " + describe(r)
    try:
        body = r.json()
    except ValueError:
        raise AssertionError("error body is not JSON; " + describe(r))
    assert isinstance(body, dict), describe(r)
    assert "result" not in body, "error envelope must not contain `result`; " + describe(r)
    st = body.get("status")
    assert isinstance(st, dict) and isinstance(st.get("error"), str), (
        "expected status: {error: str}; " + describe(r)
    )
    assert isinstance(body.get("time"), (int, float)), "missing numeric `time`; " + describe(r)
    if contains is not None:
        assert contains in st["error"], f"error message lacks {contains!r}; " + describe(r)
    return st["error"]


def wait_until(cond: Callable[[], Any], timeout: float = 15.0, interval: float = 0.05, what: str = "condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = cond()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last value {last!r})")


def wait_green_indexed(client, name: str, n: int, timeout: float = 60.0):
    """The collection's info once every one of its `n` vectors is indexed and it is green."""
    from qdrant_client import models

    def indexed():
        info = client.get_collection(name)
        ok = info.indexed_vectors_count == n and info.status == models.CollectionStatus.GREEN
        return info if ok else None
    return wait_until(indexed, timeout=timeout, what=f"{n} vectors of {name} indexed")


# --------------------------------------------------------------------------- scoring

def brute_force(distance: str, query: np.ndarray, vectors: np.ndarray) -> tuple[np.ndarray, bool]:
    """Return (scores, higher_is_better) the way Qdrant reports them."""
    q = np.asarray(query, dtype=np.float64)
    v = np.asarray(vectors, dtype=np.float64)
    if distance == "Cosine":
        qn = q / np.linalg.norm(q)
        vn = v / np.linalg.norm(v, axis=1, keepdims=True)
        return vn @ qn, True
    if distance == "Dot":
        return v @ q, True
    if distance == "Euclid":
        return np.sqrt(((v - q) ** 2).sum(axis=1)), False
    if distance == "Manhattan":
        return np.abs(v - q).sum(axis=1), False
    raise ValueError(distance)


def expected_top(distance: str, query, vectors, ids, k: int, offset: int = 0):
    scores, higher = brute_force(distance, query, vectors)
    order = np.argsort(-scores if higher else scores, kind="stable")
    sel = order[offset : offset + k]
    return [(ids[i], float(scores[i])) for i in sel], scores, higher


def check_ranking(got: list[tuple[Any, float]], distance: str, query, vectors, ids, k: int, offset: int = 0, tol: float = 1e-3):
    """Compare server hits against brute force, tolerating ties within `tol`."""
    exp, scores, higher = expected_top(distance, query, vectors, ids, k, offset)
    assert len(got) == len(exp), f"expected {len(exp)} hits, got {len(got)}"
    score_by_id = {ids[i]: float(scores[i]) for i in range(len(ids))}
    # Scores are the exact values for each returned id
    for pid, s in got:
        assert pid in score_by_id, f"unknown id {pid} returned"
        assert abs(s - score_by_id[pid]) <= tol * max(1.0, abs(score_by_id[pid])), (
            f"{distance}: id {pid} score {s} != numpy {score_by_id[pid]}"
        )
    # Scores are sorted in the right direction
    got_scores = [s for _, s in got]
    for a, b in zip(got_scores, got_scores[1:]):
        if higher:
            assert a >= b - tol, f"{distance}: scores not descending: {got_scores}"
        else:
            assert a <= b + tol, f"{distance}: scores not ascending: {got_scores}"
    # The k-th best scores match brute force (ids may differ only among ties)
    for (eid, es), (gid, gs) in zip(exp, got):
        assert abs(es - gs) <= tol * max(1.0, abs(es)), (
            f"{distance}: rank mismatch expected {(eid, es)} got {(gid, gs)}; full got={got} exp={exp}"
        )


def mapped_files(srv) -> list[str]:
    """The server process's mapped scratch files (`on_disk` vectors and payloads; unnamed, so
    listed as deleted)."""
    with open(f"/proc/{srv.proc.pid}/maps") as f:
        return sorted({line.split(maxsplit=5)[-1].strip() for line in f if "/mapped/" in line})
