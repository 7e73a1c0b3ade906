"""Configuration locations and flags as Qdrant has them: defaults, then config/config.yaml,
config/$RUN_MODE.yaml (default `development`), config/local.yaml, then --config-path, then
QDRANT__… environment variables; `--stacktrace` and `--disable-telemetry` are accepted."""

from __future__ import annotations

import requests

from quiver_server import QuiverServer


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def layered(tmp_path, run_mode):
    """Each file sets the storage or snapshots path; later files win."""
    write(tmp_path / "config/config.yaml",
          "storage:\n  storage_path: ./from-config\n  snapshots_path: ./snaps-config\n"
          "service:\n  max_request_size_mb: 1\n")
    write(tmp_path / "config/production.yaml", "storage:\n  storage_path: ./from-production\n")
    write(tmp_path / "config/development.yaml", "storage:\n  storage_path: ./from-development\n")
    write(tmp_path / "config/local.yaml", "storage:\n  snapshots_path: ./snaps-local\n")
    write(tmp_path / "custom.yaml", "service:\n  max_request_size_mb: 2\n")
    env = {"QDRANT__STORAGE__SNAPSHOTS_PATH": "./snaps-env"}
    if run_mode:
        env["RUN_MODE"] = run_mode
    args = ["--config-path", "custom.yaml", "--stacktrace", "--disable-telemetry"]
    return QuiverServer(workdir=tmp_path, env=env, args=args)


def body_of_mb(mb: float) -> dict:
    return {"points": [{"id": 1, "vector": [0.0], "payload": {"blob": "x" * int(mb * 1024 * 1024)}}]}


def test_files_in_qdrants_order(tmp_path):
    with layered(tmp_path, "production") as srv:
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
        # The environment over every file (config/local.yaml set ./snaps-local).
        r = requests.post(srv.url + "/collections/c/snapshots", timeout=30)
        assert r.status_code == 200, r.text
        assert list((tmp_path / "snaps-env").rglob("*.snapshot")) and not (tmp_path / "snaps-local").exists()


def test_run_mode_defaults_to_development(tmp_path):
    with layered(tmp_path, None):
        assert (tmp_path / "from-development/collections").is_dir()
        assert not (tmp_path / "from-production").exists()
