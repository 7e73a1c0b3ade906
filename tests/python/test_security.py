"""Security (Qdrant's model, README "Security"): API keys and the read-only key on REST and gRPC,
JWT RBAC (global r/m, collection-scoped, expiry, signature, `value_exists`), TLS for clients
(HTTPS / gRPC over TLS, mutual TLS, certificates rotated on disk), configuration keys that are
never silently ignored, and the configured key never sent to snapshot sources."""

from __future__ import annotations

import http.server
import ssl
import threading
import time

import grpc
import pytest
import requests
from qdrant_client import QdrantClient, models
from qdrant_client import grpc as qgrpc
from qdrant_client.http.exceptions import UnexpectedResponse

from quiver_server import QuiverServer, ServerStartError
from security_helpers import CA, CA_PEM, KEY, RO_KEY, exp, issue, tls_env, token

DIM = 4


def vec(i: int) -> list[float]:
    return [1.0, i / 10.0, (i % 3) / 3.0, 0.5]


@pytest.fixture(scope="module")
def keyed():
    """A server with an API key, a read-only key and JWT RBAC; collections c1, c2, c3 and a
    `users` collection for `value_exists`."""
    srv = QuiverServer(env={
        "QDRANT__SERVICE__API_KEY": KEY,
        "QDRANT__SERVICE__READ_ONLY_API_KEY": RO_KEY,
        "QDRANT__SERVICE__JWT_RBAC": "true",
    })
    srv.start()
    admin = {"api-key": KEY}
    for name in ["c1", "c2", "c3", "users"]:
        body = {"vectors": {"size": DIM, "distance": "Dot"}}
        assert requests.put(f"{srv.url}/collections/{name}", json=body, headers=admin).status_code == 200
        points = [{"id": i, "vector": vec(i), "payload": {"n": i, "g": i % 2}} for i in range(1, 11)]
        r = requests.put(f"{srv.url}/collections/{name}/points?wait=true", json={"points": points}, headers=admin)
        assert r.status_code == 200, r.text
    users = {"points": [{"id": 100, "vector": vec(1), "payload": {"user": "ann", "role": "admin"}}]}
    assert requests.put(f"{srv.url}/collections/users/points?wait=true", json=users, headers=admin).ok
    alias = {"actions": [{"create_alias": {"collection_name": "c1", "alias_name": "a1"}},
                         {"create_alias": {"collection_name": "c3", "alias_name": "a3"}}]}
    assert requests.post(f"{srv.url}/collections/aliases", json=alias, headers=admin).ok
    yield srv
    srv.cleanup()


def call(srv, method: str, path: str, key: str | None = None, bearer: bool = False, **kw) -> requests.Response:
    headers = {}
    if key is not None:
        headers = {"Authorization": f"Bearer {key}"} if bearer else {"api-key": key}
    return requests.request(method, srv.url + path, headers=headers, timeout=30, **kw)


QUERY = {"query": vec(2), "limit": 3}
# One request of each API family, all reads: (method, path, json body).
READS = [
    ("GET", "/collections", None),
    ("GET", "/collections/c1", None),
    ("GET", "/collections/c1/exists", None),
    ("GET", "/aliases", None),
    ("POST", "/collections/c1/points", {"ids": [1, 2]}),
    ("GET", "/collections/c1/points/1", None),
    ("POST", "/collections/c1/points/scroll", {"limit": 2}),
    ("POST", "/collections/c1/points/count", {}),
    ("POST", "/collections/c1/points/query", QUERY),
    ("POST", "/collections/c1/points/search", {"vector": vec(2), "limit": 3}),
    ("POST", "/collections/c1/points/query/groups", {"query": vec(2), "group_by": "g", "limit": 2}),
    ("GET", "/collections/c1/snapshots", None),
    ("GET", "/snapshots", None),
    ("GET", "/cluster", None),
    ("GET", "/collections/c1/cluster", None),
    ("GET", "/metrics", None),
]
# Every kind of write: (method, path, json body).
WRITES = [
    ("PUT", "/collections/new_one", {"vectors": {"size": DIM, "distance": "Dot"}}),
    ("PATCH", "/collections/c1", {"optimizers_config": {"indexing_threshold": 10000}}),
    ("DELETE", "/collections/c2", None),
    ("POST", "/collections/aliases", {"actions": [{"delete_alias": {"alias_name": "a1"}}]}),
    ("PUT", "/collections/c1/points?wait=true", {"points": [{"id": 99, "vector": vec(9)}]}),
    ("POST", "/collections/c1/points/delete?wait=true", {"points": [1]}),
    ("POST", "/collections/c1/points/payload?wait=true", {"payload": {"x": 1}, "points": [1]}),
    ("PUT", "/collections/c1/points/payload?wait=true", {"payload": {"x": 1}, "points": [1]}),
    ("POST", "/collections/c1/points/payload/delete?wait=true", {"keys": ["n"], "points": [1]}),
    ("POST", "/collections/c1/points/payload/clear?wait=true", {"points": [1]}),
    ("PUT", "/collections/c1/points/vectors?wait=true", {"points": [{"id": 1, "vector": vec(5)}]}),
    ("POST", "/collections/c1/points/vectors/delete?wait=true", {"points": [1], "vector": [""]}),
    ("POST", "/collections/c1/points/batch?wait=true", {"operations": [{"delete": {"points": [2]}}]}),
    ("PUT", "/collections/c1/index?wait=true", {"field_name": "n", "field_schema": "integer"}),
    ("DELETE", "/collections/c1/index/n?wait=true", None),
    ("POST", "/collections/c1/snapshots", None),
    ("DELETE", "/collections/c1/snapshots/nothing.snapshot", None),
    ("PUT", "/collections/c1/snapshots/recover", {"location": "file:///nothing.snapshot"}),
    ("POST", "/snapshots", None),
    ("POST", "/collections/c1/cluster", {"replicate_shard": {"shard_id": 0, "from_peer_id": 1, "to_peer_id": 2}}),
    ("PUT", "/cluster/metadata/keys/k?wait=true", 1),
    ("DELETE", "/cluster/peer/12345", None),
    ("POST", "/cluster/recover", None),
]


def state(srv) -> list:
    """What the writes above could change (compared before / after refused writes)."""
    out = []
    for name in ["c1", "c2"]:
        r = call(srv, "POST", f"/collections/{name}/points/scroll", KEY,
                 json={"limit": 100, "with_payload": True, "with_vector": True})
        out.append(r.json()["result"]["points"])
    out.append(call(srv, "GET", "/collections", KEY).json()["result"])
    out.append(call(srv, "GET", "/aliases", KEY).json()["result"])
    return out


def test_open_endpoints_need_no_key(keyed):
    for path in ["/", "/healthz", "/livez", "/readyz"]:
        assert call(keyed, "GET", path).status_code == 200, path


@pytest.mark.parametrize("method,path,body", READS + WRITES)
def test_missing_or_wrong_key_is_401_on_every_endpoint(keyed, method, path, body):
    r = call(keyed, method, path, json=body)
    assert r.status_code == 401, r.text
    assert r.text == "Must provide an API key or an Authorization bearer token"
    for key, bearer in [("wrong", False), ("wrong", True), (KEY + "x", False), (KEY[:-1], False), ("", False)]:
        r = call(keyed, method, path, key, bearer, json=body)
        assert r.status_code == 401, (key, r.text)
        assert r.text in ("Invalid API key or JWT", "Must provide an API key or an Authorization bearer token")


@pytest.mark.parametrize("method,path,body", READS)
def test_keys_read_every_api_family(keyed, method, path, body):
    for key, bearer in [(KEY, False), (KEY, True), (RO_KEY, False), (RO_KEY, True)]:
        r = call(keyed, method, path, key, bearer, json=body)
        assert r.status_code == 200, (key, r.text[:300])


def test_read_only_key_refused_on_every_write(keyed):
    before = state(keyed)
    for method, path, body in WRITES:
        r = call(keyed, method, path, RO_KEY, json=body)
        assert r.status_code == 403, (method, path, r.text)
        assert r.json()["status"]["error"] == "Forbidden: Global manage access is required"
    assert state(keyed) == before


def test_read_only_key_with_the_python_client(keyed):
    client = QdrantClient(url=keyed.url, api_key=RO_KEY, timeout=30)
    assert {c.name for c in client.get_collections().collections} >= {"c1", "c2"}
    assert len(client.query_points("c1", query=vec(1), limit=3).points) == 3
    with pytest.raises(UnexpectedResponse) as refused:
        client.upsert("c1", points=[models.PointStruct(id=50, vector=vec(5))], wait=True)
    assert refused.value.status_code == 403
    with pytest.raises(UnexpectedResponse) as refused:
        client.create_snapshot("c1")
    assert refused.value.status_code == 403
    client.close()


def grpc_client(srv, key: str | None) -> QdrantClient:
    return QdrantClient(url=srv.url, grpc_port=srv.grpc_port, prefer_grpc=True, api_key=key, timeout=30)


def grpc_code(fn) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as failed:
        fn()
    return failed.value.code()


def test_grpc_keys(keyed):
    for key in [None, "wrong", RO_KEY + "x"]:
        client = grpc_client(keyed, key)
        assert grpc_code(client.get_collections) == grpc.StatusCode.UNAUTHENTICATED
        assert grpc_code(lambda: client.query_points("c1", query=vec(1), limit=1)) == grpc.StatusCode.UNAUTHENTICATED
        client.close()
    ro = grpc_client(keyed, RO_KEY)
    assert len(ro.query_points("c1", query=vec(1), limit=3).points) == 3
    assert ro.count("c1").count >= 1
    assert ro.collection_exists("c1")
    writes = [
        lambda: ro.upsert("c1", points=[models.PointStruct(id=51, vector=vec(5))], wait=True),
        lambda: ro.delete("c1", points_selector=[1], wait=True),
        lambda: ro.set_payload("c1", payload={"x": 1}, points=[1], wait=True),
        lambda: ro.create_payload_index("c1", "n", models.PayloadSchemaType.INTEGER),
        lambda: ro.create_collection("g_new", vectors_config=models.VectorParams(size=DIM, distance=models.Distance.DOT)),
        lambda: ro.delete_collection("c2"),
        lambda: ro.create_snapshot("c1"),
        lambda: ro.create_full_snapshot(),
    ]
    for write in writes:
        assert grpc_code(write) == grpc.StatusCode.PERMISSION_DENIED
    ro.close()
    admin = grpc_client(keyed, KEY)
    assert {c.name for c in admin.get_collections().collections} >= {"c1", "c2", "c3"}
    admin.close()


def test_grpc_health_check_is_open(keyed):
    with grpc.insecure_channel(f"127.0.0.1:{keyed.grpc_port}") as channel:
        reply = qgrpc.QdrantStub(channel).HealthCheck(qgrpc.HealthCheckRequest(), timeout=5)
        assert reply.title
        with pytest.raises(grpc.RpcError) as refused:
            qgrpc.CollectionsStub(channel).List(qgrpc.ListCollectionsRequest(), timeout=5)
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED


# ------------------------------------------------------------------------------------- JWT
def test_jwt_global_read_and_manage(keyed):
    read = token({"exp": exp(), "access": "r"})
    assert call(keyed, "POST", "/collections/c1/points/query", read, bearer=True, json=QUERY).status_code == 200
    assert call(keyed, "GET", "/cluster", read).status_code == 200
    r = call(keyed, "PUT", "/collections/c1/points?wait=true", read, json={"points": [{"id": 70, "vector": vec(1)}]})
    assert r.status_code == 403
    for manage in [token({"exp": exp(), "access": "m"}), token({"exp": exp()})]:
        body = {"vectors": {"size": DIM, "distance": "Dot"}}
        assert call(keyed, "PUT", "/collections/jwt_made", manage, True, json=body).status_code == 200
        assert call(keyed, "DELETE", "/collections/jwt_made", manage).status_code == 200


def test_jwt_collection_scoped(keyed):
    scoped = token({"exp": exp(), "access": [{"collection": "c1", "access": "rw"},
                                             {"collection": "c2", "access": "r"}]})
    listed = call(keyed, "GET", "/collections", scoped).json()["result"]["collections"]
    assert sorted(c["name"] for c in listed) == ["c1", "c2"]
    aliases = call(keyed, "GET", "/aliases", scoped).json()["result"]["aliases"]
    assert [a["alias_name"] for a in aliases] == ["a1"]
    assert call(keyed, "GET", "/collections/c1", scoped).status_code == 200
    assert call(keyed, "POST", "/collections/c2/points/query", scoped, json=QUERY).status_code == 200
    denied = call(keyed, "GET", "/collections/c3", scoped)
    assert denied.status_code == 403
    assert "Access to collection c3 is required" in denied.json()["status"]["error"]
    point = {"points": [{"id": 71, "vector": vec(1)}]}
    assert call(keyed, "PUT", "/collections/c1/points?wait=true", scoped, json=point).status_code == 200
    r = call(keyed, "PUT", "/collections/c2/points?wait=true", scoped, json=point)
    assert r.status_code == 403 and "Write access to collection c2" in r.json()["status"]["error"]
    for method, path, body in [("DELETE", "/collections/c1", None), ("GET", "/cluster", None),
                               ("GET", "/snapshots", None), ("GET", "/metrics", None),
                               ("PUT", "/collections/c1/snapshots/recover", {"location": "file:///x"})]:
        assert call(keyed, method, path, scoped, json=body).status_code == 403, path
    assert call(keyed, "POST", "/collections/c1/snapshots", scoped).status_code == 200
    lookup = {"query": vec(2), "group_by": "g", "limit": 2, "with_lookup": "c3"}
    r = call(keyed, "POST", "/collections/c1/points/query/groups", scoped, json=lookup)
    assert r.status_code == 403, r.text
    lookup["with_lookup"] = "c2"
    assert call(keyed, "POST", "/collections/c1/points/query/groups", scoped, json=lookup).status_code == 200
    # The same over gRPC: the collection is checked once the message is decoded.
    client = grpc_client(keyed, scoped)
    assert sorted(c.name for c in client.get_collections().collections) == ["c1", "c2"]
    assert len(client.query_points("c1", query=vec(1), limit=2).points) == 2
    assert grpc_code(lambda: client.query_points("c3", query=vec(1), limit=2)) == grpc.StatusCode.PERMISSION_DENIED
    write = lambda: client.upsert("c2", points=[models.PointStruct(id=72, vector=vec(1))], wait=True)  # noqa: E731
    assert grpc_code(write) == grpc.StatusCode.PERMISSION_DENIED
    client.upsert("c1", points=[models.PointStruct(id=72, vector=vec(1))], wait=True)
    assert grpc_code(lambda: client.delete_collection("c1")) == grpc.StatusCode.PERMISSION_DENIED
    lookup_c3 = lambda: client.query_points_groups(  # noqa: E731
        "c1", query=vec(1), group_by="g", limit=2, with_lookup=models.WithLookup(collection="c3"))
    assert grpc_code(lookup_c3) == grpc.StatusCode.PERMISSION_DENIED
    client.close()


def test_jwt_scoped_lookup_from_needs_read_access(keyed):
    """`lookup_from` reads another collection's vectors: a scoped caller needs read access to it,
    at any depth of the query (REST and gRPC)."""
    scoped = token({"exp": exp(), "access": [{"collection": "c1", "access": "rw"},
                                             {"collection": "c2", "access": "r"}]})
    lookup = {"query": 1, "limit": 2, "lookup_from": {"collection": "c3"}}
    for path, body in [
        ("/collections/c1/points/query", lookup),
        ("/collections/c1/points/query", {"prefetch": [lookup], "limit": 2}),
        ("/collections/c1/points/recommend", {"positive": [1], "limit": 2, "lookup_from": {"collection": "c3"}}),
        ("/collections/c1/points/discover", {"target": 1, "limit": 2, "lookup_from": {"collection": "c3"}}),
    ]:
        r = call(keyed, "POST", path, scoped, json=body)
        assert r.status_code == 403 and "c3" in r.json()["status"]["error"], (path, r.text)
    client = grpc_client(keyed, scoped)
    deny = lambda: client.query_points(  # noqa: E731
        "c1", query=1, limit=2, lookup_from=models.LookupLocation(collection="c3"))
    assert grpc_code(deny) == grpc.StatusCode.PERMISSION_DENIED
    client.close()


def test_jwt_refused_tokens(keyed):
    cases = [
        (token({"exp": exp(-120), "access": "m"}), 403),  # expired (past the 30 s leeway)
        (token({"exp": exp(), "access": "m"}, secret="not-the-key"), 403),  # bad signature
        (token({"access": "m"}), 401),  # no exp: not accepted as a token
        (token({"exp": exp(), "access": "m"}, alg="HS512"), 401),  # only HS256
        (token({"exp": exp(), "access": "m"})[:-3] + "abc", 403),  # tampered signature
    ]
    for jwt, status in cases:
        for bearer in (True, False):
            r = call(keyed, "GET", "/collections", jwt, bearer)
            assert r.status_code == status, (jwt, r.text)
    expired_client = grpc_client(keyed, cases[0][0])
    assert grpc_code(expired_client.get_collections) == grpc.StatusCode.PERMISSION_DENIED
    expired_client.close()
    assert token({"exp": exp(-20), "access": "r"})  # within the leeway: still valid
    assert call(keyed, "GET", "/collections", token({"exp": exp(-20), "access": "r"})).status_code == 200


def test_jwt_value_exists(keyed):
    claim = {"collection": "users", "matches": [{"key": "user", "value": "ann"}, {"key": "role", "value": "admin"}]}
    jwt = token({"exp": exp(), "access": "r", "value_exists": claim})
    assert call(keyed, "GET", "/collections", jwt).status_code == 200
    other = dict(claim, matches=[{"key": "user", "value": "bob"}])
    r = call(keyed, "GET", "/collections", token({"exp": exp(), "access": "r", "value_exists": other}))
    assert r.status_code == 401 and "stateful validation failed" in r.text
    missing = dict(claim, collection="no_such_collection")
    r = call(keyed, "GET", "/collections", token({"exp": exp(), "access": "r", "value_exists": missing}))
    assert r.status_code == 403
    # Revoking: the role changes, the same token stops working.
    body = {"payload": {"role": "former"}, "points": [100]}
    assert call(keyed, "POST", "/collections/users/points/payload?wait=true", KEY, json=body).status_code == 200
    assert call(keyed, "GET", "/collections", jwt).status_code == 401
    body["payload"]["role"] = "admin"
    assert call(keyed, "POST", "/collections/users/points/payload?wait=true", KEY, json=body).status_code == 200
    assert call(keyed, "GET", "/collections", jwt).status_code == 200


def test_tokens_need_jwt_rbac(server_factory):
    srv = server_factory(env={"QDRANT__SERVICE__API_KEY": KEY})
    jwt = token({"exp": exp(), "access": "m"})
    assert call(srv, "GET", "/collections", jwt).status_code == 401
    assert call(srv, "GET", "/collections", KEY).status_code == 200


# ------------------------------------------------------------------------------------- TLS
def tls_server(server_factory, tmp_path, **env) -> QuiverServer:
    cert, key = issue(tmp_path, "server")
    client_cert = env.pop("_client", None)
    base = tls_env(cert, key, CA_PEM, QDRANT__SERVICE__ENABLE_TLS="true", QDRANT__SERVICE__API_KEY=KEY)
    base.update(env)
    return server_factory(env=base, tls_ca=str(CA_PEM), client_cert=client_cert)


def test_https_and_grpc_tls_with_the_python_client(server_factory, tmp_path):
    srv = tls_server(server_factory, tmp_path)
    assert srv.url.startswith("https://")
    client = QdrantClient(url=srv.url, api_key=KEY, https=True, verify=str(CA_PEM), timeout=30)
    client.create_collection("tls", vectors_config=models.VectorParams(size=DIM, distance=models.Distance.DOT))
    client.upsert("tls", points=[models.PointStruct(id=i, vector=vec(i)) for i in range(5)], wait=True)
    assert len(client.query_points("tls", query=vec(1), limit=3).points) == 3
    client.close()
    g = QdrantClient(url=srv.url, grpc_port=srv.grpc_port, https=True, prefer_grpc=True, api_key=KEY, timeout=30)
    assert len(g.query_points("tls", query=vec(1), limit=2).points) == 2
    g.upsert("tls", points=[models.PointStruct(id=9, vector=vec(9))], wait=True)
    g.close()
    # Plain HTTP to the HTTPS port gets no answer; the key is still required over HTTPS.
    with pytest.raises(requests.RequestException):
        requests.get(f"http://127.0.0.1:{srv.http_port}/collections", headers={"api-key": KEY}, timeout=5)
    assert requests.get(srv.url + "/collections", verify=str(CA_PEM), timeout=5).status_code == 401
    with grpc.insecure_channel(f"127.0.0.1:{srv.grpc_port}") as plain:
        with pytest.raises(grpc.RpcError):
            qgrpc.QdrantStub(plain).HealthCheck(qgrpc.HealthCheckRequest(), timeout=3)


def test_mutual_tls(server_factory, tmp_path):
    client_cert = issue(tmp_path / "client", "client")
    srv = tls_server(server_factory, tmp_path, QDRANT__SERVICE__VERIFY_HTTPS_CLIENT_CERTIFICATE="true",
                     _client=tuple(map(str, client_cert)))
    with_cert = dict(verify=str(CA_PEM), cert=tuple(map(str, client_cert)), timeout=5)
    assert requests.get(srv.url + "/collections", headers={"api-key": KEY}, **with_cert).status_code == 200
    with pytest.raises(requests.RequestException):
        requests.get(srv.url + "/collections", headers={"api-key": KEY}, verify=str(CA_PEM), timeout=5)
    # A certificate from another CA is refused too.
    import trustme
    stranger = issue(tmp_path / "stranger", "stranger", trustme.CA())
    with pytest.raises(requests.RequestException):
        requests.get(srv.url + "/healthz", verify=str(CA_PEM), cert=tuple(map(str, stranger)), timeout=5)
    root = CA_PEM.read_bytes()
    good = grpc.ssl_channel_credentials(root, client_cert[1].read_bytes(), client_cert[0].read_bytes())
    with grpc.secure_channel(f"localhost:{srv.grpc_port}", good) as channel:
        reply = qgrpc.CollectionsStub(channel).List(qgrpc.ListCollectionsRequest(), metadata=[("api-key", KEY)], timeout=5)
        assert reply is not None
    with grpc.secure_channel(f"localhost:{srv.grpc_port}", grpc.ssl_channel_credentials(root)) as channel:
        with pytest.raises(grpc.RpcError) as refused:
            qgrpc.QdrantStub(channel).HealthCheck(qgrpc.HealthCheckRequest(), timeout=5)
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE


def served_certificate(port: int) -> str:
    return ssl.get_server_certificate(("127.0.0.1", port))


def test_rotated_certificate_is_picked_up(server_factory, tmp_path):
    srv = tls_server(server_factory, tmp_path, QDRANT__TLS__CERT_TTL="1")
    cert, key = tmp_path / "server.pem", tmp_path / "server.key"
    first = served_certificate(srv.http_port)
    assert "BEGIN CERTIFICATE" in first
    new_cert, new_key = issue(tmp_path / "next", "rotated")
    # Replace both files (the key first: a reload between the two writes fails and keeps the old pair).
    key.write_bytes(new_key.read_bytes())
    cert.write_bytes(new_cert.read_bytes())
    expected = ssl.DER_cert_to_PEM_cert(ssl.PEM_cert_to_DER_cert(new_cert.read_text().split("-----END CERTIFICATE-----")[0]
                                                                  + "-----END CERTIFICATE-----\n"))
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if served_certificate(srv.http_port) == expected and served_certificate(srv.grpc_port) == expected:
            break
        time.sleep(0.3)
    assert served_certificate(srv.http_port) == expected != first
    assert served_certificate(srv.grpc_port) == expected
    r = requests.get(srv.url + "/collections", headers={"api-key": KEY}, verify=str(CA_PEM), timeout=5)
    assert r.status_code == 200


# ------------------------------------------------------------------------------------- configuration
@pytest.mark.parametrize("env,named", [
    ({"QDRANT__SERVICE__NO_SUCH_KEY": "1"}, "service.no_such_key"),
    ({"QDRANT__TLS__BOGUS": "x"}, "tls.bogus"),
    ({"QDRANT__CLUSTER__P2P__CONNECTION_POOL_SIZE": "2"}, "cluster.p2p.connection_pool_size"),
    ({"QDRANT__SERVICE__HARDWARE_REPORTING": "true"}, "service.hardware_reporting"),
    ({"QDRANT__SERVICE__JWT_RBAC": "true"}, "service.jwt_rbac"),
    ({"QDRANT__SERVICE__VERIFY_HTTPS_CLIENT_CERTIFICATE": "true"}, "service.verify_https_client_certificate"),
    ({"QDRANT__SERVICE__ENABLE_TLS": "true", "QDRANT__TLS__CERT": "/nonexistent/cert.pem"}, "tls.cert"),
    ({"QDRANT__SERVICE__API_KEY": KEY, "QDRANT__SERVICE__ENFORCE_INTERNAL_AUTH": "false"},
     "service.enforce_internal_auth"),
])
def test_settings_quiver_does_not_honour_stop_startup(env, named):
    srv = QuiverServer(env=env, ready_timeout=15)
    try:
        with pytest.raises(ServerStartError) as failed:
            srv.start()
        assert named in str(failed.value), str(failed.value)
    finally:
        srv.cleanup()


def test_clear_text_key_warning(server_factory):
    exposed = server_factory(env={"QDRANT__SERVICE__API_KEY": KEY})
    assert "travel in clear text" in exposed.log_path.read_text()
    assert KEY not in exposed.log_path.read_text()
    local = server_factory(env={"QDRANT__SERVICE__API_KEY": KEY, "QDRANT__SERVICE__HOST": "127.0.0.1"})
    assert "travel in clear text" not in local.log_path.read_text()


def test_snapshot_recovery_never_sends_the_configured_key(keyed, tmp_path):
    """The node's own key goes to no snapshot source; only an `api_key` given in the request does."""
    desc = call(keyed, "POST", "/collections/c3/snapshots", KEY).json()["result"]
    data = call(keyed, "GET", f"/collections/c3/snapshots/{desc['name']}", KEY).content
    (tmp_path / "x.snapshot").write_bytes(data)
    seen: list[tuple] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=str(tmp_path), **kw)

        def do_GET(self):  # noqa: N802
            seen.append((self.headers.get("api-key"), self.headers.get("authorization")))
            super().do_GET()

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}/x.snapshot"
        r = call(keyed, "PUT", "/collections/c3_copy/snapshots/recover", KEY, json={"location": url})
        assert r.status_code == 200, r.text
        r = call(keyed, "PUT", "/collections/c3_copy/snapshots/recover", KEY, json={"location": url, "api_key": "given"})
        assert r.status_code == 200, r.text
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert seen == [(None, None), ("given", None)]
