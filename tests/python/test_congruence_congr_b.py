"""Differences found by running qdrant-client's congruence tests (search, recommend, discovery,
groups, sparse, multivector) against Quiver, each pinned here against the client's local mode
(`QdrantClient(":memory:")`, the reference implementation) over REST and gRPC:
* a discovery context pair whose two examples are equally close to a point votes 0 (Qdrant ranks
  each pair by `total_cmp`), not −1;
* `average_vector` recommend on a multivector concatenates the positives' rows and the negated
  negatives' rows instead of averaging them into one row."""

import math

import numpy as np
import pytest
from qdrant_client import QdrantClient, models

MAXSIM = models.MultiVectorConfig(comparator=models.MultiVectorComparator.MAX_SIM)


@pytest.fixture(params=["rest", "grpc"])
def qc(request, server):
    c = QdrantClient(url=server.url, grpc_port=server.grpc_port, prefer_grpc=request.param == "grpc", timeout=60)
    yield c
    c.close()


def _both(qc, name, vectors_config, points):
    local = QdrantClient(":memory:")
    for c in (qc, local):
        c.create_collection(name, vectors_config=vectors_config)
        c.upsert(name, points=points, wait=True)
    return local


def _answer(c, name, query, using=None, lookup_from=None):
    return [(p.id, p.score) for p in c.query_points(name, query=query, using=using, limit=10,
                                                    lookup_from=lookup_from).points]


def _assert_same(got, want):
    assert [i for i, _ in got] == [i for i, _ in want]
    for (_, a), (_, b) in zip(got, want):
        assert math.isclose(a, b, rel_tol=1e-5, abs_tol=1e-6), (got, want)


def test_discovery_pair_with_equal_examples_votes_zero(qc, collection_name, unique):
    """The examples come from another collection, so no point is excluded; the pair (7, 7) is a
    tie for every point: the score is the target's sigmoid alone, in (0, 1), not shifted by −1."""
    cfg = models.VectorParams(size=3, distance=models.Distance.DOT)
    points = [models.PointStruct(id=i, vector=[1.0, 0.1 * i, 0.5 - 0.05 * i]) for i in range(1, 9)]
    local = _both(qc, collection_name, cfg, points)
    lookup = unique("lookup")
    for c in (qc, local):
        c.create_collection(lookup, vectors_config=cfg)
        c.upsert(lookup, points=[models.PointStruct(id=i, vector=[0.2 * i, 1.0, -0.1 * i]) for i in range(1, 9)],
                 wait=True)
    try:
        where = models.LookupLocation(collection=lookup)
        tie = models.DiscoverQuery(discover=models.DiscoverInput(
            target=3, context=[models.ContextPair(positive=7, negative=7)]))
        got = _answer(qc, collection_name, tie, lookup_from=where)
        assert got and all(0.0 < score < 1.0 for _, score in got), got
        _assert_same(got, _answer(local, collection_name, tie, lookup_from=where))
        mixed = models.DiscoverQuery(discover=models.DiscoverInput(
            target=3, context=[models.ContextPair(positive=7, negative=7), models.ContextPair(positive=2, negative=5)]))
        _assert_same(_answer(qc, collection_name, mixed, lookup_from=where),
                     _answer(local, collection_name, mixed, lookup_from=where))
    finally:
        qc.delete_collection(lookup)


def test_average_vector_recommend_on_multivectors_concatenates_rows(qc, collection_name):
    cfg = {"m": models.VectorParams(size=3, distance=models.Distance.DOT, multivector_config=MAXSIM)}
    rng = np.random.default_rng(11)
    rows = [rng.normal(size=(int(rng.integers(1, 4)), 3)).round(3).tolist() for _ in range(12)]
    points = [models.PointStruct(id=i, vector={"m": r}) for i, r in enumerate(rows)]
    local = _both(qc, collection_name, cfg, points)
    for positive, negative in (([1, 2], []), ([1], [3]), ([1, 2], [3, 4])):
        query = models.RecommendQuery(recommend=models.RecommendInput(
            positive=positive, negative=negative, strategy=models.RecommendStrategy.AVERAGE_VECTOR))
        got = _answer(qc, collection_name, query, using="m")
        assert len(got) == min(10, len(rows) - len(positive) - len(negative)), got
        _assert_same(got, _answer(local, collection_name, query, using="m"))
