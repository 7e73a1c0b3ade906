"""Placement that takes care of itself (issue 17 §1–2, design record 012): the replication factor
kept after a peer is gone or removed and after PATCH, replicas balanced onto a new peer, peers
drained (and removed), with Qdrant's refusal of a peer that still holds replicas unchanged.

Every scenario runs under a `replication_load.Load` (writes and reads with every acknowledged
write checked) and ends comparing the digests of all `Active` replicas of each shard. Times are
printed (`-s`) for the closing note.

Run: .venv/bin/pytest -q tests/python/test_placement.py -s
"""

from __future__ import annotations

import time

from cluster_harness import Cluster, Peer, result, wait_until
from replication_load import Load, replica_states
from test_lifecycle import COLL, all_active, create_collection, final_checks, print_load

GRACE = {"QDRANT__CLUSTER__REPLICA_GRACE_PERIOD_SEC": "3"}


# ---------------------------------------------------------------------------------- helpers
def shards(peer: Peer) -> dict[int, dict[int, str]]:
    return replica_states(peer.url, COLL, timeout=2)


def at_factor(peer: Peer, rf: int, shard_number: int, off: set[int] = frozenset()) -> bool:
    """Every shard has exactly `rf` replicas, all `Active`, none on a peer in `off`."""
    states = shards(peer)
    return len(states) == shard_number and all(
        len(reps) == rf and all(s == "Active" for s in reps.values()) and not (set(reps) & off)
        for reps in states.values()
    )


def counts(peer: Peer, peer_ids: list[int]) -> list[int]:
    states = shards(peer)
    return [sum(1 for reps in states.values() if pid in reps) for pid in peer_ids]


def start_load(peers: list[Peer]) -> Load:
    load = Load(COLL, [p.url for p in peers], writers=2, write_timeout=10.0, read_timeout=10.0).start()
    load.wait_acks(10)
    return load


def finish(tag: str, load: Load, t0: float, peers: list[Peer]) -> None:
    load.wait_acks(len(load.acks_so_far()) + 10)
    rec = load.stop()
    print_load(tag, rec, t0)
    assert not rec.failures, f"{len(rec.failures)} failed requests: {rec.failures[:5]}"
    final_checks(tag, rec, peers)


def cluster_with(cluster_factory, n: int, shard_number: int, rf: int, env: dict | None = None) -> Cluster:
    c = cluster_factory(n, env=env or {})
    create_collection(c.peer(0), shard_number=shard_number, rf=rf)
    wait_until(lambda: all_active(c.peers, replicas=rf * shard_number), timeout=30, desc="replicas Active")
    return c


def drain_status(peer: Peer, peer_id: int) -> dict:
    return result(peer.get(f"/cluster/peer/{peer_id}/drain", timeout=5))


# ---------------------------------------------------------------------------------- the factor kept
def test_factor_restored_after_a_peer_is_gone_for_good(cluster_factory):
    """A peer killed for good: once unreachable for longer than the grace period, its shards get
    new replicas on the other peers and its own are dropped; no API call."""
    tag = "peer gone"
    c = cluster_with(cluster_factory, 4, shard_number=4, rf=2, env=GRACE)
    victim, others = c.peers[3], c.peers[:3]
    load = start_load(others)
    t0 = time.monotonic()
    victim.kill()
    wait_until(lambda: at_factor(others[0], 2, 4, off={victim.peer_id}), timeout=90, desc="every shard back at rf=2")
    print(f"[{tag}] every shard back at rf=2 on the other peers {time.monotonic() - t0:.2f}s after the kill (grace 3 s)")
    gone = result(others[0].get("/cluster"))["peers"]
    assert str(victim.peer_id) in gone, "a gone peer stays a member until removed"
    finish(tag, load, t0, others)


def test_factor_restored_after_a_peer_is_removed(cluster_factory):
    """`DELETE /cluster/peer/{id}?force=true` of a dead peer drops its replicas; its shards get
    new ones at once (no grace period)."""
    tag = "peer removed"
    c = cluster_with(cluster_factory, 4, shard_number=3, rf=2)
    victim, others = c.peers[3], c.peers[:3]
    load = start_load(others)
    victim.kill()
    t0 = time.monotonic()
    wait_until(lambda: result(others[0].delete(f"/cluster/peer/{victim.peer_id}", params={"force": "true"})) is True,
               timeout=30, desc="peer removed")
    wait_until(lambda: at_factor(others[0], 2, 3), timeout=60, desc="every shard back at rf=2")
    print(f"[{tag}] every shard back at rf=2 {time.monotonic() - t0:.2f}s after the removal")
    finish(tag, load, t0, others)


def test_patch_of_the_factor_converges_up_and_down(cluster_factory):
    tag = "patch rf"
    c = cluster_with(cluster_factory, 3, shard_number=3, rf=1)
    load = start_load(c.peers)
    t0 = time.monotonic()
    assert result(c.peer(0).patch(f"/collections/{COLL}", json={"params": {"replication_factor": 2}})) is True
    wait_until(lambda: at_factor(c.peer(1), 2, 3), timeout=60, desc="rf=2 everywhere")
    up = time.monotonic() - t0
    assert result(c.peer(0).patch(f"/collections/{COLL}", json={"params": {"replication_factor": 1}})) is True
    # Lowering trims the Active replicas when the update applies; a transfer running then (the
    # keeper may start a rebalancing move as soon as rf=2 is reached) ends or is aborted first.
    t1 = time.monotonic()
    for p in c.peers:
        wait_until(lambda: at_factor(p, 1, 3), timeout=30, desc=f"rf=1 on peer {p.peer_id}")
    print(f"[{tag}] rf 1→2 converged in {up:.2f}s; 2→1 in {time.monotonic() - t1:.2f}s after the PATCH")
    finish(tag, load, t0, c.peers)


def test_a_new_peer_receives_replicas_until_counts_are_within_one(cluster_factory):
    tag = "rebalance"
    c = cluster_with(cluster_factory, 3, shard_number=6, rf=2)
    load = start_load(c.peers)
    t0 = time.monotonic()
    newcomer = c.add_peer()
    ids = [p.peer_id for p in c.peers]
    wait_until(lambda: counts(c.peer(0), ids) == [3, 3, 3, 3] and all_active(c.peers, replicas=12),
               timeout=90, desc="3 replicas on each of the 4 peers")
    print(f"[{tag}] peer {newcomer.peer_id} holds 3 replicas, all Active, {time.monotonic() - t0:.2f}s after it joined")
    finish(tag, load, t0, c.peers)


# ---------------------------------------------------------------------------------- drain
def test_drain_moves_every_replica_off_a_peer_under_load(cluster_factory):
    tag = "drain"
    c = cluster_with(cluster_factory, 4, shard_number=4, rf=2)
    victim = c.peers[2]
    load = start_load(c.peers)
    refused = c.peer(0).delete(f"/cluster/peer/{victim.peer_id}")
    assert refused.status_code == 400 and "there are shards on it" in refused.text, refused.text
    t0 = time.monotonic()
    started = result(c.peer(0).post(f"/cluster/peer/{victim.peer_id}/drain"))
    assert started["draining"] is True and started["replicas_left"] == 2, started
    wait_until(lambda: drain_status(c.peer(1), victim.peer_id)["done"], timeout=90, desc="drain done")
    print(f"[{tag}] peer {victim.peer_id} drained in {time.monotonic() - t0:.2f}s")
    assert at_factor(c.peer(0), 2, 4, off={victim.peer_id})
    finish(tag, load, t0, c.peers)
    assert result(c.peer(0).delete(f"/cluster/peer/{victim.peer_id}")) is True, "an empty peer can be removed"


def test_delete_with_drain_removes_the_peer_once_empty(cluster_factory):
    tag = "drain+remove"
    c = cluster_with(cluster_factory, 3, shard_number=3, rf=1)
    victim = c.peers[1]
    others = [c.peers[0], c.peers[2]]
    load = start_load(others)
    t0 = time.monotonic()
    status = result(c.peer(0).delete(f"/cluster/peer/{victim.peer_id}", params={"drain": "true"}))
    assert status["remove_when_drained"] is True, status
    wait_until(lambda: str(victim.peer_id) not in result(others[0].get("/cluster"))["peers"],
               timeout=90, desc="drained peer removed")
    print(f"[{tag}] peer {victim.peer_id} drained and removed in {time.monotonic() - t0:.2f}s")
    assert at_factor(others[0], 1, 3, off={victim.peer_id})
    finish(tag, load, t0, others)


def test_a_drain_never_goes_under_the_factor(cluster_factory):
    """3 peers, rf=3: the other peers cannot hold the factor, so the drain is reported blocked
    and every replica stays; cancelling it clears it."""
    c = cluster_with(cluster_factory, 3, shard_number=2, rf=3)
    victim = c.peers[1]
    result(c.peer(0).post(f"/cluster/peer/{victim.peer_id}/drain"))
    def blocked():
        status = drain_status(c.peer(2), victim.peer_id)
        return len(status["blocked"]) == 2 and status
    status = wait_until(blocked, timeout=10, desc="drain reported blocked")
    assert "replication factor 3" in status["blocked"][0]["why"], status
    placement = c.peer(0).collection_cluster(COLL)["placement"]
    assert len(placement["blocked"]) == 2 and not placement["planned"], placement
    assert at_factor(c.peer(0), 3, 2)
    cancelled = result(c.peer(0).delete(f"/cluster/peer/{victim.peer_id}/drain"))
    assert cancelled["draining"] is False and cancelled["blocked"] == [], cancelled


def test_drain_requests_refused_with_clear_errors(cluster_factory):
    c = cluster_factory(2)
    missing = c.peer(0).post("/cluster/peer/12345/drain")
    assert missing.status_code == 400 and "does not exist" in missing.text, missing.text
    bad = c.peer(0).post("/cluster/peer/not-a-number/drain")
    assert 400 <= bad.status_code < 500, bad.text
    assert c.peer(0).get("/cluster/peer/12345/drain").status_code == 404
