"""Malformed and invalid requests: status codes and the error envelope (spec §0.1, §0.2, §3.1).

Every case runs against a collection that already holds data and checks afterwards that the
server is healthy and that data is intact.
"""

import pytest
import requests

from qhelpers import assert_error, assert_ok_envelope

POINTS = [{"id": i, "vector": [float(i), 1.0, 2.0, 3.0], "payload": {"i": i}} for i in range(1, 6)]


@pytest.fixture
def seeded(rest, collection_name):
    rest.ok("PUT", f"/collections/{collection_name}", json={"vectors": {"size": 4, "distance": "Dot"}})
    rest.ok("PUT", f"/collections/{collection_name}/points?wait=true", json={"points": POINTS})
    yield collection_name
    # server still healthy and data intact
    r = rest.get("/healthz")
    assert r.status_code == 200, "server unhealthy after bad request"
    res = rest.ok("POST", f"/collections/{collection_name}/points/scroll", json={"limit": 100, "with_vector": True})
    got = {p["id"]: (p["payload"], p["vector"]) for p in res["points"]}
    assert got == {p["id"]: (p["payload"], p["vector"]) for p in POINTS}, "data changed by a rejected request"


def up(c):
    return f"/collections/{c}/points?wait=true"


def test_malformed_json_400(rest, seeded):
    r = rest.raw("PUT", up(seeded), '{"points": [{"id": 1, "vector": [1,2,3,4]}')
    assert_error(r, 400)
    r = rest.raw("POST", f"/collections/{seeded}/points/scroll", "not json at all")
    assert_error(r, 400)


def test_empty_body_upsert_400(rest, seeded):
    r = rest.raw("PUT", up(seeded), "")
    assert_error(r, 400)


def test_wrong_json_types_400(rest, seeded):
    r = rest.post(f"/collections/{seeded}/points/scroll", json={"limit": "x"})
    assert_error(r, 400)
    r = rest.put(up(seeded), json={"points": [{"id": 9, "vector": "abc"}]})
    assert_error(r, 400)
    r = rest.put(up(seeded), json={"points": {"id": 9}})
    assert_error(r, 400)
    r = rest.post(f"/collections/{seeded}/points/search", json={"vector": [1, 2, 3, 4], "limit": -1})
    assert_error(r, 400)


@pytest.mark.parametrize(
    "bad_id",
    [1.5, -1, "not-a-uuid", "12345", 18446744073709551616, True, None, {"a": 1}],
    ids=["float", "negative", "string", "numeric_string", "u64_overflow", "bool", "null", "object"],
)
def test_invalid_point_ids_400(rest, seeded, bad_id):
    r = rest.put(up(seeded), json={"points": [{"id": bad_id, "vector": [1, 2, 3, 4]}]})
    assert_error(r, 400)
    r = rest.post(f"/collections/{seeded}/points", json={"ids": [bad_id]})
    assert_error(r, 400)


def test_invalid_point_id_in_path_400(rest, seeded):
    r = rest.get(f"/collections/{seeded}/points/not-a-uuid")
    assert_error(r, 400)
    r = rest.get(f"/collections/{seeded}/points/-3")
    assert_error(r, 400)


def test_bad_query_params_400(rest, seeded):
    r = rest.put(f"/collections/{seeded}/points?wait=maybe", json={"points": [{"id": 9, "vector": [1, 2, 3, 4]}]})
    assert_error(r, 400)
    r = rest.post(f"/collections/{seeded}/points/scroll?timeout=abc", json={})
    assert_error(r, 400)


def test_max_u64_id_is_valid(rest, collection_name):
    rest.ok("PUT", f"/collections/{collection_name}", json={"vectors": {"size": 2, "distance": "Dot"}})
    big = 18446744073709551615
    rest.ok("PUT", up(collection_name), json={"points": [{"id": big, "vector": [1, 2]}]})
    got = rest.ok("POST", f"/collections/{collection_name}/points", json={"ids": [big]})
    assert [p["id"] for p in got] == [big]


def test_wrong_vector_dimension_400(rest, seeded):
    r = rest.put(up(seeded), json={"points": [{"id": 9, "vector": [1.0, 2.0, 3.0]}]})
    assert_error(r, 400, "Vector dimension error: expected dim: 4, got 3")
    # batch form, one bad vector among good ones: nothing is written
    r = rest.put(up(seeded), json={"batch": {"ids": [10, 11], "vectors": [[1, 2, 3, 4], [1, 2, 3, 4, 5]]}})
    assert_error(r, 400, "expected dim: 4, got 5")
    r = rest.post(f"/collections/{seeded}/points/search", json={"vector": [1, 2], "limit": 3})
    assert_error(r, 400, "Vector dimension error: expected dim: 4, got 2")


def test_unknown_named_vector_400(rest, seeded):
    r = rest.put(up(seeded), json={"points": [{"id": 9, "vector": {"nope": [1, 2, 3, 4]}}]})
    assert_error(r, (400, 404))


def test_limit_zero_422(rest, seeded):
    r = rest.post(f"/collections/{seeded}/points/scroll", json={"limit": 0})
    assert_error(r, 422)
    r = rest.post(f"/collections/{seeded}/points/search", json={"vector": [1, 2, 3, 4], "limit": 0})
    assert_error(r, 422)


def test_unknown_collection_404(rest):
    name = "surely_missing_collection_x"
    for method, path, body in [
        ("GET", f"/collections/{name}", None),
        ("PUT", f"/collections/{name}/points?wait=true", {"points": [{"id": 1, "vector": [1, 2]}]}),
        ("POST", f"/collections/{name}/points/scroll", {}),
        ("POST", f"/collections/{name}/points/count", {}),
        ("POST", f"/collections/{name}/points/query", {"query": [1, 2]}),
        ("POST", f"/collections/{name}/points/search", {"vector": [1, 2], "limit": 1}),
        ("POST", f"/collections/{name}/points", {"ids": [1]}),
    ]:
        r = rest.req(method, path, json=body)
        assert_error(r, 404, f"Not found: Collection `{name}` doesn't exist!")


# ------------------------------------------------------------------ collection creation


@pytest.mark.parametrize(
    "body,statuses",
    [
        ({"vectors": {"size": 4, "distance": "Dot"}, "replication_factor": 0}, (422,)),
        ({"vectors": {"size": 0, "distance": "Dot"}}, (422,)),
        ({"vectors": {"size": 4, "distance": "Dot"}, "shard_number": 0}, (422,)),
        ({"vectors": {"size": 4, "distance": "Dot"}, "write_consistency_factor": 0}, (422,)),
        ({"vectors": {"size": 4, "distance": "Hamming"}}, (400,)),
        ({"vectors": {"size": "four", "distance": "Dot"}}, (400,)),
        ({"vectors": {"a": {"size": 4, "distance": "Dot"}}, "sparse_vectors": {"a": {}}}, (400,)),
    ],
    ids=["rf0", "size0", "shards0", "wcf0", "bad_distance", "size_str", "name_clash"],
)
def test_create_collection_invalid(rest, collection_name, body, statuses):
    r = rest.put(f"/collections/{collection_name}", json=body)
    assert_error(r, statuses)
    assert assert_ok_envelope(rest.get(f"/collections/{collection_name}/exists")) == {"exists": False}


@pytest.mark.parametrize("bad", ["bad*name", "bad:name", "bad?name", "bad|name", 'bad"name', "bad<n>"])
def test_invalid_collection_name_422(rest, bad):
    r = rest.put(f"/collections/{requests.utils.quote(bad, safe='')}", json={"vectors": {"size": 2, "distance": "Dot"}})
    assert_error(r, 422)
    names = {c["name"] for c in rest.ok("GET", "/collections")["collections"]}
    assert bad not in names


def test_too_long_collection_name_422(rest):
    r = rest.put("/collections/" + "x" * 256, json={"vectors": {"size": 2, "distance": "Dot"}})
    assert_error(r, 422)


def test_bad_requests_do_not_break_server(rest, seeded):
    """A burst of assorted garbage, then normal operation continues."""
    for _ in range(3):
        rest.raw("PUT", up(seeded), "{{{")
        rest.put(up(seeded), json={"points": [{"id": -5, "vector": [1, 2, 3, 4]}]})
        rest.put(up(seeded), json={"points": [{"id": 7, "vector": [1]}]})
        rest.post(f"/collections/{seeded}/points/scroll", json={"limit": 0})
    assert rest.get("/healthz").status_code == 200
    assert rest.ok("POST", f"/collections/{seeded}/points/count", json={})["count"] == len(POINTS)


# ------------------------------------------------------------------ unknown fields (design record 028)


def test_unknown_fields_are_ignored_where_qdrant_ignores_them(rest, collection_name):
    """Qdrant deserializes its create/update bodies, their vector, HNSW, optimizer and WAL
    parts, search `params` and filter conditions without `deny_unknown_fields`: an unknown
    field is ignored, and the known ones still apply."""
    base = f"/collections/{collection_name}"
    create = {
        "vectors": {"size": 2, "distance": "Dot", "zz_future": 1, "hnsw_config": {"m": 6, "zz": 1}},
        "hnsw_config": {"ef_construct": 40, "zz_future": 1},
        "optimizers_config": {"indexing_threshold": 500, "zz": 1},
        "wal_config": {"wal_capacity_mb": 3, "zz": 1},
        "zz_future": 1,
    }
    assert assert_ok_envelope(rest.put(base, json=create)) is True
    patch = {"optimizers_config": {"indexing_threshold": 700}, "params": {"zz": 1}, "zz_future": 1}
    assert assert_ok_envelope(rest.patch(base, json=patch)) is True
    config = rest.ok("GET", base)["config"]
    assert config["params"]["vectors"] == {"size": 2, "distance": "Dot", "hnsw_config": {"m": 6}}
    assert config["hnsw_config"]["ef_construct"] == 40 and config["wal_config"]["wal_capacity_mb"] == 3
    assert config["optimizer_config"]["indexing_threshold"] == 700
    points = [{"id": 1, "vector": [1.0, 0.0], "payload": {"k": "x"}}, {"id": 2, "vector": [0.0, 1.0], "payload": {"k": "y"}}]
    rest.ok("PUT", f"{base}/points?wait=true", json={"points": points})
    query = {"query": [1.0, 0.0], "params": {"hnsw_ef": 8, "zz_future": 1, "quantization": {"rescore": True, "zz": 1}},
             "filter": {"must": [{"key": "k", "match": {"value": "x"}, "zz_future": 1}]}}
    got = rest.ok("POST", f"{base}/points/query", json=query)["points"]
    assert [p["id"] for p in got] == [1]


def test_unknown_fields_of_filters_and_selectors_are_refused_as_in_qdrant(rest, seeded):
    """Qdrant's `Filter` denies unknown fields (an unknown key must not make a match-all
    filter); a condition with no condition left after ignoring its unknown keys is a 422."""
    r = rest.post(f"/collections/{seeded}/points/scroll", json={"filter": {"must": [], "zz_future": 1}})
    assert_error(r, 400, "Format error in JSON body: unknown field `zz_future`")
    r = rest.post(f"/collections/{seeded}/points/count", json={"filter": {"must": [{"zz_future": 1}]}})
    assert_error(r, 400, "Format error in JSON body")
    r = rest.post(f"/collections/{seeded}/points/count", json={"filter": {"must": [{"key": "i", "mtach": {"value": 1}}]}})
    assert_error(r, 422, "Validation error in JSON body")
    # Payload selectors refuse them too, as Qdrant's `{include}` / `{exclude}`.
    r = rest.post(f"/collections/{seeded}/points/scroll", json={"with_payload": {"include": ["i"], "zz": 1}})
    assert_error(r, 400, "Format error in JSON body")


# ------------------------------------------------------------------ validation of search params and quantization


@pytest.mark.parametrize("path,body", [
    ("search", {"vector": [1.0, 0.0, 0.0, 0.0], "limit": 2}),
    ("query", {"query": [1.0, 0.0, 0.0, 0.0]}),
    ("query", {"prefetch": {"query": [1.0, 0.0, 0.0, 0.0]}, "query": {"fusion": "rrf"}}),
    ("recommend", {"positive": [1], "limit": 2}),
    ("search/groups", {"vector": [1.0, 0.0, 0.0, 0.0], "group_by": "i", "limit": 2, "group_size": 1}),
], ids=["search", "query", "prefetch", "recommend", "search_groups"])
def test_search_params_out_of_range_are_422(rest, seeded, path, body):
    """Qdrant's validator: `oversampling` at least 1, `acorn.max_selectivity` from 0 to 1 —
    a 422 validation error, not a format error."""
    url = f"/collections/{seeded}/points/{path}"
    target = body["prefetch"] if "prefetch" in body else body
    target["params"] = {"quantization": {"oversampling": 0.5}}
    assert_error(rest.post(url, json=body), 422, "Validation error in JSON body: "
                 "[params.quantization.oversampling: value 0.5 invalid, must be 1.0 or larger]")
    target["params"] = {"acorn": {"enable": True, "max_selectivity": 1.5}}
    assert_error(rest.post(url, json=body), 422, "Validation error in JSON body: "
                 "[params.acorn.max_selectivity: value 1.5 invalid, must be from 0.0 to 1.0]")
    target["params"] = {"quantization": {"oversampling": "many"}}
    assert_error(rest.post(url, json=body), 400, "Format error in JSON body")
    target["params"] = {"quantization": {"oversampling": 1.0}, "acorn": {"enable": True, "max_selectivity": 1.0}}
    assert_ok_envelope(rest.post(url, json=body))


SCALAR_LOW_QUANTILE = {"scalar": {"type": "int8", "quantile": 0.25}}


@pytest.mark.parametrize("name,path", [
    (None, "quantization_config"),
    ("", "vectors.quantization_config"),
    ("img", "vectors.img.quantization_config"),
], ids=["collection", "unnamed_vector", "named_vector"])
def test_quantile_refusal_names_where_the_setting_is(rest, collection_name, name, path):
    """As the other range errors, the quantile's 422 gives the path of the setting: the
    collection's, the unnamed vector's or a named vector's (create and PATCH alike)."""
    expected = f"Validation error in JSON body: [{path}.scalar.quantile: value 0.25 invalid, must be from 0.5 to 1.0]"
    params = {"size": 2, "distance": "Dot"}
    vectors = params if name in (None, "") else {name: params}
    if name is None:
        create = {"vectors": vectors, "quantization_config": SCALAR_LOW_QUANTILE}
        patch = {"quantization_config": SCALAR_LOW_QUANTILE}
    elif name == "":
        create = {"vectors": {**params, "quantization_config": SCALAR_LOW_QUANTILE}}
        patch = {"vectors": {"": {"quantization_config": SCALAR_LOW_QUANTILE}}}
    else:
        create = {"vectors": {name: {**params, "quantization_config": SCALAR_LOW_QUANTILE}}}
        patch = {"vectors": {name: {"quantization_config": SCALAR_LOW_QUANTILE}}}
    assert_error(rest.put(f"/collections/{collection_name}", json=create), 422, expected)
    assert assert_ok_envelope(rest.get(f"/collections/{collection_name}/exists")) == {"exists": False}
    rest.ok("PUT", f"/collections/{collection_name}", json={"vectors": vectors})
    assert_error(rest.patch(f"/collections/{collection_name}", json=patch), 422, expected)
    assert rest.ok("GET", f"/collections/{collection_name}")["config"]["quantization_config"] is None
