"""Collections: create / info / list / update / exists / delete / aliases (spec §2)."""

import pytest
from qdrant_client import models

from qhelpers import assert_error, assert_ok_envelope

DISTANCES = [models.Distance.COSINE, models.Distance.DOT, models.Distance.EUCLID, models.Distance.MANHATTAN]


@pytest.mark.parametrize("distance", DISTANCES, ids=lambda d: d.value)
def test_create_single_vector_each_distance(client, rest, collection_name, distance):
    assert client.create_collection(collection_name, vectors_config=models.VectorParams(size=7, distance=distance)) is True
    info = client.get_collection(collection_name)
    params = info.config.params
    assert isinstance(params.vectors, models.VectorParams), params.vectors
    assert params.vectors.size == 7
    assert params.vectors.distance == distance
    assert params.shard_number == 1
    assert params.replication_factor == 1
    assert params.write_consistency_factor == 1
    assert info.points_count == 0
    assert info.status in (models.CollectionStatus.GREEN, models.CollectionStatus.YELLOW)
    # raw shape: optimizer_config (singular) is present, `vectors` is an object with size & distance
    raw = rest.ok("GET", f"/collections/{collection_name}")
    assert "optimizer_config" in raw["config"], raw["config"].keys()
    assert "hnsw_config" in raw["config"]
    assert raw["config"]["params"]["vectors"] == {"size": 7, "distance": distance.value} or (
        raw["config"]["params"]["vectors"]["size"] == 7
        and raw["config"]["params"]["vectors"]["distance"] == distance.value
    )
    assert isinstance(raw["segments_count"], int)
    assert isinstance(raw["payload_schema"], dict)
    assert raw["optimizer_status"] == "ok"


def test_create_named_vectors_and_sparse(client, rest, collection_name):
    ok = client.create_collection(
        collection_name,
        vectors_config={
            "": models.VectorParams(size=2, distance=models.Distance.DOT),
            "image": models.VectorParams(size=4, distance=models.Distance.COSINE),
            "text": models.VectorParams(size=3, distance=models.Distance.EUCLID),
        },
        sparse_vectors_config={"bm25": models.SparseVectorParams()},
    )
    assert ok is True
    info = client.get_collection(collection_name)
    vecs = info.config.params.vectors
    assert isinstance(vecs, dict), vecs
    assert set(vecs) == {"", "image", "text"}
    assert vecs["image"].size == 4 and vecs["image"].distance == models.Distance.COSINE
    assert vecs["text"].size == 3 and vecs["text"].distance == models.Distance.EUCLID
    assert vecs[""].size == 2 and vecs[""].distance == models.Distance.DOT
    assert set(info.config.params.sparse_vectors or {}) == {"bm25"}
    # points with all vectors can be written and read back
    client.upsert(
        collection_name,
        points=[
            models.PointStruct(
                id=1,
                vector={
                    "": [1.0, 2.0],
                    "image": [1.0, 0.0, 0.0, 0.0],
                    "text": [1.0, 2.0, 3.0],
                    "bm25": models.SparseVector(indices=[3, 10], values=[0.5, 1.5]),
                },
            )
        ],
        wait=True,
    )
    rec = client.retrieve(collection_name, [1], with_vectors=True)[0]
    assert rec.vector[""] == pytest.approx([1.0, 2.0])
    assert rec.vector["text"] == pytest.approx([1.0, 2.0, 3.0])
    sp = rec.vector["bm25"]
    assert sorted(zip(sp.indices, sp.values)) == [(3, 0.5), (10, 1.5)]


def test_create_sparse_only(client, collection_name):
    client.create_collection(collection_name, sparse_vectors_config={"s": models.SparseVectorParams()})
    info = client.get_collection(collection_name)
    assert set(info.config.params.sparse_vectors) == {"s"}
    assert not info.config.params.vectors  # no dense vectors
    client.upsert(
        collection_name,
        points=[models.PointStruct(id=5, vector={"s": models.SparseVector(indices=[1], values=[2.0])})],
        wait=True,
    )
    assert client.count(collection_name).count == 1


def test_create_shard_number_and_factors(client, rest, collection_name):
    client.create_collection(
        collection_name,
        vectors_config=models.VectorParams(size=2, distance=models.Distance.EUCLID),
        shard_number=3,
        replication_factor=1,
        write_consistency_factor=1,
    )
    params = rest.ok("GET", f"/collections/{collection_name}")["config"]["params"]
    assert params["shard_number"] == 3
    assert params["replication_factor"] == 1
    assert params["write_consistency_factor"] == 1
    # 3 shards show up in the cluster info
    assert rest.ok("GET", f"/collections/{collection_name}/cluster")["shard_count"] == 3


def test_create_returns_true_raw_and_409_on_duplicate(rest, collection_name):
    body = {"vectors": {"size": 4, "distance": "Dot"}}
    assert rest.ok("PUT", f"/collections/{collection_name}", json=body) is True
    r = rest.put(f"/collections/{collection_name}", json=body)
    assert_error(r, 409, f"Collection `{collection_name}` already exists!")
    # original is intact
    assert rest.ok("GET", f"/collections/{collection_name}")["config"]["params"]["vectors"]["size"] == 4


def test_list_and_exists(client, collection_name, unique):
    other = unique("listed")
    try:
        client.create_collection(collection_name, vectors_config=models.VectorParams(size=2, distance=models.Distance.DOT))
        client.create_collection(other, vectors_config=models.VectorParams(size=2, distance=models.Distance.DOT))
        names = {c.name for c in client.get_collections().collections}
        assert {collection_name, other} <= names
        assert client.collection_exists(collection_name) is True
        assert client.collection_exists(collection_name + "_nope") is False
    finally:
        client.delete_collection(other)
    assert other not in {c.name for c in client.get_collections().collections}


def test_exists_raw(rest, collection_name):
    rest.ok("PUT", f"/collections/{collection_name}", json={"vectors": {"size": 2, "distance": "Dot"}})
    assert rest.ok("GET", f"/collections/{collection_name}/exists") == {"exists": True}
    assert rest.ok("GET", f"/collections/{collection_name}_zz/exists") == {"exists": False}


def test_delete_collection(client, rest, collection_name):
    client.create_collection(collection_name, vectors_config=models.VectorParams(size=2, distance=models.Distance.DOT))
    client.upsert(collection_name, points=[models.PointStruct(id=1, vector=[1, 2])], wait=True)
    assert client.delete_collection(collection_name) is True
    assert client.collection_exists(collection_name) is False
    # deleting again: HTTP 200 with result false
    r = rest.delete(f"/collections/{collection_name}")
    assert assert_ok_envelope(r) is False
    # info on the deleted collection -> 404
    assert_error(rest.get(f"/collections/{collection_name}"), 404, f"Collection `{collection_name}` doesn't exist!")
    # it can be re-created empty
    client.create_collection(collection_name, vectors_config=models.VectorParams(size=2, distance=models.Distance.DOT))
    assert client.count(collection_name).count == 0


def test_update_collection_patch(client, rest, collection_name):
    client.create_collection(collection_name, vectors_config=models.VectorParams(size=4, distance=models.Distance.COSINE))
    before = client.get_collection(collection_name)
    assert client.update_collection(
        collection_name,
        optimizers_config=models.OptimizersConfigDiff(indexing_threshold=12345, deleted_threshold=0.33),
        hnsw_config=models.HnswConfigDiff(m=24, ef_construct=150),
    ) is True
    after = client.get_collection(collection_name)
    assert after.config.optimizer_config.indexing_threshold == 12345
    assert after.config.optimizer_config.deleted_threshold == pytest.approx(0.33)
    assert after.config.hnsw_config.m == 24
    assert after.config.hnsw_config.ef_construct == 150
    # untouched values keep their previous value
    assert after.config.optimizer_config.flush_interval_sec == before.config.optimizer_config.flush_interval_sec
    assert after.config.params.vectors.size == 4
    # raw PATCH with the `optimizer_config` alias and params
    assert rest.ok(
        "PATCH",
        f"/collections/{collection_name}",
        json={"optimizer_config": {"indexing_threshold": 777}, "params": {"write_consistency_factor": 1}},
    ) is True
    raw = rest.ok("GET", f"/collections/{collection_name}")
    assert raw["config"]["optimizer_config"]["indexing_threshold"] == 777
    assert raw["config"]["hnsw_config"]["m"] == 24


@pytest.mark.parametrize("grpc", [False, True], ids=["rest", "grpc"])
def test_patch_read_fan_out_is_kept_and_shown(server, rest, collection_name, grpc):
    """`read_fan_out_factor` and `read_fan_out_delay_ms` (spec §6.4) set by PATCH are shown in
    the collection's params over REST and gRPC, and a later PATCH of other params keeps them."""
    from qdrant_client import QdrantClient
    client = QdrantClient(url=server.url, prefer_grpc=grpc, grpc_port=server.grpc_port, timeout=30)
    client.create_collection(collection_name, vectors_config=models.VectorParams(size=4, distance=models.Distance.DOT))
    assert client.update_collection(
        collection_name,
        collection_params=models.CollectionParamsDiff(read_fan_out_factor=2, read_fan_out_delay_ms=35),
    ) is True
    params = client.get_collection(collection_name).config.params
    assert (params.read_fan_out_factor, params.read_fan_out_delay_ms) == (2, 35)
    assert rest.ok("PATCH", f"/collections/{collection_name}", json={"params": {"write_consistency_factor": 1}})
    raw = rest.ok("GET", f"/collections/{collection_name}")["config"]["params"]
    assert (raw["read_fan_out_factor"], raw["read_fan_out_delay_ms"]) == (2, 35), raw


def test_bulk_load_with_indexing_off_then_on_builds_the_index(client, collection_name):
    """Qdrant's bulk-load recipe: `indexing_threshold: 0` while loading, then a PATCH turns
    indexing on and the index is built without another write or a restart."""
    import numpy as np
    from qhelpers import wait_green_indexed

    client.create_collection(
        collection_name,
        vectors_config=models.VectorParams(size=16, distance=models.Distance.COSINE),
        optimizers_config=models.OptimizersConfigDiff(indexing_threshold=0),
    )
    vecs = np.random.default_rng(3).normal(size=(1200, 16))
    client.upsert(collection_name, [models.PointStruct(id=i, vector=v.tolist()) for i, v in enumerate(vecs)], wait=True)
    assert client.get_collection(collection_name).indexed_vectors_count == 0
    client.update_collection(collection_name, optimizers_config=models.OptimizersConfigDiff(indexing_threshold=1))
    info = wait_green_indexed(client, collection_name, 1200, timeout=60)
    assert info.config.optimizer_config.indexing_threshold == 1


def test_update_unknown_collection_404(rest):
    r = rest.patch("/collections/no_such_coll_patch", json={"optimizers_config": {"indexing_threshold": 1}})
    assert_error(r, 404, "Not found: Collection `no_such_coll_patch` doesn't exist!")


def test_aliases_lifecycle(client, rest, collection_name, unique):
    alias = unique("alias")
    alias2 = unique("alias2")
    client.create_collection(collection_name, vectors_config=models.VectorParams(size=2, distance=models.Distance.DOT))
    assert client.update_collection_aliases(
        change_aliases_operations=[
            models.CreateAliasOperation(create_alias=models.CreateAlias(collection_name=collection_name, alias_name=alias))
        ]
    ) is True
    listed = client.get_collection_aliases(collection_name).aliases
    assert [(a.alias_name, a.collection_name) for a in listed] == [(alias, collection_name)]
    assert (alias, collection_name) in {(a.alias_name, a.collection_name) for a in client.get_aliases().aliases}

    # upsert and search through the alias
    client.upsert(alias, points=[models.PointStruct(id=1, vector=[1, 0]), models.PointStruct(id=2, vector=[0, 1])], wait=True)
    assert client.count(collection_name).count == 2
    hits = client.query_points(alias, query=[1, 0.1], limit=1).points
    assert [h.id for h in hits] == [1]
    assert client.get_collection(alias).config.params.vectors.size == 2

    # rename
    assert client.update_collection_aliases(
        change_aliases_operations=[
            models.RenameAliasOperation(rename_alias=models.RenameAlias(old_alias_name=alias, new_alias_name=alias2))
        ]
    ) is True
    names = {a.alias_name for a in client.get_aliases().aliases}
    assert alias2 in names and alias not in names
    assert client.count(alias2).count == 2
    assert_error(rest.post(f"/collections/{alias}/points/count", json={}), 404)

    # delete
    assert client.update_collection_aliases(
        change_aliases_operations=[models.DeleteAliasOperation(delete_alias=models.DeleteAlias(alias_name=alias2))]
    ) is True
    assert client.get_collection_aliases(collection_name).aliases == []
    assert alias2 not in {a.alias_name for a in client.get_aliases().aliases}
    # the collection itself is untouched
    assert client.count(collection_name).count == 2


def test_aliases_raw_actions_atomic_and_removed_with_collection(rest, collection_name, unique):
    a1, a2 = unique("ra"), unique("rb")
    rest.ok("PUT", f"/collections/{collection_name}", json={"vectors": {"size": 2, "distance": "Dot"}})
    assert rest.ok(
        "POST",
        "/collections/aliases",
        json={
            "actions": [
                {"create_alias": {"collection_name": collection_name, "alias_name": a1}},
                {"create_alias": {"collection_name": collection_name, "alias_name": a2}},
            ]
        },
    ) is True
    got = rest.ok("GET", f"/collections/{collection_name}/aliases")["aliases"]
    assert sorted(a["alias_name"] for a in got) == sorted([a1, a2])
    assert all(a["collection_name"] == collection_name for a in got)
    # alias to a missing collection fails
    r = rest.post(
        "/collections/aliases",
        json={"actions": [{"create_alias": {"collection_name": collection_name + "_missing", "alias_name": unique("x")}}]},
    )
    assert r.status_code in (400, 404), r.text
    # deleting the collection removes its aliases
    assert rest.ok("DELETE", f"/collections/{collection_name}") is True
    all_aliases = {a["alias_name"] for a in rest.ok("GET", "/aliases")["aliases"]}
    assert a1 not in all_aliases and a2 not in all_aliases


def test_collection_metadata_merge(rest, collection_name):
    rest.ok(
        "PUT",
        f"/collections/{collection_name}",
        json={"vectors": {"size": 2, "distance": "Dot"}, "metadata": {"a": 1, "b": {"x": 2}, "c": "keep"}},
    )
    assert rest.ok("GET", f"/collections/{collection_name}")["config"]["metadata"] == {"a": 1, "b": {"x": 2}, "c": "keep"}
    rest.ok("PATCH", f"/collections/{collection_name}", json={"metadata": {"a": None, "d": [1, 2]}})
    assert rest.ok("GET", f"/collections/{collection_name}")["config"]["metadata"] == {"b": {"x": 2}, "c": "keep", "d": [1, 2]}


def test_patch_unnamed_vector_hnsw(rest, client, collection_name):
    client.create_collection(collection_name, vectors_config=models.VectorParams(size=4, distance=models.Distance.COSINE))
    rest.ok("PATCH", f"/collections/{collection_name}", json={"vectors": {"": {"hnsw_config": {"m": 8}}}})
    v = client.get_collection(collection_name).config.params.vectors
    assert v.size == 4 and v.hnsw_config is not None and v.hnsw_config.m == 8
