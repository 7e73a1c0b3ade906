"""HNSW indexing, payload indexes and grouped queries through qdrant-client (issue 6)."""

import time

import numpy as np
from qdrant_client import models


def _indexed_collection(client, name, n=800, dim=16):
    rng = np.random.default_rng(61)
    vecs = rng.normal(size=(n, dim)).astype(np.float32)
    client.create_collection(
        name,
        vectors_config=models.VectorParams(size=dim, distance=models.Distance.COSINE),
        hnsw_config=models.HnswConfigDiff(m=8, ef_construct=32, full_scan_threshold=1),
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
