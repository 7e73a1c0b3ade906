"""Errors raised where the data lives reach the client unchanged whichever peer the request
entered (issue 14: typed peer protocol). A 2-peer cluster with 4 shards and rf 1, so half the
points live on the other peer: every request below must give the same status and message
through both peers.

Run: .venv/bin/pytest -q tests/python/test_peer_errors.py
"""

from __future__ import annotations

from cluster_harness import result, wait_until
from replication_load import replica_states

COLL = "errs"


def body_of(resp) -> tuple[int, str | None]:
    try:
        status = resp.json().get("status")
    except ValueError:
        return resp.status_code, resp.text
    return resp.status_code, status.get("error") if isinstance(status, dict) else status


def test_data_errors_are_the_same_through_every_peer(cluster_factory):
    c = cluster_factory(2)
    a, b = c.peer(0), c.peer(1)
    body = {"vectors": {"size": 4, "distance": "Dot"}, "shard_number": 4, "replication_factor": 1}
    assert result(a.put(f"/collections/{COLL}", json=body)) is True
    wait_until(lambda: sum(len(r) for r in replica_states(a.url, COLL).values()) == 4, timeout=15)
    points = [{"id": i, "vector": [1, 0, 0, float(i)], "payload": {"n": i}} for i in range(1, 41)]
    result(a.put(f"/collections/{COLL}/points", json={"points": points}, params={"wait": "true"}))
    owners = {s: next(iter(reps)) for s, reps in replica_states(a.url, COLL).items()}
    assert len(set(owners.values())) == 2, f"every shard on one peer: {owners}"
    missing = list(range(1000, 1016))  # spread over all shards
    requests = [
        ("PUT", f"/collections/{COLL}/points/vectors",
         {"points": [{"id": i, "vector": [0, 1, 0, 0]} for i in missing]}),
        ("POST", f"/collections/{COLL}/points/payload", {"payload": {"x": 1}, "points": missing}),
        ("PUT", f"/collections/{COLL}/points/payload", {"payload": {"x": 1}, "points": missing}),
        ("POST", f"/collections/{COLL}/points/vectors/delete", {"points": missing, "vector": [""]}),
    ]
    for i in missing:
        requests.append(("PUT", f"/collections/{COLL}/points/vectors",
                         {"points": [{"id": i, "vector": [0, 1, 0, 0]}]}))
        requests.append(("POST", f"/collections/{COLL}/points/payload", {"payload": {"x": 1}, "points": [i]}))
    for method, path, req in requests:
        answers = {p.index: body_of(p.request(method, path, json=req, params={"wait": "true"})) for p in (a, b)}
        assert answers[0] == answers[1], f"{method} {path} {req}: {answers}"
        status, message = answers[0]
        assert 400 <= status < 500, f"{method} {path}: {answers[0]}"
        assert "No point with id" in (message or ""), answers[0]
    # Nothing changed: every point still has its payload and no x.
    got = result(b.post(f"/collections/{COLL}/points/scroll", json={"limit": 100, "with_payload": True}))
    assert {p["id"]: p["payload"] for p in got["points"]} == {i: {"n": i} for i in range(1, 41)}
