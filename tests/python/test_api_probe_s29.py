"""Differences from Qdrant found by probing with qdrant-client over REST and gRPC (second probe):
collection info read over gRPC keeps a sparse vector's index settings, and REST's collection info
carries `update_queue` as gRPC's does; `hnsw_config.inline_storage`/`memory` and
`optimizers_config.prevent_unoptimized` are shown back as given; a gRPC rate-limit refusal carries
`retry-after` metadata, so qdrant-client's uploader waits and retries as it does over REST; a gRPC
upsert of a point without its `vectors` message is refused as Qdrant refuses it; `memory`
placements and sparse vector params are checked (what Qdrant refuses is not stored, so clients can
read the collection back) and `params.payload` is shown back; `memory` of quantization configs and
payload indexes (Qdrant 1.19's memory tiers) is accepted and shown over both transports."""

import grpc
import pytest
from qdrant_client import QdrantClient, models
from qdrant_client import grpc as pb
from qdrant_client.common.client_exceptions import ResourceExhaustedResponse

from qhelpers import assert_error


@pytest.fixture(params=["rest", "grpc"])
def qc(request, server):
    c = QdrantClient(url=server.url, grpc_port=server.grpc_port, prefer_grpc=request.param == "grpc", timeout=60)
    yield c
    c.close()


def test_sparse_index_settings_read_back_over_both_transports(qc, both, collection_name):
    index = models.SparseIndexParams(full_scan_threshold=123, on_disk=True, datatype=models.Datatype.FLOAT16, memory=models.Memory.CACHED)
    qc.create_collection(
        collection_name,
        vectors_config={},
        sparse_vectors_config={
            "s": models.SparseVectorParams(index=index, modifier=models.Modifier.IDF),
            "plain": models.SparseVectorParams(),
        },
    )
    for reader in both:
        sparse = reader.get_collection(collection_name).config.params.sparse_vectors
        assert sparse["s"].index is not None, "the index settings were dropped"
        assert sparse["s"].index.full_scan_threshold == 123
        assert sparse["s"].index.on_disk is True
        assert sparse["s"].index.datatype == models.Datatype.FLOAT16
        assert sparse["s"].index.memory == models.Memory.CACHED
        assert sparse["s"].modifier == models.Modifier.IDF
        assert sparse["plain"].index is None


def test_update_queue_in_collection_info_over_both_transports(both, rest, collection_name):
    rest_client, grpc_client = both
    rest_client.create_collection(collection_name, vectors_config=models.VectorParams(size=2, distance=models.Distance.DOT))
    raw = rest.ok("GET", f"/collections/{collection_name}")
    assert raw["update_queue"] == {"length": 0}
    for reader in both:
        queue = reader.get_collection(collection_name).update_queue
        assert queue is not None and queue.length == 0


def test_new_hnsw_and_optimizer_settings_are_shown_back(qc, both, collection_name):
    qc.create_collection(
        collection_name,
        vectors_config=models.VectorParams(size=2, distance=models.Distance.DOT),
        hnsw_config=models.HnswConfigDiff(inline_storage=True, m=20),
        optimizers_config=models.OptimizersConfigDiff(prevent_unoptimized=True),
    )
    for reader in both:
        config = reader.get_collection(collection_name).config
        assert config.hnsw_config.inline_storage is True
        assert config.hnsw_config.m == 20
        assert config.optimizer_config.prevent_unoptimized is True
    qc.update_collection(
        collection_name,
        hnsw_config=models.HnswConfigDiff(inline_storage=False),
        optimizers_config=models.OptimizersConfigDiff(prevent_unoptimized=False),
    )
    for reader in both:
        config = reader.get_collection(collection_name).config
        assert config.hnsw_config.inline_storage is False
        assert config.hnsw_config.m == 20, "a PATCH keeps the settings it does not name"
        assert config.optimizer_config.prevent_unoptimized is False


def test_rate_limited_grpc_upload_waits_and_retries(qc, rest, collection_name):
    """Strict mode's write rate limit (60 a minute: a burst of 60, then one a second). The
    uploader of qdrant-client waits the refusal's `retry-after` and tries again; without it the
    over-limit batches fail their few immediate retries and the upload raises."""
    qc.create_collection(collection_name, vectors_config=models.VectorParams(size=2, distance=models.Distance.DOT))
    rest.ok("PATCH", f"/collections/{collection_name}", json={"strict_mode_config": {"enabled": True, "write_rate_limit": 60}})
    points = [models.PointStruct(id=i, vector=[1.0, float(i)]) for i in range(62)]
    qc.upload_points(collection_name, points, batch_size=1, wait=True, max_retries=1)
    with pytest.raises(ResourceExhaustedResponse) as refused:
        qc.upsert(collection_name, [models.PointStruct(id=99, vector=[1.0, 1.0])], wait=True)
    assert refused.value.retry_after_s >= 1
    rest.ok("PATCH", f"/collections/{collection_name}", json={"strict_mode_config": {"enabled": False}})
    assert qc.count(collection_name).count == 62


def test_grpc_upsert_of_a_point_without_vectors_is_refused(both, collection_name):
    rest_client, grpc_client = both
    rest_client.create_collection(collection_name, vectors_config={"a": models.VectorParams(size=2, distance=models.Distance.DOT)})
    points = grpc_client.grpc_points
    with pytest.raises(grpc.RpcError) as refused:
        points.Upsert(pb.UpsertPoints(collection_name=collection_name, wait=True, points=[pb.PointStruct(id=pb.PointId(num=1))]))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "Expected some vectors" in refused.value.details()
    assert rest_client.count(collection_name).count == 0, "nothing was written"
    # An empty set of named vectors is a point without vectors, as in Qdrant.
    empty = pb.Vectors(vectors=pb.NamedVectors())
    points.Upsert(pb.UpsertPoints(collection_name=collection_name, wait=True, points=[pb.PointStruct(id=pb.PointId(num=2), vectors=empty)]))
    assert [p.id for p in rest_client.retrieve(collection_name, [2], with_vectors=True)] == [2]


def test_memory_placements_are_checked_and_shown_back(qc, both, rest, collection_name):
    base = {"vectors": {"size": 2, "distance": "Dot"}}
    for bad in ({"hnsw_config": {"memory": "bar"}}, {"payload": {"memory": "warm"}}):
        assert_error(rest.put(f"/collections/{collection_name}", json={**base, **bad}), 400, "unknown variant")
    assert_error(rest.put(f"/collections/{collection_name}", json={"vectors": {"size": 2, "distance": "Dot", "memory": "foo"}}), 400)
    qc.create_collection(
        collection_name,
        vectors_config=models.VectorParams(size=2, distance=models.Distance.DOT, memory=models.Memory.COLD),
        hnsw_config=models.HnswConfigDiff(memory=models.Memory.PINNED),
        payload=models.PayloadStorageParams(memory=models.Memory.CACHED),
    )
    patch = {"vectors": {"": {"memory": "zzz"}}}
    assert_error(rest.patch(f"/collections/{collection_name}", json=patch), 400, "unknown variant `zzz`")
    for reader in both:
        config = reader.get_collection(collection_name).config
        assert config.params.vectors.memory == models.Memory.COLD
        assert config.hnsw_config.memory == models.Memory.PINNED
    # gRPC's CollectionParams has no `payload` field: REST shows it.
    assert both[0].get_collection(collection_name).config.params.payload.memory == models.Memory.CACHED
    qc.update_collection(collection_name, collection_params=models.CollectionParamsDiff(payload=models.PayloadStorageParams(memory=models.Memory.COLD)))
    assert both[0].get_collection(collection_name).config.params.payload.memory == models.Memory.COLD


@pytest.mark.parametrize("sparse,needle", [
    ({"modifier": "foo"}, "unknown variant `foo`"),
    ({"index": {"datatype": "baz"}}, "unknown variant `baz`"),
    ({"index": {"full_scan_threshold": "x"}}, "invalid type"),
])
def test_bad_sparse_vector_params_are_refused(rest, collection_name, sparse, needle):
    r = rest.put(f"/collections/{collection_name}", json={"sparse_vectors": {"s": sparse}})
    assert_error(r, 400, needle)
    assert rest.get(f"/collections/{collection_name}").status_code == 404


def test_sparse_params_unknown_fields_dropped_and_patch_merges(both, rest, collection_name):
    body = {"sparse_vectors": {"s": {"index": {"on_disk": True, "shiny": 1}, "modifier": "idf"}}}
    rest.ok("PUT", f"/collections/{collection_name}", json=body)
    assert rest.ok("GET", f"/collections/{collection_name}")["config"]["params"]["sparse_vectors"]["s"]["index"] == {"on_disk": True}
    patch = {"sparse_vectors": {"s": {"index": {"full_scan_threshold": 5, "shiny": 2}}}}
    rest.ok("PATCH", f"/collections/{collection_name}", json=patch)
    assert_error(rest.patch(f"/collections/{collection_name}", json={"sparse_vectors": {"s": {"modifier": "bm42"}}}), 400)
    for reader in both:
        sparse = reader.get_collection(collection_name).config.params.sparse_vectors["s"]
        assert sparse.index.full_scan_threshold == 5
        assert sparse.index.on_disk is True, "a PATCH of one index setting keeps the others"
        assert sparse.modifier == models.Modifier.IDF, "a PATCH without a modifier keeps it"


def test_memory_of_quantization_and_payload_indexes_is_accepted(qc, both, rest, collection_name):
    memory = models.Memory
    qc.create_collection(
        collection_name,
        vectors_config={"a": models.VectorParams(size=4, distance=models.Distance.DOT, quantization_config=models.BinaryQuantization(
            binary=models.BinaryQuantizationConfig(memory=memory.PINNED)))},
        quantization_config=models.ScalarQuantization(scalar=models.ScalarQuantizationConfig(type="int8", memory=memory.CACHED)),
    )
    schemas = {
        "k": models.KeywordIndexParams(type="keyword", memory=memory.PINNED),
        "i": models.IntegerIndexParams(type="integer", memory=memory.COLD),
        "t": models.TextIndexParams(type="text", memory=memory.CACHED),
        "g": models.GeoIndexParams(type="geo", memory=memory.COLD),
    }
    for field, schema in schemas.items():
        qc.create_payload_index(collection_name, field, field_schema=schema, wait=True)
    for reader in both:
        info = reader.get_collection(collection_name)
        assert info.config.quantization_config.scalar.memory == memory.CACHED
        assert info.config.params.vectors["a"].quantization_config.binary.memory == memory.PINNED
        assert {f: s.params.memory for f, s in info.payload_schema.items()} == {f: s.memory for f, s in schemas.items()}
    bad = {"vectors": {"size": 2, "distance": "Dot"}, "quantization_config": {"scalar": {"type": "int8", "memory": "warm"}}}
    assert_error(rest.put(f"/collections/{collection_name}_bad", json=bad), 400, "unknown variant `warm`")
    r = rest.put(f"/collections/{collection_name}/index?wait=true", json={"field_name": "x", "field_schema": {"type": "bool", "memory": "warm"}})
    assert_error(r, 400, "unknown variant `warm`")
