"""The gRPC API (port 6334, spec §9) through Python `qdrant-client` with `prefer_grpc=True`.

1. The REST suite's client scenarios run again here with a gRPC client: the test functions of
   the REST modules are imported, and this module's `client` fixture (which overrides the REST
   one from conftest) makes every `client.*` call go over gRPC. Raw-REST checks inside them
   (`rest` fixture) still go over REST, which makes them cross-transport checks too.
2. gRPC-specific checks: status codes and messages, health, snapshots and vector-name RPCs.
3. Parity: the same requests over REST and gRPC return the same points, scores and errors.
"""

from __future__ import annotations

import grpc
import numpy as np
import pytest
from qdrant_client import QdrantClient, models
from qdrant_client.grpc import HealthCheckRequest, QdrantStub, SnapshotsStub, ListSnapshotsRequest
from qdrant_client import grpc as pb

# --- 1. the REST suite's scenarios, re-run over gRPC -------------------------------------------
from test_collections import (  # noqa: F401
    test_aliases_lifecycle,
    test_create_named_vectors_and_sparse,
    test_create_shard_number_and_factors,
    test_create_single_vector_each_distance,
    test_create_sparse_only,
    test_delete_collection,
    test_list_and_exists,
    test_update_collection_patch,
)
from test_filters import fcoll, test_dataset_sanity, test_filter_case  # noqa: F401
from test_points import (  # noqa: F401
    test_batch_update_points,
    test_concurrent_upserts_from_many_threads,
    test_delete_by_ids_and_filter,
    test_duplicate_ids_in_one_request_last_wins,
    test_get_point_by_id,
    test_payload_and_vector_selectors,
    test_payload_json_types_round_trip,
    test_payload_operations,
    test_retrieve_many_skips_missing,
    test_update_and_delete_named_vectors,
    test_update_filter_conditional_upsert,
    test_update_mode_insert_only_and_update_only,
    test_upsert_batch_form,
    test_upsert_list_and_retrieve,
    test_upsert_overwrites_existing_point,
    test_uuid_ids_in_filters_and_deletes,
    test_uuid_ids_round_trip_canonical,
    test_wait_false_acknowledged,
)
from test_query_extras import (  # noqa: F401
    test_query_order_by,
    test_query_prefetch_fusion,
    test_query_recommend_average_vector,
)
from test_search_index import test_groups_with_lookup, test_query_points_groups  # noqa: F401
from test_scroll_count import (  # noqa: F401
    test_count_exact_with_and_without_filter,
    test_payload_index_create_and_delete,
    test_scroll_order_by,
    test_scroll_pagination_visits_every_point_once,
    test_scroll_uuid_ids_pagination,
    test_scroll_with_filter_and_vectors,
)
from test_search import (  # noqa: F401
    test_legacy_search_endpoints,
    test_legacy_search_named_vector,
    test_query_batch,
    test_query_by_point_id,
    test_query_dense_matches_brute_force,
    test_query_named_and_sparse,
    test_query_offset_threshold_filter,
    test_query_request_params_accepted,
    test_query_with_payload_and_vectors_flags,
    test_query_without_query_returns_points_by_id,
)


def rest_error(rest, method: str, path: str, body) -> str:
    """The error message of a REST request that must fail."""
    r = rest.req(method, path, json=body)
    assert r.status_code >= 400, r.text
    return r.json()["status"]["error"]


def grpc_client(server) -> QdrantClient:
    return QdrantClient(url=server.url, grpc_port=server.grpc_port, prefer_grpc=True, timeout=30)


@pytest.fixture
def client(server):
    """Overrides conftest's REST client: every scenario above talks gRPC."""
    c = grpc_client(server)
    yield c
    c.close()


@pytest.fixture
def rest_client(server):
    c = QdrantClient(url=server.url, prefer_grpc=False, timeout=30)
    yield c
    c.close()


def channel(server) -> grpc.Channel:
    return grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}")


# --- 2. gRPC specifics ---------------------------------------------------------------------------


def test_health_check_and_standard_health_service(server):
    with channel(server) as ch:
        reply = QdrantStub(ch).HealthCheck(HealthCheckRequest(), timeout=10)
        assert reply.title == "qdrant - vector search engine"
        assert reply.version.startswith("1.")
        check = ch.unary_unary(
            "/grpc.health.v1.Health/Check",
            request_serializer=lambda _: b"",
            response_deserializer=lambda b: b,
        )
        # HealthCheckResponse{status: SERVING} is field 1 = 1.
        assert check(None, timeout=10) == b"\x08\x01"


def test_status_codes_and_messages(client, rest, collection_name):
    with pytest.raises(Exception) as e:
        client.get_collection(collection_name)
    assert e.value.code() == grpc.StatusCode.NOT_FOUND
    assert e.value.details() == f"Not found: Collection `{collection_name}` doesn't exist!"
    client.create_collection(collection_name, vectors_config=models.VectorParams(size=4, distance=models.Distance.DOT))
    with pytest.raises(Exception) as e:
        client.create_collection(collection_name, vectors_config=models.VectorParams(size=4, distance=models.Distance.DOT))
    assert e.value.code() == grpc.StatusCode.ALREADY_EXISTS
    assert e.value.details() == f"Wrong input: Collection `{collection_name}` already exists!"
    with pytest.raises(Exception) as e:
        client.upsert(collection_name, points=[models.PointStruct(id=1, vector=[1.0, 2.0])], wait=True)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    rest_message = rest_error(
        rest, "PUT", f"/collections/{collection_name}/points?wait=true", {"points": [{"id": 1, "vector": [1.0, 2.0]}]}
    )
    assert e.value.details() == rest_message


def test_snapshot_and_vector_name_rpcs(server, client, rest, collection_name):
    client.create_collection(collection_name, vectors_config=models.VectorParams(size=2, distance=models.Distance.DOT))
    with channel(server) as ch:
        listed = SnapshotsStub(ch).List(ListSnapshotsRequest(collection_name=collection_name), timeout=10)
    assert list(listed.snapshot_descriptions) == []
    snap = client.create_snapshot(collection_name)
    assert [s.name for s in client.list_snapshots(collection_name)] == [snap.name]
    assert client.delete_snapshot(collection_name, snap.name)
    # The named-vector RPCs are served (no RPC answers Unimplemented any more), with REST's texts.
    request = pb.DeleteVectorNameRequest(collection_name=collection_name, vector_name="image")
    with channel(server) as ch, pytest.raises(grpc.RpcError) as e:
        pb.PointsStub(ch).DeleteVectorName(request, timeout=10)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert e.value.details() == rest_error(rest, "DELETE", f"/collections/{collection_name}/vectors/image", None)
    dense = pb.DenseVectorCreationConfig(size=3, distance=pb.Distance.Cosine)
    create = pb.CreateVectorNameRequest(collection_name=collection_name, vector_name="image", dense_config=dense, wait=True)
    with channel(server) as ch:
        pb.PointsStub(ch).CreateVectorName(create, timeout=10)
        pb.PointsStub(ch).DeleteVectorName(request, timeout=10)
        pb.PointsStub(ch).CreateVectorName(create, timeout=10)
    assert client.get_collection(collection_name).config.params.vectors["image"].size == 3


def test_metrics_count_grpc_responses(server, client, rest, collection_name):
    import re

    def counter(text: str, name: str, endpoint: str) -> int:
        m = re.search(rf'^{name}{{endpoint="{re.escape(endpoint)}"}} (\d+)$', text, re.M)
        return int(m.group(1)) if m else 0

    before = rest.get("/metrics").text
    client.create_collection(collection_name, vectors_config=models.VectorParams(size=2, distance=models.Distance.DOT))
    client.count(collection_name)
    with pytest.raises(Exception):
        client.count("missing_" + collection_name)
    after = rest.get("/metrics").text
    count = "/qdrant.Points/Count"
    assert counter(after, "grpc_responses_total", count) - counter(before, "grpc_responses_total", count) == 2
    assert counter(after, "grpc_responses_fail_total", count) - counter(before, "grpc_responses_fail_total", count) == 1


def test_cluster_info_over_grpc(server, collection_name):
    from qdrant_client.grpc import CollectionClusterInfoRequest, CollectionsStub

    c = grpc_client(server)
    c.create_collection(
        collection_name, vectors_config=models.VectorParams(size=2, distance=models.Distance.DOT), shard_number=3
    )
    with channel(server) as ch:
        info = CollectionsStub(ch).CollectionClusterInfo(
            CollectionClusterInfoRequest(collection_name=collection_name), timeout=10
        )
    assert info.shard_count == 3
    assert sorted(s.shard_id for s in info.local_shards) == [0, 1, 2]
    c.close()


def test_large_message_accepted(client, collection_name):
    """Bigger than gRPC's default 4 MiB decode limit, below the REST body limit."""
    client.create_collection(collection_name, vectors_config=models.VectorParams(size=256, distance=models.Distance.DOT))
    rng = np.random.default_rng(7)
    vectors = rng.random((5000, 256), dtype=np.float32)  # ~5.2 MB of floats in one request
    client.upsert(
        collection_name,
        points=[models.PointStruct(id=i, vector=v.tolist()) for i, v in enumerate(vectors)],
        wait=True,
    )
    assert client.count(collection_name).count == 5000


def test_gzip_requests_and_responses(server, collection_name):
    c = QdrantClient(
        url=server.url, grpc_port=server.grpc_port, prefer_grpc=True, timeout=30, grpc_compression=grpc.Compression.Gzip
    )
    c.create_collection(collection_name, vectors_config=models.VectorParams(size=4, distance=models.Distance.DOT))
    c.upsert(collection_name, points=[models.PointStruct(id=i, vector=[float(i), 1.0, 0.0, 0.5]) for i in range(50)])
    assert [p.id for p in c.query_points(collection_name, query=[1.0, 0.0, 0.0, 0.0], limit=3).points] == [49, 48, 47]
    c.close()


# --- 3. parity: REST and gRPC answer the same ------------------------------------------------------


def _seed(c: QdrantClient, name: str):
    rng = np.random.default_rng(11)
    c.create_collection(name, vectors_config=models.VectorParams(size=8, distance=models.Distance.COSINE), shard_number=2)
    pts = [
        models.PointStruct(id=i, vector=rng.random(8).tolist(), payload={"g": i % 3, "tag": f"t{i % 5}"})
        for i in range(200)
    ]
    c.upsert(name, points=pts, wait=True)
    return rng


def _same(a, b):
    assert [p.id for p in a] == [p.id for p in b]
    for x, y in zip(a, b):
        assert x.score == pytest.approx(y.score, abs=1e-6)
        assert x.payload == y.payload


def test_parity_reads(client, rest_client, collection_name):
    rng = _seed(rest_client, collection_name)
    flt = models.Filter(must=[models.FieldCondition(key="g", match=models.MatchValue(value=1))])
    for _ in range(5):
        q = rng.random(8).tolist()
        kw = dict(query=q, query_filter=flt, limit=7, with_payload=True)
        _same(rest_client.query_points(collection_name, **kw).points, client.query_points(collection_name, **kw).points)
    kw = dict(scroll_filter=flt, limit=13, with_payload=True)
    r_pts, r_next = rest_client.scroll(collection_name, **kw)
    g_pts, g_next = client.scroll(collection_name, **kw)
    assert [p.id for p in r_pts] == [p.id for p in g_pts] and r_next == g_next
    assert rest_client.count(collection_name, count_filter=flt).count == client.count(collection_name, count_filter=flt).count
    ids = [3, 5, 999]
    assert [(p.id, p.payload) for p in rest_client.retrieve(collection_name, ids)] == [
        (p.id, p.payload) for p in client.retrieve(collection_name, ids)
    ]
    fused = dict(
        prefetch=[models.Prefetch(query=rng.random(8).tolist(), limit=20), models.Prefetch(query=[1.0] * 8, limit=20)],
        query=models.FusionQuery(fusion=models.Fusion.RRF),
        limit=10,
    )
    _same(rest_client.query_points(collection_name, **fused).points, client.query_points(collection_name, **fused).points)


def test_parity_errors(server, rest, collection_name):
    """The same bad requests fail with the same message over both transports (but for the words
    naming where a validation error is)."""
    g = grpc_client(server)
    g.create_collection(collection_name, vectors_config=models.VectorParams(size=3, distance=models.Distance.DOT))
    cases = [
        (
            lambda: g.query_points(collection_name, query=[1.0, 2.0], limit=3),
            ("POST", f"/collections/{collection_name}/points/query", {"query": [1.0, 2.0], "limit": 3}),
        ),
        (
            lambda: g.query_points("missing_" + collection_name, query=[1.0, 2.0, 3.0]),
            ("POST", f"/collections/missing_{collection_name}/points/query", {"query": [1.0, 2.0, 3.0]}),
        ),
        (
            lambda: g.scroll(collection_name, limit=0),
            ("POST", f"/collections/{collection_name}/points/scroll", {"limit": 0}),
        ),
    ]
    for call, (method, path, body) in cases:
        with pytest.raises(Exception) as e:
            call()
        # Qdrant's gRPC edge words a validation error `Validation error in body` (one body, no
        # path or query string); the rest of the message is REST's.
        rest_message = rest_error(rest, method, path, body)
        rest_message = rest_message.replace("Validation error in JSON body", "Validation error in body")
        assert e.value.details() == rest_message
    g.close()


# --- 4. cluster mode ---------------------------------------------------------------------------------


def test_cluster_create_write_read_over_grpc():
    """The seed's Python snippet over gRPC on a 3-peer cluster: 6 shards × 2 replicas placed over
    the peers; a write through one peer is read through another; the cluster view over gRPC."""
    from cluster_harness import Cluster, wait_until
    from qdrant_client.grpc import CollectionClusterInfoRequest, CollectionsStub

    with Cluster(3) as c:
        clients = [
            QdrantClient(url=p.url, grpc_port=p.grpc_port, prefer_grpc=True, timeout=30) for p in c.peers
        ]
        client = clients[0]
        client.create_collection(
            collection_name="seed",
            vectors_config=models.VectorParams(size=300, distance=models.Distance.COSINE),
            shard_number=6,
            replication_factor=2,
        )
        infos = []
        for p in c.peers:
            with grpc.insecure_channel(f"127.0.0.1:{p.grpc_port}") as ch:
                infos.append(CollectionsStub(ch).CollectionClusterInfo(
                    CollectionClusterInfoRequest(collection_name="seed"), timeout=10
                ))
        for info in infos:
            assert info.shard_count == 6
            assert len(info.local_shards) + len(info.remote_shards) == 12
        assert sum(len(i.local_shards) for i in infos) == 12
        rng = np.random.default_rng(3)
        points = [models.PointStruct(id=i, vector=rng.random(300).tolist(), payload={"i": i}) for i in range(60)]
        clients[1].upsert("seed", points=points, wait=True)
        wait_until(lambda: clients[2].count("seed").count == 60, timeout=20, desc="count on peer 3")
        got = clients[2].query_points("seed", query=points[7].vector, limit=1).points
        assert got[0].id == 7
        # The seed's cluster operations over gRPC: add a replica of shard 0 where it is missing,
        # then drop one of the original replicas.
        holders = {s.peer_id for s in infos[0].remote_shards if s.shard_id == 0}
        holders |= {infos[0].peer_id for s in infos[0].local_shards if s.shard_id == 0}
        source = min(holders)
        target = next(i.peer_id for i in infos if i.peer_id not in holders)
        assert client.cluster_collection_update(
            "seed",
            cluster_operation=models.ReplicateShardOperation(
                replicate_shard=models.ReplicateShard(shard_id=0, from_peer_id=source, to_peer_id=target)
            ),
        )

        def shard0_states():
            with grpc.insecure_channel(f"127.0.0.1:{c.peers[0].grpc_port}") as ch:
                info = CollectionsStub(ch).CollectionClusterInfo(
                    CollectionClusterInfoRequest(collection_name="seed"), timeout=10
                )
            states = {s.peer_id: s.state for s in info.remote_shards if s.shard_id == 0}
            states.update({info.peer_id: s.state for s in info.local_shards if s.shard_id == 0})
            return states if not info.shard_transfers else None

        active = 0  # ReplicaState.Active in the proto enum
        wait_until(lambda: (st := shard0_states()) and set(st) == holders | {target}
                   and set(st.values()) == {active}, timeout=30, desc="new replica Active")
        assert client.cluster_collection_update(
            "seed", cluster_operation=models.DropReplicaOperation(
                drop_replica=models.Replica(shard_id=0, peer_id=source))
        )
        wait_until(lambda: (st := shard0_states()) and set(st) == (holders - {source}) | {target},
                   timeout=30, desc="replica dropped")
        assert clients[2].count("seed").count == 60
        for cl in clients:
            cl.close()


def test_search_and_recommend_groups_over_grpc(server, client, collection_name):
    """The legacy grouped RPCs (`SearchGroups`, `RecommendGroups`), with `with_lookup`."""
    rng = np.random.default_rng(3)
    vecs = rng.normal(size=(60, 4)).astype(np.float32)
    client.create_collection(collection_name, vectors_config=models.VectorParams(size=4, distance=models.Distance.DOT))
    client.upsert(
        collection_name,
        points=[models.PointStruct(id=i, vector=vecs[i].tolist(), payload={"g": i % 4}) for i in range(60)],
        wait=True,
    )
    docs = f"{collection_name}_docs"
    client.create_collection(docs, vectors_config=models.VectorParams(size=2, distance=models.Distance.DOT))
    try:
        client.upsert(docs, points=[models.PointStruct(id=d, vector=[1.0, 0.0], payload={"d": d}) for d in range(4)], wait=True)
        lookup = pb.WithLookup(collection=docs, with_payload=pb.WithPayloadSelector(enable=True))
        with channel(server) as ch:
            stub = pb.PointsStub(ch)
            found = stub.SearchGroups(
                pb.SearchPointGroups(
                    collection_name=collection_name, vector=vecs[0].tolist(), limit=4, group_by="g", group_size=2,
                    with_payload=pb.WithPayloadSelector(enable=True), with_lookup=lookup,
                ),
                timeout=10,
            )
            rec = stub.RecommendGroups(
                pb.RecommendPointGroups(
                    collection_name=collection_name, positive=[pb.PointId(num=1)], limit=2, group_by="g", group_size=3,
                    with_payload=pb.WithPayloadSelector(enable=True),
                ),
                timeout=10,
            )
            with pytest.raises(grpc.RpcError) as e:
                stub.SearchGroups(
                    pb.SearchPointGroups(collection_name=collection_name, vector=[1, 0, 0, 0], limit=2, group_by="g", group_size=0),
                    timeout=10,
                )
            assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        groups = found.result.groups
        assert len(groups) == 4 and groups[0].id.unsigned_value == 0  # point 0 is the best hit
        for g in groups:
            assert len(g.hits) == 2
            assert all(h.payload["g"].integer_value == g.id.unsigned_value for h in g.hits)
            assert g.lookup.id.num == g.id.unsigned_value and g.lookup.payload["d"].integer_value == g.id.unsigned_value
        assert len(rec.result.groups) == 2 and all(len(g.hits) == 3 for g in rec.result.groups)
        assert not rec.result.groups[0].HasField("lookup")
    finally:
        client.delete_collection(docs)
