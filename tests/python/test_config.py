"""Configuration locations and flags as Qdrant has them: defaults, then config/config.yaml,
config/$RUN_MODE.yaml (default `development`), config/local.yaml, then --config-path, then
QDRANT__… environment variables; `--stacktrace` and `--disable-telemetry` are accepted."""

from __future__ import annotations

import socket

import requests

from quiver_server import QuiverServer, free_port


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def layered(tmp_path, run_mode, unused_port=None):
    """Each level sets something the next one overrides, and something of its own that shows."""
    write(tmp_path / "config/config.yaml",
          "storage:\n  storage_path: ./from-config\n  snapshots_path: ./snaps-config\n"
          "service:\n  max_request_size_mb: 1\n")
    write(tmp_path / "config/production.yaml",
          "storage:\n  storage_path: ./from-production\n  snapshots_path: ./snaps-production\n")
    write(tmp_path / "config/development.yaml", "storage:\n  storage_path: ./from-development\n")
    write(tmp_path / "config/local.yaml", "storage:\n  snapshots_path: ./snaps-local\n")
    custom = "service:\n  max_request_size_mb: 2\n"
    if unused_port:
        custom += f"  http_port: {unused_port}\n"
    write(tmp_path / "custom.yaml", custom)
    env = {"RUN_MODE": run_mode} if run_mode else {}
    args = ["--config-path", "custom.yaml", "--stacktrace", "--disable-telemetry"]
    return QuiverServer(workdir=tmp_path, env=env, args=args)


def body_of_mb(mb: float) -> dict:
    return {"points": [{"id": 1, "vector": [0.0], "payload": {"blob": "x" * int(mb * 1024 * 1024)}}]}


def listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_files_in_qdrants_order(tmp_path):
    unused = free_port()
    with layered(tmp_path, "production", unused) as srv:
        # config/production.yaml ($RUN_MODE) over config/config.yaml; development.yaml unread.
        assert (tmp_path / "from-production/collections").is_dir()
        assert not (tmp_path / "from-config").exists() and not (tmp_path / "from-development").exists()
        r = requests.put(srv.url + "/collections/c", json={"vectors": {"size": 1, "distance": "Dot"}}, timeout=10)
        assert r.status_code == 200, r.text
        # --config-path over the config/ files: 2 MB bodies, not 1 MB.
        r = requests.put(srv.url + "/collections/c/points", json=body_of_mb(1.5), timeout=10)
        assert r.status_code == 200, r.text
        r = requests.put(srv.url + "/collections/c/points", json=body_of_mb(2.5), timeout=10)
        assert r.status_code in (400, 413), r.text
        # config/local.yaml over config/production.yaml and config/config.yaml.
        r = requests.post(srv.url + "/collections/c/snapshots", timeout=30)
        assert r.status_code == 200, r.text
        assert list((tmp_path / "snaps-local").rglob("*.snapshot"))
        assert not (tmp_path / "snaps-production").exists() and not (tmp_path / "snaps-config").exists()
        # The environment (QDRANT__SERVICE__HTTP_PORT, set by QuiverServer) over --config-path.
        assert not listening(unused)
    log = (tmp_path / "quiver.log").read_text()
    assert "--stacktrace is accepted for compatibility and ignored" in log


def test_run_mode_defaults_to_development(tmp_path):
    with layered(tmp_path, None):
        assert (tmp_path / "from-development/collections").is_dir()
        assert not (tmp_path / "from-production").exists()
