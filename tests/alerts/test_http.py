"""Contract of console/http.py (the one HTTP mechanism for Alertmanager and registries) against real local
servers: a real Alertmanager, a real docker-registry, plain sockets and small HTTP(S) servers that record
what reaches them. Credentials in a URL travel as a header only (never to the resolver, a message, a repr
or a log); a dead port and a silent server fail within the timeout, naming the URL without credentials;
TLS is verified unless asked otherwise; an Authorization header does not follow a redirect to another host.
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import logging
import socket
import ssl
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from console.alerts.alertmanager import AlertmanagerClient
from console.http import HttpClient, HttpError, api_message, auth_header, public_url, split_credentials
from tests.conftest import need_tool
from tests.infra_alertmanager import AlertmanagerServer
from tests.infra_docker import Registry, remove_tree, start_registry, stop_registry
from tests.metrics.prom import free_port

SECRET = "hunter2-not-in-logs"


# ---- servers -----------------------------------------------------------------------------------------------


@contextmanager
def recording_server(answer: Callable[[BaseHTTPRequestHandler], tuple[int, dict[str, str], bytes]] | None = None,
                     tls: ssl.SSLContext | None = None, host: str = "127.0.0.1"
                     ) -> Iterator[tuple[int, list[dict[str, Any]]]]:
    """A real HTTP(S) server on ``host`` recording each request's path and headers; ``answer`` gives the
    status, headers and body (default: 200 and ``{}``). Yields its port and the requests seen."""
    seen: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def _any(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            seen.append({"method": self.command, "path": self.path, "headers": dict(self.headers),
                         "body": self.rfile.read(length) if length else b""})
            status, headers, body = answer(self) if answer else (200, {"Content-Type": "application/json"}, b"{}")
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_DELETE = _any

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer((host, 0), Handler)
    server.daemon_threads = True
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], seen
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def alertmanager(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AlertmanagerServer]:
    server = AlertmanagerServer(need_tool("prometheus-alertmanager"), tmp_path_factory.mktemp("http-am"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def plain_registry() -> Iterator[Registry]:
    binary = need_tool("docker-registry")
    workdir = Path(tempfile.mkdtemp(prefix="llmctl-http-reg-"))
    reg = start_registry(workdir, binary)
    try:
        yield reg
    finally:
        stop_registry(reg)
        remove_tree(workdir)


@pytest.fixture
def resolved(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The host names handed to the resolver (the real one still answers)."""
    hosts: list[str] = []
    real = socket.getaddrinfo

    def spy(host: Any, *args: Any, **kwargs: Any) -> Any:
        hosts.append(str(host))
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", spy)
    return hosts


# ---- credentials --------------------------------------------------------------------------------------------


def test_credentials_in_the_url_travel_as_a_header_only(resolved: list[str], caplog: pytest.LogCaptureFixture
                                                         ) -> None:
    caplog.set_level(logging.DEBUG)
    with recording_server() as (port, seen):
        client = HttpClient(f"http://admin:{SECRET}%40x@127.0.0.1:{port}/am/", service="Alertmanager", timeout=3)
        assert client.url == f"http://127.0.0.1:{port}/am" and client.where == f"http://127.0.0.1:{port}/am"
        assert client.get_json("/api/v2/status", {"q": "1"}) == {}
    [request] = seen
    assert request["path"] == "/am/api/v2/status?q=1"
    assert request["headers"]["Authorization"] == "Basic " + base64.b64encode(f"admin:{SECRET}@x".encode()).decode()
    assert request["headers"]["Host"] == f"127.0.0.1:{port}"
    assert resolved and set(resolved) == {"127.0.0.1"}, "user:password@ never reaches the resolver"
    assert SECRET not in repr(client) and SECRET not in caplog.text


def test_a_token_wins_and_explicit_credentials_replace_the_urls() -> None:
    with recording_server() as (port, seen):
        HttpClient(f"http://u:{SECRET}@127.0.0.1:{port}", service="x", token="tok").get_json("/")
        HttpClient(f"http://u:{SECRET}@127.0.0.1:{port}", service="x", username="bob", password="pw").get_json("/")
        HttpClient(f"http://127.0.0.1:{port}", service="x").get_json("/")
    assert [r["headers"].get("Authorization") for r in seen] == ["Bearer tok", auth_header(None, "bob", "pw")[
        "Authorization"], None]


def test_alertmanager_with_credentials_in_its_url(alertmanager: AlertmanagerServer, resolved: list[str]) -> None:
    """The real Alertmanager (which asks for no auth) answers a client whose URL carries credentials."""
    url = alertmanager.url.replace("http://", f"http://admin:{SECRET}@")
    client = AlertmanagerClient(url)
    assert client.where == alertmanager.url and SECRET not in repr(client)
    assert isinstance(client.silences(), list) and isinstance(client.alerts(), list)
    assert set(resolved) == {"127.0.0.1"}


# ---- failures -----------------------------------------------------------------------------------------------


def test_a_dead_port_fails_at_once_naming_the_url_without_credentials(resolved: list[str]) -> None:
    port = free_port()
    client = HttpClient(f"http://admin:{SECRET}@127.0.0.1:{port}/", service="Alertmanager", token="s3cr3t",
                        timeout=5)
    started = time.monotonic()
    with pytest.raises(HttpError) as err:
        client.get_json("/api/v2/alerts")
    assert time.monotonic() - started < 1.0, "no retries"
    assert err.value.kind == "unreachable" and err.value.where == f"http://127.0.0.1:{port}"
    assert str(err.value) == (f"Alertmanager unreachable at http://127.0.0.1:{port}: "
                              "connection refused (nothing listens on that port)")
    assert err.value.strerror == "Connection refused"
    assert SECRET not in str(err.value) and "s3cr3t" not in str(err.value)
    assert err.value.__cause__ is None and err.value.__suppress_context__, "no chained request to print"
    assert set(resolved) == {"127.0.0.1"}


def test_a_server_that_never_answers_times_out() -> None:
    with socket.socket() as silent:  # the kernel completes the handshake; nobody ever reads or answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        client = HttpClient(f"http://u:{SECRET}@127.0.0.1:{port}", service="registry 127.0.0.1", timeout=0.5)
        started = time.monotonic()
        with pytest.raises(HttpError) as err:
            client.request("GET", "/v2/")
        assert time.monotonic() - started < 2.0
    assert err.value.kind == "timeout"
    assert str(err.value) == f"registry 127.0.0.1 unreachable at http://127.0.0.1:{port}: timed out"


def test_an_unknown_host_and_a_bad_url() -> None:
    with pytest.raises(HttpError) as err:
        HttpClient("http://no-such-host.invalid:9093", service="Alertmanager", timeout=3).get_json("/")
    assert err.value.kind == "unreachable"
    assert str(err.value).startswith("Alertmanager unreachable at http://no-such-host.invalid:9093: ")
    with pytest.raises(HttpError, match=r"^bad Alertmanager URL 'host:9093': expected http\(s\)://host:port$"):
        HttpClient(f"u:{SECRET}@host:9093", service="Alertmanager")
    with pytest.raises(HttpError) as bad:
        HttpClient(f"ftp://u:{SECRET}@host:21", service="Alertmanager")
    assert bad.value.kind == "url" and SECRET not in str(bad.value)
    with pytest.raises(HttpError, match=r"^bad Alertmanager URL 'http://host:99999': expected"):
        HttpClient(f"http://u:{SECRET}@host:99999", service="Alertmanager")


def test_http_errors_carry_the_servers_own_message(alertmanager: AlertmanagerServer,
                                                   plain_registry: Registry) -> None:
    am = HttpClient(alertmanager.url, service="Alertmanager", timeout=5)
    with pytest.raises(HttpError) as err:
        am.request("POST", "/api/v2/silences", json_body={"matchers": [], "startsAt": "x"})
    assert err.value.kind == "status" and err.value.status in (400, 422)
    assert str(err.value).startswith(f"Alertmanager at {alertmanager.url} answered HTTP {err.value.status}: ")
    assert err.value.detail and err.value.detail in str(err.value)

    registry = HttpClient(f"http://{plain_registry.address}", service=f"registry {plain_registry.address}")
    assert registry.get_json("/v2/_catalog") == {"repositories": []}
    with pytest.raises(HttpError) as missing:
        registry.request("GET", "/v2/nope/manifests/v1")
    assert missing.value.status == 404 and missing.value.detail.startswith(("NAME_UNKNOWN: ", "MANIFEST_UNKNOWN: "))
    assert str(missing.value) == (f"registry {plain_registry.address} at http://{plain_registry.address} answered "
                                  f"HTTP 404: {missing.value.detail}")


def test_not_json_and_too_large_answers() -> None:
    def text(_handler: BaseHTTPRequestHandler) -> tuple[int, dict[str, str], bytes]:
        return 200, {"Content-Type": "text/plain"}, b"x" * 5000

    with recording_server(text) as (port, _seen):
        client = HttpClient(f"http://127.0.0.1:{port}", service="Alertmanager")
        with pytest.raises(HttpError) as err:
            client.get_json("/")
        assert (err.value.kind, str(err.value)) == ("answer", f"unexpected answer from Alertmanager at "
                                                              f"http://127.0.0.1:{port}: not JSON")
        with pytest.raises(HttpError) as big:
            client.request("GET", "/", max_bytes=1000)
        assert big.value.kind == "too-large"
        assert len(client.request("GET", "/", max_bytes=5000).body) == 5000


# ---- redirects ----------------------------------------------------------------------------------------------


def test_authorization_does_not_follow_a_redirect_to_another_host() -> None:
    with recording_server(host="127.0.0.1") as (other, elsewhere):
        def to(target: str) -> Callable[[BaseHTTPRequestHandler], tuple[int, dict[str, str], bytes]]:
            def answer(handler: BaseHTTPRequestHandler) -> tuple[int, dict[str, str], bytes]:
                if handler.path.startswith("/moved"):
                    return 307, {"Location": target}, b""
                return 200, {"Content-Type": "application/json"}, b"{}"
            return answer

        # "localhost" and "127.0.0.1" are the same machine but not the same host name: a different host
        with recording_server(to(f"http://127.0.0.1:{other}/blob")) as (port, here):
            client = HttpClient(f"http://localhost:{port}", service="registry localhost", token="tok")
            client.request("GET", "/moved")
        with recording_server(to("/same")) as (port2, same):
            HttpClient(f"http://127.0.0.1:{port2}", service="registry", token="tok").request("GET", "/moved")
    assert here[0]["headers"]["Authorization"] == "Bearer tok"
    assert elsewhere[0]["path"] == "/blob" and "Authorization" not in elsewhere[0]["headers"]
    assert [r["headers"].get("Authorization") for r in same] == ["Bearer tok", "Bearer tok"], "same host: kept"


# ---- TLS ----------------------------------------------------------------------------------------------------


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 signed by itself, and its key (PEM files)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "llmctl-test")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def test_tls_is_verified_unless_the_user_asked(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    with recording_server(tls=context) as (port, seen):
        url = f"https://admin:{SECRET}@127.0.0.1:{port}"
        with pytest.raises(HttpError) as err:
            HttpClient(url, service="Alertmanager", timeout=3).get_json("/")
        assert err.value.kind == "unreachable" and "certificate was not accepted" in str(err.value)
        assert str(err.value).startswith(f"Alertmanager unreachable at https://127.0.0.1:{port}: ")
        assert SECRET not in str(err.value) and not seen, "nothing was sent to an unverified server"
        assert HttpClient(url, service="Alertmanager", ca_file=str(cert), timeout=3).get_json("/") == {}
        assert HttpClient(url, service="Alertmanager", insecure=True, timeout=3).get_json("/") == {}
    assert len(seen) == 2 and all(r["headers"]["Authorization"].startswith("Basic ") for r in seen)


# ---- the pure helpers ---------------------------------------------------------------------------------------


def test_url_helpers() -> None:
    assert public_url(f"https://alice:{SECRET}@prom.example:9090/prom/?x=1#f") == "https://prom.example:9090/prom"
    assert public_url(f"http://u:{SECRET}@[::1]:9093/") == "http://[::1]:9093"
    assert split_credentials(f"http://a%40b:{SECRET}%2F@host:1/p/") == ("http://host:1/p", "a@b", f"{SECRET}/")
    assert split_credentials("http://host:1/p/") == ("http://host:1/p", None, None)
    assert split_credentials("http://tok@host") == ("http://host", "tok", None)
    assert split_credentials(f"u:{SECRET}@host:9093/") == ("host:9093", None, None), "not a URL: nothing kept"
    assert public_url(f"u:{SECRET}@host:9093") == "host:9093"
    assert auth_header() == {} and auth_header(username="u")["Authorization"] == "Basic dTo="
    assert api_message(b'"silence not found"') == "silence not found"
    assert api_message(b'{"status": "error", "errorType": "bad_data", "error": "parse error"}') == "parse error"
    assert api_message(b'{"errors": [{"code": "NAME_UNKNOWN", "message": "unknown"}]}') == "NAME_UNKNOWN: unknown"
    assert api_message(b"<html>\n  Bad   gateway\n</html>") == "<html> Bad gateway </html>"
