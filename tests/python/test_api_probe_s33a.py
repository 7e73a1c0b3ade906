"""Differences from Qdrant found by replaying what Qdrant's own REST integration tests
(`tests/openapi/test_[a-m]*.py` of qdrant/qdrant) assert, against one Quiver node:

- the distance matrix reports its sample in id order (deterministic rows and offsets);
- a field condition without any condition says Qdrant's "At least one field condition must be
  specified" (422);
- a group lookup in a missing collection is 404 "Collection <name> not found";
- an example id missing from the lookup collection is 404 even when the vector name is unknown
  too (the point is looked up first);
- multivectors: one plain vector is stored as a multivector of one, an empty list is a dimension
  error (400), an empty or ragged inner vector fails body validation (422);
- `{"is_null": {"key": k}}` matches an array holding a null, as `{"key": k, "is_null": true}`;
- `memory: pinned` for dense vector or payload storage is refused (422) and a vector's memory
  can be changed by PATCH;
- `init_from` copies the source collection (404 for a missing source, 400 for vectors that
  do not fit);
- `POST /locks` / `GET /locks` lock this node against writes that add data.

A few behaviours that already matched and were untested close the file."""

import pytest

from qhelpers import assert_error, wait_until


def _ok(r):
    assert r.status_code == 200, f"{r.request.method} {r.request.url} {r.request.body!r} -> {r.status_code}: {r.text}"
    return r.json()["result"]


VECTORS = {
    1: [0.05, 0.61, 0.76, 0.74],
    2: [0.19, 0.81, 0.75, 0.11],
    3: [0.36, 0.55, 0.47, 0.94],
    4: [0.18, 0.01, 0.85, 0.80],
    5: [0.24, 0.18, 0.22, 0.44],
}


@pytest.fixture
def basic(rest, collection_name):
    """Five Dot points (ids 5..1 written in reverse) with a `city` payload."""
    _ok(rest.put(f"/collections/{collection_name}", json={"vectors": {"size": 4, "distance": "Dot"}}))
    points = [{"id": i, "vector": VECTORS[i], "payload": {"city": f"c{i % 2}"}} for i in sorted(VECTORS, reverse=True)]
    _ok(rest.put(f"/collections/{collection_name}/points?wait=true", json={"points": points}))
    return collection_name


def test_distance_matrix_sample_is_in_id_order(rest, basic):
    url = f"/collections/{basic}/points/search/matrix"
    offsets = _ok(rest.post(f"{url}/offsets", json={"sample": 10, "limit": 1}))
    assert offsets["ids"] == [1, 2, 3, 4, 5]
    assert offsets["offsets_row"] == [0, 1, 2, 3, 4]
    pairs = _ok(rest.post(f"{url}/pairs", json={"sample": 10, "limit": 1}))["pairs"]
    assert [p["a"] for p in pairs] == [1, 2, 3, 4, 5]
    # Each row's neighbour is the other point with the highest dot product.
    dot = lambda a, b: sum(x * y for x, y in zip(VECTORS[a], VECTORS[b]))  # noqa: E731
    assert [p["b"] for p in pairs] == [max((j for j in VECTORS if j != i), key=lambda j: dot(i, j)) for i in VECTORS]


def test_field_condition_without_condition_is_refused_in_qdrant_words(rest, basic):
    r = rest.post(f"/collections/{basic}/points/query", json={"query": VECTORS[1], "filter": {"must": [{"key": "city"}]}})
    assert_error(r, 422, "At least one field condition must be specified")
    assert "Validation error in JSON body" in r.json()["status"]["error"]


def test_group_lookup_in_missing_collection(rest, basic):
    body = {"query": VECTORS[1], "group_by": "city", "group_size": 1, "limit": 2,
            "with_lookup": {"collection": "no_such_lookup_collection", "with_payload": True}}
    assert_error(rest.post(f"/collections/{basic}/points/query/groups", json=body), 404,
                 "Collection no_such_lookup_collection not found")


def test_missing_example_point_is_reported_before_unknown_vector(rest, basic, unique):
    other = unique("lookup")
    try:
        _ok(rest.put(f"/collections/{other}", json={"vectors": {"other": {"size": 4, "distance": "Dot"}}}))
        _ok(rest.put(f"/collections/{other}/points?wait=true", json={"points": [{"id": 1, "vector": {"other": [1, 0, 0, 0]}}]}))
        url = f"/collections/{basic}/points/recommend"
        lookup = {"collection": other, "vector": "unknown_vector"}
        assert_error(rest.post(url, json={"positive": [1], "limit": 3, "lookup_from": lookup}), 400, "Not existing vector name")
        assert_error(rest.post(url, json={"positive": [2], "limit": 3, "lookup_from": lookup}), 404, "No point with id 2 found")
        hits = _ok(rest.post(url, json={"positive": [1], "limit": 1, "lookup_from": {"collection": other, "vector": "other"}}))
        assert hits[0]["id"] == max(VECTORS, key=lambda i: VECTORS[i][0])
    finally:
        rest.delete(f"/collections/{other}")


@pytest.mark.parametrize("named", [True, False], ids=["named", "unnamed"])
def test_multivector_input_shapes(rest, collection_name, named):
    params = {"size": 4, "distance": "Dot", "multivector_config": {"comparator": "max_sim"}}
    _ok(rest.put(f"/collections/{collection_name}", json={"vectors": {"mv": params} if named else params}))
    wrap = (lambda v: {"mv": v}) if named else (lambda v: v)
    url = f"/collections/{collection_name}/points?wait=true"
    a = [0.05, 0.61, 0.76, 0.74]

    def put(vector):
        return rest.put(url, json={"points": [{"id": 1, "vector": wrap(vector)}]})

    assert_error(put([]), 400, "Wrong input: Vector dimension error: expected dim: 4, got 0")
    assert_error(put([[]]), 422, "Validation error in JSON body: [points[0].vector.?.data: all vectors must be non-empty]")
    assert_error(put([a, []]), 422, "points[0].vector.?.data: all vectors must be non-empty")
    assert_error(put([a, a[:3]]), 422,
                 "points[0].vector.?.data: all vectors must have the same dimension, found vector with dimension 3")
    _ok(put(a))
    stored = _ok(rest.get(f"/collections/{collection_name}/points/1"))["vector"]
    assert stored == wrap([a])


def test_is_null_condition_matches_arrays_holding_null(rest, collection_name):
    points = [
        {"id": 1, "vector": [0.2, 0.3], "payload": {"s": [None, "a"]}},
        {"id": 2, "vector": [0.2, 0.4], "payload": {"s": None}},
        {"id": 3, "vector": [0.1, 0.4], "payload": {"s": ["a"]}},
        {"id": 4, "vector": [0.1, 0.5], "payload": {"s": [None]}},
        {"id": 5, "vector": [0.1, 0.5], "payload": {}},
    ]
    _ok(rest.put(f"/collections/{collection_name}", json={"vectors": {"size": 2, "distance": "Dot"}}))
    _ok(rest.put(f"/collections/{collection_name}/points?wait=true", json={"points": points}))

    def ids(condition):
        body = {"filter": {"must": [condition]}, "limit": 10}
        return sorted(p["id"] for p in _ok(rest.post(f"/collections/{collection_name}/points/scroll", json=body))["points"])

    for indexed in (False, True):
        assert ids({"is_null": {"key": "s"}}) == [1, 2, 4], f"indexed={indexed}"
        assert ids({"key": "s", "is_null": True}) == [1, 2, 4], f"indexed={indexed}"
        _ok(rest.put(f"/collections/{collection_name}/index?wait=true", json={"field_name": "s", "field_schema": "keyword"}))


def test_pinned_storage_is_refused_and_vector_memory_is_mutable(rest, collection_name):
    url = f"/collections/{collection_name}"
    assert_error(rest.put(url, json={"vectors": {"size": 4, "distance": "Dot", "memory": "pinned"}}), 422, "pinned")
    body = {"vectors": {"size": 4, "distance": "Dot"}, "payload": {"memory": "pinned"}}
    assert_error(rest.put(url, json=body), 422, "pinned")
    _ok(rest.put(url, json={"vectors": {"size": 4, "distance": "Dot", "hnsw_config": {"memory": "pinned"}}}))
    _ok(rest.patch(url, json={"vectors": {"": {"memory": "cold"}}, "params": {"payload": {"memory": "cached"}}}))
    params = _ok(rest.get(url))["config"]["params"]
    assert params["vectors"]["memory"] == "cold" and params["payload"]["memory"] == "cached"
    assert_error(rest.patch(url, json={"vectors": {"": {"memory": "pinned"}}}), 422, "pinned")
    assert_error(rest.patch(url, json={"params": {"payload": {"memory": "pinned"}}}), 422, "pinned")
    assert _ok(rest.get(url))["config"]["params"]["vectors"]["memory"] == "cold"


def test_init_from_copies_the_source(rest, basic, unique):
    target = unique("copy")
    try:
        _ok(rest.put(f"/collections/{basic}/index?wait=true", json={"field_name": "city", "field_schema": "keyword"}))
        body = {"vectors": {"size": 4, "distance": "Dot"}, "init_from": {"collection": basic}}
        assert_error(rest.put(f"/collections/{target}", json={**body, "init_from": {"collection": "no_such_source"}}), 404)
        for vectors in ({"size": 8, "distance": "Dot"}, {"size": 4, "distance": "Cosine"}, {"v": {"size": 4, "distance": "Dot"}}):
            assert_error(rest.put(f"/collections/{target}", json={**body, "vectors": vectors}), 400)
        assert _ok(rest.get(f"/collections/{target}/exists"))["exists"] is False
        _ok(rest.put(f"/collections/{target}", json=body))

        def count():
            return _ok(rest.post(f"/collections/{target}/points/count", json={"exact": True}))["count"]

        wait_until(lambda: count() == len(VECTORS), timeout=20, what="the copy of the source's points")
        scroll = {"limit": 10, "with_vector": True, "with_payload": True}
        copied = _ok(rest.post(f"/collections/{target}/points/scroll", json=scroll))["points"]
        assert copied == _ok(rest.post(f"/collections/{basic}/points/scroll", json=scroll))["points"]
        schema = wait_until(lambda: _ok(rest.get(f"/collections/{target}"))["payload_schema"], what="index copied")
        assert schema["city"]["data_type"] == "keyword"
    finally:
        rest.delete(f"/collections/{target}")


def test_init_from_into_more_named_vectors(rest, unique):
    source, target = unique("src"), unique("dst")
    vectors = {"image": {"size": 2, "distance": "Dot"}, "audio": {"size": 3, "distance": "Dot"}}
    try:
        _ok(rest.put(f"/collections/{source}", json={"vectors": vectors}))
        _ok(rest.put(f"/collections/{source}/points?wait=true",
                     json={"points": [{"id": 7, "vector": {"image": [1, 2], "audio": [1, 2, 3]}, "payload": {"k": 1}}]}))
        bad = {**vectors, "audio": {"size": 4, "distance": "Dot"}}
        assert_error(rest.put(f"/collections/{target}", json={"vectors": bad, "init_from": {"collection": source}}), 400)
        more = {**vectors, "video": {"size": 5, "distance": "Dot"}}
        _ok(rest.put(f"/collections/{target}", json={"vectors": more, "init_from": {"collection": source}}))
        point = wait_until(lambda: rest.get(f"/collections/{target}/points/7").ok and rest.get(f"/collections/{target}/points/7"),
                           timeout=20, what="point 7 copied")
        assert point.json()["result"]["vector"] == {"image": [1.0, 2.0], "audio": [1.0, 2.0, 3.0]}
        assert point.json()["result"]["payload"] == {"k": 1}
    finally:
        rest.delete(f"/collections/{source}")
        rest.delete(f"/collections/{target}")


def test_write_lock(rest, basic, unique):
    url = f"/collections/{basic}/points?wait=true"
    point = {"points": [{"id": 10, "vector": [0.05, -0.61, -0.76, 0.74]}]}
    try:
        assert _ok(rest.post("/locks", json={"write": True, "error_message": "integration test"})) == {
            "write": False, "error_message": None}
        assert _ok(rest.get("/locks")) == {"write": True, "error_message": "integration test"}
        assert_error(rest.put(url, json=point), 403, "Storage locked: integration test")
        assert_error(rest.post(f"/collections/{basic}/points/payload?wait=true", json={"points": [1], "payload": {"a": 1}}),
                     403, "integration test")
        assert_error(rest.put(f"/collections/{unique('locked')}", json={"vectors": {"size": 2, "distance": "Dot"}}), 403)
        # Reads and deletions go on.
        _ok(rest.post(f"/collections/{basic}/points/delete?wait=true", json={"points": [5]}))
        assert _ok(rest.post(f"/collections/{basic}/points/count", json={}))["count"] == len(VECTORS) - 1
        _ok(rest.post("/locks", json={"write": True}))
        assert_error(rest.put(url, json=point), 403, "Storage locked: Write operations are forbidden")
    finally:
        _ok(rest.post("/locks", json={"write": False}))
    _ok(rest.put(url, json=point))


# ---------------------------------------------------------------------------- already matched


def test_values_count_of_a_missing_field_is_zero(rest, collection_name):
    _ok(rest.put(f"/collections/{collection_name}", json={"vectors": {"size": 2, "distance": "Cosine"}}))
    points = [{"id": 1, "vector": [0.1, 0.2], "payload": {"tags": ["a", "b", "c"]}},
              {"id": 2, "vector": [0.2, 0.3], "payload": {"tags": ["x"]}},
              {"id": 3, "vector": [0.3, 0.4], "payload": {"title": "no tags"}}]
    _ok(rest.put(f"/collections/{collection_name}/points?wait=true", json={"points": points}))

    def ids(count):
        body = {"filter": {"must": [{"key": "tags", "values_count": count}]}}
        return sorted(p["id"] for p in _ok(rest.post(f"/collections/{collection_name}/points/scroll", json=body))["points"])

    assert ids({"lt": 1}) == [3]
    assert ids({"gte": 0}) == [1, 2, 3]
    assert ids({"lte": 0}) == [3]


def test_match_any_and_except_of_an_empty_list(rest, basic):
    def ids(match):
        body = {"filter": {"must": [{"key": "city", "match": match}]}, "limit": 10}
        return sorted(p["id"] for p in _ok(rest.post(f"/collections/{basic}/points/scroll", json=body))["points"])

    for indexed in (False, True):
        assert ids({"any": []}) == [], f"indexed={indexed}"
        assert ids({"except": []}) == sorted(VECTORS), f"indexed={indexed}"
        _ok(rest.put(f"/collections/{basic}/index?wait=true", json={"field_name": "city", "field_schema": "keyword"}))


def test_context_query_scores_are_losses(rest, basic):
    context = [{"positive": 1, "negative": [0.0, 1.0, 0.0, 0.0]}]
    points = _ok(rest.post(f"/collections/{basic}/points/query", json={"query": {"context": context}, "limit": 10}))["points"]
    assert sorted(p["id"] for p in points) == [2, 3, 4, 5], "the example's own id is left out"
    assert all(p["score"] <= 0.0 for p in points)
