"""Cluster scenarios operators really run, against real processes: a whole cluster moved to new
addresses at once, a leader killed in the middle of a metadata change, clients retrying with
short timeouts across a leader change, a collection re-created while a peer is away, a removed
peer replaced by a fresh node, a snapshot recovered on one peer then replicated.

Every check compares counts and content on every replica and waits for conditions with a
deadline (no fixed sleeps).

Run: QUIVER_BIN=target/debug/quiver .venv/bin/pytest -q tests/python/test_operator_scenarios.py
"""

from __future__ import annotations

import time

import pytest
import requests

from cluster_harness import Peer, result, wait_until
from replication_load import Load, check_replicas
from scenario_helpers import (
    COLL, VEC, agree, all_active, create_collection, expected, kill_leader_then_restart,
    no_transfers, paused_transfer, ready, registered_uris, scroll_all, send_in_background, settled, shard_on,
    states, three_peers, upsert,
)


# ---------------------------------------------------------------------------------- 1. whole cluster moves
# The SIGTERM variants take 20-30 s each (the last peer to stop waits out its hand-off timeout):
# `long`, outside CI's budget; the SIGKILL variant covers the same recovery in CI.
@pytest.mark.parametrize("order,stop", [
    pytest.param("together", "sigterm", marks=pytest.mark.long),
    pytest.param("bootstrap-last", "sigterm", marks=pytest.mark.long),
    pytest.param("bootstrap-never", "sigterm", marks=pytest.mark.long),
    ("together", "kill")])
def test_whole_cluster_restarted_on_new_addresses(cluster_factory, order, stop):
    """Every peer stopped (one after another, or all SIGKILLed), then all started again on new
    ports with a new `--uri`; the followers get `--bootstrap` to a peer that is (or will be) up.
    The cluster elects a leader, every peer lists every other at its new URI, replicas end
    Active with equal content, writes work."""
    c = three_peers(cluster_factory)
    for p in c.peers:
        p.stop() if stop == "sigterm" else p.kill()
    for p in c.peers:
        p.move_to_new_ports()
    p0, p1, p2 = c.peers
    if order == "bootstrap-never":
        p1.restart_bootstrap, p2.restart_bootstrap = p2.uri, p1.uri
        back = [p1, p2]
    else:
        p1.restart_bootstrap = p2.restart_bootstrap = p0.uri
        back = [p0, p1, p2] if order == "together" else [p1, p2, p0]
    for p in back:
        p.start(wait_ready=False)
    for p in back:
        wait_until(lambda p=p: p.cluster_info(timeout=2), timeout=30, desc=f"peer {p.index} answers")

    def uris_everywhere():
        want = {p.peer_id: p.uri for p in back}
        return all({k: v for k, v in registered_uris(p).items() if k in want} == want for p in back)

    wait_until(uris_everywhere, timeout=40, desc="new URIs on every peer")
    c.leader_id(back, timeout=20)
    if order == "bootstrap-never":
        # The missing peer's replicas go Dead; each shard keeps one Active replica on the others.
        wait_until(lambda: all(ready(p) for p in back), timeout=40, desc="readyz")
        upsert(p1, range(300, 350))
        for p in back:
            assert result(p.post(f"/collections/{COLL}/points/count", json={"exact": True}))["count"] == 350
        return
    wait_until(lambda: all_active(back, replicas=6), timeout=40, desc="all Active")
    wait_until(lambda: all(ready(p) for p in back), timeout=20, desc="readyz")
    upsert(p2, range(300, 350))
    wait_until(lambda: agree(back, expect=expected(range(350))), timeout=60, desc="replicas agree")


# ---------------------------------------------------------------------------------- 2. leader killed mid-change


@pytest.mark.parametrize("via", ["leader", "follower"])
def test_leader_killed_during_collection_create(cluster_factory, via):
    """kill -9 of the Raft leader right after a create collection request was sent: afterwards
    the collection exists on every peer or on none; if it exists, its placement is the same on
    every peer, every replica ends Active and it takes writes; a 200 means it exists."""
    c = cluster_factory(3)
    leader = c.peer_by_id(c.leader_id())
    target = leader if via == "leader" else next(p for p in c.peers if p is not leader)
    body = {"vectors": VEC, "shard_number": 3, "replication_factor": 2}
    call = send_in_background(lambda: target.put(f"/collections/{COLL}", json=body, timeout=30))
    kill_leader_then_restart(c, lambda: True)
    call["thread"].join(60)
    wait_until(lambda: len({frozenset(p.collection_names()) for p in c.peers}) == 1, timeout=20,
               desc="same collections on every peer")
    exists = COLL in c.peer(0).collection_names()
    resp = call.get("response")
    print(f"create via {via}: {resp.status_code if resp is not None else call.get('error')!r}; exists={exists}")
    if resp is not None and resp.status_code == 200:
        assert exists, "create answered 200 but the collection does not exist"
    if not exists:
        create_collection(c.peer(1), 3, 2)
    wait_until(lambda: all_active(c.peers, replicas=6), timeout=40, desc="every replica Active")
    upsert(c.peer(2), range(100))
    wait_until(lambda: agree(c.peers, expect=expected(range(100))), timeout=60, desc="replicas agree")


@pytest.mark.parametrize("leader_role,moved,kind", [
    ("source", False, "replicate_shard"), ("target", False, "replicate_shard"),
    ("bystander", False, "replicate_shard"), ("source", True, "replicate_shard"),
    ("target", True, "replicate_shard"), ("source", False, "move_shard"), ("target", False, "move_shard")])
def test_leader_killed_during_replicate_shard(cluster_factory, leader_role, moved, kind):
    """replicate_shard, then kill -9 of the Raft leader (the transfer's source, target or neither)
    as soon as the transfer is listed, restarted on the same or a new address: no transfer stays
    listed, every peer reports the same placement, all replicas end Active with equal content
    and nothing is lost."""
    c = cluster_factory(3)
    create_collection(c.peer(0), 3, 1)
    wait_until(lambda: all_active(c.peers, replicas=3), timeout=30, desc="replicas Active")
    upsert(c.peer(0), range(600))
    leader = c.peer_by_id(c.leader_id())
    others = [p for p in c.peers if p is not leader]
    src, dst = {"source": (leader, others[0]), "target": (others[0], leader),
                "bystander": (others[0], others[1])}[leader_role]
    shard = shard_on(src)
    op = {kind: {"shard_id": shard, "from_peer_id": src.peer_id, "to_peer_id": dst.peer_id,
                 "method": "stream_records"}}
    result(others[1].post(f"/collections/{COLL}/cluster", json=op))
    kill_leader_then_restart(c, lambda: others[1].collection_cluster(COLL)["shard_transfers"]
                             or dst.peer_id in states(others[1])[shard], moved=moved)
    wait_until(lambda: no_transfers(c.peers) and all_active(c.peers), timeout=60,
               desc="no transfer left, all Active")
    wait_until(lambda: agree(c.peers, expect=expected(range(600))), timeout=60, desc="replicas agree")


def test_leader_killed_during_replication_factor_change(cluster_factory):
    """PATCH replication_factor 1 → 2, then kill -9 of the Raft leader at once: the factor is
    reached (every shard on 2 peers, Active), no transfer is left, equal content everywhere."""
    c = cluster_factory(3)
    create_collection(c.peer(0), 3, 1)
    wait_until(lambda: all_active(c.peers, replicas=3), timeout=30, desc="replicas Active")
    upsert(c.peer(0), range(600))
    leader = c.peer_by_id(c.leader_id())
    follower = next(p for p in c.peers if p is not leader)
    assert result(follower.patch(f"/collections/{COLL}", json={"params": {"replication_factor": 2}})) is True
    kill_leader_then_restart(c, lambda: True)
    wait_until(lambda: settled(c.peers, replicas=6), timeout=60, desc="factor 2 reached and balanced")
    wait_until(lambda: agree(c.peers, expect=expected(range(600))), timeout=60, desc="replicas agree")


# ---------------------------------------------------------------------------------- 3. client retries
def test_short_timeout_client_retries_across_leader_change(cluster_factory):
    """A client with a 1 s timeout upserts batches and retries a failed or timed-out batch
    (same ids, same content) on the next peer while the Raft leader is killed and restarted:
    in the end every id is there exactly once, with equal counts and content on every replica."""
    c = three_peers(cluster_factory, n_points=0)
    leader = c.peer_by_id(c.leader_id())
    state = {"batch": 0, "retries": 0}
    batches = [range(k, k + 20) for k in range(0, 1200, 20)]

    def client():
        i = 0
        for ids in batches:
            while True:
                peer = c.peers[i % 3]
                i += 1
                try:
                    upsert(peer, ids, timeout=1.0)
                    break
                except (requests.RequestException, AssertionError):
                    state["retries"] += 1
            state["batch"] += 1

    call = send_in_background(client)
    wait_until(lambda: state["batch"] >= 10, timeout=30, desc="10 batches")
    leader.kill()
    wait_until(lambda: state["batch"] >= 25, timeout=60, desc="writes go on without the leader")
    leader.start()
    call["thread"].join(120)
    assert call.get("done"), "client did not finish"
    print(f"retries: {state['retries']}")
    # A write that failed on the killed peer marks it Dead only after the deactivation delay,
    # which can be after its replicas were recovered: one more recovery round, then settled.
    wait_until(lambda: agree(c.peers, expect=expected(range(1200))), timeout=60, desc="replicas agree")


# ---------------------------------------------------------------------------------- 4. peer away
@pytest.mark.parametrize("stop", ["kill", "sigterm"])
def test_collection_recreated_while_a_peer_is_down(cluster_factory, stop):
    """While a peer is down (same address when it returns), the collection is deleted and created
    again under the same name with another shard layout and other content for the same ids. The
    returning peer must not resurrect any of the old collection's points: content and counts
    through every peer, and every replica's digest, are the new collection's."""
    c = three_peers(cluster_factory, shard_number=3, rf=2, n_points=400)
    victim = c.peer(2)
    victim.kill() if stop == "kill" else victim.stop()
    rest = c.peers[:2]
    assert result(rest[0].delete(f"/collections/{COLL}", timeout=60)) is True
    create_collection(rest[1], shard_number=2, rf=2)
    wait_until(lambda: all_active(rest, replicas=4) or no_transfers(rest) and all(
        s == "Active" for reps in states(rest[0]).values() for pid, s in reps.items() if pid != victim.peer_id),
        timeout=30, desc="new collection usable")
    upsert(rest[0], range(200, 300), tag="v2")
    victim.start()
    c.wait_converged(timeout=30)
    wait_until(lambda: settled(c.peers, replicas=4), timeout=60, desc="settled after return")
    wait_until(lambda: agree(c.peers, expect=expected(range(200, 300), tag="v2")), timeout=60, desc="replicas agree")
    old_dirs = [d for d in victim.collection_dir(COLL).iterdir() if d.is_dir() and d.name.isdigit()] \
        if victim.collection_dir(COLL).exists() else []
    assert all(int(d.name) < 2 for d in old_dirs), f"old shard dirs left: {old_dirs}"


def test_removed_peer_replaced_by_a_fresh_node_on_its_address(cluster_factory):
    """A down peer is removed with `DELETE /cluster/peer/{id}?force=true`; the operator starts a
    fresh node (empty storage) on the same address with `--bootstrap`. It joins under a new id,
    the old id is gone on every peer, the factor is restored and the new node gets replicas;
    content equal everywhere."""
    c = three_peers(cluster_factory, shard_number=3, rf=2, n_points=400)
    victim = c.peer(2)
    old_id = victim.peer_id
    victim.kill()
    rest = c.peers[:2]
    result(rest[1].delete(f"/cluster/peer/{old_id}", params={"force": "true"}, timeout=30))
    wait_until(lambda: all(old_id not in registered_uris(p) for p in rest), timeout=20, desc="old id gone")
    victim.wipe_storage()
    victim.bootstrap = rest[0].uri
    victim.start()
    assert victim.peer_id != old_id
    c.wait_converged(timeout=30)
    assert all(set(registered_uris(p)) == {p.peer_id for p in c.peers} for p in c.peers)
    wait_until(lambda: settled(c.peers, replicas=6), timeout=60, desc="factor kept, balanced")
    assert any(victim.peer_id in reps for reps in states(victim).values()), "new node got no replica"
    upsert(victim, range(400, 450))
    wait_until(lambda: agree(c.peers, expect=expected(range(450))), timeout=60, desc="replicas agree")


# ---------------------------------------------------------------------------------- 5. snapshots
def test_snapshot_recovered_on_one_peer_while_another_is_down(cluster_factory):
    """A snapshot taken on peer A; then points are changed; peer C (holding replicas) goes
    down; the snapshot is recovered by URL on peer B with `priority=snapshot`. When C returns,
    every replica (C's too) holds the snapshot's content, not the later writes."""
    c = three_peers(cluster_factory, shard_number=1, rf=3, n_points=300)
    a, b, down = c.peers
    snap = result(a.post(f"/collections/{COLL}/snapshots", timeout=60))["name"]
    upsert(a, range(300, 400), tag="late")
    upsert(a, range(0, 50), tag="late")
    down.kill()
    location = f"{a.url}/collections/{COLL}/snapshots/{snap}"
    result(b.put(f"/collections/{COLL}/snapshots/recover", json={"location": location, "priority": "snapshot"},
                 timeout=120))
    want = expected(range(300))
    wait_until(lambda: scroll_all(a) == want and scroll_all(b) == want, timeout=40, desc="snapshot content on a and b")
    down.start()
    c.wait_converged(timeout=30)
    wait_until(lambda: settled(c.peers, replicas=3), timeout=60, desc="all Active after return")
    wait_until(lambda: agree(c.peers, expect=want), timeout=60, desc="replicas agree")


# ---------------------------------------------------------------------------------- 6. more crashes
def test_whole_cluster_killed_at_once_under_load(cluster_factory):
    """Power loss: every peer SIGKILLed at the same moment while writers run, then all started
    again. Every acknowledged write is there, every replica ends Active, replicas of a shard
    have equal digests (writes the crash left on some replicas only are reconciled)."""
    c = three_peers(cluster_factory, shard_number=3, rf=2, n_points=0)
    load = Load(COLL, [p.url for p in c.peers], read_urls=[], writers=3).start()
    load.wait_acks(30, timeout=30)
    for p in c.peers:
        p.proc.kill()
    rec = load.stop()
    for p in c.peers:
        p.kill()
    for p in c.peers:
        p.start(wait_ready=False)
    for p in c.peers:
        p.wait_ready(60)
    c.wait_converged(timeout=30)
    wait_until(lambda: settled(c.peers, replicas=6), timeout=60, desc="all Active")
    t_active = time.monotonic()
    # A write the crash left on some replicas only (never acknowledged) is adopted by the
    # primary or filled into the others by its repair rounds: convergence within seconds.
    by_id = {p.peer_id: p.url for p in c.peers}
    report = wait_until(lambda: (r := check_replicas(c.peer(0).url, COLL, rec.acked_ids(), by_id)).ok() and r,
                        timeout=30, desc="replicas converged")
    print(f"converged {time.monotonic() - t_active:.1f}s after all Active\n{report.describe()}")


def test_wiped_peer_rejoins_on_a_new_address_then_old_id_removed(cluster_factory):
    """A peer's disk is lost; it is started on new ports (new `--uri`) with `--bootstrap`. It
    joins as a new id while the old id's replicas are Dead; once the operator force-removes the
    old id the factor is restored; content equal everywhere and the new peer takes writes."""
    c = three_peers(cluster_factory, shard_number=3, rf=2, n_points=400)
    victim = c.peer(2)
    old_id = victim.peer_id
    victim.kill()
    victim.wipe_storage()
    victim.move_to_new_ports()
    victim.bootstrap = c.peer(1).uri
    victim.start()
    assert victim.peer_id != old_id
    rest = c.peers[:2]
    result(rest[0].delete(f"/cluster/peer/{old_id}", params={"force": "true"}, timeout=30))
    wait_until(lambda: all(set(registered_uris(p)) == {q.peer_id for q in c.peers} for p in c.peers),
               timeout=20, desc="peers agree, old id gone")
    wait_until(lambda: settled(c.peers, replicas=6), timeout=60, desc="factor restored")
    upsert(victim, range(400, 450))
    wait_until(lambda: agree(c.peers, expect=expected(range(450))), timeout=60, desc="replicas agree")


def test_leader_killed_during_collection_delete(cluster_factory):
    """kill -9 of the Raft leader right after a delete collection request: afterwards the
    collection is gone on every peer (with its directories) or present and intact everywhere."""
    c = three_peers(cluster_factory, shard_number=3, rf=2, n_points=200)
    leader = c.peer_by_id(c.leader_id())
    follower = next(p for p in c.peers if p is not leader)
    call = send_in_background(lambda: follower.delete(f"/collections/{COLL}", timeout=30))
    kill_leader_then_restart(c, lambda: True)
    call["thread"].join(60)
    wait_until(lambda: len({frozenset(p.collection_names()) for p in c.peers}) == 1, timeout=20,
               desc="same collections on every peer")
    resp = call.get("response")
    if COLL in c.peer(0).collection_names():
        assert resp is None or resp.status_code != 200, "delete answered 200 but the collection exists"
        wait_until(lambda: settled(c.peers, replicas=6), timeout=60, desc="all Active")
        wait_until(lambda: agree(c.peers, expect=expected(range(200))), timeout=60, desc="replicas agree")
    else:
        wait_until(lambda: not any(p.collection_dir(COLL).exists() for p in c.peers), timeout=20,
                   desc="collection directories removed")


# ---------------------------------------------------------------------------------- 7. transfers cut short


def test_target_force_removed_during_a_transfer(cluster_factory):
    """The target of a running transfer is force-removed: the transfer is gone on every peer,
    the shard stays Active on its source, no replica names the removed peer (its own shard,
    rf 1, goes with it: `force` is the operator accepting that)."""
    import os
    import signal

    c = cluster_factory(3)
    src, dst, shard, asked = paused_transfer(c)
    rest = [src, asked]
    try:
        result(asked.delete(f"/cluster/peer/{dst.peer_id}", params={"force": "true"}, timeout=30))
        wait_until(lambda: no_transfers(rest) and all_active(rest, replicas=2), timeout=30,
                   desc="transfer gone, replicas Active")
        assert all(dst.peer_id not in reps for p in rest for reps in states(p).values())
    finally:
        os.kill(dst.proc.pid, signal.SIGCONT)
    dst.kill()
    wait_until(lambda: agree(rest), timeout=60, desc="replicas agree")
    assert shard in states(src) and src.peer_id in states(src)[shard]


def test_source_killed_during_a_transfer(cluster_factory):
    """The source (only Active copy) of a running transfer is killed, then restarted: no
    transfer is left, every replica is Active, content equal and complete."""
    import os
    import signal

    c = cluster_factory(3)
    src, dst, shard, asked = paused_transfer(c)
    src.kill()
    os.kill(dst.proc.pid, signal.SIGCONT)
    src.start()
    c.wait_converged(timeout=30)
    wait_until(lambda: no_transfers(c.peers) and all_active(c.peers), timeout=60, desc="no transfer, all Active")
    wait_until(lambda: agree(c.peers, expect=expected(range(300))), timeout=60, desc="replicas agree")


# ---------------------------------------------------------------------------------- 8. more variants
def test_two_peer_cluster_restarted_on_new_addresses(cluster_factory):
    """Both peers of a 2-peer cluster (no quorum without either) stopped and started on new
    addresses, the second with `--bootstrap` to the first's new one: they find each other,
    replicas end Active, writes work."""
    c = cluster_factory(2)
    create_collection(c.peer(0), 2, 2)
    wait_until(lambda: all_active(c.peers, replicas=4), timeout=30, desc="replicas Active")
    upsert(c.peer(0), range(200))
    for p in c.peers:
        p.kill()
        p.move_to_new_ports()
    c.peer(1).restart_bootstrap = c.peer(0).uri
    for p in c.peers:
        p.start(wait_ready=False)
    wait_until(lambda: all(registered_uris(p) == {q.peer_id: q.uri for q in c.peers} for p in c.peers),
               timeout=40, desc="new URIs on both peers")
    wait_until(lambda: all_active(c.peers, replicas=4) and all(ready(p) for p in c.peers), timeout=40,
               desc="all Active and ready")
    upsert(c.peer(1), range(200, 250))
    wait_until(lambda: agree(c.peers, expect=expected(range(250))), timeout=60, desc="replicas agree")


def test_leader_killed_during_shard_key_create(cluster_factory):
    """Custom sharding: kill -9 of the Raft leader right after `PUT …/shards` (create a shard key
    with 2 shards, rf 2): the key exists on every peer or on none; in the end it can be created
    (or exists), every replica is Active, and points written under it read back everywhere."""
    c = cluster_factory(3)
    body = {"vectors": VEC, "sharding_method": "custom", "replication_factor": 2}
    assert result(c.peer(0).put(f"/collections/{COLL}", json=body)) is True
    wait_until(lambda: all(COLL in p.collection_names() for p in c.peers), timeout=20, desc="collection everywhere")
    leader = c.peer_by_id(c.leader_id())
    follower = next(p for p in c.peers if p is not leader)
    key = {"shard_key": "k", "shards_number": 2, "replication_factor": 2}
    call = send_in_background(lambda: follower.put(f"/collections/{COLL}/shards", json=key, timeout=30))
    kill_leader_then_restart(c, lambda: True)
    call["thread"].join(60)

    def keys(p: Peer) -> frozenset:
        info = p.collection_cluster(COLL)
        return frozenset(s.get("shard_key") for s in info["local_shards"] + info["remote_shards"])

    wait_until(lambda: len({keys(p) for p in c.peers}) == 1, timeout=20, desc="same shard keys everywhere")
    if "k" not in keys(c.peer(0)):
        assert result(c.peer(1).put(f"/collections/{COLL}/shards", json=key, timeout=30)) is True
    wait_until(lambda: settled(c.peers, replicas=4), timeout=60, desc="key's replicas Active")
    points = [{"id": i, "vector": [1.0, 0.5, 0.25, float(i)], "payload": {"n": i, "tag": "v1"}} for i in range(100)]
    result(c.peer(2).put(f"/collections/{COLL}/points", json={"points": points, "shard_key": "k"},
                         params={"wait": "true"}))
    wait_until(lambda: agree(c.peers, expect=expected(range(100))), timeout=60, desc="replicas agree")


def test_collection_recreated_with_rf1_while_its_peer_is_down(cluster_factory):
    """rf 1: a peer is down while the collection is deleted and created again; the new
    collection places a shard on the down peer (it never held any of the new collection's data,
    only the old incarnation's). When it returns, that shard is an empty Active replica: the
    collection is green, no old point is served, and writes to every shard work."""
    c = cluster_factory(3)
    create_collection(c.peer(0), 3, 1)
    wait_until(lambda: all_active(c.peers, replicas=3), timeout=30, desc="replicas Active")
    upsert(c.peer(0), range(300))
    victim = c.peer(2)
    victim.kill()
    rest = c.peers[:2]
    assert result(rest[0].delete(f"/collections/{COLL}", timeout=60)) is True
    create_collection(rest[1], shard_number=3, rf=1)
    placed = {pid for reps in states(rest[0]).values() for pid in reps}
    assert victim.peer_id in placed, f"no shard placed on the down peer: {states(rest[0])}"
    victim.start()
    c.wait_converged(timeout=30)
    wait_until(lambda: settled(c.peers, replicas=3), timeout=30, desc="new collection all Active")
    info = result(c.peer(0).get(f"/collections/{COLL}"))
    assert info["status"] == "green", info
    upsert(c.peer(1), range(1000, 1100), tag="v2")
    wait_until(lambda: agree(c.peers, expect=expected(range(1000, 1100), tag="v2")), timeout=60, desc="replicas agree")


def test_collection_deleted_during_a_transfer_then_recreated(cluster_factory):
    """A collection is deleted while a transfer of one of its shards runs (its target paused),
    then created again under the same name: no transfer is left, the new collection's replicas
    are all Active and empty of old points on every peer, including the paused one."""
    import os
    import signal

    c = cluster_factory(3)
    src, dst, shard, asked = paused_transfer(c)
    try:
        assert result(asked.delete(f"/collections/{COLL}", timeout=60)) is True
    finally:
        os.kill(dst.proc.pid, signal.SIGCONT)
    wait_until(lambda: all(COLL not in p.collection_names() for p in c.peers), timeout=20, desc="deleted everywhere")
    create_collection(asked, 3, 2)
    wait_until(lambda: settled(c.peers, replicas=6), timeout=60, desc="new collection settled")
    upsert(src, range(500, 600), tag="v2")
    wait_until(lambda: agree(c.peers, expect=expected(range(500, 600), tag="v2")), timeout=60, desc="replicas agree")


def test_factor_raised_while_a_peer_is_down(cluster_factory):
    """rf 2 → 3 on 3 peers while one is down: the missing replicas cannot be placed yet; when
    the peer returns every shard reaches 3 Active replicas with equal content."""
    c = three_peers(cluster_factory, shard_number=2, rf=2, n_points=300)
    victim = c.peer(2)
    victim.kill()
    rest = c.peers[:2]
    assert result(rest[0].patch(f"/collections/{COLL}", json={"params": {"replication_factor": 3}})) is True
    upsert(rest[1], range(300, 350))
    victim.start()
    c.wait_converged(timeout=30)
    wait_until(lambda: settled(c.peers, replicas=6), timeout=60, desc="every shard on 3 peers")
    wait_until(lambda: agree(c.peers, expect=expected(range(350))), timeout=60, desc="replicas agree")


# ---------------------------------------------------------------------------------- 9. killed mid-create
def test_single_node_killed_while_creating_a_collection_starts_again():
    """kill -9 of a single node at moments during a create collection with 16 shards (each a new
    checkpoint file): it always starts again, and the collection is either absent or usable
    (writes to every shard, count exact). A checkpoint file created in place and cut before redb
    wrote its magic number used to stop every later start ("Not a redb database")."""
    import threading

    from quiver_server import QuiverServer

    outcomes = []
    with QuiverServer() as srv:
        for i, delay in enumerate([0, 0.003, 0.006, 0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08, 0.1, 0.15, 0.3, 0.6]):
            name = f"c{i}"
            body = {"vectors": VEC, "shard_number": 16}

            def create():
                try:
                    requests.put(f"{srv.url}/collections/{name}", json=body, timeout=10)
                except requests.RequestException:
                    pass  # killed mid-request

            t = threading.Thread(target=create)
            t.start()
            time.sleep(delay)  # the kill lands at a different moment of the create each round
            srv.kill()
            t.join()
            srv.start()
            exists = requests.get(f"{srv.url}/collections/{name}/exists", timeout=10).json()["result"]["exists"]
            if exists:
                points = [{"id": k, "vector": [1.0, 0.0, 0.0, float(k)]} for k in range(64)]
                r = requests.put(f"{srv.url}/collections/{name}/points", params={"wait": "true"},
                                 json={"points": points}, timeout=30)
                assert r.status_code == 200, r.text
                r = requests.post(f"{srv.url}/collections/{name}/points/count", json={"exact": True}, timeout=10)
                assert r.json()["result"]["count"] == 64, r.text
            outcomes.append("exists" if exists else "absent")
    print("after each kill:", outcomes)


def test_single_node_killed_while_creating_a_shard_key_starts_usable():
    """Custom sharding on a single node: kill -9 at moments during `PUT …/shards` (a key with
    16 shards): after the restart the key is either unknown (400) or takes writes to all its
    shards. Its shards were created after the key was recorded, so a cut left the key with
    shards missing for good (every write to it 503)."""
    import threading

    from quiver_server import QuiverServer

    outcomes = []
    with QuiverServer() as srv:
        for i, delay in enumerate([0, 0.005, 0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.08, 0.1, 0.15, 0.3]):
            name = f"k{i}"
            body = {"vectors": VEC, "sharding_method": "custom"}
            assert requests.put(f"{srv.url}/collections/{name}", json=body, timeout=10).status_code == 200

            def create_key():
                try:
                    requests.put(f"{srv.url}/collections/{name}/shards", json={"shard_key": "k", "shards_number": 16},
                                 timeout=10)
                except requests.RequestException:
                    pass  # killed mid-request

            t = threading.Thread(target=create_key)
            t.start()
            time.sleep(delay)
            srv.kill()
            t.join()
            srv.start()
            points = [{"id": k, "vector": [1.0, 0.0, 0.0, float(k)]} for k in range(64)]
            r = requests.put(f"{srv.url}/collections/{name}/points", params={"wait": "true"},
                             json={"points": points, "shard_key": "k"}, timeout=30)
            if r.status_code == 400 and "not found" in r.text:
                outcomes.append("absent")
                continue
            assert r.status_code == 200, r.text
            r = requests.post(f"{srv.url}/collections/{name}/points/count", json={"exact": True}, timeout=10)
            assert r.json()["result"]["count"] == 64, r.text
            outcomes.append("usable")
    print("after each kill:", outcomes)
