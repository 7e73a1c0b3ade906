"""Differences from Qdrant found by probing the Query API with qdrant-client (REST and gRPC):
RRF and DBSF scores, the top-level filter inside prefetches, examples given by id left out at
every level, the shape rules Qdrant refuses with a 400, `sample` and the scores of queries that
read points in an order, and `offset` with `order_by` in a scroll."""

import grpc
import numpy as np
import pytest
from qdrant_client import QdrantClient, models

from qhelpers import assert_error

N, DIM = 40, 4


@pytest.fixture(params=["rest", "grpc"])
def qc(request, server):
    c = QdrantClient(url=server.url, grpc_port=server.grpc_port, prefer_grpc=request.param == "grpc", timeout=60)
    yield c
    c.close()


def fill(client, name, seed=5):
    rng = np.random.default_rng(seed)
    data = rng.normal(size=(N, DIM)).astype(np.float32)
    client.create_collection(name, vectors_config=models.VectorParams(size=DIM, distance=models.Distance.DOT))
    client.upsert(
        name,
        points=[models.PointStruct(id=i, vector=data[i].tolist(), payload={"i": i, "g": i % 4}) for i in range(N)],
        wait=True,
    )
    return data


def ranked(client, name, vector, limit=5, flt=None):
    res = client.query_points(name, query=vector, limit=limit, query_filter=flt).points
    return [p.id for p in res], [p.score for p in res]


def rrf_expected(lists, k=2, weights=None):
    """Qdrant's RRF: Σ 1 / ((rank + 1) / weight + k - 1) over 0-based ranks; 1 / (rank + k) unweighted."""
    out = {}
    for j, ids in enumerate(lists):
        w = 1.0 if weights is None else weights[j]
        for rank, i in enumerate(ids):
            out[i] = out.get(i, 0.0) + 1.0 / ((rank + 1) / w + k - 1)
    return out


def check_fused(points, expected, limit):
    assert len(points) == min(limit, len(expected))
    for p in points:
        assert p.score == pytest.approx(expected[p.id], rel=1e-5), p.id
    best = sorted(expected.values(), reverse=True)[: len(points)]
    assert [p.score for p in points] == pytest.approx(best, rel=1e-5)


def test_rrf_scores_are_qdrants(qc, collection_name):
    data = fill(qc, collection_name)
    a, _ = ranked(qc, collection_name, data[0].tolist())
    b, _ = ranked(qc, collection_name, data[1].tolist())
    pre = [models.Prefetch(query=data[0].tolist(), limit=5), models.Prefetch(query=data[1].tolist(), limit=5)]
    res = qc.query_points(collection_name, prefetch=pre, query=models.FusionQuery(fusion=models.Fusion.RRF), limit=6).points
    check_fused(res, rrf_expected([a, b]), 6)
    assert max(p.score for p in res) >= 0.5, "the best of a list scores 1/k = 0.5"
    res = qc.query_points(collection_name, prefetch=pre, query=models.RrfQuery(rrf=models.Rrf(k=10)), limit=6).points
    check_fused(res, rrf_expected([a, b], k=10), 6)
    res = qc.query_points(collection_name, prefetch=pre, query=models.RrfQuery(rrf=models.Rrf(weights=[1.0, 3.0])), limit=6).points
    check_fused(res, rrf_expected([a, b], weights=[1.0, 3.0]), 6)


def test_dbsf_scores_are_qdrants(qc, collection_name):
    data = fill(qc, collection_name)
    lists = [ranked(qc, collection_name, data[j].tolist()) for j in (0, 1)]
    expected = {}
    for ids, scores in lists:
        s = np.asarray(scores, dtype=np.float64)
        low, high = s.mean() - 3 * s.std(ddof=1), s.mean() + 3 * s.std(ddof=1)
        for i, x in zip(ids, s):
            expected[i] = expected.get(i, 0.0) + (x - low) / (high - low)
    pre = [models.Prefetch(query=data[j].tolist(), limit=5) for j in (0, 1)]
    res = qc.query_points(collection_name, prefetch=pre, query=models.FusionQuery(fusion=models.Fusion.DBSF), limit=6).points
    check_fused(res, expected, 6)


def test_top_level_filter_applies_inside_prefetches(qc, collection_name):
    data = fill(qc, collection_name)
    flt = models.Filter(must=[models.FieldCondition(key="g", match=models.MatchValue(value=1))])
    a, _ = ranked(qc, collection_name, data[0].tolist(), flt=flt)
    b, _ = ranked(qc, collection_name, data[1].tolist(), flt=flt)
    pre = [models.Prefetch(query=data[0].tolist(), limit=5), models.Prefetch(query=data[1].tolist(), limit=5)]
    res = qc.query_points(
        collection_name, prefetch=pre, query=models.FusionQuery(fusion=models.Fusion.RRF), query_filter=flt, limit=6
    ).points
    check_fused(res, rrf_expected([a, b]), 6)
    # Re-scoring: the prefetch only sees the filtered points, so a full page comes back.
    res = qc.query_points(collection_name, prefetch=pre[0], query=data[1].tolist(), query_filter=flt, limit=5).points
    assert sorted(p.id for p in res) == sorted(a)
    # Nested: the filter reaches the innermost prefetch and combines with each level's own.
    own = models.Filter(must=[models.FieldCondition(key="i", range=models.Range(gte=10))])
    inner = models.Prefetch(prefetch=[models.Prefetch(query=data[0].tolist(), limit=3, filter=own)], query=data[1].tolist(), limit=3)
    res = qc.query_points(collection_name, prefetch=inner, query=data[2].tolist(), query_filter=flt, limit=3).points
    both = models.Filter(must=flt.must + own.must)
    assert sorted(p.id for p in res) == sorted(ranked(qc, collection_name, data[0].tolist(), limit=3, flt=both)[0])


def test_examples_given_by_id_are_left_out_everywhere(qc, collection_name):
    data = fill(qc, collection_name)
    # 3 is referenced in one prefetch only; Qdrant leaves it out of the other prefetch as well.
    pre = [models.Prefetch(query=3, limit=5), models.Prefetch(query=data[3].tolist(), limit=5)]
    res = qc.query_points(collection_name, prefetch=pre, query=models.FusionQuery(fusion=models.Fusion.RRF), limit=10).points
    assert res and 3 not in [p.id for p in res]
    # lookup_from naming the queried collection itself still excludes the example.
    res = qc.query_points(collection_name, query=3, lookup_from=models.LookupLocation(collection=collection_name), limit=3).points
    assert 3 not in [p.id for p in res] and len(res) == 3
    assert [p.id for p in res] == [p.id for p in qc.query_points(collection_name, query=3, limit=3).points]


def test_sample_and_ordered_reads_score_one_and_sample_ignores_offset(qc, collection_name):
    fill(qc, collection_name)
    qc.create_payload_index(collection_name, "i", models.PayloadSchemaType.INTEGER, wait=True)
    res = qc.query_points(collection_name, query=models.SampleQuery(sample=models.Sample.RANDOM), offset=35, limit=10).points
    assert len(res) == 10 and len({p.id for p in res}) == 10
    assert all(p.score == 1.0 for p in res)
    res = qc.query_points(collection_name, query=models.OrderByQuery(order_by="i"), limit=3).points
    assert [(p.id, p.order_value, p.score) for p in res] == [(0, 0, 1.0), (1, 1, 1.0), (2, 2, 1.0)]
    res = qc.query_points(collection_name, limit=3, offset=2).points
    assert [(p.id, p.score) for p in res] == [(2, 1.0), (3, 1.0), (4, 1.0)]


SHAPES = [
    (
        {"prefetch": [{"query": [1, 0, 0, 0]}]},
        "Bad request: A query is needed to merge the prefetches. Can't have prefetches without defining a query.",
    ),
    ({"query": {"order_by": "i"}, "score_threshold": 0.5}, "Bad request: Can't use score_threshold with an order_by query."),
    (
        {"score_threshold": 0.5},
        "Bad request: A query is needed to use the score_threshold. Can't have score_threshold without defining a query.",
    ),
    (
        {"prefetch": [{"query": [1, 0, 0, 0], "using": ""}], "query": {"fusion": "rrf"}, "using": "other"},
        "Bad request: Fusion queries cannot be combined with the 'using' field.",
    ),
    (
        {"prefetch": [{"query": {"order_by": "i"}, "score_threshold": 1.0}], "query": {"fusion": "rrf"}},
        "Bad request: Can't use score_threshold with an order_by query.",
    ),
    ({"query": {"fusion": "rrf"}}, "Wrong input: Validation failed: cannot apply Fusion without prefetches"),
    ({"query": {"formula": {"sum": ["$score", 1]}}}, "Wrong input: Validation failed: cannot apply Formula without prefetches"),
    (
        {"prefetch": [{"prefetch": [{"query": [1, 0, 0, 0]}]}], "query": {"fusion": "dbsf"}},
        "Bad request: A query is needed to merge the prefetches. Can't have prefetches without defining a query.",
    ),
]


def test_rrf_k_below_one_is_422(rest, server, collection_name):
    c = QdrantClient(url=server.url, timeout=30)
    fill(c, collection_name)
    body = {"prefetch": [{"query": [1, 0, 0, 0]}], "query": {"rrf": {"k": 0}}}
    r = rest.post(f"/collections/{collection_name}/points/query", json=body)
    assert_error(r, 422, "query.rrf.k: value 0 invalid, must be 1 or larger")
    c.close()


@pytest.mark.parametrize("body,message", SHAPES)
def test_query_shapes_qdrant_refuses(rest, server, collection_name, body, message):
    c = QdrantClient(url=server.url, timeout=30)
    fill(c, collection_name)
    c.create_payload_index(collection_name, "i", models.PayloadSchemaType.INTEGER, wait=True)
    assert_error(rest.post(f"/collections/{collection_name}/points/query", json=body), 400, message)
    assert_error(rest.post(f"/collections/{collection_name}/points/query/batch", json={"searches": [body]}), 400, message)
    c.close()


def test_query_shape_refused_over_grpc(server, collection_name):
    c = QdrantClient(url=server.url, grpc_port=server.grpc_port, prefer_grpc=True, timeout=30)
    fill(c, collection_name)
    with pytest.raises(grpc.RpcError) as e:
        c.query_points(collection_name, prefetch=models.Prefetch(query=[1.0, 0, 0, 0]), limit=3)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "A query is needed to merge the prefetches" in e.value.details()
    c.close()


def test_scroll_refuses_offset_with_order_by(qc, rest, collection_name):
    fill(qc, collection_name)
    qc.create_payload_index(collection_name, "i", models.PayloadSchemaType.INTEGER, wait=True)
    message = "Wrong input: Cannot use an `offset` when using `order_by`"
    with pytest.raises(Exception) as e:
        qc.scroll(collection_name, limit=3, offset=5, order_by="i")
    assert message in str(e.value)
    r = rest.post(f"/collections/{collection_name}/points/scroll", json={"limit": 3, "offset": 5, "order_by": "i"})
    assert_error(r, 400, message)
    # Paging by start_from is the way.
    page, _ = qc.scroll(collection_name, limit=3, order_by=models.OrderBy(key="i", start_from=5))
    assert [p.id for p in page] == [5, 6, 7]


@pytest.mark.parametrize("match", [{"value": 9.99}, {"value": [1]}, {"value": None}, {}, {"any": [1, "a"]}])
def test_malformed_match_in_a_condition_list_is_400_and_deletes_nothing(rest, server, collection_name, match):
    c = QdrantClient(url=server.url, timeout=30)
    c.create_collection(collection_name, vectors_config=models.VectorParams(size=2, distance=models.Distance.DOT))
    c.upsert(collection_name, points=[models.PointStruct(id=1, vector=[1, 0], payload={"price": 5}), models.PointStruct(id=2, vector=[0, 1])], wait=True)
    base = f"/collections/{collection_name}/points"
    flt = {"must": [{"key": "price", "match": match}]}
    assert_error(rest.post(base + "/count", json={"filter": flt}), 400, "Format error in JSON body")
    # Read as `is_empty: price` it would have deleted point 2, which has no price.
    assert_error(rest.post(base + "/delete?wait=true", json={"filter": flt}), 400)
    assert c.count(collection_name).count == 2
    c.close()


def is_f32_text(x: float) -> bool:
    """The JSON number is an f32 written in its shortest form (not an f32 widened to f64 digits)."""
    return repr(x) == repr(float(str(np.float32(x))))


def test_grouped_and_matrix_scores_are_written_as_f32(server, rest, collection_name):
    c = QdrantClient(url=server.url, timeout=30)
    c.create_collection(collection_name, vectors_config=models.VectorParams(size=2, distance=models.Distance.COSINE))
    c.upsert(collection_name, points=[models.PointStruct(id=i, vector=[1.0, i / 7], payload={"g": i % 2}) for i in range(8)], wait=True)
    q = [0.3, 0.7]
    top = c.query_points(collection_name, query=q, limit=1).points[0]
    groups = c.query_points_groups(collection_name, query=q, group_by="g", limit=2, group_size=1).groups
    assert groups[0].hits[0].id == top.id and groups[0].hits[0].score == top.score
    base = f"/collections/{collection_name}/points"
    for path, body in [
        ("/search/groups", {"vector": q, "group_by": "g", "limit": 2, "group_size": 1}),
        ("/recommend/groups", {"positive": [1], "group_by": "g", "limit": 2, "group_size": 1}),
    ]:
        hits = [h for g in rest.ok("POST", base + path, json=body)["groups"] for h in g["hits"]]
        assert hits and all(is_f32_text(h["score"]) for h in hits), hits
    pairs = rest.ok("POST", base + "/search/matrix/pairs", json={"sample": 5, "limit": 2})["pairs"]
    assert pairs and all(is_f32_text(p["score"]) for p in pairs), pairs
    scores = rest.ok("POST", base + "/search/matrix/offsets", json={"sample": 5, "limit": 2})["scores"]
    assert scores and all(is_f32_text(s) for s in scores), scores
    c.close()


def test_vector_selector_naming_an_unknown_vector_is_400(qc, collection_name):
    qc.create_collection(
        collection_name,
        vectors_config={"a": models.VectorParams(size=2, distance=models.Distance.DOT)},
        sparse_vectors_config={"s": models.SparseVectorParams()},
    )
    qc.upsert(collection_name, points=[models.PointStruct(id=1, vector={"a": [0.1, 0.7]})], wait=True)
    assert qc.retrieve(collection_name, ids=[1], with_vectors=["a", "s"])[0].vector == {"a": pytest.approx([0.1, 0.7])}
    reads = [
        lambda: qc.retrieve(collection_name, ids=[1], with_vectors=["zz"]),
        lambda: qc.scroll(collection_name, with_vectors=["a", "zz"]),
        lambda: qc.query_points(collection_name, query=[1.0, 1.0], using="a", with_vectors=["zz"]),
        lambda: qc.query_points(collection_name, query=1, using="zz"),
    ]
    for read in reads:
        with pytest.raises(Exception) as e:
            read()
        assert "Not existing vector name error: zz" in str(e.value)
        if isinstance(e.value, grpc.RpcError):
            assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        else:
            assert "400" in str(e.value)


def test_prefetch_without_query_reads_its_filtered_points_in_id_order(qc, collection_name):
    qc.create_collection(collection_name, vectors_config=models.VectorParams(size=2, distance=models.Distance.DOT))
    qc.upsert(collection_name, points=[models.PointStruct(id=i, vector=[1.0, float(i)], payload={"i": i}) for i in range(20)], wait=True)
    # The first 5 points (by id) with i >= 5 are re-scored by the outer query.
    flt = models.Filter(must=[models.FieldCondition(key="i", range=models.Range(gte=5))])
    res = qc.query_points(collection_name, prefetch=models.Prefetch(filter=flt, limit=5), query=[0.0, 1.0], limit=3).points
    assert [(p.id, p.score) for p in res] == [(9, 9.0), (8, 8.0), (7, 7.0)]
    # Without a limit a prefetch reads 10 points; fused, an id-ordered list ranks by id.
    res = qc.query_points(
        collection_name,
        prefetch=[models.Prefetch(), models.Prefetch(query=[0.0, 1.0], limit=2)],
        query=models.FusionQuery(fusion=models.Fusion.RRF),
        limit=20,
    ).points
    assert len(res) == 12 and {p.id for p in res} == set(range(10)) | {18, 19}
    assert [p.id for p in res if p.id < 10] == list(range(10))


def test_vector_updates_need_points_and_names_like_qdrant(rest, server, collection_name):
    c = QdrantClient(url=server.url, timeout=30)
    c.create_collection(collection_name, vectors_config={"a": models.VectorParams(size=2, distance=models.Distance.DOT)})
    c.upsert(collection_name, points=[models.PointStruct(id=1, vector={"a": [0.1, 0.7]})], wait=True)
    base = f"/collections/{collection_name}/points"
    r = rest.post(base + "/vectors/delete?wait=true", json={"points": [1], "vector": []})
    assert_error(r, 422, "must specify vector names to delete")
    assert_error(rest.put(base + "/vectors?wait=true", json={"points": []}), 422, "must specify points to update")
    batch = {"operations": [{"upsert": {"points": [{"id": 2, "vector": {"a": [1, 1]}}]}}, {"delete_vectors": {"points": [1], "vector": []}}]}
    assert_error(rest.post(base + "/batch?wait=true", json=batch), 422, "must specify vector names to delete")
    assert c.count(collection_name).count == 1, "a refused batch applies none of its operations"
    # `vectors` is accepted for `vector`, as in Qdrant.
    rest.ok("POST", base + "/vectors/delete?wait=true", json={"points": [1], "vectors": ["a"]})
    assert c.retrieve(collection_name, ids=[1], with_vectors=True)[0].vector == {}
    c.close()


def test_legacy_recommend_and_discover_take_top_for_limit(rest, server, collection_name):
    c = QdrantClient(url=server.url, timeout=30)
    c.create_collection(collection_name, vectors_config=models.VectorParams(size=2, distance=models.Distance.DOT))
    c.upsert(collection_name, points=[models.PointStruct(id=i, vector=[1.0, float(i)]) for i in range(5)], wait=True)
    base = f"/collections/{collection_name}/points"
    assert [p["id"] for p in rest.ok("POST", base + "/recommend", json={"positive": [1], "top": 2})] == [4, 3]
    assert [p["id"] for p in rest.ok("POST", base + "/discover", json={"target": 1, "top": 2})] == [4, 3]
    batch = rest.ok("POST", base + "/recommend/batch", json={"searches": [{"positive": [1], "top": 1}]})
    assert [[p["id"] for p in r] for r in batch] == [[4]]
    c.close()


def test_overwrite_payload_replaces_the_whole_payload_even_with_a_key(qc, rest, collection_name):
    qc.create_collection(collection_name, vectors_config=models.VectorParams(size=2, distance=models.Distance.DOT))
    qc.upsert(collection_name, points=[models.PointStruct(id=i, vector=[1.0, 0.0], payload={"keep": i, "obj": {"a": 1}}) for i in (1, 2)], wait=True)
    r = rest.put(f"/collections/{collection_name}/points/payload?wait=true", json={"payload": {"x": 1}, "points": [1], "key": "obj"})
    assert r.status_code == 200, r.text
    assert qc.retrieve(collection_name, ids=[1])[0].payload == {"x": 1}
    op = models.OverwritePayloadOperation(overwrite_payload=models.SetPayload(payload={"y": 2}, points=[2], key="obj"))
    qc.batch_update_points(collection_name, update_operations=[op], wait=True)
    assert qc.retrieve(collection_name, ids=[2])[0].payload == {"y": 2}


def test_ids_and_filter_together_select_by_the_ids(rest, server, collection_name):
    c = QdrantClient(url=server.url, timeout=30)
    c.create_collection(collection_name, vectors_config=models.VectorParams(size=2, distance=models.Distance.DOT))
    c.upsert(collection_name, points=[models.PointStruct(id=i, vector=[1.0, 0.0], payload={"i": i}) for i in range(4)], wait=True)
    base = f"/collections/{collection_name}/points"
    only_3 = {"must": [{"has_id": [3]}]}
    rest.ok("POST", base + "/payload?wait=true", json={"payload": {"x": 1}, "points": [1], "filter": only_3})
    rest.ok("POST", base + "/delete?wait=true", json={"points": [0], "filter": only_3})
    got = {p.id: p.payload for p in c.scroll(collection_name)[0]}
    assert got == {1: {"i": 1, "x": 1}, 2: {"i": 2}, 3: {"i": 3}}
    c.close()


def test_group_size_zero_names_group_size(rest, server, collection_name):
    c = QdrantClient(url=server.url, timeout=30)
    c.create_collection(collection_name, vectors_config=models.VectorParams(size=2, distance=models.Distance.DOT))
    r = rest.post(f"/collections/{collection_name}/points/query/groups", json={"query": [1, 1], "group_by": "g", "group_size": 0})
    assert_error(r, 422, "group_size: value 0 invalid, must be 1 or larger")
    c.close()


def test_formula_beyond_f32_is_refused_not_written_as_null(rest, server, collection_name):
    c = QdrantClient(url=server.url, timeout=30)
    fill(c, collection_name)
    body = {"prefetch": [{"query": [1, 0, 0, 0]}], "query": {"formula": {"mult": [1e38, 1e38]}}}
    assert_error(rest.post(f"/collections/{collection_name}/points/query", json=body), 400, "non-finite")
    c.close()
