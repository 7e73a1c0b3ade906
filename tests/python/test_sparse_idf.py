"""Sparse vectors with `modifier: idf`: query weights times BM25's inverse document frequency
over the whole collection (every shard), over REST and gRPC; without it, plain dot products."""

import math

import pytest
from qdrant_client import QdrantClient, models

DOCS = {1: ({0: 1.0, 1: 1.0}), 2: ({0: 1.0}), 3: ({0: 2.0}), 4: ({2: 1.0})}


def idf(n_total, n):
    return math.log(1 + (n_total - n + 0.5) / (n + 0.5))


@pytest.mark.parametrize("use_grpc", [False, True])
def test_idf_modifier(server, collection_name, use_grpc):
    c = QdrantClient(url=server.url, grpc_port=server.grpc_port, prefer_grpc=use_grpc, timeout=30)
    for name, modifier in ((collection_name, models.Modifier.IDF), (collection_name + "_plain", None)):
        c.create_collection(name, vectors_config={}, shard_number=3,
                            sparse_vectors_config={"s": models.SparseVectorParams(modifier=modifier)})
        c.upsert(name, points=[models.PointStruct(id=i, vector={"s": models.SparseVector(indices=list(d), values=list(d.values()))})
                               for i, d in DOCS.items()], wait=True)
    q = models.SparseVector(indices=[0, 1], values=[1.0, 1.0])
    got = {p.id: p.score for p in c.query_points(collection_name, query=q, using="s", limit=10).points}
    w0, w1 = idf(4, 3), idf(4, 1)
    assert got == pytest.approx({1: w0 + w1, 2: w0, 3: 2 * w0}, rel=1e-5)
    assert c.get_collection(collection_name).config.params.sparse_vectors["s"].modifier == models.Modifier.IDF
    plain = {p.id: p.score for p in c.query_points(collection_name + "_plain", query=q, using="s", limit=10).points}
    assert plain == pytest.approx({1: 2.0, 2: 1.0, 3: 2.0})
    c.delete_collection(collection_name + "_plain")
