"""Helper to run a real `quiver` server process for end-to-end tests and benchmarks.

Usage::

    from quiver_server import QuiverServer

    with QuiverServer() as srv:          # starts, waits for /readyz
        print(srv.url)                   # http://127.0.0.1:<port>
        srv.restart()                    # SIGTERM + start again in the same directory
        srv.kill()                       # SIGKILL (crash)
        srv.start()

The binary is taken from ``$QUIVER_BIN`` (default ``<repo>/target/debug/quiver``).
Each server runs with ``cwd`` = its own temporary directory so that ``./storage``
lands there; stdout/stderr go to ``<dir>/quiver.log`` (appended across restarts).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import requests

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_BIN = REPO_ROOT / "target" / "debug" / "quiver"

# Every server started in this process (used by conftest to print log tails on failure).
ALL_SERVERS: list["QuiverServer"] = []


def quiver_bin() -> Path:
    return Path(os.environ.get("QUIVER_BIN", str(DEFAULT_BIN)))


# Ports this process has handed out: a released port is often handed back by the kernel at once,
# so a test that takes a port for its own use (a metrics port) and then starts a server would
# otherwise see the server take the same port.
_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A port that is free right now (bound to port 0 and released), never one this process has
    handed out before."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


class ServerStartError(RuntimeError):
    pass


class QuiverServer:
    def __init__(
        self,
        workdir: str | os.PathLike | None = None,
        binary: str | os.PathLike | None = None,
        env: dict[str, str] | None = None,
        ready_timeout: float = 30.0,
        keep_dir: bool = False,
        args: list[str] | None = None,
        tls_ca: str | os.PathLike | None = None,
        client_cert: tuple[str, str] | None = None,
    ):
        self.binary = Path(binary) if binary else quiver_bin()
        self.args = list(args or [])  # command-line flags, used on every start
        # With `service.enable_tls`: the CA that issued the server's certificate (the URL is
        # https) and, with client-certificate checks, the (cert, key) files readiness checks use.
        self.tls_ca = str(tls_ca) if tls_ca else None
        self.client_cert = client_cert
        self._own_dir = workdir is None
        self.workdir = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="quiver-e2e-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.workdir / "quiver.log"
        self.extra_env = dict(env or {})
        self.ready_timeout = ready_timeout
        self.keep_dir = keep_dir or bool(os.environ.get("QUIVER_KEEP_DIRS"))
        self.http_port: int | None = None
        self.grpc_port: int | None = None
        self.proc: subprocess.Popen | None = None
        self._log_file = None
        ALL_SERVERS.append(self)

    # ------------------------------------------------------------------ properties
    @property
    def url(self) -> str:
        assert self.http_port is not None, "server was never started"
        scheme = "https" if self.tls_ca else "http"
        host = "localhost" if self.tls_ca else "127.0.0.1"
        return f"{scheme}://{host}:{self.http_port}"

    @property
    def storage_path(self) -> Path:
        return self.workdir / "storage"

    def is_running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    # ------------------------------------------------------------------ lifecycle
    def start(self, new_ports: bool = False) -> "QuiverServer":
        if self.is_running():
            raise RuntimeError("server already running")
        if not self.binary.exists():
            raise ServerStartError(
                f"quiver binary not found at {self.binary} (set QUIVER_BIN or run `cargo build`)"
            )
        if new_ports or self.http_port is None:
            self.http_port = free_port()
            self.grpc_port = free_port()
        else:
            # Same ports as before (so clients keep working). After a SIGKILL the port may
            # take a moment to be released; wait for it (bounded).
            deadline = time.monotonic() + 10
            ports = [p for p in (self.http_port, self.grpc_port) if p is not None]
            while not all(_port_is_free(p) for p in ports) and time.monotonic() < deadline:
                time.sleep(0.05)

        env = dict(os.environ)
        env.update(
            {
                "QDRANT__SERVICE__HTTP_PORT": str(self.http_port),
                "QDRANT__SERVICE__GRPC_PORT": str(self.grpc_port),
                "QDRANT__LOG_LEVEL": os.environ.get("QUIVER_TEST_LOG_LEVEL", "INFO"),
            }
        )
        env.update(self.extra_env)
        self._log_file = open(self.log_path, "ab")
        self._log_file.write(
            f"\n===== starting {self.binary} (http {self.http_port}, grpc {self.grpc_port}) "
            f"at {time.strftime('%H:%M:%S')} =====\n".encode()
        )
        self._log_file.flush()
        self.proc = subprocess.Popen(
            [str(self.binary), *self.args],
            cwd=str(self.workdir),
            env=env,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        self.wait_ready(self.ready_timeout)
        return self

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        last_err: object = None
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise ServerStartError(
                    f"quiver exited with code {self.proc.returncode} during startup\n"
                    f"--- log tail ---\n{self.log_tail()}"
                )
            try:
                r = requests.get(self.url + "/readyz", timeout=1, verify=self.tls_ca or True,
                                 cert=self.client_cert)
                if r.status_code == 200:
                    return
                last_err = f"HTTP {r.status_code}: {r.text[:200]}"
            except requests.RequestException as e:  # not listening yet
                last_err = e
            time.sleep(0.05)
        raise ServerStartError(
            f"quiver not ready after {timeout}s (last: {last_err})\n--- log tail ---\n{self.log_tail()}"
        )

    def stop(self, timeout: float = 30.0) -> int | None:
        """Graceful stop with SIGTERM (SIGKILL if it does not exit in `timeout`)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        rc = self.proc.returncode
        self._close_log()
        return rc

    def kill(self) -> None:
        """Crash: SIGKILL, no chance to flush anything."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)
        self._close_log()

    def restart(self, new_ports: bool = False) -> "QuiverServer":
        self.stop()
        return self.start(new_ports=new_ports)

    def cleanup(self) -> None:
        """Stop the process and remove its directory (if we created it)."""
        if self.is_running():
            self.stop()
        self._close_log()
        if self._own_dir and not self.keep_dir:
            shutil.rmtree(self.workdir, ignore_errors=True)
        if self in ALL_SERVERS:
            ALL_SERVERS.remove(self)

    def _close_log(self) -> None:
        if self._log_file is not None:
            try:
                self._log_file.close()
            finally:
                self._log_file = None

    # ------------------------------------------------------------------ diagnostics
    def log_tail(self, n_lines: int = 60) -> str:
        try:
            data = self.log_path.read_bytes()
        except OSError:
            return "<no log>"
        lines = data.decode("utf-8", "replace").splitlines()
        return "\n".join(lines[-n_lines:])

    def __enter__(self) -> "QuiverServer":
        if not self.is_running():
            self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.cleanup()

    def __repr__(self) -> str:
        return f"QuiverServer(url={self.url if self.http_port else None}, dir={self.workdir})"
