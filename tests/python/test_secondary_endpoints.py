"""Qdrant's secondary REST endpoints (design record 046): reads of one shard by id, the cleanup
of points a shard should not hold, `truncate_unapplied_wal`, the runtime logger, and the
diagnostic endpoints answered as Qdrant's open-source build answers without the facility.
Real processes: standalone servers, and a 2-peer cluster for reads and cleanup across peers."""

from __future__ import annotations

import uuid

import requests

from cluster_harness import result, wait_until
from qhelpers import Rest
from replication_load import replica_states, shard_digest

VEC = {"size": 2, "distance": "Dot"}


def points(ids, tag="x"):
    return {"points": [{"id": i, "vector": [1.0, float(i)], "payload": {"tag": tag, "n": i}} for i in ids]}


def new_collection(rest: Rest, shards: int, ids) -> str:
    name = f"sec_{uuid.uuid4().hex[:8]}"
    rest.ok("PUT", f"/collections/{name}", json={"vectors": VEC, "shard_number": shards})
    rest.ok("PUT", f"/collections/{name}/points?wait=true", json=points(ids))
    return name


def shard_ids(url: str, name: str, shard: int, **body) -> list[int]:
    """Every id of shard `shard`, paged through `…/shards/{id}/points/scroll`."""
    got, offset = [], None
    while True:
        page = {"limit": 7, "with_payload": False, **body, **({"offset": offset} if offset is not None else {})}
        r = requests.post(f"{url}/collections/{name}/shards/{shard}/points/scroll", json=page, timeout=10)
        res = result(r)
        got += [p["id"] for p in res["points"]]
        offset = res["next_page_offset"]
        if offset is None:
            return got


def shard_count(url: str, name: str, shard: int, **body) -> int:
    r = requests.post(f"{url}/collections/{name}/shards/{shard}/points/count", json=body, timeout=10)
    return result(r)["count"]


def test_shard_reads_partition_the_collection(server):
    rest = Rest(server.url)
    name = new_collection(rest, 3, range(1, 61))
    by_shard = {s: shard_ids(server.url, name, s) for s in range(3)}
    every = sorted(i for ids in by_shard.values() for i in ids)
    assert every == list(range(1, 61)), "each point is in exactly one shard"
    assert all(ids == sorted(ids) and ids for ids in by_shard.values()), by_shard
    for s, ids in by_shard.items():
        assert shard_count(server.url, name, s) == len(ids)
        assert shard_count(server.url, name, s, hash_ring_filter={"expected_shard_id": s}) == len(ids)
        other = (s + 1) % 3
        assert shard_count(server.url, name, s, hash_ring_filter={"expected_shard_id": other}) == 0
        assert shard_ids(server.url, name, s, hash_ring_filter={"expected_shard_id": s}) == ids
        assert shard_ids(server.url, name, s, hash_ring_filter={"expected_shard_id": other}) == []
        small = [i for i in ids if i <= 30]
        f = {"must": [{"key": "n", "range": {"lte": 30}}]}
        assert shard_count(server.url, name, s, filter=f) == len(small)
        assert shard_ids(server.url, name, s, filter=f) == small
        # Retrieval from one shard returns that shard's points only, in the order asked.
        asked = list(reversed(range(1, 61)))
        got = rest.ok("POST", f"/collections/{name}/shards/{s}/points", json={"ids": asked, "with_vector": True})
        assert [p["id"] for p in got] == [i for i in asked if i in ids]
        assert all(p["vector"] == [1.0, float(p["id"])] and p["payload"]["tag"] == "x" for p in got)


def test_shard_reads_refuse_what_qdrant_refuses(server):
    rest = Rest(server.url)
    name = new_collection(rest, 2, range(1, 11))
    for path in ("points", "points/scroll", "points/count"):
        r = rest.post(f"/collections/{name}/shards/7/{path}", json={"ids": [1]} if path == "points" else {})
        assert r.status_code == 404 and r.json()["status"]["error"] == "Not found: shard 7", r.text
    r = rest.post(f"/collections/{name}/shards/0/points/count", json={"hash_ring_filter": {"expected_shard_id": 9}})
    assert r.status_code == 400, r.text
    assert r.json()["status"]["error"] == f"Bad request: shard 9 does not exist in collection {name}"
    r = rest.post(f"/collections/{name}/shards/0/points/scroll", json={"limit": 0})
    assert r.status_code == 422, r.text
    rest.ok("PUT", f"/collections/{name}/index?wait=true", json={"field_name": "n", "field_schema": "integer"})
    ordered = rest.ok("POST", f"/collections/{name}/shards/0/points/scroll",
                      json={"order_by": {"key": "n", "direction": "desc"}, "limit": 3})
    ns = [p["payload"]["n"] for p in ordered["points"]]
    assert ns == sorted(ns, reverse=True) and ordered["next_page_offset"] is None, ordered
    both = {"order_by": "n", "hash_ring_filter": {"expected_shard_id": 0}}
    assert rest.post(f"/collections/{name}/shards/0/points/scroll", json=both).status_code == 400
    r = rest.post(f"/collections/nope_{uuid.uuid4().hex[:6]}/shards/0/points/count", json={})
    assert r.status_code == 404, r.text


def test_cleanup_deletes_the_points_of_a_snapshot_recovered_into_the_wrong_shard(server):
    rest = Rest(server.url)
    name = new_collection(rest, 2, range(1, 41))
    own = {s: shard_ids(server.url, name, s) for s in range(2)}
    base = f"{server.url}/collections/{name}/shards"
    snap = result(requests.post(f"{base}/0/snapshots", timeout=30))["name"]
    data = requests.get(f"{base}/0/snapshots/{snap}", timeout=30).content
    r = requests.post(f"{base}/1/snapshots/upload", files={"snapshot": ("s", data)}, timeout=60)
    assert r.status_code == 200, r.text
    assert shard_ids(server.url, name, 1) == own[0], "shard 1 now holds shard 0's points"
    assert shard_count(server.url, name, 1, hash_ring_filter={"expected_shard_id": 1}) == 0

    r = rest.post(f"/collections/{name}/shards/1/cleanup?wait=true&timeout=30")
    assert r.status_code == 200, r.text
    assert r.json()["result"] == {"operation_id": None, "status": "completed"}
    assert shard_count(server.url, name, 1) == 0
    assert shard_ids(server.url, name, 0) == own[0], "the shard they belong to keeps them"
    assert rest.ok("POST", f"/collections/{name}/points/count", json={})["count"] == len(own[0])

    # Without `wait` the cleanup is acknowledged; unknown shards are Qdrant's 404.
    r = rest.post(f"/collections/{name}/shards/0/cleanup")
    assert r.status_code == 200 and r.json()["result"]["status"] == "acknowledged", r.text
    r = rest.post(f"/collections/{name}/shards/5/cleanup?wait=true")
    assert r.status_code == 404 and r.json()["status"]["error"] == "Not found: Shard 5 not found", r.text
    assert rest.post(f"/collections/{name}/shards/0/cleanup?timeout=0").status_code == 400


def test_shard_reads_and_cleanup_in_a_two_peer_cluster(cluster_factory):
    c = cluster_factory(2)
    a, b = c.peers
    name = "sec_cluster"
    assert result(a.put(f"/collections/{name}", json={"vectors": VEC, "shard_number": 2})) is True

    def placed():
        states = replica_states(a.url, name, timeout=3)
        return len(states) == 2 and all(list(r.values()) == ["Active"] for r in states.values()) and states

    states = wait_until(placed, timeout=30, desc="two shards, one replica each, Active")
    assert result(a.put(f"/collections/{name}/points?wait=true", json=points(range(1, 51)))) is not None
    holder = {s: next(iter(r)) for s, r in states.items()}
    ids_seen = {}
    for shard in range(2):
        # Either peer reads the shard, from its replica wherever it is (Qdrant's shard selector).
        from_a, from_b = shard_ids(a.url, name, shard), shard_ids(b.url, name, shard)
        assert from_a == from_b and from_a, (shard, from_a, from_b)
        ids_seen[shard] = from_a
    assert sorted(ids_seen[0] + ids_seen[1]) == list(range(1, 51))

    peers = {a.peer_id: a, b.peer_id: b}
    for shard, peer_id in holder.items():
        other = a if peers[peer_id] is b else b
        r = other.post(f"/collections/{name}/shards/{shard}/cleanup?wait=true")
        assert r.status_code == 404, r.text
        assert r.json()["status"]["error"] == f"Not found: Shard {shard} is not a local shard"
        r = peers[peer_id].post(f"/collections/{name}/shards/{shard}/cleanup?wait=true")
        assert r.status_code == 200 and r.json()["result"]["status"] == "completed", r.text
        assert shard_digest(peers[peer_id].url, name, shard)["points_count"] == len(ids_seen[shard])


def test_cleanup_through_the_primary_cleans_every_replica(cluster_factory):
    c = cluster_factory(2)
    a, b = c.peers
    name = "sec_replicated"
    body = {"vectors": VEC, "shard_number": 2, "replication_factor": 2}
    assert result(a.put(f"/collections/{name}", json=body)) is True

    def active():
        states = replica_states(a.url, name, timeout=3)
        return len(states) == 2 and all(sorted(r.values()) == ["Active", "Active"] for r in states.values())

    wait_until(active, timeout=40, desc="two shards, two Active replicas each")
    assert result(a.put(f"/collections/{name}/points?wait=true", json=points(range(1, 31)))) is not None
    own0 = shard_ids(a.url, name, 0)
    # Shard 1's replicas take shard 0's snapshot (recovered at the cluster's priority).
    base = f"/collections/{name}/shards"
    snap = result(a.post(f"{base}/0/snapshots"))["name"]
    data = a.get(f"{base}/0/snapshots/{snap}").content
    r = requests.post(f"{a.url}{base}/1/snapshots/upload", files={"snapshot": ("s", data)}, timeout=60)
    assert r.status_code == 200, r.text
    wait_until(active, timeout=40, desc="replicas Active again after the recovery")
    wait_until(lambda: all(shard_digest(p.url, name, 1)["points_count"] == len(own0) for p in (a, b)),
               timeout=40, desc="both replicas of shard 1 hold shard 0's points")

    r = b.post(f"{base}/1/cleanup?wait=true&timeout=60")
    assert r.status_code == 200 and r.json()["result"]["status"] == "completed", r.text
    wait_until(lambda: all(shard_digest(p.url, name, 1)["points_count"] == 0 for p in (a, b)),
               timeout=20, desc="the delete reached both replicas")
    assert shard_digest(a.url, name, 1)["digest"] == shard_digest(b.url, name, 1)["digest"]
    assert result(a.post(f"/collections/{name}/points/count", json={}))["count"] == len(own0)


def test_truncate_unapplied_wal_finds_nothing_pending(server):
    rest = Rest(server.url)
    name = new_collection(rest, 1, range(1, 6))
    assert rest.ok("POST", f"/collections/{name}/truncate_unapplied_wal") == 0
    r = rest.post(f"/collections/{name}/truncate_unapplied_wal?wait=false")
    assert r.status_code == 202 and r.json()["status"] == "accepted", r.text
    r = rest.post(f"/collections/nope_{uuid.uuid4().hex[:6]}/truncate_unapplied_wal")
    assert r.status_code == 404, r.text
    assert rest.ok("POST", f"/collections/{name}/points/count", json={})["count"] == 5


def test_logger_changes_the_log_filter_at_run_time(server_factory):
    srv = server_factory()
    rest = Rest(srv.url)
    config = rest.ok("GET", "/logger")
    assert config["log_level"].lower() == "info" and config["on_disk"]["enabled"] is None, config

    def debug_lines() -> int:
        return srv.log_path.read_bytes().count(b"DEBUG")

    new_collection(rest, 2, range(1, 3))
    assert debug_lines() == 0
    assert rest.ok("POST", "/logger", json={"log_level": "debug"}) is True
    assert rest.ok("GET", "/logger")["log_level"] == "debug"
    new_collection(rest, 2, range(1, 3))  # opening shards logs at debug
    wait_until(lambda: debug_lines() > 0, timeout=10, desc="debug lines in the log")
    assert rest.ok("POST", "/logger", json={"log_level": "warn"}) is True
    seen = debug_lines()
    new_collection(rest, 2, range(1, 3))
    assert debug_lines() == seen

    for bad in ({"log_level": "info,[[["}, {"color": "enable"}, {"span_events": ["close"]},
                {"on_disk": {"enabled": True}}):
        r = rest.post("/logger", json=bad)
        assert r.status_code == 400, (bad, r.text)
    assert rest.post("/logger", json={"color": "purple"}).status_code == 400
    assert rest.ok("GET", "/logger")["log_level"] == "warn", "a refused body changes nothing"


def test_diagnostics_answer_as_qdrant_without_the_facility(server):
    rest = Rest(server.url)
    assert rest.ok("GET", "/stacktrace") == {"threads": []}
    assert rest.ok("GET", "/profiler/slow_requests?limit=5&request=search") == {"requests": []}
    assert rest.ok("GET", "/debugger") == {"pyroscope": None}
    assert rest.ok("PATCH", "/debugger", json={"pyroscope": None}) is False
    r = rest.post("/audit/logs", json={"limit": 10})
    assert r.status_code == 400 and r.json()["status"]["error"] == "Bad request: Audit logging is not configured"
    assert rest.get("/profiler/slow_requests?limit=x").status_code == 400
