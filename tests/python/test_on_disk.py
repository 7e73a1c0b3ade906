"""`on_disk` vectors and `hnsw_config.on_disk` (issue 19 item 3, design record 025) through
qdrant-client over REST and gRPC: a collection whose originals live in memory-mapped scratch
files takes writes, survives SIGKILL in the middle of them with every acknowledged point and
its vectors, is rebuilt at restart, and answers searches as a collection in RAM with the same
data does. PATCH of `on_disk` moves the vectors while they keep being served."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from qdrant_client import QdrantClient, models

from qhelpers import mapped_files

DIM = 32
ROWS_DIM = 8
N = 3000
BATCH = 50


def _client(srv, protocol: str) -> QdrantClient:
    return QdrantClient(url=srv.url, grpc_port=srv.grpc_port, prefer_grpc=protocol == "grpc", timeout=30)


def _data():
    rng = np.random.default_rng(25)
    dense = rng.normal(size=(N, DIM)).astype(np.float32)
    rows = rng.integers(0, 64, size=(N, 3, ROWS_DIM)).astype(np.float32) / 8.0  # exact in float16
    return dense, rows


def _create(client: QdrantClient, name: str, on_disk: bool) -> None:
    client.create_collection(
        name,
        vectors_config={
            "dense": models.VectorParams(size=DIM, distance=models.Distance.COSINE, on_disk=on_disk),
            "rows": models.VectorParams(
                size=ROWS_DIM,
                distance=models.Distance.DOT,
                on_disk=on_disk,
                datatype=models.Datatype.FLOAT16,
                multivector_config=models.MultiVectorConfig(comparator=models.MultiVectorComparator.MAX_SIM),
            ),
        },
        hnsw_config=models.HnswConfigDiff(m=16, ef_construct=64, on_disk=on_disk),
        optimizers_config=models.OptimizersConfigDiff(indexing_threshold=1),
        # Payloads mapped too with `on_disk` (they are by default, design record 037): the
        # in-RAM collection maps nothing.
        on_disk_payload=on_disk,
    )


def _points(data, start: int, end: int):
    dense, rows = data
    return [
        models.PointStruct(id=i, vector={"dense": dense[i].tolist(), "rows": rows[i].tolist()}, payload={"i": i})
        for i in range(start, end)
    ]


class Writer(threading.Thread):
    """Upserts batches with wait=true from `start` until the server goes away."""

    def __init__(self, client: QdrantClient, name: str, data, start: int):
        super().__init__(daemon=True)
        self.client, self.name, self.data, self.next = client, name, data, start
        self.acked_until = start  # points below this were acknowledged
        self.died = False
        self.cond = threading.Condition()

    def run(self):
        while self.next < N:
            try:
                self.client.upsert(self.name, points=_points(self.data, self.next, self.next + BATCH), wait=True)
            except Exception:  # the server was killed: any client error ends the writer
                self.died = True
                return
            with self.cond:
                self.next += BATCH
                self.acked_until = self.next
                self.cond.notify_all()

    def wait_acked(self, n: int, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        with self.cond:
            while self.acked_until < n and self.is_alive() and time.monotonic() < deadline:
                self.cond.wait(0.5)
        assert self.acked_until >= n, f"only {self.acked_until} points acknowledged"


def _retrieve(client: QdrantClient, name: str, ids: list[int]):
    got = {}
    for start in range(0, len(ids), 500):
        for p in client.retrieve(name, ids=ids[start : start + 500], with_vectors=True, with_payload=True):
            got[p.id] = p
    return got


def _assert_same_points(client: QdrantClient, disk: str, ram: str, ids: list[int]) -> None:
    a, b = _retrieve(client, disk, ids), _retrieve(client, ram, ids)
    assert sorted(a) == ids, f"{len(ids) - len(a)} acknowledged points missing"
    for i in ids:
        assert a[i].payload == b[i].payload == {"i": i}
        assert a[i].vector["dense"] == pytest.approx(b[i].vector["dense"], abs=1e-6)
        assert a[i].vector["rows"] == b[i].vector["rows"]


def _wait_green(client: QdrantClient, name: str) -> None:
    deadline = time.time() + 90
    while True:
        info = client.get_collection(name)
        if info.status == models.CollectionStatus.GREEN and info.indexed_vectors_count >= N:
            return
        assert time.time() < deadline, f"{name} not indexed: {info.status} {info.indexed_vectors_count}"
        time.sleep(0.1)


def _assert_same_searches(client: QdrantClient, disk: str, ram: str) -> None:
    rng = np.random.default_rng(3)
    overlap = 0
    for _ in range(20):
        q = rng.normal(size=DIM).tolist()
        qrows = (rng.integers(0, 64, size=(2, ROWS_DIM)) / 8.0).tolist()
        exact = models.SearchParams(exact=True)
        for query, using in [(q, "dense"), (qrows, "rows")]:
            a = client.query_points(disk, query=query, using=using, limit=10, search_params=exact).points
            b = client.query_points(ram, query=query, using=using, limit=10, search_params=exact).points
            assert [(p.id, round(p.score, 4)) for p in a] == [(p.id, round(p.score, 4)) for p in b]
        # Through the graphs (built apart, so compared by overlap), scores exact in both.
        a = client.query_points(disk, query=q, using="dense", limit=10).points
        b = client.query_points(ram, query=q, using="dense", limit=10).points
        overlap += len({p.id for p in a} & {p.id for p in b})
    assert overlap / 200 >= 0.9, f"graph results overlap {overlap / 200}"


@pytest.mark.parametrize("protocol", ["rest", "grpc"])
def test_on_disk_collection_survives_sigkill_and_searches_like_ram(server_factory, protocol):
    srv = server_factory()
    client = _client(srv, protocol)
    data = _data()
    _create(client, "disk", on_disk=True)
    _create(client, "ram", on_disk=False)
    for start in range(0, N, 500):
        client.upsert("ram", points=_points(data, start, start + 500), wait=True)
    writer = Writer(client, "disk", data, 0)
    writer.start()
    writer.wait_acked(N // 2)
    files = mapped_files(srv)
    assert any("/collections/disk/" in f for f in files) and not any("/collections/ram/" in f for f in files), files
    srv.kill()  # SIGKILL while the writer streams
    writer.join(timeout=40)
    assert writer.died, "the kill did not interrupt the writer"
    acked = writer.acked_until
    srv.start()
    client = _client(srv, protocol)
    info = client.get_collection("disk")
    assert info.config.params.vectors["dense"].on_disk and info.config.hnsw_config.on_disk
    _assert_same_points(client, "disk", "ram", list(range(acked)))
    for start in range(acked, N, 500):
        client.upsert("disk", points=_points(data, start, min(start + 500, N)), wait=True)
    _wait_green(client, "disk")
    _wait_green(client, "ram")
    _assert_same_searches(client, "disk", "ram")


def test_patching_on_disk_moves_vectors_and_keeps_serving(server, collection_name):
    client = _client(server, "rest")
    data = _data()
    _create(client, collection_name, on_disk=False)
    client.upsert(collection_name, points=_points(data, 0, 1000), wait=True)
    before = _retrieve(client, collection_name, list(range(1000)))
    client.update_collection(collection_name, vectors_config={"dense": models.VectorParamsDiff(on_disk=True)})
    info = client.get_collection(collection_name)
    assert info.config.params.vectors["dense"].on_disk is True
    assert any(f"/collections/{collection_name}/" in f for f in mapped_files(server))
    after = _retrieve(client, collection_name, list(range(1000)))
    assert all(after[i].vector == before[i].vector for i in range(1000))
    client.update_collection(collection_name, vectors_config={"dense": models.VectorParamsDiff(on_disk=False)})
    assert not any(f"/collections/{collection_name}/" in f for f in mapped_files(server))
    hits = client.query_points(collection_name, query=data[0][7].tolist(), using="dense", limit=1).points
    assert hits[0].id == 7
