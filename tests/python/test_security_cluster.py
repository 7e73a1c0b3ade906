"""Security between peers: with an API key every p2p call carries the key derived from it, and
with `cluster.p2p.enable_tls` peers talk over mutual TLS. A 3-peer cluster with both runs the
seed's replication scenario (3 peers, every shard on 2, one peer killed under load, then
restarted and recovered); a peer started without the key, or with a certificate from another
CA, cannot join; a raw p2p call without the key is refused before it is decoded."""

from __future__ import annotations

import time

import grpc
import pytest
import requests
import trustme

from cluster_harness import Cluster, Peer, result, wait_until
from security_helpers import CA_PEM, KEY, issue, peer_key, raw_p2p_call, tls_env, write_ca
from test_replication import (
    _fault_scenario,
    _final_checks,
    _three_peer_cluster,
    middle_non_leader,
    wait_victim_recovered,
    DEAD_WITHIN,
)


@pytest.fixture
def keyed_requests(monkeypatch):
    """Every request of the harness and the load generator carries the API key."""
    original = requests.Session.request

    def request(self, method, url, **kw):
        headers = dict(kw.pop("headers", None) or {})
        headers.setdefault("api-key", KEY)
        return original(self, method, url, headers=headers, **kw)

    monkeypatch.setattr(requests.Session, "request", request)


@pytest.fixture
def secure_env(tmp_path):
    cert, key = issue(tmp_path / "tls", "peer")
    return tls_env(cert, key, CA_PEM, QDRANT__SERVICE__API_KEY=KEY, QDRANT__CLUSTER__P2P__ENABLE_TLS="true")


def test_seed_scenario_over_p2p_tls_with_a_key(cluster_factory, keyed_requests, secure_env):
    def make(n: int, **kw) -> Cluster:
        return cluster_factory(n, env=secure_env, **kw)

    c, states, victim = _three_peer_cluster(make, pick=middle_non_leader)
    tag = "3-node rf2 over p2p TLS + key"
    rec, t0, dead = _fault_scenario(c, states, victim, tag, victim.kill)
    live = [p for p in c.peers if p is not victim]
    _final_checks(c, rec, t0, tag, live, dead, victim, DEAD_WITHIN)
    t1 = time.monotonic()
    victim.start()
    recovered = wait_victim_recovered(live, victim.peer_id, t1, timeout=60)
    assert len(recovered) == len(live), f"victim's replicas not Active again: {recovered}"
    # Without the key, the cluster API answers nothing.
    assert requests.get(live[0].url + "/cluster", headers={"api-key": "wrong"}, timeout=5).status_code == 401


def start_intruder(c: Cluster, env: dict[str, str]) -> Peer:
    """A new peer that tries to join through peer 0 (not waited for)."""
    p = Peer(c, len(c.peers), env)
    p.bootstrap = c.peers[0].uri
    c.peers.append(p)
    p.start(wait_ready=False)
    return p


def refused(c: Cluster, intruder: Peer, members: int) -> None:
    """The intruder never becomes a member: it exits (or never gets ready) and the cluster still
    has `members` peers."""
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline and intruder.is_running():
        try:
            if requests.get(intruder.url + "/readyz", timeout=1).status_code == 200:
                break
        except requests.RequestException:
            pass
        time.sleep(0.2)
    assert not intruder.is_running() or requests.get(intruder.url + "/readyz", timeout=2).status_code != 200, \
        "the intruder became ready"
    intruder.kill()
    peers = result(c.peers[0].get("/cluster"))["peers"]
    assert len(peers) == members, peers


def test_peers_without_the_key_or_the_ca_cannot_join(cluster_factory, keyed_requests, secure_env, tmp_path):
    c = cluster_factory(2, env=secure_env, p2p_scheme="https")  # https:// URIs work as http:// do
    c.wait_converged()
    # Same certificates, no key (empty is unset; the cluster's env would set it otherwise).
    no_key = dict(secure_env, QDRANT__SERVICE__API_KEY="")
    refused(c, start_intruder(c, no_key), 2)
    # The key, but a certificate (and CA) the cluster does not trust.
    other = trustme.CA()
    cert, key = issue(tmp_path / "other", "intruder", other)
    strange = dict(secure_env, **tls_env(cert, key, write_ca(tmp_path / "other", other)))
    refused(c, start_intruder(c, strange), 2)
    # A wrong key with good certificates.
    refused(c, start_intruder(c, dict(secure_env, QDRANT__SERVICE__API_KEY="not-the-key")), 2)
    # The members still work together.
    body = {"vectors": {"size": 4, "distance": "Dot"}, "shard_number": 2, "replication_factor": 2}
    assert result(c.peers[1].put("/collections/after", json=body)) is True


def test_raw_p2p_calls_need_the_key(cluster_factory, keyed_requests):
    c = cluster_factory(1, env={"QDRANT__SERVICE__API_KEY": KEY})
    address = f"127.0.0.1:{c.peers[0].p2p_port}"
    for metadata in [None, [("x-quiver-peer-key", "wrong")], [("x-quiver-peer-key", peer_key("other"))],
                     [("api-key", KEY)]]:
        with pytest.raises(grpc.RpcError) as failed:
            raw_p2p_call(address, metadata)
        assert failed.value.code() == grpc.StatusCode.UNAUTHENTICATED, metadata
    reply = raw_p2p_call(address, [("x-quiver-peer-key", peer_key(KEY))])
    assert b"Pong" in reply


def test_raw_p2p_calls_need_a_client_certificate(cluster_factory, keyed_requests, secure_env, tmp_path):
    c = cluster_factory(1, env=secure_env)
    address = f"localhost:{c.peers[0].p2p_port}"
    key = [("x-quiver-peer-key", peer_key(KEY))]
    root = CA_PEM.read_bytes()
    with pytest.raises(grpc.RpcError) as failed:
        raw_p2p_call(address, key, grpc.ssl_channel_credentials(root))
    assert failed.value.code() == grpc.StatusCode.UNAVAILABLE
    with pytest.raises(grpc.RpcError):
        raw_p2p_call(address.replace("localhost", "127.0.0.1"), key)  # plain text to a TLS port
    cert, private = issue(tmp_path / "client", "client")
    creds = grpc.ssl_channel_credentials(root, private.read_bytes(), cert.read_bytes())
    assert b"Pong" in raw_p2p_call(address, key, creds)
    wait_until(lambda: c.peers[0].cluster_info()["peer_id"], timeout=5)
