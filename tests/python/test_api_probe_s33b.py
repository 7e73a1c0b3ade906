"""Differences from Qdrant found by replaying the behaviours Qdrant's own REST integration tests
(`tests/openapi`, files n–z) assert against a single Quiver node:

* a payload operation (set, overwrite, delete keys, clear) naming points by id of which some do
  not exist is applied to the points that exist and answered 404 for the first missing one;
* an `order_by` scroll lists a point once per value of a multi-valued key;
* a sparse vector of a point with lists of unequal lengths or a repeated index is a 422 naming
  its path as Qdrant's validator does;
* `POST …/points/query` names its validation paths inside `internal.`;
* `/telemetry` response series carry Qdrant's duration statistics;
* `file://` snapshot locations follow Qdrant's rules and messages, and a snapshot name that is a
  path is a 404;
* a `lookup_from` collection that does not exist is `Collection <name> not found`;
* a random sample of prefetched points widens the prefetches by the offset.

Plus behaviours those tests assert that already matched and had no test here."""

import hashlib
from datetime import datetime, timezone

import grpc
import pytest

from qhelpers import assert_error, assert_ok_envelope

POINTS = [
    {"id": 1, "vector": [0.05, 0.61, 0.76, 0.74], "payload": {"city": "Berlin", "price": 10.0}},
    {"id": 2, "vector": [0.19, 0.81, 0.75, 0.11], "payload": {"city": ["Berlin", "London"], "price": 11.0}},
    {"id": 3, "vector": [0.36, 0.55, 0.47, 0.94], "payload": {"city": ["Berlin", "Moscow"], "price": 9.5}},
    {"id": 4, "vector": [0.18, 0.01, 0.85, 0.80], "payload": {"city": ["London", "Moscow"], "price": 9}},
]


@pytest.fixture
def basic(rest, collection_name):
    rest.ok("PUT", f"/collections/{collection_name}", json={"vectors": {"size": 4, "distance": "Dot"}})
    rest.ok("PUT", f"/collections/{collection_name}/points?wait=true", json={"points": POINTS})
    return collection_name


def payload_of(rest, name, point_id):
    return rest.ok("GET", f"/collections/{name}/points/{point_id}")["payload"]


# ----------------------------------------------------------------------------- payload operations


@pytest.mark.parametrize(
    "method, path, body, changed",
    [
        ("POST", "payload", {"payload": {"tag": 1}}, lambda p: p.get("tag") == 1 and p["city"] == "Berlin"),
        ("PUT", "payload", {"payload": {"tag": 1}}, lambda p: p == {"tag": 1}),
        ("POST", "payload/delete", {"keys": ["city"]}, lambda p: p == {"price": 10.0}),
        ("POST", "payload/clear", {}, lambda p: p == {}),
    ],
)
def test_payload_operation_with_missing_ids_applies_to_the_existing_points(rest, basic, method, path, body, changed):
    url = f"/collections/{basic}/points/{path}?wait=true"
    r = rest.req(method, url, json={**body, "points": [1, 998, 999]})
    assert assert_error(r, 404) == "Not found: No point with id 998 found"
    assert changed(payload_of(rest, basic, 1)), payload_of(rest, basic, 1)
    assert payload_of(rest, basic, 2) == POINTS[1]["payload"], "a point not named is untouched"
    assert rest.get(f"/collections/{basic}/points/998").status_code == 404, "no point is created"


def test_payload_operation_naming_only_missing_ids_changes_nothing(rest, basic):
    r = rest.post(f"/collections/{basic}/points/payload?wait=true", json={"payload": {"a": 1}, "points": [999, 1000]})
    assert assert_error(r, 404) == "Not found: No point with id 999 found"
    assert [payload_of(rest, basic, i) for i in (1, 2, 3, 4)] == [p["payload"] for p in POINTS]


def test_payload_operation_with_missing_ids_over_grpc(both, rest, basic):
    _, grpc_client = both
    with pytest.raises(Exception) as refused:
        grpc_client.set_payload(basic, payload={"via": "grpc"}, points=[2, 777], wait=True)
    error = refused.value
    assert isinstance(error, grpc.RpcError) and error.code() == grpc.StatusCode.NOT_FOUND, error
    assert "No point with id 777 found" in error.details()
    assert payload_of(rest, basic, 2)["via"] == "grpc"


def vector_of(rest, name, point_id):
    return rest.ok("GET", f"/collections/{name}/points/{point_id}")["vector"]


def test_vector_operations_with_missing_ids_apply_to_the_existing_points(rest, basic):
    """As Qdrant's update_vectors / delete_vectors: the named points that exist are changed,
    then the first missing id is a 404; nothing is created for it."""
    r = rest.put(f"/collections/{basic}/points/vectors?wait=true",
                 json={"points": [{"id": 1, "vector": [1, 0, 0, 0]}, {"id": 997, "vector": [0, 1, 0, 0]},
                                  {"id": 2, "vector": [0, 0, 1, 0]}]})
    assert assert_error(r, 404) == "Not found: No point with id 997 found"
    assert [vector_of(rest, basic, i) for i in (1, 2)] == [[1, 0, 0, 0], [0, 0, 1, 0]]
    assert vector_of(rest, basic, 3) == POINTS[2]["vector"], "a point not named is untouched"
    assert rest.get(f"/collections/{basic}/points/997").status_code == 404, "no point is created"
    r = rest.post(f"/collections/{basic}/points/vectors/delete?wait=true", json={"points": [996, 3], "vector": [""]})
    assert assert_error(r, 404) == "Not found: No point with id 996 found"
    assert vector_of(rest, basic, 3) == {}, "point 3's vector is deleted"
    assert vector_of(rest, basic, 4) == POINTS[3]["vector"]


def test_payload_key_paths_as_qdrant_tests_write_them(rest, basic):
    url = f"/collections/{basic}/points/payload?wait=true"
    nested = {"sub": "x", "arr": [{"a1": {"k": "x"}}, {"a2": {"k": "x"}}], "sub2": {"sub3": "x"}}
    rest.ok("POST", url, json={"payload": {"k6": nested}, "points": [1]})
    rest.ok("POST", url, json={"payload": {"sub3": "y"}, "points": [1], "key": "k6.sub2"})
    rest.ok("POST", url, json={"payload": {"k": "y"}, "points": [1], "key": "k6.arr[0].a1"})
    rest.ok("POST", url, json={"payload": {"k": "z"}, "points": [1], "key": "k6.arr[].a2"})
    rest.ok("POST", url, json={"payload": {"key": "n"}, "points": [1], "key": "k6.new"})
    k6 = payload_of(rest, basic, 1)["k6"]
    assert k6["sub2"] == {"sub3": "y"} and k6["arr"][0]["a1"] == {"k": "y"} and k6["arr"][1]["a2"] == {"k": "z"}
    assert k6["new"] == {"key": "n"} and k6["sub"] == "x"
    # Setting at a key is idempotent; `key: null` sets at the top level.
    for _ in range(2):
        rest.ok("POST", url, json={"payload": {"key": "v"}, "points": [2], "key": "key"})
    rest.ok("POST", url, json={"payload": {"top": 1}, "points": [2], "key": None})
    assert payload_of(rest, basic, 2) == {**POINTS[1]["payload"], "key": {"key": "v"}, "top": 1}


# ----------------------------------------------------------------------------- order_by


def test_order_by_lists_a_point_once_per_value(rest, collection_name):
    base = f"/collections/{collection_name}"
    rest.ok("PUT", base, json={"vectors": {"size": 2, "distance": "Dot"}})
    points = [{"id": i, "vector": [1, 0], "payload": {"multi": [i, 10 - i, i]}} for i in range(1, 4)]
    rest.ok("PUT", f"{base}/points?wait=true", json={"points": points})
    rest.ok("PUT", f"{base}/index?wait=true", json={"field_name": "multi", "field_schema": "integer"})
    page = rest.ok("POST", f"{base}/points/scroll", json={"order_by": "multi", "limit": 100, "with_payload": False})
    assert [(p["id"], p["order_value"]) for p in page["points"]] == [
        (1, 1), (2, 2), (3, 3), (3, 7), (2, 8), (1, 9)
    ], "each distinct value once, repeated values once"
    assert page["next_page_offset"] is None
    desc = {"order_by": {"key": "multi", "direction": "desc", "start_from": 8}, "limit": 2}
    assert [p["id"] for p in rest.ok("POST", f"{base}/points/scroll", json=desc)["points"]] == [2, 3]
    r = rest.post(f"{base}/points/scroll", json={"order_by": "multi", "offset": 1})
    assert_error(r, 400, "Cannot use an `offset` when using `order_by`")


# ----------------------------------------------------------------------------- validation texts


def test_sparse_vector_shape_errors_name_the_point(rest, collection_name):
    base = f"/collections/{collection_name}"
    rest.ok("PUT", base, json={"sparse_vectors": {"text": {}}})
    ok_point = {"id": 1, "vector": {"text": {"indices": [0, 2], "values": [0.1, 0.2]}}}
    lengths = {"id": 2, "vector": {"text": {"indices": [100, 500], "values": [0.9, 0.8, 0.5]}}}
    r = rest.put(f"{base}/points?wait=true", json={"points": [ok_point, lengths]})
    assert assert_error(r, 422) == (
        "Validation error in JSON body: [points[1].vector.?.values: Validation error: "
        "must be the same length as indices [{}]]"
    )
    repeated = {"id": 1, "vector": {"text": {"indices": [100, 500, 500], "values": [0.9, 0.8, 0.5]}}}
    r = rest.put(f"{base}/points/vectors?wait=true", json={"points": [repeated]})
    assert "points[0].vector.?.indices: Validation error: must be unique [{}]" in assert_error(r, 422)
    assert rest.ok("POST", f"{base}/points/count", json={})["count"] == 0


def test_query_validation_paths_are_inside_internal(rest, basic):
    r = rest.post(f"/collections/{basic}/points/query", json={"query": {"recommend": {"positive": [1]}}, "limit": 0})
    assert assert_error(r, 422) == "Validation error in JSON body: [internal.limit: value 0 invalid, must be 1 or larger]"
    r = rest.post(f"/collections/{basic}/points/query", json={"score_threshold": 10})
    assert assert_error(r, 400) == (
        "Bad request: A query is needed to use the score_threshold. Can't have score_threshold without defining a query."
    )


# ----------------------------------------------------------------------------- telemetry


def test_telemetry_series_carry_duration_statistics(rest, basic):
    rest.put(f"/collections/{basic}/points?wait=true", json={"points": POINTS[:1]})
    plain = assert_ok_envelope(rest.get("/telemetry"))["requests"]["rest"]["responses"]
    ok_series = plain["PUT /collections/{name}/points"]["200"]
    assert ok_series["count"] >= 2
    for key in ("avg_duration_micros", "min_duration_micros", "max_duration_micros", "total_duration_micros"):
        assert ok_series[key] > 0, (key, ok_series)
    assert ok_series["min_duration_micros"] <= ok_series["avg_duration_micros"] <= ok_series["max_duration_micros"]
    assert "last_responded" not in ok_series, "only from details level 1"
    detailed = assert_ok_envelope(rest.get("/telemetry", params={"details_level": 1}))
    series = detailed["requests"]["rest"]["responses"]["PUT /collections/{name}/points"]["200"]
    last = datetime.fromisoformat(series["last_responded"].replace("Z", "+00:00"))
    assert abs((datetime.now(timezone.utc) - last).total_seconds()) < 600


# ----------------------------------------------------------------------------- snapshots


def test_file_snapshot_locations_as_qdrant_answers_them(rest, server):
    url = "/collections/somethingthatdoesnotexist/snapshots/recover"
    invalid = "Bad request: Invalid snapshot URI, file path must be absolute or on localhost"
    for location in ("file://whatever.snapshot", "file://./etc/passwd"):
        assert assert_error(rest.put(url, json={"location": location}), 400) == invalid
    missing = 'Bad request: Snapshot file "/whatever.snapshot" does not exist'
    for location in ("file:///whatever.snapshot", "file://localhost/whatever.snapshot"):
        assert assert_error(rest.put(url, json={"location": location}), 400) == missing
    refused = assert_error(rest.put(url, json={"location": "file:///etc/passwd"}), 400)
    assert refused.startswith("Bad request: Snapshot file path must be inside the snapshots directory")


def test_snapshot_names_that_are_paths_are_not_found(rest, basic):
    encoded = "..%2F..%2F..%2F..%2Fetc%2Fpasswd"
    for path in (f"/snapshots/{encoded}", f"/collections/{basic}/snapshots/{encoded}",
                 f"/collections/{basic}/shards/0/snapshots/{encoded}", "/snapshots/../../etc/passwd"):
        r = rest.get(path)
        assert r.status_code == 404 and b"root:" not in r.content, (path, r.status_code, r.text)


def test_collection_snapshot_round_trip_by_checksum(rest, basic):
    desc = rest.ok("POST", f"/collections/{basic}/snapshots?wait=true")
    listed = rest.ok("GET", f"/collections/{basic}/snapshots")
    assert [(s["name"], s["checksum"]) for s in listed] == [(desc["name"], desc["checksum"])]
    data = rest.get(f"/collections/{basic}/snapshots/{desc['name']}").content
    assert hashlib.sha256(data).hexdigest() == desc["checksum"]
    assert rest.ok("DELETE", f"/collections/{basic}/snapshots/{desc['name']}?wait=true") is True
    assert rest.ok("GET", f"/collections/{basic}/snapshots") == []


# ----------------------------------------------------------------------------- query


def test_lookup_from_a_missing_collection(rest, basic):
    body = {"query": {"recommend": {"positive": [1], "negative": [2]}}, "limit": 3,
            "lookup_from": {"collection": "non-existing-collection", "vector": "other"}}
    r = rest.post(f"/collections/{basic}/points/query", json=body)
    assert assert_error(r, 404) == "Not found: Collection non-existing-collection not found"
    legacy = {"positive": [[0.1, 0.2, 0.3, 0.4]], "limit": 3, "lookup_from": {"collection": "non-existing-collection"}}
    assert "non-existing-collection" in assert_error(rest.post(f"/collections/{basic}/points/recommend", json=legacy), 404)


def test_an_unresolvable_example_is_reported_before_a_refused_shape(rest, basic, unique):
    """Qdrant resolves the examples given by id at every level before it checks the shape (here
    a fusion with `using`, which it refuses on its own)."""
    other = unique("lookup")
    rest.ok("PUT", f"/collections/{other}", json={"vectors": {"other": {"size": 4, "distance": "Dot"}}})
    try:
        rest.ok("PUT", f"/collections/{other}/points?wait=true",
                json={"points": [{"id": 1, "vector": {"other": [1, 0, 0, 0]}}, {"id": 2, "vector": {"other": [0, 0, 0, 2]}}]})
        url = f"/collections/{basic}/points/query"

        def nested(negative, lookup_from):
            prefetch = {"query": {"recommend": {"positive": [1], "negative": negative}}, "lookup_from": lookup_from}
            return {"prefetch": [prefetch], "using": "image", "query": {"fusion": "rrf"}}

        cases = [
            (nested([2, 3], {"collection": other, "vector": "other"}), 404, "Not found: No point with id 3 found"),
            (nested([2], {"collection": "non-existing-collection", "vector": "other"}), 404,
             "Not found: Collection non-existing-collection not found"),
            (nested([2], {"collection": other, "vector": "nope"}), 400, "Wrong input: Not existing vector name error: nope"),
            (nested([2], {"collection": other, "vector": "other"}), 400,
             "Bad request: Fusion queries cannot be combined with the 'using' field."),
        ]
        for body, status, message in cases:
            assert assert_error(rest.post(url, json=body), status) == message
    finally:
        rest.delete(f"/collections/{other}")


def test_random_sample_offset_widens_the_prefetch(rest, basic):
    url = f"/collections/{basic}/points/query"
    first = rest.ok("POST", url, json={"prefetch": {"limit": 1}, "query": {"sample": "random"}})["points"]
    assert [p["id"] for p in first] == [1]
    seen = set()
    for _ in range(100):
        page = rest.ok("POST", url, json={"prefetch": {"limit": 1}, "query": {"sample": "random"}, "offset": 1})["points"]
        assert len(page) == 1, page
        seen.add(page[0]["id"])
        if seen == {1, 2}:
            break
    assert seen == {1, 2}, "the offset is drawn from the prefetch widened by it"


def test_update_modes(client, rest, basic):
    new = {"id": 999, "vector": [1, 1, 1, 1], "payload": {"new": True}}
    changed = {"id": 1, "vector": [9, 9, 9, 9], "payload": {"updated": True}}
    url = f"/collections/{basic}/points?wait=true"
    rest.ok("PUT", url, json={"points": [changed, new], "update_mode": "update_only"})
    assert payload_of(rest, basic, 1) == {"updated": True}
    assert rest.get(f"/collections/{basic}/points/999").status_code == 404
    rest.ok("PUT", url, json={"points": [{**changed, "payload": {"again": True}}, new], "update_mode": "insert_only"})
    assert payload_of(rest, basic, 1) == {"updated": True} and payload_of(rest, basic, 999) == {"new": True}
    assert client.count(basic, exact=True).count == 5


def test_payload_operation_with_missing_ids_is_the_same_on_every_replica(cluster_factory):
    """Through the primary and through the other peer (forwarded): the same 404, and both
    replicas apply the same change (the record holds only the points that exist)."""
    from cluster_harness import result, wait_until
    from replication_load import replica_states, shard_digest

    c = cluster_factory(2)
    peers = [c.peer(0), c.peer(1)]
    name = "partial_payload"
    body = {"vectors": {"size": 4, "distance": "Dot"}, "shard_number": 1, "replication_factor": 2}
    assert result(peers[0].put(f"/collections/{name}", json=body)) is True
    wait_until(lambda: list(replica_states(peers[0].url, name)[0].values()) == ["Active", "Active"], timeout=15)
    result(peers[0].put(f"/collections/{name}/points", json={"points": POINTS}, params={"wait": "true"}))
    for i, peer in enumerate(peers):
        r = peer.post(f"/collections/{name}/points/payload", json={"payload": {f"via{i}": True}, "points": [i + 1, 555]},
                      params={"wait": "true"})
        assert (r.status_code, r.json()["status"]["error"]) == (404, "Not found: No point with id 555 found")
    got = result(peers[1].post(f"/collections/{name}/points", json={"ids": [1, 2, 3], "with_payload": True}))
    assert [sorted(k for k in p["payload"] if k.startswith("via")) for p in got] == [["via0"], ["via1"], []]
    digests = [shard_digest(p.url, name, 0) for p in peers]
    assert digests[0]["digest"] == digests[1]["digest"] and digests[0]["points_count"] == 4, digests
