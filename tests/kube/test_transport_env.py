"""What the kube transport takes from the environment: the proxy (``HTTPS_PROXY``/``HTTP_PROXY``, ``NO_PROXY``, as
kubectl reads them) and nothing else — a ``~/.netrc`` with credentials for the API server's host is not read (the
console's rule, console/http.py): its password never reaches the server, and a token user still works."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from console.kube.transport import connect_target
from console.sandbox.server import SandboxThread
from tests.kube.conftest import write_yaml
from tests.kube.test_tls_options import connect_proxy, kubeconfig, who

PROXY_VARS = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY",
              "no_proxy", "NETRC")


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """HOME in a temporary folder with a ``.netrc`` holding credentials for 127.0.0.1 (the servers' host), and no
    proxy in the environment."""
    folder = tmp_path / "home"
    folder.mkdir()
    netrc = folder / ".netrc"
    netrc.write_text("machine 127.0.0.1\n  login netrc-user\n  password netrc-secret\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("HOME", str(folder))
    for name in PROXY_VARS:
        monkeypatch.delenv(name, raising=False)
    yield folder


@contextlib.asynccontextmanager
async def recording_api() -> AsyncIterator[tuple[str, list[dict[str, str]]]]:
    """A plain-HTTP API server on 127.0.0.1 that answers every request with a SelfSubjectReview and records the
    headers each request came with: yields its URL and those headers."""
    seen: list[dict[str, str]] = []
    review = {"kind": "SelfSubjectReview", "apiVersion": "authentication.k8s.io/v1",
              "status": {"userInfo": {"username": "anonymous-cert-user"}}}

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode()
        headers = dict(line.split(": ", 1) for line in head.split("\r\n")[1:] if ": " in line)
        seen.append({k.lower(): v for k, v in headers.items()})
        length = int(headers.get("Content-Length") or headers.get("content-length") or 0)
        if length:
            await reader.readexactly(length)
        body = json.dumps(review).encode()
        writer.write(b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nConnection: close\r\n"
                     b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}", seen
    finally:
        server.close()


async def test_a_netrc_for_the_api_host_changes_nothing_for_a_token_user(sandbox: SandboxThread, tmp_path: Path,
                                                                         home: Path) -> None:
    assert await who(kubeconfig(sandbox, tmp_path / "kc")) == "sandbox-viewer"


async def test_the_netrc_password_never_reaches_the_api_server(tmp_path: Path, home: Path) -> None:
    """A user with no token (as a client-certificate user sends none): no Authorization header at all."""
    async with recording_api() as (url, seen):
        path = write_yaml(tmp_path / "kc", {
            "apiVersion": "v1", "kind": "Config", "current-context": "x",
            "clusters": [{"name": "c", "cluster": {"server": url}}],
            "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
            "users": [{"name": "u", "user": {}}]})
        _, transport = await connect_target(str(path), None)
        try:
            answer = await transport.request("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews",
                                             body={"kind": "SelfSubjectReview",
                                                   "apiVersion": "authentication.k8s.io/v1"})
        finally:
            await transport.close()
    assert answer["status"]["userInfo"]["username"] == "anonymous-cert-user"
    assert seen and all("authorization" not in headers for headers in seen), [sorted(h) for h in seen]


async def test_https_proxy_from_the_environment_tunnels_to_the_api_server(sandbox: SandboxThread, tmp_path: Path,
                                                                          home: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    async with connect_proxy() as (url, tunnels):
        monkeypatch.setenv("HTTPS_PROXY", url)
        assert await who(kubeconfig(sandbox, tmp_path / "kc")) == "sandbox-viewer"
        assert tunnels == [sandbox.info.api.removeprefix("https://")]
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")  # kubectl's NO_PROXY: straight to the server
        assert await who(kubeconfig(sandbox, tmp_path / "kc2")) == "sandbox-viewer"
        assert len(tunnels) == 1
