"""Helpers of `test_operator_scenarios.py`: a collection on a cluster, writes with known
content, replica views and their agreement (placement, digests, counts, content), and faults at
a chosen moment (the Raft leader killed, a transfer's target paused)."""

from __future__ import annotations

import requests

from cluster_harness import Cluster, Peer, result, wait_until
from replication_load import replica_states, shard_digest

VEC = {"size": 4, "distance": "Dot"}
COLL = "ops"


def create_collection(peer: Peer, shard_number: int, rf: int, name: str = COLL, **kw) -> None:
    body = {"vectors": VEC, "shard_number": shard_number, "replication_factor": rf, **kw}
    assert result(peer.put(f"/collections/{name}", json=body, timeout=60)) is True


def upsert(peer: Peer, ids, name: str = COLL, tag: str = "v1", timeout: float = 30) -> None:
    points = [{"id": i, "vector": [float(i % 7), 1.0, 0.5, float(i % 3)], "payload": {"n": i, "tag": tag}}
              for i in ids]
    result(peer.put(f"/collections/{name}/points", json={"points": points},
                    params={"wait": "true"}, timeout=timeout))


def states(peer: Peer, name: str = COLL) -> dict[int, dict[int, str]]:
    return replica_states(peer.url, name, timeout=3)


def all_active(peers: list[Peer], name: str = COLL, replicas: int | None = None) -> bool:
    views = [states(p, name) for p in peers]
    for st in views:
        flat = [s for reps in st.values() for s in reps.values()]
        if not flat or any(s != "Active" for s in flat):
            return False
        if replicas is not None and len(flat) != replicas:
            return False
    return all(v == views[0] for v in views)


def scroll_all(peer: Peer, name: str = COLL, shard_key=None) -> dict[int, dict]:
    out: dict[int, dict] = {}
    offset = None
    while True:
        body = {"limit": 1000, "with_payload": True, "with_vector": False}
        if offset is not None:
            body["offset"] = offset
        page = result(peer.post(f"/collections/{name}/points/scroll", json=body))
        for p in page["points"]:
            out[p["id"]] = p["payload"]
        offset = page.get("next_page_offset")
        if offset is None:
            return out


def assert_replicas_agree(peers: list[Peer], name: str = COLL, expect: dict[int, dict] | None = None) -> None:
    """Every peer's view of the placement is equal and Active; every replica of a shard has the
    same digest and count; the content read through every peer equals `expect` when given."""
    views = {p.peer_id: states(p, name) for p in peers}
    first = next(iter(views.values()))
    assert all(v == first for v in views.values()), f"placement views differ: {views}"
    by_id = {p.peer_id: p for p in peers}
    for sid, reps in first.items():
        digests = {}
        for pid, st in reps.items():
            assert st == "Active", f"shard {sid} on {pid}: {st}"
            d = shard_digest(by_id[pid].url, name, sid)
            digests[pid] = (d["digest"], d["points_count"])
        assert len(set(digests.values())) == 1, f"shard {sid} digests differ: {digests}"
    if expect is None:
        return
    for p in peers:
        count = result(p.post(f"/collections/{name}/points/count", json={"exact": True}))["count"]
        assert count == len(expect), f"count via peer {p.peer_id}: {count} != {len(expect)}"
        got = scroll_all(p, name)
        assert got == expect, f"content via peer {p.peer_id} differs: " \
            f"missing {sorted(set(expect) - set(got))[:10]} extra {sorted(set(got) - set(expect))[:10]}"


def agree(peers: list[Peer], name: str = COLL, expect: dict[int, dict] | None = None) -> bool:
    """`assert_replicas_agree` as a condition to wait for (its failure is "not yet")."""
    if not settled(peers, replicas=None, name=name):
        return False
    assert_replicas_agree(peers, name, expect)
    return True


def registered_uris(peer: Peer) -> dict[int, str]:
    return {int(k): v["uri"].rstrip("/") for k, v in peer.cluster_info(timeout=2)["peers"].items()}


def ready(peer: Peer) -> bool:
    return peer.get("/readyz", timeout=2).status_code == 200


def expected(ids, tag: str = "v1") -> dict[int, dict]:
    return {i: {"n": i, "tag": tag} for i in ids}


def three_peers(cluster_factory, shard_number: int = 3, rf: int = 2, n_points: int = 300) -> Cluster:
    c = cluster_factory(3)
    create_collection(c.peer(0), shard_number, rf)
    wait_until(lambda: all_active(c.peers, replicas=shard_number * rf), timeout=30, desc="replicas Active")
    upsert(c.peer(0), range(n_points))
    return c


def no_transfers(peers: list[Peer], name: str = COLL) -> bool:
    return all(p.collection_cluster(name)["shard_transfers"] == [] for p in peers)


def send_in_background(fn) -> dict:
    """Runs `fn` in a thread; the returned dict gets "response" or "error" when it ends."""
    import threading

    out: dict = {}

    def run():
        try:
            out["response"] = fn()
        except requests.RequestException as e:
            out["error"] = e
        out["done"] = True

    t = threading.Thread(target=run, daemon=True)
    t.start()
    out["thread"] = t
    return out


def kill_leader_then_restart(c: Cluster, after, moved: bool = False) -> Peer:
    """Kills the Raft leader with SIGKILL once `after()` holds (polled), restarts it (on new
    ports and a new `--uri` if `moved`), and waits until the cluster converged again."""
    leader = c.peer_by_id(c.leader_id())
    wait_until(after, timeout=10, interval=0.005, desc="moment to kill the leader")
    leader.kill()
    rest = [p for p in c.peers if p is not leader]
    c.leader_id(rest, timeout=20)
    if moved:
        leader.move_to_new_ports()
    leader.start()
    c.wait_converged(timeout=30)
    return leader


def shard_on(peer: Peer, name: str = COLL) -> int:
    return next(s["shard_id"] for s in peer.collection_cluster(name)["local_shards"])


def settled(peers: list[Peer], replicas: int | None, name: str = COLL) -> bool:
    """No transfer, every replica Active, the same view everywhere, and the placement keeper has
    nothing left to do (`placement.planned` empty on every peer)."""
    if not (no_transfers(peers, name) and all_active(peers, name, replicas=replicas)):
        return False
    return all(not p.collection_cluster(name).get("placement", {}).get("planned") for p in peers)


def paused_transfer(c: Cluster, n_points: int = 300):
    """rf 1, 3 shards; the target of a replicate_shard is SIGSTOPped before the transfer starts,
    so it stays running. Returns (source, target, shard, the peer asked)."""
    import os
    import signal

    create_collection(c.peer(0), 3, 1)
    wait_until(lambda: all_active(c.peers, replicas=3), timeout=30, desc="replicas Active")
    upsert(c.peer(0), range(n_points))
    src, dst, asked = c.peers
    shard = shard_on(src)
    os.kill(dst.proc.pid, signal.SIGSTOP)
    op = {"replicate_shard": {"shard_id": shard, "from_peer_id": src.peer_id, "to_peer_id": dst.peer_id,
                              "method": "stream_records"}}
    result(asked.post(f"/collections/{COLL}/cluster", json=op))
    wait_until(lambda: asked.collection_cluster(COLL)["shard_transfers"], timeout=10, desc="transfer listed")
    return src, dst, shard, asked
