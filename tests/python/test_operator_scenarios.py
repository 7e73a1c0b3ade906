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

from cluster_harness import Cluster, Peer, result, wait_until
from replication_load import replica_states, shard_digest

VEC = {"size": 4, "distance": "Dot"}
COLL = "ops"


# ---------------------------------------------------------------------------------- helpers
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
    for p in peers:
        count = result(p.post(f"/collections/{name}/points/count", json={"exact": True}))["count"]
        if expect is not None:
            assert count == len(expect), f"count via peer {p.peer_id}: {count} != {len(expect)}"
            got = scroll_all(p, name)
            assert got == expect, f"content via peer {p.peer_id} differs: " \
                f"missing {sorted(set(expect) - set(got))[:10]} extra {sorted(set(got) - set(expect))[:10]}"


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


# ---------------------------------------------------------------------------------- 1. whole cluster moves
@pytest.mark.parametrize("order", ["together", "bootstrap-last", "bootstrap-never"])
def test_whole_cluster_restarted_on_new_addresses(cluster_factory, order):
    """Every peer stopped, then all started again on new ports with a new `--uri`; the followers
    get `--bootstrap` to a peer that is (or will be) up. The cluster elects a leader, every peer
    lists every other at its new URI, replicas end Active with equal content, writes work."""
    c = three_peers(cluster_factory)
    for p in c.peers:
        p.stop()
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
    assert_replicas_agree(back, expect=expected(range(350)))
