"""Facet counts (`POST /collections/{c}/facet`, gRPC `Facet`) and the distance matrix
(`…/points/search/matrix/pairs|offsets`, gRPC `SearchMatrixPairs|Offsets`) over REST and
gRPC, with bad input refused (4xx / InvalidArgument) and nothing changed."""

import grpc
import numpy as np
import pytest
from qdrant_client import QdrantClient, models

from qhelpers import assert_error, assert_ok_envelope

CITIES = ["Berlin", "London", "Berlin", "Paris", "Berlin", "London", "Rome", "Paris", "Berlin", "Oslo"]


def make_client(server, use_grpc: bool) -> QdrantClient:
    return QdrantClient(url=server.url, grpc_port=server.grpc_port, prefer_grpc=use_grpc, timeout=30)


def _fill(client, name):
    rng = np.random.default_rng(5)
    vecs = rng.normal(size=(len(CITIES), 4))
    client.create_collection(name, vectors_config={
        "d": models.VectorParams(size=4, distance=models.Distance.EUCLID),
        "e": models.VectorParams(size=2, distance=models.Distance.DOT)})
    client.upsert(name, points=[
        models.PointStruct(id=i, vector={"d": vecs[i].tolist()} if i != 9 else {"e": [1.0, 0.0]},
                           payload={"city": c, "n": i % 3, "ok": i % 2 == 0, "tags": ["x", "y"] if i < 4 else ["x"]})
        for i, c in enumerate(CITIES)], wait=True)
    for key, schema in (("city", "keyword"), ("n", "integer"), ("ok", "bool"), ("tags", "keyword")):
        client.create_payload_index(name, key, field_schema=schema, wait=True)
    return vecs


def hits_of(response):
    return [(h.value, h.count) for h in response.hits]


@pytest.mark.parametrize("use_grpc", [False, True])
def test_facet_counts(server, collection_name, use_grpc):
    c = make_client(server, use_grpc)
    _fill(c, collection_name)
    assert hits_of(c.facet(collection_name, "city")) == [("Berlin", 4), ("London", 2), ("Paris", 2), ("Oslo", 1), ("Rome", 1)]
    assert hits_of(c.facet(collection_name, "city", limit=2, exact=True)) == [("Berlin", 4), ("London", 2)]
    flt = models.Filter(must=[models.FieldCondition(key="n", match=models.MatchValue(value=0))])
    assert hits_of(c.facet(collection_name, "city", facet_filter=flt)) == [("Berlin", 1), ("Oslo", 1), ("Paris", 1), ("Rome", 1)]
    assert hits_of(c.facet(collection_name, "n")) == [(0, 4), (1, 3), (2, 3)]
    assert hits_of(c.facet(collection_name, "ok")) == [(False, 5), (True, 5)]
    assert hits_of(c.facet(collection_name, "tags")) == [("x", 10), ("y", 4)]


def test_facet_bad_input(rest, client, collection_name):
    _fill(client, collection_name)
    r = rest.post(f"/collections/{collection_name}/facet", json={"key": "missing"})
    assert_error(r, 400, 'Index required but not found for "missing"')
    r = rest.post(f"/collections/{collection_name}/facet", json={"key": "city", "limit": 0})
    assert assert_error(r, 422) == "Validation error in JSON body: [limit: value 0 invalid, must be 1 or larger]"
    assert_error(rest.post(f"/collections/{collection_name}/facet", json={"limit": 3}), 400, "missing field `key`")
    assert_error(rest.post("/collections/nope_x/facet", json={"key": "city"}), 404, "Collection `nope_x` doesn't exist!")


@pytest.mark.parametrize("use_grpc", [False, True])
def test_distance_matrix(server, collection_name, use_grpc):
    c = make_client(server, use_grpc)
    vecs = _fill(c, collection_name)
    pairs = c.search_matrix_pairs(collection_name, sample=5, limit=2, using="d").pairs
    rows = {}
    for p in pairs:
        rows.setdefault(p.a, []).append((p.b, p.score))
    assert len(rows) == 5 and all(len(v) == 2 for v in rows.values())
    sampled = set(rows)
    assert 9 not in sampled  # point 9 has no vector "d"
    for a, got in rows.items():
        expect = sorted((float(np.linalg.norm(vecs[a] - vecs[b])), b) for b in sampled if b != a)[:2]
        assert [b for b, _ in got] == [b for _, b in expect]
        assert [s for _, s in got] == pytest.approx([d for d, _ in expect], rel=1e-4)
    flt = models.Filter(must=[models.FieldCondition(key="city", match=models.MatchValue(value="Berlin"))])
    off = c.search_matrix_offsets(collection_name, query_filter=flt, sample=10, limit=1, using="d")
    assert sorted(off.ids) == [0, 2, 4, 8]
    assert len(off.offsets_row) == len(off.offsets_col) == len(off.scores) == 4
    assert sorted(off.offsets_row) == [0, 1, 2, 3]
    assert all(r != col for r, col in zip(off.offsets_row, off.offsets_col))


def test_distance_matrix_bad_input(server, rest, client, collection_name):
    _fill(client, collection_name)
    base = f"/collections/{collection_name}/points/search/matrix"
    r = rest.post(f"{base}/pairs", json={"sample": 1, "using": "d"})
    assert assert_error(r, 422) == "Validation error in JSON body: [sample: value 1 invalid, must be 2 or larger]"
    r = rest.post(f"{base}/offsets", json={"limit": 0, "using": "d"})
    assert assert_error(r, 422) == "Validation error in JSON body: [limit: value 0 invalid, must be 1 or larger]"
    assert_error(rest.post(f"{base}/pairs", json={"using": "nope"}), 400, "Not existing vector name error: nope")
    g = make_client(server, True)
    with pytest.raises(Exception) as e:
        g.search_matrix_pairs(collection_name, sample=1, using="d")
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "sample: value 1 invalid" in e.value.details()
