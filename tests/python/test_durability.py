"""Graceful restart keeps everything (collections, config, points, payloads, vectors, aliases)."""

import uuid

import numpy as np
import pytest
from qdrant_client import QdrantClient, models

from qhelpers import Rest


def _client(srv):
    # no background version check: it could race with the restarts below
    return QdrantClient(url=srv.url, prefer_grpc=False, timeout=30, check_compatibility=False)


def _snapshot_state(c: QdrantClient, name: str):
    pts = []
    offset = None
    while True:
        page, offset = c.scroll(name, limit=64, offset=offset, with_payload=True, with_vectors=True)
        pts.extend(page)
        if offset is None:
            break

    def norm_vec(v):
        if isinstance(v, dict):
            out = {}
            for k, x in v.items():
                if isinstance(x, models.SparseVector):
                    out[k] = ("sparse", tuple(x.indices), tuple(round(y, 5) for y in x.values))
                else:
                    out[k] = tuple(round(y, 5) for y in x)
            return out
        return tuple(round(y, 5) for y in v)

    return {p.id: (p.payload, norm_vec(p.vector)) for p in pts}


def test_restart_keeps_everything(server_factory):
    srv = server_factory()
    c = _client(srv)
    rest = Rest(srv.url)
    rng = np.random.default_rng(1)

    # collection 1: unnamed vector, 2 shards, custom hnsw / optimizer config
    c.create_collection(
        "plain",
        vectors_config=models.VectorParams(size=5, distance=models.Distance.EUCLID),
        shard_number=2,
        hnsw_config=models.HnswConfigDiff(m=20),
        optimizers_config=models.OptimizersConfigDiff(indexing_threshold=4321),
    )
    vecs = rng.normal(size=(150, 5)).astype(np.float32)
    c.upsert(
        "plain",
        points=models.Batch(ids=list(range(150)), vectors=vecs.tolist(), payloads=[{"i": i, "s": f"v{i}", "nested": {"x": [i, i + 1]}} for i in range(150)]),
        wait=True,
    )
    # mutate after insert: delete, payload update, vector update
    c.delete("plain", points_selector=models.PointIdsList(points=[0, 1, 2]), wait=True)
    c.set_payload("plain", payload={"extra": True}, points=[10, 11], wait=True)
    c.update_vectors("plain", points=[models.PointVectors(id=20, vector=[9, 9, 9, 9, 9])], wait=True)
    c.update_collection("plain", hnsw_config=models.HnswConfigDiff(ef_construct=123), metadata={"owner": "e2e", "v": 1})
    c.create_payload_index("plain", "i", field_schema=models.PayloadSchemaType.INTEGER, wait=True)

    # collection 2: named + sparse vectors, uuid ids
    c.create_collection(
        "named",
        vectors_config={"img": models.VectorParams(size=3, distance=models.Distance.COSINE), "txt": models.VectorParams(size=2, distance=models.Distance.DOT)},
        sparse_vectors_config={"sp": models.SparseVectorParams()},
    )
    uuids = [str(uuid.uuid4()) for _ in range(20)]
    c.upsert(
        "named",
        points=[
            models.PointStruct(
                id=u,
                vector={"img": [1.0, float(k), 2.0], "txt": [float(k), -1.0], "sp": models.SparseVector(indices=[k, k + 100], values=[0.5, 1.5])},
                payload={"k": k},
            )
            for k, u in enumerate(uuids)
        ],
        wait=True,
    )
    c.delete_vectors("named", vectors=["txt"], points=[uuids[0]], wait=True)

    # empty collection and an alias
    c.create_collection("empty", vectors_config=models.VectorParams(size=2, distance=models.Distance.MANHATTAN))
    c.update_collection_aliases(
        change_aliases_operations=[
            models.CreateAliasOperation(create_alias=models.CreateAlias(collection_name="plain", alias_name="plain_alias")),
            models.CreateAliasOperation(create_alias=models.CreateAlias(collection_name="named", alias_name="named_alias")),
        ]
    )
    # a collection that is deleted before restart must stay deleted
    c.create_collection("gone", vectors_config=models.VectorParams(size=2, distance=models.Distance.DOT))
    c.upsert("gone", points=[models.PointStruct(id=1, vector=[1, 1])], wait=True)
    c.delete_collection("gone")

    before = {n: _snapshot_state(c, n) for n in ("plain", "named", "empty")}
    info_before = {n: rest.ok("GET", f"/collections/{n}")["config"] for n in ("plain", "named", "empty")}
    assert len(before["plain"]) == 147 and len(before["named"]) == 20
    c.close()

    for cycle in range(2):
        srv.restart()
        c = _client(srv)
        rest = Rest(srv.url)
        names = {x.name for x in c.get_collections().collections}
        assert names == {"plain", "named", "empty"}, f"cycle {cycle}: collections after restart: {names}"
        for n in ("plain", "named", "empty"):
            after = _snapshot_state(c, n)
            assert after == before[n], f"cycle {cycle}: collection {n} differs after restart"
            cfg = rest.ok("GET", f"/collections/{n}")["config"]
            assert cfg["params"] == info_before[n]["params"], f"{n} params changed across restart"
            assert cfg["hnsw_config"] == info_before[n]["hnsw_config"]
            assert cfg["optimizer_config"] == info_before[n]["optimizer_config"]
        assert c.get_collection("plain").config.hnsw_config.ef_construct == 123
        raw_plain = rest.ok("GET", "/collections/plain")
        assert raw_plain["config"].get("metadata") == {"owner": "e2e", "v": 1}
        assert raw_plain["payload_schema"].get("i", {}).get("data_type") == "integer", raw_plain["payload_schema"]
        assert c.count("plain", count_filter=models.Filter(must=[models.FieldCondition(key="i", range=models.Range(lt=10))])).count == 7
        assert c.get_collection("plain").config.hnsw_config.m == 20
        assert c.get_collection("plain").config.optimizer_config.indexing_threshold == 4321
        assert c.count("plain").count == 147
        aliases = {(a.alias_name, a.collection_name) for a in c.get_aliases().aliases}
        assert aliases == {("plain_alias", "plain"), ("named_alias", "named")}
        assert c.count("plain_alias").count == 147
        # search still works and agrees with brute force
        q = rng.normal(size=5).astype(np.float32)
        hits = c.query_points("plain", query=q.tolist(), limit=3).points
        live = {pid: np.array(v) for pid, (_, v) in before["plain"].items()}
        d = sorted((float(np.linalg.norm(v - q)), pid) for pid, v in live.items())
        assert [h.id for h in hits] == [pid for _, pid in d[:3]]
        # the server accepts writes after restart; they also survive the next restart
        c.upsert("empty", points=[models.PointStruct(id=cycle, vector=[cycle, 1.0])], wait=True)
        before["empty"] = _snapshot_state(c, "empty")
        c.close()
    assert set(before["empty"]) == {0, 1}


def test_restart_after_wait_false_writes(server_factory):
    """Acknowledged (wait=false) writes followed by a graceful stop are not lost."""
    srv = server_factory()
    rest = Rest(srv.url)
    rest.ok("PUT", "/collections/async", json={"vectors": {"size": 2, "distance": "Dot"}})
    for b in range(10):
        res = rest.ok(
            "PUT",
            "/collections/async/points?wait=false",
            json={"points": [{"id": b * 10 + j, "vector": [b, j], "payload": {"b": b}} for j in range(10)]},
        )
        assert res["status"] in ("acknowledged", "completed")
    srv.restart()
    rest = Rest(srv.url)
    assert rest.ok("POST", "/collections/async/points/count", json={})["count"] == 100
    got = rest.ok("POST", "/collections/async/points", json={"ids": [57], "with_vector": True})
    assert got[0]["payload"] == {"b": 5} and got[0]["vector"] == pytest.approx([5, 7])
