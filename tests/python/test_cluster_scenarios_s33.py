"""Scenarios of Qdrant's own multi-node tests (tests/consensus_tests in qdrant/qdrant), replayed
on real Quiver processes: what a Qdrant user relies on when peers are removed, die, come back,
lose a collection directory, or hold custom shard keys. Written from what those tests assert,
not from their code.

Run: QUIVER_BIN=... .venv/bin/pytest -q tests/python/test_cluster_scenarios_s33.py
"""

from __future__ import annotations

import os
import shutil
import signal
import time

import pytest

from cluster_harness import Peer, result, wait_until
from scenario_helpers import COLL, VEC, agree, all_active, create_collection, expected, no_transfers, states, upsert

CITY_VECTOR = [0.2, 0.1, 0.9, 0.7]


def consensus_status(peer: Peer) -> dict:
    return peer.cluster_info()["consensus_thread_status"]


def upsert_cities(peer: Peer, city: str) -> None:
    points = [{"id": i, "vector": [0.1 * i, 0.5, 0.3, 0.2], "payload": {"city": city}} for i in range(1, 11)]
    result(peer.put(f"/collections/{COLL}/points", json={"points": points}, params={"wait": "true"}))


def search_city(peer: Peer, city: str) -> list[dict]:
    body = {"vector": CITY_VECTOR, "limit": 10, "with_payload": True,
            "filter": {"must": [{"key": "city", "match": {"value": city}}]}}
    return result(peer.post(f"/collections/{COLL}/points/search", json=body))


# ---------------------------------------------------------------------------------- peer removal


@pytest.mark.parametrize("force", [False, True])
def test_the_last_voter_cannot_be_removed(cluster_factory, force):
    """test_remove_leader_two_node::test_cannot_remove_last_voter: 400 naming the last voting
    peer, nothing committed, the peer still lists itself and still serves collection ops."""
    c = cluster_factory(1)
    p = c.peer(0)
    before = p.cluster_info()
    r = p.delete(f"/cluster/peer/{p.peer_id}", params={"force": str(force).lower(), "timeout": 2})
    assert r.status_code == 400, r.text
    assert "last voting peer" in r.json()["status"]["error"]
    after = p.cluster_info()
    assert after["raft_info"]["commit"] == before["raft_info"]["commit"]
    assert set(after["peers"]) == {str(p.peer_id)}
    create_collection(p, 1, 1)
    assert COLL in p.collection_names()


@pytest.mark.parametrize("via", ["leader", "follower"])
def test_the_leader_of_two_peers_removed(cluster_factory, via):
    """test_remove_leader_two_node: removing the leader of a 2-peer cluster, asked of itself or of
    the follower, answers 200; the survivor leads alone and works; the departing peer keeps
    running and reports its consensus `stopped` (Quiver answered 500 `raft stopped` and reported
    `stopped_with_err`)."""
    c = cluster_factory(2)
    leader = c.peer_by_id(c.leader_id())
    survivor = next(p for p in c.peers if p is not leader)
    asked = leader if via == "leader" else survivor
    r = asked.delete(f"/cluster/peer/{leader.peer_id}", params={"timeout": 30})
    assert r.status_code == 200 and r.json()["result"] is True, r.text
    wait_until(lambda: set(survivor.cluster_info()["peers"]) == {str(survivor.peer_id)}
               and survivor.raft()["leader"] == survivor.peer_id, timeout=15, desc="survivor leads alone")
    create_collection(survivor, 1, 1)
    wait_until(lambda: consensus_status(leader) == {"consensus_thread_status": "stopped"}, timeout=15,
               desc="departing peer reports stopped")
    assert leader.is_running()


def test_a_follower_of_two_peers_removed(cluster_factory):
    c = cluster_factory(2)
    leader = c.peer_by_id(c.leader_id())
    follower = next(p for p in c.peers if p is not leader)
    assert result(leader.delete(f"/cluster/peer/{follower.peer_id}")) is True
    create_collection(leader, 1, 1)
    assert set(leader.cluster_info()["peers"]) == {str(leader.peer_id)}
    wait_until(lambda: consensus_status(follower) == {"consensus_thread_status": "stopped"}, timeout=15,
               desc="removed follower reports stopped")


# ---------------------------------------------------------------------------------- dead peers


def test_a_collection_op_does_not_wait_for_a_dead_peer_to_catch_up(cluster_factory):
    """With a peer killed, creating a collection with no replica to wait for (custom sharding)
    answers at once: the peer that refuses connections is not waited for until the timeout
    (Quiver took the whole 10 s); it learns of the collection when it returns."""
    c = cluster_factory(3)
    down = c.peer(2)
    down.kill()
    started = time.monotonic()
    body = {"vectors": VEC, "sharding_method": "custom"}
    assert result(c.peer(0).put(f"/collections/{COLL}", json=body, params={"timeout": 10}, timeout=30)) is True
    took = time.monotonic() - started
    assert took < 5, f"create waited {took:.1f}s for a dead peer"
    down.start()
    wait_until(lambda: COLL in down.collection_names(), timeout=20, desc="returning peer has the collection")


def test_dead_peer_recovered_then_force_removed(cluster_factory):
    """test_recover_dead_node + test_remove_node: 4 shards, rf 2. With a peer killed, search and
    upsert keep working and its replicas go non-Active; restarted, it heals and serves the same
    results; killed again and force-removed, nothing written is lost."""
    c = cluster_factory(3)
    p0, _, victim = c.peers
    create_collection(p0, 4, 2)
    wait_until(lambda: all_active(c.peers, replicas=8), timeout=30, desc="replicas Active")
    upsert_cities(p0, "Paris")
    victim.kill()
    assert len(search_city(p0, "Paris")) == 10
    upsert_cities(p0, "Berlin")
    wait_until(lambda: any(s != "Active" for reps in states(p0).values() for s in reps.values()), timeout=20,
               desc="some replicas not Active")
    assert search_city(p0, "Paris") == []
    victim.start()
    wait_until(lambda: all_active(c.peers, replicas=8), timeout=30, desc="healed")
    assert search_city(p0, "Paris") == []
    assert len(search_city(victim, "Berlin")) == 10
    assert search_city(victim, "Berlin") == search_city(p0, "Berlin")

    victim.kill()
    wait_until(lambda: any(s != "Active" for reps in states(p0).values() for s in reps.values()), timeout=20,
               desc="replicas of the killed peer not Active")
    assert result(p0.delete(f"/cluster/peer/{victim.peer_id}", params={"force": "true"})) is True
    for p in c.peers[:2]:
        assert len(search_city(p, "Berlin")) == 10


def test_source_of_a_transfer_force_removed(cluster_factory):
    """test_force_delete_peer: the source of a running transfer dies and is force-removed: the
    transfer is aborted on every peer; the shard's other replica keeps every point and the
    factor is restored on the target."""
    c = cluster_factory(3)
    create_collection(c.peer(0), 1, 2)
    wait_until(lambda: all_active(c.peers, replicas=2), timeout=30, desc="replicas Active")
    holders = set(states(c.peer(0))[0])
    # The transfer goes from a holder to the peer without a replica, which is paused.
    src, other = [c.peer_by_id(pid) for pid in sorted(holders)]
    dst = next(p for p in c.peers if p.peer_id not in holders)
    upsert(src, range(300))
    os.kill(dst.proc.pid, signal.SIGSTOP)
    try:
        op = {"replicate_shard": {"shard_id": 0, "from_peer_id": src.peer_id, "to_peer_id": dst.peer_id,
                                  "method": "stream_records"}}
        result(other.post(f"/collections/{COLL}/cluster", json=op))
        wait_until(lambda: other.collection_cluster(COLL)["shard_transfers"], timeout=10, desc="transfer listed")
        src.kill()
    finally:
        os.kill(dst.proc.pid, signal.SIGCONT)
    # The target answers again (a Raft majority with `other`); the source is gone for good.
    # Resumed, the target may find the source gone and have its copy aborted before the
    # removal below commits (on a busy machine it often does): either way the transfer must
    # end on every peer and the factor come back.
    rest = [other, dst]
    assert result(other.delete(f"/cluster/peer/{src.peer_id}", params={"force": "true"}, timeout=30)) is True
    wait_until(lambda: no_transfers(rest) and all_active(rest, replicas=2), timeout=60, desc="factor restored")
    wait_until(lambda: agree(rest, expect=expected(range(300))), timeout=60, desc="replicas agree")


def test_collection_directory_lost_then_recovered(cluster_factory):
    """test_collection_recovery: a peer restarted without its collection directory, then
    `POST /cluster/recover`: its replicas become Active again with their points."""
    c = cluster_factory(3)
    create_collection(c.peer(0), 2, 2)
    wait_until(lambda: all_active(c.peers, replicas=4), timeout=30, desc="replicas Active")
    upsert(c.peer(0), range(100))
    victim = next(p for p in c.peers if p.collection_cluster(COLL)["local_shards"])
    victim.kill()
    shutil.rmtree(victim.collection_dir(COLL))
    victim.start(wait_ready=False)
    wait_until(lambda: result(victim.post("/cluster/recover")) is True, timeout=20, desc="recover accepted")
    wait_until(lambda: all_active(c.peers, replicas=4), timeout=30, desc="replicas Active again")
    local = victim.collection_cluster(COLL)["local_shards"]
    assert local and all(s["points_count"] > 0 for s in local), local
    assert result(victim.post(f"/collections/{COLL}/points/count", json={"exact": True}))["count"] == 100


def test_collections_dropped_and_recreated_while_a_peer_is_down(cluster_factory):
    """test_cluster_rejoin: while a peer is down the collection is dropped and re-created twice
    and another one created; the peer returns: it has the new collection with every replica
    Active, and the re-created one holds the latest points only."""
    c = cluster_factory(3)
    p0, _, victim = c.peers
    create_collection(p0, 3, 2)
    upsert(p0, range(100))
    victim.kill()
    upsert(p0, range(100, 200))
    # Creating waits (within `timeout`) for the down peer's replicas to turn Active: keep it short.
    body = {"vectors": VEC, "shard_number": 3, "replication_factor": 2}
    for _ in range(2):
        assert result(p0.delete(f"/collections/{COLL}", params={"timeout": 5})) is True
        assert result(p0.put(f"/collections/{COLL}", json=body, params={"timeout": 1}, timeout=30)) is True
        # The live peers' replicas may still be turning Active: an upsert is safe to repeat.
        wait_until(lambda: upsert(p0, range(50), tag="latest") or True, timeout=15, desc="upsert accepted")
    assert result(p0.put("/collections/second", json=body, params={"timeout": 1}, timeout=30)) is True
    victim.start()
    wait_until(lambda: all_active(c.peers, name="second", replicas=6), timeout=30, desc="second Active")
    wait_until(lambda: all_active(c.peers, replicas=6), timeout=30, desc="re-created Active")
    wait_until(lambda: agree(c.peers, expect=expected(range(50), tag="latest")), timeout=30, desc="latest only")


# ---------------------------------------------------------------------------------- keys and metadata


def test_custom_keys_across_peers_and_a_restart(cluster_factory):
    """test_custom_sharding: string and number keys on every peer keep their JSON type in the
    cluster view, also after a restart; a search over a list of keys or over all of them names
    each hit's key; a dropped key's points are gone from searches."""
    c = cluster_factory(3)
    p0, p1, p2 = c.peers
    body = {"vectors": VEC, "sharding_method": "custom", "replication_factor": 3}
    assert result(p0.put(f"/collections/{COLL}", json=body)) is True
    for key in ["cats", "dogs", 123]:
        assert result(p0.put(f"/collections/{COLL}/shards", json={"shard_key": key})) is True
    for key, ids in (("cats", range(1, 5)), ("dogs", range(5, 9)), (123, range(9, 11))):
        points = [{"id": i, "vector": [0.1 * i, 0.8, 0.7, 0.1]} for i in ids]
        result(p0.put(f"/collections/{COLL}/points", json={"shard_key": key, "points": points},
                      params={"wait": "true"}))

    def keys_of(peer: Peer) -> list:
        return sorted((s["shard_key"] for s in peer.collection_cluster(COLL)["local_shards"]), key=str)

    assert keys_of(p2) == [123, "cats", "dogs"]
    p2.kill()
    p2.start()
    assert keys_of(p2) == [123, "cats", "dogs"]
    query = {"vector": CITY_VECTOR, "limit": 20, "shard_key": ["cats", "dogs"]}
    hits = result(p1.post(f"/collections/{COLL}/points/search", json=query))
    assert len(hits) == 8 and {h["shard_key"] for h in hits} == {"cats", "dogs"}
    assert result(p0.post(f"/collections/{COLL}/shards/delete", json={"shard_key": "cats"})) is True
    query.pop("shard_key")

    def searched_keys() -> set:
        return {h["shard_key"] for h in result(p2.post(f"/collections/{COLL}/points/search", json=query))}

    wait_until(lambda: searched_keys() == {"dogs", 123}, timeout=10, desc="dropped key gone")


def test_metadata_keys_converge_on_every_peer(cluster_factory):
    """test_cluster_metadata: values of every JSON kind set (and deleted) through one peer,
    without `wait`, reach every peer."""
    c = cluster_factory(3)
    values = {"string": "string", "array": [None, 1337, 42.69, "string"],
              "object": {"null": None, "integer": 1337, "float": 42.69, "string": "string"}}
    assert all(result(p.get("/cluster/metadata/keys")) == [] for p in c.peers)
    for key, value in values.items():
        assert result(c.peer(0).put(f"/cluster/metadata/keys/{key}", json=value)) is True
    wait_until(lambda: all(result(p.get(f"/cluster/metadata/keys/{k}")) == v
                           for p in c.peers for k, v in values.items()), timeout=10, desc="values everywhere")
    assert sorted(result(c.peer(2).get("/cluster/metadata/keys"))) == sorted(values)
    for key in values:
        assert result(c.peer(1).delete(f"/cluster/metadata/keys/{key}")) is True
    wait_until(lambda: all(result(p.get("/cluster/metadata/keys")) == [] for p in c.peers), timeout=10,
               desc="keys deleted everywhere")
    assert result(c.peer(0).get("/cluster/metadata/keys/string")) is None


# ---------------------------------------------------------------------------------- --reinit


def test_reinit_of_a_two_peer_cluster_keeps_every_shard(cluster_factory):
    """test_reinit_consensus: both peers (rf 1, one shard each) stopped and started on new
    addresses, the first with `--reinit`, the second with `--reinit --bootstrap`: every point is
    there and every replica Active; a third peer joins. (Quiver placed every shard on the first
    peer, recorded the one it lacked as lost, and the second peer deleted its copy on joining.)"""
    c = cluster_factory(2)
    first, second = c.peers
    create_collection(first, 2, 1)
    wait_until(lambda: all_active(c.peers, replicas=2), timeout=30, desc="replicas Active")
    upsert(first, range(20))
    for p in c.peers:
        p.kill()
        p.move_to_new_ports()
    first.extra_args = ["--reinit"]
    first.start()
    second.extra_args = ["--reinit"]
    second.restart_bootstrap = first.uri
    second.start()
    wait_until(lambda: all_active(c.peers, replicas=2), timeout=30, desc="replicas Active after --reinit")
    wait_until(lambda: agree(c.peers, expect=expected(range(20))), timeout=30, desc="every point kept")
    for p in c.peers:
        p.extra_args = []
    third = c.add_peer(bootstrap_index=0)
    wait_until(lambda: COLL in third.collection_names(), timeout=20, desc="third peer has the collection")
    assert result(third.post(f"/collections/{COLL}/points/count", json={"exact": True}))["count"] == 20
