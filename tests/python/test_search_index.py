"""HNSW indexing, payload indexes and grouped queries through qdrant-client (issue 6)."""

import time

import numpy as np
import pytest
import requests
from qdrant_client import QdrantClient, models


def _indexed_collection(client, name, n=800, dim=16):
    rng = np.random.default_rng(61)
    vecs = rng.normal(size=(n, dim)).astype(np.float32)
    client.create_collection(
        name,
        vectors_config=models.VectorParams(size=dim, distance=models.Distance.COSINE),
        hnsw_config=models.HnswConfigDiff(m=8, ef_construct=32, full_scan_threshold=10),
        optimizers_config=models.OptimizersConfigDiff(indexing_threshold=1),
    )
    client.create_payload_index(name, "color", field_schema=models.PayloadSchemaType.KEYWORD, wait=True)
    colors = ["red", "green", "blue", "white"]
    client.upsert(
        name,
        points=[models.PointStruct(id=i, vector=vecs[i].tolist(), payload={"color": colors[i % 4], "n": i}) for i in range(n)],
        wait=True,
    )
    deadline = time.time() + 60
    while True:
        info = client.get_collection(name)
        if info.indexed_vectors_count == n and info.status == models.CollectionStatus.GREEN:
            return vecs, info
        assert time.time() < deadline, f"not indexed: {info}"
        time.sleep(0.05)


def test_hnsw_search_and_payload_schema(client, collection_name):
    vecs, info = _indexed_collection(client, collection_name)
    assert info.payload_schema["color"].data_type == models.PayloadSchemaType.KEYWORD
    assert info.payload_schema["color"].points == len(vecs)
    q = np.random.default_rng(5).normal(size=16).tolist()
    exact = client.query_points(collection_name, query=q, limit=10, search_params=models.SearchParams(exact=True)).points
    approx = client.query_points(collection_name, query=q, limit=10, search_params=models.SearchParams(hnsw_ef=128)).points
    assert len({p.id for p in exact} & {p.id for p in approx}) >= 9
    flt = models.Filter(must=[models.FieldCondition(key="color", match=models.MatchValue(value="blue"))])
    res = client.query_points(collection_name, query=q, limit=10, query_filter=flt, with_payload=True).points
    assert len(res) == 10 and all(p.payload["color"] == "blue" for p in res)


def test_query_points_groups(client, collection_name):
    vecs, _ = _indexed_collection(client, collection_name, n=300)
    q = vecs[0].tolist()
    res = client.query_points_groups(collection_name, query=q, group_by="color", group_size=3, limit=4, with_payload=True)
    assert len(res.groups) == 4
    for g in res.groups:
        assert len(g.hits) == 3
        assert all(h.payload["color"] == g.id for h in g.hits)
    assert res.groups[0].id == "red"  # point 0 itself is the best hit


def test_groups_with_lookup(client, collection_name, server):
    """`with_lookup` joins each group with the point of another collection whose id is the key."""
    rng = np.random.default_rng(17)
    vecs = rng.normal(size=(120, 8)).astype(np.float32)
    client.create_collection(collection_name, vectors_config=models.VectorParams(size=8, distance=models.Distance.DOT))
    client.upsert(
        collection_name,
        points=[models.PointStruct(id=i, vector=vecs[i].tolist(), payload={"doc": i % 5}) for i in range(120)],
        wait=True,
    )
    docs = f"{collection_name}_docs"
    client.create_collection(docs, vectors_config=models.VectorParams(size=2, distance=models.Distance.EUCLID))
    try:
        # Documents 0..3 exist; no point has id 4.
        client.upsert(
            docs,
            points=[models.PointStruct(id=d, vector=[1.0, float(d)], payload={"title": f"doc {d}"}) for d in range(4)],
            wait=True,
        )
        q = vecs[7].tolist()
        full = models.WithLookup(collection=docs, with_payload=True, with_vectors=True)
        res = client.query_points_groups(collection_name, query=q, group_by="doc", group_size=2, limit=5, with_lookup=full)
        assert sorted(g.id for g in res.groups) == [0, 1, 2, 3, 4]
        for g in res.groups:
            if g.id == 4:
                assert g.lookup is None
                continue
            assert g.lookup.id == g.id
            assert g.lookup.payload == {"title": f"doc {g.id}"}
            assert g.lookup.vector == [1.0, float(g.id)]
        # The bare collection name: payload, no vectors (REST, as the legacy search groups body).
        body = {"vector": q, "group_by": "doc", "group_size": 1, "limit": 5, "with_lookup": docs}
        r = requests.post(f"{server.url}/collections/{collection_name}/points/search/groups", json=body, timeout=10)
        assert r.status_code == 200, r.text
        groups = r.json()["result"]["groups"]
        assert len(groups) == 5
        for g in groups:
            if g["id"] == 4:
                assert "lookup" not in g
            else:
                assert g["lookup"]["payload"] == {"title": f"doc {g['id']}"} and g["lookup"]["vector"] is None
        # A lookup collection that does not exist is the client's mistake.
        body["with_lookup"] = {"collection": f"{docs}_missing"}
        r = requests.post(f"{server.url}/collections/{collection_name}/points/search/groups", json=body, timeout=10)
        assert r.status_code == 404, r.text
    finally:
        requests.delete(f"{server.url}/collections/{docs}", timeout=10)


def test_legacy_recommend_endpoints(client, collection_name, server):
    """`…/points/recommend`, `…/recommend/batch` and `…/recommend/groups` run the universal
    query's recommend: the same points as `query` with a `recommend` input."""
    vecs, _ = _indexed_collection(client, collection_name, n=200)
    url = f"{server.url}/collections/{collection_name}/points"
    rec = {"positive": [3, 10], "negative": [7], "limit": 6, "with_payload": True}
    expected = client.query_points(
        collection_name, query=models.RecommendQuery(recommend=models.RecommendInput(positive=[3, 10], negative=[7])), limit=6
    ).points
    r = requests.post(f"{url}/recommend", json=rec, timeout=10)
    assert r.status_code == 200, r.text
    got = r.json()["result"]
    assert [p["id"] for p in got] == [p.id for p in expected]
    assert all("color" in p["payload"] for p in got)
    best = dict(rec, strategy="best_score", positive=[vecs[5].tolist()], negative=[])
    r = requests.post(f"{url}/recommend/batch", json={"searches": [rec, best]}, timeout=10)
    assert r.status_code == 200, r.text
    batch = r.json()["result"]
    assert [p["id"] for p in batch[0]] == [p.id for p in expected]
    assert batch[1][0]["id"] == 5
    groups = dict(rec, group_by="color", group_size=2, limit=3)
    r = requests.post(f"{url}/recommend/groups", json=groups, timeout=10)
    assert r.status_code == 200, r.text
    result = r.json()["result"]["groups"]
    assert len(result) == 3 and all(len(g["hits"]) == 2 for g in result)
    assert all(h["payload"]["color"] == g["id"] for g in result for h in g["hits"])
    # Bad input: no examples, an unknown strategy, a missing limit.
    for bad in ({"limit": 3}, dict(rec, strategy="nope"), {"positive": [1]}):
        r = requests.post(f"{url}/recommend", json=bad, timeout=10)
        assert r.status_code in (400, 422), (bad, r.text)


def test_huge_limits_and_beams_are_bounded_by_the_data(client, collection_name, server):
    """`limit`, `hnsw_ef`, `group_size` near 2^50 from a client: answered, not a crash."""
    vecs, _ = _indexed_collection(client, collection_name, n=300)
    url = f"{server.url}/collections/{collection_name}/points"
    huge = 2**50
    q = vecs[1].tolist()
    bodies = [
        ("query", {"query": q, "limit": huge, "params": {"hnsw_ef": huge}}),
        ("query", {"query": q, "limit": huge, "params": {"exact": True}}),
        ("search", {"vector": q, "limit": huge, "params": {"hnsw_ef": huge}}),
        ("recommend", {"positive": [1], "limit": huge}),
        ("recommend", {"positive": [1], "limit": huge, "strategy": "best_score"}),
        ("query", {"query": q, "limit": huge, "offset": huge}),
        ("scroll", {"limit": huge}),
    ]
    for path, body in bodies:
        r = requests.post(f"{url}/{path}", json=body, timeout=30)
        assert r.status_code == 200, (path, r.text)
        result = r.json()["result"]
        points = result["points"] if isinstance(result, dict) else result
        # Exact reads return every point; a graph search may miss an unreachable few.
        exact = path == "scroll" or body.get("params", {}).get("exact")
        wanted = 0 if "offset" in body else (300 if exact else 270)
        assert len(points) >= wanted, (path, body, len(points))
    r = requests.post(
        f"{url}/query/groups", json={"query": q, "group_by": "color", "limit": huge, "group_size": huge}, timeout=30
    )
    assert r.status_code == 200, r.text
    assert sorted(g["id"] for g in r.json()["result"]["groups"]) == ["blue", "green", "red", "white"]


@pytest.mark.parametrize("use_grpc", [False, True])
def test_tenant_index_searches(server, collection_name, use_grpc):
    """`is_tenant` keyword index with `m: 0` and `payload_m` (Qdrant's recipe for payload-based
    multitenancy), over REST and gRPC: no graph of the whole collection, a graph per big tenant
    (design record 021). Searches filtered to one tenant keep to it and agree with exact search,
    also for points written, moved between tenants or deleted after the graphs were built."""
    client = QdrantClient(url=server.url, grpc_port=server.grpc_port, prefer_grpc=use_grpc, timeout=30)
    n, dim = 3000, 16
    rng = np.random.default_rng(71)
    vecs = rng.normal(size=(n, dim)).astype(np.float32)
    client.create_collection(
        collection_name,
        vectors_config=models.VectorParams(size=dim, distance=models.Distance.COSINE),
        hnsw_config=models.HnswConfigDiff(m=0, payload_m=16, ef_construct=64, full_scan_threshold=10),
        optimizers_config=models.OptimizersConfigDiff(indexing_threshold=1),
    )
    schema = models.KeywordIndexParams(type=models.KeywordIndexType.KEYWORD, is_tenant=True)
    client.create_payload_index(collection_name, "tenant", field_schema=schema, wait=True)
    tenant = lambda i: "a" if i % 3 else "b"  # noqa: E731
    points = [models.PointStruct(id=i, vector=vecs[i].tolist(), payload={"tenant": tenant(i)}) for i in range(n)]
    for start in range(0, n, 1000):
        client.upsert(collection_name, points=points[start:start + 1000], wait=True)
    info = client.get_collection(collection_name)
    assert info.payload_schema["tenant"].params.is_tenant is True
    assert info.status == models.CollectionStatus.GREEN, "m: 0 leaves nothing to index"

    def tenant_filter(value):
        return models.Filter(must=[models.FieldCondition(key="tenant", match=models.MatchValue(value=value))])

    def agreement(value, queries):
        hits = 0
        for q in queries:
            approx = client.query_points(collection_name, query=q, limit=10, query_filter=tenant_filter(value), with_payload=True).points
            exact = client.query_points(collection_name, query=q, limit=10, query_filter=tenant_filter(value),
                                        search_params=models.SearchParams(exact=True)).points
            assert all(p.payload["tenant"] == value for p in approx)
            hits += len({p.id for p in approx} & {p.id for p in exact})
        return hits / (10 * len(queries))

    queries = rng.normal(size=(30, dim)).tolist()
    assert agreement("b", queries) >= 0.9
    # Moved, written and deleted after the load: answered correctly at once.
    client.set_payload(collection_name, payload={"tenant": "b"}, points=[1, 2], wait=True)
    client.upsert(collection_name, points=[models.PointStruct(id=n, vector=vecs[4].tolist(), payload={"tenant": "b"})], wait=True)
    client.delete(collection_name, points_selector=models.PointIdsList(points=[3]), wait=True)
    top = lambda q, value: [p.id for p in client.query_points(collection_name, query=q, limit=3, query_filter=tenant_filter(value)).points]  # noqa: E731
    assert top(vecs[1].tolist(), "b")[0] == 1
    assert 1 not in top(vecs[1].tolist(), "a")
    assert top(vecs[4].tolist(), "b")[0] == n
    assert 3 not in top(vecs[3].tolist(), "b")
    assert agreement("a", queries) >= 0.9


@pytest.mark.parametrize("grpc", [False, True], ids=["rest", "grpc"])
def test_payload_index_changes_answer_an_operation_id(server, collection_name, grpc):
    """As in Qdrant, creating and deleting a payload index answer an UpdateResult with a
    numeric operation_id (REST and gRPC alike): that of the last write the changed index
    definitions cover. Writes are numbered from 0, as in Qdrant (whose index changes take a
    number of their own; ours do not)."""
    client = QdrantClient(url=server.url, grpc_port=server.grpc_port, prefer_grpc=grpc, timeout=30)
    client.create_collection(collection_name, vectors_config=models.VectorParams(size=2, distance=models.Distance.DOT))
    first = client.create_payload_index(collection_name, "a", field_schema=models.PayloadSchemaType.KEYWORD, wait=True)
    assert first.operation_id == 0 and first.status == models.UpdateStatus.COMPLETED, first
    writes = [client.upsert(collection_name, [models.PointStruct(id=i, vector=[1.0, float(i)])], wait=True)
              for i in range(3)]
    last_write = writes[-1].operation_id
    assert [w.operation_id for w in writes] == [0, 1, 2], writes
    created = client.create_payload_index(collection_name, "b", field_schema=models.PayloadSchemaType.INTEGER, wait=True)
    assert created.operation_id == last_write, created
    deleted = client.delete_payload_index(collection_name, "a", wait=True)
    assert deleted.operation_id == last_write and deleted.status == models.UpdateStatus.COMPLETED, deleted
    after = client.upsert(collection_name, [models.PointStruct(id=9, vector=[1.0, 0.0])], wait=True)
    assert after.operation_id == last_write + 1
    body = requests.put(f"{server.url}/collections/{collection_name}/index", params={"wait": "true"},
                        json={"field_name": "c", "field_schema": "keyword"}, timeout=10).json()
    assert body["result"] == {"operation_id": last_write + 1, "status": "completed"}, body
    assert set(client.get_collection(collection_name).payload_schema) == {"b", "c"}
