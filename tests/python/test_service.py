"""Service endpoints (spec §0.1, §1, §4.1, §4.5)."""

import re

from qdrant_client import models

from qhelpers import assert_error, assert_ok_envelope, describe


def test_root_version_info_not_enveloped(rest, client):
    r = rest.get("/")
    assert r.status_code == 200, describe(r)
    body = r.json()
    assert body["title"] == "qdrant - vector search engine", body
    assert body["version"] == "1.19.0", body
    assert "result" not in body and "status" not in body, f"GET / must not be enveloped: {body}"
    if "commit" in body:
        assert isinstance(body["commit"], str) and body["commit"]
    # the client sees the same
    info = client.info()
    assert info.title == "qdrant - vector search engine"
    assert info.version == "1.19.0"


def test_health_probes_plain_text(rest):
    for path, text in [
        ("/healthz", "healthz check passed"),
        ("/livez", "healthz check passed"),
        ("/readyz", "all shards are ready"),
    ]:
        r = rest.get(path)
        assert r.status_code == 200, describe(r)
        assert r.text.strip() == text, f"{path}: {r.text!r}"
        assert r.headers.get("content-type", "").startswith("text/plain"), (
            f"{path} content-type {r.headers.get('content-type')!r}"
        )


def test_metrics_prometheus(rest, client, collection_name):
    client.create_collection(collection_name, vectors_config=models.VectorParams(size=2, distance=models.Distance.DOT))
    rest.get("/collections")  # make sure at least one REST response was counted
    r = rest.get("/metrics")
    assert r.status_code == 200, describe(r)
    assert r.headers.get("content-type", "").startswith("text/plain"), r.headers.get("content-type")
    text = r.text
    assert "collections_total" in text, text[:1000]
    assert "rest_responses_total" in text, text[:1000]
    m = re.search(r"^collections_total(\{[^}]*\})?\s+([0-9.eE+]+)\s*$", text, re.M)
    assert m, f"no collections_total sample line in metrics:\n{text[:2000]}"
    assert float(m.group(2)) >= 1
    # Prometheus text format sanity: every non-comment line is `name{labels} value`
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        assert re.match(r"^[a-zA-Z_:][a-zA-Z0-9_:]*(\{.*\})?\s+\S+(\s+\d+)?$", line), f"bad metrics line {line!r}"


def test_cluster_disabled(rest, client):
    result = rest.ok("GET", "/cluster")
    assert result == {"status": "disabled"}, result
    st = client.cluster_status()
    assert st.status == "disabled"


def test_envelope_shape(rest):
    r = rest.get("/collections")
    res = assert_ok_envelope(r)
    assert isinstance(res["collections"], list)
    body = r.json()
    assert set(body) <= {"result", "status", "time", "usage"}, body.keys()
    assert "usage" not in body or body["usage"] is None or isinstance(body["usage"], dict)


def test_collection_cluster_info(rest, client, collection_name):
    client.create_collection(
        collection_name,
        vectors_config=models.VectorParams(size=3, distance=models.Distance.EUCLID),
        shard_number=3,
    )
    n = 90
    client.upsert(
        collection_name,
        points=[models.PointStruct(id=i, vector=[i, 0.5, -i]) for i in range(n)],
        wait=True,
    )
    res = rest.ok("GET", f"/collections/{collection_name}/cluster")
    assert isinstance(res["peer_id"], int)
    assert res["shard_count"] == 3, res
    local = res["local_shards"]
    assert [s["shard_id"] for s in local] == [0, 1, 2], f"local_shards must be sorted, one per shard: {res}"
    for s in local:
        assert s["state"] == "Active", res
        assert isinstance(s["points_count"], int)
        assert "shard_key" not in s or s["shard_key"] is None
    assert sum(s["points_count"] for s in local) == n, res
    # with 90 points, hashing should spread them over every shard
    assert all(s["points_count"] > 0 for s in local), f"points not distributed over shards: {res}"
    assert res.get("remote_shards", []) == []
    assert res.get("shard_transfers", []) == []
    assert "resharding_operations" not in res or not res["resharding_operations"]
    # the client parses it
    info = client.collection_cluster_info(collection_name)
    assert info.shard_count == 3
    assert len(info.local_shards) == 3


def test_collection_cluster_info_unknown(rest):
    r = rest.get("/collections/definitely_missing_cluster_xyz/cluster")
    assert_error(r, 404, "Not found: Collection `definitely_missing_cluster_xyz` doesn't exist!")


def test_cluster_ops_in_standalone_mode_are_405(rest, client, collection_name):
    client.create_collection(collection_name, vectors_config=models.VectorParams(size=2, distance=models.Distance.DOT))
    r = rest.post(
        f"/collections/{collection_name}/cluster",
        json={"move_shard": {"shard_id": 0, "from_peer_id": 1, "to_peer_id": 2}},
    )
    assert_error(r, 405, "standalone")


def test_trailing_slash_is_trimmed(rest):
    r = rest.get("/collections/")
    assert_ok_envelope(r)


def test_client_version_check_passes(server):
    """The client's compatibility check (run in a thread at construction) must not warn."""
    import warnings

    from qdrant_client.qdrant_remote import QdrantRemote

    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        QdrantRemote._check_compatibility(server.url, {}, None, 10)
    msgs = [str(x.message) for x in w]
    assert not any("incompatible" in m or "Failed to obtain server version" in m for m in msgs), msgs
