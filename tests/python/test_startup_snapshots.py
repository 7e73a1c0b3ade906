"""Start-up restores (spec §7.3, §8.1): `--snapshot <path>:<collection>` (alias
`--collection-snapshot`), `--storage-snapshot <path>` and `-f/--force-snapshot`, with real
processes. A fresh node gets the points, vectors, payloads, payload schema and aliases of the
source; an existing collection or alias is replaced only with the force flag (without it the
process exits non-zero and nothing changes); a damaged snapshot stops the process with nothing
created; a single cluster peer registers the restored collection with its replicas Active."""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from cluster_harness import Peer, result
from qhelpers import Rest
from quiver_server import QuiverServer, ServerStartError, free_port, quiver_bin
from test_snapshots import fill, make_collection, state_of

SRC, OTHER, ALIAS = "src", "other", "src_alias"


def aliases(rest: Rest) -> dict:
    return {a["alias_name"]: a["collection_name"] for a in rest.ok("GET", "/aliases")["aliases"]}


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """Node A with two collections and an alias, snapshotted then stopped:
    {"collection": path, "full": path, "src": state, "other": state, "aliases": {...}}."""
    out = tmp_path_factory.mktemp("startup-snapshots")
    srv = QuiverServer()
    try:
        srv.start()
        rest = Rest(srv.url)
        make_collection(rest, SRC, 300)
        make_collection(rest, OTHER, 40, shards=1)
        rest.ok("POST", "/collections/aliases", json={"actions": [
            {"create_alias": {"collection_name": SRC, "alias_name": ALIAS}}]})
        desc = rest.ok("POST", f"/collections/{SRC}/snapshots")
        full = rest.ok("POST", "/snapshots")
        # Copies without the `.checksum` files: the archives are checked on their own.
        shutil.copy(srv.workdir / "snapshots" / SRC / desc["name"], out / "src.snapshot")
        shutil.copy(srv.workdir / "snapshots" / full["name"], out / "full.snapshot")
        info = {"src": state_of(rest, SRC), "other": state_of(rest, OTHER), "aliases": aliases(rest)}
    finally:
        srv.cleanup()
    assert len(info["src"][0]) == 300 and info["src"][1] == ["kw"] and info["aliases"] == {ALIAS: SRC}
    return {"collection": out / "src.snapshot", "full": out / "full.snapshot", **info}


def run_to_exit(workdir: Path, args: list[str]) -> tuple[int, str]:
    """Runs quiver in `workdir` with `args`, expecting it to exit by itself: (code, output)."""
    env = dict(os.environ)
    env.update({"QDRANT__SERVICE__HTTP_PORT": str(free_port()), "QDRANT__SERVICE__GRPC_PORT": str(free_port())})
    done = subprocess.run([str(quiver_bin()), *args], cwd=workdir, env=env, capture_output=True, timeout=60)
    return done.returncode, (done.stdout + done.stderr).decode("utf-8", "replace")


def collections(rest: Rest) -> list[str]:
    return sorted(c["name"] for c in rest.ok("GET", "/collections")["collections"])


# ----------------------------------------------------------------------------- fresh nodes


def test_collection_snapshots_on_a_fresh_node(source, server_factory):
    path = source["collection"]
    srv = server_factory(args=["--snapshot", f"{path}:restored", "--collection-snapshot", f"{path}:twice"])
    rest = Rest(srv.url)
    assert collections(rest) == ["restored", "twice"]
    assert state_of(rest, "restored") == source["src"]
    assert state_of(rest, "twice") == source["src"]
    srv.args = []
    srv.restart()  # on disk, not only in memory
    assert state_of(rest, "restored") == source["src"]


def test_storage_snapshot_on_a_fresh_node(source, server_factory):
    srv = server_factory(args=["--storage-snapshot", str(source["full"])])
    rest = Rest(srv.url)
    assert collections(rest) == [OTHER, SRC]
    assert state_of(rest, SRC) == source["src"] and state_of(rest, OTHER) == source["other"]
    assert aliases(rest) == source["aliases"]
    assert rest.ok("POST", f"/collections/{ALIAS}/points/count", json={"exact": True})["count"] == 300
    srv.args = []
    srv.restart()
    assert state_of(rest, SRC) == source["src"] and aliases(rest) == source["aliases"]


# ----------------------------------------------------------------------------- conflicts


def test_existing_collection_needs_force(source, server_factory):
    flag = ["--snapshot", f"{source['collection']}:{SRC}"]
    srv = server_factory()
    rest = Rest(srv.url)
    make_collection(rest, SRC, 50, gen="live", shards=1)
    fill(rest, SRC, 400, "live")
    live = state_of(rest, SRC)
    srv.stop()
    code, output = run_to_exit(srv.workdir, flag)
    assert code != 0, output
    assert f"Collection `{SRC}` already exists" in output and "--force-snapshot" in output, output
    srv.start()
    assert state_of(rest, SRC) == live  # nothing changed
    srv.stop()
    srv.args = [*flag, "--force-snapshot"]
    srv.start()
    assert state_of(rest, SRC) == source["src"]  # replaced, although its shard count differed
    srv.args = []
    srv.restart()
    assert state_of(rest, SRC) == source["src"]
    assert list((srv.storage_path / "tmp").glob("*")) == []


def test_existing_alias_needs_force(source, server_factory):
    srv = server_factory()
    rest = Rest(srv.url)
    make_collection(rest, "mine", 10, shards=1)
    rest.ok("POST", "/collections/aliases", json={"actions": [
        {"create_alias": {"collection_name": "mine", "alias_name": ALIAS}}]})
    srv.stop()
    code, output = run_to_exit(srv.workdir, ["--storage-snapshot", str(source["full"])])
    assert code != 0 and f"Alias `{ALIAS}` already exists" in output, output
    srv.start()
    assert collections(rest) == ["mine"] and aliases(rest) == {ALIAS: "mine"}
    srv.stop()
    srv.args = ["-f", "--storage-snapshot", str(source["full"])]
    srv.start()
    assert collections(rest) == ["mine", OTHER, SRC] and aliases(rest) == {ALIAS: SRC}
    assert state_of(rest, SRC) == source["src"]


# ----------------------------------------------------------------------------- bad input


def damaged(source_path: Path, out: Path) -> dict[str, Path]:
    """Damaged copies of a collection snapshot: truncated, one byte flipped in a shard file, a
    wrong `.checksum` beside an intact copy, and a file that is not there."""
    data = source_path.read_bytes()
    with tarfile.open(source_path) as tar:
        shard = tar.getmember("shards/0.snapshot")
    flipped = bytearray(data)
    flipped[shard.offset_data + shard.size // 2] ^= 0x40
    files = {"truncated": data[: len(data) // 2], "flipped": bytes(flipped), "checksummed": data}
    paths = {}
    for label, content in files.items():
        paths[label] = out / f"{label}.snapshot"
        paths[label].write_bytes(content)
    (out / "checksummed.snapshot.checksum").write_text("0" * 64)
    paths["missing"] = out / "missing.snapshot"
    return paths


def test_damaged_snapshots_stop_the_process_and_create_nothing(source, server_factory, tmp_path):
    srv = server_factory()
    rest = Rest(srv.url)
    make_collection(rest, "kept", 5, shards=1)
    kept = state_of(rest, "kept")
    srv.stop()
    cases = [(label, ["--snapshot", f"{path}:fresh"]) for label, path in damaged(source["collection"], tmp_path).items()]
    full = source["full"].read_bytes()
    (tmp_path / "full-truncated.snapshot").write_bytes(full[: len(full) * 2 // 3])
    cases.append(("full truncated", ["--storage-snapshot", str(tmp_path / "full-truncated.snapshot")]))
    cases.append(("collection snapshot as full", ["--storage-snapshot", str(source["collection"])]))
    for label, args in cases:
        code, output = run_to_exit(srv.workdir, [*args, "--force-snapshot"])
        assert code != 0, (label, output)
        assert "snapshot" in output.lower() and "panicked" not in output, (label, output)
        print(label, "->", output.strip().splitlines()[-1])
    srv.start()
    assert collections(rest) == ["kept"] and state_of(rest, "kept") == kept
    assert list((srv.storage_path / "tmp").glob("*")) == []


@pytest.mark.parametrize("arg", ["no-name.snapshot", "x.snapshot:", "x.snapshot:a/b", "x.snapshot:.."])
def test_bad_snapshot_flag_is_a_usage_error(arg, tmp_path):
    code, output = run_to_exit(tmp_path, ["--snapshot", arg])
    assert code == 2 and "--snapshot" in output, output
    assert not (tmp_path / "storage").exists()


# ----------------------------------------------------------------------------- cluster mode


def test_single_cluster_peer_registers_the_restored_collections(source, cluster_factory):
    cluster = cluster_factory(1, start=False)
    peer = Peer(cluster, 0)
    cluster.peers.append(peer)
    peer.extra_args = ["--storage-snapshot", str(source["full"])]
    peer.start()
    rest = Rest(peer.url)
    info = result(peer.get(f"/collections/{SRC}/cluster"))
    assert info["shard_count"] == 2 and info["remote_shards"] == [], info
    assert {s["state"] for s in info["local_shards"]} == {"Active"}, info
    assert state_of(rest, SRC) == source["src"] and state_of(rest, OTHER) == source["other"]
    assert aliases(rest) == source["aliases"]
    # Registered through consensus: still there after a restart without the flag, and writable.
    peer.extra_args = []
    peer.stop()
    peer.start()
    assert state_of(rest, SRC) == source["src"] and aliases(rest) == source["aliases"]
    fill(rest, SRC, 310, "after")
    assert rest.ok("POST", f"/collections/{ALIAS}/points/count", json={"exact": True})["count"] == 310
    changed = state_of(rest, SRC)
    # Restoring over the registered collections: refused without force, nothing changed ...
    peer.stop()
    peer.extra_args = ["--storage-snapshot", str(source["full"])]
    with pytest.raises(ServerStartError, match=f"Collection `{OTHER}` already exists"):
        peer.start()
    peer.extra_args = []
    peer.start()
    assert state_of(rest, SRC) == changed
    # ... and replaced through consensus with it.
    peer.stop()
    peer.extra_args = ["--force-snapshot", "--storage-snapshot", str(source["full"])]
    peer.start()
    assert state_of(rest, SRC) == source["src"] and aliases(rest) == source["aliases"]
    info = result(peer.get(f"/collections/{SRC}/cluster"))
    assert {s["state"] for s in info["local_shards"]} == {"Active"} and info["shard_count"] == 2, info
