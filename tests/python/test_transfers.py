"""Shard transfers and recovery paths with real processes (issue 5; spec §4.6–4.7, seed
"Creating new shard replicas" and "Node Failure Recovery").

Every scenario that moves data runs under a concurrent writer and checks at the end that every
acknowledged point is readable and that all Active replicas of every shard have equal digests.
"""
from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from cluster_harness import Cluster, Peer, result, wait_until
from replication_load import Load, check_replicas, replica_states, shard_digest

VEC = {"size": 4, "distance": "Dot"}
COLL = "moves"




# ---------------------------------------------------------------------------------- helpers
def create(peer: Peer, shard_number: int, rf: int, name: str = COLL) -> None:
    body = {"vectors": VEC, "shard_number": shard_number, "replication_factor": rf}
    assert result(peer.put(f"/collections/{name}", json=body)) is True


def fill(peer: Peer, n: int, start: int = 1_000_000, name: str = COLL) -> list[int]:
    """Upserts `n` points with payload {"n": id} (ids from `start`), returns the ids."""
    ids = list(range(start, start + n))
    for k in range(0, n, 500):
        part = ids[k:k + 500]
        points = [{"id": i, "vector": [float(i % 7), 1.0, 0.5, float(i % 3)], "payload": {"n": i}} for i in part]
        assert result(peer.put(f"/collections/{name}/points", json={"points": points},
                               params={"wait": "true"}))["status"] == "completed"
    return ids


def cluster_op(peer: Peer, body: dict, status: int = 200, name: str = COLL):
    r = peer.post(f"/collections/{name}/cluster", json=body)
    assert r.status_code == status, f"{body} → HTTP {r.status_code}: {r.text[:300]}"
    return r.json()


def error_of(resp_json: dict) -> str:
    return resp_json["status"]["error"]


def holders(states: dict[int, dict[int, str]], shard: int) -> dict[int, str]:
    return states.get(shard, {})


def wait_settled(peers: list[Peer], want: dict[int, dict[int, str]], timeout: float = 40.0,
                 name: str = COLL) -> None:
    """Every peer shows exactly `want` (shard → peer → state) and no running transfer."""
    def ok():
        for p in peers:
            info = p.collection_cluster(name)
            if info["shard_transfers"] or replica_states(p.url, name) != want:
                return None
        return True
    wait_until(ok, timeout=timeout, desc=f"replica states {want} with no transfer on every peer")


def urls(peers: list[Peer]) -> dict[int, str]:
    return {p.peer_id: p.url for p in peers}


def assert_converged(c: Cluster, rec_ids: list[int], live: list[Peer], name: str = COLL) -> None:
    rep = check_replicas(live[0].url, name, rec_ids, urls(live))
    print(rep.describe())
    rep.assert_ok()


def shard_dir(peer: Peer, shard: int, name: str = COLL) -> Path:
    return peer.workdir / "storage" / "collections" / name / str(shard)


# ---------------------------------------------------------------------------------- validation
def test_cluster_operation_validation(cluster_factory):
    """Spec §4.6 checks and status codes, each refused without changing anything."""
    c = cluster_factory(3)
    a = c.peer(0)
    create(a, shard_number=2, rf=1)
    states = wait_until(lambda: replica_states(a.url, COLL) if all(
        st == "Active" for s in replica_states(a.url, COLL).values() for st in s.values()) else None,
        timeout=15, desc="replicas Active")
    owner = next(iter(states[0]))
    leader = c.leader_id()
    # The target is paused below: a non-leader, so the cluster keeps its leader meanwhile.
    other = next(p.peer_id for p in c.peers if p.peer_id not in (owner, leader))
    third = next(p.peer_id for p in c.peers if p.peer_id not in (owner, other))
    move = lambda **kw: {"replicate_shard": {"shard_id": 0, "from_peer_id": owner, "to_peer_id": other, **kw}}

    r = cluster_op(a, move(to_peer_id=owner), 422)
    assert "replicate_shard.to_peer_id: value" in error_of(r) and "must not match from_peer_id" in error_of(r)
    r = cluster_op(a, move(shard_id=9), 400)
    assert "Shard 9 of moves does not exist" in error_of(r)
    r = cluster_op(a, move(to_peer_id=424242), 400)
    assert "Peer 424242 does not exist" in error_of(r)
    r = cluster_op(a, move(from_peer_id=other, to_peer_id=third), 400)
    assert f"Shard 0 is not active on peer {other}" in error_of(r)
    r = cluster_op(a, {"abort_transfer": {"shard_id": 0, "from_peer_id": owner, "to_peer_id": other}}, 404)
    assert f"Shard transfer {owner} -> {other} for collection moves:0 does not exist" in error_of(r)
    r = cluster_op(a, {"restart_transfer": {"shard_id": 0, "from_peer_id": owner, "to_peer_id": other,
                                            "method": "snapshot"}}, 404)
    r = cluster_op(a, {"drop_replica": {"shard_id": 0, "peer_id": owner}}, 400)
    assert "must have at least one active replica" in error_of(r)
    r = cluster_op(a, {"drop_replica": {"shard_id": 0, "peer_id": other}}, 400)
    assert f"Peer {other} has no replica of shard 0" in error_of(r)
    r = cluster_op(a, {"drop_replica": {"shard_id": 0, "peer_id": 99}}, 400)
    assert "Peer 99 does not exist" in error_of(r)
    r = cluster_op(a, {"teleport_shard": {"shard_id": 0}}, 400)
    assert "Format error in JSON body" in error_of(r)
    r = cluster_op(a, {"create_sharding_key": {"shard_key": "k"}}, 400)
    assert "Bad request: Shard Key cannot be created with Auto sharding method" in error_of(r)
    r = cluster_op(a, {"start_resharding": {"direction": "up"}}, 400)
    assert "not supported" in error_of(r)
    r = cluster_op(a, move(method="carrier_pigeon"), 400)
    r = cluster_op(a, {"replicate_shard": {"shard_id": 0}}, 400)
    assert replica_states(a.url, COLL) == states
    assert a.collection_cluster(COLL)["shard_transfers"] == []

    # A second transfer of the same shard sharing a peer is refused while the first runs: the
    # first cannot finish while its target is paused (and is aborted once the target is Dead).
    target = c.peer_by_id(other)
    os.kill(target.proc.pid, signal.SIGSTOP)
    try:
        cluster_op(a, move())
        r = cluster_op(a, move(to_peer_id=third), 400)
        assert "is already involved in transfer" in error_of(r)
        transfers = a.collection_cluster(COLL)["shard_transfers"]
        assert transfers and transfers[0]["method"] == "snapshot", transfers  # the default method
        assert transfers[0]["sync"] is True
        assert replica_states(a.url, COLL)[0][other] == "Recovery"
        restart = {"restart_transfer": {"shard_id": 0, "from_peer_id": owner, "to_peer_id": other,
                                        "method": "snapshot"}}
        r = cluster_op(a, restart, 400)
        assert "its configuration did not change" in error_of(r)
        restart["restart_transfer"]["method"] = "stream_records"
        cluster_op(a, restart)
        transfers = a.collection_cluster(COLL)["shard_transfers"]
        assert [(t["method"], t["sync"]) for t in transfers] == [("stream_records", True)], transfers
        assert replica_states(a.url, COLL)[0][other] == "Partial"
        # The paused target is detected: its replica turns Dead and the transfer is aborted.
        wait_until(lambda: a.collection_cluster(COLL)["shard_transfers"] == [] and
                   replica_states(a.url, COLL)[0].get(other) == "Dead", timeout=15,
                   desc="transfer to a paused target aborted")
    finally:
        os.kill(target.proc.pid, signal.SIGCONT)
    # Resumed, the target recovers its Dead replica by itself.
    wait_settled(c.peers, {0: {owner: "Active", other: "Active"}, 1: states[1]})


# ---------------------------------------------------------------------------------- methods
@pytest.mark.parametrize("method", ["stream_records", "snapshot", "wal_delta"])
def test_replicate_shard_under_load(cluster_factory, method):
    """replicate_shard by each method while a writer runs: the new replica ends Active with every
    acknowledged point; the source stays; digests equal."""
    c = cluster_factory(2)
    a, b = c.peers
    create(a, shard_number=2, rf=1)
    wait_until(lambda: len(replica_states(a.url, COLL)) == 2, timeout=15, desc="collection placed")
    base = fill(a, 6000)
    states = replica_states(a.url, COLL)
    shard, owner = next((s, next(iter(r))) for s, r in states.items() if b.peer_id not in r)
    load = Load(COLL, [a.url, b.url], read_urls=[a.url]).start()
    load.wait_acks(5)
    cluster_op(a, {"replicate_shard": {"shard_id": shard, "from_peer_id": owner, "to_peer_id": b.peer_id,
                                       "method": method}})
    seen = b.collection_cluster(COLL)
    want = {s: dict(r) for s, r in states.items()}
    want[shard][b.peer_id] = "Active"
    wait_settled(c.peers, want)
    load.wait_acks(len(load.acks_so_far()) + 5)  # writes keep being acknowledged after the drop
    rec = load.stop()
    print(f"[{method}] first view after start: {seen['shard_transfers']}; {len(rec.acks)} batches acked, "
          f"{len(rec.failures)} failures")
    assert not rec.failures, rec.failures[:5]
    assert_converged(c, base + rec.acked_ids(), c.peers)
    assert shard_dir(b, shard).is_dir()


def test_move_shard_under_load_then_drop_replica(cluster_factory):
    """move_shard: target Active, source replica gone (files too), no acknowledged write lost;
    then replicate back and drop_replica: the data stays complete."""
    c = cluster_factory(3)
    a = c.peer(0)
    create(a, shard_number=3, rf=1)
    wait_until(lambda: len(replica_states(a.url, COLL)) == 3, timeout=15, desc="collection placed")
    base = fill(a, 4000)
    states = replica_states(a.url, COLL)
    shard, source = next((s, next(iter(r))) for s, r in states.items())
    target = next(p.peer_id for p in c.peers if p.peer_id != source)
    load = Load(COLL, [p.url for p in c.peers]).start()
    load.wait_acks(5)
    cluster_op(a, {"move_shard": {"shard_id": shard, "from_peer_id": source, "to_peer_id": target,
                                  "method": "stream_records"}})
    want = {s: dict(r) for s, r in states.items()}
    want[shard] = {target: "Active"}
    wait_settled(c.peers, want)
    wait_until(lambda: not shard_dir(c.peer_by_id(source), shard).exists(), timeout=10,
               desc="moved replica's files removed from the source")
    # Back onto the source as a second replica, then drop the first one.
    cluster_op(a, {"replicate_shard": {"shard_id": shard, "from_peer_id": target, "to_peer_id": source}})
    want[shard] = {target: "Active", source: "Active"}
    wait_settled(c.peers, want)
    cluster_op(a, {"drop_replica": {"shard_id": shard, "peer_id": target}})
    want[shard] = {source: "Active"}
    wait_settled(c.peers, want)
    load.wait_acks(len(load.acks_so_far()) + 5)  # writes keep being acknowledged after the drop
    rec = load.stop()
    assert not rec.failures, rec.failures[:5]
    rep = check_replicas(a.url, COLL, base + rec.acked_ids(), urls(c.peers))
    for ack in rec.acks:
        if set(ack.ids) & set(rep.missing):
            print("MISSING ack", ack, "t0", rec.started)
    assert_converged(c, base + rec.acked_ids(), c.peers)


def test_abort_transfer_then_auto_recovery(cluster_factory):
    """abort_transfer on a running sync transfer leaves the target Dead; it is recovered without
    any API call."""
    c = cluster_factory(3)
    a = c.peer(0)
    create(a, shard_number=1, rf=1)
    wait_until(lambda: replica_states(a.url, COLL).get(0), timeout=15, desc="collection placed")
    base = fill(a, 2000)
    owner = next(iter(replica_states(a.url, COLL)[0]))
    leader = c.leader_id()
    # The target is paused so the transfer cannot finish before it is aborted; a non-leader, so
    # the cluster keeps a quorum and its leader meanwhile.
    target = next(p.peer_id for p in c.peers if p.peer_id not in (owner, leader))
    observer = c.peer_by_id(owner)
    paused = c.peer_by_id(target)
    os.kill(paused.proc.pid, signal.SIGSTOP)
    try:
        cluster_op(observer, {"replicate_shard": {"shard_id": 0, "from_peer_id": owner, "to_peer_id": target}})
        cluster_op(observer, {"abort_transfer": {"shard_id": 0, "from_peer_id": owner, "to_peer_id": target}})
        assert replica_states(observer.url, COLL)[0] == {owner: "Active", target: "Dead"}
        assert observer.collection_cluster(COLL)["shard_transfers"] == []
    finally:
        os.kill(paused.proc.pid, signal.SIGCONT)
    wait_settled(c.peers, {0: {owner: "Active", target: "Active"}})
    assert_converged(c, base, c.peers)


# ---------------------------------------------------------------------------------- seed paths
def test_restarted_peer_catches_up_with_wal_delta(cluster_factory):
    """Seed: a failed node restarts and catches up. Its Dead replicas come back by wal_delta (only
    the writes it missed), /readyz is 503 until they are Active."""
    c = cluster_factory(3)
    a = c.peer(0)
    create(a, shard_number=3, rf=2)
    wait_until(lambda: all(len(r) == 2 and set(r.values()) == {"Active"}
                           for r in replica_states(a.url, COLL).values()) or None,
               timeout=15, desc="replicas Active")
    base = fill(a, 3000)
    victim = c.peer(2)
    live = [p for p in c.peers if p is not victim]
    load = Load(COLL, [p.url for p in live]).start()
    load.wait_acks(5)
    victim.kill()
    wait_until(lambda: all(r.get(victim.peer_id) in (None, "Dead")
                           for r in replica_states(a.url, COLL).values()) or None,
               timeout=15, desc="victim's replicas Dead")
    load.wait_acks(len(load.acks_so_far()) + 20)
    victim.start(wait_ready=False)
    wait_until(lambda: all(set(r.values()) == {"Active"} for r in replica_states(a.url, COLL).values())
               or None, timeout=40, desc="victim's replicas recovered")
    wait_until(lambda: victim.get("/readyz", timeout=2).status_code == 200, timeout=15, desc="victim ready")
    rec = load.stop()
    assert not rec.failures, rec.failures[:5]
    log = victim.log_path.read_text(errors="replace")
    assert "recovering a Dead replica" in log
    assert "wal_delta impossible" not in log, "a short outage should be caught up by wal_delta"
    assert_converged(c, base + rec.acked_ids(), c.peers)


def test_lost_node_replaced_by_new_peer(cluster_factory):
    """Seed: a node lost for good is force-removed, an empty node joins with --bootstrap and
    replicate_shard onto it restores the replication factor."""
    c = cluster_factory(3)
    a = c.peer(0)
    create(a, shard_number=3, rf=2)
    wait_until(lambda: all(len(r) == 2 and set(r.values()) == {"Active"}
                           for r in replica_states(a.url, COLL).values()) or None,
               timeout=15, desc="replicas Active")
    base = fill(a, 3000)
    lost = c.peer(2)
    lost_id = lost.peer_id
    lost.kill()
    r = a.delete(f"/cluster/peer/{lost_id}", params={"force": "true"})
    assert r.status_code == 200, r.text
    newcomer = c.add_peer()
    live = [p for p in c.peers if p is not lost]
    states = replica_states(a.url, COLL)
    assert all(lost_id not in reps for reps in states.values())
    load = Load(COLL, [p.url for p in live]).start()
    load.wait_acks(5)
    for shard, reps in states.items():
        if len(reps) < 2:
            source = next(iter(reps))
            cluster_op(a, {"replicate_shard": {"shard_id": shard, "from_peer_id": source,
                                               "to_peer_id": newcomer.peer_id}})
    wait_until(lambda: all(len(r) == 2 and set(r.values()) == {"Active"}
                           for r in replica_states(a.url, COLL).values()) or None,
               timeout=40, desc="replication factor restored")
    # Writes acknowledged after the factor is restored reach the new replicas too.
    load.wait_acks(load.ack_count() + 5)
    rec = load.stop()
    assert not rec.failures, rec.failures[:5]
    assert_converged(c, base + rec.acked_ids(), live)


def test_wal_delta_falls_back_to_a_full_copy(cluster_factory):
    """When the source no longer holds the WAL records a restarted replica misses (retention
    exceeded), its recovery falls back from wal_delta to a full snapshot and still converges."""
    env = {"QDRANT__STORAGE__WAL__WAL_CAPACITY_MB": "1", "QDRANT__STORAGE__WAL__DELTA_RETENTION_MB": "1",
           "QDRANT__STORAGE__OPTIMIZERS__FLUSH_INTERVAL_SEC": "1"}
    c = cluster_factory(3, env=env)
    a = c.peer(0)
    leader = c.leader_id()
    create(a, shard_number=1, rf=2)
    reps = wait_until(lambda: (r := replica_states(a.url, COLL).get(0)) and len(r) == 2
                      and set(r.values()) == {"Active"} and r, timeout=15, desc="replicas Active")
    victim = next(c.peer_by_id(p) for p in reps if p != leader)
    survivor = next(c.peer_by_id(p) for p in reps if p != victim.peer_id)
    base = fill(survivor, 1000)
    victim_seq = shard_digest(victim.url, COLL, 0)["last_seq"]
    victim.kill()
    wait_until(lambda: replica_states(survivor.url, COLL)[0].get(victim.peer_id) == "Dead", timeout=15,
               desc="victim's replica Dead")
    # Enough writes to outgrow the 1 MB retention; the checkpointer then drops old segments.
    more = fill(survivor, 60_000, start=2_000_000)
    wait_until(lambda: shard_digest(survivor.url, COLL, 0)["wal_first_seq"] > victim_seq + 1, timeout=30,
               desc="the survivor's WAL no longer holds what the victim misses")
    victim.start(wait_ready=False)
    wait_settled(c.peers, {0: {victim.peer_id: "Active", survivor.peer_id: "Active"}}, timeout=60)
    log = victim.log_path.read_text(errors="replace")
    assert "wal_delta impossible" in log
    assert_converged(c, base + more, [p for p in c.peers])


def test_transfer_progress_comment_on_every_peer(cluster_factory):
    """GET …/cluster on any peer shows a running transfer's progress comment (asked of its
    target). The source is paused so the transfer stays in its first stage meanwhile."""
    c = cluster_factory(3)
    a = c.peer(0)
    create(a, shard_number=3, rf=1)
    states = wait_until(lambda: (s := replica_states(a.url, COLL)) and len(s) == 3 and s, timeout=15,
                        desc="collection placed")
    leader = c.leader_id()
    shard, source = next((s, next(iter(r))) for s, r in states.items() if next(iter(r)) != leader)
    target = next(p.peer_id for p in c.peers if p.peer_id != source)
    observer = next(p for p in c.peers if p.peer_id not in (source, target))
    paused = c.peer_by_id(source)
    os.kill(paused.proc.pid, signal.SIGSTOP)
    try:
        cluster_op(observer, {"replicate_shard": {"shard_id": shard, "from_peer_id": source, "to_peer_id": target,
                                                  "method": "stream_records"}})
        # The comment shows up as the runner is registered, one stage before its copy begins.
        transfers = wait_until(lambda: (t := observer.collection_cluster(COLL)["shard_transfers"])
                               and t[0].get("comment", "").startswith("proxifying") and t,
                               timeout=5, interval=0.02, desc="the target's runner reports progress")
        assert len(transfers) == 1 and transfers[0]["method"] == "stream_records", transfers
        assert transfers[0]["comment"].startswith("proxifying: 0 points, 0.0 MB"), transfers
    finally:
        os.kill(paused.proc.pid, signal.SIGCONT)
    # The paused source was marked Dead meanwhile (aborting the transfer) or the transfer went on;
    # either way the shard settles Active everywhere it is placed.
    wait_until(lambda: all(set(r.values()) == {"Active"} for r in replica_states(a.url, COLL).values())
               and not a.collection_cluster(COLL)["shard_transfers"] or None, timeout=40, desc="settled")
