"""Shared pieces of the security tests: one test CA for the whole session (gRPC reads its trusted
roots once per process, from GRPC_DEFAULT_SSL_ROOTS_FILE_PATH, so the CA must exist before the
first TLS channel), certificate files, HS256 tokens, and the raw p2p call."""

from __future__ import annotations

import atexit
import base64
import hashlib
import hmac
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import trustme

KEY = "test-api-key-0123456789"
RO_KEY = "test-read-only-key-987"

_DIR = Path(tempfile.mkdtemp(prefix="quiver-sec-ca-"))
atexit.register(shutil.rmtree, _DIR, ignore_errors=True)
CA = trustme.CA()
CA_PEM = _DIR / "ca.pem"
CA.cert_pem.write_to_path(str(CA_PEM))
# gRPC's default roots: whatever bundle the environment names (if any) plus the test CA.
_previous = os.environ.get("GRPC_DEFAULT_SSL_ROOTS_FILE_PATH")
_BUNDLE = _DIR / "grpc-roots.pem"
_BUNDLE.write_bytes((Path(_previous).read_bytes() + b"\n" if _previous and Path(_previous).is_file() else b"")
                    + CA_PEM.read_bytes())
os.environ["GRPC_DEFAULT_SSL_ROOTS_FILE_PATH"] = str(_BUNDLE)


def issue(directory: Path, name: str, ca: trustme.CA = CA) -> tuple[Path, Path]:
    """A certificate for localhost / 127.0.0.1 issued by `ca` (usable by servers and clients):
    (chain file, key file) under `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    leaf = ca.issue_cert("localhost", "127.0.0.1", common_name=name)
    cert, key = directory / f"{name}.pem", directory / f"{name}.key"
    leaf.private_key_pem.write_to_path(str(key))
    with open(cert, "wb") as f:
        for blob in leaf.cert_chain_pems:
            f.write(blob.bytes())
    return cert, key


def write_ca(directory: Path, ca: trustme.CA) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


def tls_env(cert: Path, key: Path, ca: Path | None = None, **extra: str) -> dict[str, str]:
    env = {"QDRANT__TLS__CERT": str(cert), "QDRANT__TLS__KEY": str(key)}
    if ca is not None:
        env["QDRANT__TLS__CA_CERT"] = str(ca)
    env.update(extra)
    return env


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def token(claims: dict, secret: str = KEY, alg: str = "HS256") -> str:
    """An HS256 JWT (no library needed)."""
    head = _b64(json.dumps({"alg": alg, "typ": "JWT"}).encode())
    body = _b64(json.dumps(claims).encode())
    signature = hmac.new(secret.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{_b64(signature)}"


def exp(seconds: float = 600) -> int:
    return int(time.time() + seconds)


def peer_key(api_key: str) -> str:
    """The p2p key peers derive from the API key (crates/transport/src/security.rs)."""
    return hmac.new(api_key.encode(), b"quiver p2p key v1", hashlib.sha256).hexdigest()


def ping_envelope(from_peer: int = 7) -> bytes:
    """A serialized `quiver.p2p.Envelope` carrying `PeerRequest::Ping` (version byte 1, then the
    MessagePack string "Ping"), addressed to whoever answers (to_peer 0)."""
    body = b"\x01\xa4Ping"
    return b"\x08" + _varint(from_peer) + b"\x12" + _varint(len(body)) + body


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def raw_p2p_call(address: str, metadata: list[tuple[str, str]] | None = None, credentials=None):
    """Calls `quiver.p2p.Peer/Call` with a Ping; returns the reply bytes or raises grpc.RpcError."""
    import grpc

    if credentials is None:
        channel = grpc.insecure_channel(address)
    else:
        channel = grpc.secure_channel(address, credentials)
    with channel:
        call = channel.unary_unary("/quiver.p2p.Peer/Call")
        return call(ping_envelope(), metadata=metadata or [], timeout=5)
