"""Run the deployment files' start-up commands as local processes (no container runtime here).

A container's hostname must resolve to its own loopback address. Each process runs in its own
mount namespace (``unshare --mount``) where a hosts file listing every container is bind-mounted
over /etc/hosts, so nothing on the machine changes; where namespaces are not allowed and
/etc/hosts is writable, the entries are added to it for the test and removed after. Each
process binds its address (``QDRANT__SERVICE__HOST``, the one setting that differs: in a
container it is 0.0.0.0) and runs in its own directory, which stands in for the container's
/qdrant. The image's ``ENV`` and ``PATH`` (``quiver`` found by name) come from the Dockerfile.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import requests

from quiver_server import REPO_ROOT, quiver_bin

HOSTS = Path("/etc/hosts")
HOSTS_MARK = "# quiver-deployment-test"


def dockerfile_env() -> dict[str, str]:
    """The runtime stage's ENV (the last stage's), with $PATH left to expand."""
    text = (REPO_ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    env: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("FROM "):
            env = {}
        if line.startswith("ENV "):
            for item in shlex.split(line[4:]):
                key, _, value = item.partition("=")
                env[key] = value
    return env


def _namespace_prefix() -> list[str]:
    """The `unshare` command line giving a process its own mount namespace, if allowed here."""
    if shutil.which("unshare") is None:
        return []
    prefix = ["unshare", "--mount"] + ([] if os.geteuid() == 0 else ["--map-root-user"])
    probe = subprocess.run([*prefix, "true"], capture_output=True, timeout=10)
    return prefix if probe.returncode == 0 else []


def name_resolution_available() -> bool:
    return bool(_namespace_prefix()) or os.access(HOSTS, os.W_OK)


@contextmanager
def hosts_entries(mapping: dict[str, str]):
    """`name -> address` resolvable by the processes started within; yields the prefix that
    starts a command with them (empty when /etc/hosts itself was edited)."""
    lines = [f"{address} {name} {HOSTS_MARK}" for name, address in mapping.items()]
    prefix = _namespace_prefix()
    if prefix:
        with tempfile.TemporaryDirectory(prefix="quiver-hosts-") as directory:
            hosts = Path(directory) / "hosts"
            hosts.write_text(HOSTS.read_text().rstrip("\n") + "\n" + "\n".join(lines) + "\n")
            bind = 'mount --bind "$0" /etc/hosts && exec "$@"'
            yield [*prefix, "sh", "-c", bind, str(hosts)]
        return
    original = HOSTS.read_text()
    HOSTS.write_text(original.rstrip("\n") + "\n" + "\n".join(lines) + "\n")
    try:
        yield []
    finally:
        kept = [line for line in HOSTS.read_text().splitlines() if HOSTS_MARK not in line]
        HOSTS.write_text("\n".join(kept) + "\n")


class Container:
    """One container's process: `args` and `env` as the deployment file gives them."""

    def __init__(self, name: str, address: str, args: list[str], env: dict[str, str], files=None,
                 prefix: list[str] | None = None):
        """`prefix`: what `hosts_entries` yielded (how the process resolves container names)."""
        self.name, self.address, self.args = name, address, args
        self.prefix = list(prefix or [])
        self.workdir = Path(tempfile.mkdtemp(prefix=f"quiver-deploy-{name}-"))
        for relative, content in (files or {}).items():
            path = self.workdir / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content)
        image = dockerfile_env()
        path = image.get("PATH", "$PATH").replace("/qdrant", str(quiver_bin().parent))
        self.env = {"HOME": str(self.workdir), **image, **env, "QDRANT__SERVICE__HOST": address}
        self.env["PATH"] = path.replace("$PATH", os.environ.get("PATH", "/usr/bin:/bin"))
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://{self.address}:6333"

    def start(self) -> "Container":
        log = open(self.workdir / "quiver.log", "ab")
        self.proc = subprocess.Popen([*self.prefix, *self.args], cwd=self.workdir, env=self.env, stdout=log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        return self

    def wait_ready(self, timeout: float = 60.0) -> None:
        """The image's HEALTHCHECK / the readiness probe: GET /readyz answers 200."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"{self.name} exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                if requests.get(self.url + "/readyz", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise AssertionError(f"{self.name} not ready after {timeout}s:\n{self.log_tail()}")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def log_tail(self, lines: int = 30) -> str:
        path = self.workdir / "quiver.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""
