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
        ({"vectors": {"size": 4, "distance": "Dot"}, "foo": 1}, (400, 422)),
        ({"vectors": {"a": {"size": 4, "distance": "Dot"}}, "sparse_vectors": {"a": {}}}, (400,)),
    ],
    ids=["rf0", "size0", "shards0", "wcf0", "bad_distance", "size_str", "unknown_field", "name_clash"],
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
