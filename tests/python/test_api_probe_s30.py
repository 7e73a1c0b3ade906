"""Differences from Qdrant found by the third probe (payload key paths, filter conditions, batch
updates, aliases, score thresholds): a `with_payload` selector naming a key that is not a valid
path is refused (Qdrant's selectors are typed paths) instead of answering with a payload the bad
key silently matched nothing of."""

import grpc
import pytest
from qdrant_client import QdrantClient, models

from qhelpers import assert_error


@pytest.fixture
def both(server):
    rest = QdrantClient(url=server.url, timeout=60)
    grpc_ = QdrantClient(url=server.url, grpc_port=server.grpc_port, prefer_grpc=True, timeout=60)
    yield rest, grpc_
    rest.close()
    grpc_.close()


def _points(rest, name, points):
    rest.ok("PUT", f"/collections/{name}", json={"vectors": {"size": 2, "distance": "Dot"}})
    rest.ok("PUT", f"/collections/{name}/points?wait=true", json={"points": points})


BAD_SELECTORS = [["a..b"], {"include": ["a[x]"]}, {"exclude": ["k", ""]}]


@pytest.mark.parametrize("selector", BAD_SELECTORS)
def test_with_payload_with_an_invalid_key_path_is_refused(rest, collection_name, selector):
    _points(rest, collection_name, [{"id": 1, "vector": [1, 0], "payload": {"a": {"b": 1}, "k": 2}}])
    base = f"/collections/{collection_name}/points"
    reads = [
        ("/scroll", {"with_payload": selector}),
        ("", {"ids": [1], "with_payload": selector}),
        ("/query", {"query": [1, 0], "with_payload": selector}),
        ("/search", {"vector": [1, 0], "limit": 1, "with_payload": selector}),
        ("/query/groups", {"query": [1, 0], "group_by": "k", "with_payload": selector}),
    ]
    for path, body in reads:
        assert_error(rest.post(base + path, json=body), 400, "Invalid payload key path")
    # A valid path still selects.
    got = rest.ok("POST", base, json={"ids": [1], "with_payload": {"include": ["a.b"]}})
    assert got[0]["payload"] == {"a": {"b": 1}}


def test_with_payload_with_an_invalid_key_path_is_refused_over_grpc(both, collection_name):
    rest_client, grpc_client = both
    rest_client.create_collection(collection_name, vectors_config=models.VectorParams(size=2, distance=models.Distance.DOT))
    rest_client.upsert(collection_name, [models.PointStruct(id=1, vector=[1, 0], payload={"a": 1})], wait=True)
    bad = models.PayloadSelectorInclude(include=["a..b"])
    with pytest.raises(grpc.RpcError) as refused:
        grpc_client.retrieve(collection_name, [1], with_payload=bad)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.RpcError) as refused:
        grpc_client.scroll(collection_name, with_payload=bad)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert grpc_client.retrieve(collection_name, [1], with_payload=["a"])[0].payload == {"a": 1}
