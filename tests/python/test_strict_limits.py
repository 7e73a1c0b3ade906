"""Strict mode limits beyond the query limits (`test_strict_mode.py`), each over REST and gRPC:
`max_timeout`, `search_max_batchsize`, `filter_max_conditions`, `condition_max_size`,
`multivector_config`, `sparse_config`, `max_collection_vector_size_bytes`,
`max_collection_payload_size_bytes`, `max_resident_memory_percent`; Qdrant's texts, and a
refused request changes nothing."""

from __future__ import annotations

import json

import grpc
import pytest
from qdrant_client import QdrantClient, models
from qdrant_client import grpc as pb
from qdrant_client.http.exceptions import UnexpectedResponse

from qhelpers import assert_error, assert_ok_envelope

TRANSPORTS = pytest.mark.parametrize("use_grpc", [False, True], ids=["rest", "grpc"])


def make_client(server, use_grpc: bool) -> QdrantClient:
    return QdrantClient(url=server.url, grpc_port=server.grpc_port, prefer_grpc=use_grpc, timeout=30)


def refused(call, needle: str) -> None:
    """`call` fails as a bad request (400 / InvalidArgument) whose message contains `needle`."""
    with pytest.raises((UnexpectedResponse, grpc.RpcError)) as err:
        call()
    if isinstance(err.value, grpc.RpcError):
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, err.value
        message = err.value.details()
    else:
        assert err.value.status_code == 400, err.value
        message = json.loads(err.value.content)["status"]["error"]
    assert needle in message, message


def dense_collection(rest, name: str, strict: dict, points: int = 6) -> None:
    """A 4-d collection with `points` points (payload `{"n": i}`), then strict mode `strict`."""
    assert_ok_envelope(rest.put(f"/collections/{name}", json={"vectors": {"size": 4, "distance": "Dot"}}))
    pts = [{"id": i, "vector": [1.0, float(i), 0.0, 0.0], "payload": {"n": i}} for i in range(points)]
    if pts:
        assert_ok_envelope(rest.put(f"/collections/{name}/points?wait=true", json={"points": pts}))
    assert_ok_envelope(rest.patch(f"/collections/{name}", json={"strict_mode_config": {"enabled": True, **strict}}))


@TRANSPORTS
def test_max_timeout(server, rest, collection_name, use_grpc):
    dense_collection(rest, collection_name, {"max_timeout": 2})
    c = make_client(server, use_grpc)
    assert len(c.query_points(collection_name, query=[1, 0, 0, 0], limit=3, timeout=2).points) == 3
    refused(lambda: c.query_points(collection_name, query=[1, 0, 0, 0], limit=3, timeout=3),
            'Limit exceeded 3 > 2 for "timeout". Help: Reduce the "timeout" parameter to or below 2.')
    refused(lambda: c.scroll(collection_name, limit=3, timeout=5), 'for "timeout"')
    assert len(c.query_points(collection_name, query=[1, 0, 0, 0], limit=3).points) == 3, "no timeout: not limited"


@TRANSPORTS
def test_search_max_batchsize(server, rest, collection_name, use_grpc):
    dense_collection(rest, collection_name, {"search_max_batchsize": 2})
    c = make_client(server, use_grpc)
    two = [models.QueryRequest(query=[1, 0, 0, 0], limit=1)] * 2
    assert [len(r.points) for r in c.query_batch_points(collection_name, requests=two)] == [1, 1]
    refused(lambda: c.query_batch_points(collection_name, requests=two + two[:1]), 'Limit exceeded 3 > 2 for "batch size"')
    if use_grpc:  # the legacy search batch (the client has no method for it any more)
        search = pb.SearchPoints(collection_name=collection_name, vector=[1, 0, 0, 0], limit=1)
        batch = pb.SearchBatchPoints(collection_name=collection_name, search_points=[search] * 3)
        refused(lambda: c._client.grpc_points.SearchBatch(batch, timeout=10), 'Limit exceeded 3 > 2 for "batch size"')
    else:
        searches = {"searches": [{"vector": [1, 0, 0, 0], "limit": 1}] * 3}
        r = rest.post(f"/collections/{collection_name}/points/search/batch", json=searches)
        assert_error(r, 400, 'Bad request: Limit exceeded 3 > 2 for "batch size"')
    assert len(c.query_points(collection_name, query=[1, 0, 0, 0], limit=3).points) == 3, "single queries: not limited"


@TRANSPORTS
def test_filter_size_limits(server, rest, collection_name, use_grpc):
    dense_collection(rest, collection_name, {"filter_max_conditions": 2, "condition_max_size": 3})
    c = make_client(server, use_grpc)

    def count(flt):
        return c.count(collection_name, count_filter=flt).count

    def match(n):
        return models.FieldCondition(key="n", match=models.MatchValue(value=n))

    any3 = models.Filter(must=[models.FieldCondition(key="n", match=models.MatchAny(any=[1, 2, 3]))])
    assert count(any3) == 3
    any4 = models.Filter(must=[models.FieldCondition(key="n", match=models.MatchAny(any=[1, 2, 3, 4]))])
    refused(lambda: count(any4), "Condition size limit reached (4 > 3). Help: Reduce the size of your condition.")
    assert count(models.Filter(should=[match(1), match(2)])) == 2
    three = models.Filter(should=[match(1), match(2), models.Filter(must=[match(3)])])
    refused(lambda: count(three), "Filter condition limit reached (3 > 2). Help: Reduce the amount of conditions")
    # Updates selected by a filter are checked as well; a refused delete deletes nothing.
    refused(lambda: c.delete(collection_name, points_selector=models.FilterSelector(filter=any4), wait=True),
            "Condition size limit reached (4 > 3)")
    assert c.count(collection_name).count == 6


@TRANSPORTS
def test_multivector_and_sparse_limits(server, rest, collection_name, use_grpc):
    assert_ok_envelope(rest.put(f"/collections/{collection_name}", json={
        "vectors": {"m": {"size": 2, "distance": "Dot", "multivector_config": {"comparator": "max_sim"}}},
        "sparse_vectors": {"s": {}},
        "strict_mode_config": {"enabled": True, "multivector_config": {"m": {"max_vectors": 2}},
                               "sparse_config": {"s": {"max_length": 2}}}}))
    c = make_client(server, use_grpc)
    cfg = c.get_collection(collection_name).config.strict_mode_config
    assert cfg.multivector_config["m"].max_vectors == 2 and cfg.sparse_config["s"].max_length == 2
    ok = {"m": [[1.0, 0.0], [0.0, 1.0]], "s": models.SparseVector(indices=[1, 2], values=[0.5, 0.5])}
    c.upsert(collection_name, points=[models.PointStruct(id=1, vector=ok)], wait=True)
    refused(lambda: c.upsert(collection_name, points=[models.PointStruct(id=2, vector={"m": [[1.0, 0.0]] * 3})], wait=True),
            "Multivector 'm' has a limit of 2 vectors, but 3 were provided!")
    sparse3 = models.SparseVector(indices=[1, 2, 3], values=[0.1, 0.2, 0.3])
    refused(lambda: c.update_vectors(collection_name, points=[models.PointVectors(id=1, vector={"s": sparse3})], wait=True),
            "Sparse vector 's' has a limit of 2 indices, but 3 were provided!")
    stored = c.retrieve(collection_name, [1, 2], with_vectors=True)
    assert [p.id for p in stored] == [1] and stored[0].vector["s"].indices == [1, 2], "refused writes change nothing"


@TRANSPORTS
def test_collection_size_limits(server, rest, collection_name, use_grpc):
    # 4 float32 elements: 16 bytes a vector. `{"n":0}` is 7 bytes of payload.
    dense_collection(rest, collection_name, {"max_collection_vector_size_bytes": 64}, points=3)
    c = make_client(server, use_grpc)
    c.upsert(collection_name, points=[models.PointStruct(id=3, vector=[1, 0, 0, 0])], wait=True)  # 48 < 64 before
    refused(lambda: c.upsert(collection_name, points=[models.PointStruct(id=4, vector=[1, 0, 0, 0])], wait=True),
            "Max vector storage size limit of 0.000061035156MB reached!")
    c.delete(collection_name, points_selector=models.PointIdsList(points=[0, 1]), wait=True)  # deletes pass
    c.upsert(collection_name, points=[models.PointStruct(id=4, vector=[1, 0, 0, 0])], wait=True)
    assert c.count(collection_name).count == 3

    payload_name = collection_name + "_p"
    dense_collection(rest, payload_name, {"max_collection_payload_size_bytes": 21}, points=3)  # 3 × 7 bytes
    refused(lambda: c.set_payload(payload_name, payload={"x": 1}, points=[0], wait=True),
            "Max payload storage size limit of")
    refused(lambda: c.upsert(payload_name, points=[models.PointStruct(id=9, vector=[1, 0, 0, 0])], wait=True),
            "Max payload storage size limit of")
    assert c.retrieve(payload_name, [0])[0].payload == {"n": 0}
    c.clear_payload(payload_name, points_selector=models.PointIdsList(points=[0]), wait=True)
    c.set_payload(payload_name, payload={"x": 1}, points=[0], wait=True)
    rest.delete(f"/collections/{payload_name}")


@TRANSPORTS
def test_resident_memory_limit_is_kept_and_checked(server, rest, collection_name, use_grpc):
    dense_collection(rest, collection_name, {"max_resident_memory_percent": 100})
    c = make_client(server, use_grpc)
    assert c.get_collection(collection_name).config.strict_mode_config.max_resident_memory_percent == 100
    # This process is below 100% of the machine's memory: writes pass (the refusal is unit-tested
    # in `strict_sizes.rs`, no test machine can be filled on purpose).
    c.upsert(collection_name, points=[models.PointStruct(id=50, vector=[1, 0, 0, 0])], wait=True)
    assert c.count(collection_name).count == 7
