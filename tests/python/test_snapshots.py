"""Snapshots (spec §7): collection, shard and full snapshots on one node; recovery by file://,
http:// and upload; every bad input answered with a 4xx that changes nothing; kill -9 during a
recovery leaves the collection old or new."""

from __future__ import annotations

import hashlib
import http.server
import io
import random
import re
import tarfile
import threading
import time
from pathlib import Path

import pytest
import requests

from qhelpers import Rest, assert_error

DIM = 4
NAME_RE = re.compile(r"^.+-\d+-\d{4}-\d\d-\d\d-\d\d-\d\d-\d\d(-\d+)?\.snapshot$")


def make_collection(rest: Rest, name: str, points: int, gen: str = "old", shards: int = 2) -> None:
    rest.ok("PUT", f"/collections/{name}", json={"vectors": {"size": DIM, "distance": "Dot"}, "shard_number": shards})
    rest.ok("PUT", f"/collections/{name}/index?wait=true", json={"field_name": "kw", "field_schema": "keyword"})
    fill(rest, name, points, gen)


def fill(rest: Rest, name: str, points: int, gen: str) -> None:
    for start in range(0, points, 500):
        batch = [
            {"id": i, "vector": [float(i), 1.0, -0.5, float(i % 3)], "payload": {"kw": f"k{i % 5}", "i": i, "gen": gen}}
            for i in range(start, min(points, start + 500))
        ]
        rest.ok("PUT", f"/collections/{name}/points?wait=true", json={"points": batch})


def all_points(rest: Rest, name: str) -> dict:
    out, offset = {}, None
    while True:
        body = {"limit": 1000, "with_payload": True, "with_vector": True}
        if offset is not None:
            body["offset"] = offset
        page = rest.ok("POST", f"/collections/{name}/points/scroll", json=body)
        for p in page["points"]:
            out[p["id"]] = (p["vector"], p["payload"])
        offset = page.get("next_page_offset")
        if offset is None:
            return out


def state_of(rest: Rest, name: str) -> tuple:
    info = rest.ok("GET", f"/collections/{name}")
    return all_points(rest, name), sorted(info["payload_schema"]), info["config"]["params"]["vectors"]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def snap(server, rest, collection_name):
    """A collection with 300 points and its snapshot: (description, archive bytes)."""
    make_collection(rest, collection_name, 300)
    desc = rest.ok("POST", f"/collections/{collection_name}/snapshots")
    data = rest.get(f"/collections/{collection_name}/snapshots/{desc['name']}").content
    return desc, data


def tar_bytes(members: list[tuple[tarfile.TarInfo, bytes | None]]) -> bytes:
    """A tar written by hand, so that headers may lie (sizes, types, names)."""
    out = b""
    for info, data in members:
        out += info.tobuf(tarfile.GNU_FORMAT)
        if data:
            out += data + b"\0" * (-len(data) % 512)
    return out + b"\0" * 1024


def upload(rest: Rest, name: str, data: bytes, query: str = "", field: str = "snapshot"):
    return rest.post(f"/collections/{name}/snapshots/upload{query}", files={field: ("x.snapshot", data)})


# ----------------------------------------------------------------------------- round trips


def test_create_list_download_delete(rest, collection_name, snap):
    desc, data = snap
    assert NAME_RE.match(desc["name"]), desc
    assert desc["size"] == len(data) and len(desc["checksum"]) == 64
    assert desc["checksum"] == sha256(data)
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$", desc["creation_time"]), desc
    listed = rest.ok("GET", f"/collections/{collection_name}/snapshots")
    assert desc in listed
    r = rest.get(f"/collections/{collection_name}/snapshots/{desc['name']}")
    assert r.headers["content-type"] == "application/octet-stream"
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        names = sorted(tar.getnames())
    assert names == ["config.json", "payload_index.json", "shards/0.snapshot", "shards/1.snapshot", "snapshot.json"]
    assert rest.ok("DELETE", f"/collections/{collection_name}/snapshots/{desc['name']}") is True
    assert rest.ok("GET", f"/collections/{collection_name}/snapshots") == []
    r = rest.get(f"/collections/{collection_name}/snapshots/{desc['name']}")
    assert r.status_code == 404 and "Snapshot" in r.text
    assert_error(rest.delete(f"/collections/{collection_name}/snapshots/{desc['name']}"), 404)


def test_round_trip_on_a_fresh_node(rest, collection_name, snap, server_factory):
    desc, data = snap
    before = state_of(rest, collection_name)
    fresh = server_factory()
    other = Rest(fresh.url)
    assert other.ok("POST", f"/collections/{collection_name}/snapshots/upload?checksum={desc['checksum']}",
                    files={"snapshot": ("s.snapshot", data)}) is True
    assert state_of(other, collection_name) == before
    assert len(before[0]) == 300 and before[1] == ["kw"]
    # file:// recovery into a second name, from the fresh node's snapshots directory
    target = fresh.workdir / "snapshots" / "copy.snapshot"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    body = {"location": f"file://{target.resolve()}", "checksum": desc["checksum"]}
    assert other.ok("PUT", "/collections/copy/snapshots/recover", json=body) is True
    assert state_of(other, "copy") == before
    # restart: the recovered collections are on disk
    fresh.restart()
    assert state_of(other, collection_name) == before


def test_recover_replaces_existing_data(rest, collection_name, snap, server):
    desc, data = snap
    before = state_of(rest, collection_name)
    fill(rest, collection_name, 400, "new")  # changes 300 points, adds 100
    assert len(all_points(rest, collection_name)) == 400
    location = f"file://{(server.workdir / 'snapshots' / collection_name / desc['name']).resolve()}"
    assert rest.ok("PUT", f"/collections/{collection_name}/snapshots/recover", json={"location": location}) is True
    assert state_of(rest, collection_name) == before


def test_recover_from_http_url(rest, collection_name, snap, tmp_path):
    desc, data = snap
    (tmp_path / "s.snapshot").write_bytes(data)
    handler = lambda *a, **kw: http.server.SimpleHTTPRequestHandler(*a, directory=str(tmp_path), **kw)  # noqa: E731
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}/s.snapshot"
        name = collection_name + "_http"
        assert rest.ok("PUT", f"/collections/{name}/snapshots/recover", json={"location": url}) is True
        assert state_of(rest, name) == state_of(rest, collection_name)
        missing = rest.put(f"/collections/{name}/snapshots/recover", json={"location": url + ".nope"})
        assert_error(missing, 400, "Failed to download")
        rest.delete(f"/collections/{name}")
    finally:
        httpd.shutdown()


def test_wait_false_is_accepted(rest, collection_name):
    make_collection(rest, collection_name, 10)
    r = rest.post(f"/collections/{collection_name}/snapshots?wait=false")
    assert r.status_code == 202 and r.json()["status"] == "accepted"
    deadline = time.monotonic() + 10
    while not rest.ok("GET", f"/collections/{collection_name}/snapshots") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(rest.ok("GET", f"/collections/{collection_name}/snapshots")) == 1


def test_qdrant_client_snapshot_calls(client, rest, collection_name, server):
    from qdrant_client import models

    make_collection(rest, collection_name, 50)
    desc = client.create_snapshot(collection_name)
    assert desc.name in [d.name for d in client.list_snapshots(collection_name)]
    assert desc.size > 0 and desc.checksum
    location = f"file://{(server.workdir / 'snapshots' / collection_name / desc.name).resolve()}"
    assert client.recover_snapshot(collection_name, location, checksum=desc.checksum,
                                   priority=models.SnapshotPriority.SNAPSHOT) is True
    assert client.count(collection_name).count == 50
    shard = client.create_shard_snapshot(collection_name, 0)
    assert shard.name in [d.name for d in client.list_shard_snapshots(collection_name, 0)]
    assert client.delete_shard_snapshot(collection_name, 0, shard.name) is True
    full = client.create_full_snapshot()
    assert full.name in [d.name for d in client.list_full_snapshots()]
    assert client.delete_full_snapshot(full.name) is True
    assert client.delete_snapshot(collection_name, desc.name) is True


# ----------------------------------------------------------------------------- shard and full


def test_shard_snapshots(rest, collection_name):
    make_collection(rest, collection_name, 200)
    base = f"/collections/{collection_name}/shards/1"
    desc = rest.ok("POST", f"{base}/snapshots")
    assert re.match(rf"^{collection_name}-shard-1-\d{{4}}-.*\.snapshot$", desc["name"]), desc
    assert desc in rest.ok("GET", f"{base}/snapshots")
    data = rest.get(f"{base}/snapshots/{desc['name']}").content
    assert data[:8] == b"QVSHARD2" and sha256(data) == desc["checksum"]
    streamed = rest.get(f"{base}/snapshot")
    assert streamed.status_code == 200 and streamed.content[:8] == b"QVSHARD2"
    before = state_of(rest, collection_name)
    fill(rest, collection_name, 200, "new")
    body = {"location": desc["name"], "checksum": desc["checksum"]}
    assert rest.ok("PUT", f"{base}/snapshots/recover", json=body) is True
    after = state_of(rest, collection_name)[0]
    shard1 = {i for i, (_, p) in after.items() if p["gen"] == "old"}
    assert shard1 and all(before[0][i] == after[i] for i in shard1)  # shard 1 old again
    assert any(p["gen"] == "new" for _, p in after.values())  # shard 0 untouched
    assert rest.ok("POST", f"{base}/snapshots/upload", files={"snapshot": ("s", data)}) is True
    assert_error(rest.put(f"{base}/snapshots/recover", json={"location": "file:///etc/passwd"}), 400)
    assert_error(rest.put(f"{base}/snapshots/recover", json={"location": "../../x.snapshot"}), 400)
    assert_error(rest.put(f"/collections/{collection_name}/shards/7/snapshots/recover", json=body), 404)
    assert_error(rest.post(f"{base}/snapshots/upload", files={"snapshot": ("s", data[:-9])}), 400)
    assert rest.ok("DELETE", f"{base}/snapshots/{desc['name']}") is True
    assert rest.ok("GET", f"{base}/snapshots") == []


def test_full_snapshots(rest, collection_name):
    make_collection(rest, collection_name, 20)
    desc = rest.ok("POST", "/snapshots")
    assert desc["name"].startswith("full-snapshot-") and desc["name"].endswith(".snapshot")
    assert desc in rest.ok("GET", "/snapshots")
    data = rest.get(f"/snapshots/{desc['name']}").content
    assert sha256(data) == desc["checksum"]
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        import json

        config = json.load(tar.extractfile("config.json"))
        assert collection_name in config["collections_mapping"]
        assert config["collections_mapping"][collection_name] in tar.getnames()
    assert rest.ok("DELETE", f"/snapshots/{desc['name']}") is True
    assert desc not in rest.ok("GET", "/snapshots")


def test_full_snapshot_keeps_collections_whose_file_stems_collide(rest, collection_name):
    """`a b` and `a_b` make the same safe file stem: each still gets its own file."""
    import json

    names = [f"{collection_name} x", f"{collection_name}_x"]
    try:
        for n, name in enumerate(names):
            make_collection(rest, name, 5 + n)
        desc = rest.ok("POST", "/snapshots")
        data = rest.get(f"/snapshots/{desc['name']}").content
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            mapping = json.load(tar.extractfile("config.json"))["collections_mapping"]
            files = [mapping[name] for name in names]
            assert len(set(files)) == 2 and all(f in tar.getnames() for f in files)
            assert len(tar.getnames()) == len(set(tar.getnames()))
        rest.ok("DELETE", f"/snapshots/{desc['name']}")
    finally:
        for name in names:
            rest.delete(f"/collections/{name}")


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "bad",
    ["..%2F..%2Fpeer_id.json", ".hidden.snapshot", "a..b.snapshot", "x%00y", "sp%20ace.snapshot"],
)
def test_bad_snapshot_names(rest, collection_name, bad):
    make_collection(rest, collection_name, 1, shards=1)
    r = rest.get(f"/collections/{collection_name}/snapshots/{bad}")
    assert 400 <= r.status_code < 500 and b"root:" not in r.content, r.text
    assert 400 <= rest.delete(f"/collections/{collection_name}/snapshots/{bad}").status_code < 500
    assert 400 <= rest.get(f"/snapshots/{bad}").status_code < 500


def test_bad_locations_change_nothing(rest, collection_name, snap, server):
    desc, data = snap
    before = state_of(rest, collection_name)
    url = f"/collections/{collection_name}/snapshots/recover"
    root = (server.workdir / "snapshots").resolve()
    outside = server.workdir / "outside.snapshot"
    outside.write_bytes(data)
    (root / "link.snapshot").unlink(missing_ok=True)
    (root / "link.snapshot").symlink_to(outside)
    (root / collection_name / "link.snapshot").symlink_to(outside)
    assert rest.get(f"/collections/{collection_name}/snapshots/link.snapshot").status_code == 404
    assert "link.snapshot" not in [d["name"] for d in rest.ok("GET", f"/collections/{collection_name}/snapshots")]
    for location, status in [
        ("file:///etc/passwd", 400),
        (f"file://{root}/../outside.snapshot", 400),
        (f"file://{outside}", 400),
        (f"file://{root}/link.snapshot", 400),
        ("file://snapshots/x.snapshot", 400),
        (f"file://{root}/missing.snapshot", 400),  # Qdrant: `Snapshot file "…" does not exist` (400)
        ("ftp://example.com/x.snapshot", 400),
        ("/etc/passwd", 400),
    ]:
        assert_error(rest.put(url, json={"location": location}), status)
    good = f"file://{root / collection_name / desc['name']}"
    assert_error(rest.put(url, json={"location": good, "checksum": "0" * 64}), 400, "Checksum mismatch")
    assert_error(rest.put(url, json={"location": good, "checksum": "xyz"}), 400)
    assert_error(rest.put(url, json={"location": good, "priority": "bogus"}), 400)
    assert_error(rest.put(url, json={}), 400)
    for bad_name in ["a:b", "x*y", "%2E%2E"]:
        r = rest.put(f"/collections/{bad_name}/snapshots/recover", json={"location": good})
        assert 400 <= r.status_code < 500, r.text
    assert state_of(rest, collection_name) == before


def test_incompatible_snapshot_is_refused(rest, collection_name, snap):
    desc, data = snap
    other = collection_name + "_b"
    rest.ok("PUT", f"/collections/{other}", json={"vectors": {"size": 8, "distance": "Dot"}, "shard_number": 2})
    assert_error(upload(rest, other, data), 400, "not compatible")
    rest.ok("DELETE", f"/collections/{other}")
    rest.ok("PUT", f"/collections/{other}", json={"vectors": {"size": DIM, "distance": "Dot"}, "shard_number": 3})
    assert_error(upload(rest, other, data), 400, "shard number")
    assert rest.ok("GET", f"/collections/{other}")["points_count"] == 0
    rest.ok("DELETE", f"/collections/{other}")


def hostile_archives(data: bytes) -> dict[str, bytes]:
    good = tarfile.open(fileobj=io.BytesIO(data))
    members = [(m, good.extractfile(m).read()) for m in good.getmembers()]

    def with_extra(info: tarfile.TarInfo, payload: bytes | None = b"x") -> bytes:
        if payload is not None:
            info.size = len(payload)
        return tar_bytes(members + [(info, payload)])

    def entry(name: str, kind=tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
        info = tarfile.TarInfo(name)
        info.type, info.linkname = kind, link
        return info

    flipped = bytearray(data)
    shard_offset = data.index(b"QVSHARD2") + 100
    flipped[shard_offset] ^= 0xFF
    huge = entry("shards/0.snapshot")
    huge.size = 1 << 40
    return {
        "symlink": with_extra(entry("shards/9.snapshot", tarfile.SYMTYPE, "/etc/passwd"), None),
        "hardlink": with_extra(entry("shards/9.snapshot", tarfile.LNKTYPE, "config.json"), None),
        "device": with_extra(entry("shards/9.snapshot", tarfile.CHRTYPE), None),
        "fifo": with_extra(entry("shards/9.snapshot", tarfile.FIFOTYPE), None),
        "dotdot": with_extra(entry("../escaped.txt")),
        "absolute": with_extra(entry("/tmp/quiver-escaped.txt")),
        "unexpected": with_extra(entry("evil.sh")),
        "duplicate": with_extra(entry("config.json")),
        "huge": tar_bytes(members[:1] + [(huge, None)]),
        "corrupt_shard": bytes(flipped),
        "truncated": data[: len(data) // 2],
        "not_tar": b"this is not a snapshot" * 100,
        "no_manifest": tar_bytes([m for m in members if m[0].name != "snapshot.json"]),
        "bad_config": tar_bytes([(m, b"{" if m.name == "config.json" else d) for m, d in members]),
    }


def test_hostile_archives_change_nothing(rest, collection_name, snap, server):
    desc, data = snap
    before = state_of(rest, collection_name)
    for label, archive in hostile_archives(data).items():
        for target in (collection_name, collection_name + "_new"):
            r = upload(rest, target, archive)
            assert 400 <= r.status_code < 500, f"{label}: {r.status_code} {r.text}"
        assert not (server.workdir / "escaped.txt").exists() and not Path("/tmp/quiver-escaped.txt").exists()
    assert state_of(rest, collection_name) == before
    assert_error(rest.get(f"/collections/{collection_name}_new"), 404)
    assert_error(upload(rest, collection_name, data, field="file"), 400)
    assert list((server.storage_path / "tmp").glob("*")) == []


def test_limits_and_disabled_url_recovery(server_factory):
    srv = server_factory(env={
        "QDRANT__SERVICE__ENABLE_SNAPSHOT_URL_RECOVERY": "false",
        "QDRANT__STORAGE__SNAPSHOTS_CONFIG__MAX_SNAPSHOT_SIZE_MB": "1",
    })
    rest = Rest(srv.url)
    r = rest.put("/collections/c/snapshots/recover", json={"location": "http://127.0.0.1:9/x.snapshot"})
    assert_error(r, 403, "disabled")
    assert_error(upload(rest, "c", random.randbytes(3 << 20)), 413)
    rest = Rest(srv.url)  # the server may close a connection whose upload it refused

    def chunked():  # no Content-Length: the size is counted while the field streams in
        yield b'--b\r\nContent-Disposition: form-data; name="snapshot"; filename="s"\r\n\r\n'
        for _ in range(24):
            yield random.randbytes(128 << 10)
        yield b"\r\n--b--\r\n"

    r = rest.post("/collections/c/snapshots/upload", data=chunked(),
                  headers={"Content-Type": "multipart/form-data; boundary=b"})
    assert_error(r, 413)
    assert_error(Rest(srv.url).get("/collections/c"), 404)


# ----------------------------------------------------------------------------- crash


def test_kill_during_recovery_leaves_old_or_new(server_factory):
    srv = server_factory()
    rest = Rest(srv.url)
    make_collection(rest, "crash", 3000, gen="new")
    desc = rest.ok("POST", "/collections/crash/snapshots")
    fill(rest, "crash", 2000, "old")
    rest.ok("POST", "/collections/crash/points/delete?wait=true", json={"points": list(range(2000, 3000))})
    location = f"file://{(srv.workdir / 'snapshots' / 'crash' / desc['name']).resolve()}"
    outcomes = set()

    def recover():
        try:
            requests.put(f"{srv.url}/collections/crash/snapshots/recover", json={"location": location}, timeout=60)
        except requests.RequestException:
            pass  # killed mid-request

    # A recovery of this collection takes ~0.3-0.7 s here: kills land before, during and after.
    for delay in (0.0, 0.1, 0.25, 0.4, 0.55, 0.7, 0.9, 4.0):
        threading.Thread(target=recover, daemon=True).start()
        time.sleep(delay)
        srv.kill()
        srv.start()
        points = all_points(rest, "crash")
        gens = {p["gen"] for _, p in points.values()}
        assert (gens, len(points)) in [({"old"}, 2000), ({"new"}, 3000)], (delay, gens, len(points))
        outcomes.add(gens.pop())
        if "new" in outcomes:
            # back to old for the next round
            fill(rest, "crash", 2000, "old")
            rest.ok("POST", "/collections/crash/points/delete?wait=true", json={"points": list(range(2000, 3000))})
    print("outcomes", outcomes)
    assert "new" in outcomes  # the last round lets the recovery finish
