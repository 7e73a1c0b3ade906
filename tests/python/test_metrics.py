"""`/metrics` with Qdrant's families, names and labels, ours (`quiver_*`), `?per_collection`,
`service.metrics_port` and `service.metrics_prefix`, over REST and gRPC responses."""

from __future__ import annotations

import re

import pytest
import requests
from qdrant_client import QdrantClient, models

from cluster_harness import Cluster, wait_until
from quiver_server import QuiverServer, free_port

QDRANT_FAMILIES = [
    "app_info", "app_status_recovery_mode", "collections_total", "collections_vector_total",
    "collection_points", "collection_vectors", "collection_active_replicas_min",
    "collection_active_replicas_max", "collection_dead_replicas", "collection_running_optimizations",
    "collection_shard_transfer_incoming", "collection_shard_transfer_outgoing",
    "snapshot_creation_running", "snapshot_recovery_running", "snapshot_created_total",
    "cluster_enabled", "rest_responses_total", "rest_responses_fail_total",
    "rest_responses_avg_duration_seconds", "rest_responses_min_duration_seconds",
    "rest_responses_max_duration_seconds", "rest_responses_duration_seconds",
    "grpc_responses_total", "grpc_responses_fail_total", "grpc_responses_avg_duration_seconds",
    "grpc_responses_duration_seconds", "memory_resident_bytes", "memory_allocated_bytes",
    "process_threads", "process_open_fds", "process_max_fds", "process_open_mmaps",
]
CLUSTER_FAMILIES = [
    "cluster_peers_total", "cluster_term", "cluster_commit", "cluster_pending_operations_total",
    "cluster_voter", "cluster_last_update_timestamp_seconds", "cluster_working_state",
]
OURS = [
    "quiver_wal_fsync_duration_seconds", "quiver_replica_confirmations_total",
    "quiver_digest_checks_total", "quiver_automatic_transfers_total",
]


def parse(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """family/series name -> [(labels, value)] of the text format."""
    series: dict[str, list[tuple[dict[str, str], float]]] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.fullmatch(r'([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)', line)
        assert m, f"not Prometheus text format: {line!r}"
        labels = dict(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        assert labels not in [lab for lab, _ in series.get(m.group(1), [])], f"duplicate series: {line!r}"
        series.setdefault(m.group(1), []).append((labels, float(m.group(3))))
    return series


def value(series, family, **labels) -> float:
    """The sum of `family`'s series that have `labels`."""
    matches = [v for lab, v in series.get(family, []) if all(lab.get(k) == w for k, w in labels.items())]
    assert matches, f"no {family} with {labels}: {series.get(family)}"
    return sum(matches)


def families(text: str) -> set[str]:
    return set(re.findall(r"^# TYPE (\S+) ", text, re.M))


def test_qdrant_families_names_and_labels():
    with QuiverServer() as srv:
        client = QdrantClient(url=srv.url, grpc_port=srv.grpc_port, prefer_grpc=True, timeout=30)
        rest = QdrantClient(url=srv.url, timeout=30)
        rest.create_collection("m", vectors_config={"a": models.VectorParams(size=2, distance=models.Distance.DOT)})
        rest.upsert("m", points=[models.PointStruct(id=i, vector={"a": [1.0, i]}, payload={"i": i}) for i in range(7)])
        rest.query_points("m", query=[1.0, 0.0], using="a", limit=3)
        client.query_points("m", query=[1.0, 0.0], using="a", limit=3)
        with pytest.raises(Exception):
            client.query_points("missing", query=[1.0, 0.0], limit=3)
        bad = requests.post(srv.url + "/collections/m/points/query", json={"query": [1.0], "using": "a"}, timeout=5)
        assert bad.status_code == 400, bad.text
        rest.create_snapshot("m")
        text = requests.get(srv.url + "/metrics", timeout=10).text
        s = parse(text)
        missing = [f for f in QDRANT_FAMILIES + OURS if f not in families(text)]
        assert not missing, missing
        assert value(s, "app_info", name="qdrant") == 1
        assert value(s, "cluster_enabled") == 0
        assert value(s, "collections_total") == 1
        assert value(s, "collection_points", id="m") == 7
        assert value(s, "collection_vectors", collection="m", vector="a") == 7
        assert value(s, "collections_vector_total") == 7
        assert value(s, "collection_active_replicas_min") == 1
        assert value(s, "snapshot_created_total", id="m") == 1
        endpoint = "/collections/{collection_name}/points/query"
        assert value(s, "rest_responses_total", method="POST", endpoint=endpoint, status="200") == 1
        assert value(s, "rest_responses_total", method="POST", endpoint=endpoint, status="400") == 1
        assert value(s, "rest_responses_fail_total", method="POST", endpoint=endpoint, status="400") == 1
        assert value(s, "rest_responses_duration_seconds_count", method="POST", endpoint=endpoint, status="200") == 1
        assert value(s, "rest_responses_duration_seconds_bucket", endpoint=endpoint, status="200", le="+Inf") == 1
        assert value(s, "rest_responses_max_duration_seconds", endpoint=endpoint, status="200") > 0
        assert value(s, "grpc_responses_total", endpoint="/qdrant.Points/Query") == 2
        assert value(s, "grpc_responses_fail_total", endpoint="/qdrant.Points/Query") == 1
        assert value(s, "quiver_wal_fsync_duration_seconds_count") >= 1
        assert value(s, "process_threads") > 1 and value(s, "memory_resident_bytes") > 1e6

        per = parse(requests.get(srv.url + "/metrics", params={"per_collection": "true"}, timeout=10).text)
        assert value(per, "rest_responses_total", endpoint=endpoint, status="200", collection="m") == 1
        assert value(per, "grpc_responses_total", endpoint="/qdrant.Points/Query", collection="missing") == 1
        assert all("collection" in lab for lab, _ in per["rest_responses_total"])
        r = requests.get(srv.url + "/metrics", params={"per_collection": "maybe"}, timeout=5)
        assert r.status_code == 400 and "per_collection" in r.json()["status"]["error"]


def test_metrics_port_and_prefix_without_key():
    port = free_port()
    env = {"QDRANT__SERVICE__METRICS_PORT": str(port), "QDRANT__SERVICE__METRICS_PREFIX": "qdrant_",
           "QDRANT__SERVICE__API_KEY": "secret-key"}
    with QuiverServer(env=env) as srv:
        assert requests.get(srv.url + "/metrics", timeout=5).status_code == 401
        main = requests.get(srv.url + "/metrics", headers={"api-key": "secret-key"}, timeout=5)
        separate = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
        assert separate.status_code == 200
        for text in (main.text, separate.text):
            names = families(text)
            assert "qdrant_app_info" in names and "qdrant_quiver_wal_fsync_duration_seconds" in names
            assert not any(not n.startswith("qdrant_") for n in names)
        assert requests.get(f"http://127.0.0.1:{port}/collections", timeout=5).status_code == 404


def test_invalid_metrics_prefix_stops_startup(tmp_path):
    import subprocess

    from quiver_server import quiver_bin

    env = {"QDRANT__SERVICE__METRICS_PREFIX": "9-bad", "PATH": "/usr/bin:/bin"}
    run = subprocess.run([str(quiver_bin())], cwd=tmp_path, env=env, capture_output=True, timeout=30)
    assert run.returncode != 0 and b"service.metrics_prefix" in run.stderr


def test_cluster_metrics_lag_digests_and_automatic_recovery():
    env = {"QDRANT__CLUSTER__DIGEST_CHECK_INTERVAL_SEC": "1"}
    with Cluster(3, env=env) as c:
        p = c.peer(0)
        r = p.put("/collections/r", json={"vectors": {"size": 2, "distance": "Dot"}, "shard_number": 1,
                                          "replication_factor": 3})
        assert r.status_code == 200, r.text
        p.put("/collections/r/points?wait=true", json={"points": [{"id": i, "vector": [1.0, i]} for i in range(20)]})
        scrape = lambda peer: parse(peer.get("/metrics").text)  # noqa: E731
        s = scrape(p)
        for f in CLUSTER_FAMILIES:
            assert f in s, f
        assert value(s, "cluster_enabled") == 1 and value(s, "cluster_peers_total") == 3
        assert value(s, "cluster_working_state", state="working") == 1
        assert value(s, "collection_active_replicas_min") == 3
        # The primary reports its replicas' lag (0: every write reached them) and compares digests.
        wait_until(lambda: any(value(scrape(x), "quiver_digest_checks_total", result="match") > 0
                               for x in c.live_peers()), timeout=20, desc="a digest check")
        lags = [lab for x in c.live_peers() for lab, v in scrape(x).get("quiver_replication_lag_records", [])]
        assert lags and all(lab["collection"] == "r" and lab["shard"] == "0" for lab in lags)
        assert all(value(scrape(x), "quiver_digest_checks_total", result="mismatch") == 0 for x in c.live_peers())
        victim = c.peer(2)
        victim.kill()
        wait_until(lambda: value(scrape(p), "collection_dead_replicas") == 1, timeout=20, desc="dead replica")
        p.put("/collections/r/points?wait=true", json={"points": [{"id": 100 + i, "vector": [1.0, i]} for i in range(5)]})
        victim.start()
        # The returning peer recovers its Dead replica by itself: one automatic transfer, finished.
        wait_until(lambda: value(scrape(victim), "quiver_automatic_transfers_total", event="finished",
                                 reason="recovery") >= 1, timeout=40, desc="recovery counted")
        wait_until(lambda: value(scrape(p), "collection_dead_replicas") == 0, timeout=20, desc="all active")
        # Replicas that are not the primary were confirmed current with it before serving reads.
        assert sum(value(scrape(x), "quiver_replica_confirmations_total", result="current")
                   for x in c.live_peers()) >= 1


def test_digests_are_compared_under_a_steady_stream_of_writes():
    """Anti-entropy (design record 052): with several clients writing all the time, the replicas
    are never at one sequence number when their digests are read; after a few such checks the
    primary holds the shard's writes back for one check, so the replicas are still compared
    (and match), and every write still succeeds."""
    import threading

    DIM, WRITERS = 64, 8
    env = {"QDRANT__CLUSTER__DIGEST_CHECK_INTERVAL_SEC": "1"}
    with Cluster(2, env=env) as c:
        p = c.peer(0)
        r = p.put("/collections/w", json={"vectors": {"size": DIM, "distance": "Dot"}, "shard_number": 1,
                                          "replication_factor": 2})
        assert r.status_code == 200, r.text
        # Enough points that reading a digest takes a while: the writes it held back on the
        # primary are then ordered while the replica is asked for its own.
        for start in range(0, 20_000, 2_000):
            batch = [{"id": 100_000 + i, "vector": [float(i % 7)] * DIM} for i in range(start, start + 2_000)]
            assert p.put("/collections/w/points?wait=true", json={"points": batch}).status_code == 200
        stop, written, failures = threading.Event(), [0] * WRITERS, []

        def writer(n: int) -> None:
            session, i = requests.Session(), 0
            while not stop.is_set():
                point = {"id": n * 1000 + i % 500, "vector": [float(i)] * DIM, "payload": {"w": n}}
                r = session.put(f"{p.url}/collections/w/points?wait=true", json={"points": [point]}, timeout=30)
                if r.status_code != 200:
                    failures.append(r.text)
                written[n] += 1
                i += 1

        threads = [threading.Thread(target=writer, args=(n,), daemon=True) for n in range(WRITERS)]
        for t in threads:
            t.start()
        scrape = lambda peer: parse(peer.get("/metrics").text)  # noqa: E731
        try:
            wait_until(lambda: sum(written) > 200, timeout=30, desc="writes flowing")
            matches = lambda: sum(value(scrape(x), "quiver_digest_checks_total", result="match")  # noqa: E731
                                  for x in c.peers)
            idle = matches()  # checks made before the writes began
            wait_until(lambda: matches() > idle, timeout=30, desc="a digest check while writes continue")
            before = sum(written)
            wait_until(lambda: sum(written) > before + 100, timeout=30, desc="writes still flowing after it")
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=30)
        assert not failures, failures[:3]
        assert all(value(scrape(x), "quiver_digest_checks_total", result="mismatch") == 0 for x in c.peers)
