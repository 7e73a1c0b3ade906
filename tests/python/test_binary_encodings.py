"""Binary quantization's `two_bits` and `one_and_half_bits` encodings (design record 033) through
qdrant-client over REST and gRPC: created collection-level and per vector, echoed as given,
searched with `quantization` params (rescored scores exact), PATCHed, kept across a restart; on
shifted vectors (every value positive) two bits beat one bit at the same oversampling."""

from __future__ import annotations


import numpy as np
import pytest
import requests
from qdrant_client import QdrantClient, models

from qhelpers import wait_green_indexed, wait_until

DIM = 48
N = 1500
ENCODINGS = [models.BinaryQuantizationEncoding.TWO_BITS, models.BinaryQuantizationEncoding.ONE_AND_HALF_BITS]
OVERSAMPLED = models.QuantizationSearchParams(rescore=True, oversampling=4.0)


@pytest.fixture(params=["rest", "grpc"])
def qclient(request, server):
    c = QdrantClient(url=server.url, grpc_port=server.grpc_port, prefer_grpc=request.param == "grpc", timeout=30)
    yield c
    c.close()


def _vectors(shift: float, n: int = N, seed: int = 19) -> np.ndarray:
    vecs = np.random.default_rng(seed).uniform(-1.0, 1.0, size=(n, DIM)).astype(np.float32) + shift
    return vecs / np.linalg.norm(vecs, axis=1, keepdims=True)


def _wait_green(client, name):
    return wait_green_indexed(client, name, N)


def _binary(encoding, query_encoding=None, always_ram=None):
    config = models.BinaryQuantizationConfig(encoding=encoding, query_encoding=query_encoding, always_ram=always_ram)
    return models.BinaryQuantization(binary=config)


def _create(client, name, vecs, quantization=None, vector_quantization=None, using=None):
    params = models.VectorParams(size=DIM, distance=models.Distance.COSINE, quantization_config=vector_quantization)
    client.create_collection(
        name,
        vectors_config={using: params} if using else params,
        hnsw_config=models.HnswConfigDiff(m=16, ef_construct=64),
        optimizers_config=models.OptimizersConfigDiff(indexing_threshold=0),
        quantization_config=quantization,
    )
    for start in range(0, N, 500):
        points = [
            models.PointStruct(id=i, vector={using: vecs[i].tolist()} if using else vecs[i].tolist())
            for i in range(start, min(start + 500, N))
        ]
        client.upsert(name, points=points, wait=True)
    # Indexing starts once every point is in: the graph, its frozen copy and the codes then
    # cover them all (a copy taken between batches leaves later points to an exact scan).
    client.update_collection(name, optimizers_config=models.OptimizersConfigDiff(indexing_threshold=1))
    return _wait_green(client, name)


def _wait_codes_searched(client, name, vecs):
    """Until searches run on the quantized codes (the frozen graph copy and the codes installed,
    which may follow the green status): a `rescore: false` answer then carries estimated
    scores, not the exact ones."""
    raw = models.SearchParams(quantization=models.QuantizationSearchParams(rescore=False))

    def estimated():
        found = client.query_points(name, query=vecs[0].tolist(), limit=5, search_params=raw).points
        return any(abs(p.score - float(vecs[p.id] @ vecs[0])) > 1e-4 for p in found)
    wait_until(estimated, timeout=60, what=f"searches of {name} on its quantized codes")


def _recall(client, name, vecs, quantization, using=None, shift=0.0, queries=20):
    """Recall@10 of queries drawn as the vectors were (`shift`), against exact scores."""
    hits = 0
    for q in _vectors(shift, n=queries, seed=7):
        params = models.SearchParams(quantization=quantization)
        found = client.query_points(name, query=q.tolist(), using=using, limit=10, search_params=params).points
        truth = np.argsort(-(vecs @ q))[:10]
        hits += len({p.id for p in found} & set(truth.tolist()))
        if quantization is None or quantization.rescore is not False:
            for p in found:
                assert abs(p.score - float(vecs[p.id] @ q)) < 1e-4, "rescored scores are exact"
    return hits / (queries * 10)


@pytest.mark.parametrize("encoding", ENCODINGS, ids=lambda e: e.value)
def test_collection_level_encoding_is_echoed_and_searched(qclient, collection_name, encoding):
    vecs = _vectors(0.0)
    quantization = _binary(encoding, models.BinaryQuantizationQueryEncoding.SCALAR8BITS, always_ram=True)
    info = _create(qclient, collection_name, vecs, quantization=quantization)
    echoed = info.config.quantization_config.binary
    assert echoed.encoding == encoding
    assert echoed.query_encoding == models.BinaryQuantizationQueryEncoding.SCALAR8BITS and echoed.always_ram is True
    rescored = _recall(qclient, collection_name, vecs, OVERSAMPLED)
    ignored = _recall(qclient, collection_name, vecs, models.QuantizationSearchParams(ignore=True))
    # Quantized scores: approximate, so not checked as exact; a random order would score 0.007.
    raw = _recall(qclient, collection_name, vecs, models.QuantizationSearchParams(rescore=False))
    print(f"{encoding.value}, 8-bit query: oversampling 4 {rescored}, ignore {ignored}, rescore false {raw}")
    assert rescored >= 0.8 and ignored >= 0.9 and raw >= 0.4, (rescored, ignored, raw)


@pytest.mark.parametrize("encoding", ENCODINGS, ids=lambda e: e.value)
def test_per_vector_encoding_and_patch(qclient, collection_name, encoding):
    vecs = _vectors(0.0)
    info = _create(qclient, collection_name, vecs, vector_quantization=_binary(encoding), using="text")
    echoed = info.config.params.vectors["text"].quantization_config.binary
    assert echoed.encoding == encoding and echoed.query_encoding is None and echoed.always_ram is None
    assert info.config.quantization_config is None
    assert _recall(qclient, collection_name, vecs, OVERSAMPLED, using="text") >= 0.6
    # PATCH to the other encoding with a 4-bit query: echoed, converges, searches keep answering.
    other = next(e for e in ENCODINGS if e != encoding)
    patched = _binary(other, models.BinaryQuantizationQueryEncoding.SCALAR4BITS, always_ram=False)
    qclient.update_collection(collection_name, vectors_config={"text": models.VectorParamsDiff(quantization_config=patched)})
    found = qclient.query_points(collection_name, query=vecs[3].tolist(), using="text", limit=3).points
    assert found[0].id == 3
    info = _wait_green(qclient, collection_name)
    echoed = info.config.params.vectors["text"].quantization_config.binary
    assert echoed.encoding == other and echoed.query_encoding == models.BinaryQuantizationQueryEncoding.SCALAR4BITS
    assert echoed.always_ram is False
    assert _recall(qclient, collection_name, vecs, OVERSAMPLED, using="text") >= 0.7


def test_two_bits_beat_one_bit_on_shifted_vectors(qclient, collection_name):
    # Every value positive: one bit's signs are all alike; two bits code around each mean.
    vecs = _vectors(2.0)
    _create(qclient, collection_name, vecs, quantization=_binary(models.BinaryQuantizationEncoding.ONE_BIT))
    _wait_codes_searched(qclient, collection_name, vecs)
    one_bit = _recall(qclient, collection_name, vecs, OVERSAMPLED, shift=2.0)
    recalls = {}
    for encoding in ENCODINGS:
        qclient.update_collection(collection_name, quantization_config=_binary(encoding))
        _wait_green(qclient, collection_name)
        assert qclient.get_collection(collection_name).config.quantization_config.binary.encoding == encoding
        _wait_codes_searched(qclient, collection_name, vecs)
        recalls[encoding.value] = _recall(qclient, collection_name, vecs, OVERSAMPLED, shift=2.0)
    print(f"shifted, oversampling 4: one_bit {one_bit}, {recalls}")
    assert recalls["two_bits"] > one_bit + 0.3 and recalls["one_and_half_bits"] > one_bit + 0.2, (one_bit, recalls)
    assert recalls["two_bits"] >= 0.7, recalls


def test_rest_echo_is_exact_and_unknown_encodings_are_refused(server, collection_name):
    url = f"{server.url}/collections/{collection_name}"
    vectors = {"size": 8, "distance": "Euclid"}
    for binary in [{"encoding": "three_bits"}, {"encoding": "Two_Bits"}, {"query_encoding": "scalar2bits"}]:
        r = requests.put(url, json={"vectors": vectors, "quantization_config": {"binary": binary}}, timeout=10)
        assert r.status_code == 400 and "not supported" in r.json()["status"]["error"], r.text
    assert requests.get(url, timeout=10).status_code == 404
    given = {"binary": {"encoding": "one_and_half_bits", "query_encoding": "binary", "always_ram": True}}
    r = requests.put(url, json={"vectors": vectors, "quantization_config": given}, timeout=10)
    assert r.status_code == 200, r.text
    assert requests.get(url, timeout=10).json()["result"]["config"]["quantization_config"] == given
    patched = {"binary": {"encoding": "two_bits", "query_encoding": "default"}}
    r = requests.patch(url, json={"quantization_config": patched}, timeout=10)
    assert r.status_code == 200, r.text
    assert requests.get(url, timeout=10).json()["result"]["config"]["quantization_config"] == patched
    r = requests.patch(url, json={"quantization_config": {"binary": {"encoding": "four_bits"}}}, timeout=10)
    assert r.status_code == 400 and "not supported" in r.json()["status"]["error"], r.text
    assert requests.get(url, timeout=10).json()["result"]["config"]["quantization_config"] == patched


def test_encodings_survive_a_restart(server_factory):
    srv = server_factory()
    client = QdrantClient(url=srv.url, grpc_port=srv.grpc_port, prefer_grpc=True, timeout=30)
    vecs = _vectors(1.0)
    two = _binary(models.BinaryQuantizationEncoding.TWO_BITS, models.BinaryQuantizationQueryEncoding.SCALAR8BITS, True)
    half = _binary(models.BinaryQuantizationEncoding.ONE_AND_HALF_BITS)
    _create(client, "bits", vecs, quantization=two, vector_quantization=half, using="v")
    before = _recall(client, "bits", vecs, OVERSAMPLED, using="v", shift=1.0)
    client.close()
    srv.restart()
    client = QdrantClient(url=srv.url, grpc_port=srv.grpc_port, prefer_grpc=True, timeout=30)
    # The codes are rebuilt from the vectors at open (as one bit's are): yellow until then.
    info = _wait_green(client, "bits")
    assert info.config.quantization_config.binary.encoding == models.BinaryQuantizationEncoding.TWO_BITS
    assert info.config.quantization_config.binary.query_encoding == models.BinaryQuantizationQueryEncoding.SCALAR8BITS
    per_vector = info.config.params.vectors["v"].quantization_config.binary
    assert per_vector.encoding == models.BinaryQuantizationEncoding.ONE_AND_HALF_BITS
    after = _recall(client, "bits", vecs, OVERSAMPLED, using="v", shift=1.0)
    assert after >= 0.6 and abs(after - before) <= 0.1, (before, after)
    client.close()
