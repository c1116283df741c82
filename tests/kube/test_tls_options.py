"""The cluster's TLS and proxy settings from the kubeconfig, through the official loader: ``tls-server-name``
(the name the certificate is checked against), ``insecure-skip-tls-verify``, ``proxy-url`` through a real
HTTP CONNECT proxy on loopback, and a proxy scheme the client cannot speak."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from console.kube.errors import KubeError
from console.kube.transport import connect_target
from console.sandbox.server import SandboxThread
from tests.kube.conftest import sandbox_doc, sandbox_token, whoami, write_yaml


def kubeconfig(sandbox: SandboxThread, path: Path, **cluster: Any) -> Path:
    base = sandbox_doc(sandbox)["clusters"][0]["cluster"]
    ca = {"certificate-authority-data": base["certificate-authority-data"]}
    return write_yaml(path, {
        "apiVersion": "v1", "kind": "Config", "current-context": "x",
        "clusters": [{"name": "c", "cluster": {"server": sandbox.info.api, **ca, **cluster}}],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
        "users": [{"name": "u", "user": {"token": sandbox_token(sandbox, "sandbox-viewer")}}]})


async def who(path: Path) -> str:
    _, transport = await connect_target(str(path), None)
    try:
        return await whoami(transport)
    finally:
        await transport.close()


@contextlib.asynccontextmanager
async def connect_proxy() -> AsyncIterator[tuple[str, list[str]]]:
    """An HTTP CONNECT proxy on 127.0.0.1: yields its URL and the targets it tunnelled to."""
    tunnels: list[str] = []

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(Exception):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        method, target = head.decode().split(" ")[:2]
        if method != "CONNECT":
            writer.close()
            return
        tunnels.append(target)
        host, port = target.rsplit(":", 1)
        up_reader, up_writer = await asyncio.open_connection(host, int(port))
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        await writer.drain()
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", tunnels
    finally:
        server.close()


async def test_tls_server_name_is_what_the_certificate_is_checked_against(sandbox: SandboxThread,
                                                                           tmp_path: Path) -> None:
    assert await who(kubeconfig(sandbox, tmp_path / "ok", **{"tls-server-name": "localhost"})) == "sandbox-viewer"
    with pytest.raises(KubeError) as err:
        await who(kubeconfig(sandbox, tmp_path / "bad", **{"tls-server-name": "api.example.com"}))
    assert err.value.unreachable and "not valid for 'api.example.com'" in err.value.message


async def test_insecure_skip_tls_verify(sandbox: SandboxThread, tmp_path: Path) -> None:
    path = kubeconfig(sandbox, tmp_path / "kc", **{"insecure-skip-tls-verify": True})
    text = path.read_text().replace("certificate-authority-data", "unused-ca-data")  # no CA at all
    path.write_text(text)
    assert await who(path) == "sandbox-viewer"
    path.write_text(text.replace("insecure-skip-tls-verify: true", "insecure-skip-tls-verify: false"))
    with pytest.raises(KubeError) as err:
        await who(path)
    assert "certificate was not accepted" in err.value.message


async def test_proxy_url_tunnels_through_the_proxy(sandbox: SandboxThread, tmp_path: Path) -> None:
    async with connect_proxy() as (url, tunnels):
        assert await who(kubeconfig(sandbox, tmp_path / "kc", **{"proxy-url": url})) == "sandbox-viewer"
    assert tunnels and tunnels[0] == sandbox.info.api.removeprefix("https://")


async def test_a_socks_proxy_is_refused_plainly(sandbox: SandboxThread, tmp_path: Path) -> None:
    with pytest.raises(KubeError) as err:
        await who(kubeconfig(sandbox, tmp_path / "kc", **{"proxy-url": "socks5://127.0.0.1:1080"}))
    assert err.value.message == "proxy-url socks5:// of cluster 'c' is not supported: use an HTTP(S) proxy"
