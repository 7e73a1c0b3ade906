"""Cluster lifecycle as operators meet it (issue 13, design record 009): peers that come back on
a new address, lose their disk or join twice, lose a collection directory, the first peer
restarted and joined through, and automatic recovery within the transfer limits.

Scenarios marked "under load" run a `replication_load.Load` through the peers that stay up and
check afterwards that every acknowledged write is readable and that all `Active` replicas of
each shard have equal digests. Times are printed (`-s`) for the closing note.

Run: .venv/bin/pytest -q tests/python/test_lifecycle.py -s
"""

from __future__ import annotations

import shutil
import subprocess
import time

import pytest
import requests

from cluster_harness import Cluster, Peer, result, wait_until
from replication_load import Load, check_replicas, replica_states, retrieve_payloads

VEC = {"size": 4, "distance": "Dot"}
COLL = "life"


# ---------------------------------------------------------------------------------- helpers
def create_collection(peer: Peer, shard_number: int, rf: int, name: str = COLL) -> None:
    body = {"vectors": VEC, "shard_number": shard_number, "replication_factor": rf}
    assert result(peer.put(f"/collections/{name}", json=body)) is True


def all_active(peers: list[Peer], name: str = COLL, replicas: int | None = None) -> bool:
    for p in peers:
        states = replica_states(p.url, name, timeout=2)
        flat = [st for reps in states.values() for st in reps.values()]
        if not flat or any(st != "Active" for st in flat):
            return False
        if replicas is not None and len(flat) != replicas:
            return False
    return True


def urls(peers: list[Peer]) -> dict[int, str]:
    return {p.peer_id: p.url for p in peers}


def registered_uris(peer: Peer) -> dict[int, str]:
    return {int(k): v["uri"].rstrip("/") for k, v in peer.cluster_info(timeout=2)["peers"].items()}


def wait_uri_everywhere(c: Cluster, who: Peer, timeout: float) -> float:
    """Until every live peer lists `who` at its current p2p URI; returns when."""
    def seen():
        return all(registered_uris(p).get(who.peer_id) == who.uri for p in c.live_peers())
    wait_until(seen, timeout=timeout, interval=0.05, desc=f"peer {who.peer_id} at {who.uri} on every peer")
    return time.monotonic()


def ready(peer: Peer) -> bool:
    return peer.get("/readyz", timeout=2).status_code == 200


def print_load(tag: str, rec, t0: float) -> None:
    print(f"[{tag}] " + rec.summary(t0).replace("\n", f"\n[{tag}] "))


def final_checks(tag: str, rec, peers: list[Peer], name: str = COLL) -> None:
    report = check_replicas(peers[0].url, name, rec.acked_ids(), urls(peers))
    print(f"[{tag}] " + report.describe().replace("\n", f"\n[{tag}] "))
    report.assert_ok()
    assert not rec.stale, "stale reads:\n" + "\n".join(map(str, rec.stale[:5]))


def three_peers_rf2(cluster_factory, shard_number: int = 3) -> Cluster:
    c = cluster_factory(3)
    create_collection(c.peer(0), shard_number=shard_number, rf=2)
    wait_until(lambda: all_active(c.peers, replicas=2 * shard_number), timeout=20, desc="replicas Active")
    return c


# ---------------------------------------------------------------------------------- 1. new address
@pytest.mark.parametrize(
    "stop,bootstrap,env_flags",
    [("kill", False, False), ("sigterm", True, True), ("kill", True, False)],
    ids=["kill9-no-bootstrap", "sigterm-bootstrap-env", "kill9-bootstrap-flags"],
)
def test_restart_on_new_address(cluster_factory, stop, bootstrap, env_flags):
    """A peer stopped and restarted with its storage on other ports (p2p, REST, gRPC) and a new
    `--uri`: the new URI is committed and shown on every peer within 5 s, its replicas recover
    to Active by themselves, `/readyz` answers 200; under load, nothing acknowledged is lost."""
    tag = f"new address ({stop}, bootstrap={bootstrap}, env={env_flags})"
    c = three_peers_rf2(cluster_factory)
    victim = c.peer(2)
    survivors = [c.peer(0), c.peer(1)]
    load = Load(COLL, [p.url for p in survivors], writers=2).start()
    load.wait_acks(5)
    t0 = time.monotonic()
    victim.kill() if stop == "kill" else victim.stop()
    old_uri = victim.uri
    load.wait_acks(len(load.acks_so_far()) + 10)  # writes go on while it is away
    victim.move_to_new_ports()
    victim.flags_in_env = env_flags
    victim.restart_bootstrap = survivors[1].uri if bootstrap else None
    t_start = time.monotonic()
    victim.start(wait_ready=False)
    t_uri = wait_uri_everywhere(c, victim, timeout=15)
    t_active = wait_until(lambda: all_active(c.peers) and time.monotonic(), timeout=60, desc="all Active")
    wait_until(lambda: ready(victim), timeout=15, desc="victim ready")
    t_ready = time.monotonic()
    # Back: the load goes through it too, and nothing fails from now on.
    load.set_urls(write_urls=[p.url for p in c.peers], read_urls=[p.url for p in c.peers])
    load.wait_acks(len(load.acks_so_far()) + 20)
    late = load.stop()
    print_load(tag, late, t0)
    print(f"[{tag}] moved {old_uri} -> {victim.uri}; new URI on every peer after "
          f"{t_uri - t_start:.2f}s; every replica Active after {t_active - t_start:.2f}s; "
          f"/readyz 200 after {t_ready - t_start:.2f}s; load errors after the restart: "
          f"{len(late.errors_after(t_start))}, after it was back: {len(late.errors_after(t_ready))}")
    assert t_uri - t_start <= 5.0 + 3.0, "new URI took too long"  # 5 s + process start-up
    assert not late.errors_after(t_ready), late.errors_after(t_ready)[:5]
    assert victim.cluster_info()["peer_id"] == victim.peer_id
    assert old_uri not in registered_uris(c.peer(0)).values()
    final_checks(tag, late, c.peers)
    # Reads through the moved peer and writes through it work.
    got = retrieve_payloads(victim.url, COLL, late.acked_ids()[-50:])
    assert all(got.get(i) == {"n": i} for i in late.acked_ids()[-50:])


@pytest.mark.parametrize("who", ["leader", "follower"])
def test_two_peers_one_moves(cluster_factory, who):
    """In a 2-peer cluster no entry commits without the moved peer: its new address must reach
    the other peer before the membership change can commit (route overrides, design 009 §3)."""
    c = cluster_factory(2)
    create_collection(c.peer(0), shard_number=2, rf=2)
    wait_until(lambda: all_active(c.peers, replicas=4), timeout=20)
    leader = c.leader_id()
    victim = next(p for p in c.peers if (p.peer_id == leader) == (who == "leader"))
    other = next(p for p in c.peers if p is not victim)
    points = [{"id": i, "vector": [1, 0, 0, float(i)], "payload": {"n": i}} for i in range(1, 101)]
    result(other.put(f"/collections/{COLL}/points", json={"points": points}, params={"wait": "true"}))
    # Reads through the survivor confirm its replicas current (design 003 §8: only a confirmed
    # replica may take writes alone once its peer is down).
    wait_until(lambda: len(retrieve_payloads(other.url, COLL, list(range(1, 101)))) == 100, timeout=10)
    victim.kill()
    more = [{"id": i, "vector": [1, 0, 0, float(i)], "payload": {"n": i}} for i in range(101, 151)]
    # The survivor takes writes alone once it sees the other peer down (design 003 §8); a
    # client retries until then.
    def write_more():
        r = other.put(f"/collections/{COLL}/points", json={"points": more}, params={"wait": "true"})
        assert r.status_code == 200, r.text
        return True
    wait_until(write_more, timeout=15, interval=0.2, desc="write acknowledged by the survivor")
    victim.move_to_new_ports()
    t0 = time.monotonic()
    victim.start(wait_ready=False)
    wait_uri_everywhere(c, victim, timeout=15)
    t_uri = time.monotonic()
    wait_until(lambda: all_active(c.peers, replicas=4), timeout=30, desc="all Active")
    wait_until(lambda: ready(victim), timeout=15, desc="victim ready")
    print(f"[2 peers, {who} moved] new URI everywhere after {t_uri - t0:.2f}s, all Active after "
          f"{time.monotonic() - t0:.2f}s")
    c.wait_converged()
    got = retrieve_payloads(victim.url, COLL, list(range(1, 151)))
    assert all(got.get(i) == {"n": i} for i in range(1, 151))
    report = check_replicas(victim.url, COLL, list(range(1, 151)), urls(c.peers))
    report.assert_ok()


def test_new_address_after_collections_recreated(cluster_factory):
    """While a peer is away, collections are created, dropped and re-created under the same name
    several times; back on a new address it ends with exactly the cluster's collections: no
    directory of a dropped incarnation, the old incarnation's points gone, new collections
    present with Active replicas."""
    c = cluster_factory(3)
    victim = c.peer(2)
    p0 = c.peer(0)
    for name in ("keep", "gone", "again"):
        body = {"vectors": VEC, "shard_number": 3, "replication_factor": 3}
        assert result(p0.put(f"/collections/{name}", json=body)) is True
    wait_until(lambda: all(all_active(c.peers, n) for n in ("keep", "gone", "again")), timeout=20)
    old_points = [{"id": i, "vector": [1, 0, 0, float(i)], "payload": {"v": "old"}} for i in range(1, 31)]
    result(p0.put("/collections/again/points", json={"points": old_points}, params={"wait": "true"}))
    victim.kill()
    for round_ in range(3):
        assert result(p0.delete("/collections/again")) is True
        body = {"vectors": VEC, "shard_number": 2 + round_, "replication_factor": 3}
        assert result(p0.put("/collections/again", json=body)) is True
    assert result(p0.delete("/collections/gone")) is True
    assert result(p0.put("/collections/fresh", json={"vectors": VEC, "shard_number": 2, "replication_factor": 3}))
    new_points = [{"id": i, "vector": [0, 1, 0, float(i)], "payload": {"v": "new"}} for i in range(100, 110)]
    result(p0.put("/collections/again/points", json={"points": new_points}, params={"wait": "true"}))
    victim.move_to_new_ports()
    victim.start(wait_ready=False)
    wait_uri_everywhere(c, victim, timeout=15)
    wanted = {"keep", "again", "fresh"}
    wait_until(lambda: all(all_active(c.peers, n) for n in wanted), timeout=60, desc="every replica Active")
    wait_until(lambda: ready(victim), timeout=15, desc="victim ready")
    assert victim.collection_names() == wanted
    on_disk = {d.name for d in (victim.storage / "collections").iterdir()}
    assert on_disk == wanted, f"leftover collection directories: {on_disk - wanted}"
    shards = [d.name for d in victim.collection_dir("again").iterdir() if d.is_dir() and d.name.isdigit()]
    assert sorted(shards) == ["0", "1", "2", "3"], shards  # the last incarnation has 4 shards
    points = result(victim.post("/collections/again/points/scroll", json={"limit": 100, "with_payload": True}))
    assert sorted(p["id"] for p in points["points"]) == list(range(100, 110))
    assert all(p["payload"] == {"v": "new"} for p in points["points"])
    counts = {p.peer_id: result(p.post("/collections/again/points/count", json={"exact": True}))["count"]
              for p in c.peers}
    assert set(counts.values()) == {10}, counts


# ---------------------------------------------------------------------------------- 2. same URI, new identity
def test_wiped_peer_with_registered_uri_is_refused(cluster_factory):
    """A peer whose storage was lost, started again with the URI of its old identity (which
    still holds replicas), fails within 10 s with status 101 and a message naming the registered
    peer and the ways out; the cluster is unchanged. Once the old peer is removed, the same URI
    joins normally as a new peer."""
    c = three_peers_rf2(cluster_factory)
    victim = c.peer(2)
    old_id = victim.peer_id
    before = registered_uris(c.peer(0))
    victim.kill()
    victim.wipe_storage()
    victim.bootstrap = c.peer(0).uri
    t0 = time.monotonic()
    victim.start(wait_ready=False)
    try:
        rc = victim.proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pytest.fail(f"a wiped peer on a registered URI kept running:\n{victim.log_tail()}")
    took = time.monotonic() - t0
    log = victim.log_tail(20)
    print(f"[same URI, new identity] exit status {rc} after {took:.2f}s; log tail:\n{log}")
    victim._down_on_purpose = True
    assert rc == 101
    assert str(old_id) in log and f"DELETE /cluster/peer/{old_id}" in log and "restore" in log
    for p in c.peers[:2]:
        assert registered_uris(p) == before
    # The way out: remove the old identity, start again: a new peer on the same URI.
    assert result(c.peer(0).delete(f"/cluster/peer/{old_id}", params={"force": "true"})) is True
    victim.wipe_storage()
    victim.start()
    assert victim.peer_id != old_id
    wait_until(lambda: registered_uris(c.peer(0)).get(victim.peer_id) == victim.uri, timeout=10)
    assert old_id not in registered_uris(c.peer(0))
    c.wait_converged()


def test_wiped_peer_without_replicas_replaces_its_old_identity(cluster_factory):
    """If the peer registered with that URI holds no replica, the new peer replaces it (the old
    id is removed through consensus), as Qdrant does."""
    c = cluster_factory(3)
    holder = c.peer(0)
    body = {"vectors": VEC, "shard_number": 1, "replication_factor": 1}
    # Place the one shard on peer 0: create, then move it there if needed.
    assert result(holder.put(f"/collections/{COLL}", json=body)) is True
    states = wait_until(lambda: replica_states(holder.url, COLL), timeout=10)
    owner = next(iter(states[0]))
    empty = next(p for p in c.peers if p.peer_id != owner)
    old_id = empty.peer_id
    empty.kill()
    empty.wipe_storage()
    empty.bootstrap = next(p for p in c.peers if p is not empty).uri
    empty.start()
    assert empty.peer_id != old_id
    other = next(p for p in c.peers if p is not empty)
    wait_until(lambda: old_id not in registered_uris(other) and empty.peer_id in registered_uris(other),
               timeout=10, desc="old identity replaced")
    assert registered_uris(other)[empty.peer_id] == empty.uri
    c.wait_converged()


# ---------------------------------------------------------------------------------- 3. lost collection data
def test_lost_collection_directory_recovers(cluster_factory):
    """A peer killed, its collection directory deleted, restarted: it never answers from the
    emptied replicas, has them marked Dead, recovers them from the others; afterwards its
    replicas are Active with digests equal to the others'. Under load."""
    tag = "lost collection dir"
    c = three_peers_rf2(cluster_factory)
    victim = c.peer(2)
    survivors = [c.peer(0), c.peer(1)]
    load = Load(COLL, [p.url for p in survivors], writers=2).start()
    load.wait_acks(10)
    victim.kill()
    load.wait_acks(len(load.acks_so_far()) + 5)
    shutil.rmtree(victim.collection_dir(COLL))
    t_start = time.monotonic()
    victim.start(wait_ready=False)
    # From the moment it answers: reads through it are complete or refused, never short; its
    # replicas are never shown Active with fewer points than acknowledged.
    short_reads: list[str] = []
    def probe():
        try:
            local = result(victim.get(f"/collections/{COLL}/cluster", timeout=2))["local_shards"]
            empty_active = [s for s in local if s["state"] == "Active" and s["points_count"] == 0]
            if empty_active:
                short_reads.append(f"emptied replicas shown Active: {empty_active}")
        except (AssertionError, requests.RequestException):
            pass
        acked = sorted(i for a in load.acks_so_far() for i in a.ids)[:200]
        try:
            got = retrieve_payloads(victim.url, COLL, acked, timeout=5)
        except (AssertionError, requests.RequestException):
            return False
        missing = [i for i in acked if got.get(i) != {"n": i}]
        if missing:
            short_reads.append(f"{len(missing)} of {len(acked)} acked ids missing")
        return False
    wait_until(lambda: victim.get("/", timeout=1).status_code == 200, timeout=20, interval=0.01,
               desc="victim answers")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        probe()
        try:
            if all_active(c.peers):
                break
        except requests.RequestException:
            pass
    t_active = time.monotonic()
    assert all_active(c.peers), replica_states(c.peer(0).url, COLL)
    wait_until(lambda: ready(victim), timeout=15, desc="victim ready")
    rec = load.stop()
    print_load(tag, rec, t_start)
    print(f"[{tag}] every replica Active {t_active - t_start:.2f}s after the restart; load errors "
          f"after the restart: {len(rec.errors_after(t_start))}")
    assert not short_reads, f"the emptied peer served incomplete reads: {short_reads[:5]}"
    final_checks(tag, rec, c.peers)
    for p in c.peers:
        assert result(p.post("/cluster/recover")) is True


def test_lost_only_copy_stays_dead_and_red(cluster_factory):
    """With replication_factor 1, a peer that lost its collection directory never serves its
    shards as empty Active ones: they are recorded Dead, the collection reports red with a
    message, reads of its points fail clearly; POST /cluster/recover answers 200 everywhere."""
    c = cluster_factory(2)
    p0, victim = c.peer(0), c.peer(1)
    create_collection(p0, shard_number=4, rf=1)
    wait_until(lambda: all_active(c.peers, replicas=4), timeout=20)
    points = [{"id": i, "vector": [1, 0, 0, float(i)], "payload": {"n": i}} for i in range(1, 201)]
    result(p0.put(f"/collections/{COLL}/points", json={"points": points}, params={"wait": "true"}))
    lost_shards = sorted(s for s, reps in replica_states(p0.url, COLL).items() if victim.peer_id in reps)
    assert lost_shards, "every shard landed on one peer"
    victim.kill()
    shutil.rmtree(victim.collection_dir(COLL))
    victim.start(wait_ready=False)
    wait_until(lambda: victim.cluster_info(timeout=1), timeout=20, desc="victim answers")

    def recorded_dead():
        for p in c.peers:
            states = replica_states(p.url, COLL, timeout=2)
            if any(states[s][victim.peer_id] != "Dead" for s in lost_shards):
                return False
        return True
    wait_until(recorded_dead, timeout=15, desc="lost shards recorded Dead")
    for p in c.peers:
        info = result(p.get(f"/collections/{COLL}"))
        assert info["status"] == "red", info
        assert any(f"Shard {lost_shards[0]} has no active replica" in w["message"] for w in info["warnings"])
        local = result(p.get(f"/collections/{COLL}/cluster"))["local_shards"]
        assert not any(s["state"] == "Active" and s["shard_id"] in lost_shards for s in local)
        r = p.post(f"/collections/{COLL}/points/count", json={"exact": True})
        # Qdrant's answer to a read of a shard with no active replica: 500, not a retryable 503.
        assert r.status_code == 500, f"a count over a shard with no active replica answered: {r.text}"
        assert "does not have enough active replicas" in r.json()["status"]["error"], r.text
        print(f"[lost only copy] count via peer {p.peer_id}: HTTP {r.status_code} {r.text[:200]}")
        assert result(p.post("/cluster/recover")) is True
    states = replica_states(p0.url, COLL)
    assert all(states[s][victim.peer_id] == "Dead" for s in lost_shards), states


# ---------------------------------------------------------------------------------- 4. first peer restarted
def test_first_peer_restarted_then_new_peer_joins_through_it(cluster_factory):
    """The peer that started the cluster is killed; the others elect a leader; it restarts
    with the same --uri and no --bootstrap and rejoins as a member; after POST /cluster/recover
    compacted the log, a new empty peer bootstraps through it (a follower: the join is
    forwarded) and sees every collection with Active replicas; within 10 s every peer lists the
    same 4 peers and the same leader."""
    c = three_peers_rf2(cluster_factory)
    first = c.peer(0)
    first.kill()
    others = [c.peer(1), c.peer(2)]
    new_leader = c.leader_id(others)
    assert new_leader != first.peer_id
    first.start()
    c.wait_converged()
    assert c.leader_id() != first.peer_id, "the restarted first peer should rejoin as a follower"
    assert result(c.peer_by_id(c.leader_id()).post("/cluster/recover")) is True
    assert result(first.post("/cluster/recover")) is True
    t0 = time.monotonic()
    newcomer = c.add_peer(bootstrap_index=0)
    info = c.wait_converged(timeout=10)
    print(f"[first peer restarted] 4 peers agree {time.monotonic() - t0:.2f}s after the newcomer started")
    assert len(info["peers"]) == 4
    for p in c.peers:
        assert set(p.cluster_info()["peers"]) == set(info["peers"])
    assert newcomer.collection_names() == {COLL}
    # The newcomer may be receiving a replica (rebalance is on by default): wait for the copy.
    wait_until(lambda: all_active([newcomer]), timeout=60, desc="every replica Active on the newcomer")


# ---------------------------------------------------------------------------------- 5. limits
def test_automatic_recovery_within_transfer_limits(cluster_factory):
    """Several Dead replicas on a restarted peer recover with no more concurrent automatic
    transfers than incoming/outgoing_shard_transfers_limit (1 each, per collection) allow; all
    end Active; a user's replicate_shard above the limit is still accepted."""
    c = three_peers_rf2(cluster_factory, shard_number=6)
    victim = c.peer(2)
    p0 = c.peer(0)
    held = sorted(s for s, reps in replica_states(p0.url, COLL).items() if victim.peer_id in reps)
    assert len(held) >= 3, held
    victim.kill()
    points = [{"id": i, "vector": [1, 0, 0, float(i)], "payload": {"n": i}} for i in range(1, 3001)]
    for k in range(0, len(points), 500):
        result(p0.put(f"/collections/{COLL}/points", json={"points": points[k:k + 500]}, params={"wait": "true"}))
    wait_until(lambda: all(replica_states(p0.url, COLL)[s][victim.peer_id] == "Dead" for s in held), timeout=15)
    victim.start(wait_ready=False)
    max_in: dict[int, int] = {}
    max_out: dict[int, int] = {}
    manual_shard: int | None = None
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            info = result(p0.get(f"/collections/{COLL}/cluster", timeout=2))
        except (requests.RequestException, AssertionError):
            continue
        auto = [t for t in info["shard_transfers"] if t["shard_id"] != manual_shard]
        ins: dict[int, int] = {}
        outs: dict[int, int] = {}
        for t in auto:
            ins[t["to"]] = ins.get(t["to"], 0) + 1
            outs[t["from"]] = outs.get(t["from"], 0) + 1
        for k, v in ins.items():
            max_in[k] = max(max_in.get(k, 0), v)
        for k, v in outs.items():
            max_out[k] = max(max_out.get(k, 0), v)
        if auto and manual_shard is None:
            # A user's transfer into the same peer, over the limit: accepted.
            running = {t["shard_id"] for t in info["shard_transfers"]}
            states = replica_states(p0.url, COLL, timeout=2)
            candidates = [s for s, reps in states.items() if s not in running and victim.peer_id not in reps]
            if candidates:
                s = candidates[0]
                src = next(pid for pid, st in states[s].items() if st == "Active")
                body = {"replicate_shard": {"shard_id": s, "from_peer_id": src, "to_peer_id": victim.peer_id}}
                r = p0.post(f"/collections/{COLL}/cluster", json=body)
                assert r.status_code == 200, r.text
                manual_shard = s
        if all_active(c.peers) and not info["shard_transfers"]:
            break
    print(f"[limits] max concurrent automatic transfers: incoming {max_in}, outgoing {max_out}; "
          f"manual replicate_shard of shard {manual_shard} above the limit accepted")
    assert all_active(c.peers), replica_states(p0.url, COLL)
    assert max_in and max(max_in.values()) == 1, max_in
    assert max(max_out.values()) == 1, max_out
    assert manual_shard is not None, "no automatic transfer was seen running"


# ---------------------------------------------------------------------------------- rolling restart
def test_rolling_restart_without_failed_requests(cluster_factory):
    """Issue 17 §3: each peer of a 3-peer rf=2 cluster restarted in turn (SIGTERM, then started
    again) under load: the peer hands its shards off before stopping, the load (sent to the
    peers that stay up, as a Kubernetes service would) sees no failed request, and the peer
    serves again only once its replicas caught up."""
    tag = "rolling restart"
    c = three_peers_rf2(cluster_factory, shard_number=3)
    load = Load(COLL, [p.url for p in c.peers], writers=2, write_timeout=10.0, read_timeout=10.0).start()
    load.wait_acks(10)
    t0 = time.monotonic()
    for victim in c.peers:
        others = [p for p in c.peers if p is not victim]
        load.set_urls(write_urls=[p.url for p in others], read_urls=[p.url for p in others])
        load.wait_acks(len(load.acks_so_far()) + 5)
        started = time.monotonic()
        assert victim.stop() == 0, "a graceful stop must exit cleanly"
        stopped = time.monotonic()
        victim.start(wait_ready=False)
        wait_until(lambda: ready(victim), timeout=60, desc=f"peer {victim.peer_id} ready again")
        wait_until(lambda: all_active(c.peers), timeout=60, desc="all replicas Active")
        print(f"[{tag}] peer {victim.peer_id}: stopped in {stopped - started:.2f}s, ready and all Active "
              f"{time.monotonic() - stopped:.2f}s after the stop")
        load.set_urls(write_urls=[p.url for p in c.peers], read_urls=[p.url for p in c.peers])
    load.wait_acks(len(load.acks_so_far()) + 10)
    rec = load.stop()
    print_load(tag, rec, t0)
    lat = sorted(a.t_end - a.t_start for a in rec.acks)
    print(f"[{tag}] write latency p50 {lat[len(lat) // 2] * 1000:.1f} ms, p99 {lat[int(len(lat) * 0.99)] * 1000:.1f} ms")
    assert not rec.failures, f"{len(rec.failures)} failed requests: {rec.failures[:5]}"
    final_checks(tag, rec, c.peers)
