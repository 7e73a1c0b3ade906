"""`GET /telemetry` (details_level, anonymize), `GET`/`DELETE /issues` (an unindexed field
filtered in a large collection, with the action that fixes it) and
`GET /collections/{c}/optimizations`."""

from qhelpers import assert_error, assert_ok_envelope


def test_telemetry_levels(rest, collection_name):
    assert_ok_envelope(rest.put(f"/collections/{collection_name}", json={"vectors": {"size": 2, "distance": "Dot"}}))
    assert_ok_envelope(rest.put(f"/collections/{collection_name}/points?wait=true", json={"points": [{"id": 1, "vector": [1, 0]}]}))
    t0 = assert_ok_envelope(rest.get("/telemetry"))
    assert t0["app"]["name"] == "qdrant" and t0["app"]["version"]
    assert t0["collections"]["number_of_collections"] >= 1 and "collections" not in t0["collections"]
    assert t0["cluster"] == {"enabled": False}
    assert any(k.startswith("PUT /collections/{name}/points") for k in t0["requests"]["rest"]["responses"])
    t1 = assert_ok_envelope(rest.get("/telemetry", params={"details_level": 2}))
    mine = [c for c in t1["collections"]["collections"] if c["id"] == collection_name]
    assert mine and mine[0]["points_count"] == 1 and mine[0]["config"]["params"]["vectors"]["size"] == 2
    t2 = assert_ok_envelope(rest.get("/telemetry", params={"details_level": 2, "anonymize": "true"}))
    assert all(c["id"] != collection_name for c in t2["collections"]["collections"])
    assert_error(rest.get("/telemetry", params={"details_level": "x"}), 400, "Deserialize error in query parameters")


def test_unindexed_field_issue(rest, collection_name):
    base = f"/collections/{collection_name}"
    assert_ok_envelope(rest.put(base, json={"vectors": {"size": 2, "distance": "Dot"}}))
    pts = [{"id": i, "vector": [1.0, float(i)], "payload": {"color": "red" if i % 2 else "blue"}} for i in range(1000)]
    assert_ok_envelope(rest.put(f"{base}/points?wait=true", json={"points": pts}))
    flt = {"must": [{"key": "color", "match": {"value": "red"}}]}
    assert assert_ok_envelope(rest.post(f"{base}/points/count", json={"filter": flt}))["count"] == 500
    issues = assert_ok_envelope(rest.get("/issues"))["issues"]
    mine = [i for i in issues if i["id"] == f"UNINDEXED_FIELD/{collection_name}/color"]
    assert len(mine) == 1
    action = mine[0]["solution"]["immediate"]["action"]
    assert action["method"] == "PUT" and action["uri"] == f"{base}/index"
    assert action["body"] == {"field_name": "color", "field_schema": "keyword"}
    # Doing what it says resolves it.
    assert_ok_envelope(rest.put(f"{base}/index?wait=true", json=action["body"]))
    assert not [i for i in assert_ok_envelope(rest.get("/issues"))["issues"] if i["id"] == mine[0]["id"]]
    assert_ok_envelope(rest.post(f"{base}/points/count", json={"filter": {"must": [{"key": "n", "range": {"gt": 1}}]}}))
    assert any(i["id"].endswith("/n") for i in assert_ok_envelope(rest.get("/issues"))["issues"])
    assert assert_ok_envelope(rest.delete("/issues")) is True
    assert assert_ok_envelope(rest.get("/issues"))["issues"] == []


def test_optimizations(rest, collection_name):
    base = f"/collections/{collection_name}"
    assert_ok_envelope(rest.put(base, json={"vectors": {"size": 2, "distance": "Dot"}, "shard_number": 2}))
    res = assert_ok_envelope(rest.get(f"{base}/optimizations"))
    assert res == {"summary": {"queued_optimizations": 0, "queued_segments": 0, "queued_points": 0, "idle_segments": 2}, "running": []}
    res = assert_ok_envelope(rest.get(f"{base}/optimizations", params={"with": "queued,completed"}))
    assert res["queued"] == [] and res["completed"] == [] and "idle_segments" not in res
    assert_error(rest.get(f"{base}/optimizations", params={"with": "bogus"}), 400, "unknown variant `bogus`")
    assert_error(rest.get("/collections/nope_opt/optimizations"), 404, "Collection `nope_opt` doesn't exist!")


def _os_release(key):
    try:
        lines = open("/etc/os-release").read().splitlines()
    except OSError:
        return None
    return next((line.split("=", 1)[1].strip('"') for line in lines if line.startswith(key + "=")), None)


def test_telemetry_app_as_qdrant(rest):
    """`app` has the fields of Qdrant's AppBuildTelemetry: name, version and startup always
    (jwt_rbac only when configured), features and system from details level 1, with values
    that are true of this process and machine."""
    import datetime
    import os

    before = datetime.datetime.now(datetime.timezone.utc)
    app0 = assert_ok_envelope(rest.get("/telemetry"))["app"]
    assert set(app0) == {"name", "version", "startup"}, app0
    startup = datetime.datetime.fromisoformat(app0["startup"].replace("Z", "+00:00"))
    assert startup <= before, f"startup {startup} is after the request at {before}"
    app1 = assert_ok_envelope(rest.get("/telemetry", params={"details_level": 1}))["app"]
    assert app1["startup"] == app0["startup"] and app1["version"] == app0["version"]
    assert set(app1["features"]) == {"debug", "service_debug_feature", "recovery_mode", "gpu", "rocksdb"}
    assert app1["features"]["gpu"] is False and isinstance(app1["features"]["debug"], bool)
    system = app1["system"]
    assert system["is_docker"] == os.path.exists("/.dockerenv")
    assert system["distribution"] == _os_release("ID")
    assert system["distribution_version"] == _os_release("VERSION_ID")
    assert 1 <= system["cores"] <= os.cpu_count()
    mem_total = next(int(l.split()[1]) for l in open("/proc/meminfo") if l.startswith("MemTotal:"))
    assert system["ram_size"] == mem_total
    assert system["cpu_endian"] == "little"
    assert "jwt_rbac" not in app1
