"""Out of disk space (Qdrant's "Handle Out-Of-Disk gracefully", qdrant#4108): the storage
directory on a small tmpfs is filled by writes. A write that does not fit is refused with a 500
naming the cause, never acknowledged; reads keep working; once space is freed writes work again;
after kill -9 and a restart every acknowledged point is there and nothing refused is.

Mounting a tmpfs needs root: without it the test is skipped."""

from __future__ import annotations

import random
import subprocess
from pathlib import Path

import pytest
import requests

from quiver_server import QuiverServer

DIM = 128
BATCH = 100


def mount_tmpfs(path: Path, size_mb: int) -> None:
    path.mkdir(parents=True, exist_ok=True)
    run = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs", str(path)],
                         capture_output=True, text=True)
    if run.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs (needs root): {run.stderr.strip()}")


def resize_tmpfs(path: Path, size_mb: int) -> None:
    subprocess.run(["mount", "-o", f"remount,size={size_mb}m", str(path)], check=True)


def unmount(path: Path) -> None:
    if subprocess.run(["umount", str(path)], capture_output=True).returncode != 0:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def batch(first: int, rng: random.Random) -> list[dict]:
    return [{"id": i, "vector": [rng.random() for _ in range(DIM)], "payload": {"n": i, "pad": "x" * 200}}
            for i in range(first, first + BATCH)]


def put(srv: QuiverServer, points: list[dict]) -> requests.Response:
    return requests.put(f"{srv.url}/collections/c/points", params={"wait": "true"}, json={"points": points},
                        timeout=60)


def count(srv: QuiverServer) -> int:
    r = requests.post(f"{srv.url}/collections/c/points/count", json={"exact": True}, timeout=30)
    r.raise_for_status()
    return r.json()["result"]["count"]


def payloads(srv: QuiverServer, ids: list[int]) -> dict[int, dict]:
    r = requests.post(f"{srv.url}/collections/c/points", json={"ids": ids, "with_payload": True}, timeout=60)
    r.raise_for_status()
    return {p["id"]: p["payload"] for p in r.json()["result"]}


def fill_until_refused(srv: QuiverServer, rng: random.Random) -> tuple[list[int], requests.Response]:
    """Writes batches until one is refused; returns the acknowledged ids and the refusal."""
    acked: list[int] = []
    for b in range(1000):
        points = batch(b * BATCH, rng)
        r = put(srv, points)
        if r.status_code != 200:
            return acked, r
        assert r.json()["result"]["status"] == "completed"
        acked += [p["id"] for p in points]
    raise AssertionError(f"the disk never filled up after {len(acked)} points")


def test_a_full_disk_refuses_writes_keeps_reads_and_loses_nothing(tmp_path):
    disk = tmp_path / "disk"
    mount_tmpfs(disk, 24)
    rng = random.Random(7)
    srv = QuiverServer(env={"QDRANT__STORAGE__STORAGE_PATH": str(disk / "storage")})
    try:
        srv.start()
        r = requests.put(f"{srv.url}/collections/c", json={"vectors": {"size": DIM, "distance": "Dot"}}, timeout=30)
        assert r.status_code == 200, r.text
        acked, refused = fill_until_refused(srv, rng)
        assert refused.status_code == 500, refused.text
        assert "No space left on device" in refused.json()["status"]["error"]
        assert len(acked) >= 5 * BATCH, "the tmpfs should hold some batches"

        # Reads keep working, and show exactly what was acknowledged.
        assert count(srv) == len(acked)
        found = requests.post(f"{srv.url}/collections/c/points/search",
                              json={"vector": [0.5] * DIM, "limit": 3}, timeout=30)
        assert found.status_code == 200 and len(found.json()["result"]) == 3
        assert requests.get(f"{srv.url}/readyz", timeout=5).status_code == 200

        # Space freed: writes work again.
        resize_tmpfs(disk, 64)
        extra = batch(1_000_000, rng)
        assert put(srv, extra).status_code == 200
        acked += [p["id"] for p in extra]

        srv.kill()
        srv.start()
        assert count(srv) == len(acked), "acknowledged points lost, or refused ones kept, across kill -9"
        got = payloads(srv, acked)
        wrong = [i for i in acked if got.get(i, {}).get("n") != i]
        assert not wrong, f"{len(wrong)} acknowledged points missing or wrong after the restart: {wrong[:10]}"
    finally:
        srv.stop()
        unmount(disk)
