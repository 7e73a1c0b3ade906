"""Errors raised where the data lives reach the client unchanged whichever peer the request
entered (issue 14: typed peer protocol). A 2-peer cluster with 4 shards and rf 1, so half the
points live on the other peer: every request below must give the same status and message
through both peers.

Collection info covers every shard whichever peer answers (design record 030): 3 peers, 3
shards, rf 2, so no peer holds every shard; `points_count`, `indexed_vectors_count` and
`segments_count` are the same through every peer, over REST and gRPC, and stay so while a peer
is down; with rf 1 a shard whose only replica is down is left out instead of failing the info.

Run: .venv/bin/pytest -q tests/python/test_peer_errors.py
"""

from __future__ import annotations

import time

from qdrant_client import QdrantClient

from cluster_harness import result, wait_until
from replication_load import replica_states

COLL = "errs"


def body_of(resp) -> tuple[int, str | None]:
    try:
        status = resp.json().get("status")
    except ValueError:
        return resp.status_code, resp.text
    return resp.status_code, status.get("error") if isinstance(status, dict) else status


def test_data_errors_are_the_same_through_every_peer(cluster_factory):
    c = cluster_factory(2)
    a, b = c.peer(0), c.peer(1)
    body = {"vectors": {"size": 4, "distance": "Dot"}, "shard_number": 4, "replication_factor": 1}
    assert result(a.put(f"/collections/{COLL}", json=body)) is True
    wait_until(lambda: sum(len(r) for r in replica_states(a.url, COLL).values()) == 4, timeout=15)
    points = [{"id": i, "vector": [1, 0, 0, float(i)], "payload": {"n": i}} for i in range(1, 41)]
    result(a.put(f"/collections/{COLL}/points", json={"points": points}, params={"wait": "true"}))
    owners = {s: next(iter(reps)) for s, reps in replica_states(a.url, COLL).items()}
    assert len(set(owners.values())) == 2, f"every shard on one peer: {owners}"
    missing = list(range(1000, 1016))  # spread over all shards
    requests = [
        ("PUT", f"/collections/{COLL}/points/vectors",
         {"points": [{"id": i, "vector": [0, 1, 0, 0]} for i in missing]}),
        ("POST", f"/collections/{COLL}/points/payload", {"payload": {"x": 1}, "points": missing}),
        ("PUT", f"/collections/{COLL}/points/payload", {"payload": {"x": 1}, "points": missing}),
        ("POST", f"/collections/{COLL}/points/vectors/delete", {"points": missing, "vector": [""]}),
    ]
    for i in missing:
        requests.append(("PUT", f"/collections/{COLL}/points/vectors",
                         {"points": [{"id": i, "vector": [0, 1, 0, 0]}]}))
        requests.append(("POST", f"/collections/{COLL}/points/payload", {"payload": {"x": 1}, "points": [i]}))
    for method, path, req in requests:
        answers = {p.index: body_of(p.request(method, path, json=req, params={"wait": "true"})) for p in (a, b)}
        assert answers[0] == answers[1], f"{method} {path} {req}: {answers}"
        status, message = answers[0]
        assert 400 <= status < 500, f"{method} {path}: {answers[0]}"
        assert "No point with id" in (message or ""), answers[0]
    # Nothing changed: every point still has its payload and no x.
    got = result(b.post(f"/collections/{COLL}/points/scroll", json={"limit": 100, "with_payload": True}))
    assert {p["id"]: p["payload"] for p in got["points"]} == {i: {"n": i} for i in range(1, 41)}


N_POINTS = 300  # ~100 per shard: 4-dim vectors past an indexing threshold of 1 KB


def _info_collection(c, name: str, rf: int) -> None:
    """`name` with 3 shards at `rf`, N_POINTS points, every replica Active and indexed."""
    a = c.peer(0)
    body = {"vectors": {"size": 4, "distance": "Dot"}, "shard_number": 3, "replication_factor": rf,
            "optimizers_config": {"indexing_threshold": 1}}
    assert result(a.put(f"/collections/{name}", json=body)) is True
    def all_active():
        states = replica_states(a.url, name)
        return len(states) == 3 and all(
            len(r) == rf and set(r.values()) == {"Active"} for r in states.values())
    wait_until(all_active, timeout=20, desc="every replica Active")
    points = [{"id": i, "vector": [1.0, float(i % 7), float(i % 11), 0.5]} for i in range(N_POINTS)]
    result(a.put(f"/collections/{name}/points", json={"points": points}, params={"wait": "true"}))
    # Each peer's status reflects its own indexers: green on every peer, every replica indexed.
    for p in c.peers:
        wait_until(lambda: result(p.get(f"/collections/{name}"))["status"] == "green", timeout=60,
                   desc=f"indexed on {p!r}")


def _figures(info: dict) -> tuple:
    return info["points_count"], info["indexed_vectors_count"], info["segments_count"]


def test_collection_info_counts_every_shard_through_every_peer(cluster_factory):
    c = cluster_factory(3)
    _info_collection(c, "info", rf=2)
    holders = [{s["shard_id"] for s in p.collection_cluster("info")["local_shards"]} for p in c.peers]
    assert all(len(h) < 3 for h in holders), f"a peer holds every shard: {holders}"
    rest = [_figures(result(p.get("/collections/info"))) for p in c.peers]
    assert rest == [(N_POINTS, N_POINTS, 3)] * 3, rest
    for p in c.peers:
        client = QdrantClient(url=p.url, grpc_port=p.grpc_port, prefer_grpc=True, timeout=30,
                              check_compatibility=False)
        try:
            info = client.get_collection("info")
            assert (info.points_count, info.indexed_vectors_count, info.segments_count) == (N_POINTS, N_POINTS, 3)
            assert client.count("info").count == N_POINTS
        finally:
            client.close()
    # A peer down: each of its shards has another replica, so the survivors still count all.
    c.peer(2).kill()
    for p in c.peers[:2]:
        started = time.monotonic()
        assert _figures(result(p.get("/collections/info"))) == (N_POINTS, N_POINTS, 3)
        assert time.monotonic() - started < 10, "info waited on the down peer"


def test_collection_info_leaves_out_a_shard_whose_only_replica_is_down(cluster_factory):
    c = cluster_factory(3)
    _info_collection(c, "lone", rf=1)
    held = {s["shard_id"]: s["points_count"] for s in c.peer(2).collection_cluster("lone")["local_shards"]}
    assert 1 <= len(held) < 3, f"the victim should hold some but not all shards: {held}"
    for p in c.peers:
        assert result(p.get("/collections/lone"))["points_count"] == N_POINTS
    c.peer(2).kill()
    lost = sum(held.values())
    for p in c.peers[:2]:
        info = result(p.get("/collections/lone"))
        assert (info["points_count"], info["indexed_vectors_count"]) == (N_POINTS - lost,) * 2, info
