#!/usr/bin/env python3
"""Query and upsert throughput over gRPC vs REST on the shared 100k set, in one run.

One release `quiver` process serves both transports. Two collections (`rest`, `grpc`; Cosine,
384-d) receive the same 100 batches of 1,000 points with `wait=true`, the batches interleaved
REST, gRPC, REST, … so that machine noise hits both alike. Then the same queries (limit 10) run
interleaved against each collection. Requests are encoded before timing (JSON with orjson for
REST, protobuf for gRPC) so the figures compare transport + server; the client's encoding time
is reported separately. The results of both transports are compared (ids must match).

Prints a table and the ratios gRPC/REST (throughput: > 1 means gRPC is faster) and writes
bench/out/grpc_vs_rest.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import grpc
import numpy as np
import orjson
import requests
from qdrant_client import grpc as pb

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "python"))
from quiver_server import QuiverServer  # noqa: E402


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


def rest_upsert_body(vectors: np.ndarray, start: int, end: int) -> bytes:
    points = [{"id": i, "vector": vectors[i].tolist(), "payload": {"i": i}} for i in range(start, end)]
    return orjson.dumps({"points": points})


def grpc_upsert_body(vectors: np.ndarray, start: int, end: int) -> bytes:
    points = [
        pb.PointStruct(
            id=pb.PointId(num=i),
            vectors=pb.Vectors(vector=pb.Vector(dense=pb.DenseVector(data=vectors[i].tolist()))),
            payload={"i": pb.Value(integer_value=i)},
        )
        for i in range(start, end)
    ]
    return pb.UpsertPoints(collection_name="grpc", wait=True, points=points).SerializeToString()


def rest_query_body(q: np.ndarray, k: int) -> bytes:
    return orjson.dumps({"query": q.tolist(), "limit": k})


def grpc_query_body(q: np.ndarray, k: int) -> bytes:
    query = pb.Query(nearest=pb.VectorInput(dense=pb.DenseVector(data=q.tolist())))
    return pb.QueryPoints(collection_name="grpc", query=query, limit=k).SerializeToString()


def raw_call(channel: grpc.Channel, method: str, response_type):
    return channel.unary_unary(method, request_serializer=lambda b: b, response_deserializer=response_type.FromString)


def timed(fn, *args):
    t0 = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - t0


def create(sess: requests.Session, url: str, name: str) -> None:
    body = {"vectors": {"size": 384, "distance": "Cosine"}}
    r = sess.put(f"{url}/collections/{name}", json=body, timeout=60)
    r.raise_for_status()


def upserts(sess, url, upsert, vectors, batch) -> dict:
    n = len(vectors)
    ranges = [(s, min(n, s + batch)) for s in range(0, n, batch)]
    t0 = time.perf_counter()
    rest_bodies = [rest_upsert_body(vectors, s, e) for s, e in ranges]
    rest_encode = time.perf_counter() - t0
    t0 = time.perf_counter()
    grpc_bodies = [grpc_upsert_body(vectors, s, e) for s, e in ranges]
    grpc_encode = time.perf_counter() - t0
    rest_lat, grpc_lat = [], []
    headers = {"Content-Type": "application/json"}
    for rb, gb in zip(rest_bodies, grpc_bodies):
        r, dt = timed(lambda: sess.put(f"{url}/collections/rest/points?wait=true", data=rb, headers=headers, timeout=300))
        r.raise_for_status()
        rest_lat.append(dt)
        reply, dt = timed(upsert, gb)
        assert reply.result.status == pb.UpdateStatus.Completed, reply
        grpc_lat.append(dt)
    return {
        "points": n,
        "batch": batch,
        "rest_points_per_s": n / sum(rest_lat),
        "grpc_points_per_s": n / sum(grpc_lat),
        "rest_batch_p50_ms": 1000 * statistics.median(rest_lat),
        "grpc_batch_p50_ms": 1000 * statistics.median(grpc_lat),
        "rest_batch_p99_ms": 1000 * pct(rest_lat, 0.99),
        "grpc_batch_p99_ms": 1000 * pct(grpc_lat, 0.99),
        "rest_client_encode_s": rest_encode,
        "grpc_client_encode_s": grpc_encode,
        "request_bytes_rest": sum(map(len, rest_bodies)),
        "request_bytes_grpc": sum(map(len, grpc_bodies)),
    }


def queries(sess, url, query, qs: np.ndarray, gt: np.ndarray, k: int) -> dict:
    rest_bodies = [rest_query_body(q, k) for q in qs]
    grpc_bodies = [grpc_query_body(q, k) for q in qs]
    headers = {"Content-Type": "application/json"}
    rest_lat, grpc_lat, mismatches, hits = [], [], 0, 0
    for i, (rb, gb) in enumerate(zip(rest_bodies, grpc_bodies)):
        r, dt = timed(lambda: sess.post(f"{url}/collections/rest/points/query", data=rb, headers=headers, timeout=60))
        r.raise_for_status()
        rest_lat.append(dt)
        reply, dt = timed(query, gb)
        grpc_lat.append(dt)
        rest_ids = [p["id"] for p in r.json()["result"]["points"]]
        grpc_ids = [p.id.num for p in reply.result]
        mismatches += rest_ids != grpc_ids
        hits += len(set(grpc_ids) & set(int(x) for x in gt[i, :k]))
    return {
        "queries": len(qs),
        "k": k,
        "rest_qps": len(qs) / sum(rest_lat),
        "grpc_qps": len(qs) / sum(grpc_lat),
        "rest_p50_ms": 1000 * statistics.median(rest_lat),
        "grpc_p50_ms": 1000 * statistics.median(grpc_lat),
        "rest_p99_ms": 1000 * pct(rest_lat, 0.99),
        "grpc_p99_ms": 1000 * pct(grpc_lat, 0.99),
        "result_mismatches": mismatches,
        "grpc_recall_at_k": hits / (len(qs) * k),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin", default=str(REPO / "target" / "release" / "quiver"))
    ap.add_argument("--data", default=os.environ.get("QUIVER_BENCH_DATA", str(REPO.parent / "shared" / "data")))
    ap.add_argument("--points", type=int, default=100_000)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--k", type=int, default=10)
    args = ap.parse_args()

    data = Path(args.data)
    vectors = np.load(data / "base.npy")[: args.points].astype(np.float32)
    qs = np.load(data / "query.npy")[: args.queries].astype(np.float32)
    gt = np.load(data / "gt_ids.npy")[: args.queries]

    srv = QuiverServer(binary=Path(args.bin).resolve(), env={"QDRANT__LOG_LEVEL": "WARN"}, ready_timeout=60)
    srv.start()
    try:
        sess = requests.Session()
        channel = grpc.insecure_channel(
            f"127.0.0.1:{srv.grpc_port}", options=[("grpc.max_send_message_length", 64 << 20)]
        )
        upsert = raw_call(channel, "/qdrant.Points/Upsert", pb.PointsOperationResponse)
        query = raw_call(channel, "/qdrant.Points/Query", pb.QueryResponse)
        create(sess, srv.url, "rest")
        create(sess, srv.url, "grpc")
        up = upserts(sess, srv.url, upsert, vectors, args.batch)
        qu = queries(sess, srv.url, query, qs, gt, args.k)
        channel.close()
    finally:
        srv.cleanup()

    ratios = {
        "upsert_throughput_grpc_over_rest": up["grpc_points_per_s"] / up["rest_points_per_s"],
        "upsert_batch_p50_grpc_over_rest": up["grpc_batch_p50_ms"] / up["rest_batch_p50_ms"],
        "query_throughput_grpc_over_rest": qu["grpc_qps"] / qu["rest_qps"],
        "query_p50_grpc_over_rest": qu["grpc_p50_ms"] / qu["rest_p50_ms"],
        "client_encode_grpc_over_rest": up["grpc_client_encode_s"] / up["rest_client_encode_s"],
        "request_bytes_grpc_over_rest": up["request_bytes_grpc"] / up["request_bytes_rest"],
    }
    out = {"upsert": up, "query": qu, "ratios": ratios}
    (REPO / "bench" / "out").mkdir(parents=True, exist_ok=True)
    (REPO / "bench" / "out" / "grpc_vs_rest.json").write_text(json.dumps(out, indent=2))

    print(f"upsert {up['points']} pts x 384-d, batches of {up['batch']}, wait=true (interleaved)")
    print(f"  REST {up['rest_points_per_s']:10.0f} pts/s  batch p50 {up['rest_batch_p50_ms']:7.1f} ms  p99 {up['rest_batch_p99_ms']:7.1f} ms")
    print(f"  gRPC {up['grpc_points_per_s']:10.0f} pts/s  batch p50 {up['grpc_batch_p50_ms']:7.1f} ms  p99 {up['grpc_batch_p99_ms']:7.1f} ms")
    print(f"query {qu['queries']} x limit {qu['k']} (interleaved; result mismatches {qu['result_mismatches']}, recall@k {qu['grpc_recall_at_k']:.3f})")
    print(f"  REST {qu['rest_qps']:10.1f} q/s    p50 {qu['rest_p50_ms']:7.2f} ms  p99 {qu['rest_p99_ms']:7.2f} ms")
    print(f"  gRPC {qu['grpc_qps']:10.1f} q/s    p50 {qu['grpc_p50_ms']:7.2f} ms  p99 {qu['grpc_p99_ms']:7.2f} ms")
    print("ratios gRPC/REST (same run):")
    for name, value in ratios.items():
        print(f"  {name:36s} {value:6.3f}")
    return 1 if qu["result_mismatches"] else 0


if __name__ == "__main__":
    sys.exit(main())
