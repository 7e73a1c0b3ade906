"""Multivectors (`max_sim`) and vector datatypes (`float16`, `uint8`), through qdrant-client over
REST and gRPC (each scenario runs on both): upsert, retrieve, update vectors, query (exact and
through the index, checked against numpy's exact max_sim), recommend, groups, and bad input."""

import numpy as np
import pytest
from qdrant_client import QdrantClient, models

from qhelpers import assert_error, wait_until

MAXSIM = models.MultiVectorConfig(comparator=models.MultiVectorComparator.MAX_SIM)


@pytest.fixture(params=["rest", "grpc"])
def qc(request, server):
    c = QdrantClient(url=server.url, grpc_port=server.grpc_port, prefer_grpc=request.param == "grpc", timeout=60)
    yield c
    c.close()


def normalized(m):
    m = np.asarray(m, dtype=np.float32)
    return m / np.linalg.norm(m, axis=-1, keepdims=True)


def max_sim(query, stored):
    return float((np.asarray(query) @ np.asarray(stored).T).max(axis=1).sum())


def multivectors(rng, n, dim, most=4):
    return [rng.normal(size=(int(rng.integers(1, most + 1)), dim)).astype(np.float32) for _ in range(n)]


def test_multivectors_named_and_unnamed_rank_by_exact_max_sim(qc, collection_name):
    rng = np.random.default_rng(5)
    n, dim = 60, 4
    plain = multivectors(rng, n, dim)
    colbert = multivectors(rng, n, dim)
    qc.create_collection(
        collection_name,
        vectors_config={
            "": models.VectorParams(size=dim, distance=models.Distance.DOT, multivector_config=MAXSIM),
            "colbert": models.VectorParams(size=dim, distance=models.Distance.COSINE, multivector_config=MAXSIM),
        },
    )
    info = qc.get_collection(collection_name)
    assert info.config.params.vectors["colbert"].multivector_config.comparator == models.MultiVectorComparator.MAX_SIM
    qc.upsert(
        collection_name,
        points=[models.PointStruct(id=i, vector={"": plain[i].tolist(), "colbert": colbert[i].tolist()}) for i in range(n)],
        wait=True,
    )
    got = qc.retrieve(collection_name, [3], with_vectors=True)[0].vector
    np.testing.assert_allclose(got[""], plain[3], rtol=1e-6)
    np.testing.assert_allclose(got["colbert"], normalized(colbert[3]), rtol=1e-5, atol=1e-6)
    q = rng.normal(size=(3, dim)).astype(np.float32)
    for using, stored, prep in (("", plain, lambda m: m), ("colbert", colbert, normalized)):
        expected = sorted(((max_sim(prep(q), prep(stored[i])), i) for i in range(n)), reverse=True)[:5]
        for exact in (True, False):
            res = qc.query_points(
                collection_name, query=q.tolist(), using=using, limit=5, search_params=models.SearchParams(exact=exact)
            ).points
            assert [p.id for p in res] == [i for _, i in expected], using
            np.testing.assert_allclose([p.score for p in res], [s for s, _ in expected], rtol=1e-4, atol=1e-4)
    # A plain vector queries a multivector column as a multivector of one.
    one = rng.normal(size=dim).astype(np.float32)
    best = max(range(n), key=lambda i: max_sim([one], plain[i]))
    assert qc.query_points(collection_name, query=one.tolist(), using="", limit=1).points[0].id == best


def test_multivector_update_vectors_recommend_and_groups(qc, collection_name):
    rng = np.random.default_rng(6)
    n, dim = 30, 3
    data = multivectors(rng, n, dim)
    qc.create_collection(
        collection_name, vectors_config=models.VectorParams(size=dim, distance=models.Distance.DOT, multivector_config=MAXSIM)
    )
    qc.upsert(
        collection_name,
        points=[models.PointStruct(id=i, vector=data[i].tolist(), payload={"g": i % 3}) for i in range(n)],
        wait=True,
    )
    new = [[9.0, 0.0, 0.0], [0.0, 9.0, 0.0]]
    qc.update_vectors(collection_name, points=[models.PointVectors(id=7, vector=new)], wait=True)
    assert np.allclose(qc.retrieve(collection_name, [7], with_vectors=True)[0].vector, new)
    data[7] = np.asarray(new, dtype=np.float32)
    # recommend best_score / sum_scores by id: scored by max_sim to the examples.
    for strategy in (models.RecommendStrategy.BEST_SCORE, models.RecommendStrategy.SUM_SCORES):
        res = qc.query_points(
            collection_name,
            query=models.RecommendQuery(recommend=models.RecommendInput(positive=[7], negative=[1], strategy=strategy)),
            limit=3,
        ).points
        assert 7 not in [p.id for p in res] and 1 not in [p.id for p in res]
        sums = {i: max_sim(data[7], data[i]) - max_sim(data[1], data[i]) for i in range(n) if i not in (1, 7)}
        if strategy == models.RecommendStrategy.SUM_SCORES:
            expected = sorted(sums, key=lambda i: -sums[i])[:3]
            assert [p.id for p in res] == expected
            assert abs(res[0].score - sums[expected[0]]) < 1e-3
    # average_vector: one positive multivector is the query itself; with a negative, Qdrant does
    # not average: the positives' rows followed by the negatives' rows negated.
    avg = lambda pos, neg: qc.query_points(  # noqa: E731
        collection_name, query=models.RecommendQuery(recommend=models.RecommendInput(positive=pos, negative=neg)), limit=3
    ).points
    scores = {i: max_sim(data[7], data[i]) for i in range(n) if i != 7}
    assert [p.id for p in avg([7], [])] == sorted(scores, key=lambda i: -scores[i])[:3]
    target = np.concatenate([data[7], -data[1]])
    scores = {i: max_sim(target, data[i]) for i in range(n) if i not in (1, 7)}
    res = avg([7], [1])
    assert [p.id for p in res] == sorted(scores, key=lambda i: -scores[i])[:3]
    assert abs(res[0].score - scores[res[0].id]) < 1e-3
    groups = qc.query_points_groups(collection_name, query=new, group_by="g", limit=3, group_size=2).groups
    assert len(groups) == 3 and all(len(g.hits) <= 2 for g in groups)
    assert groups[0].hits[0].id == 7


def test_multivector_search_through_the_index_matches_exact(qc, collection_name):
    rng = np.random.default_rng(8)
    n, dim = 1500, 16
    data = multivectors(rng, n, dim, most=3)
    qc.create_collection(
        collection_name,
        vectors_config=models.VectorParams(size=dim, distance=models.Distance.COSINE, multivector_config=MAXSIM),
        optimizers_config=models.OptimizersConfigDiff(indexing_threshold=10),
        hnsw_config=models.HnswConfigDiff(full_scan_threshold=10),
    )
    for start in range(0, n, 500):
        qc.upsert(
            collection_name,
            points=[models.PointStruct(id=i, vector=data[i].tolist()) for i in range(start, min(n, start + 500))],
            wait=True,
        )
    wait_until(lambda: (qc.get_collection(collection_name).indexed_vectors_count or 0) > 0, timeout=120, what="index")
    hits = total = 0
    for _ in range(10):
        q = rng.normal(size=(2, dim)).astype(np.float32)
        exact = qc.query_points(collection_name, query=q.tolist(), limit=10, search_params=models.SearchParams(exact=True)).points
        approx = qc.query_points(collection_name, query=q.tolist(), limit=10, search_params=models.SearchParams(hnsw_ef=128)).points
        for p in approx:
            assert abs(p.score - max_sim(normalized(q), normalized(data[p.id]))) < 1e-3
        hits += len({p.id for p in exact} & {p.id for p in approx})
        total += len(exact)
    assert hits / total >= 0.9, hits / total


@pytest.mark.parametrize("datatype", [models.Datatype.FLOAT16, models.Datatype.UINT8])
def test_datatypes_store_their_values(qc, collection_name, datatype):
    qc.create_collection(
        collection_name,
        vectors_config={
            "d": models.VectorParams(size=3, distance=models.Distance.DOT, datatype=datatype),
            "m": models.VectorParams(size=3, distance=models.Distance.EUCLID, datatype=datatype, multivector_config=MAXSIM),
        },
    )
    assert qc.get_collection(collection_name).config.params.vectors["d"].datatype == datatype
    raw = [0.1, 2.7, 300.0]
    stored = np.asarray(raw, dtype=np.float16).astype(np.float32) if datatype == models.Datatype.FLOAT16 else np.array([0, 2, 255], dtype=np.float32)
    qc.upsert(collection_name, points=[models.PointStruct(id=1, vector={"d": raw, "m": [raw, [1.0, 1.0, 1.0]]})], wait=True)
    vec = qc.retrieve(collection_name, [1], with_vectors=True)[0].vector
    np.testing.assert_allclose(vec["d"], stored)
    np.testing.assert_allclose(vec["m"][0], stored)
    res = qc.query_points(collection_name, query=[1.0, 1.0, 1.0], using="d", limit=1).points
    assert abs(res[0].score - float(stored.sum())) < 1e-2
    # Euclid max_sim: the stored [1,1,1] is at distance 0 from the query.
    res = qc.query_points(collection_name, query=[[1.0, 1.0, 1.0]], using="m", limit=1).points
    assert res[0].id == 1 and abs(res[0].score) < 1e-6


def test_uint8_cosine_compares_by_angle(qc, collection_name):
    qc.create_collection(
        collection_name, vectors_config=models.VectorParams(size=2, distance=models.Distance.COSINE, datatype=models.Datatype.UINT8)
    )
    qc.upsert(collection_name, points=[models.PointStruct(id=1, vector=[10.0, 0.0]), models.PointStruct(id=2, vector=[3.0, 4.0])], wait=True)
    assert qc.retrieve(collection_name, [2], with_vectors=True)[0].vector == [3.0, 4.0]
    res = qc.query_points(collection_name, query=[3.0, 4.0], limit=2).points
    assert [p.id for p in res] == [2, 1]
    assert abs(res[0].score - 1.0) < 1e-5 and abs(res[1].score - 0.6) < 1e-5


def test_multivector_bad_input_is_refused(rest, collection_name):
    assert_error(
        rest.put(f"/collections/{collection_name}", json={"vectors": {"size": 2, "distance": "Dot", "multivector_config": {"comparator": "sum"}}}),
        400,
    )
    assert_error(rest.put(f"/collections/{collection_name}", json={"vectors": {"size": 2, "distance": "Dot", "datatype": "float64"}}), 400)
    rest.ok(
        "PUT",
        f"/collections/{collection_name}",
        json={"vectors": {"m": {"size": 2, "distance": "Dot", "multivector_config": {"comparator": "max_sim"}}, "p": {"size": 2, "distance": "Dot"}}},
    )
    base = f"/collections/{collection_name}/points"
    for vector, status, needle in (
        ({"m": []}, 400, "Vector dimension error: expected dim: 2, got 0"),
        ({"m": [[1.0, 2.0], [1.0]]}, 422, "all vectors must have the same dimension"),
        ({"m": [[1.0, 2.0], []]}, 422, "all vectors must be non-empty"),
        ({"p": [[1.0, 2.0]]}, 400, "not a multivector"),
    ):
        assert_error(rest.put(base + "?wait=true", json={"points": [{"id": 1, "vector": vector}]}), status, needle)
    assert rest.ok("POST", base + "/count", json={"exact": True})["count"] == 0
    assert_error(rest.post(base + "/query", json={"query": [[1.0, 2.0, 3.0]], "using": "m"}), 400, "dimension")
    assert_error(rest.post(base + "/query", json={"query": [[1.0, 2.0]], "using": "p"}), 400, "not a multivector")


def test_multivectors_and_datatypes_survive_restart_and_crash(server_factory):
    """Typed and multivector columns come back from the checkpoint and the WAL alike."""
    srv = server_factory()
    c = QdrantClient(url=srv.url, timeout=30)
    c.create_collection(
        "typed",
        vectors_config={
            "h": models.VectorParams(size=2, distance=models.Distance.DOT, datatype=models.Datatype.FLOAT16, multivector_config=MAXSIM),
            "u": models.VectorParams(size=2, distance=models.Distance.DOT, datatype=models.Datatype.UINT8),
        },
    )
    c.upsert("typed", points=[models.PointStruct(id=i, vector={"h": [[0.1 * i, 1.0], [2.0, 3.0]], "u": [float(i), 7.9]}) for i in range(20)], wait=True)
    before = {p.id: p.vector for p in c.scroll("typed", limit=100, with_vectors=True)[0]}
    for stop in (srv.restart, lambda: (srv.kill(), srv.start())):
        stop()
        c = QdrantClient(url=srv.url, timeout=30)
        after = {p.id: p.vector for p in c.scroll("typed", limit=100, with_vectors=True)[0]}
        assert after == before
        assert after[3]["u"] == [3.0, 7.0]
        res = c.query_points("typed", query=[[1.0, 0.0]], using="h", limit=1).points
        assert res[0].id == 0 and abs(res[0].score - 2.0) < 1e-6


def test_cluster_shards_on_other_peers_serve_every_query_kind(cluster_factory):
    """Multivectors, float16 values and custom objectives travel to the shards of other peers
    (4 shards over 2 peers, rf 1): answers equal numpy's exact ones."""
    from cluster_harness import result, wait_until as wait

    c = cluster_factory(2)
    p0 = c.peers[0]
    body = {
        "vectors": {"m": {"size": 3, "distance": "Dot", "datatype": "float16", "multivector_config": {"comparator": "max_sim"}}},
        "shard_number": 4,
        "replication_factor": 1,
    }
    assert result(p0.put("/collections/mv", json=body)) is True
    wait(lambda: all("mv" in p.collection_names() for p in c.peers), desc="collection on both peers")
    assert all(p.collection_cluster("mv")["local_shards"] for p in c.peers), "a peer holds no shard"
    rng = np.random.default_rng(21)
    data = [np.asarray(rng.normal(size=(int(rng.integers(1, 4)), 3)), dtype=np.float16).astype(np.float32) for _ in range(80)]
    points = [{"id": i, "vector": {"m": data[i].tolist()}} for i in range(80)]
    result(p0.put("/collections/mv/points", json={"points": points}, params={"wait": "true"}))
    q = rng.normal(size=(2, 3)).astype(np.float16).astype(np.float32)
    for peer in c.peers:
        got = result(peer.post("/collections/mv/points/query", json={"query": q.tolist(), "using": "m", "limit": 5}))["points"]
        want = sorted(range(80), key=lambda i: -max_sim(q, data[i]))[:5]
        assert [p["id"] for p in got] == want
        ctx = {"query": {"context": [{"positive": 1, "negative": 2}]}, "using": "m", "limit": 80}
        got = result(peer.post("/collections/mv/points/query", json=ctx))["points"]
        assert len(got) == 78 and got[0]["score"] == 0.0
        rec = {"query": {"recommend": {"positive": [3], "strategy": "sum_scores"}}, "using": "m", "limit": 3}
        got = result(peer.post("/collections/mv/points/query", json=rec))["points"]
        scores = {i: max_sim(data[3], data[i]) for i in range(80) if i != 3}
        assert [p["id"] for p in got] == sorted(scores, key=lambda i: -scores[i])[:3]
