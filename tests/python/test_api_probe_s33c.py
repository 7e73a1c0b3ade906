"""Differences from Qdrant found by replaying what Qdrant's own shell and end-to-end tests assert
(`basic_grpc_test.sh`, `basic_sparse_grpc_test.sh`, `basic_multivector_grpc_test.sh`,
`shard-snapshot-api.sh`, `snapshots-recovery.sh`, `e2e_tests/test_continuous_snapshots.py`,
`test_bugs.py`, `test_low_disk.py`), with qdrant-client's gRPC stubs for what grpcurl sends:

- a gRPC validation error says `Validation error in body` (REST's `… in JSON body`);
- a legacy gRPC `Recommend` has no limit check: proto3's default limit 0 asks for no points;
- each request of a gRPC Search/Recommend/Discover/Query batch must name its collection;
- the flat multivector form (`data` + `vectors_count`) refuses a count of 0 or one that does not
  divide `data` with Qdrant's messages, and a count of 1 is a multivector of one vector;
- a `SearchPoints` sparse vector breaking the rules says `Sparse indices does not match sparse
  vector conditions`;
- collection snapshots created at the same moment all succeed (they shared one part file);
- after the disk filled up during a checkpoint, checkpoints resume once space is freed.

The other checks pin behaviours those scripts assert that already matched."""

from __future__ import annotations

import hashlib
import subprocess
import threading
import time
import uuid

import grpc
import pytest
import requests
from google.protobuf import json_format
from qdrant_client import grpc as pb

from qhelpers import assert_error
from quiver_server import QuiverServer


@pytest.fixture
def points_stub(server):
    with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
        yield pb.PointsStub(channel)


def msg(cls, body: dict):
    return json_format.ParseDict(body, cls())


def refusal(call, request) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        call(request, timeout=10)
    return caught.value


def dense_points(rest, name: str) -> None:
    rest.ok("PUT", f"/collections/{name}", json={"vectors": {"size": 4, "distance": "Dot"}})
    points = [
        {"id": 1, "vector": [0.05, 0.61, 0.76, 0.74], "payload": {"city": "Berlin"}},
        {"id": 2, "vector": [0.19, 0.81, 0.75, 0.11], "payload": {"city": ["Berlin", "London"]}},
        {"id": 3, "vector": [0.36, 0.55, 0.47, 0.94], "payload": {"city": ["Berlin", "Moscow"]}},
        {"id": 4, "vector": [0.18, 0.01, 0.85, 0.80], "payload": {"city": ["London", "Moscow"]}},
    ]
    rest.ok("PUT", f"/collections/{name}/points?wait=true", json={"points": points})


def test_grpc_validation_errors_say_validation_error_in_body(rest, collection_name, points_stub):
    rest.ok("PUT", f"/collections/{collection_name}",
            json={"vectors": {"size": 4, "distance": "Dot"}, "sparse_vectors": {"sparse": {}}})
    sparse = {"sparse": {"indices": [0, 2, 1, 2], "values": [0.1, 0.2, 0.3, 0.4]}}
    upsert = msg(pb.UpsertPoints, {"collection_name": collection_name, "points": [
        {"id": {"num": 100}, "vectors": {"vectors": {"vectors": {"sparse": sparse}}}}]})
    e = refusal(points_stub.Upsert, upsert)
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert e.details().startswith("Validation error in body: ["), e.details()
    # REST keeps its own words for the same refusal.
    body = {"points": [{"id": 100, "vector": {"sparse": {"indices": [0, 2, 1, 2], "values": [1, 2, 3, 4]}}}]}
    assert_error(rest.put(f"/collections/{collection_name}/points", json=body), 422, "Validation error in JSON body")


def test_grpc_recommend_without_limit_answers_no_points(rest, collection_name, points_stub):
    dense_points(rest, collection_name)
    request = {"collection_name": collection_name, "positive": [{"num": 1}], "negative": [{"num": 2}]}
    assert list(points_stub.Recommend(msg(pb.RecommendPoints, request), timeout=10).result) == []
    # The request is still checked and run: a missing example is an error.
    missing = {"collection_name": collection_name, "positive": [{"num": 99}]}
    assert refusal(points_stub.Recommend, msg(pb.RecommendPoints, missing)).code() == grpc.StatusCode.NOT_FOUND
    limited = points_stub.Recommend(msg(pb.RecommendPoints, {**request, "limit": 2}), timeout=10).result
    assert [p.id.num for p in limited] == [3, 4]
    batch = {"collection_name": collection_name, "recommend_points": [
        {"collection_name": collection_name, "positive": [{"num": 1}]},
        {"collection_name": collection_name, "positive": [{"num": 1}], "negative": [{"num": 2}], "limit": 2}]}
    answers = points_stub.RecommendBatch(msg(pb.RecommendBatchPoints, batch), timeout=10).result
    assert [[p.id.num for p in a.result] for a in answers] == [[], [3, 4]]


def test_grpc_batch_requests_must_each_name_the_collection(rest, collection_name, points_stub):
    dense_points(rest, collection_name)
    recommend = {"collection_name": collection_name,
                 "recommend_points": [{"positive": [{"num": 1}]}, {"positive": [{"num": 1}]}]}
    e = refusal(points_stub.RecommendBatch, msg(pb.RecommendBatchPoints, recommend))
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT and "Validation error in body" in e.details()
    assert "recommend_points[0].collection_name" in e.details()
    search = {"collection_name": collection_name, "search_points": [{"vector": [0.2, 0.1, 0.9, 0.7], "limit": 3}]}
    e = refusal(points_stub.SearchBatch, msg(pb.SearchBatchPoints, search))
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT and "search_points[0].collection_name" in e.details()
    query = {"collection_name": collection_name, "query_points": [{"limit": 3}]}
    e = refusal(points_stub.QueryBatch, msg(pb.QueryBatchPoints, query))
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT and "query_points[0].collection_name" in e.details()
    search["search_points"][0]["collection_name"] = collection_name
    found = points_stub.SearchBatch(msg(pb.SearchBatchPoints, search), timeout=10).result
    assert [p.id.num for p in found[0].result] == [4, 1, 3]


def test_grpc_flat_multivectors_follow_qdrant(rest, collection_name, points_stub):
    rest.ok("PUT", f"/collections/{collection_name}", json={
        "vectors": {"my-multivec": {"size": 4, "distance": "Dot", "multivector_config": {"comparator": "max_sim"}}}})

    def upsert(data, count):
        vectors = {"vectors": {"vectors": {"my-multivec": {"data": data, "vectors_count": count}}}}
        return msg(pb.UpsertPoints, {"collection_name": collection_name, "wait": True,
                                     "points": [{"id": {"num": 5}, "vectors": vectors}]})

    expected = [
        (upsert([0.05, 0.61, 0.76, 0.74] * 2, 1), "Wrong input: Vector dimension error: expected dim: 4, got 8"),
        (upsert([0.05, 0.61, 0.76, 0.74, 0.05, 0.61, 0.76], 2),
         "Validation error: invalid dense vector length for vectors count"),
        (upsert([0.05, 0.61, 0.76, 0.74] * 2, 0), "vectors count must be greater than 0"),
    ]
    for request, words in expected:
        e = refusal(points_stub.Upsert, request)
        assert e.code() == grpc.StatusCode.INVALID_ARGUMENT and words in e.details(), e.details()
    points_stub.Upsert(upsert([0.05, 0.61, 0.76, 0.74, 0.19, 0.81, 0.75, 0.11], 2), timeout=10)
    got = rest.ok("POST", f"/collections/{collection_name}/points", json={"ids": [5], "with_vector": True})
    stored = got[0]["vector"]["my-multivec"]
    assert [pytest.approx(v) for v in ([0.05, 0.61, 0.76, 0.74], [0.19, 0.81, 0.75, 0.11])] == stored
    for vector, got_dim in (([0.2, 0.1, 0.9], 3), ([0.2, 0.1, 0.9, 0.7, 0.8], 5)):
        search = msg(pb.SearchPoints, {"collection_name": collection_name, "vector": vector, "limit": 3,
                                       "vector_name": "my-multivec"})
        e = refusal(points_stub.Search, search)
        assert f"Wrong input: Vector dimension error: expected dim: 4, got {got_dim}" in e.details()


def test_grpc_sparse_search_with_mismatched_indices_is_refused(rest, collection_name, points_stub):
    rest.ok("PUT", f"/collections/{collection_name}", json={"sparse_vectors": {"test": {}}})
    rest.ok("PUT", f"/collections/{collection_name}/points?wait=true", json={"points": [
        {"id": 1, "vector": {"test": {"indices": [0, 1, 2, 3], "values": [0.05, 0.61, 0.76, 0.74]}}}]})
    search = {"collection_name": collection_name, "vector": [0.2, 0.1], "sparse_indices": {"data": [0, 1, 2, 3]},
              "vector_name": "test", "limit": 3}
    e = refusal(points_stub.Search, msg(pb.SearchPoints, search))
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "Sparse indices does not match sparse vector conditions" in e.details()
    search["vector"] = [0.2, 0.1, 0.9, 0.7]
    found = points_stub.Search(msg(pb.SearchPoints, search), timeout=10).result
    assert [p.id.num for p in found] == [1]


def test_grpc_upsert_with_empty_payload_clears_it(rest, collection_name, points_stub):
    dense_points(rest, collection_name)
    point = {"id": {"num": 1}, "vectors": {"vector": {"data": [0.05, 0.61, 0.76, 0.74]}}, "payload": {}}
    points_stub.Upsert(msg(pb.UpsertPoints, {"collection_name": collection_name, "wait": True, "points": [point]}),
                       timeout=10)
    get = {"collection_name": collection_name, "with_payload": {"enable": True}, "ids": [{"num": 1}]}
    got = points_stub.Get(msg(pb.GetPoints, get), timeout=10).result
    assert len(got) == 1 and dict(got[0].payload) == {}


def test_concurrent_collection_snapshots_all_succeed(rest, collection_name, server):
    dense_points(rest, collection_name)
    answers: list[requests.Response] = []

    def create() -> None:
        answers.append(requests.post(f"{server.url}/collections/{collection_name}/snapshots", timeout=60))

    threads = [threading.Thread(target=create) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [a.status_code for a in answers] == [200] * 4, [a.text for a in answers]
    names = {a.json()["result"]["name"] for a in answers}
    assert len(names) == 4, names
    listed = {s["name"] for s in rest.ok("GET", f"/collections/{collection_name}/snapshots")}
    assert names <= listed
    for name in names:
        data = requests.get(f"{server.url}/collections/{collection_name}/snapshots/{name}", timeout=60).content
        described = next(a.json()["result"] for a in answers if a.json()["result"]["name"] == name)
        assert hashlib.sha256(data).hexdigest() == described["checksum"]


def test_shard_snapshot_api_statuses(rest, collection_name, server, unique):
    """`shard-snapshot-api.sh`: every endpoint answers 404 for a missing collection, shard or
    snapshot, and a snapshot recovered by name, by URL or by upload restores its points."""
    dense_points(rest, collection_name)
    base = f"/collections/{collection_name}/shards"
    ghost = f"/collections/{unique('ghost')}/shards"
    recover = {"location": "invalid.snapshot"}
    upload = {"snapshot": ("s", b"invalid-snapshot-data")}
    for path in (ghost + "/0", base + "/99"):
        assert rest.get(f"{path}/snapshots").status_code == 404
        assert rest.post(f"{path}/snapshots").status_code == 404
        assert rest.put(f"{path}/snapshots/recover", json=recover).status_code == 404
        assert rest.put(f"{path}/snapshots/recover",
                        json={"location": "http://localhost:9/invalid.snapshot"}).status_code == 404
        assert rest.post(f"{path}/snapshots/upload", files=upload).status_code == 404
        assert rest.get(f"{path}/snapshots/invalid.snapshot").status_code == 404
        assert rest.delete(f"{path}/snapshots/invalid.snapshot").status_code == 404
    assert rest.put(f"{base}/0/snapshots/recover", json=recover).status_code == 404
    assert rest.get(f"{base}/0/snapshots/invalid.snapshot").status_code == 404
    assert rest.delete(f"{base}/0/snapshots/invalid.snapshot").status_code == 404

    name = rest.ok("POST", f"{base}/0/snapshots")["name"]
    data = requests.get(f"{server.url}{base}/0/snapshots/{name}", timeout=60).content
    url = f"{server.url}{base}/0/snapshots/{name}"
    for how in ("name", "url", "upload"):
        rest.ok("DELETE", f"/collections/{collection_name}")
        rest.ok("PUT", f"/collections/{collection_name}", json={"vectors": {"size": 4, "distance": "Dot"}})
        if how == "upload":
            rest.ok("POST", f"{base}/0/snapshots/upload?priority=replica", files={"snapshot": ("s", data)})
        else:
            rest.ok("PUT", f"{base}/0/snapshots/recover", json={"location": name if how == "name" else url})
        assert rest.ok("POST", f"/collections/{collection_name}/points/count", json={})["count"] == 4, how
        if how == "name":
            # Recovering by name uses the file in this shard's snapshot directory, which the
            # collection's deletion removed: the URL and the upload bring their own copy.
            name = rest.ok("POST", f"{base}/0/snapshots")["name"]
            url = f"{server.url}{base}/0/snapshots/{name}"
    rest.ok("DELETE", f"{base}/0/snapshots/{name}")
    assert rest.get(f"{base}/0/snapshots/{name}").status_code == 404


def test_collection_recovered_from_url_with_checksum_and_extra_fields(rest, collection_name, server, unique):
    """`snapshots-recovery.sh` and `test_snapshots_recovery.py`: the recovered collection has the
    points and the configuration of the original; the recovery body may carry a stray `wait`."""
    dense_points(rest, collection_name)
    name = requests.post(f"{server.url}/collections/{collection_name}/snapshots", data="{}",
                         headers={"Content-Type": "application/json"}, timeout=60).json()["result"]["name"]
    url = f"{server.url}/collections/{collection_name}/snapshots/{name}"
    content = requests.get(url, timeout=60).content
    recovered = unique("recovered")
    try:
        body = {"location": url, "wait": "true", "checksum": hashlib.sha256(content).hexdigest()}
        assert rest.ok("PUT", f"/collections/{recovered}/snapshots/recover", json=body) is True
        original = rest.ok("GET", f"/collections/{collection_name}")
        copy = rest.ok("GET", f"/collections/{recovered}")
        assert copy["points_count"] == 4 and copy["config"] == original["config"]
    finally:
        requests.delete(f"{server.url}/collections/{recovered}", timeout=10)


def test_double_slash_path_is_served(rest, collection_name, server):
    """`basic_api_test.sh` searches at `//collections/...`."""
    dense_points(rest, collection_name)
    body = {"filter": {"should": [{"key": "city", "match": {"value": "London"}}]},
            "vector": [0.2, 0.1, 0.9, 0.7], "top": 3}
    r = requests.post(f"{server.url}//collections/{collection_name}/points/search", json=body, timeout=30)
    assert r.status_code == 200, r.text
    assert [p["id"] for p in r.json()["result"]] == [4, 2]


def wal_bytes(storage) -> int:
    return sum(f.stat().st_size for f in storage.glob("collections/*/*/wal/*") if f.is_file())


@pytest.mark.long
def test_checkpoints_resume_after_the_disk_is_freed(tmp_path):
    """`e2e_tests/test_low_disk.py`: writes fill the disk, then space is freed and the server goes
    on. A checkpoint that failed on the full disk left its redb handle refusing every later
    transaction ("Previous I/O error occurred"), so no checkpoint succeeded again until a restart
    and the WAL, which a checkpoint truncates, only grew."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=10m", "tmpfs", str(disk)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs (needs root): {mounted.stderr.strip()}")
    storage = disk / "storage"
    srv = QuiverServer(env={"QDRANT__STORAGE__STORAGE_PATH": str(storage)})
    try:
        srv.start()
        url = f"{srv.url}/collections/c"
        requests.put(url, json={"vectors": {"size": 4, "distance": "Cosine"},
                                "optimizers_config": {"indexing_threshold": 0},
                                "wal_config": {"wal_capacity_mb": 1}}, timeout=30).raise_for_status()

        def put_batch() -> requests.Response:
            points = [{"id": str(uuid.uuid4()), "vector": [0.1, 0.2, 0.3, 0.4]} for _ in range(100)]
            return requests.put(f"{url}/points?wait=true", json={"points": points}, timeout=60)

        refused = next((r for r in (put_batch() for _ in range(2000)) if r.status_code != 200), None)
        assert refused is not None and "No space left on device" in refused.text, "the disk never filled up"
        subprocess.run(["mount", "-o", "remount,size=64m", str(disk)], check=True)
        for _ in range(3):
            assert put_batch().status_code == 200
        grown = wal_bytes(storage)
        deadline = time.monotonic() + 30
        while wal_bytes(storage) >= grown and time.monotonic() < deadline:
            time.sleep(0.5)
        assert wal_bytes(storage) < grown, f"no checkpoint truncated the WAL: {srv.log_tail(3)}"
        found = requests.post(f"{url}/points/query", json={"query": [0.1, 0.2, 0.3, 0.4], "limit": 10}, timeout=30)
        assert found.status_code == 200 and len(found.json()["result"]["points"]) == 10
    finally:
        srv.stop()
        if subprocess.run(["umount", str(disk)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(disk)], capture_output=True)
