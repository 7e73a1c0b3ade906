#!/usr/bin/env python3
"""Search and upsert throughput with an API key, with a JWT and with TLS, against a plain server,
in one run.

Four `quiver` processes of the same binary run side by side: `plain` (no key, HTTP), `key`
(`service.api_key`, HTTP), `jwt` (`service.jwt_rbac`, a bearer token per request), and `tls`
(`service.enable_tls` + the key, HTTPS with a CA made by `trustme`). Each gets the same batches of
the shared data set (`wait=true`), interleaved plain, key, jwt, tls, plain, … so machine noise
hits all alike; then the same queries (limit 10), interleaved the same way. Every client keeps its
connection (one TLS handshake per client), so the TLS figure is the steady-state cost of
encryption, not of handshakes. Bodies are encoded before timing.

Prints throughput per configuration and the ratios against `plain` (< 1: slower) and writes
bench/out/security.json.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import orjson
import requests
import trustme

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "python"))
from quiver_server import QuiverServer  # noqa: E402

KEY = "bench-api-key"


def jwt(secret: str) -> str:
    b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()  # noqa: E731
    head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64(json.dumps({"exp": int(time.time()) + 86400, "access": "m"}).encode())
    sig = hmac.new(secret.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64(sig)}"


def servers(binary: str, workdir: Path) -> dict[str, tuple[QuiverServer, requests.Session]]:
    ca = trustme.CA()
    ca_pem = workdir / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_pem))
    leaf = ca.issue_cert("localhost", "127.0.0.1")
    cert, key = workdir / "cert.pem", workdir / "key.pem"
    leaf.private_key_pem.write_to_path(str(key))
    cert.write_bytes(b"".join(b.bytes() for b in leaf.cert_chain_pems))
    common = {"QDRANT__SERVICE__HOST": "127.0.0.1", "QDRANT__LOG_LEVEL": "WARN"}
    configs = {
        "plain": ({}, {}, None),
        "key": ({"QDRANT__SERVICE__API_KEY": KEY}, {"api-key": KEY}, None),
        "jwt": ({"QDRANT__SERVICE__API_KEY": KEY, "QDRANT__SERVICE__JWT_RBAC": "true"},
                {"Authorization": f"Bearer {jwt(KEY)}"}, None),
        "tls": ({"QDRANT__SERVICE__API_KEY": KEY, "QDRANT__SERVICE__ENABLE_TLS": "true",
                 "QDRANT__TLS__CERT": str(cert), "QDRANT__TLS__KEY": str(key)}, {"api-key": KEY}, str(ca_pem)),
    }
    out = {}
    for name, (env, headers, ca_file) in configs.items():
        srv = QuiverServer(binary=binary, env={**common, **env}, tls_ca=ca_file, ready_timeout=60)
        srv.start()
        session = requests.Session()
        session.headers.update(headers)
        session.headers["content-type"] = "application/json"
        session.verify = ca_file or True
        session.trust_env = False  # REQUESTS_CA_BUNDLE would replace `verify`
        out[name] = (srv, session)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=str(REPO / "target" / "release" / "quiver"))
    ap.add_argument("--points", type=int, default=20_000)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--queries", type=int, default=1_000)
    args = ap.parse_args()
    data = Path(os.environ.get("QUIVER_BENCH_DATA", REPO.parent / "shared" / "data"))
    base = np.load(data / "base.npy")[: args.points].astype(np.float32)
    queries = np.load(data / "query.npy").astype(np.float32)
    queries = np.resize(queries, (args.queries, queries.shape[1]))
    dim = base.shape[1]
    workdir = Path(tempfile.mkdtemp(prefix="quiver-bench-sec-"))
    running = servers(args.bin, workdir)
    try:
        names = list(running)
        for srv, sess in running.values():
            r = sess.put(f"{srv.url}/collections/b", data=orjson.dumps({"vectors": {"size": dim, "distance": "Cosine"}}))
            r.raise_for_status()
        upsert = {n: 0.0 for n in names}
        for start in range(0, args.points, args.batch):
            points = [{"id": i, "vector": base[i].tolist(), "payload": {"i": i}}
                      for i in range(start, min(start + args.batch, args.points))]
            body = orjson.dumps({"points": points})
            for n in names:
                srv, sess = running[n]
                t0 = time.perf_counter()
                r = sess.put(f"{srv.url}/collections/b/points?wait=true", data=body)
                upsert[n] += time.perf_counter() - t0
                r.raise_for_status()
        bodies = [orjson.dumps({"query": q.tolist(), "limit": 10}) for q in queries]
        search = {n: 0.0 for n in names}
        answers: dict[str, list] = {n: [] for n in names}
        for body in bodies:
            for n in names:
                srv, sess = running[n]
                t0 = time.perf_counter()
                r = sess.post(f"{srv.url}/collections/b/points/query", data=body)
                search[n] += time.perf_counter() - t0
                r.raise_for_status()
                answers[n].append([p["id"] for p in r.json()["result"]["points"]])
        same = all(answers[n] == answers["plain"] for n in names)
        result = {
            "points": args.points, "batch": args.batch, "queries": args.queries, "dim": dim, "binary": args.bin,
            "upsert_points_per_s": {n: args.points / upsert[n] for n in names},
            "queries_per_s": {n: args.queries / search[n] for n in names},
            "same_results": same,
        }
        print(f"binary {args.bin}; {args.points} points × {dim}-d in batches of {args.batch}; {args.queries} queries")
        print(f"{'config':<8}{'upsert pts/s':>14}{'ratio':>8}{'queries/s':>12}{'ratio':>8}")
        for n in names:
            up, qs = result["upsert_points_per_s"][n], result["queries_per_s"][n]
            up0, qs0 = result["upsert_points_per_s"]["plain"], result["queries_per_s"]["plain"]
            print(f"{n:<8}{up:>14.0f}{up / up0:>8.3f}{qs:>12.1f}{qs / qs0:>8.3f}")
        print(f"identical results across configurations: {same}")
        out = REPO / "bench" / "out"
        out.mkdir(exist_ok=True)
        (out / "security.json").write_text(json.dumps(result, indent=2))
    finally:
        for srv, sess in running.values():
            sess.close()
            srv.cleanup()


if __name__ == "__main__":
    main()
