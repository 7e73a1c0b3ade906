"""Strict mode (`strict_mode_config` with `enabled: true`) on create and PATCH, over REST and
gRPC: limits enforced with Qdrant's texts (400 `Bad request: …`), read and write rate limits
(429 with Retry-After / ResourceExhausted), and unknown settings refused by name. The other
limits have their own tests in `test_strict_limits.py`."""

import grpc
import pytest
from qdrant_client import QdrantClient, models
from qdrant_client.common.client_exceptions import ResourceExhaustedResponse

from qhelpers import assert_error, assert_ok_envelope


def make_client(server, use_grpc: bool) -> QdrantClient:
    return QdrantClient(url=server.url, grpc_port=server.grpc_port, prefer_grpc=use_grpc, timeout=30)


def _create(rest, name, strict):
    """Created with the limits but disabled, filled, then enabled by PATCH (which merges)."""
    assert_ok_envelope(rest.put(f"/collections/{name}", json={
        "vectors": {"size": 2, "distance": "Dot"}, "strict_mode_config": {**strict, "enabled": False}}))
    points = [{"id": i, "vector": [1.0, float(i)], "payload": {"k": f"v{i % 2}", "n": i}} for i in range(6)]
    assert_ok_envelope(rest.put(f"/collections/{name}/points?wait=true", json={"points": points}))
    assert_ok_envelope(rest.patch(f"/collections/{name}", json={"strict_mode_config": {"enabled": strict.get("enabled", False)}}))


def test_query_limits_and_unindexed_filters(rest, collection_name):
    _create(rest, collection_name, {"enabled": True, "max_query_limit": 3, "unindexed_filtering_retrieve": False,
                                    "search_allow_exact": False, "search_max_hnsw_ef": 16})
    base = f"/collections/{collection_name}"
    r = rest.post(f"{base}/points/query", json={"query": [1, 0], "limit": 5})
    assert assert_error(r, 400) == 'Bad request: Limit exceeded 5 > 3 for "limit". Help: Reduce the "limit" parameter to or below 3.'
    assert len(assert_ok_envelope(rest.post(f"{base}/points/query", json={"query": [1, 0], "limit": 3}))["points"]) == 3
    # A prefetch's limit and filter are checked too (nested ones included), and a query by example.
    deep = {"prefetch": {"prefetch": {"query": [1, 0], "limit": 4}, "query": [1, 0], "limit": 3}, "query": [1, 0], "limit": 2}
    assert_error(rest.post(f"{base}/points/query", json=deep), 400, 'Limit exceeded 4 > 3 for "limit"')
    unindexed = {"prefetch": {"query": [1, 0], "limit": 3, "filter": {"must": [{"key": "n", "match": {"value": 1}}]}}, "query": {"fusion": "rrf"}, "limit": 2}
    assert_error(rest.post(f"{base}/points/query", json=unindexed), 400, 'Index required but not found for "n"')
    recommend = {"query": {"recommend": {"positive": [1]}}, "limit": 4}
    assert_error(rest.post(f"{base}/points/query", json=recommend), 400, 'Limit exceeded 4 > 3 for "limit"')
    assert_error(rest.post(f"{base}/points/scroll", json={"limit": 4}), 400, 'Limit exceeded 4 > 3 for "limit"')
    flt = {"must": [{"key": "k", "match": {"value": "v1"}}]}
    r = rest.post(f"{base}/points/count", json={"filter": flt})
    assert_error(r, 400, 'Index required but not found for "k"')
    assert_ok_envelope(rest.put(f"{base}/index?wait=true", json={"field_name": "k", "field_schema": "keyword"}))
    assert assert_ok_envelope(rest.post(f"{base}/points/count", json={"filter": flt}))["count"] == 3
    r = rest.post(f"{base}/points/search", json={"vector": [1, 0], "limit": 2, "params": {"exact": True}})
    assert_error(r, 400, "Exact search disabled!")
    r = rest.post(f"{base}/points/search", json={"vector": [1, 0], "limit": 2, "params": {"hnsw_ef": 64}})
    assert_error(r, 400, 'Limit exceeded 64 > 16 for "hnsw_ef"')
    # Oversampling of quantized search: over the limit refused, at the limit answered.
    assert_ok_envelope(rest.patch(base, json={"strict_mode_config": {"search_max_oversampling": 2.0}}))
    over = {"vector": [1, 0], "limit": 2, "params": {"quantization": {"oversampling": 3.0}}}
    assert_error(rest.post(f"{base}/points/search", json=over), 400, 'Limit exceeded 3 > 2 for "oversampling"')
    query = {"query": [1, 0], "limit": 2, "params": {"quantization": {"oversampling": 3.0}}}
    assert_error(rest.post(f"{base}/points/query", json=query), 400, 'Limit exceeded 3 > 2 for "oversampling"')
    at = {"vector": [1, 0], "limit": 2, "params": {"quantization": {"oversampling": 2.0}}}
    assert len(assert_ok_envelope(rest.post(f"{base}/points/search", json=at))) == 2
    # PATCH merges: the limit is raised, the other settings stay.
    assert_ok_envelope(rest.patch(base, json={"strict_mode_config": {"max_query_limit": 10}}))
    cfg = assert_ok_envelope(rest.get(base))["config"]["strict_mode_config"]
    assert cfg["max_query_limit"] == 10 and cfg["search_allow_exact"] is False and cfg["enabled"] is True
    assert len(assert_ok_envelope(rest.post(f"{base}/points/query", json={"query": [1, 0], "limit": 5}))["points"]) == 5
    # Disabled: nothing is checked.
    assert_ok_envelope(rest.patch(base, json={"strict_mode_config": {"enabled": False}}))
    assert assert_ok_envelope(rest.post(f"{base}/points/count", json={"filter": {"must": [{"key": "n", "range": {"gte": 2}}]}}))["count"] == 4


def test_write_limits(rest, collection_name):
    _create(rest, collection_name, {"enabled": True, "upsert_max_batchsize": 2, "max_points_count": 7,
                                    "unindexed_filtering_update": False, "max_payload_index_count": 1})
    base = f"/collections/{collection_name}"
    pts = [{"id": 10 + i, "vector": [1.0, 0.0]} for i in range(3)]
    assert_error(rest.put(f"{base}/points?wait=true", json={"points": pts}), 400, 'Limit exceeded 3 > 2 for "upsert limit"')
    assert_ok_envelope(rest.put(f"{base}/points?wait=true", json={"points": pts[:1]}))
    assert_error(rest.put(f"{base}/points?wait=true", json={"points": pts[1:]}), 400, "Max points count limit of 7 reached")
    assert_ok_envelope(rest.put(f"{base}/points?wait=true", json={"points": [{"id": 0, "vector": [0.0, 1.0]}]}))  # overwrite: fine
    r = rest.post(f"{base}/points/delete?wait=true", json={"filter": {"must": [{"key": "n", "match": {"value": 1}}]}})
    assert_error(r, 400, 'Index required but not found for "n"')
    assert assert_ok_envelope(rest.post(f"{base}/points/count", json={}))["count"] == 7
    assert_ok_envelope(rest.put(f"{base}/index?wait=true", json={"field_name": "n", "field_schema": "integer"}))
    r = rest.put(f"{base}/index?wait=true", json={"field_name": "k", "field_schema": "keyword"})
    assert_error(r, 400, 'for "max_payload_index_count"')


@pytest.mark.parametrize("use_grpc", [False, True])
def test_rate_limits(server, rest, collection_name, use_grpc):
    _create(rest, collection_name, {"enabled": True, "read_rate_limit": 3, "write_rate_limit": 2})
    c = make_client(server, use_grpc)
    for _ in range(3):
        c.count(collection_name)
    if use_grpc:
        # RESOURCE_EXHAUSTED with `retry-after` metadata, which qdrant-client turns into this.
        with pytest.raises(ResourceExhaustedResponse) as e:
            c.count(collection_name)
        assert e.value.retry_after_s >= 1
        assert "Rate limiting exceeded: Read rate limit exceeded" in e.value.message
    else:
        r = rest.post(f"/collections/{collection_name}/points/count", json={})
        assert_error(r, 429, "Rate limiting exceeded: Read rate limit exceeded")
        assert int(r.headers["Retry-After"]) >= 1
    c.upsert(collection_name, points=[models.PointStruct(id=100, vector=[1, 1])], wait=True)
    c.upsert(collection_name, points=[models.PointStruct(id=101, vector=[1, 1])], wait=True)
    with pytest.raises(Exception):
        c.upsert(collection_name, points=[models.PointStruct(id=102, vector=[1, 1])], wait=True)
    assert_ok_envelope(rest.patch(f"/collections/{collection_name}", json={"strict_mode_config": {"enabled": False}}))
    assert c.count(collection_name).count == 8  # the refused write changed nothing


def test_rate_limits_start_over_for_a_new_collection_and_a_changed_config(rest, collection_name):
    """Qdrant builds a collection's limiters anew with the collection and at each strict mode
    update: a collection created again under the same name, a changed limit, or strict mode
    turned off and on again start with a full bucket."""
    base = f"/collections/{collection_name}"

    def create(limit):
        assert_ok_envelope(rest.put(base, json={"vectors": {"size": 2, "distance": "Dot"},
                                                "strict_mode_config": {"enabled": True, "read_rate_limit": limit}}))

    def read():
        return rest.post(f"{base}/points/query", json={"query": [1, 1]}).status_code

    def patch(strict):
        assert_ok_envelope(rest.patch(base, json={"strict_mode_config": strict}))

    create(1)
    assert [read(), read()] == [200, 429]
    assert_ok_envelope(rest.delete(base))
    create(1)
    assert [read(), read()] == [200, 429], "the new collection's bucket starts full"
    patch({"enabled": True, "read_rate_limit": 2})
    assert [read(), read(), read()] == [200, 200, 429], "a changed limit starts full"
    patch({"enabled": False})
    patch({"enabled": True})
    assert [read(), read(), read()] == [200, 200, 429], "turned off and on again: full"


@pytest.mark.parametrize("strict,status,needle", [
    ({"enabled": True, "max_qery_limit": 3}, 400, "unknown field `max_qery_limit`"),
    ({"enabled": True, "search_max_oversampling": "big"}, 400, "Invalid strict_mode_config"),
    ({"enabled": True, "sparse_config": {"s": {"max_lenght": 3}}}, 400, "unknown field `max_lenght`"),
    ({"enabled": True, "max_resident_memory_percent": 0}, 422,
     "strict_mode_config.max_resident_memory_percent: value 0 invalid, must be from 1 to 100"),
    ({"enabled": "yes"}, 400, "Invalid strict_mode_config"),
])
def test_bad_strict_mode_config_refused(rest, collection_name, strict, status, needle):
    r = rest.put(f"/collections/{collection_name}", json={"vectors": {"size": 2, "distance": "Dot"}, "strict_mode_config": strict})
    assert_error(r, status, needle)
    assert rest.get(f"/collections/{collection_name}").status_code == 404
    _create(rest, collection_name, {"enabled": True, "max_query_limit": 3})
    assert_error(rest.patch(f"/collections/{collection_name}", json={"strict_mode_config": strict}), status, needle)
    cfg = assert_ok_envelope(rest.get(f"/collections/{collection_name}"))["config"]["strict_mode_config"]
    assert cfg == {"enabled": True, "max_query_limit": 3}


@pytest.mark.parametrize("limit", [0.5, 0, -1.5])
def test_oversampling_limit_below_one_kept(rest, collection_name, limit):
    """Qdrant's model sets no range on `search_max_oversampling`: a limit below 1 is stored and
    enforced like any other."""
    _create(rest, collection_name, {"enabled": True, "search_max_oversampling": limit})
    base = f"/collections/{collection_name}"
    cfg = assert_ok_envelope(rest.get(base))["config"]["strict_mode_config"]
    assert cfg["search_max_oversampling"] == limit
    over = {"vector": [1, 0], "limit": 2, "params": {"quantization": {"oversampling": 1.0}}}
    assert_error(rest.post(f"{base}/points/search", json=over), 400, 'for "oversampling"')
    assert_ok_envelope(rest.patch(base, json={"strict_mode_config": {"search_max_oversampling": 0.25}}))
    assert assert_ok_envelope(rest.get(base))["config"]["strict_mode_config"]["search_max_oversampling"] == 0.25


def test_strict_mode_over_grpc(server, collection_name):
    g = make_client(server, True)
    g.create_collection(collection_name, vectors_config=models.VectorParams(size=2, distance=models.Distance.DOT),
                        strict_mode_config=models.StrictModeConfig(enabled=True, max_query_limit=2))
    g.upsert(collection_name, points=[models.PointStruct(id=i, vector=[1, i]) for i in range(4)], wait=True)
    assert g.get_collection(collection_name).config.strict_mode_config.max_query_limit == 2
    with pytest.raises(Exception) as e:
        g.query_points(collection_name, query=[1, 0], limit=3)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert 'Limit exceeded 3 > 2 for "limit"' in e.value.details()
    g.update_collection(collection_name, strict_mode_config=models.StrictModeConfig(max_query_limit=5))
    assert len(g.query_points(collection_name, query=[1, 0], limit=3).points) == 3


def test_oversampling_limit_over_grpc(server, collection_name):
    g = make_client(server, True)
    g.create_collection(collection_name, vectors_config=models.VectorParams(size=2, distance=models.Distance.DOT),
                        strict_mode_config=models.StrictModeConfig(enabled=True, search_max_oversampling=1.5))
    assert g.get_collection(collection_name).config.strict_mode_config.search_max_oversampling == 1.5
    g.upsert(collection_name, points=[models.PointStruct(id=i, vector=[1, i]) for i in range(4)], wait=True)
    params = models.SearchParams(quantization=models.QuantizationSearchParams(oversampling=2.0))
    with pytest.raises(Exception) as e:
        g.query_points(collection_name, query=[1, 0], limit=2, search_params=params)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert 'Limit exceeded 2 > 1.5 for "oversampling"' in e.value.details()
    params = models.SearchParams(quantization=models.QuantizationSearchParams(oversampling=1.5))
    assert len(g.query_points(collection_name, query=[1, 0], limit=2, search_params=params).points) == 2
