"""A peer removed from the cluster (`DELETE /cluster/peer/{id}?force=true`) stops: consensus
stopped (reported by `GET /cluster`), `/readyz` 503, no write and no read served, no elections
disturbing the peers left (design record 031). Removed while running, or while down and
started again.

Run: QUIVER_BIN=... .venv/bin/pytest -q tests/python/test_removed_peer.py
"""

from __future__ import annotations

import pytest

from cluster_harness import Peer, result, wait_until

COLL = "removed_c"
VEC = {"size": 4, "distance": "Dot"}
REMOVED = "was removed from the cluster"


def replicas(peer: Peer) -> list[tuple[int, int, str]]:
    info = peer.collection_cluster(COLL)
    out = [(s["shard_id"], info["peer_id"], s["state"]) for s in info["local_shards"]]
    out += [(s["shard_id"], s["peer_id"], s["state"]) for s in info["remote_shards"]]
    return sorted(out)


def all_active(peers: list[Peer], expected: int) -> bool:
    views = [replicas(p) for p in peers]
    return all(v == views[0] for v in views) and len(views[0]) == expected and all(
        s == "Active" for _, _, s in views[0])


def upsert(peer: Peer, ids: range) -> None:
    points = [{"id": i, "vector": [1.0, float(i), 0.0, 0.5]} for i in ids]
    assert result(peer.put(f"/collections/{COLL}/points", json={"points": points},
                           params={"wait": "true"})) is not None


def ids_present(peer: Peer, ids: list[int]) -> list[int]:
    found = result(peer.post(f"/collections/{COLL}/points", json={"ids": ids}))
    return sorted(p["id"] for p in found)


def three_peers_with_data(cluster_factory):
    c = cluster_factory(3)
    body = {"vectors": VEC, "shard_number": 3, "replication_factor": 2}
    assert result(c.peer(0).put(f"/collections/{COLL}", json=body)) is True
    wait_until(lambda: all_active(c.peers, 6), timeout=30, desc="every replica Active")
    upsert(c.peer(0), range(30))
    return c


def says_removed(peer: Peer):
    """`GET /cluster` on `peer` reports its consensus `stopped`, as Qdrant reports a removed peer
    (exactly that: no error, no `last_update`); why is in the 503 of what it refuses."""
    try:
        info = peer.cluster_info(timeout=2)
    except Exception:  # noqa: BLE001 - the peer may still be starting
        return None
    status = info["consensus_thread_status"]
    if status == {"consensus_thread_status": "stopped"}:
        return info
    return None


def assert_refused(resp, what: str) -> None:
    assert resp.status_code == 503, f"{what}: {resp.status_code} {resp.text}"
    assert REMOVED in resp.json()["status"]["error"], f"{what}: {resp.text}"


def check_removed_peer_stopped(victim: Peer, rest: list[Peer]) -> None:
    """The removed peer refuses everything; the peers left run undisturbed."""
    info = wait_until(lambda: says_removed(victim), timeout=20, desc="removed peer reports its removal")
    assert info["raft_info"]["role"] is None and info["raft_info"]["leader"] is None, info
    assert info["raft_info"]["is_voter"] is False, info
    ready = victim.get("/readyz")
    assert ready.status_code == 503, ready.text

    # A write sent to the removed peer is refused and reaches no peer of the cluster.
    write = victim.put(f"/collections/{COLL}/points", params={"wait": "true"},
                       json={"points": [{"id": 1000, "vector": [1.0, 1.0, 1.0, 1.0]}]})
    assert_refused(write, "write on the removed peer")
    for p in rest:
        assert ids_present(p, [1000]) == [], f"peer {p.peer_id} got the removed peer's write"
    # Reads of its (former) replicas are refused, and so is a metadata operation.
    assert_refused(victim.post(f"/collections/{COLL}/points/scroll", json={"limit": 100}), "scroll")
    assert_refused(victim.post(f"/collections/{COLL}/points/count", json={"exact": True}), "count")
    assert_refused(victim.post(f"/collections/{COLL}/points", json={"ids": [1, 2, 3]}), "retrieve")
    created = victim.put("/collections/from_removed", json={"vectors": VEC}, params={"timeout": 2})
    assert_refused(created, "create collection on the removed peer")

    # The peers left (once they agree on a leader among them: a removed leader leaves) keep their
    # leader and term while serving writes; the removed peer's term is frozen (it takes part in
    # no election).
    ids = {p.peer_id for p in rest}
    wait_until(lambda: len({p.raft()["leader"] for p in rest} | ids) == len(ids), timeout=15,
               desc="a leader among the peers left")
    terms = {p.peer_id: p.raft()["term"] for p in rest}
    leaders = {p.peer_id: p.raft()["leader"] for p in rest}
    victim_term = victim.cluster_info()["raft_info"]["term"]
    for n in range(10):
        upsert(rest[n % len(rest)], range(200 + 5 * n, 205 + 5 * n))
    assert {p.peer_id: p.raft()["term"] for p in rest} == terms
    assert {p.peer_id: p.raft()["leader"] for p in rest} == leaders
    assert victim.cluster_info()["raft_info"]["term"] == victim_term
    assert says_removed(victim) is not None
    for p in rest:
        assert str(victim.peer_id) not in p.cluster_info()["peers"]
        assert ids_present(p, [0, 29, 200, 249]) == [0, 29, 200, 249]
    assert victim.get("/readyz").status_code == 503


@pytest.mark.parametrize("which", ["follower", "leader"])
def test_live_peer_removed_by_force_stops(cluster_factory, which):
    c = three_peers_with_data(cluster_factory)
    leader = c.leader_id()
    victim = next(p for p in c.peers if (p.peer_id == leader) == (which == "leader"))
    rest = [p for p in c.peers if p is not victim]
    removed = rest[0].delete(f"/cluster/peer/{victim.peer_id}", params={"force": "true", "timeout": 10})
    assert result(removed) is True
    wait_until(lambda: all(str(victim.peer_id) not in p.cluster_info()["peers"] for p in rest),
               timeout=15, desc="the peers left dropped the removed peer")
    check_removed_peer_stopped(victim, rest)


def test_peer_removed_while_down_stops_when_started(cluster_factory):
    c = three_peers_with_data(cluster_factory)
    leader = c.leader_id()
    victim = next(p for p in c.peers if p.peer_id != leader)
    rest = [p for p in c.peers if p is not victim]
    victim.kill()
    wait_until(lambda: result(rest[0].delete(f"/cluster/peer/{victim.peer_id}",
                                             params={"force": "true", "timeout": 5})) is True,
               timeout=30, desc="peer removed while down")
    upsert(rest[1], range(100, 110))  # data the removed peer never saw

    # Started again, it learns from the others that it was removed.
    victim.start(wait_ready=False)
    check_removed_peer_stopped(victim, rest)

    # And it remembers: started once more, it is stopped from the start.
    victim.stop()
    victim.start(wait_ready=False)
    wait_until(lambda: victim.get("/readyz").status_code == 503 and says_removed(victim), timeout=20,
               desc="removed peer up again")
    assert_refused(victim.post(f"/collections/{COLL}/points/scroll", json={"limit": 100}), "scroll after restart")
    assert ids_present(rest[0], [100, 109]) == [100, 109]


def test_removed_peer_joins_again_with_reinit(cluster_factory):
    """`--reinit --bootstrap` keeps the peer id: the removed id becomes a member again."""
    c = three_peers_with_data(cluster_factory)
    leader = c.leader_id()
    victim = next(p for p in c.peers if p.peer_id != leader)
    rest = [p for p in c.peers if p is not victim]
    assert result(rest[0].delete(f"/cluster/peer/{victim.peer_id}", params={"force": "true"})) is True
    wait_until(lambda: says_removed(victim), timeout=20, desc="removed peer reports its removal")
    victim.stop()
    victim.extra_args = ["--reinit"]
    victim.restart_bootstrap = rest[0].uri
    victim.start()
    info = wait_until(lambda: victim.cluster_info()["consensus_thread_status"]["consensus_thread_status"] == "working"
                      and victim.cluster_info(), timeout=20, desc="the peer runs consensus again")
    assert info["peer_id"] == victim.peer_id
    wait_until(lambda: all(str(victim.peer_id) in p.cluster_info()["peers"] for p in c.peers), timeout=20,
               desc="every peer lists it again")
    ids = {p.peer_id for p in c.peers}
    wait_until(lambda: all(p.raft()["leader"] in ids for p in c.peers), timeout=15, desc="one leader")
    assert victim.raft()["is_voter"] is True
    assert ids_present(victim, [0, 29]) == [0, 29]
