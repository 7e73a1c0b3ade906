"""Query API answers compared with qdrant-client's local mode (`QdrantClient(":memory:")`), which
reproduces Qdrant's server: MMR (which points, in which order, with which scores), DBSF over a
distance metric, and grouped queries whose prefetch limit is smaller than the groups need.
Found by running qdrant-client's congruence tests against Quiver."""

import numpy as np
import pytest
from qdrant_client import QdrantClient, models


@pytest.fixture(params=["rest", "grpc"])
def qc(request, server):
    c = QdrantClient(url=server.url, grpc_port=server.grpc_port, prefer_grpc=request.param == "grpc", timeout=60)
    yield c
    c.close()


def fill_both(qc, name, vectors_config, points):
    local = QdrantClient(":memory:")
    for c in (local, qc):
        c.create_collection(name, vectors_config=vectors_config)
        c.upsert(name, points=points, wait=True)
    return local


def same_points(expected, got):
    assert [p.id for p in got] == [p.id for p in expected]
    for e, g in zip(expected, got):
        assert g.score == pytest.approx(e.score, rel=1e-4, abs=1e-6), (e.id, e.score, g.score)


def mmr(client, name, query, using=None, **mmr_args):
    return client.query_points(
        name, query=models.NearestQuery(nearest=query, mmr=models.Mmr(**mmr_args)), using=using, limit=10
    ).points


# Exact MMR ties (coordinates are binary fractions): ids 2 and 3 tie once id 1 is picked.
TIES = {
    "dot": (models.Distance.DOT, [[2.0, 1.0], [1.0, 0.0], [0.5, 0.5], [0.25, 1.0]], [1.0, 0.0]),
    "euclid": (models.Distance.EUCLID, [[0.25, 0.0], [0.5, 0.25], [0.5, 0.5], [0.75, 0.5]], [0.0, 0.0]),
}


@pytest.mark.parametrize("case", sorted(TIES))
def test_mmr_ties_and_scores_are_qdrants(qc, collection_name, case):
    distance, vectors, query = TIES[case]
    points = [models.PointStruct(id=i + 1, vector=v) for i, v in enumerate(vectors)]
    local = fill_both(qc, collection_name, models.VectorParams(size=2, distance=distance), points)
    expected = mmr(local, collection_name, query)
    got = mmr(qc, collection_name, query)
    same_points(expected, got)
    # Each point keeps its search score (Euclid: the distance), not its MMR value.
    plain = {p.id: p.score for p in qc.query_points(collection_name, query=query, limit=10).points}
    assert [p.score for p in got] == [plain[p.id] for p in got]


@pytest.mark.parametrize("distance", [models.Distance.COSINE, models.Distance.EUCLID, models.Distance.MANHATTAN])
def test_mmr_random_points_match_local_mode(qc, collection_name, distance):
    rng = np.random.default_rng(7)
    data = rng.random((60, 6)).round(3)
    points = [models.PointStruct(id=i, vector=data[i].tolist()) for i in range(len(data))]
    local = fill_both(qc, collection_name, models.VectorParams(size=6, distance=distance), points)
    query = rng.random(6).tolist()
    for diversity in (0.2, 0.5, 0.9):
        args = {"diversity": diversity, "candidates_limit": 30}
        same_points(mmr(local, collection_name, query, **args), mmr(qc, collection_name, query, **args))


def test_dbsf_normalises_distances_as_they_are(qc, collection_name):
    rng = np.random.default_rng(3)
    config = {
        "cos": models.VectorParams(size=5, distance=models.Distance.COSINE),
        "l2": models.VectorParams(size=5, distance=models.Distance.EUCLID),
    }
    points = [
        models.PointStruct(id=i, vector={"cos": rng.random(5).tolist(), "l2": rng.random(5).tolist()})
        for i in range(50)
    ]
    local = fill_both(qc, collection_name, config, points)
    prefetch = [
        models.Prefetch(query=rng.random(5).tolist(), using="cos", limit=15),
        models.Prefetch(query=rng.random(5).tolist(), using="l2", limit=15),
    ]

    def fused(client):
        query = models.FusionQuery(fusion=models.Fusion.DBSF)
        return client.query_points(collection_name, prefetch=prefetch, query=query, limit=10).points

    same_points(fused(local), fused(qc))


def test_groups_look_beyond_the_prefetch_limit(qc, collection_name):
    rng = np.random.default_rng(11)
    points = [
        models.PointStruct(id=i, vector=rng.random(4).tolist(), payload={"g": f"g{i % 7}"}) for i in range(200)
    ]
    local = fill_both(qc, collection_name, models.VectorParams(size=4, distance=models.Distance.COSINE), points)
    query = rng.random(4).tolist()

    def groups(client):
        return client.query_points_groups(
            collection_name,
            prefetch=[models.Prefetch(query=query, limit=5)],
            query=query,
            group_by="g",
            group_size=4,
            limit=3,
        ).groups

    expected, got = groups(local), groups(qc)
    assert [g.id for g in got] == [g.id for g in expected]
    for e, g in zip(expected, got):
        assert len(g.hits) == 4
        same_points(e.hits, g.hits)


FORMULAS = {
    "ln of a negative": models.LnExpression(ln=-4.6),
    "sqrt of a negative": models.SqrtExpression(sqrt=models.NegExpression(neg="$score")),
    "division by zero": models.DivExpression(div=models.DivParams(left=1.0, right=0.0)),
    "zero dividend": models.SumExpression(
        sum=["$score", models.DivExpression(div=models.DivParams(left=0.0, right=models.LnExpression(ln=-1.0)))]
    ),
    "by_zero_default": models.SumExpression(
        sum=["$score", models.DivExpression(div=models.DivParams(left=2.0, right=0.0, by_zero_default=0.25))]
    ),
    "zero factor": models.SumExpression(
        sum=["$score", models.MultExpression(mult=[0.0, models.Log10Expression(log10=-1.0)])]
    ),
}


@pytest.mark.parametrize("case", sorted(FORMULAS))
def test_formula_domain_errors_are_qdrants(qc, collection_name, case):
    points = [models.PointStruct(id=i, vector=[1.0, float(i)]) for i in range(1, 4)]
    local = fill_both(qc, collection_name, models.VectorParams(size=2, distance=models.Distance.DOT), points)
    query = models.FormulaQuery(formula=FORMULAS[case])
    prefetch = models.Prefetch(query=[1.0, 1.0], limit=3)

    def run(client):
        try:
            return client.query_points(collection_name, prefetch=prefetch, query=query, limit=3).points
        except Exception as e:  # local mode: ValueError; REST: UnexpectedResponse; gRPC: RpcError
            return str(e)

    expected, got = run(local), run(qc)
    if isinstance(expected, str):
        assert "produced a non-finite number" in expected
        assert isinstance(got, str) and "produced a non-finite number" in got, got
    else:
        same_points(expected, got)


THRESHOLD_CASES = {
    "cosine": (models.Distance.COSINE, [[1.0, 0.0], [1.0, 1.0], [0.0, 1.0], [-1.0, 0.0]], [1.0, 0.0, -1.0]),
    "dot": (models.Distance.DOT, [[2.0, 0.0], [1.0, 0.0], [0.5, 0.0]], [2.0, 1.0, 0.5]),
    "euclid": (models.Distance.EUCLID, [[0.5, 0.0], [1.0, 0.0], [2.0, 0.0]], [0.5, 1.0, 2.0]),
    "manhattan": (models.Distance.MANHATTAN, [[0.5, 0.0], [1.0, 0.0], [2.0, 0.0]], [0.5, 1.0, 2.0]),
}


@pytest.mark.parametrize("case", sorted(THRESHOLD_CASES))
def test_score_threshold_equal_to_a_score_leaves_that_point_out(qc, collection_name, case):
    # Every score is exact in f32; each threshold equals one point's score.
    distance, vectors, thresholds = THRESHOLD_CASES[case]
    points = [models.PointStruct(id=i, vector=v) for i, v in enumerate(vectors, start=1)]
    local = fill_both(qc, collection_name, models.VectorParams(size=2, distance=distance), points)
    query = [1.0, 0.0] if distance in (models.Distance.COSINE, models.Distance.DOT) else [0.0, 0.0]
    for t in thresholds:
        expected = local.query_points(collection_name, query=query, score_threshold=t, limit=10).points
        got = qc.query_points(collection_name, query=query, score_threshold=t, limit=10).points
        same_points(expected, got)
        assert all(p.score != t for p in got)


@pytest.mark.parametrize("distance", [models.Distance.COSINE, models.Distance.EUCLID])
def test_relevance_feedback_pairs_every_better_worse_example(qc, collection_name, distance):
    rng = np.random.default_rng(5)
    data = rng.random((40, 6)).round(3)
    points = [models.PointStruct(id=i, vector=data[i].tolist()) for i in range(len(data))]
    local = fill_both(qc, collection_name, models.VectorParams(size=6, distance=distance), points)
    # Four examples, two of them equally scored (that pair weighs nothing).
    feedback = [models.FeedbackItem(example=i, score=s) for i, s in [(1, 0.9), (2, 0.7), (3, 0.7), (4, 0.2)]]
    query = models.RelevanceFeedbackQuery(
        relevance_feedback=models.RelevanceFeedbackInput(
            target=rng.random(6).tolist(),
            feedback=feedback,
            strategy=models.NaiveFeedbackStrategy(naive=models.NaiveFeedbackStrategyParams(a=0.5, b=1.5, c=0.7)),
        )
    )
    expected = local.query_points(collection_name, query=query, limit=10).points
    same_points(expected, qc.query_points(collection_name, query=query, limit=10).points)
