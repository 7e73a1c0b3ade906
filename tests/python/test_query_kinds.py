"""Query kinds beyond nearest (design record 013) through qdrant-client over REST and gRPC:
discover and context (and the legacy `points/discover` endpoints and gRPC `Discover`), recommend
`sum_scores`, `sample: random`, MMR, `lookup_from` with a named vector, weighted RRF, `formula`
score boosting; and a clear 400 for each malformed shape."""

import math

import grpc
import numpy as np
import pytest
from qdrant_client import QdrantClient, models
from qdrant_client import grpc as pb

from qhelpers import assert_error

N, DIM = 40, 3


@pytest.fixture(params=["rest", "grpc"])
def qc(request, server):
    c = QdrantClient(url=server.url, grpc_port=server.grpc_port, prefer_grpc=request.param == "grpc", timeout=60)
    yield c
    c.close()


def fill(client, name, seed=3):
    rng = np.random.default_rng(seed)
    data = rng.normal(size=(N, DIM)).astype(np.float32)
    client.create_collection(name, vectors_config=models.VectorParams(size=DIM, distance=models.Distance.DOT))
    client.upsert(name, points=[models.PointStruct(id=i, vector=data[i].tolist(), payload={"even": i % 2 == 0}) for i in range(N)], wait=True)
    return data


def sigmoid(x):
    return 0.5 * (x / (1 + abs(x)) + 1)


def discover_scores(data, target, pairs, skip=()):
    out = {}
    for i in range(N):
        if i in skip:
            continue
        v = data[i]
        rank = sum(1 if v @ data[p] > v @ data[n] else -1 for p, n in pairs)
        out[i] = rank + sigmoid(float(v @ target))
    return out


def context_scores(data, pairs, skip=()):
    out = {}
    for i in range(N):
        if i in skip:
            continue
        v = data[i]
        out[i] = sum((lambda d: d / (1 + abs(d)))(min(0.0, float(v @ data[p] - v @ data[n]) - 1.1920929e-07)) for p, n in pairs)
    return out


def top(scores, k):
    return sorted(scores, key=lambda i: (-scores[i], i))[:k]


def test_discover_and_context(qc, collection_name):
    data = fill(qc, collection_name)
    pairs = [(1, 2), (3, 4)]
    target = data[5]
    ctx = [models.ContextPair(positive=p, negative=n) for p, n in pairs]
    res = qc.query_points(
        collection_name, query=models.DiscoverQuery(discover=models.DiscoverInput(target=target.tolist(), context=ctx)), limit=5
    ).points
    expected = discover_scores(data, target, pairs, skip={1, 2, 3, 4})
    assert [p.id for p in res] == top(expected, 5)
    assert abs(res[0].score - expected[res[0].id]) < 1e-4
    res = qc.query_points(collection_name, query=models.ContextQuery(context=ctx), limit=40).points
    expected = context_scores(data, pairs, skip={1, 2, 3, 4})
    assert len(res) == N - 4
    got = {p.id: p.score for p in res}
    for i, s in expected.items():
        assert abs(got[i] - s) < 1e-4, i
    # With a filter: only matching points.
    res = qc.query_points(
        collection_name,
        query=models.ContextQuery(context=ctx),
        query_filter=models.Filter(must=[models.FieldCondition(key="even", match=models.MatchValue(value=True))]),
        limit=40,
    ).points
    assert res and all(p.id % 2 == 0 for p in res)


def test_legacy_discover_endpoints(server, rest, collection_name):
    c = QdrantClient(url=server.url, timeout=30)
    data = fill(c, collection_name)
    base = f"/collections/{collection_name}/points"
    body = {"target": 5, "context": [{"positive": 1, "negative": 2}], "limit": 4, "with_payload": True}
    res = rest.ok("POST", base + "/discover", json=body)
    expected = discover_scores(data, data[5], [(1, 2)], skip={1, 2, 5})
    assert [p["id"] for p in res] == top(expected, 4)
    assert "even" in res[0]["payload"]
    batch = rest.ok("POST", base + "/discover/batch", json={"searches": [body, {"context": [{"positive": 1, "negative": 2}], "limit": 3}]})
    assert [p["id"] for p in batch[0]] == top(expected, 4) and len(batch[1]) == 3
    assert_error(rest.post(base + "/discover", json={"limit": 3}), 400, "target or at least one context pair")
    # gRPC Discover / DiscoverBatch.
    g = QdrantClient(url=server.url, grpc_port=server.grpc_port, prefer_grpc=True, timeout=30)
    ex = lambda i: pb.VectorExample(id=pb.PointId(num=i))  # noqa: E731
    req = pb.DiscoverPoints(
        collection_name=collection_name,
        target=pb.TargetVector(single=ex(5)),
        context=[pb.ContextExamplePair(positive=ex(1), negative=ex(2))],
        limit=4,
    )
    reply = g.grpc_points.Discover(req, timeout=30)
    assert [p.id.num for p in reply.result] == top(expected, 4)
    reply = g.grpc_points.DiscoverBatch(pb.DiscoverBatchPoints(collection_name=collection_name, discover_points=[req, req]), timeout=30)
    assert len(reply.result) == 2 and [p.id.num for p in reply.result[1].result] == top(expected, 4)
    c.close()
    g.close()


def test_recommend_sum_scores(qc, collection_name):
    data = fill(qc, collection_name)
    res = qc.query_points(
        collection_name,
        query=models.RecommendQuery(recommend=models.RecommendInput(positive=[1, 2], negative=[3], strategy=models.RecommendStrategy.SUM_SCORES)),
        limit=5,
    ).points
    scores = {i: float(data[i] @ data[1] + data[i] @ data[2] - data[i] @ data[3]) for i in range(N) if i not in (1, 2, 3)}
    assert [p.id for p in res] == top(scores, 5)
    assert abs(res[0].score - scores[res[0].id]) < 1e-4


def test_recommend_negatives_only(qc, collection_name):
    """Qdrant's "using only negative examples": `best_score` scores each point
    -sigmoid(similarity to its closest negative), so the points least like every negative come
    first; `sum_scores` scores it -(sum of similarities to the negatives)."""
    data = fill(qc, collection_name)
    neg = [3, 4]
    res = qc.query_points(
        collection_name,
        query=models.RecommendQuery(recommend=models.RecommendInput(negative=neg, strategy=models.RecommendStrategy.BEST_SCORE)),
        limit=N,
    ).points
    best = {i: -sigmoid(max(float(data[i] @ data[n]) for n in neg)) for i in range(N) if i not in neg}
    assert len(res) == N - len(neg)
    assert [p.id for p in res] == top(best, N)
    for p in res:
        assert abs(p.score - best[p.id]) < 1e-5, (p.id, p.score, best[p.id])
        assert -1.0 < p.score < 0.0
    res = qc.query_points(
        collection_name,
        query=models.RecommendQuery(recommend=models.RecommendInput(negative=neg, strategy=models.RecommendStrategy.SUM_SCORES)),
        limit=5,
    ).points
    summed = {i: -sum(float(data[i] @ data[n]) for n in neg) for i in range(N) if i not in neg}
    assert [p.id for p in res] == top(summed, 5)
    for p in res:
        assert abs(p.score - summed[p.id]) < 1e-4


def test_recommend_example_rules(server, rest, collection_name):
    """What each strategy needs, as Qdrant answers it: the query API refuses a recommend
    without any example (422) and `average_vector` without a positive (400); the legacy
    recommend endpoints (REST, batch, groups and gRPC) answer Qdrant's "Bad request" texts and
    accept negatives alone for `best_score` and `sum_scores`."""
    c = QdrantClient(url=server.url, timeout=30)
    data = fill(c, collection_name)
    c.close()
    base = f"/collections/{collection_name}/points"
    no_example = "At least one positive or negative vector/id must be provided"
    for strategy in ("average_vector", "best_score", "sum_scores"):
        assert_error(rest.post(base + "/query", json={"query": {"recommend": {"negative": [], "strategy": strategy}}}), 422, no_example)
        body = {"prefetch": {"query": {"recommend": {"positive": []}}}, "query": {"fusion": "rrf"}}
        assert_error(rest.post(base + "/query", json=body), 422, no_example)
    msg = assert_error(rest.post(base + "/query", json={"query": {"recommend": {"negative": [3]}}}), 400)
    assert msg == "Wrong input: Validation failed: Positive vectors should not be empty with `average` strategy", msg

    need_positive = "Bad request: At least one positive vector ID required with this strategy"
    need_any = "Bad request: At least one positive or negative vector ID required with this strategy"
    for strategy in (None, "average_vector"):
        body = {"negative": [3], "limit": 3, **({"strategy": strategy} if strategy else {})}
        assert assert_error(rest.post(base + "/recommend", json=body), 400) == need_positive
        assert assert_error(rest.post(base + "/recommend/batch", json={"searches": [body]}), 400) == need_positive
    for strategy in ("best_score", "sum_scores"):
        assert assert_error(rest.post(base + "/recommend", json={"strategy": strategy, "limit": 3}), 400) == need_any
    for half, ids in (("a", list(range(0, N, 2))), ("b", list(range(1, N, 2)))):
        rest.ok("POST", base + "/payload?wait=true", json={"payload": {"half": half}, "points": ids})
    groups = {"negative": [3], "group_by": "half", "limit": 2, "group_size": 1}
    assert assert_error(rest.post(base + "/recommend/groups", json=groups), 400) == need_positive
    got = rest.ok("POST", base + "/recommend/groups", json={**groups, "strategy": "best_score"})
    assert len(got["groups"]) == 2

    best = {i: -sigmoid(float(data[i] @ data[3])) for i in range(N) if i != 3}
    res = rest.ok("POST", base + "/recommend", json={"negative": [3], "strategy": "best_score", "limit": 4})
    assert [p["id"] for p in res] == top(best, 4)
    assert all(abs(p["score"] - best[p["id"]]) < 1e-5 for p in res)
    batch = rest.ok("POST", base + "/recommend/batch", json={"searches": [{"negative": [3], "strategy": "sum_scores", "limit": 2}]})
    summed = {i: -float(data[i] @ data[3]) for i in range(N) if i != 3}
    assert [p["id"] for p in batch[0]] == top(summed, 2)

    g = QdrantClient(url=server.url, grpc_port=server.grpc_port, prefer_grpc=True, timeout=30)
    req = lambda **kw: pb.RecommendPoints(collection_name=collection_name, limit=4, **kw)  # noqa: E731
    reply = g.grpc_points.Recommend(req(negative=[pb.PointId(num=3)], strategy=pb.RecommendStrategy.BestScore), timeout=30)
    assert [p.id.num for p in reply.result] == top(best, 4)
    assert all(abs(p.score - best[p.id.num]) < 1e-5 for p in reply.result)
    for bad, text in ((req(negative=[pb.PointId(num=3)]), need_positive), (req(strategy=pb.RecommendStrategy.SumScores), need_any)):
        with pytest.raises(grpc.RpcError) as e:
            g.grpc_points.Recommend(bad, timeout=30)
        assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT and e.value.details() == text, e.value
    empty = pb.Query(recommend=pb.RecommendInput(strategy=pb.RecommendStrategy.BestScore))
    with pytest.raises(grpc.RpcError) as e:
        g.grpc_points.Query(pb.QueryPoints(collection_name=collection_name, query=empty), timeout=30)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT and no_example in e.value.details(), e.value
    g.close()


def test_sample_random(qc, collection_name):
    fill(qc, collection_name)
    flt = models.Filter(must=[models.FieldCondition(key="even", match=models.MatchValue(value=True))])
    draws = []
    for _ in range(3):
        res = qc.query_points(collection_name, query=models.SampleQuery(sample=models.Sample.RANDOM), query_filter=flt, limit=8).points
        ids = [p.id for p in res]
        assert len(ids) == 8 and len(set(ids)) == 8 and all(i % 2 == 0 for i in ids)
        draws.append(ids)
    assert not (draws[0] == draws[1] == draws[2]), "three random samples of 8 out of 20 came out identical"


def mmr_expected(data, q, candidates, limit, diversity):
    pool = list(candidates)
    lam = 1 - diversity
    picked = [pool.pop(0)]
    while len(picked) < limit and pool:
        def value(i):
            return lam * float(data[i] @ q) - (1 - lam) * max(float(data[i] @ data[j]) for j in picked)
        best = max(pool, key=lambda i: (value(i), -pool.index(i)))
        pool.remove(best)
        picked.append(best)
    return picked


def test_mmr_rerank(qc, collection_name):
    data = fill(qc, collection_name)
    q = np.array([1.0, 0.5, -0.2], dtype=np.float32)
    nearest = [p.id for p in qc.query_points(collection_name, query=q.tolist(), limit=15).points]
    res = qc.query_points(
        collection_name,
        query=models.NearestQuery(nearest=q.tolist(), mmr=models.Mmr(diversity=0.6, candidates_limit=15)),
        limit=5,
    ).points
    assert [p.id for p in res] == mmr_expected(data, q, nearest, 5, 0.6)
    assert [p.id for p in res] != nearest[:5], "MMR with diversity 0.6 changed nothing"
    # diversity 0: plain relevance order.
    res = qc.query_points(
        collection_name, query=models.NearestQuery(nearest=q.tolist(), mmr=models.Mmr(diversity=0.0, candidates_limit=15)), limit=5
    ).points
    assert [p.id for p in res] == nearest[:5]


def test_lookup_from_named_vector(qc, collection_name, unique):
    data = fill(qc, collection_name)
    other = unique("lookup")
    qc.create_collection(other, vectors_config={"img": models.VectorParams(size=DIM, distance=models.Distance.DOT)})
    try:
        qc.upsert(other, points=[models.PointStruct(id=100, vector={"img": data[7].tolist()})], wait=True)
        res = qc.query_points(
            collection_name, query=100, lookup_from=models.LookupLocation(collection=other, vector="img"), limit=3
        ).points
        expected = top({i: float(data[i] @ data[7]) for i in range(N)}, 3)
        assert [p.id for p in res] == expected  # 7 itself is not excluded: the example lives elsewhere
        res = qc.query_points(
            collection_name,
            query=models.RecommendQuery(recommend=models.RecommendInput(positive=[100])),
            lookup_from=models.LookupLocation(collection=other, vector="img"),
            limit=3,
        ).points
        assert [p.id for p in res] == expected
    finally:
        qc.delete_collection(other)


def test_weighted_rrf(qc, collection_name):
    data = fill(qc, collection_name)
    pre = [models.Prefetch(query=data[0].tolist(), limit=5), models.Prefetch(query=data[9].tolist(), limit=5)]
    a = [p.id for p in qc.query_points(collection_name, query=data[0].tolist(), limit=5).points]
    b = [p.id for p in qc.query_points(collection_name, query=data[9].tolist(), limit=5).points]
    res = qc.query_points(collection_name, prefetch=pre, query=models.RrfQuery(rrf=models.Rrf(weights=[1.0, 3.0])), limit=3).points
    scores = {}
    for w, lst in ((1.0, a), (3.0, b)):
        for rank, i in enumerate(lst):
            # Qdrant's weighted RRF (k = 2): 1 / ((rank + 1) / weight + k - 1)
            scores[i] = scores.get(i, 0.0) + 1.0 / ((rank + 1) / w + 2 - 1)
    assert [p.id for p in res] == top(scores, 3)


def test_bad_query_shapes_are_refused(rest, collection_name, server):
    fill(QdrantClient(url=server.url, timeout=30), collection_name)
    q = f"/collections/{collection_name}/points/query"
    # Out-of-range values are validation errors (422, Qdrant's JSON paths).
    for body, needle in (
        ({"query": {"nearest": [1, 0, 0], "mmr": {"diversity": 2}}}, "query.mmr.diversity"),
        ({"query": {"nearest": [1, 0, 0], "mmr": {"candidates_limit": 100000}}}, "query.mmr.candidates_limit"),
        ({"prefetch": [{"query": [1, 0, 0]}], "query": {"rrf": {"weights": [-1]}}}, "query.rrf.weights"),
    ):
        assert_error(rest.post(q, json=body), 422, needle)
    before = rest.ok("POST", f"/collections/{collection_name}/points/count", json={"exact": True})["count"]
    for body, needle in (
        ({"query": {"nearest": [1, 0, 0], "mmr": {"lambda": 0.3}}}, "invalid `nearest` query"),
        ({"query": {"recommend": {"positive": [1], "strategy": "median"}}}, "median"),
        ({"query": {"context": []}}, "at least one pair"),
        ({"query": {"discover": {"context": [{"positive": 1, "negative": 2}]}}}, "invalid `discover` query"),
        ({"query": {"sample": "sequential"}}, "invalid `sample` query"),
        ({"query": {"formula": {"sum": ["$score", 1]}}}, "cannot apply Formula without prefetches"),
        ({"query": {"formula": {"cube": "$score"}}, "prefetch": {"query": [1, 0, 0]}}, "formula"),
        ({"query": {"formula": {"gauss_decay": {"x": "n", "midpoint": 2}}}, "prefetch": {"query": [1, 0, 0]}}, "midpoint"),
        ({"query": {"formula": {"sum": ["$score", "absent"]}}, "prefetch": {"query": [1, 0, 0]}}, "absent"),
        ({"query": {"relevance_feedback": {"target": [1, 0, 0]}}}, "relevance_feedback"),
        ({"query": {"recommend": {"positive": [[1, 0]]}}}, "dimension"),
        ({"prefetch": [{"query": [1, 0, 0]}], "query": {"rrf": {"weights": [1, 2, 3]}}}, "weights"),
    ):
        assert_error(rest.post(q, json=body), 400, needle)
    assert_error(rest.post(q, json={"query": 1, "lookup_from": {"collection": "no_such_collection_x"}}), 404, "Collection no_such_collection_x not found")
    assert_error(rest.post(q, json={"query": 1, "lookup_from": {"collection": collection_name, "vector": "nope"}}), 400)
    assert rest.ok("POST", f"/collections/{collection_name}/points/count", json={"exact": True})["count"] == before


def test_formula_score_boosting(qc, collection_name):
    rng = np.random.default_rng(12)
    data = rng.normal(size=(N, DIM)).astype(np.float32)
    qc.create_collection(collection_name, vectors_config=models.VectorParams(size=DIM, distance=models.Distance.DOT))
    payloads = [{"even": i % 2 == 0, "n": i, "when": f"2024-01-{1 + i % 28:02d}T00:00:00Z"} | ({"boost": i / 10} if i % 3 == 0 else {}) for i in range(N)]
    qc.upsert(collection_name, points=[models.PointStruct(id=i, vector=data[i].tolist(), payload=payloads[i]) for i in range(N)], wait=True)
    q = data[0].tolist()
    pre = qc.query_points(collection_name, query=q, limit=20).points
    base = {p.id: p.score for p in pre}
    even = models.FieldCondition(key="even", match=models.MatchValue(value=True))
    formula = models.FormulaQuery(
        formula=models.SumExpression(
            sum=[
                "$score",
                models.MultExpression(mult=[0.5, "boost"]),
                even,
                models.GaussDecayExpression(gauss_decay=models.DecayParamsExpression(x="n", target=10, scale=5, midpoint=0.5)),
                models.ExpDecayExpression(
                    exp_decay=models.DecayParamsExpression(x=models.DatetimeKeyExpression(datetime_key="when"), target=models.DatetimeExpression(datetime="2024-01-05T00:00:00Z"), scale=86400 * 3)
                ),
            ]
        ),
        defaults={"boost": 1.0},
    )
    res = qc.query_points(collection_name, prefetch=models.Prefetch(query=q, limit=20), query=formula, limit=5).points

    def expected(i):
        p = payloads[i]
        days = abs((1 + i % 28) - 5)
        return (
            base[i]
            + 0.5 * p.get("boost", 1.0)
            + (1.0 if p["even"] else 0.0)
            + math.exp(math.log(0.5) / 25 * (i - 10) ** 2)
            + math.exp(math.log(0.5) / (86400 * 3) * days * 86400)
        )

    want = sorted(base, key=lambda i: (-expected(i), i))[:5]
    assert [p.id for p in res] == want
    for p in res:
        assert abs(p.score - expected(p.id)) < 1e-3


def test_recommend_average_of_sparse_vectors(qc, collection_name):
    qc.create_collection(collection_name, vectors_config={}, sparse_vectors_config={"s": models.SparseVectorParams()})
    points = {1: ([0, 1], [1.0, 1.0]), 2: ([1, 2], [1.0, 3.0]), 3: ([2], [5.0]), 4: ([0], [2.0])}
    qc.upsert(
        collection_name,
        points=[models.PointStruct(id=i, vector={"s": models.SparseVector(indices=ix, values=v)}) for i, (ix, v) in points.items()],
        wait=True,
    )
    # target = 2·(1,1,0) − (0,1,3) = (2, 1, −3): point 4 scores 4, point 2 scores 1 − 9 = −8, point 3 −15.
    res = qc.query_points(
        collection_name, query=models.RecommendQuery(recommend=models.RecommendInput(positive=[1], negative=[2])), using="s", limit=3
    ).points
    assert [(p.id, round(p.score, 4)) for p in res] == [(4, 4.0), (3, -15.0)]


def test_relevance_feedback_naive(qc, collection_name):
    data = fill(qc, collection_name)
    target = data[0] + data[1]
    feedback = {4: 0.9, 5: 0.1, 6: 0.7, 7: 0.4, 8: 0.2}
    a, b, c = 0.8, 1.5, 0.6
    res = qc.query_points(
        collection_name,
        query=models.RelevanceFeedbackQuery(
            relevance_feedback=models.RelevanceFeedbackInput(
                target=target.tolist(),
                feedback=[models.FeedbackItem(example=i, score=s) for i, s in feedback.items()],
                strategy=models.NaiveFeedbackStrategy(naive=models.NaiveFeedbackStrategyParams(a=a, b=b, c=c)),
            )
        ),
        limit=5,
    ).points
    # As Qdrant: every ordered pair whose feedback scores differ by more than 0, better first.
    pairs = [(p, n) for p in feedback for n in feedback if feedback[p] - feedback[n] > 0]
    scores = {
        i: a * float(data[i] @ target)
        + sum((feedback[p] - feedback[n]) ** b * c * float(data[i] @ data[p] - data[i] @ data[n]) for p, n in pairs)
        for i in range(N)
        if i not in feedback
    }
    assert [p.id for p in res] == top(scores, 5)
    assert abs(res[0].score - scores[res[0].id]) < 1e-3
