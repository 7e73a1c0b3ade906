"""Congruence with qdrant-client's local mode (the reference implementation) for filters and
point updates: each case runs the same calls on `QdrantClient(":memory:")` and on Quiver, over
REST and gRPC, and compares the answers.
"""

import pytest
from qdrant_client import QdrantClient, models

M = models


def _fill(clients, name, payloads):
    """Creates `name` on every client with one point per payload (ids 1..n)."""
    points = [M.PointStruct(id=i + 1, vector=[0.1, 0.2], payload=p) for i, p in enumerate(payloads)]
    for c in clients:
        c.create_collection(name, vectors_config=M.VectorParams(size=2, distance=M.Distance.DOT))
        c.upsert(name, points, wait=True)


def _ids(client, name, flt):
    records, _ = client.scroll(name, scroll_filter=flt, limit=100, with_payload=False)
    return [r.id for r in records]


# Each value at the key (one per array element for `arr[].x`) is counted on its own and one
# within the bounds suffices; the counts are not summed over the values.
VALUES_COUNT_PAYLOADS = [
    {"nested": [{"n": 1}, {"n": 2}, {"n": 3}]},
    {"nested": [{"n": [1]}, {"n": [1, 2]}, {"n": [1, 2, 3]}]},
    {"nested": [{"n": [None, None]}, {"n": [None, None]}, {"n": [None, None]}]},
    {"nested": [{"n": [234, 33, 22]}, {"n": [11, 22]}]},
    {"nested": [{"n": None}, {"n": None}]},
    {"nested": [{"n": []}, {"n": None}]},
    {"nested": []},
    {"other": 1},
]


@pytest.mark.parametrize(
    "bounds",
    [{"lte": 1}, {"lt": 3}, {"lt": 4}, {"gte": 2}, {"gt": 2}, {"lt": 1}, {"gte": 1}],
    ids=lambda b: "-".join(f"{k}{v}" for k, v in b.items()),
)
def test_values_count_counts_each_value_on_its_own(both, collection_name, bounds):
    local = QdrantClient(":memory:")
    _fill((local, both[0]), collection_name, VALUES_COUNT_PAYLOADS)
    flt = M.Filter(must=[M.FieldCondition(key="nested[].n", values_count=M.ValuesCount(**bounds))])
    expected = _ids(local, collection_name, flt)
    for client in both:
        assert _ids(client, collection_name, flt) == expected, bounds


@pytest.mark.parametrize("uuid_ids", [False, True], ids=["int_ids", "uuid_ids"])
def test_slices_match_local_mode(both, collection_name, uuid_ids):
    import uuid

    ids = [str(uuid.UUID(int=i * 7919 + 1)) if uuid_ids else i for i in range(60)]
    points = [M.PointStruct(id=i, vector=[0.1, 0.2], payload={"arr": [{"x": 1}]}) for i in ids]
    local = QdrantClient(":memory:")
    for c in (local, both[0]):
        c.create_collection(collection_name, vectors_config=M.VectorParams(size=2, distance=M.Distance.DOT))
        c.upsert(collection_name, points, wait=True)

    def slice_filter(total, index):
        return M.Filter(must=[M.SliceCondition(slice=M.Slice(total=total, index=index))])

    for total in (1, 3, 16):
        for index in range(total):
            expected = set(_ids(local, collection_name, slice_filter(total, index)))
            for client in both:
                assert set(_ids(client, collection_name, slice_filter(total, index))) == expected
    nested = M.Filter(must=[M.NestedCondition(nested=M.Nested(key="arr", filter=slice_filter(1, 0)))])
    for client in both:
        assert _ids(client, collection_name, nested) == _ids(local, collection_name, nested) == []


@pytest.mark.parametrize("total,index", [(0, 0), (4, 4), (2, 9)])
def test_invalid_slice_is_refused(both, collection_name, total, index):
    from qdrant_client.http.exceptions import UnexpectedResponse

    _fill((both[0],), collection_name, [{}])
    flt = M.Filter(must=[M.SliceCondition(slice=M.Slice(total=total, index=index))])
    with pytest.raises(UnexpectedResponse) as err:
        both[0].scroll(collection_name, scroll_filter=flt)
    assert err.value.status_code in (400, 422)  # refused as a bad request, never served
    with pytest.raises(Exception, match="slice"):
        both[1].scroll(collection_name, scroll_filter=flt)


def _limited_collection(rest, name, read=None, write=None):
    strict = {"enabled": True, "read_rate_limit": read, "write_rate_limit": write}
    body = {"vectors": {"size": 2, "distance": "Dot"}, "strict_mode_config": strict}
    rest.ok("PUT", f"/collections/{name}", json=body)


def _points(ids):
    return {"points": [{"id": i, "vector": [0.1, 0.2]} for i in ids]}


def test_write_rate_limit_costs_one_token_per_point(rest, collection_name):
    """Qdrant's write limit counts the points a write names; a write larger than the whole
    bucket can never pass and is refused without `Retry-After` (so clients do not wait)."""
    _limited_collection(rest, collection_name, write=3)
    path = f"/collections/{collection_name}/points?wait=true"
    too_large = rest.put(path, json=_points(range(4)))
    assert too_large.status_code == 429, too_large.text
    assert "Retry-After" not in too_large.headers
    assert "request larger than than rate limiter capacity" in too_large.json()["status"]["error"]
    assert rest.put(path, json=_points(range(3))).status_code == 200
    limited = rest.put(path, json=_points([7]))
    assert limited.status_code == 429
    assert 19 <= int(limited.headers["Retry-After"]) <= 20  # one token at 3 per minute


def test_read_batch_costs_its_size_taken_at_once(rest, collection_name):
    _limited_collection(rest, collection_name, read=2)
    batch = {"searches": [{"query": [0.1, 0.2], "limit": 1}] * 2}
    path = f"/collections/{collection_name}/points/query/batch"
    assert rest.post(path, json=batch).status_code == 200
    refused = rest.post(path, json=batch)
    assert refused.status_code == 429
    # the batch needs both tokens back: a minute at 2 per minute, not the 30 s of one token
    assert 59 <= int(refused.headers["Retry-After"]) <= 60
    too_large = rest.post(path, json={"searches": [{"query": [0.1, 0.2]}] * 3})
    assert too_large.status_code == 429 and "Retry-After" not in too_large.headers


def test_rate_limit_refusals_over_grpc(both, rest, collection_name):
    import grpc
    from qdrant_client.common.client_exceptions import ResourceExhaustedResponse

    _limited_collection(rest, collection_name, write=2)
    points = [M.PointStruct(id=i, vector=[0.1, 0.2]) for i in range(3)]
    with pytest.raises(grpc.RpcError, match="request larger than than rate limiter capacity") as err:
        both[1].upsert(collection_name, points)
    assert not isinstance(err.value, ResourceExhaustedResponse)
    both[1].upsert(collection_name, points[:2])
    with pytest.raises(ResourceExhaustedResponse) as limited:
        both[1].upsert(collection_name, points[:1])
    assert limited.value.retry_after_s == 30


def test_recreating_a_collection_right_after_deleting_it(rest, collection_name):
    """Deleting and at once creating the same name (what `initialize_fixture_collection` of the
    congruence tests does): the new collection's files must not be moved away by the delete."""
    body = {"vectors": {"size": 2, "distance": "Dot"}}
    for round_ in range(20):
        if round_:
            assert rest.delete(f"/collections/{collection_name}").status_code == 200
        created = rest.put(f"/collections/{collection_name}", json=body)
        assert created.status_code == 200, (round_, created.text)
        upserted = rest.put(f"/collections/{collection_name}/points?wait=true", json=_points(range(5)))
        assert upserted.status_code == 200, (round_, upserted.text)
        counted = rest.ok("POST", f"/collections/{collection_name}/points/count", json={})
        assert counted["count"] == 5, round_
