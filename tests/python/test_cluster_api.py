"""Cluster API details as Qdrant shows them: `GET /cluster/telemetry` through the official
client and as JSON, peer URIs shown with a trailing slash (and a `--uri` given with or without
one naming the same peer), the first unknown peer of a shard key placement named, and a shard key
created `Partial` (no `Active` replica): reads answer Qdrant's 500, collection status follows the
optimizers only.

Run: QUIVER_BIN=target/debug/quiver .venv/bin/pytest -q tests/python/test_cluster_api.py
"""

from __future__ import annotations

import requests
from qdrant_client import QdrantClient, models

from cluster_harness import Cluster, Peer, result, wait_until
from qhelpers import assert_error, assert_ok_envelope

VEC = {"size": 4, "distance": "Dot"}
NOT_ENOUGH_ACTIVE = "does not have enough active replicas"


def points(ids, key_payload: str = "x") -> list[dict]:
    return [{"id": i, "vector": [1.0, float(i), 0.5, 0.25], "payload": {"k": key_payload}} for i in ids]


def all_active(peer: Peer, name: str, expected: int) -> bool:
    info = peer.collection_cluster(name)
    states = [s["state"] for s in info["local_shards"] + info["remote_shards"]]
    return len(states) == expected and all(s == "Active" for s in states)


def replica_states(peer: Peer, name: str) -> list[str]:
    info = peer.collection_cluster(name)
    return sorted(s["state"] for s in info["local_shards"] + info["remote_shards"])


# ---------------------------------------------------------------------------- cluster telemetry
def test_cluster_telemetry_from_the_official_client_and_as_json(cluster_factory):
    c = cluster_factory(3)
    p0 = c.peers[0]
    by_id = {p.peer_id: p for p in c.peers}
    body = {"vectors": VEC, "shard_number": 3, "replication_factor": 2}
    assert result(p0.put("/collections/tele", json=body)) is True
    wait_until(lambda: all_active(p0, "tele", 6), timeout=30, desc="6 replicas Active")
    assert result(p0.put("/collections/tele/points", json={"points": points(range(60))},
                         params={"wait": "true"}))

    client = QdrantClient(url=c.peers[1].url, prefer_grpc=False, timeout=30)
    tele = client.cluster_telemetry()
    assert tele.cluster is not None and tele.cluster.enabled
    assert tele.cluster.number_of_peers == 3
    assert set(tele.cluster.peers) == {str(i) for i in by_id}
    roles = []
    for pid, info in tele.cluster.peers.items():
        assert info.uri == by_id[int(pid)].uri + "/", info.uri
        assert info.responsive is True and info.details is not None
        assert info.details.is_voter is True and info.details.version
        roles.append(str(info.details.role.value if hasattr(info.details.role, "value") else info.details.role))
    assert sorted(roles) == ["Follower", "Follower", "Leader"], roles
    coll = tele.collections["tele"]
    assert coll.id == "tele" and sorted(s.id for s in coll.shards) == [0, 1, 2]
    total = 0
    for shard in coll.shards:
        assert len(shard.replicas) == 2, shard
        counts = {r.num_points for r in shard.replicas}
        assert len(counts) == 1, f"replicas of shard {shard.id} agree: {shard.replicas}"
        assert all(str(getattr(r.state, "value", r.state)) == "Active" for r in shard.replicas)
        assert all(r.peer_id in by_id for r in shard.replicas)
        total += counts.pop()
    assert total == 60, "each shard's figures come from the peers holding it"
    assert coll.shard_transfers == []
    client.close()

    # The JSON shape and the query parameters of the API reference.
    r = requests.get(f"{p0.url}/cluster/telemetry", params={"details_level": 3, "timeout": 5}, timeout=30)
    res = assert_ok_envelope(r)
    assert set(res) == {"collections", "cluster"}
    assert set(res["cluster"]) == {"enabled", "number_of_peers", "peers"}
    details = res["cluster"]["peers"][str(p0.peer_id)]["details"]
    assert set(details) == {"version", "role", "is_voter", "term", "commit", "num_pending_operations",
                            "consensus_thread_status"}
    assert details["consensus_thread_status"]["consensus_thread_status"] == "working"
    assert set(res["collections"]["tele"]) == {"id", "shards", "shard_transfers"}
    replica = res["collections"]["tele"]["shards"][0]["replicas"][0]
    assert set(replica) == {"peer_id", "state", "status", "num_points"} and replica["status"] == "green"
    assert_error(requests.get(f"{p0.url}/cluster/telemetry", params={"timeout": 0}, timeout=10), 422, "timeout")

    # A peer that does not answer is listed, not responsive, without details.
    victim = c.peers[2]
    victim.kill()
    res = assert_ok_envelope(requests.get(f"{p0.url}/cluster/telemetry", params={"timeout": 3}, timeout=30))
    gone = res["cluster"]["peers"][str(victim.peer_id)]
    assert gone["responsive"] is False and "details" not in gone, gone
    assert res["cluster"]["peers"][str(p0.peer_id)]["responsive"] is True


def test_cluster_telemetry_standalone(rest, collection_name):
    assert_ok_envelope(rest.put(f"/collections/{collection_name}", json={"vectors": VEC, "shard_number": 2}))
    res = assert_ok_envelope(rest.get("/cluster/telemetry"))
    assert "cluster" not in res
    shards = res["collections"][collection_name]["shards"]
    assert sorted(s["id"] for s in shards) == [0, 1]
    assert all(len(s["replicas"]) == 1 and s["replicas"][0]["state"] == "Active" for s in shards)


# ---------------------------------------------------------------------------- peer URIs
class SlashPeer(Peer):
    """A peer whose `--uri` (and `--bootstrap`) is written with a trailing slash."""

    slash = True

    @property
    def uri(self) -> str:
        base = f"{self.cluster.p2p_scheme}://127.0.0.1:{self.p2p_port}"
        return base + "/" if self.slash else base


def test_peer_uris_shown_with_a_trailing_slash_and_parsed_either_way(cluster_factory):
    c = cluster_factory(1)
    p0 = c.peers[0]
    joiner = SlashPeer(c, 1)
    joiner.bootstrap = p0.uri + "/"
    c.peers.append(joiner)
    joiner.start()
    c.add_peer()
    canonical = {p.peer_id: f"http://127.0.0.1:{p.p2p_port}" for p in c.peers}
    for p in c.peers:
        wait_until(lambda p=p: len(p.cluster_info()["peers"]) == 3, timeout=15, desc=f"3 peers on {p!r}")
        shown = {int(k): v["uri"] for k, v in p.cluster_info()["peers"].items()}
        assert shown == {i: u + "/" for i, u in canonical.items()}, shown
    tele = assert_ok_envelope(requests.get(f"{p0.url}/telemetry", params={"details_level": 2}, timeout=10))
    assert {v["uri"] for v in tele["cluster"]["peers"].values()} == {u + "/" for u in canonical.values()}

    # Restarted with `--uri` now written without the slash: the same peer, nothing moved.
    joiner.stop()
    joiner.slash = False
    joiner.start()  # asserts the peer id is unchanged
    wait_until(lambda: all(len(p.cluster_info()["peers"]) == 3 for p in c.peers), timeout=15)
    shown = {int(k): v["uri"] for k, v in p0.cluster_info()["peers"].items()}
    assert shown == {i: u + "/" for i, u in canonical.items()}, shown
    body = {"vectors": VEC, "shard_number": 3, "replication_factor": 3}
    assert result(p0.put("/collections/uris", json=body)) is True
    wait_until(lambda: all_active(joiner, "uris", 9), timeout=30, desc="every replica Active, joiner included")


# ---------------------------------------------------------------------------- shard keys
def custom_collection(peer: Peer, name: str) -> None:
    client = QdrantClient(url=peer.url, prefer_grpc=False, timeout=30)
    assert client.create_collection(name, vectors_config=models.VectorParams(size=4, distance=models.Distance.DOT),
                                    sharding_method=models.ShardingMethod.CUSTOM)
    client.close()


def test_unknown_peers_of_a_placement_refused_before_placing(cluster_factory):
    c = cluster_factory(2)
    custom_collection(c.peers[0], "keyed")
    # As Qdrant's handler does, the placement's peers are checked in order before any shard is
    # placed: the first unknown one is named.
    body = {"shard_key": "bad", "shards_number": 4, "placement": [c.peers[1].peer_id, 999, 998]}
    assert_error(c.peers[0].put("/collections/keyed/shards", json=body), 400, "Bad request: Peer 999 does not exist")
    assert c.peers[0].collection_cluster("keyed")["shard_count"] == 0, "nothing created"


def test_a_partial_key_reads_and_reports_as_qdrant(cluster_factory):
    c = cluster_factory(3)
    p0, p1 = c.peers[0], c.peers[1]
    custom_collection(p0, "keyed")
    # Key "a" Active, key "p" created Partial: no Active replica of "p"'s shard anywhere.
    assert result(p0.put("/collections/keyed/shards", json={"shard_key": "a", "placement": [p1.peer_id]}))
    assert result(p0.put("/collections/keyed/shards",
                         json={"shard_key": "p", "placement": [p1.peer_id], "initial_state": "Partial"}))
    for p in c.peers:
        wait_until(lambda p=p: replica_states(p, "keyed") == ["Active", "Partial"], timeout=15,
                   desc=f"key a Active and key p Partial on {p!r}")
    assert result(p0.put("/collections/keyed/points", json={"points": points(range(10)), "shard_key": "a"},
                         params={"wait": "true"}))
    for p in c.peers:
        info = assert_ok_envelope(p.get("/collections/keyed"))
        assert info["status"] == "green" and "warnings" not in info, info
        # A read over every key reaches the Partial shard: Qdrant's 500, not a retryable 503.
        assert_error(p.post("/collections/keyed/points/count", json={}), 500, NOT_ENOUGH_ACTIVE)
        assert_error(p.post("/collections/keyed/points/scroll", json={"shard_key": "p"}), 500, NOT_ENOUGH_ACTIVE)
        counted = assert_ok_envelope(p.post("/collections/keyed/points/count", json={"shard_key": "a"}))
        assert counted["count"] == 10
