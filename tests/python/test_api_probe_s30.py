"""Differences from Qdrant found by the third probe (payload key paths, filter conditions, batch
updates, aliases, score thresholds): a `with_payload` selector naming a key that is not a valid
path is refused (Qdrant's selectors are typed paths) instead of answering with a payload the bad
key silently matched nothing of; a `points/batch` (REST) or `UpdateBatch` (gRPC) with an
operation whose filter, key path or sparse vector is malformed is refused whole before any
operation runs, as Qdrant refuses such a body while reading it (errors found while applying, such as a wrong vector
dimension, still leave the earlier operations applied, as in Qdrant); a filter with an empty
`should` list matches nothing over REST ("at least one of none"), as Qdrant's does, while gRPC's
empty repeated field is an absent list and is ignored (design record 036); a point of a
vector update with no vector (`{}`, `[]`) is refused with 422 as Qdrant's REST refuses it, and
the update's points accept `vectors` for `vector` as Qdrant's do; the batch (columnar) form of an
upsert with a count of vectors or payloads other than the ids' is refused with Qdrant's 422
validation error (an empty `payloads` list included); `?timeout=0` of a collection or alias
operation is Qdrant's 422 query-parameter validation error, as it already was for point writes;
a collection name breaking the naming rule (over 255 characters, `<>:"/\\|?*`) is Qdrant's 422
path-parameter validation error on every endpoint (reads, writes, exists, delete), not a 404 or
`false`."""

from urllib.parse import quote

import grpc
import pytest
from qdrant_client import models

from qhelpers import assert_error


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


MALFORMED_OPS = [
    {"delete_payload": {"keys": ["a..b"], "points": [1]}},
    {"set_payload": {"payload": {"x": 1}, "points": [1], "key": "a[x]"}},
    {"delete": {"filter": {"must": [{"key": "a..b", "match": {"value": 1}}]}}},
    {"delete": {"filter": {"min_should": {"conditions": [{"has_id": [1]}], "min_count": 0}}}},
    {"set_payload": {"payload": {"x": 1}, "filter": {"must": [{"key": "x", "range": {"gte": "not a date"}}]}}},
    {"clear_payload": {"filter": {"must": [{"key": "g", "geo_radius": {"center": {"lon": 500, "lat": 0}, "radius": 1}}]}}},
    {"upsert": {"points": [{"id": 3, "vector": [1, 0]}], "update_filter": {"must": [{"key": "", "match": {"value": 1}}]}}},
]


@pytest.mark.parametrize("malformed", MALFORMED_OPS, ids=lambda op: next(iter(op)))
def test_batch_with_a_malformed_operation_applies_nothing(rest, collection_name, malformed):
    _points(rest, collection_name, [{"id": 1, "vector": [1, 0], "payload": {"k": 1}}])
    base = f"/collections/{collection_name}/points"
    ops = [{"upsert": {"points": [{"id": 2, "vector": [0, 1]}]}}, {"delete": {"points": [1]}}, malformed]
    assert_error(rest.post(base + "/batch?wait=true", json={"operations": ops}), (400, 422))
    got = rest.ok("POST", base + "/scroll", json={})["points"]
    assert [(p["id"], p["payload"]) for p in got] == [(1, {"k": 1})], "no operation of the batch ran"


def test_batch_with_a_malformed_sparse_vector_applies_nothing(rest, collection_name):
    body = {"vectors": {"d": {"size": 2, "distance": "Dot"}}, "sparse_vectors": {"s": {}}}
    rest.ok("PUT", f"/collections/{collection_name}", json=body)
    base = f"/collections/{collection_name}/points"
    first = {"upsert": {"points": [{"id": 1, "vector": {"d": [1, 0]}}]}}
    for sparse in ({"indices": [1, 2], "values": [1.0]}, {"indices": [1, 1], "values": [1.0, 2.0]}):
        for bad in ({"upsert": {"points": [{"id": 3, "vector": {"s": sparse}}]}}, {"update_vectors": {"points": [{"id": 1, "vector": {"s": sparse}}]}}):
            assert_error(rest.post(base + "/batch?wait=true", json={"operations": [first, bad]}), 422, "Validation error")
            assert rest.ok("POST", base + "/count", json={})["count"] == 0


def test_batch_stops_at_an_operation_that_fails_while_applied(rest, collection_name):
    _points(rest, collection_name, [])
    base = f"/collections/{collection_name}/points"
    ops = [{"upsert": {"points": [{"id": 2, "vector": [0, 1]}]}}, {"upsert": {"points": [{"id": 3, "vector": [1, 0, 0]}]}}]
    assert_error(rest.post(base + "/batch?wait=true", json={"operations": ops}), 400, "Vector dimension error")
    assert [p["id"] for p in rest.ok("POST", base + "/scroll", json={})["points"]] == [2]


def test_grpc_batch_with_a_malformed_operation_applies_nothing(both, collection_name):
    rest_client, grpc_client = both
    rest_client.create_collection(collection_name, vectors_config=models.VectorParams(size=2, distance=models.Distance.DOT))
    ops = [
        models.UpsertOperation(upsert=models.PointsList(points=[models.PointStruct(id=2, vector=[0, 1])])),
        models.DeletePayloadOperation(delete_payload=models.DeletePayload(keys=["a..b"], points=[2])),
    ]
    with pytest.raises(grpc.RpcError) as refused:
        grpc_client.batch_update_points(collection_name, ops, wait=True)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert rest_client.count(collection_name).count == 0


def test_an_empty_should_list_matches_nothing_over_rest(rest, both, collection_name):
    _points(rest, collection_name, [{"id": i, "vector": [1, 0], "payload": {"k": i}} for i in (1, 2, 3)])
    base = f"/collections/{collection_name}/points"
    empty = {"should": []}
    assert rest.ok("POST", base + "/scroll", json={"filter": empty})["points"] == []
    assert rest.ok("POST", base + "/count", json={"filter": empty})["count"] == 0
    assert rest.ok("POST", base + "/query", json={"query": [1, 0], "filter": empty})["points"] == []
    nested = {"must": [{"key": "k", "range": {"gte": 2}}], "must_not": [{"should": []}]}
    assert [p["id"] for p in rest.ok("POST", base + "/scroll", json={"filter": nested})["points"]] == [2, 3]
    rest.ok("POST", base + "/delete?wait=true", json={"filter": empty})
    assert rest.ok("POST", base + "/count", json={})["count"] == 3, "a delete by an empty should deletes nothing"
    # An absent (or null) list is ignored; so is gRPC's empty repeated field, as in Qdrant.
    assert rest.ok("POST", base + "/count", json={"filter": {"should": None}})["count"] == 3
    assert rest.ok("POST", base + "/count", json={"filter": {"must": [], "must_not": []}})["count"] == 3
    grpc_client = both[1]
    assert grpc_client.count(collection_name, count_filter=models.Filter(should=[])).count == 3


def test_vector_update_of_a_point_without_vectors_is_refused(rest, collection_name):
    _points(rest, collection_name, [{"id": 1, "vector": [1, 0]}])
    base = f"/collections/{collection_name}/points"
    for empty in ({}, []):
        body = {"points": [{"id": 1, "vector": [0, 1]}, {"id": 1, "vector": empty}]}
        assert_error(rest.put(base + "/vectors?wait=true", json=body), 422, "points[1].vector: must specify vectors to update for point")
        ops = [{"upsert": {"points": [{"id": 2, "vector": [1, 0]}]}}, {"update_vectors": body}]
        assert_error(rest.post(base + "/batch?wait=true", json={"operations": ops}), 422, "must specify vectors")
    assert rest.ok("POST", base, json={"ids": [1, 2], "with_vector": True}) == [{"id": 1, "payload": {}, "vector": [1.0, 0.0]}]


def test_vector_update_accepts_vectors_for_vector(rest, collection_name):
    _points(rest, collection_name, [{"id": 1, "vector": [1, 0]}])
    base = f"/collections/{collection_name}/points"
    rest.ok("PUT", base + "/vectors?wait=true", json={"points": [{"id": 1, "vectors": [0, 1]}]})
    assert rest.ok("GET", base + "/1")["vector"] == [0.0, 1.0]


@pytest.mark.parametrize(
    "batch, what, counts",
    [
        ({"ids": [1, 2], "vectors": [[1, 0]]}, "vectors", "2 != 1"),
        ({"ids": [1], "vectors": [[1, 0], [0, 1]]}, "vectors", "1 != 2"),
        ({"ids": [1, 2], "vectors": {"": [[1, 0]]}}, "vectors", "2 != 1"),
        ({"ids": [1, 2], "vectors": [[1, 0], [0, 1]], "payloads": [{"a": 1}]}, "payloads", "2 != 1"),
        ({"ids": [1], "vectors": [[1, 0]], "payloads": []}, "payloads", "1 != 0"),
    ],
)
def test_batch_upsert_with_mismatched_counts_is_a_validation_error(rest, collection_name, batch, what, counts):
    _points(rest, collection_name, [])
    r = rest.put(f"/collections/{collection_name}/points?wait=true", json={"batch": batch})
    assert_error(r, 422, f"number of ids and {what} must be equal ({counts})")
    assert rest.ok("POST", f"/collections/{collection_name}/points/count", json={})["count"] == 0
    # Payloads may be left out, or given per id with nulls.
    ok = {"ids": [1, 2], "vectors": [[1, 0], [0, 1]], "payloads": [None, {"a": 1}]}
    rest.ok("PUT", f"/collections/{collection_name}/points?wait=true", json={"batch": ok})
    rest.ok("PUT", f"/collections/{collection_name}/points?wait=true", json={"batch": {"ids": [3], "vectors": [[1, 1]]}})
    got = rest.ok("POST", f"/collections/{collection_name}/points/scroll", json={})["points"]
    assert [(p["id"], p["payload"]) for p in got] == [(1, {}), (2, {"a": 1}), (3, {})]


def test_zero_timeout_of_collection_operations_is_a_validation_error(rest, collection_name):
    body = {"vectors": {"size": 2, "distance": "Dot"}}
    expected = "Validation error in query parameters: [timeout: value 0 invalid, must be 1 or larger]"
    assert assert_error(rest.put(f"/collections/{collection_name}?timeout=0", json=body), 422) == expected
    assert not rest.ok("GET", f"/collections/{collection_name}/exists")["exists"], "nothing was created"
    rest.ok("PUT", f"/collections/{collection_name}?timeout=5", json=body)
    calls = [
        ("PATCH", f"/collections/{collection_name}?timeout=0", {"optimizers_config": {"indexing_threshold": 10}}),
        ("POST", "/collections/aliases?timeout=0", {"actions": [{"create_alias": {"collection_name": collection_name, "alias_name": collection_name + "_a"}}]}),
        ("PUT", f"/collections/{collection_name}/vectors/extra?timeout=0", {"dense": {"size": 2, "distance": "Dot"}}),
        ("DELETE", f"/collections/{collection_name}?timeout=0", None),
    ]
    for method, path, body in calls:
        assert assert_error(rest.req(method, path, json=body), 422) == expected, path
    assert rest.ok("GET", f"/collections/{collection_name}/aliases")["aliases"] == []
    assert rest.ok("GET", f"/collections/{collection_name}/exists")["exists"], "the DELETE was refused"


@pytest.mark.parametrize("name", ["x" * 256, "a<b", "a:b"])
def test_an_invalid_collection_name_is_a_validation_error_everywhere(rest, both, name):
    base = f"/collections/{quote(name, safe='')}"
    calls = [
        ("GET", base + "/points/1", None),
        ("POST", base + "/points/scroll", {}),
        ("POST", base + "/points/query", {}),
        ("PUT", base + "/points?wait=true", {"points": [{"id": 1, "vector": [1, 0]}]}),
        ("GET", base, None),
        ("GET", base + "/exists", None),
        ("GET", base + "/aliases", None),
        ("DELETE", base, None),
    ]
    for method, path, body in calls:
        assert_error(rest.req(method, path, json=body), 422, "Validation error in path parameters")
    with pytest.raises(grpc.RpcError) as refused:
        both[1].collection_exists(name)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    # A valid name that names nothing is still 404 / `false`.
    assert_error(rest.get("/collections/no_such_collection_s30/points/1"), 404)
    assert rest.ok("GET", "/collections/no_such_collection_s30/exists") == {"exists": False}
