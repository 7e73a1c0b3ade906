"""Shared fixtures for the Quiver end-to-end suite.

Run:  cd <repo> && .venv/bin/pytest -q tests/python
Binary: $QUIVER_BIN or <repo>/target/debug/quiver (build it first; tests fail loudly if missing).
"""

from __future__ import annotations

# Before grpc is imported (qdrant_client imports it): gRPC reads its trusted roots for TLS from
# GRPC_DEFAULT_SSL_ROOTS_FILE_PATH once, so the security tests' CA is set up first.
import security_helpers  # noqa: F401,I001

import os
import re
import signal
import uuid

import pytest
import requests
from qdrant_client import QdrantClient

from cluster_harness import Cluster
from qhelpers import Rest
from quiver_server import ALL_SERVERS, QuiverServer, quiver_bin


def _require_binary() -> None:
    b = quiver_bin()
    if not b.exists():
        pytest.fail(
            f"quiver binary not found at {b}; build it (`cargo build`) or set QUIVER_BIN",
            pytrace=False,
        )


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "long: a scenario too slow for CI's time budget; `scripts/test.sh` skips it, "
        "`pytest -m long tests/python` runs these")


@pytest.fixture(scope="session")
def server():
    """One quiver process shared by every test that does not need its own."""
    _require_binary()
    srv = QuiverServer()
    try:
        srv.start()
        yield srv
    finally:
        srv.cleanup()


@pytest.fixture
def server_factory():
    """Start private servers (for restart / crash tests). All are cleaned up afterwards."""
    _require_binary()
    started: list[QuiverServer] = []

    def make(**kwargs) -> QuiverServer:
        srv = QuiverServer(**kwargs)
        started.append(srv)
        srv.start()
        return srv

    yield make
    for srv in started:
        srv.cleanup()


@pytest.fixture
def cluster_factory():
    """`make(n, **kw)` starts a multi-process `Cluster`; every cluster is closed at the end (a
    SIGSTOPped peer is resumed first so its log is flushed)."""
    _require_binary()
    made: list[Cluster] = []

    def make(n: int = 3, **kw) -> Cluster:
        c = Cluster(n, **kw)
        made.append(c)
        return c

    yield make
    for c in made:
        for p in c.peers:
            if p.is_running():
                try:
                    os.kill(p.proc.pid, signal.SIGCONT)
                except OSError:
                    pass
        c.close()


@pytest.fixture
def client(server):
    c = QdrantClient(url=server.url, prefer_grpc=False, timeout=30)
    yield c
    c.close()


@pytest.fixture
def both(server):
    """qdrant-client over REST and over gRPC, both to the shared server."""
    rest = QdrantClient(url=server.url, timeout=60)
    grpc_ = QdrantClient(url=server.url, grpc_port=server.grpc_port, prefer_grpc=True, timeout=60)
    yield rest, grpc_
    rest.close()
    grpc_.close()


@pytest.fixture
def rest(server):
    """Raw REST access (requests) to the shared server."""
    return Rest(server.url)


@pytest.fixture
def collection_name(request, server):
    """A collection name unique to this test; the collection is dropped afterwards."""
    base = re.sub(r"[^A-Za-z0-9_]", "_", request.node.name)[:60]
    name = f"{base}_{uuid.uuid4().hex[:8]}"
    yield name
    try:
        requests.delete(f"{server.url}/collections/{name}", timeout=10)
    except requests.RequestException:
        pass


@pytest.fixture
def unique():
    """Factory of unique names (for aliases or extra collections)."""

    def make(prefix: str = "n") -> str:
        return f"{prefix}_{uuid.uuid4().hex[:10]}"

    return make


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.failed:
        for srv in list(ALL_SERVERS):
            rep.sections.append(
                (f"quiver log tail ({srv.workdir})", srv.log_tail(40))
            )
