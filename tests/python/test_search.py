"""Universal query, batch query and legacy search, checked against numpy brute force (spec §3.3)."""

import numpy as np
import pytest
from qdrant_client import models

from qhelpers import assert_error, assert_ok_envelope, brute_force, check_ranking

DIM = 8
N = 120
DISTANCES = ["Cosine", "Dot", "Euclid", "Manhattan"]


def _data(seed=0, n=N, dim=DIM):
    rng = np.random.default_rng(seed)
    vecs = rng.normal(size=(n, dim)).astype(np.float32)
    return vecs


def _create_and_fill(client, name, distance, vecs, shard_number=1, payload=True):
    client.create_collection(
        name,
        vectors_config=models.VectorParams(size=vecs.shape[1], distance=models.Distance(distance)),
        shard_number=shard_number,
    )
    ids = list(range(len(vecs)))
    client.upsert(
        name,
        points=models.Batch(
            ids=ids,
            vectors=vecs.tolist(),
            payloads=[{"i": i, "bucket": i % 4} for i in ids] if payload else None,
        ),
        wait=True,
    )
    return ids


@pytest.mark.parametrize("distance", DISTANCES)
def test_query_dense_matches_brute_force(client, collection_name, distance):
    vecs = _data(seed=100 + DISTANCES.index(distance))
    ids = _create_and_fill(client, collection_name, distance, vecs, shard_number=2)
    rng = np.random.default_rng(7)
    for _ in range(3):
        q = rng.normal(size=DIM).astype(np.float32)
        res = client.query_points(collection_name, query=q.tolist(), limit=10, search_params=models.SearchParams(exact=True))
        got = [(p.id, p.score) for p in res.points]
        check_ranking(got, distance, q, vecs, ids, 10)
        # non-exact (default) search must give the same answer on such a small collection
        res2 = client.query_points(collection_name, query=q.tolist(), limit=10)
        check_ranking([(p.id, p.score) for p in res2.points], distance, q, vecs, ids, 10)
        for p in res.points:
            assert isinstance(p.version, int)


@pytest.mark.parametrize("distance", DISTANCES)
def test_query_offset_threshold_filter(client, collection_name, distance):
    vecs = _data(seed=3)
    ids = _create_and_fill(client, collection_name, distance, vecs)
    q = np.random.default_rng(11).normal(size=DIM).astype(np.float32)
    scores, higher = brute_force(distance, q, vecs)

    # offset
    res = client.query_points(collection_name, query=q.tolist(), limit=5, offset=4)
    check_ranking([(p.id, p.score) for p in res.points], distance, q, vecs, ids, 5, offset=4)

    # score_threshold: higher-is-better keeps score >= t, distances keep score <= t
    order = np.sort(scores)[::-1] if higher else np.sort(scores)
    t = float(order[14])  # 15th best
    res = client.query_points(collection_name, query=q.tolist(), limit=100, score_threshold=t)
    got_ids = {p.id for p in res.points}
    expect = {i for i in ids if (scores[i] >= t - 1e-4 if higher else scores[i] <= t + 1e-4)}
    must_have = {i for i in ids if (scores[i] >= t + 1e-3 if higher else scores[i] <= t - 1e-3)}
    assert must_have <= got_ids <= expect, f"threshold {t}: got {sorted(got_ids)}"
    assert 13 <= len(got_ids) <= 16

    # filter
    flt = models.Filter(must=[models.FieldCondition(key="bucket", match=models.MatchValue(value=2))])
    res = client.query_points(collection_name, query=q.tolist(), limit=7, query_filter=flt, with_payload=True)
    sub = [i for i in ids if i % 4 == 2]
    check_ranking([(p.id, p.score) for p in res.points], distance, q, vecs[sub], sub, 7)
    assert all(p.payload["bucket"] == 2 for p in res.points)


def test_query_with_payload_and_vectors_flags(client, rest, collection_name):
    vecs = _data(seed=5, n=20)
    _create_and_fill(client, collection_name, "Dot", vecs)
    q = vecs[3].tolist()
    # REST defaults: with_payload=false, with_vector=false (the Python client itself sends with_payload=true)
    raw = rest.ok("POST", f"/collections/{collection_name}/points/query", json={"query": q, "limit": 3})
    assert all(p.get("payload") is None for p in raw["points"]), "with_payload defaults to false"
    assert all(p.get("vector") is None for p in raw["points"]), "with_vector defaults to false"
    res = client.query_points(collection_name, query=q, limit=3, with_payload=False)
    assert all(p.payload is None for p in res.points)
    assert all(p.vector is None for p in res.points)
    res = client.query_points(collection_name, query=q, limit=3, with_payload=True, with_vectors=True)
    for p in res.points:
        assert p.payload == {"i": p.id, "bucket": p.id % 4}
        assert p.vector == pytest.approx(vecs[p.id].tolist(), rel=1e-5, abs=1e-5)
    # raw response shape
    raw = rest.ok("POST", f"/collections/{collection_name}/points/query", json={"query": q, "limit": 2})
    assert set(raw) == {"points"}
    assert len(raw["points"]) == 2
    assert {"id", "version", "score"} <= set(raw["points"][0])
    # raw, default limit is 10
    raw = rest.ok("POST", f"/collections/{collection_name}/points/query", json={"query": {"nearest": q}})
    assert len(raw["points"]) == 10


def test_query_without_query_returns_points_by_id(rest, client, collection_name):
    vecs = _data(seed=8, n=15)
    _create_and_fill(client, collection_name, "Dot", vecs)
    raw = rest.ok("POST", f"/collections/{collection_name}/points/query", json={"limit": 5})
    assert [p["id"] for p in raw["points"]] == [0, 1, 2, 3, 4]


def test_query_by_point_id(client, rest, collection_name):
    vecs = _data(seed=9, n=40)
    ids = _create_and_fill(client, collection_name, "Cosine", vecs)
    res = client.query_points(collection_name, query=17, limit=5)
    got = [(p.id, p.score) for p in res.points]
    assert 17 not in [g[0] for g in got], "the referenced point is excluded from the results"
    others = [i for i in ids if i != 17]
    check_ranking(got, "Cosine", vecs[17], vecs[others], others, 5)
    # the same through raw REST with a bare id as `query`
    raw = rest.ok("POST", f"/collections/{collection_name}/points/query", json={"query": 17, "limit": 5})
    assert [p["id"] for p in raw["points"]] == [g[0] for g in got]
    # unknown id -> 404
    r = rest.post(f"/collections/{collection_name}/points/query", json={"query": 9999, "limit": 5})
    assert_error(r, 404)


def test_query_named_and_sparse(client, collection_name):
    rng = np.random.default_rng(21)
    n = 50
    img = rng.normal(size=(n, 4)).astype(np.float32)
    txt = rng.normal(size=(n, 6)).astype(np.float32)
    sparse = []
    for i in range(n):
        idx = sorted(rng.choice(30, size=5, replace=False).tolist())
        val = rng.uniform(0.1, 2.0, size=5).round(3).tolist()
        sparse.append((idx, val))
    client.create_collection(
        collection_name,
        vectors_config={
            "image": models.VectorParams(size=4, distance=models.Distance.EUCLID),
            "text": models.VectorParams(size=6, distance=models.Distance.DOT),
        },
        sparse_vectors_config={"kw": models.SparseVectorParams()},
    )
    client.upsert(
        collection_name,
        points=[
            models.PointStruct(
                id=i,
                vector={"image": img[i].tolist(), "text": txt[i].tolist(), "kw": models.SparseVector(indices=sparse[i][0], values=sparse[i][1])},
                payload={"i": i},
            )
            for i in range(n)
        ],
        wait=True,
    )
    ids = list(range(n))
    q_img = rng.normal(size=4).astype(np.float32)
    res = client.query_points(collection_name, query=q_img.tolist(), using="image", limit=6)
    check_ranking([(p.id, p.score) for p in res.points], "Euclid", q_img, img, ids, 6)
    q_txt = rng.normal(size=6).astype(np.float32)
    res = client.query_points(collection_name, query=q_txt.tolist(), using="text", limit=6)
    check_ranking([(p.id, p.score) for p in res.points], "Dot", q_txt, txt, ids, 6)

    # sparse: dot product over shared indices; points with no overlap are not returned
    q_idx, q_val = [1, 5, 9, 17, 28], [1.0, 0.5, 2.0, 1.5, 0.25]
    dense_q = np.zeros(30)
    dense_q[q_idx] = q_val
    sp_scores = {}
    for i, (idx, val) in enumerate(sparse):
        overlap = set(idx) & set(q_idx)
        if overlap:
            d = np.zeros(30)
            d[idx] = val
            sp_scores[i] = float(d @ dense_q)
    res = client.query_points(
        collection_name, query=models.SparseVector(indices=q_idx, values=q_val), using="kw", limit=100
    )
    got = {p.id: p.score for p in res.points}
    assert set(got) == set(sp_scores), f"sparse hits {sorted(got)} != expected {sorted(sp_scores)}"
    for pid, s in got.items():
        assert s == pytest.approx(sp_scores[pid], abs=1e-3)
    scores = [p.score for p in res.points]
    assert scores == sorted(scores, reverse=True)

    # unknown vector name -> error
    with pytest.raises(Exception):
        client.query_points(collection_name, query=q_txt.tolist(), using="nope", limit=3)


def test_query_batch(client, collection_name):
    vecs = _data(seed=12, n=60)
    ids = _create_and_fill(client, collection_name, "Euclid", vecs)
    qs = np.random.default_rng(13).normal(size=(3, DIM)).astype(np.float32)
    reqs = [
        models.QueryRequest(query=qs[0].tolist(), limit=4),
        models.QueryRequest(query=qs[1].tolist(), limit=2, with_payload=True),
        models.QueryRequest(
            query=qs[2].tolist(),
            limit=3,
            filter=models.Filter(must=[models.FieldCondition(key="bucket", match=models.MatchAny(any=[0, 1]))]),
        ),
    ]
    out = client.query_batch_points(collection_name, requests=reqs)
    assert len(out) == 3
    check_ranking([(p.id, p.score) for p in out[0].points], "Euclid", qs[0], vecs, ids, 4)
    check_ranking([(p.id, p.score) for p in out[1].points], "Euclid", qs[1], vecs, ids, 2)
    assert all(p.payload is not None for p in out[1].points)
    sub = [i for i in ids if i % 4 in (0, 1)]
    check_ranking([(p.id, p.score) for p in out[2].points], "Euclid", qs[2], vecs[sub], sub, 3)


def test_legacy_search_endpoints(rest, client, collection_name):
    vecs = _data(seed=14, n=30)
    ids = _create_and_fill(client, collection_name, "Manhattan", vecs)
    q = vecs[0] + 0.01
    r = rest.post(f"/collections/{collection_name}/points/search", json={"vector": q.tolist(), "limit": 4})
    res = assert_ok_envelope(r)
    assert isinstance(res, list), "legacy search returns a bare list"
    check_ranking([(p["id"], p["score"]) for p in res], "Manhattan", q, vecs, ids, 4)
    assert all(p.get("payload") is None for p in res), "legacy search with_payload defaults to false"
    # `top` alias, with_payload, filter
    res = rest.ok(
        "POST",
        f"/collections/{collection_name}/points/search",
        json={"vector": q.tolist(), "top": 3, "with_payload": True, "filter": {"must": [{"key": "bucket", "match": {"value": 1}}]}},
    )
    sub = [i for i in ids if i % 4 == 1]
    check_ranking([(p["id"], p["score"]) for p in res], "Manhattan", q, vecs[sub], sub, 3)
    assert all(p["payload"]["bucket"] == 1 for p in res)
    # batch
    res = rest.ok(
        "POST",
        f"/collections/{collection_name}/points/search/batch",
        json={"searches": [{"vector": q.tolist(), "limit": 2}, {"vector": vecs[5].tolist(), "limit": 1, "with_vector": True}]},
    )
    assert isinstance(res, list) and len(res) == 2
    check_ranking([(p["id"], p["score"]) for p in res[0]], "Manhattan", q, vecs, ids, 2)
    assert res[1][0]["id"] == 5 and res[1][0]["score"] == pytest.approx(0.0, abs=1e-4)
    assert res[1][0]["vector"] == pytest.approx(vecs[5].tolist(), abs=1e-5)
    # score_threshold and offset on legacy search
    res = rest.ok(
        "POST",
        f"/collections/{collection_name}/points/search",
        json={"vector": q.tolist(), "limit": 3, "offset": 2},
    )
    check_ranking([(p["id"], p["score"]) for p in res], "Manhattan", q, vecs, ids, 3, offset=2)


def test_legacy_search_named_vector(rest, collection_name):
    rest.ok(
        "PUT",
        f"/collections/{collection_name}",
        json={"vectors": {"a": {"size": 2, "distance": "Dot"}, "b": {"size": 2, "distance": "Euclid"}}},
    )
    rest.ok(
        "PUT",
        f"/collections/{collection_name}/points?wait=true",
        json={"points": [{"id": i, "vector": {"a": [i, 1], "b": [i, -i]}} for i in range(1, 6)]},
    )
    res = rest.ok("POST", f"/collections/{collection_name}/points/search", json={"vector": {"name": "b", "vector": [2, -2]}, "limit": 2})
    assert res[0]["id"] == 2 and res[0]["score"] == pytest.approx(0.0, abs=1e-5)
    res = rest.ok("POST", f"/collections/{collection_name}/points/search", json={"vector": {"name": "a", "vector": [1, 0]}, "limit": 2})
    assert [p["id"] for p in res] == [5, 4]
    assert res[0]["score"] == pytest.approx(5.0)


def test_search_limit_zero_is_422(rest, client, collection_name):
    vecs = _data(seed=1, n=5)
    _create_and_fill(client, collection_name, "Dot", vecs)
    r = rest.post(f"/collections/{collection_name}/points/search", json={"vector": vecs[0].tolist(), "limit": 0})
    assert_error(r, 422)
    r = rest.post(f"/collections/{collection_name}/points/query", json={"query": vecs[0].tolist(), "limit": 0})
    assert_error(r, 422)


def test_query_wrong_dimension_400(rest, client, collection_name):
    vecs = _data(seed=1, n=5)
    _create_and_fill(client, collection_name, "Dot", vecs)
    r = rest.post(f"/collections/{collection_name}/points/query", json={"query": [1.0, 2.0, 3.0]})
    assert_error(r, 400, f"Vector dimension error: expected dim: {DIM}, got 3")


def test_query_request_params_accepted(rest, client, collection_name):
    vecs = _data(seed=44, n=20)
    _create_and_fill(client, collection_name, "Dot", vecs)
    base = f"/collections/{collection_name}/points"
    r = rest.put(f"{base}?wait=true&ordering=strong&timeout=10", json={"points": [{"id": 100, "vector": vecs[0].tolist()}]})
    assert assert_ok_envelope(r)["status"] == "completed"
    for c in ("1", "all", "majority", "quorum"):
        res = rest.ok("POST", f"{base}/scroll?consistency={c}&timeout=5", json={"limit": 3})
        assert len(res["points"]) == 3
        res = rest.ok("POST", f"{base}/query?consistency={c}", json={"query": vecs[1].tolist(), "limit": 2, "params": {"exact": True}})
        assert len(res["points"]) == 2
    assert_error(rest.post(f"{base}/scroll?consistency=0", json={}), 400)
    assert_error(rest.put(f"{base}?ordering=sideways", json={"points": [{"id": 101, "vector": vecs[0].tolist()}]}), 400)
