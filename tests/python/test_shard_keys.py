"""Custom sharding (issue 17 §4, design record 016) with the official `qdrant-client` over REST and
gRPC: shard keys created, listed and dropped; writes and reads by key; Qdrant's 4xx for a missing
key on a custom collection, an unknown key and a key on an auto collection; and in a 3-peer
cluster keys placed on chosen peers, a keyed shard re-replicated after its peer is killed for
good, and `replicate_shard` of a keyed shard with equal digests afterwards.

Run: .venv/bin/pytest -q tests/python/test_shard_keys.py -s
"""

from __future__ import annotations

import time

import pytest
import requests
from qdrant_client import QdrantClient, models
from qdrant_client.http.exceptions import UnexpectedResponse

from cluster_harness import Peer, result, wait_until
from qhelpers import assert_error
from replication_load import Load, check_replicas, replica_states, shard_digest

VEC = models.VectorParams(size=4, distance=models.Distance.DOT)
GRACE = {"QDRANT__CLUSTER__REPLICA_GRACE_PERIOD_SEC": "3"}


def vector(i: int) -> list[float]:
    return [float(i % 5), 1.0, float(i % 3), 0.5]


def points(ids: range, tenant: str) -> list[models.PointStruct]:
    return [models.PointStruct(id=i, vector=vector(i), payload={"tenant": tenant, "n": i}) for i in ids]


def clients(server) -> list[tuple[str, QdrantClient]]:
    rest = QdrantClient(url=server.url, prefer_grpc=False, timeout=30)
    grpc = QdrantClient(url=server.url, grpc_port=server.grpc_port, prefer_grpc=True, timeout=30)
    return [("rest", rest), ("grpc", grpc)]


def custom_collection(client: QdrantClient, name: str) -> None:
    assert client.create_collection(name, vectors_config=VEC, sharding_method=models.ShardingMethod.CUSTOM)


def error_text(exc: Exception) -> str:
    if isinstance(exc, UnexpectedResponse):
        return f"{exc.status_code} {exc.content.decode(errors='replace')}"
    return str(exc)


@pytest.mark.parametrize("transport", ["rest", "grpc"])
def test_keys_route_writes_and_reads(server, unique, transport):
    client = dict(clients(server))[transport]
    name = unique("sk")
    custom_collection(client, name)
    assert client.create_shard_key(name, "a", shards_number=2)
    assert client.create_shard_key(name, 7)
    keys = sorted(str(k.key) for k in client.list_shard_keys(name).shard_keys)
    assert keys == ["7", "a"]

    client.upsert(name, points(range(0, 30), "a"), shard_key_selector="a", wait=True)
    client.upsert(name, points(range(100, 110), "7"), shard_key_selector=7, wait=True)
    assert client.count(name, shard_key_selector="a").count == 30
    assert client.count(name, shard_key_selector=7).count == 10
    assert client.count(name).count == 40, "a read without a key reaches every key"
    assert client.count(name, shard_key_selector=["a", 7]).count == 40

    page, _ = client.scroll(name, limit=100, shard_key_selector=7)
    assert sorted(p.id for p in page) == list(range(100, 110))
    assert {str(p.shard_key) for p in page} == {"7"}, "records carry their shard key"
    hits = client.query_points(name, query=[1.0, 1.0, 1.0, 1.0], limit=5, shard_key_selector="a").points
    assert hits and all(h.id < 30 for h in hits)
    assert [r.id for r in client.retrieve(name, [3, 105], shard_key_selector="a")] == [3]
    assert sorted(r.id for r in client.retrieve(name, [3, 105])) == [3, 105]

    client.set_payload(name, {"seen": True}, points=[1, 2], shard_key_selector="a", wait=True)
    client.delete(name, models.PointIdsList(points=[100, 101]), shard_key_selector=7, wait=True)
    assert client.count(name, shard_key_selector=7).count == 8
    seen = models.Filter(must=[models.FieldCondition(key="seen", match=models.MatchValue(value=True))])
    assert client.count(name, count_filter=seen).count == 2

    fallback = models.ShardKeyWithFallback(target="new-tenant", fallback="a")
    assert client.count(name, shard_key_selector=fallback).count == 30, "an absent target falls back"

    assert client.delete_shard_key(name, 7)
    assert client.count(name).count == 30, "the key's points went with it"
    assert [str(k.key) for k in client.list_shard_keys(name).shard_keys] == ["a"]


def test_a_fallback_selector_follows_the_targets_replica_states(cluster_factory):
    """Qdrant's tiered multitenancy (a one-peer cluster, where `initial_state` is kept): a tenant
    key created `Partial` (being filled) is not read yet, so a `{target, fallback}` selector
    reads the fallback key, and writes go to both keys so that the new key misses nothing (the
    `Active` target case: `routing.rs`'s unit test)."""
    peer = cluster_factory(1).peers[0]
    for transport, client in clients(peer):
        name = f"skfb_{transport}"
        custom_collection(client, name)
        assert client.create_shard_key(name, "fish")
        assert client.create_shard_key(name, "lion", initial_state=models.ReplicaState.PARTIAL)
        client.upsert(name, points(range(1, 3), "fish"), shard_key_selector="fish", wait=True)
        fallback = models.ShardKeyWithFallback(target="lion", fallback="fish")
        client.upsert(name, points(range(3, 4), "lion"), shard_key_selector=fallback, wait=True)

        page, _ = client.scroll(name, limit=10, shard_key_selector=fallback)
        assert sorted(p.id for p in page) == [1, 2, 3], "a partial target is read through its fallback"
        assert client.count(name, shard_key_selector=fallback).count == 3
        hits = client.query_points(name, query=[1.0, 1.0, 1.0, 1.0], limit=10, shard_key_selector=fallback).points
        assert sorted(h.id for h in hits) == [1, 2, 3]
        assert [r.id for r in client.retrieve(name, [3], shard_key_selector="fish")] == [3], "written to the fallback"
        keyed = {s["shard_key"]: s["points_count"] for s in result(requests.get(
            f"{peer.url}/collections/{name}/cluster", timeout=10))["local_shards"]}
        assert keyed == {"fish": 3, "lion": 1}, "and to the partial target"

        neither = models.ShardKeyWithFallback(target="x", fallback="y")
        with pytest.raises(Exception) as refused:
            client.count(name, shard_key_selector=neither)
        assert "Neither target shard key x nor fallback shard key y exist" in error_text(refused.value)


def test_replicate_points_moves_a_tenant_into_its_own_key(cluster_factory):
    """Qdrant's tiered multitenancy: a tenant's points copied from the shared key into a key of
    its own created `Partial`, which then turns `Active` and serves the fallback selector; the
    copy keeps vectors and payloads; Qdrant's checks refuse the shapes it refuses."""
    peer = cluster_factory(1).peers[0]
    for transport, client in clients(peer):
        name = f"skrp_{transport}"
        custom_collection(client, name)
        assert client.create_shard_key(name, "shared")
        shared = [models.PointStruct(id=i, vector=vector(i), payload={"tenant": "a" if i % 3 == 0 else "b", "n": i})
                  for i in range(1, 301)]
        client.upsert(name, shared, shard_key_selector="shared", wait=True)
        assert client.create_shard_key(name, "a", initial_state=models.ReplicaState.PARTIAL)
        tenant_a = models.Filter(must=[models.FieldCondition(key="tenant", match=models.MatchValue(value="a"))])
        move = models.ReplicatePoints(from_shard_key="shared", to_shard_key="a", filter=tenant_a)
        assert client.cluster_collection_update(name, models.ReplicatePointsOperation(replicate_points=move))

        states = {s["shard_key"]: s["state"] for s in result(requests.get(
            f"{peer.url}/collections/{name}/cluster", timeout=10))["local_shards"]}
        assert states == {"shared": "Active", "a": "Active"}, "the filled key is active"
        own, _ = client.scroll(name, limit=500, shard_key_selector="a", with_vectors=True)
        expected = {p.id: p for p in shared if p.payload["tenant"] == "a"}
        assert sorted(p.id for p in own) == sorted(expected), "exactly the tenant's points"
        assert all(p.payload == expected[p.id].payload for p in own)
        assert all(p.vector == pytest.approx(expected[p.id].vector) for p in own)
        fallback = models.ShardKeyWithFallback(target="a", fallback="shared")
        assert client.count(name, shard_key_selector=fallback).count == len(expected), "read from its own key now"

        assert client.create_shard_key(name, "two", shards_number=2)
        refusals = [
            (models.ReplicatePoints(from_shard_key="two", to_shard_key="a"),
             "Only replicating from shard keys with exactly one shard is supported. Shard key two has 2 shards"),
            (models.ReplicatePoints(from_shard_key="a", to_shard_key="a"), "must be different"),
            (models.ReplicatePoints(from_shard_key="zz", to_shard_key="a"), "Shard key zz not found"),
        ]
        for request, needle in refusals:
            with pytest.raises(Exception) as refused:
                client.cluster_collection_update(name, models.ReplicatePointsOperation(replicate_points=request))
            assert needle in error_text(refused.value)


@pytest.mark.parametrize("transport", ["rest", "grpc"])
def test_requests_without_a_valid_key_are_refused_as_qdrant_does(server, unique, transport):
    client = dict(clients(server))[transport]
    name, auto = unique("sk"), unique("auto")
    custom_collection(client, name)
    client.create_shard_key(name, "a")
    client.create_collection(auto, vectors_config=VEC)

    cases = [
        ("no key on a custom collection", lambda: client.upsert(name, points(range(1), "a"), wait=True),
         "Shard key not specified"),
        ("unknown key", lambda: client.upsert(name, points(range(1), "a"), shard_key_selector="zz", wait=True),
         "Shard key zz not found"),
        ("unknown key on a read", lambda: client.count(name, shard_key_selector="zz"), "Shard key zz not found"),
        ("key on an auto collection",
         lambda: client.upsert(auto, points(range(1), "a"), shard_key_selector="a", wait=True),
         "Shard key a not found"),
        ("key created on an auto collection", lambda: client.create_shard_key(auto, "a"),
         "Bad request: Shard Key cannot be created with Auto sharding method"),
        ("key created twice", lambda: client.create_shard_key(name, "a"),
         f"Bad request: Sharding key a already exists for collection {name}"),
        ("unknown key dropped", lambda: client.delete_shard_key(name, "zz"),
         f"Bad request: Sharding key zz does not exist for collection {name}"),
    ]
    for what, call, message in cases:
        with pytest.raises(Exception) as caught:
            call()
        text = error_text(caught.value)
        assert message in text, f"{what}: {text}"
        if transport == "rest":
            assert caught.value.status_code == 400, f"{what}: {text}"
        else:
            assert "INVALID_ARGUMENT" in text, f"{what}: {text}"
    assert client.count(name).count == 0, "nothing of the refused writes was applied"


def test_rest_bodies_and_envelopes(server, unique):
    name = unique("sk")
    base = f"{server.url}/collections/{name}"
    body = {"vectors": {"size": 4, "distance": "Dot"}, "sharding_method": "custom"}
    assert requests.put(base, json=body, timeout=10).json()["result"] is True
    assert requests.get(f"{base}/shards", timeout=10).json()["result"] == {"shard_keys": []}
    r = requests.put(f"{base}/shards", json={"shard_key": "t1", "shards_number": 0}, timeout=10)
    assert_error(r, 422, "shards_number")
    r = requests.put(f"{base}/shards", json={"shard_key": "t1", "placement": []}, timeout=10)
    assert_error(r, 400, "placement cannot be empty")
    assert requests.put(f"{base}/shards", json={"shard_key": "t1", "shards_number": 2}, timeout=10).json()["result"]
    assert requests.get(f"{base}/shards", timeout=10).json()["result"] == {"shard_keys": [{"key": "t1"}]}
    info = requests.get(f"{base}/cluster", timeout=10).json()["result"]
    assert sorted((s["shard_id"], s["shard_key"]) for s in info["local_shards"]) == [(1, "t1"), (2, "t1")]
    r = requests.put(f"{base}/points", json={"points": [{"id": 1, "vector": [1, 1, 1, 1]}]}, timeout=10)
    assert_error(r, 400, "Wrong input: Shard key not specified")
    r = requests.post(f"{base}/points/count", json={"shard_key": "nope"}, timeout=10)
    assert_error(r, 400, "Bad request: Shard key nope not found")
    auto = unique("auto")
    requests.put(f"{server.url}/collections/{auto}", json={"vectors": {"size": 4, "distance": "Dot"}}, timeout=10)
    assert requests.get(f"{server.url}/collections/{auto}/shards", timeout=10).json()["result"] == {}
    index = {"field_name": "tenant", "field_schema": {"type": "keyword", "is_tenant": True}}
    assert requests.put(f"{base}/index", json=index, params={"wait": "true"}, timeout=10).status_code == 200
    schema = requests.get(base, timeout=10).json()["result"]["payload_schema"]["tenant"]
    assert schema["data_type"] == "keyword" and schema["params"]["is_tenant"] is True, schema
    r = requests.post(f"{base}/shards/delete", json={"shard_key": "t1"}, timeout=10)
    assert r.json()["result"] is True
    assert not (server.storage_path / "collections" / name / "1").exists(), "a dropped key's files are removed"


def test_keys_and_their_points_survive_a_restart(server_factory):
    srv = server_factory()
    client = QdrantClient(url=srv.url, prefer_grpc=False, timeout=30)
    custom_collection(client, "keep")
    client.create_shard_key("keep", "a", shards_number=3)
    client.create_shard_key("keep", "b")
    client.upsert("keep", points(range(0, 40), "a"), shard_key_selector="a", wait=True)
    client.upsert("keep", points(range(40, 45), "b"), shard_key_selector="b", wait=True)
    client.delete_shard_key("keep", "b")
    client.create_shard_key("keep", "c")
    client.close()
    srv.restart()
    client = QdrantClient(url=srv.url, prefer_grpc=False, timeout=30)
    assert sorted(str(k.key) for k in client.list_shard_keys("keep").shard_keys) == ["a", "c"]
    assert client.count("keep", shard_key_selector="a").count == 40
    assert client.count("keep", shard_key_selector="c").count == 0
    info = requests.get(f"{srv.url}/collections/keep/cluster", timeout=10).json()["result"]
    ids = {s["shard_id"]: s["shard_key"] for s in info["local_shards"]}
    assert ids == {1: "a", 2: "a", 3: "a", 5: "c"}, f"key b's shard id 4 is not reused: {ids}"
    client.close()


def keyed_points(client: QdrantClient, name: str) -> dict[str, dict[int, dict]]:
    """Each key's points (id → payload), read within the key."""
    keys = sorted(str(k.key) for k in client.list_shard_keys(name).shard_keys)
    out = {}
    for key in keys:
        selector = int(key) if key.isdigit() else key
        got, _ = client.scroll(name, limit=1000, shard_key_selector=selector, with_payload=True)
        out[key] = {r.id: r.payload for r in got}
    return out


def keyed_collection_with_a_gap(client: QdrantClient, name: str) -> None:
    """Keys "a" (2 shards) and 7 (1 shard), after a dropped key took shard id 1."""
    custom_collection(client, name)
    client.create_shard_key(name, "gone")
    client.delete_shard_key(name, "gone")
    client.create_shard_key(name, "a", shards_number=2)
    client.create_shard_key(name, 7)
    client.upsert(name, points(range(0, 60), "a"), shard_key_selector="a", wait=True)
    client.upsert(name, points(range(100, 110), "7"), shard_key_selector=7, wait=True)


def local_key_shards(url: str, name: str) -> dict[int, object]:
    info = requests.get(f"{url}/collections/{name}/cluster", timeout=10).json()["result"]
    return {s["shard_id"]: s.get("shard_key") for s in info["local_shards"]}


def test_a_collection_snapshot_recovers_its_keys_and_their_shards(server, server_factory):
    client = QdrantClient(url=server.url, prefer_grpc=False, timeout=30)
    keyed_collection_with_a_gap(client, "snapkeys")
    before = keyed_points(client, "snapkeys")
    assert local_key_shards(server.url, "snapkeys") == {2: "a", 3: "a", 4: 7}
    desc = client.create_snapshot("snapkeys", wait=True)
    data = requests.get(f"{server.url}/collections/snapkeys/snapshots/{desc.name}", timeout=30).content

    # Into a fresh node, by upload: the keys with their own shard ids, every point in its key.
    fresh = server_factory()
    other = QdrantClient(url=fresh.url, prefer_grpc=False, timeout=30)
    r = requests.post(f"{fresh.url}/collections/snapkeys/snapshots/upload?checksum={desc.checksum}",
                      files={"snapshot": ("s.snapshot", data)}, timeout=60)
    assert r.status_code == 200, r.text
    assert keyed_points(other, "snapkeys") == before
    assert local_key_shards(fresh.url, "snapkeys") == {2: "a", 3: "a", 4: 7}
    # Writes route by the same rings: re-upserting the same ids adds nothing.
    other.upsert("snapkeys", points(range(0, 60), "a"), shard_key_selector="a", wait=True)
    assert other.count("snapkeys", shard_key_selector="a").count == 60
    assert other.count("snapkeys").count == 70
    fresh.restart()
    other = QdrantClient(url=fresh.url, prefer_grpc=False, timeout=30)
    assert keyed_points(other, "snapkeys") == before

    # Over the live collection (changed since): the snapshot's data comes back.
    client.upsert("snapkeys", points(range(0, 80), "changed"), shard_key_selector="a", wait=True)
    location = f"file://{(server.workdir / 'snapshots' / 'snapkeys' / desc.name).resolve()}"
    assert client.recover_snapshot("snapkeys", location, wait=True)
    assert keyed_points(client, "snapkeys") == before

    # A live collection whose keys differ refuses the snapshot and keeps its data.
    custom_collection(client, "otherkeys")
    client.create_shard_key("otherkeys", "a", shards_number=3)
    client.upsert("otherkeys", points(range(0, 5), "a"), shard_key_selector="a", wait=True)
    r = requests.put(f"{server.url}/collections/otherkeys/snapshots/recover", json={"location": location}, timeout=60)
    assert r.status_code == 400 and "Snapshot is not compatible" in r.text and "differs" in r.text, r.text
    assert client.count("otherkeys").count == 5
    client.close()


def test_a_keyed_shard_snapshot_recovers_in_place(server):
    client = QdrantClient(url=server.url, prefer_grpc=False, timeout=30)
    keyed_collection_with_a_gap(client, "shardsnap")
    before = keyed_points(client, "shardsnap")
    base = f"{server.url}/collections/shardsnap/shards/4/snapshots"
    desc = requests.post(base, timeout=30).json()["result"]
    client.upsert("shardsnap", points(range(100, 120), "changed"), shard_key_selector=7, wait=True)
    client.upsert("shardsnap", points(range(0, 5), "changed"), shard_key_selector="a", wait=True)
    r = requests.put(f"{base}/recover", json={"location": desc["name"]}, timeout=60)
    assert r.status_code == 200, r.text
    after = keyed_points(client, "shardsnap")
    assert after["7"] == before["7"], "key 7's shard is the snapshot's again"
    assert {i: p["tenant"] for i, p in after["a"].items() if i < 5} == {i: "changed" for i in range(5)}
    assert local_key_shards(server.url, "shardsnap") == {2: "a", 3: "a", 4: 7}, "the keys are kept"
    client.close()


# ------------------------------------------------------------------------------------ cluster
def keyed_states(peer: Peer, name: str) -> dict[int, dict[int, str]]:
    return replica_states(peer.url, name, timeout=3)


def shard_keys_of(peer: Peer, name: str) -> dict[int, object]:
    info = result(peer.get(f"/collections/{name}/cluster"))
    shards = info["local_shards"] + info["remote_shards"]
    return {s["shard_id"]: s.get("shard_key") for s in shards}


def all_active(peer: Peer, name: str, rf: int, shards: int, off: set[int] = frozenset()) -> bool:
    states = keyed_states(peer, name)
    return len(states) == shards and all(
        len(r) == rf and set(r.values()) == {"Active"} and not (set(r) & off) for r in states.values()
    )


def digests_equal(peers: dict[int, Peer], name: str, shard: int, holders: list[int]) -> None:
    seen = {p: shard_digest(peers[p].url, name, shard) for p in holders}
    assert len({(d["digest"], d["points_count"]) for d in seen.values()}) == 1, f"shard {shard} digests differ: {seen}"


def test_keys_in_a_cluster_survive_a_lost_peer_and_replicate(cluster_factory):
    c = cluster_factory(3, env=GRACE)
    p0 = c.peers[0]
    ids = [p.peer_id for p in c.peers]
    by_id = {p.peer_id: p for p in c.peers}
    name = "tenants"
    rest = QdrantClient(url=p0.url, prefer_grpc=False, timeout=30)
    grpc = QdrantClient(url=c.peers[1].url, grpc_port=c.peers[1].grpc_port, prefer_grpc=True, timeout=30)
    custom_collection(rest, name)
    # Key "a" on peers 0 and 1 (rf 2); key 9 by gRPC on peer 2 alone (rf 1).
    assert rest.create_shard_key(name, "a", replication_factor=2, placement=ids[:2])
    assert grpc.create_shard_key(name, 9, replication_factor=1, placement=[ids[2]])
    wait_until(lambda: all(s == "Active" for r in keyed_states(p0, name).values() for s in r.values()),
               timeout=30, desc="key replicas Active")
    states = keyed_states(p0, name)
    keys = shard_keys_of(p0, name)
    shard_a = next(s for s, k in keys.items() if k == "a")
    shard_9 = next(s for s, k in keys.items() if k == 9)
    assert set(states[shard_a]) == set(ids[:2]) and set(states[shard_9]) == {ids[2]}, states
    for p in c.peers:
        wait_until(lambda p=p: sorted(map(str, shard_keys_of(p, name).values())) == ["9", "a"],
                   timeout=15, desc=f"keys known on {p!r}")

    rest.upsert(name, points(range(0, 200), "a"), shard_key_selector="a", wait=True)
    grpc.upsert(name, points(range(1000, 1050), "9"), shard_key_selector=9, wait=True)
    for p in c.peers:  # every peer routes by key, whichever holds the data
        client = QdrantClient(url=p.url, prefer_grpc=False, timeout=30)
        assert client.count(name, shard_key_selector="a").count == 200
        assert client.count(name, shard_key_selector=9).count == 50
        client.close()

    # replicate_shard of the keyed shard 9 onto peer 0: the copy is exact.
    op = {"replicate_shard": {"shard_id": shard_9, "from_peer_id": ids[2], "to_peer_id": ids[0]}}
    assert result(p0.post(f"/collections/{name}/cluster", json=op)) is True
    wait_until(lambda: keyed_states(p0, name)[shard_9] == {ids[2]: "Active", ids[0]: "Active"},
               timeout=40, desc="keyed shard replicated")
    digests_equal(by_id, name, shard_9, [ids[0], ids[2]])

    # Peer 1 killed for good under a keyed write+read load through peers 0 and 2: key "a"'s
    # shard goes back to 2 Active replicas on peers 0 and 2, with no failed request.
    live = [c.peers[0], c.peers[2]]
    load = Load(name, [p.url for p in live], start_id=10_000, shard_key="a", write_timeout=10.0).start()
    load.wait_acks(10)
    t0 = time.monotonic()
    c.peers[1].kill()
    wait_until(lambda: all_active(p0, name, 2, 2, off={ids[1]}) or None, timeout=60,
               desc="every keyed shard back at rf=2 without the killed peer")
    print(f"[shard keys] keyed shard back at rf=2 {time.monotonic() - t0:.2f}s after the kill (grace 3 s)")
    load.wait_acks(len(load.acks_so_far()) + 10)
    rec = load.stop()
    print(f"[shard keys] load: {rec.summary(t0)}")
    assert not rec.failures, f"{len(rec.failures)} failed requests: {[str(f) for f in rec.failures[:5]]}"
    report = check_replicas(p0.url, name, rec.acked_ids(), {p.peer_id: p.url for p in live})
    print(report.describe())
    report.assert_ok()
    final = keyed_states(p0, name)
    assert set(final[shard_a]) == {ids[0], ids[2]}, final
    digests_equal(by_id, name, shard_a, [ids[0], ids[2]])
    assert rest.count(name, shard_key_selector="a").count == 200 + len(rec.acked_ids())
    got = rest.retrieve(name, list(range(0, 200)), shard_key_selector="a")
    assert sorted(r.id for r in got) == list(range(200)), "every acknowledged point readable"
    assert {str(r.shard_key) for r in got} == {"a"}

    # Missing key in a cluster: Qdrant's message from any peer.
    r = c.peers[2].put(f"/collections/{name}/points", json={"points": [{"id": 1, "vector": [1, 1, 1, 1]}]})
    assert_error(r, 400, "Shard key not specified")
    assert result(p0.post(f"/collections/{name}/shards/delete", json={"shard_key": 9})) is True
    wait_until(lambda: shard_9 not in keyed_states(c.peers[2], name), timeout=15, desc="key 9 dropped everywhere")
    rest.close()
    grpc.close()


def test_a_keyed_snapshot_recovers_into_a_cluster_through_consensus(cluster_factory):
    """A custom collection's snapshot uploaded to one peer of a 2-peer cluster where the
    collection does not exist: its keys are created through consensus with the snapshot's shard
    ids, the recovered replicas become Active and the new replicas copy from them."""
    c = cluster_factory(2)
    a, b = c.peers
    standalone = QdrantClient(url=a.url, prefer_grpc=False, timeout=30)
    custom_collection(standalone, "src")
    standalone.create_shard_key("src", "gone", replication_factor=1, placement=[a.peer_id])
    standalone.delete_shard_key("src", "gone")
    standalone.create_shard_key("src", "a", shards_number=2, replication_factor=1, placement=[a.peer_id])
    standalone.create_shard_key("src", 7, replication_factor=1, placement=[a.peer_id])
    wait_until(lambda: all(s == "Active" for r in keyed_states(a, "src").values() for s in r.values()) or None,
               timeout=30, desc="source keys Active")
    standalone.upsert("src", points(range(0, 60), "a"), shard_key_selector="a", wait=True)
    standalone.upsert("src", points(range(100, 110), "7"), shard_key_selector=7, wait=True)
    before = keyed_points(standalone, "src")
    desc = standalone.create_snapshot("src", wait=True)
    data = requests.get(f"{a.url}/collections/src/snapshots/{desc.name}", timeout=30).content

    r = requests.post(f"{b.url}/collections/copy/snapshots/upload", files={"snapshot": ("s", data)}, timeout=120)
    assert r.status_code == 200, r.text
    for p in c.peers:
        wait_until(lambda p=p: shard_keys_of(p, "copy") == {2: "a", 3: "a", 4: 7} or None, timeout=30,
                   desc=f"the snapshot's keys and shard ids on {p!r}")
    wait_until(lambda: all(s == "Active" for r in keyed_states(a, "copy").values() for s in r.values()) or None,
               timeout=60, desc="recovered replicas Active")
    for p in c.peers:
        client = QdrantClient(url=p.url, prefer_grpc=False, timeout=30)
        assert keyed_points(client, "copy") == before, f"every point in its key through {p!r}"
        client.upsert("copy", points(range(0, 60), "a"), shard_key_selector="a", wait=True)
        assert client.count("copy", shard_key_selector="a").count == 60, "the same ring: no duplicates"
        client.close()
    standalone.close()
