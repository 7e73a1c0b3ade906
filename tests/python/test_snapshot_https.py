"""Snapshot recovery from `https://` locations (spec §7.1 `location`): rustls with the system's
trusted roots, which `SSL_CERT_FILE` replaces — that is how these tests trust a CA made by
`trustme`. A certificate the node does not trust fails the download with a 4xx and changes
nothing; `service.enable_snapshot_url_recovery: false` refuses https with 403 as it does http."""

from __future__ import annotations

import http.server
import ssl
import threading
from pathlib import Path

import pytest
import trustme

from qhelpers import Rest, assert_error
from test_snapshots import fill, make_collection, state_of


class HttpsFiles:
    """Serves the files of `directory` over TLS with a certificate for `localhost` issued by
    `ca`; remembers the `api-key` header of every request."""

    def __init__(self, directory: Path, ca: trustme.CA):
        self.api_keys: list[str | None] = []
        seen = self.api_keys

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *a, **kw):
                super().__init__(*a, directory=str(directory), **kw)

            def do_GET(self):  # noqa: N802 (http.server's naming)
                seen.append(self.headers.get("api-key"))
                super().do_GET()

            def log_message(self, *args):
                pass

        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("localhost", "127.0.0.1").configure_cert(context)
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def url(self, name: str) -> str:
        return f"https://localhost:{self.httpd.server_address[1]}/{name}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def ca(tmp_path) -> tuple[trustme.CA, Path]:
    """A test CA and its certificate as a PEM file."""
    authority = trustme.CA()
    pem = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(str(pem))
    return authority, pem


@pytest.fixture
def files(tmp_path, ca):
    served = tmp_path / "served"
    served.mkdir()
    server = HttpsFiles(served, ca[0])
    yield served, server
    server.close()


def snapshot_of(rest: Rest, name: str) -> bytes:
    desc = rest.ok("POST", f"/collections/{name}/snapshots")
    return rest.get(f"/collections/{name}/snapshots/{desc['name']}").content


def test_recover_from_https_with_a_trusted_ca(server_factory, ca, files, monkeypatch):
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    srv = server_factory(env={"SSL_CERT_FILE": str(ca[1])})
    rest = Rest(srv.url)
    make_collection(rest, "src", 700)
    before = state_of(rest, "src")
    served, https = files
    (served / "x.snapshot").write_bytes(snapshot_of(rest, "src"))
    # into a new collection, with the api key sent along
    body = {"location": https.url("x.snapshot"), "api_key": "secret"}
    assert rest.ok("PUT", "/collections/copy/snapshots/recover", json=body) is True
    assert state_of(rest, "copy") == before
    assert https.api_keys == ["secret"]
    # over changed data: the snapshot's points come back
    fill(rest, "src", 900, "new")
    assert state_of(rest, "src") != before
    assert rest.ok("PUT", "/collections/src/snapshots/recover", json={"location": https.url("x.snapshot")}) is True
    assert state_of(rest, "src") == before
    # a missing file is the server's 404, reported as a failed download
    missing = rest.put("/collections/src/snapshots/recover", json={"location": https.url("nope.snapshot")})
    assert_error(missing, 400, "Failed to download")
    assert state_of(rest, "src") == before


def test_untrusted_certificate_is_refused_and_changes_nothing(server_factory, files, monkeypatch):
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    srv = server_factory()  # the system's roots only: the test CA is not among them
    rest = Rest(srv.url)
    make_collection(rest, "src", 300)
    before = state_of(rest, "src")
    served, https = files
    (served / "x.snapshot").write_bytes(snapshot_of(rest, "src"))
    fill(rest, "src", 400, "new")
    changed = state_of(rest, "src")
    for name in ["src", "fresh"]:
        r = rest.put(f"/collections/{name}/snapshots/recover", json={"location": https.url("x.snapshot")})
        assert_error(r, 400, "certificate")
        assert "Failed to download snapshot from https://localhost" in r.json()["status"]["error"]
    assert state_of(rest, "src") == changed != before
    assert_error(rest.get("/collections/fresh"), 404)
    assert https.api_keys == []  # the handshake failed before any request
    assert list((srv.storage_path / "tmp").glob("*")) == []


def test_disabled_url_recovery_refuses_https(server_factory, ca, files):
    srv = server_factory(env={"SSL_CERT_FILE": str(ca[1]),
                              "QDRANT__SERVICE__ENABLE_SNAPSHOT_URL_RECOVERY": "false"})
    rest = Rest(srv.url)
    served, https = files
    (served / "x.snapshot").write_bytes(b"never fetched")
    r = rest.put("/collections/c/snapshots/recover", json={"location": https.url("x.snapshot")})
    assert_error(r, 403, "disabled")
    assert https.api_keys == []
    assert_error(rest.get("/collections/c"), 404)
