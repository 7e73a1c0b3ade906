"""Scroll pagination, order_by and count (spec §3.3)."""

import uuid

import pytest
from qdrant_client import models

from qhelpers import assert_error, assert_ok_envelope


def _fill(client, name, n, shard_number=1):
    client.create_collection(
        name,
        vectors_config=models.VectorParams(size=2, distance=models.Distance.DOT),
        shard_number=shard_number,
    )
    ids = list(range(n))
    client.upsert(
        name,
        points=models.Batch(
            ids=ids,
            vectors=[[float(i), 1.0] for i in ids],
            # score: a permutation so that payload order differs from id order
            payloads=[{"i": i, "score": (i * 37) % n, "even": i % 2 == 0, "f": ((i * 13) % n) / 10.0} for i in ids],
        ),
        wait=True,
    )
    return ids


@pytest.mark.parametrize("shards", [1, 3])
def test_scroll_pagination_visits_every_point_once(client, collection_name, shards):
    ids = _fill(client, collection_name, 250, shard_number=shards)
    seen = []
    offset = None
    pages = 0
    while True:
        pts, offset = client.scroll(collection_name, limit=37, offset=offset, with_payload=True)
        pages += 1
        assert len(pts) <= 37
        seen.extend(p.id for p in pts)
        # points in a page are ordered by id
        assert [p.id for p in pts] == sorted(p.id for p in pts)
        for p in pts:
            assert p.payload["i"] == p.id
        if offset is None:
            break
        assert len(pts) == 37, "a non-final page must be full"
        assert pages < 20, "pagination does not terminate"
    assert len(seen) == len(set(seen)), "duplicate points across pages"
    assert sorted(seen) == ids
    assert seen == sorted(seen), "scroll order is ascending by id across pages"
    assert pages == 7  # ceil(250 / 37)


def test_scroll_raw_defaults_and_next_page_offset(rest, client, collection_name):
    _fill(client, collection_name, 25)
    res = rest.ok("POST", f"/collections/{collection_name}/points/scroll", json={})
    assert len(res["points"]) == 10, "default limit is 10"
    assert [p["id"] for p in res["points"]] == list(range(10))
    assert res["next_page_offset"] == 10
    p0 = res["points"][0]
    assert p0["payload"]["i"] == 0, "with_payload defaults to true"
    assert p0.get("vector") is None, "with_vector defaults to false"
    res = rest.ok("POST", f"/collections/{collection_name}/points/scroll", json={"offset": 20, "limit": 10})
    assert [p["id"] for p in res["points"]] == list(range(20, 25))
    assert res["next_page_offset"] is None
    # offset is inclusive and need not be an existing id
    client.delete(collection_name, points_selector=models.PointIdsList(points=[5]), wait=True)
    res = rest.ok("POST", f"/collections/{collection_name}/points/scroll", json={"offset": 5, "limit": 2})
    assert [p["id"] for p in res["points"]] == [6, 7]


def test_scroll_with_filter_and_vectors(client, collection_name):
    _fill(client, collection_name, 60)
    flt = models.Filter(must=[models.FieldCondition(key="even", match=models.MatchValue(value=True))])
    got = []
    offset = None
    while True:
        pts, offset = client.scroll(collection_name, scroll_filter=flt, limit=7, offset=offset, with_vectors=True, with_payload=["i"])
        for p in pts:
            assert p.payload == {"i": p.id}
            assert p.vector == pytest.approx([float(p.id), 1.0])
        got.extend(p.id for p in pts)
        if offset is None:
            break
    assert got == list(range(0, 60, 2))


def test_scroll_uuid_ids_pagination(client, collection_name):
    client.create_collection(collection_name, vectors_config=models.VectorParams(size=2, distance=models.Distance.DOT))
    ids = [str(uuid.uuid4()) for _ in range(30)]
    client.upsert(collection_name, points=[models.PointStruct(id=u, vector=[1, 2]) for u in ids], wait=True)
    seen, offset = [], None
    while True:
        pts, offset = client.scroll(collection_name, limit=8, offset=offset)
        seen.extend(p.id for p in pts)
        if offset is None:
            break
    assert sorted(seen) == sorted(ids)
    assert len(seen) == 30


def _make_order_index(client, name, field, schema):
    client.create_payload_index(name, field_name=field, field_schema=schema, wait=True)


def test_payload_index_create_and_delete(client, rest, collection_name):
    _fill(client, collection_name, 10)
    res = client.create_payload_index(collection_name, field_name="score", field_schema=models.PayloadSchemaType.INTEGER, wait=True)
    assert res.status == models.UpdateStatus.COMPLETED
    client.create_payload_index(collection_name, field_name="even", field_schema=models.PayloadSchemaType.BOOL, wait=True)
    schema = rest.ok("GET", f"/collections/{collection_name}")["payload_schema"]
    assert schema["score"]["data_type"] == "integer", schema
    assert schema["even"]["data_type"] == "bool", schema
    # filters still give the same answers with the index in place
    flt = models.Filter(must=[models.FieldCondition(key="score", range=models.Range(lt=5))])
    assert client.count(collection_name, count_filter=flt).count == 5
    client.delete_payload_index(collection_name, "score", wait=True)
    schema = rest.ok("GET", f"/collections/{collection_name}")["payload_schema"]
    assert "score" not in schema and "even" in schema
    assert client.count(collection_name, count_filter=flt).count == 5


def test_scroll_order_by(client, collection_name):
    n = 50
    _fill(client, collection_name, n)
    _make_order_index(client, collection_name, "score", models.PayloadSchemaType.INTEGER)
    _make_order_index(client, collection_name, "f", models.PayloadSchemaType.FLOAT)

    pts, next_off = client.scroll(collection_name, limit=n, order_by="score")
    scores = [p.payload["score"] for p in pts]
    assert scores == sorted(scores) and len(pts) == n
    assert next_off is None, "order_by scroll does not paginate with next_page_offset"

    pts, _ = client.scroll(collection_name, limit=10, order_by=models.OrderBy(key="score", direction=models.Direction.DESC))
    scores = [p.payload["score"] for p in pts]
    assert scores == list(range(n - 1, n - 11, -1))
    for p in pts:
        assert p.order_value == p.payload["score"]

    pts, _ = client.scroll(
        collection_name,
        limit=5,
        order_by=models.OrderBy(key="f", direction=models.Direction.ASC, start_from=2.0),
    )
    fs = [p.payload["f"] for p in pts]
    assert fs == sorted(fs) and all(f >= 2.0 for f in fs) and fs[0] == pytest.approx(2.0)

    # order_by together with a filter
    pts, _ = client.scroll(
        collection_name,
        limit=100,
        order_by=models.OrderBy(key="score", direction="desc"),
        scroll_filter=models.Filter(must=[models.FieldCondition(key="even", match=models.MatchValue(value=True))]),
    )
    assert len(pts) == n // 2
    scores = [p.payload["score"] for p in pts]
    assert scores == sorted(scores, reverse=True)
    assert all(p.payload["even"] for p in pts)


def test_order_by_needs_a_range_index(server, rest, client, collection_name):
    """Qdrant refuses `order_by` (scroll and query, REST and gRPC) on a field without a
    range-capable index (integer with `range`, float, datetime) instead of answering a page."""
    import grpc
    from qdrant_client import QdrantClient

    _fill(client, collection_name, 10)
    rest.ok("POST", f"/collections/{collection_name}/points/payload?wait=true", json={"payload": {"s": "x"}, "points": list(range(10))})
    base = f"/collections/{collection_name}/points"

    def refused(key):
        text = f"Wrong input: No range index for `order_by` key: `{key}`. Please create one to use `order_by`."
        for path, body in (("/scroll", {"order_by": key}), ("/query", {"query": {"order_by": key}})):
            msg = assert_error(rest.post(base + path, json=body), 400)
            assert msg.startswith(text) and "indexing/#payload-index" in msg, msg

    refused("score")  # unindexed number
    refused("s")  # unindexed string
    _make_order_index(client, collection_name, "s", models.PayloadSchemaType.KEYWORD)
    refused("s")
    client.create_payload_index(collection_name, "score", field_schema=models.IntegerIndexParams(type="integer", lookup=True, range=False), wait=True)
    refused("score")
    g = QdrantClient(url=server.url, grpc_port=server.grpc_port, prefer_grpc=True, timeout=30)
    for call in (
        lambda: g.scroll(collection_name, order_by="score"),
        lambda: g.query_points(collection_name, query=models.OrderByQuery(order_by="s")),
    ):
        with pytest.raises(grpc.RpcError) as e:
            call()
        assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "No range index for `order_by` key" in e.value.details()

    # A range index makes the same requests work.
    client.delete_payload_index(collection_name, "score", wait=True)
    _make_order_index(client, collection_name, "score", models.PayloadSchemaType.INTEGER)
    pts, _ = client.scroll(collection_name, limit=3, order_by="score")
    assert [p.payload["score"] for p in pts] == [0, 1, 2]
    res = g.query_points(collection_name, query=models.OrderByQuery(order_by=models.OrderBy(key="score", direction="desc")), limit=2).points
    assert [p.order_value for p in res] == [9, 8]
    g.close()


def test_count_exact_with_and_without_filter(client, rest, collection_name):
    _fill(client, collection_name, 40, shard_number=3)
    assert client.count(collection_name, exact=True).count == 40
    flt = models.Filter(must=[models.FieldCondition(key="i", range=models.Range(gte=10, lt=25))])
    assert client.count(collection_name, count_filter=flt, exact=True).count == 15
    flt2 = models.Filter(must_not=[models.FieldCondition(key="even", match=models.MatchValue(value=True))])
    assert client.count(collection_name, count_filter=flt2).count == 20
    # raw; `exact` defaults to true
    assert rest.ok("POST", f"/collections/{collection_name}/points/count", json={}) == {"count": 40}
    r = rest.post(f"/collections/{collection_name}/points/count", json={"filter": {"must": [{"has_id": [1, 2, 3, 1000]}]}})
    assert assert_ok_envelope(r) == {"count": 3}
    # approximate count is accepted
    approx = client.count(collection_name, exact=False).count
    assert isinstance(approx, int) and approx >= 0


def test_scroll_limit_zero_is_422(rest, client, collection_name):
    _fill(client, collection_name, 3)
    assert_error(rest.post(f"/collections/{collection_name}/points/scroll", json={"limit": 0}), 422)
