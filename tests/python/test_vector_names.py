"""Named vectors created on and deleted from an existing collection
(`PUT`/`DELETE /collections/{c}/vectors/{name}`, gRPC `CreateVectorName`/`DeleteVectorName`,
design record 018): REST and gRPC parity, existing points without the new vector, Qdrant's error
texts with nothing changed, restarts and snapshots, and a 3-peer cluster where every replica
takes the new vector."""

from __future__ import annotations

import grpc
import pytest
import requests
from qdrant_client import QdrantClient, models
from qdrant_client.http.exceptions import UnexpectedResponse

from cluster_harness import result, wait_until
from qhelpers import assert_error
from replication_load import shard_digest

DENSE_B = models.DenseVectorNameConfig(dense=models.DenseVectorConfig(size=3, distance=models.Distance.EUCLID))


def client_for(server, use_grpc: bool) -> QdrantClient:
    return QdrantClient(url=server.url, grpc_port=server.grpc_port, prefer_grpc=use_grpc, timeout=30)


def make_collection(client: QdrantClient, name: str, points: int = 20, **kw) -> None:
    client.create_collection(name, vectors_config={"a": models.VectorParams(size=2, distance=models.Distance.DOT)},
                             **kw)
    client.upsert(name, points=[models.PointStruct(id=i, vector={"a": [1.0, float(i)]}, payload={"i": i})
                                for i in range(points)], wait=True)


def vector_names(client: QdrantClient, name: str) -> tuple[set[str], set[str]]:
    params = client.get_collection(name).config.params
    dense = params.vectors if isinstance(params.vectors, dict) else {"": params.vectors}
    return set(dense), set(params.sparse_vectors or {})


@pytest.mark.parametrize("use_grpc", [False, True])
def test_create_use_and_delete_named_vectors(server, collection_name, use_grpc):
    c = client_for(server, use_grpc)
    make_collection(c, collection_name)
    res = c.create_vector_name(collection_name, "b", DENSE_B, wait=True)
    assert res.status == models.UpdateStatus.COMPLETED
    # As in Qdrant (and as payload index changes answer), an update's numeric operation id.
    assert isinstance(res.operation_id, int) and res.operation_id >= 0
    params = c.get_collection(collection_name).config.params.vectors["b"]
    assert (params.size, params.distance) == (3, models.Distance.EUCLID)
    # Existing points have no vector `b`.
    got = c.retrieve(collection_name, [1], with_vectors=True)[0]
    assert set(got.vector) == {"a"}
    c.update_vectors(collection_name, [models.PointVectors(id=i, vector={"b": [float(i), 0.0, 0.0]})
                                       for i in range(5)], wait=True)
    hits = c.query_points(collection_name, query=[3.2, 0.0, 0.0], using="b", limit=10).points
    assert [h.id for h in hits] == [3, 4, 2, 1, 0], "only the points given a `b` vector, nearest first"
    c.create_vector_name(collection_name, "s", models.SparseVectorNameConfig(
        sparse=models.SparseVectorConfig(modifier=models.Modifier.IDF)), wait=True)
    assert c.get_collection(collection_name).config.params.sparse_vectors["s"].modifier == models.Modifier.IDF
    c.update_vectors(collection_name, [models.PointVectors(id=7, vector={"s": models.SparseVector(indices=[1], values=[2.0])})],
                     wait=True)
    assert [h.id for h in c.query_points(collection_name, query=models.SparseVector(indices=[1], values=[1.0]),
                                         using="s", limit=5).points] == [7]
    # Deleting `a` drops its values and index; `b` and `s` stay.
    c.delete_vector_name(collection_name, "a", wait=True)
    assert vector_names(c, collection_name) == ({"b"}, {"s"})
    assert set(c.retrieve(collection_name, [3], with_vectors=True)[0].vector) == {"b"}
    assert c.count(collection_name).count == 20, "points stay"
    with pytest.raises((UnexpectedResponse, grpc.RpcError)) as err:
        c.query_points(collection_name, query=[1.0, 0.0], using="a", limit=3)
    assert "Not existing vector name error: a" in str(err.value)
    with pytest.raises((UnexpectedResponse, grpc.RpcError)):
        c.upsert(collection_name, points=[models.PointStruct(id=99, vector={"a": [1.0, 1.0]})], wait=True)
    res = c.delete_vector_name(collection_name, "s", wait=True)
    assert isinstance(res.operation_id, int) and res.operation_id >= 0
    assert vector_names(c, collection_name) == ({"b"}, set())
    c.close()


def test_rest_errors_and_nothing_changed(server, collection_name):
    c = client_for(server, False)
    make_collection(c, collection_name, points=3)
    c.create_vector_name(collection_name, "b", DENSE_B)
    base = f"{server.url}/collections/{collection_name}"
    before = requests.get(base, timeout=10).json()["result"]["config"]
    r = requests.put(f"{base}/vectors/b", json={"dense": {"size": 5, "distance": "Dot"}}, timeout=10)
    assert_error(r, 400, "Wrong input: Vector with name `b` already exists")
    r = requests.put(f"{base}/vectors/a", json={"sparse": {}}, timeout=10)
    assert_error(r, 400, "already exists")
    r = requests.delete(f"{base}/vectors/nope", timeout=10)
    assert_error(r, 400, "Wrong input: Not existing vector name error: nope")
    r = requests.put(f"{base}/vectors/c", json={"dense": {"size": 0, "distance": "Dot"}}, timeout=10)
    assert_error(r, 422, "Validation error in JSON body: [dense.size: value 0 invalid, must be from 1 to 65536]")
    for body in ({"dense": {"size": 3}}, {"size": 3, "distance": "Dot"}, {"dense": {"size": 3, "distance": "Dot", "on_disk": 1}},
                 {"dense": {"size": 3, "distance": "Dot", "datatype": "turbo4"}}, {"sparse": {"modifier": "bm25"}}):
        r = requests.put(f"{base}/vectors/c", json=body, timeout=10)
        assert_error(r, (400, 422))
    r = requests.put(f"{base}/vectors/{'x' * 201}", json={"sparse": {}}, timeout=10)
    assert_error(r, 422, "Validation error in path parameters: [vector_name:")
    r = requests.put(f"{server.url}/collections/{collection_name}_missing/vectors/c", json={"sparse": {}}, timeout=10)
    assert_error(r, 404, f"Collection `{collection_name}_missing` doesn't exist!")
    assert requests.get(base, timeout=10).json()["result"]["config"] == before, "refused requests change nothing"
    r = requests.put(f"{base}/vectors/c?wait=true", json={"dense": {"size": 2, "distance": "Cosine", "datatype": "uint8",
                                                                  "multivector_config": {"comparator": "max_sim"}}},
                     timeout=10)
    assert r.status_code == 200 and r.json()["result"]["status"] == "completed", r.text
    params = requests.get(base, timeout=10).json()["result"]["config"]["params"]["vectors"]["c"]
    assert params == {"size": 2, "distance": "Cosine", "datatype": "uint8", "multivector_config": {"comparator": "max_sim"}}
    c.close()


def test_grpc_errors(server, collection_name):
    c = client_for(server, True)
    make_collection(c, collection_name, points=3)
    with pytest.raises(grpc.RpcError) as err:
        c.create_vector_name(collection_name, "a", DENSE_B)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "already exists" in err.value.details()
    with pytest.raises(grpc.RpcError) as err:
        c.delete_vector_name(collection_name, "zzz")
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "Not existing vector name error: zzz" in err.value.details()
    with pytest.raises(grpc.RpcError) as err:
        c.create_vector_name(collection_name, "c", models.DenseVectorNameConfig(
            dense=models.DenseVectorConfig(size=70000, distance=models.Distance.DOT)))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "dense.size" in err.value.details()
    with pytest.raises(grpc.RpcError) as err:
        c.create_vector_name(collection_name + "_missing", "c", DENSE_B)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    assert vector_names(c, collection_name) == ({"a"}, set())
    c.close()


def test_changes_survive_a_restart_and_go_into_snapshots(server_factory):
    srv = server_factory()
    c = client_for(srv, False)
    make_collection(c, "keep", points=30)
    c.create_vector_name("keep", "b", DENSE_B)
    c.update_vectors("keep", [models.PointVectors(id=i, vector={"b": [float(i), 1.0, 0.0]}) for i in range(10)], wait=True)
    c.delete_vector_name("keep", "a")
    c.create_vector_name("keep", "a", models.DenseVectorNameConfig(
        dense=models.DenseVectorConfig(size=2, distance=models.Distance.DOT)))
    snap = c.create_snapshot("keep")
    c.close()
    srv.restart()
    c = client_for(srv, False)
    assert vector_names(c, "keep") == ({"a", "b"}, set())
    points = {p.id: p.vector for p in c.scroll("keep", limit=100, with_vectors=True)[0]}
    assert len(points) == 30
    assert {i for i, v in points.items() if "b" in v} == set(range(10))
    assert not any("a" in v for v in points.values()), "a re-created name starts empty, also after a restart"
    location = f"file://{(srv.workdir / 'snapshots' / 'keep' / snap.name).resolve()}"
    assert c.recover_snapshot("copy", location, checksum=snap.checksum, wait=True)
    assert vector_names(c, "copy") == ({"a", "b"}, set())
    assert len([p for p in c.scroll("copy", limit=100, with_vectors=True)[0] if "b" in p.vector]) == 10
    c.close()


def test_cluster_every_replica_takes_the_new_vector(cluster_factory):
    cl = cluster_factory(3)
    name = "named"
    peers = cl.peers
    rest0 = QdrantClient(url=peers[0].url, prefer_grpc=False, timeout=30)
    make_collection(rest0, name, points=60, shard_number=2, replication_factor=3)
    wait_until(lambda: all(p.collection_names() >= {name} for p in peers), timeout=20, desc="collection everywhere")
    # Created through peer 1 (REST); written at once through peer 2 (gRPC): a peer that has not
    # applied the new name yet catches up before it validates or applies the write.
    rest1 = QdrantClient(url=peers[1].url, prefer_grpc=False, timeout=30)
    rest1.create_vector_name(name, "b", DENSE_B, wait=True)
    grpc2 = QdrantClient(url=peers[2].url, grpc_port=peers[2].grpc_port, prefer_grpc=True, timeout=30)
    grpc2.update_vectors(name, [models.PointVectors(id=i, vector={"b": [float(i), 0.0, 0.0]}) for i in range(20)],
                         wait=True)
    for p in peers:
        client = QdrantClient(url=p.url, prefer_grpc=False, timeout=30)
        wait_until(lambda client=client: "b" in vector_names(client, name)[0], timeout=15, desc=f"b known on {p!r}")
        hits = client.query_points(name, query=[4.9, 0.0, 0.0], using="b", limit=3).points
        assert [h.id for h in hits] == [5, 4, 6], f"via {p!r}"
        client.close()
    digests_agree(peers, name)

    # A peer restarted keeps the new configuration and data.
    peers[2].restart()
    grpc2.close()
    cl.wait_converged()
    after = QdrantClient(url=peers[2].url, prefer_grpc=False, timeout=30)
    assert "b" in vector_names(after, name)[0]
    wait_until(lambda: digests_agree(peers, name, quiet=True), timeout=30, desc="replicas agree after the restart")

    # Deleted through peer 2: every replica drops it, and writes naming it are refused everywhere.
    after.delete_vector_name(name, "b", wait=True)
    for p in peers:
        client = QdrantClient(url=p.url, prefer_grpc=False, timeout=30)
        wait_until(lambda client=client: "b" not in vector_names(client, name)[0], timeout=15, desc=f"b gone on {p!r}")
        r = p.put(f"/collections/{name}/points?wait=true", json={"points": [{"id": 1, "vector": {"b": [1, 2, 3]}}]})
        assert_error(r, 400, "Not existing vector name error: b")
        client.close()
    digests_agree(peers, name)
    bad = peers[0].put(f"/collections/{name}/vectors/a", json={"dense": {"size": 2, "distance": "Dot"}})
    assert_error(bad, 400, "already exists")
    assert result(peers[0].get(f"/collections/{name}"))["config"]["params"]["vectors"] == {
        "a": {"size": 2, "distance": "Dot"}}
    for client in (rest0, rest1, after):
        client.close()


def digests_agree(peers, name: str, quiet: bool = False) -> bool:
    """Every replica of each shard holds the same points, vectors and payloads."""
    for shard in (0, 1):
        seen = {p.peer_id: shard_digest(p.url, name, shard) for p in peers}
        if len({(d["digest"], d["points_count"]) for d in seen.values()}) != 1:
            if quiet:
                return False
            raise AssertionError(f"shard {shard} digests differ: {seen}")
    return True
