"""Run a multi-peer Quiver cluster (Raft control plane) for end-to-end tests.

Usage::

    from cluster_harness import Cluster, result

    with Cluster(3) as c:                       # starts 3 peers, each after the previous is ready
        p = c.peer(1)
        p.url, p.peer_id, p.uri                 # REST url, Raft peer id, p2p uri
        result(p.put("/cluster/metadata/keys/k", json=1, params={"wait": "true"}))
        leader = c.leader_id()                  # leader agreed by every live peer
        c.peer_by_id(leader).kill()             # SIGKILL (also: stop() = SIGTERM, restart(), start())
        c.wait_until(lambda: ..., timeout=10, desc="...")
        c.add_peer()                            # late joiner (--bootstrap to peer 0)

Each peer runs with cwd = its own temp dir (``./storage`` lands there) and writes
``<dir>/quiver.log`` (appended across restarts). Ports (http, grpc, p2p) are fixed per peer
for its lifetime so a restarted peer keeps its p2p URI. On exit every process is killed and the
dirs are removed unless ``QUIVER_KEEP_DIRS=1``; if the ``with`` body raised, each peer's log tail
is printed. Peers are also registered in ``quiver_server.ALL_SERVERS`` so conftest's failure hook
attaches their log tails to the pytest report.

Fault injection needs ``QUIVER_ENABLE_FAULTS=1`` (always set here): ``Cluster.partition`` /
``Cluster.heal`` use ``POST /debug/partition``.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Iterable

import requests

from quiver_server import ALL_SERVERS, ServerStartError, _port_is_free, free_port, quiver_bin

HTTP_TIMEOUT = 30.0

_USED_PORTS: set[int] = set()


def _alloc_port() -> int:
    """A free port not handed out before in this process (ports are kept for restarts)."""
    for _ in range(1000):
        p = free_port()
        if p not in _USED_PORTS:
            _USED_PORTS.add(p)
            return p
    raise RuntimeError("could not allocate a free port")


class WaitTimeout(AssertionError):
    pass


def wait_until(
    predicate: Callable[[], Any],
    timeout: float = 10.0,
    interval: float = 0.1,
    desc: str | None = None,
) -> Any:
    """Poll `predicate` until it returns something truthy (returned) or `timeout` elapses.

    Exceptions raised by `predicate` count as "not yet" (e.g. a peer not answering); the last one
    (or the last falsy value) is reported in the timeout error.
    """
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            value = predicate()
            if value:
                return value
            last = value
        except (requests.RequestException, AssertionError, KeyError, TypeError, ValueError) as e:
            last = e
        if time.monotonic() >= deadline:
            raise WaitTimeout(
                f"timed out after {timeout}s waiting for {desc or predicate!r}; last: {last!r}"
            )
        time.sleep(interval)


def result(resp: requests.Response, status: int = 200) -> Any:
    """Assert the HTTP status and return the envelope's `result`."""
    assert resp.status_code == status, (
        f"{resp.request.method} {resp.url} -> HTTP {resp.status_code} (expected {status}): "
        f"{resp.text[:500]}"
    )
    body = resp.json()
    return body.get("result") if isinstance(body, dict) else body


class Peer:
    """One quiver process of a `Cluster`."""

    def __init__(self, cluster: "Cluster", index: int, env: dict[str, str] | None = None):
        self.cluster = cluster
        self.index = index
        self.workdir = Path(tempfile.mkdtemp(prefix=f"quiver-cluster-p{index}-"))
        self.log_path = self.workdir / "quiver.log"
        self.http_port = _alloc_port()
        self.grpc_port = _alloc_port()
        self.p2p_port = _alloc_port()
        self.extra_env = dict(env or {})
        self.extra_args: list[str] = []  # appended to the command line on the next start
        self.bootstrap: str | None = None  # p2p uri used on the very first start only
        self.restart_bootstrap: str | None = None  # --bootstrap on later starts too (a restart)
        self.flags_in_env = False  # pass --uri / --bootstrap as QDRANT_URI / QDRANT_BOOTSTRAP
        self.proc: subprocess.Popen | None = None
        self.peer_id: int | None = None
        self._log_file = None
        self._started_once = False
        self._down_on_purpose = False  # set by kill()/stop(); used to flag unexpected exits
        ALL_SERVERS.append(self)  # conftest prints log tails of these on failure

    # ------------------------------------------------------------------ properties
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def uri(self) -> str:
        """p2p URI (what other peers dial; what `--uri` says)."""
        return f"{self.cluster.p2p_scheme}://127.0.0.1:{self.p2p_port}"

    def is_running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    # ------------------------------------------------------------------ lifecycle
    def start(self, wait_ready: bool = True, ready_timeout: float | None = None) -> "Peer":
        if self.is_running():
            raise RuntimeError(f"peer {self.index} already running")
        binary = quiver_bin()
        if not binary.exists():
            raise ServerStartError(f"quiver binary not found at {binary}")
        # After a SIGKILL the ports may take a moment to be released (bounded wait).
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not all(
            _port_is_free(p) for p in (self.http_port, self.grpc_port, self.p2p_port)
        ):
            time.sleep(0.05)
        env = dict(os.environ)
        env.update(
            {
                "QDRANT__CLUSTER__ENABLED": "true",
                "QDRANT__SERVICE__HTTP_PORT": str(self.http_port),
                "QDRANT__SERVICE__GRPC_PORT": str(self.grpc_port),
                "QDRANT__CLUSTER__P2P__PORT": str(self.p2p_port),
                "QDRANT__SERVICE__HOST": "127.0.0.1",
                "QDRANT__LOG_LEVEL": os.environ.get("QUIVER_TEST_LOG_LEVEL", "INFO"),
                "QUIVER_ENABLE_FAULTS": "1",
            }
        )
        env.update(self.cluster.env)
        env.update(self.extra_env)
        # A restarted peer (existing storage) needs no --bootstrap.
        bootstrap = self.bootstrap if not self._started_once else self.restart_bootstrap
        flags = {"--uri": self.uri, "--bootstrap": bootstrap}
        args = [str(binary), *self.extra_args]
        for flag, value in flags.items():
            if value is None:
                continue
            if self.flags_in_env:
                env["QDRANT_" + flag.lstrip("-").upper()] = value
            else:
                args += [flag, value]
        self._log_file = open(self.log_path, "ab")
        self._log_file.write(
            f"\n===== starting {' '.join(args)} (http {self.http_port}, grpc {self.grpc_port}, "
            f"p2p {self.p2p_port}) at {time.strftime('%H:%M:%S')} =====\n".encode()
        )
        self._log_file.flush()
        self.proc = subprocess.Popen(
            args,
            cwd=str(self.workdir),
            env=env,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        self._started_once = True
        self._down_on_purpose = False
        if wait_ready:
            self.wait_ready(ready_timeout or self.cluster.ready_timeout)
            pid = self.cluster_info()["peer_id"]
            if self.peer_id is not None and pid != self.peer_id:
                raise AssertionError(
                    f"peer {self.index} came back with peer id {pid}, was {self.peer_id}"
                )
            self.peer_id = pid
        return self

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        last: object = None
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise ServerStartError(
                    f"peer {self.index} exited with code {self.proc.returncode} during startup"
                    f"{self._exit_hint()}\n--- log tail ---\n{self.log_tail()}"
                )
            try:
                r = requests.get(self.url + "/readyz", timeout=1)
                if r.status_code == 200:
                    return
                last = f"HTTP {r.status_code}: {r.text[:200]}"
            except requests.RequestException as e:
                last = e
            time.sleep(0.05)
        raise ServerStartError(
            f"peer {self.index} not ready after {timeout}s (last: {last})\n"
            f"--- log tail ---\n{self.log_tail()}"
        )

    def kill(self) -> None:
        """Crash: SIGKILL."""
        self._down_on_purpose = True
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)
        self._close_log()

    def stop(self, timeout: float = 20.0) -> int | None:
        """Graceful stop: SIGTERM (SIGKILL if it does not exit within `timeout`)."""
        if self.proc is None:
            return None
        self._down_on_purpose = True
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._close_log()
        return self.proc.returncode

    def restart(self, graceful: bool = True, **kw) -> "Peer":
        self.stop() if graceful else self.kill()
        return self.start(**kw)

    def move_to_new_ports(self) -> None:
        """Give the (stopped) peer new http, grpc and p2p ports: its next start is on another
        address, as a pod rescheduled elsewhere."""
        assert not self.is_running(), "stop the peer before moving it"
        self.http_port = _alloc_port()
        self.grpc_port = _alloc_port()
        self.p2p_port = _alloc_port()

    @property
    def storage(self) -> Path:
        return self.workdir / "storage"

    def wipe_storage(self) -> None:
        """Lose the (stopped) peer's whole storage: its next start is a new identity."""
        assert not self.is_running(), "stop the peer before wiping it"
        shutil.rmtree(self.storage, ignore_errors=True)
        self.peer_id = None
        self._started_once = False

    def collection_dir(self, name: str) -> Path:
        return self.storage / "collections" / name

    def _close_log(self) -> None:
        if self._log_file is not None:
            try:
                self._log_file.close()
            finally:
                self._log_file = None

    def cleanup(self, keep_dir: bool) -> None:
        self.kill()
        if not keep_dir:
            shutil.rmtree(self.workdir, ignore_errors=True)
        if self in ALL_SERVERS:
            ALL_SERVERS.remove(self)

    # ------------------------------------------------------------------ HTTP
    def request(
        self, method: str, path: str, json: Any = None, params: dict | None = None,
        timeout: float = HTTP_TIMEOUT,
    ) -> requests.Response:
        kw: dict[str, Any] = {"params": params, "timeout": timeout}
        if json is not None:
            kw["json"] = json
        return requests.request(method, self.url + path, **kw)

    def get(self, path: str, **kw) -> requests.Response:
        return self.request("GET", path, **kw)

    def put(self, path: str, json: Any = None, **kw) -> requests.Response:
        return self.request("PUT", path, json=json, **kw)

    def post(self, path: str, json: Any = None, **kw) -> requests.Response:
        return self.request("POST", path, json=json, **kw)

    def delete(self, path: str, json: Any = None, **kw) -> requests.Response:
        return self.request("DELETE", path, json=json, **kw)

    def patch(self, path: str, json: Any = None, **kw) -> requests.Response:
        return self.request("PATCH", path, json=json, **kw)

    # Convenience (assert 200, return `result`).
    def cluster_info(self, timeout: float = 5.0) -> dict:
        return result(self.get("/cluster", timeout=timeout))

    def raft(self, timeout: float = 5.0) -> dict:
        return self.cluster_info(timeout)["raft_info"]

    def collection_names(self) -> set[str]:
        return {c["name"] for c in result(self.get("/collections"))["collections"]}

    def collection_cluster(self, name: str) -> dict:
        return result(self.get(f"/collections/{name}/cluster"))

    def aliases(self) -> set[tuple[str, str]]:
        return {(a["alias_name"], a["collection_name"]) for a in result(self.get("/aliases"))["aliases"]}

    def metadata_keys(self) -> list[str]:
        return result(self.get("/cluster/metadata/keys"))

    def partition(self, blocked_ids: Iterable[int]) -> None:
        result(self.post("/debug/partition", json={"blocked": list(blocked_ids)}, timeout=5))

    # ------------------------------------------------------------------ diagnostics
    def exited_unexpectedly(self) -> bool:
        return self.proc is not None and self.proc.poll() is not None and not self._down_on_purpose

    def _exit_hint(self) -> str:
        if "shutdown signal received" in self.log_tail(5):
            return " (it received SIGTERM/SIGINT from outside the harness)"
        return ""

    def log_tail(self, n_lines: int = 60) -> str:
        try:
            data = self.log_path.read_bytes()
        except OSError:
            return "<no log>"
        return "\n".join(data.decode("utf-8", "replace").splitlines()[-n_lines:])

    def __repr__(self) -> str:
        return f"Peer#{self.index}(id={self.peer_id}, url={self.url}, p2p={self.uri}, dir={self.workdir})"


class Cluster:
    """n peers: peer 0 starts a new cluster, the others `--bootstrap` to it (one after another)."""

    def __init__(
        self,
        n: int = 3,
        env: dict[str, str] | None = None,
        ready_timeout: float = 40.0,
        keep_dirs: bool | None = None,
        start: bool = True,
        p2p_scheme: str = "http",
    ):
        self.n_initial = n
        self.p2p_scheme = p2p_scheme  # "https" with cluster.p2p.enable_tls, as an operator would write it
        self.env = dict(env or {})
        self.ready_timeout = ready_timeout
        self.keep_dirs = bool(os.environ.get("QUIVER_KEEP_DIRS")) if keep_dirs is None else keep_dirs
        self.peers: list[Peer] = []
        self._closed = False
        if start:
            try:
                self.start()
            except BaseException:
                self.close(failed=True)
                raise

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> "Cluster":
        for _ in range(self.n_initial):
            self.add_peer()
        return self

    def add_peer(self, env: dict[str, str] | None = None, bootstrap_index: int = 0) -> Peer:
        """Start one more peer; the first one starts the cluster, later ones join via --bootstrap."""
        p = Peer(self, len(self.peers), env)
        if self.peers:
            p.bootstrap = self.peers[bootstrap_index].uri
        self.peers.append(p)
        p.start()
        return p

    def close(self, failed: bool = False) -> None:
        if self._closed:
            return
        self._closed = True
        if failed:
            self.print_log_tails()
        for p in self.peers:
            p.kill()
        for p in self.peers:
            p.cleanup(self.keep_dirs)
        if self.keep_dirs:
            print("kept cluster dirs: " + ", ".join(str(p.workdir) for p in self.peers))

    def print_log_tails(self, n_lines: int = 40) -> None:
        for p in self.peers:
            note = ""
            if p.exited_unexpectedly():
                note = f" [exited unexpectedly, rc {p.proc.returncode}{p._exit_hint()}]"
            print(f"\n----- log tail of {p!r}{note} -----\n{p.log_tail(n_lines)}")

    def __enter__(self) -> "Cluster":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(failed=exc_type is not None)

    def __del__(self) -> None:  # finalizer safety net
        try:
            self.close()
        except Exception:
            pass

    # ------------------------------------------------------------------ access
    def peer(self, i: int) -> Peer:
        return self.peers[i]

    def peer_by_id(self, peer_id: int) -> Peer:
        for p in self.peers:
            if p.peer_id == peer_id:
                return p
        raise KeyError(f"no peer with id {peer_id}")

    def live_peers(self) -> list[Peer]:
        return [p for p in self.peers if p.is_running()]

    def peer_ids(self) -> set[int]:
        return {p.peer_id for p in self.peers}

    # ------------------------------------------------------------------ waiting / agreement
    @staticmethod
    def wait_until(predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.1,
                   desc: str | None = None) -> Any:
        return wait_until(predicate, timeout=timeout, interval=interval, desc=desc)

    def leader_id(self, peers: Iterable[Peer] | None = None, timeout: float = 15.0) -> int:
        """The leader id every given (default: live) peer reports; it must be one of them."""
        group = list(peers) if peers is not None else self.live_peers()
        ids = {p.peer_id for p in group}

        def agreed():
            leaders = {p.raft(timeout=2)["leader"] for p in group}
            if len(leaders) == 1:
                (lid,) = leaders
                if lid is not None and lid in ids:
                    return lid
            return None

        return wait_until(agreed, timeout=timeout, desc=f"agreed leader among {sorted(ids)}")

    def wait_converged(self, peers: Iterable[Peer] | None = None, timeout: float = 15.0) -> dict:
        """All given peers: same leader (one of them), same term, same commit, nothing pending,
        same peer set. Returns the last `/cluster` result of the first peer."""
        group = list(peers) if peers is not None else self.live_peers()
        ids = {p.peer_id for p in group}

        def converged():
            infos = [p.cluster_info(timeout=2) for p in group]
            rafts = [i["raft_info"] for i in infos]
            same = (
                len({r["leader"] for r in rafts}) == 1
                and rafts[0]["leader"] in ids
                and len({r["term"] for r in rafts}) == 1
                and len({r["commit"] for r in rafts}) == 1
                and all(r["pending_operations"] == 0 for r in rafts)
                and len({frozenset(i["peers"]) for i in infos}) == 1
            )
            return infos[0] if same else None

        return wait_until(converged, timeout=timeout, desc="converged raft state")

    # ------------------------------------------------------------------ faults
    def partition(self, minority: Iterable[Peer], majority: Iterable[Peer]) -> None:
        """Cut p2p traffic between the two groups (each side blocks the other)."""
        minority, majority = list(minority), list(majority)
        for p in minority:
            p.partition([q.peer_id for q in majority])
        for p in majority:
            p.partition([q.peer_id for q in minority])

    def heal(self) -> None:
        for p in self.live_peers():
            p.partition([])
