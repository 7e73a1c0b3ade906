"""Server-side BM25 inference (design record 050): `Document` objects of the `qdrant/bm25` model
where a sparse vector goes, over REST and gRPC and through qdrant-client's `models.Document`.
Stored vectors are checked against BM25's term-frequency formula with token ids computed here by
an independent murmur3; a text query finds the expected document first; other models, images and
bad options are refused as Qdrant refuses them, and nothing is written."""

import pytest
from qdrant_client import QdrantClient, models

from qhelpers import assert_error

NOT_INITIALIZED = (
    "Bad request: InferenceService is not initialized. "
    "Please check if it was properly configured and initialized during startup. "
    "This server embeds qdrant/bm25 documents only."
)
PLAIN = {"language": "none"}  # no stemmer, no stopwords: tokens are the lowercase words


def murmur3_32(data: bytes, seed: int = 0) -> int:
    """MurmurHash3 x86 32-bit, written from the reference algorithm."""
    c1, c2, mask = 0xCC9E2D51, 0x1B873593, 0xFFFFFFFF

    def rotl(x, r):
        return ((x << r) | (x >> (32 - r))) & mask

    h = seed
    n = len(data) // 4 * 4
    for i in range(0, n, 4):
        k = int.from_bytes(data[i : i + 4], "little")
        k = rotl((k * c1) & mask, 15) * c2 & mask
        h = (rotl(h ^ k, 13) * 5 + 0xE6546B64) & mask
    tail = data[n:]
    if tail:
        k = int.from_bytes(tail, "little")
        h ^= rotl((k * c1) & mask, 15) * c2 & mask
    h ^= len(data)
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & mask
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & mask
    return h ^ (h >> 16)


def token_id(token: str) -> int:
    signed = murmur3_32(token.encode()) - (1 << 32 if murmur3_32(token.encode()) >= 1 << 31 else 0)
    return abs(signed)


def doc_vector(tokens, k=1.2, b=0.75, avg_len=256.0):
    """BM25's document weights: n (k + 1) / (n + k (1 - b + b |d| / avg_len)), indices ascending."""
    counts = {}
    for t in tokens:
        counts[t] = counts.get(t, 0) + 1
    weights = {token_id(t): n * (k + 1) / (n + k * (1 - b + b * len(tokens) / avg_len)) for t, n in counts.items()}
    return sorted(weights), [weights[i] for i in sorted(weights)]


def stored(rest, name, pid, vector="bm25"):
    points = rest.ok("POST", f"/collections/{name}/points", json={"ids": [pid], "with_vector": True})
    return points[0]["vector"][vector]


def assert_sparse(got, expected):
    indices, values = expected
    assert got["indices"] == indices
    assert got["values"] == pytest.approx(values, rel=1e-6)


def doc(text, **options):
    d = {"text": text, "model": "qdrant/bm25"}
    if options:
        d["options"] = options
    return d


def create(rest, name):
    body = {"vectors": {"d": {"size": 2, "distance": "Dot"}}, "sparse_vectors": {"bm25": {"modifier": "idf"}}}
    rest.ok("PUT", f"/collections/{name}", json=body)


def count(rest, name):
    return rest.ok("POST", f"/collections/{name}/points/count", json={"exact": True})["count"]


def test_murmur3_here_matches_the_reference_vectors():
    assert murmur3_32(b"", 1) == 0x514E28B7
    assert murmur3_32(b"\x21\x43\x65\x87", 0x5082EDEE) == 0x2362F9DE
    assert murmur3_32(b"Hello, world!", 0x9747B28C) == 0x24884CBA
    assert murmur3_32(b"\x21\x43\x65", 0) == 0x7E4A8634


def test_rest_documents_are_embedded_stored_and_found(rest, collection_name):
    create(rest, collection_name)
    url = f"/collections/{collection_name}/points"
    texts = {
        1: "Recipe for baking chocolate chip cookies",
        2: "Sparse vectors for keyword search in a vector database",
        3: "The quick brown fox",
    }
    points = [{"id": i, "vector": {"bm25": doc(t, **PLAIN) if i < 3 else doc(t)}} for i, t in texts.items()]
    assert rest.ok("PUT", f"{url}?wait=true", json={"points": points})["status"] == "completed"
    assert_sparse(stored(rest, collection_name, 1), doc_vector("recipe for baking chocolate chip cookies".split()))
    # English defaults: "the" is a stopword; quick, brown and fox are their own stems.
    assert_sparse(stored(rest, collection_name, 3), doc_vector(["quick", "brown", "fox"]))
    # A text query finds the document that holds its words first.
    for text in ["chocolate cookies", "keyword search database"]:
        hits = rest.ok("POST", f"{url}/query", json={"query": doc(text, **PLAIN), "using": "bm25"})["points"]
        assert hits[0]["id"] == (1 if "cookies" in text else 2), hits
    # Through `nearest`, a prefetch, the batch and the groups forms.
    q = doc("chocolate", **PLAIN)
    nearest = {"query": {"nearest": q}, "using": "bm25", "limit": 1}
    assert [h["id"] for h in rest.ok("POST", f"{url}/query", json=nearest)["points"]] == [1]
    fused = {"prefetch": [{"query": q, "using": "bm25"}], "query": {"fusion": "rrf"}, "limit": 1}
    assert [h["id"] for h in rest.ok("POST", f"{url}/query", json=fused)["points"]] == [1]
    batch = rest.ok("POST", f"{url}/query/batch", json={"searches": [nearest, {"query": doc("fox"), "using": "bm25"}]})
    assert [r["points"][0]["id"] for r in batch] == [1, 3]
    rest.ok("PUT", f"{url}/payload?wait=true", json={"payload": {"g": "a"}, "points": [1, 2, 3]})
    groups = {"query": q, "using": "bm25", "group_by": "g", "limit": 1, "group_size": 1}
    assert rest.ok("POST", f"{url}/query/groups", json=groups)["groups"][0]["hits"][0]["id"] == 1


def test_update_vectors_and_batch_operations_embed_documents(rest, collection_name):
    create(rest, collection_name)
    url = f"/collections/{collection_name}/points"
    batch_form = {"batch": {"ids": [1, 2], "vectors": {"bm25": [doc("one two two", **PLAIN), doc("three", **PLAIN)]}}}
    rest.ok("PUT", f"{url}?wait=true", json=batch_form)
    assert_sparse(stored(rest, collection_name, 1), doc_vector(["one", "two", "two"]))
    options = {"k": 2.0, "b": 0.5, "avg_len": 4, **PLAIN}
    update = {"points": [{"id": 2, "vector": {"bm25": doc("four four five", **options)}}]}
    rest.ok("PUT", f"{url}/vectors?wait=true", json=update)
    assert_sparse(stored(rest, collection_name, 2), doc_vector(["four", "four", "five"], k=2.0, b=0.5, avg_len=4))
    ops = {"operations": [
        {"upsert": {"points": [{"id": 3, "vector": {"bm25": doc("six", **PLAIN)}}]}},
        {"update_vectors": {"points": [{"id": 1, "vector": {"bm25": doc("seven", **PLAIN)}}]}},
    ]}
    rest.ok("POST", f"{url}/batch?wait=true", json=ops)
    assert_sparse(stored(rest, collection_name, 3), doc_vector(["six"]))
    assert_sparse(stored(rest, collection_name, 1), doc_vector(["seven"]))


def test_other_models_images_and_bad_options_are_refused(rest, collection_name):
    create(rest, collection_name)
    url = f"/collections/{collection_name}/points?wait=true"
    other = {"text": "hello", "model": "sentence-transformers/all-MiniLM-L6-v2"}
    cases = [
        ({"bm25": other}, 400, NOT_INITIALIZED),
        ({"bm25": {"image": "https://example.com/a.png", "model": "Qdrant/clip-ViT-B-32-vision"}}, 400, NOT_INITIALIZED),
        ({"bm25": {"image": "https://example.com/a.png", "model": "qdrant/bm25"}}, 400,
         "Wrong input: Only text input is supported for qdrant/bm25."),
        ({"bm25": doc("x", k=-1)}, 400, "Wrong input: BM25 k1 must be finite and >= 0, got -1"),
    ]
    for vector, status, message in cases:
        r = rest.put(url, json={"points": [{"id": 1, "vector": vector}]})
        assert assert_error(r, status) == message
    r = rest.put(url, json={"points": [{"id": 1, "vector": {"bm25": doc("x", tokenizer="letters")}}]})
    assert assert_error(r, 400).startswith("Wrong input: Invalid BM25 config: Error(")
    r = rest.post(f"/collections/{collection_name}/points/query", json={"query": other, "using": "bm25"})
    assert assert_error(r, 400) == NOT_INITIALIZED
    assert count(rest, collection_name) == 0


@pytest.mark.parametrize("grpc", [False, True], ids=["rest", "grpc"])
def test_qdrant_client_documents_are_embedded_by_the_server(server, rest, collection_name, grpc):
    create(rest, collection_name)
    client = QdrantClient(url=server.url, grpc_port=server.grpc_port, prefer_grpc=grpc, timeout=30)
    try:
        points = [
            models.PointStruct(id=1, vector={"bm25": models.Document(text="alpha beta beta", model="Qdrant/bm25",
                                                                     options=PLAIN)}),
            models.PointStruct(id=2, vector={"bm25": models.Document(text="gamma delta", model="Qdrant/bm25",
                                                                     options=PLAIN)}),
        ]
        client.upsert(collection_name, points=points, wait=True)
        assert_sparse(stored(rest, collection_name, 1), doc_vector(["alpha", "beta", "beta"]))
        query = models.Document(text="delta", model="Qdrant/bm25", options=PLAIN)
        hits = client.query_points(collection_name, query=query, using="bm25").points
        assert [h.id for h in hits] == [2]
    finally:
        client.close()


def test_grpc_legacy_recommend_by_document_and_refusals(server, rest, collection_name):
    import grpc
    from qdrant_client import grpc as pb

    create(rest, collection_name)
    points = [{"id": 1, "vector": {"bm25": doc("red apple", **PLAIN)}}, {"id": 2, "vector": {"bm25": doc("green pear", **PLAIN)}}]
    rest.ok("PUT", f"/collections/{collection_name}/points?wait=true", json={"points": points})
    options = {"language": pb.Value(string_value="none")}
    pear = pb.Vector(document=pb.Document(text="pear", model="Qdrant/bm25", options=options))
    with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
        stub = pb.PointsStub(channel)
        request = pb.RecommendPoints(collection_name=collection_name, positive_vectors=[pear], using="bm25", limit=5)
        assert [p.id.num for p in stub.Recommend(request, timeout=10).result] == [2]
        other = pb.Vector(document=pb.Document(text="pear", model="openai/text-embedding-3-small"))
        upsert = pb.UpsertPoints(collection_name=collection_name, wait=True, points=[
            pb.PointStruct(id=pb.PointId(num=3), vectors=pb.Vectors(vectors=pb.NamedVectors(vectors={"bm25": other})))])
        with pytest.raises(grpc.RpcError) as refused:
            stub.Upsert(upsert, timeout=10)
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert refused.value.details() == NOT_INITIALIZED
        image = pb.Vector(image=pb.Image(image=pb.Value(string_value="https://example.com/a.png"), model="qdrant/bm25"))
        query = pb.QueryPoints(collection_name=collection_name, using="bm25",
                               query=pb.Query(nearest=pb.VectorInput(image=image.image)))
        with pytest.raises(grpc.RpcError) as refused:
            stub.Query(query, timeout=10)
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert refused.value.details() == "Wrong input: Only text input is supported for qdrant/bm25."
    assert count(rest, collection_name) == 2
