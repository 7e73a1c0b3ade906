"""Quantization (issue 19, design record 020) through qdrant-client over REST and gRPC: scalar
int8 and binary collections answer searches with `quantization` search params, rescored scores
are exact, the config shows in collection info, PATCH converges while searches keep working;
product quantization (design record 029) likewise, a bad compression refused with a 400, and
an unknown binary query encoding refused by name (the 1.5/2-bit encodings: test_binary_encodings.py)."""

from __future__ import annotations

import time

import grpc
import numpy as np
import pytest
import requests
from qdrant_client import QdrantClient, models

from qhelpers import wait_green_indexed
from qdrant_client.http.exceptions import UnexpectedResponse

DIM = 32
N = 1500


@pytest.fixture(params=["rest", "grpc"])
def qclient(request, server):
    c = QdrantClient(url=server.url, grpc_port=server.grpc_port, prefer_grpc=request.param == "grpc", timeout=30)
    yield c
    c.close()


def _wait_green(client, name, n):
    return wait_green_indexed(client, name, n)


def _create(client, name, quantization, vector_name=None, vector_quantization=None, dim=DIM):
    params = models.VectorParams(size=dim, distance=models.Distance.COSINE, quantization_config=vector_quantization)
    client.create_collection(
        name,
        vectors_config={vector_name: params} if vector_name else params,
        hnsw_config=models.HnswConfigDiff(m=16, ef_construct=64),
        optimizers_config=models.OptimizersConfigDiff(indexing_threshold=1),
        quantization_config=quantization,
    )
    vecs = np.random.default_rng(19).normal(size=(N, dim)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    for start in range(0, N, 500):
        points = [
            models.PointStruct(id=i, vector={vector_name: vecs[i].tolist()} if vector_name else vecs[i].tolist())
            for i in range(start, min(start + 500, N))
        ]
        client.upsert(name, points=points, wait=True)
    return vecs, _wait_green(client, name, N)


def _recall_and_exact_scores(client, name, vecs, quantization, using=None, queries=20):
    rng = np.random.default_rng(7)
    hits = 0
    for _ in range(queries):
        q = rng.normal(size=vecs.shape[1])
        q /= np.linalg.norm(q)
        params = models.SearchParams(quantization=quantization)
        found = client.query_points(name, query=q.tolist(), using=using, limit=10, search_params=params).points
        truth = np.argsort(-(vecs @ q))[:10]
        hits += len({p.id for p in found} & set(truth.tolist()))
        if quantization is None or quantization.rescore is not False:
            for p in found:
                assert abs(p.score - float(vecs[p.id] @ q)) < 1e-4, "rescored scores are exact"
    return hits / (queries * 10)


def test_int8_collection_searches_with_quantization_params(qclient, collection_name):
    int8 = models.ScalarQuantization(scalar=models.ScalarQuantizationConfig(type=models.ScalarType.INT8, quantile=0.99, always_ram=True))
    vecs, info = _create(qclient, collection_name, int8)
    scalar = info.config.quantization_config.scalar
    assert scalar.type == models.ScalarType.INT8 and scalar.quantile == pytest.approx(0.99) and scalar.always_ram
    rescored = models.QuantizationSearchParams(rescore=True, oversampling=2.0)
    assert _recall_and_exact_scores(qclient, collection_name, vecs, rescored) >= 0.95
    assert _recall_and_exact_scores(qclient, collection_name, vecs, None) >= 0.9
    ignored = models.QuantizationSearchParams(ignore=True)
    assert _recall_and_exact_scores(qclient, collection_name, vecs, ignored) >= 0.9
    raw = models.QuantizationSearchParams(rescore=False)
    assert _recall_and_exact_scores(qclient, collection_name, vecs, raw) >= 0.8


def test_binary_per_vector_and_patch_converges(qclient, collection_name):
    binary = models.BinaryQuantization(binary=models.BinaryQuantizationConfig(always_ram=True))
    # Binary keeps one bit per dimension: it needs more dimensions than int8 to rank well.
    vecs, info = _create(qclient, collection_name, None, vector_name="text", vector_quantization=binary, dim=256)
    assert info.config.params.vectors["text"].quantization_config.binary is not None
    assert info.config.quantization_config is None
    oversampled = models.QuantizationSearchParams(rescore=True, oversampling=4.0)
    # Random Gaussian vectors are binary quantization's worst case (the true top 10 are barely
    # closer than the rest; a random order would score 0.007): well above chance, and exact scores.
    assert _recall_and_exact_scores(qclient, collection_name, vecs, oversampled, using="text") >= 0.3
    # PATCH the collection to int8: searches keep answering while it converges.
    int8 = models.ScalarQuantization(scalar=models.ScalarQuantizationConfig(type=models.ScalarType.INT8))
    qclient.update_collection(
        collection_name,
        vectors_config={"text": models.VectorParamsDiff(quantization_config=models.Disabled.DISABLED)},
        quantization_config=int8,
    )
    q = vecs[3].tolist()
    found = qclient.query_points(collection_name, query=q, using="text", limit=5).points
    assert found[0].id == 3
    info = _wait_green(qclient, collection_name, N)
    assert info.config.quantization_config.scalar.type == models.ScalarType.INT8
    assert info.config.params.vectors["text"].quantization_config is None
    # 256-d random vectors are hard for the graph itself: int8 is compared with the originals.
    rescored = models.QuantizationSearchParams(rescore=True, oversampling=2.0)
    int8_recall = _recall_and_exact_scores(qclient, collection_name, vecs, rescored, using="text")
    f32_recall = _recall_and_exact_scores(qclient, collection_name, vecs, models.QuantizationSearchParams(ignore=True), using="text")
    assert int8_recall >= 0.85 and int8_recall >= f32_recall - 0.05, (int8_recall, f32_recall)


def test_search_oversampling_below_one_is_qdrants_422(qclient, collection_name, server):
    qclient.create_collection(collection_name, vectors_config=models.VectorParams(size=DIM, distance=models.Distance.COSINE))
    body = {"query": [0.1] * DIM, "params": {"quantization": {"oversampling": 0.5}}}
    r = requests.post(f"{server.url}/collections/{collection_name}/points/query", json=body, timeout=10)
    assert r.status_code == 422, r.text
    issue = "params.quantization.oversampling: value 0.5 invalid, must be 1.0 or larger"
    assert r.json()["status"]["error"] == f"Validation error in JSON body: [{issue}]"
    # Through the client (REST 422 or gRPC INVALID_ARGUMENT), the same issue.
    low = models.SearchParams(quantization=models.QuantizationSearchParams(oversampling=0.5))
    with pytest.raises((UnexpectedResponse, grpc.RpcError)) as err:
        qclient.query_points(collection_name, query=[0.1] * DIM, search_params=low)
    if isinstance(err.value, grpc.RpcError):
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and issue in err.value.details()
    else:
        assert err.value.status_code == 422 and issue in str(err.value)


def test_product_collection_searches_and_echoes_its_config(qclient, collection_name):
    product = models.ProductQuantization(
        product=models.ProductQuantizationConfig(compression=models.CompressionRatio.X8, always_ram=True)
    )
    vecs, info = _create(qclient, collection_name, product)
    echoed = info.config.quantization_config.product
    assert echoed.compression == models.CompressionRatio.X8 and echoed.always_ram is True
    # x8 on 32 dimensions: 4 code bytes per vector (256 centroids per 2 dimensions).
    rescored = models.QuantizationSearchParams(rescore=True, oversampling=2.0)
    assert _recall_and_exact_scores(qclient, collection_name, vecs, rescored) >= 0.9
    ignored = models.QuantizationSearchParams(ignore=True)
    assert _recall_and_exact_scores(qclient, collection_name, vecs, ignored) >= 0.9
    raw = models.QuantizationSearchParams(rescore=False)
    # Table scores: approximate (so not checked as exact); a random order would score 0.007.
    assert _recall_and_exact_scores(qclient, collection_name, vecs, raw) >= 0.7


def test_binary_with_a_scalar_query_encoding(qclient, collection_name):
    encoding = models.BinaryQuantizationQueryEncoding.SCALAR8BITS
    binary = models.BinaryQuantization(binary=models.BinaryQuantizationConfig(always_ram=True, query_encoding=encoding))
    vecs, info = _create(qclient, collection_name, binary, dim=256)
    assert info.config.quantization_config.binary.query_encoding == encoding
    oversampled = models.QuantizationSearchParams(rescore=True, oversampling=4.0)
    asymmetric = _recall_and_exact_scores(qclient, collection_name, vecs, oversampled)
    # The same data with the query's signs only (test_binary_per_vector_and_patch_converges: ≥ 0.3).
    one_bit = models.BinaryQuantization(binary=models.BinaryQuantizationConfig(query_encoding=models.BinaryQuantizationQueryEncoding.BINARY))
    qclient.update_collection(collection_name, quantization_config=one_bit)
    _wait_green(qclient, collection_name, N)
    signs = _recall_and_exact_scores(qclient, collection_name, vecs, oversampled)
    assert asymmetric > signs and asymmetric >= 0.5, (asymmetric, signs)


def test_grpc_unknown_compression_ratio_is_refused(server, collection_name):
    from qdrant_client import grpc as pb

    request = pb.CreateCollection(
        collection_name=collection_name,
        vectors_config=pb.VectorsConfig(params=pb.VectorParams(size=8, distance=pb.Distance.Cosine)),
        quantization_config=pb.QuantizationConfig(product=pb.ProductQuantization(compression=99)),
    )
    with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as ch:
        with pytest.raises(grpc.RpcError) as err:
            pb.CollectionsStub(ch).Create(request, timeout=10)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "compression" in err.value.details()
    assert requests.get(f"{server.url}/collections/{collection_name}", timeout=10).status_code == 404


def _error(r):
    body = r.json()
    assert set(body) >= {"status", "time"} and isinstance(body["status"]["error"], str), body
    return body["status"]["error"]


def test_product_over_rest_patch_and_refusals(server, collection_name):
    url = f"{server.url}/collections/{collection_name}"
    vectors = {"size": 8, "distance": "Cosine"}
    for compression in ["x3", "X16", 16, None]:
        body = {"vectors": vectors, "quantization_config": {"product": {"compression": compression}}}
        r = requests.put(url, json=body, timeout=10)
        assert r.status_code == 400, r.text
        assert "compression" in _error(r)
    r = requests.put(url, json={"vectors": vectors, "quantization_config": {"product": {"always_ram": True}}}, timeout=10)
    assert r.status_code == 400 and "compression" in _error(r)
    # An unknown binary encoding or query encoding is refused by name.
    for binary in [{"encoding": "three_bits"}, {"query_encoding": "scalar2bits"}]:
        r = requests.put(url, json={"vectors": vectors, "quantization_config": {"binary": binary}}, timeout=10)
        assert r.status_code == 400 and "not supported" in _error(r), r.text
    assert requests.get(url, timeout=10).status_code == 404
    given = {"product": {"compression": "x16", "always_ram": True}}
    r = requests.put(url, json={"vectors": vectors, "quantization_config": given}, timeout=10)
    assert r.status_code == 200, r.text
    assert requests.get(url, timeout=10).json()["result"]["config"]["quantization_config"] == given
    points = [{"id": i, "vector": [float((i * 7 + d * 3) % 11) - 5.0 for d in range(8)]} for i in range(300)]
    r = requests.put(f"{url}/points?wait=true", json={"points": points}, timeout=30)
    assert r.status_code == 200, r.text
    # PATCH: disabled, then product per vector; a bad compression is refused and changes nothing.
    r = requests.patch(url, json={"quantization_config": "Disabled"}, timeout=10)
    assert r.status_code == 200 and requests.get(url, timeout=10).json()["result"]["config"].get("quantization_config") is None
    per_vector = {"product": {"compression": "x4"}}
    r = requests.patch(url, json={"vectors": {"": {"quantization_config": per_vector}}}, timeout=10)
    assert r.status_code == 200, r.text
    r = requests.patch(url, json={"vectors": {"": {"quantization_config": {"product": {"compression": "x128"}}}}}, timeout=10)
    assert r.status_code == 400 and "compression" in _error(r)
    deadline = time.time() + 60
    while (info := requests.get(url, timeout=10).json()["result"])["status"] != "green":
        assert time.time() < deadline, info
        time.sleep(0.05)
    assert info["config"]["params"]["vectors"]["quantization_config"] == per_vector
    q = points[5]["vector"]
    for params in [{}, {"quantization": {"rescore": False}}, {"quantization": {"rescore": True, "oversampling": 4}}]:
        r = requests.post(f"{url}/points/query", json={"query": q, "limit": 3, "params": params}, timeout=10)
        assert r.status_code == 200, r.text
        assert r.json()["result"]["points"][0]["score"] == pytest.approx(1.0, abs=1e-2)


def test_restart_loads_the_saved_graph_and_kill_rebuilds_a_damaged_one(server_factory):
    """Design record 020: after a restart the saved HNSW index serves at once (every vector
    indexed, same results); a damaged graph file is not trusted but rebuilt."""
    srv = server_factory()
    client = QdrantClient(url=srv.url, prefer_grpc=False, timeout=30)
    int8 = models.ScalarQuantization(scalar=models.ScalarQuantizationConfig(type=models.ScalarType.INT8))
    vecs, _ = _create(client, "saved", int8, dim=64)
    qs = np.random.default_rng(3).normal(size=(10, 64)).tolist()
    before = [[p.id for p in client.query_points("saved", query=q, limit=10).points] for q in qs]
    # The indexer saves the graph after a checkpoint (each `flush_interval_sec`): wait for it.
    deadline = time.time() + 60
    while not list(srv.storage_path.rglob("graphs/vector-.meta")):
        assert time.time() < deadline, "graph not saved"
        time.sleep(0.1)
    client.close()
    srv.restart()
    client = QdrantClient(url=srv.url, prefer_grpc=False, timeout=30)
    # The graph is restored at open: every vector indexed on the first request. The int8 copy
    # is rebuilt after the restart, so the status may be yellow for a moment.
    info = client.get_collection("saved")
    assert info.indexed_vectors_count == N, info
    _wait_green(client, "saved", N)
    after = [[p.id for p in client.query_points("saved", query=q, limit=10).points] for q in qs]
    overlap = sum(len(set(a) & set(b)) for a, b in zip(before, after)) / (10 * len(qs))
    assert overlap >= 0.95, overlap
    client.close()
    srv.stop()
    for graph in srv.storage_path.rglob("graphs/vector-.usearch"):
        data = bytearray(graph.read_bytes())
        data[len(data) // 2] ^= 0x5A
        graph.write_bytes(bytes(data))
    srv.start()
    client = QdrantClient(url=srv.url, prefer_grpc=False, timeout=30)
    _wait_green(client, "saved", N)
    found = client.query_points("saved", query=vecs[7].tolist(), limit=1).points
    assert found[0].id == 7
    assert "saved HNSW index not usable" in srv.log_tail(200)
    client.close()
