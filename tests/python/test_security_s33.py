"""Access control as Qdrant's table of access has it (its JWT access tests): every REST and gRPC
endpoint against every kind of caller — global read / manage tokens, collection read,
read-write and points-only (`prw`) tokens, the API key, the read-only key, deprecated `payload`
tokens, no key, a wrong key and an expired token. Allowed: any answer but 401/403 (gRPC: not
`Unauthenticated` / `PermissionDenied`) and no server error; refused: 403 (`PermissionDenied`) for
a known caller short of access, 401 (`Unauthenticated`) for an unknown one. Also: what a
collection-scoped token sees of telemetry and issues, the dashboard whitelist, and a read-only
key that must never protect a cluster's p2p port."""

from __future__ import annotations

import itertools
import uuid

import grpc
import pytest
import requests
from google.protobuf import json_format
from qdrant_client import grpc as qgrpc

from quiver_server import QuiverServer, ServerStartError, free_port
from security_helpers import KEY, RO_KEY, exp, token

C = "jwt_c"  # the collection the scoped tokens name
OTHER = "jwt_other"
V = [0.1, 0.2, 0.3, 0.4]
# Made at import, which in a full run precedes these tests by many minutes: valid for a day.
DAY = 86_400
TOKENS = {
    "r": token({"exp": exp(DAY), "access": "r"}),
    "coll_r": token({"exp": exp(DAY), "access": [{"collection": C, "access": "r"}]}),
    "coll_rw": token({"exp": exp(DAY), "access": [{"collection": C, "access": "rw"}]}),
    "coll_prw": token({"exp": exp(DAY), "access": [{"collection": C, "access": "prw"}]}),
    "m": token({"exp": exp(DAY), "access": "m"}),
    "key": KEY,
    "ro_key": RO_KEY,
}
# Callers that never pass authentication, and the status they get on every non-open endpoint.
REFUSED = {
    "payload_r": (token({"exp": exp(DAY), "access": [{"collection": C, "access": "r", "payload": {"u": 1}}]}), 401),
    "payload_rw": (token({"exp": exp(DAY), "access": [{"collection": C, "access": "rw", "payload": {"u": "1"}}]}), 401),
    "none": (None, 401),
    "wrong": ("not-a-key", 401),
    "expired": (token({"exp": exp(-120), "access": "m"}), 403),
}


def access(r, coll_rw, m, coll_r=None, coll_prw=None, everyone=False):
    """Who may call an endpoint (Qdrant's table): `coll_r` defaults to `r`; `coll_prw` None =
    not asserted; `everyone`: open, no key needed."""
    allowed = {"r": r, "coll_r": r if coll_r is None else coll_r, "coll_rw": coll_rw, "m": m, "key": m, "ro_key": r}
    if coll_prw is not None:
        allowed["coll_prw"] = coll_prw
    return allowed, everyone


READ, WRITE, MANAGE = access(True, True, True), access(False, True, True), access(False, False, True)
POINTS_READ, POINTS_WRITE = access(True, True, True, coll_prw=True), access(False, True, True, coll_prw=True)
EXTRAS_READ, EXTRAS_WRITE = access(True, True, True, coll_prw=False), access(False, True, True, coll_prw=False)
GLOBAL_READ = access(True, False, True, coll_r=False)
OPEN = access(True, True, True, everyone=True)
_names = (f"n{i}_{uuid.uuid4().hex[:6]}" for i in itertools.count())


def fresh() -> str:
    return next(_names)


def pts(*ids):
    return {"points": {"points": {"ids": [{"num": i} for i in ids]}}}


REST = [  # (method, path, body or callable, access)
    ("GET", "/collections", None, READ),
    ("GET", "/collections/{c}", None, READ),
    ("PUT", "/collections/{new}", {"vectors": {"size": 4, "distance": "Dot"}}, MANAGE),
    ("DELETE", "/collections/{fake}", None, MANAGE),
    ("PATCH", "/collections/{c}", {}, MANAGE),
    ("GET", "/collections/{c}/cluster", None, READ),
    ("GET", "/collections/{c}/exists", None, READ),
    ("GET", "/collections/{c}/optimizations", None, READ),
    ("POST", "/collections/{c}/cluster", {"move_shard": {"shard_id": 0, "from_peer_id": 6, "to_peer_id": 7}}, MANAGE),
    ("POST", "/collections/aliases", lambda: {"actions": [{"delete_alias": {"alias_name": fresh()}}]}, MANAGE),
    ("GET", "/collections/{c}/aliases", None, READ),
    ("GET", "/aliases", None, READ),
    ("PUT", "/collections/{c}/shards", lambda: {"shard_key": fresh()}, MANAGE),
    ("POST", "/collections/{c}/shards/delete", lambda: {"shard_key": fresh()}, MANAGE),
    ("GET", "/collections/{c}/shards", None, READ),
    ("PUT", "/collections/{c}/index", {"field_name": "f", "field_schema": "keyword"}, EXTRAS_WRITE),
    ("DELETE", "/collections/{c}/index/{fake}", None, EXTRAS_WRITE),
    ("GET", "/collections/{c}/snapshots", None, EXTRAS_READ),
    ("POST", "/collections/{c}/snapshots", None, EXTRAS_WRITE),
    ("DELETE", "/collections/{c}/snapshots/{fake}", None, EXTRAS_WRITE),
    ("GET", "/collections/{c}/snapshots/{snap}", None, EXTRAS_READ),
    ("POST", "/collections/{c}/snapshots/upload", "snap_file", MANAGE),
    ("PUT", "/collections/{c}/snapshots/recover", "snap_location", MANAGE),
    ("POST", "/collections/{c}/shards/0/snapshots/upload", "shard_file", MANAGE),
    ("PUT", "/collections/{c}/shards/0/snapshots/recover", "shard_location", MANAGE),
    ("POST", "/collections/{c}/shards/0/snapshots", None, EXTRAS_WRITE),
    ("GET", "/collections/{c}/shards/0/snapshots", None, EXTRAS_READ),
    ("DELETE", "/collections/{c}/shards/0/snapshots/{fake}", None, EXTRAS_WRITE),
    ("GET", "/collections/{c}/shards/0/snapshots/{shard_snap}", None, EXTRAS_READ),
    ("GET", "/collections/{c}/shards/0/snapshot", None, access(False, True, True, coll_prw=False)),
    ("GET", "/snapshots", None, GLOBAL_READ),
    ("POST", "/snapshots", None, MANAGE),
    ("DELETE", "/snapshots/{fake}", None, MANAGE),
    ("GET", "/snapshots/{fake}", None, GLOBAL_READ),
    ("GET", "/cluster", None, GLOBAL_READ),
    ("GET", "/cluster/telemetry", None, READ),
    ("POST", "/cluster/recover", None, MANAGE),
    ("DELETE", "/cluster/peer/2000", None, MANAGE),
    ("GET", "/collections/{c}/points/1", None, POINTS_READ),
    ("POST", "/collections/{c}/points", {"ids": [1]}, POINTS_READ),
    ("PUT", "/collections/{c}/points", {"points": [{"id": 1, "vector": V, "payload": {"g": 1}}]}, POINTS_WRITE),
    ("POST", "/collections/{c}/points/batch", {"operations": [{"clear_payload": {"points": [9]}}]}, POINTS_WRITE),
    ("POST", "/collections/{c}/points/delete", {"points": [30]}, POINTS_WRITE),
    ("PUT", "/collections/{c}/points/vectors", {"points": [{"id": 1, "vector": V}]}, POINTS_WRITE),
    ("POST", "/collections/{c}/points/vectors/delete", {"points": [31], "vector": [""]}, POINTS_WRITE),
    ("POST", "/collections/{c}/points/payload", {"points": [2], "payload": {"k": "v"}}, POINTS_WRITE),
    ("PUT", "/collections/{c}/points/payload", {"points": [2], "payload": {"k": "v", "g": 0}}, POINTS_WRITE),
    ("POST", "/collections/{c}/points/payload/delete", {"points": [2], "keys": ["k"]}, POINTS_WRITE),
    ("POST", "/collections/{c}/points/payload/clear", {"points": [3]}, POINTS_WRITE),
    ("POST", "/collections/{c}/points/scroll", {"limit": 10}, POINTS_READ),
    ("POST", "/collections/{c}/points/search", {"vector": V, "limit": 10}, POINTS_READ),
    ("POST", "/collections/{c}/points/search/batch", {"searches": [{"vector": V, "limit": 10}]}, POINTS_READ),
    ("POST", "/collections/{c}/points/search/groups", {"vector": V, "limit": 3, "group_by": "g"}, POINTS_READ),
    ("POST", "/collections/{c}/points/recommend", {"positive": [1], "limit": 10}, POINTS_READ),
    ("POST", "/collections/{c}/points/recommend/batch", {"searches": [{"positive": [1], "limit": 10}]}, POINTS_READ),
    ("POST", "/collections/{c}/points/recommend/groups", {"positive": [1], "limit": 3, "group_by": "g"}, POINTS_READ),
    ("POST", "/collections/{c}/points/discover", {"target": 1, "limit": 10}, POINTS_READ),
    ("POST", "/collections/{c}/points/discover/batch", {"searches": [{"target": 1, "limit": 10}]}, POINTS_READ),
    ("POST", "/collections/{c}/points/count", {}, READ),
    ("POST", "/collections/{c}/points/query", {"query": V}, READ),
    ("POST", "/collections/{c}/points/query/batch", {"searches": [{"query": V}]}, READ),
    ("POST", "/collections/{c}/points/query/groups", {"query": V, "limit": 3, "group_by": "g"}, READ),
    ("POST", "/collections/{c}/points/search/matrix/offsets", {"sample": 10, "limit": 2}, READ),
    ("POST", "/collections/{c}/points/search/matrix/pairs", {"sample": 10, "limit": 2}, READ),
    ("POST", "/collections/{c}/facet", {"key": "g"}, READ),
    ("POST", "/collections/{c}/shards/0/points", {"ids": [1]}, POINTS_READ),
    ("POST", "/collections/{c}/shards/0/points/scroll", {"limit": 10}, POINTS_READ),
    ("POST", "/collections/{c}/shards/0/points/count", {}, READ),
    ("POST", "/collections/{c}/shards/0/cleanup", None, WRITE),
    ("POST", "/collections/{c}/truncate_unapplied_wal", None, MANAGE),
    ("GET", "/", None, OPEN),
    ("GET", "/readyz", None, OPEN),
    ("GET", "/healthz", None, OPEN),
    ("GET", "/livez", None, OPEN),
    ("GET", "/telemetry", None, READ),
    ("GET", "/metrics", None, GLOBAL_READ),
    ("GET", "/issues", None, READ),
    ("DELETE", "/issues", None, MANAGE),
    ("GET", "/logger", None, GLOBAL_READ),
    ("POST", "/logger", {}, MANAGE),
    ("GET", "/stacktrace", None, MANAGE),
    ("GET", "/profiler/slow_requests", None, MANAGE),
    ("GET", "/debugger", None, MANAGE),
    ("PATCH", "/debugger", {"pyroscope": None}, MANAGE),
    ("POST", "/audit/logs", {}, MANAGE),
]

GRPC = [  # (service, method, request class, request or callable, access)
    ("Collections", "List", "ListCollectionsRequest", {}, READ),
    ("Collections", "Get", "GetCollectionInfoRequest", {"collection_name": C}, READ),
    ("Collections", "Create", "CreateCollection",
     lambda: {"collection_name": fresh(), "vectors_config": {"params": {"size": 4, "distance": "Dot"}}}, MANAGE),
    ("Collections", "Delete", "DeleteCollection", lambda: {"collection_name": fresh()}, MANAGE),
    ("Collections", "Update", "UpdateCollection", {"collection_name": C}, MANAGE),
    ("Collections", "CollectionClusterInfo", "CollectionClusterInfoRequest", {"collection_name": C}, READ),
    ("Collections", "CollectionExists", "CollectionExistsRequest", {"collection_name": C}, READ),
    ("Collections", "UpdateCollectionClusterSetup", "UpdateCollectionClusterSetupRequest",
     {"collection_name": C, "move_shard": {"shard_id": 0, "from_peer_id": 6, "to_peer_id": 7}}, MANAGE),
    ("Collections", "UpdateAliases", "ChangeAliases",
     lambda: {"actions": [{"delete_alias": {"alias_name": fresh()}}]}, MANAGE),
    ("Collections", "ListCollectionAliases", "ListCollectionAliasesRequest", {"collection_name": C}, READ),
    ("Collections", "ListAliases", "ListAliasesRequest", {}, READ),
    ("Collections", "CreateShardKey", "CreateShardKeyRequest",
     lambda: {"collection_name": C, "request": {"shard_key": {"keyword": fresh()}}}, MANAGE),
    ("Collections", "DeleteShardKey", "DeleteShardKeyRequest",
     lambda: {"collection_name": C, "request": {"shard_key": {"keyword": fresh()}}}, MANAGE),
    ("Collections", "ListShardKeys", "ListShardKeysRequest", {"collection_name": C}, READ),
    ("Points", "Get", "GetPoints", {"collection_name": C, "ids": [{"num": 1}]}, POINTS_READ),
    ("Points", "Upsert", "UpsertPoints",
     {"collection_name": C, "points": [{"id": {"num": 1}, "vectors": {"vector": {"data": V}}}]}, POINTS_WRITE),
    ("Points", "UpdateBatch", "UpdateBatchPoints",
     {"collection_name": C, "operations": [{"clear_payload": pts(9)}]}, POINTS_WRITE),
    ("Points", "Delete", "DeletePoints", {"collection_name": C, **pts(30)}, POINTS_WRITE),
    ("Points", "UpdateVectors", "UpdatePointVectors",
     {"collection_name": C, "points": [{"id": {"num": 1}, "vectors": {"vector": {"data": V}}}]}, POINTS_WRITE),
    ("Points", "DeleteVectors", "DeletePointVectors",
     {"collection_name": C, "points_selector": pts(31)["points"], "vectors": {"names": [""]}}, POINTS_WRITE),
    ("Points", "SetPayload", "SetPayloadPoints", {"collection_name": C, "points_selector": pts(2)["points"],
                                                  "payload": {"k": {"string_value": "v"}}}, POINTS_WRITE),
    ("Points", "OverwritePayload", "SetPayloadPoints", {"collection_name": C, "points_selector": pts(2)["points"],
                                                        "payload": {"g": {"integer_value": 0}}}, POINTS_WRITE),
    ("Points", "DeletePayload", "DeletePayloadPoints",
     {"collection_name": C, "points_selector": pts(2)["points"], "keys": ["k"]}, POINTS_WRITE),
    ("Points", "ClearPayload", "ClearPayloadPoints", {"collection_name": C, **pts(3)}, POINTS_WRITE),
    ("Points", "Scroll", "ScrollPoints", {"collection_name": C, "limit": 10}, POINTS_READ),
    ("Points", "Search", "SearchPoints", {"collection_name": C, "vector": V, "limit": 10}, POINTS_READ),
    ("Points", "SearchBatch", "SearchBatchPoints",
     {"collection_name": C, "search_points": [{"collection_name": C, "vector": V, "limit": 10}]}, POINTS_READ),
    ("Points", "SearchGroups", "SearchPointGroups",
     {"collection_name": C, "vector": V, "limit": 3, "group_by": "g", "group_size": 2}, POINTS_READ),
    ("Points", "Recommend", "RecommendPoints",
     {"collection_name": C, "positive": [{"num": 1}], "limit": 10}, POINTS_READ),
    ("Points", "RecommendBatch", "RecommendBatchPoints", {"collection_name": C, "recommend_points": [
        {"collection_name": C, "positive": [{"num": 1}], "limit": 10}]}, POINTS_READ),
    ("Points", "RecommendGroups", "RecommendPointGroups", {"collection_name": C, "positive": [{"num": 1}],
                                                          "limit": 3, "group_by": "g", "group_size": 2}, POINTS_READ),
    ("Points", "Discover", "DiscoverPoints",
     {"collection_name": C, "target": {"single": {"id": {"num": 1}}}, "limit": 10}, POINTS_READ),
    ("Points", "DiscoverBatch", "DiscoverBatchPoints", {"collection_name": C, "discover_points": [
        {"collection_name": C, "target": {"single": {"id": {"num": 1}}}, "limit": 10}]}, POINTS_READ),
    ("Points", "Count", "CountPoints", {"collection_name": C}, READ),
    ("Points", "Query", "QueryPoints", {"collection_name": C, "query": {"nearest": {"dense": {"data": V}}}}, READ),
    ("Points", "QueryBatch", "QueryBatchPoints", {"collection_name": C, "query_points": [
        {"collection_name": C, "query": {"nearest": {"dense": {"data": V}}}}]}, READ),
    ("Points", "QueryGroups", "QueryPointGroups", {"collection_name": C, "query": {"nearest": {"dense": {"data": V}}},
                                                  "limit": 3, "group_size": 2, "group_by": "g"}, READ),
    ("Points", "SearchMatrixOffsets", "SearchMatrixPoints", {"collection_name": C, "sample": 10, "limit": 2}, READ),
    ("Points", "SearchMatrixPairs", "SearchMatrixPoints", {"collection_name": C, "sample": 10, "limit": 2}, READ),
    ("Points", "Facet", "FacetCounts", {"collection_name": C, "key": "g"}, READ),
    ("Points", "CreateFieldIndex", "CreateFieldIndexCollection",
     {"collection_name": C, "field_name": "f", "field_type": "FieldTypeKeyword"}, EXTRAS_WRITE),
    ("Points", "DeleteFieldIndex", "DeleteFieldIndexCollection",
     lambda: {"collection_name": C, "field_name": fresh()}, EXTRAS_WRITE),
    ("Snapshots", "List", "ListSnapshotsRequest", {"collection_name": C}, EXTRAS_READ),
    ("Snapshots", "Create", "CreateSnapshotRequest", {"collection_name": C}, EXTRAS_WRITE),
    ("Snapshots", "Delete", "DeleteSnapshotRequest",
     lambda: {"collection_name": C, "snapshot_name": fresh()}, EXTRAS_WRITE),
    ("Snapshots", "ListFull", "ListFullSnapshotsRequest", {}, GLOBAL_READ),
    ("Snapshots", "CreateFull", "CreateFullSnapshotRequest", {}, MANAGE),
    ("Snapshots", "DeleteFull", "DeleteFullSnapshotRequest", lambda: {"snapshot_name": fresh()}, MANAGE),
    ("Qdrant", "HealthCheck", "HealthCheckRequest", {}, OPEN),
]


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    """One peer in cluster mode (as Qdrant's access tests run) with an API key, a read-only key
    and JWT RBAC; collections C and OTHER, a collection snapshot and a shard snapshot of C."""
    p2p = free_port()
    s = QuiverServer(env={
        "QDRANT__SERVICE__API_KEY": KEY,
        "QDRANT__SERVICE__READ_ONLY_API_KEY": RO_KEY,
        "QDRANT__SERVICE__JWT_RBAC": "true",
        "QDRANT__CLUSTER__ENABLED": "true",
        "QDRANT__CLUSTER__P2P__PORT": str(p2p),
    }, args=["--uri", f"http://127.0.0.1:{p2p}"])
    s.start()
    admin = {"api-key": KEY}
    for name in (C, OTHER):
        body = {"vectors": {"size": 4, "distance": "Dot"}}
        assert requests.put(f"{s.url}/collections/{name}", json=body, headers=admin).ok
        points = [{"id": i, "vector": [1.0, i / 10, 0.5, 0.2], "payload": {"g": i % 2}} for i in range(1, 40)]
        assert requests.put(f"{s.url}/collections/{name}/points?wait=true", json={"points": points}, headers=admin).ok
    snap = requests.post(f"{s.url}/collections/{C}/snapshots", headers=admin).json()["result"]["name"]
    shard_snap = requests.post(f"{s.url}/collections/{C}/shards/0/snapshots", headers=admin).json()["result"]["name"]
    files = tmp_path_factory.mktemp("snaps")
    for kind, path in [("snap", f"/collections/{C}/snapshots/{snap}"),
                       ("shard", f"/collections/{C}/shards/0/snapshots/{shard_snap}")]:
        (files / kind).write_bytes(requests.get(s.url + path, headers=admin).content)
    s.names = {"snap": snap, "shard_snap": shard_snap, "files": files}
    yield s
    s.cleanup()


def rest_call(s, method, path, body, key):
    names = s.names
    url = s.url + path.format(c=C, new=fresh(), fake=fresh(), snap=names["snap"], shard_snap=names["shard_snap"])
    kw = {}
    if body == "snap_file" or body == "shard_file":
        kw["files"] = {"snapshot": (body + ".snapshot", (names["files"] / body.split("_")[0]).read_bytes())}
    elif body == "snap_location":
        kw["json"] = {"location": (names["files"] / "snap").as_uri()}
    elif body == "shard_location":
        kw["json"] = {"location": names["shard_snap"]}
    elif body is not None:
        kw["json"] = body() if callable(body) else body
    headers = {} if key is None else {"Authorization": f"Bearer {key}"}
    try:
        return requests.request(method, url, headers=headers, timeout=60, **kw).status_code
    except requests.exceptions.ConnectionError:
        # An upload refused before its body is read may reset the connection mid-send.
        assert "files" in kw, (method, path)
        return "reset"


@pytest.mark.parametrize("method,path,body,rule", REST, ids=[f"{m} {p}" for m, p, _, _ in REST])
def test_rest_access(srv, method, path, body, rule):
    allowed, everyone = rule
    for kind, is_allowed in allowed.items():
        status = rest_call(srv, method, path, body, TOKENS[kind])
        if is_allowed:
            assert status not in (401, 403, "reset") and status < 500, (kind, status)
        else:
            assert status in (403, "reset"), (kind, status)
    for kind, (key, refused) in REFUSED.items():
        status = rest_call(srv, method, path, body, key)
        if everyone:
            assert status == 200, (kind, status)
        else:
            assert status in (refused, "reset"), (kind, status)


ALLOWED_CODES = {grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND,
                 grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.ALREADY_EXISTS}


def grpc_code(s, service, method, cls, request, key) -> grpc.StatusCode:
    message = json_format.ParseDict(request() if callable(request) else request, getattr(qgrpc, cls)())
    metadata = [] if key is None else [("authorization", f"Bearer {key}")]
    with grpc.insecure_channel(f"127.0.0.1:{s.grpc_port}") as channel:
        stub = getattr(qgrpc, f"{service}Stub")(channel)
        try:
            getattr(stub, method)(message, metadata=metadata, timeout=60)
            return grpc.StatusCode.OK
        except grpc.RpcError as e:
            return e.code()


@pytest.mark.parametrize("service,method,cls,request_,rule", GRPC, ids=[f"{s}/{m}" for s, m, _, _, _ in GRPC])
def test_grpc_access(srv, service, method, cls, request_, rule):
    allowed, everyone = rule
    for kind, is_allowed in allowed.items():
        code = grpc_code(srv, service, method, cls, request_, TOKENS[kind])
        expected = ALLOWED_CODES if is_allowed else {grpc.StatusCode.PERMISSION_DENIED}
        assert code in expected, (kind, code)
    for kind, (key, refused) in REFUSED.items():
        code = grpc_code(srv, service, method, cls, request_, key)
        if everyone:
            assert code == grpc.StatusCode.OK, (kind, code)
        else:
            want = grpc.StatusCode.UNAUTHENTICATED if refused == 401 else grpc.StatusCode.PERMISSION_DENIED
            assert code == want, (kind, code)


def test_grpc_standard_health_is_open(srv):
    with grpc.insecure_channel(f"127.0.0.1:{srv.grpc_port}") as channel:
        check = channel.unary_unary("/grpc.health.v1.Health/Check")
        assert check(b"", timeout=10) is not None  # SERVING, no key needed


def get(s, path, key):
    r = requests.get(s.url + path, headers={"api-key": key}, timeout=60)
    assert r.status_code == 200, r.text
    return r.json()["result"]


def test_scoped_tokens_see_only_their_collections_in_telemetry_and_issues(srv):
    scoped = TOKENS["coll_r"]
    mine = get(srv, "/telemetry?details_level=2", scoped)
    assert [c["id"] for c in mine["collections"]["collections"]] == [C]
    assert "cluster" not in mine and "requests" not in mine
    full = get(srv, "/telemetry?details_level=2", KEY)
    assert {c["id"] for c in full["collections"]["collections"]} >= {C, OTHER} and "cluster" in full
    assert list(get(srv, "/cluster/telemetry", scoped)["collections"]) == [C]
    assert "cluster" not in get(srv, "/cluster/telemetry", scoped)
    assert set(get(srv, "/cluster/telemetry", KEY)["collections"]) >= {C, OTHER}
    # An issue (a filter on an unindexed key of a large collection) about OTHER only.
    points = [{"id": 1000 + i, "vector": [0.1, 0.2, 0.3, 0.4], "payload": {"u": i}} for i in range(1000)]
    r = requests.put(f"{srv.url}/collections/{OTHER}/points?wait=true", json={"points": points}, headers={"api-key": KEY})
    assert r.ok, r.text
    body = {"filter": {"must": [{"key": "u", "match": {"value": 3}}]}}
    assert requests.post(f"{srv.url}/collections/{OTHER}/points/count", json=body, headers={"api-key": KEY}).ok
    assert any(OTHER in i["id"] for i in get(srv, "/issues", KEY)["issues"])
    assert get(srv, "/issues", scoped)["issues"] == []
    assert any(OTHER in i["id"] for i in get(srv, "/issues", TOKENS["r"])["issues"])


def test_dashboard_whitelist_is_the_route_not_a_prefix(srv):
    assert requests.get(f"{srv.url}/dashboard%2f..%2fcollections", timeout=10).status_code == 401
    assert requests.get(f"{srv.url}/dashboardx", timeout=10).status_code == 401
    assert requests.get(f"{srv.url}/collections", timeout=10).status_code == 401


def test_read_only_key_alone_cannot_protect_a_cluster(tmp_path):
    """The p2p key comes from `service.api_key`: with only a read-only key every reader could
    derive it, so a cluster peer with only a read-only key does not start."""
    s = QuiverServer(env={"QDRANT__SERVICE__READ_ONLY_API_KEY": RO_KEY, "QDRANT__CLUSTER__ENABLED": "true",
                          "QDRANT__CLUSTER__P2P__PORT": str(free_port())}, ready_timeout=10)
    try:
        with pytest.raises(ServerStartError):
            s.start()
        assert "service.read_only_api_key needs service.api_key" in s.log_tail()
    finally:
        s.cleanup()
