"""Universal-query variants beyond plain nearest search (spec §3.3 QueryRequest):
prefetch + fusion, recommend, order_by. Kept apart from test_search.py so that a server that does
not implement them yet can be run with `--ignore=tests/python/test_query_extras.py`."""

import numpy as np
from qdrant_client import models

from qhelpers import check_ranking
from test_search import _create_and_fill, _data


def test_query_prefetch_fusion(client, collection_name):
    """Hybrid query: two prefetches (dense + sparse) fused with RRF / DBSF."""
    rng = np.random.default_rng(31)
    n = 40
    dense = rng.normal(size=(n, 4)).astype(np.float32)
    client.create_collection(
        collection_name,
        vectors_config={"d": models.VectorParams(size=4, distance=models.Distance.DOT)},
        sparse_vectors_config={"s": models.SparseVectorParams()},
    )
    client.upsert(
        collection_name,
        points=[
            models.PointStruct(id=i, vector={"d": dense[i].tolist(), "s": models.SparseVector(indices=[i % 5, 10 + i % 3], values=[1.0 + i / 10, 0.5])})
            for i in range(n)
        ],
        wait=True,
    )
    qd = dense[7].tolist()
    qs = models.SparseVector(indices=[2], values=[1.0])  # matches ids with i % 5 == 2, best is the largest such id
    d_hits = [p.id for p in client.query_points(collection_name, query=qd, using="d", limit=10).points]
    s_hits = [p.id for p in client.query_points(collection_name, query=qs, using="s", limit=10).points]
    assert s_hits[0] == 37
    for fusion in (models.Fusion.RRF, models.Fusion.DBSF):
        res = client.query_points(
            collection_name,
            prefetch=[
                models.Prefetch(query=qd, using="d", limit=10),
                models.Prefetch(query=qs, using="s", limit=10),
            ],
            query=models.FusionQuery(fusion=fusion),
            limit=6,
        ).points
        ids = [p.id for p in res]
        assert len(ids) == 6 and len(set(ids)) == 6
        assert set(ids) <= set(d_hits) | set(s_hits), f"{fusion}: fused ids {ids} not from the prefetches"
        scores = [p.score for p in res]
        assert scores == sorted(scores, reverse=True)
        # the top item of each list ranks above anything that appears in neither top-3
        assert d_hits[0] in ids and s_hits[0] in ids, f"{fusion}: {ids} lacks a list winner"


def test_query_recommend_average_vector(client, collection_name):
    vecs = _data(seed=41, n=50)
    ids = _create_and_fill(client, collection_name, "Euclid", vecs)
    pos = [3, 8]
    neg = [20]
    # positives only: query = mean(positives); positives are excluded from the result
    res = client.query_points(collection_name, query=models.RecommendQuery(recommend=models.RecommendInput(positive=pos)), limit=5).points
    target = vecs[pos].mean(axis=0)
    others = [i for i in ids if i not in pos]
    check_ranking([(p.id, p.score) for p in res], "Euclid", target, vecs[others], others, 5)
    # with a negative: query = avg_pos + avg_pos - avg_neg
    res = client.query_points(
        collection_name,
        query=models.RecommendQuery(recommend=models.RecommendInput(positive=pos, negative=neg, strategy=models.RecommendStrategy.AVERAGE_VECTOR)),
        limit=5,
    ).points
    target = 2 * vecs[pos].mean(axis=0) - vecs[neg].mean(axis=0)
    others = [i for i in ids if i not in pos + neg]
    check_ranking([(p.id, p.score) for p in res], "Euclid", target, vecs[others], others, 5)


def test_query_order_by(client, collection_name):
    vecs = _data(seed=43, n=30)
    _create_and_fill(client, collection_name, "Dot", vecs)
    client.create_payload_index(collection_name, "i", field_schema=models.PayloadSchemaType.INTEGER, wait=True)
    res = client.query_points(collection_name, query=models.OrderByQuery(order_by=models.OrderBy(key="i", direction="desc")), limit=4, with_payload=True).points
    assert [p.id for p in res] == [29, 28, 27, 26]
    res = client.query_points(
        collection_name,
        query=models.OrderByQuery(order_by="i"),
        query_filter=models.Filter(must=[models.FieldCondition(key="bucket", match=models.MatchValue(value=3))]),
        limit=3,
    ).points
    assert [p.id for p in res] == [3, 7, 11]
