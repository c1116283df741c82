"""A thin raw-JSON transport over the official ``kubernetes.aio`` client.

The official client loads the kubeconfig (tokens, TLS, exec plugins) and owns the HTTP session;
this module only asks it for raw responses so that lists of 10,000 pods are parsed once with
``json`` instead of being turned into pydantic models, and so watch streams can be read line by line.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import yaml

REQUEST_TIMEOUT = 10.0  # seconds for one ordinary request


class KubeError(Exception):
    """An API call that failed; ``code`` is the HTTP status (0 when the server was unreachable)."""

    def __init__(self, code: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message

    @property
    def unreachable(self) -> bool:
        return self.code == 0


@dataclass(frozen=True)
class KubeTarget:
    """Which cluster, as the kubeconfig says (never holds credentials)."""

    context: str
    user: str
    server: str
    namespace: str


async def load_kubernetes() -> Any:
    """Import ``kubernetes.aio`` off the event loop (the import costs ~0.5 s; the UI must not wait)."""
    return await asyncio.to_thread(importlib.import_module, "kubernetes.aio")


def read_kubeconfig_target(kubeconfig: str | None, context: str | None) -> KubeTarget:
    """Context, user, server and default namespace from a kubeconfig (a blocking file read)."""
    path = os.path.expanduser(kubeconfig or os.environ.get("KUBECONFIG", "~/.kube/config").split(":")[0])
    try:
        with open(path) as fh:
            doc = yaml.safe_load(fh) or {}
    except FileNotFoundError:
        raise KubeError(0, "NoKubeconfig", f"no kubeconfig at {path} (use --kubeconfig or --sandbox)") from None
    except yaml.YAMLError as exc:
        raise KubeError(0, "BadKubeconfig", f"kubeconfig {path} is not valid YAML: {exc}") from None
    name = context or doc.get("current-context") or ""
    ctx = next((c.get("context", {}) for c in doc.get("contexts") or [] if c.get("name") == name), None)
    if ctx is None:
        known = ", ".join(c.get("name", "?") for c in doc.get("contexts") or [])
        raise KubeError(0, "NoContext", f"context {name!r} not found in {path} (contexts: {known or 'none'})")
    cluster = next((c.get("cluster", {}) for c in doc.get("clusters") or []
                    if c.get("name") == ctx.get("cluster")), {})
    return KubeTarget(name, ctx.get("user", ""), cluster.get("server", ""), ctx.get("namespace") or "default")


async def _lines(content: Any) -> AsyncIterator[bytes]:
    """The lines (without the newline) of a streamed body as they arrive; a last unterminated line too."""
    buf = b""
    async for chunk in content.iter_any():
        buf += chunk
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            yield line
    if buf:
        yield buf


class KubeTransport:
    """GET/stream raw JSON through an official ``kubernetes.aio`` ApiClient."""

    def __init__(self, api_client: Any) -> None:
        self._client = api_client

    @classmethod
    async def connect(cls, kubeconfig: str | None, context: str | None) -> KubeTransport:
        k8s = await load_kubernetes()
        cfg = k8s.client.Configuration()
        await k8s.config.load_kube_config(config_file=kubeconfig, context=context,
                                          client_configuration=cfg, persist_config=False)
        cfg.retries = 0  # we retry ourselves, with backoff and a visible state
        return cls(k8s.client.ApiClient(configuration=cfg))

    async def close(self) -> None:
        await self._client.close()

    async def _send(self, method: str, path: str, query: list[tuple[str, Any]] | None,
                    body: Any, timeout: Any, content_type: str = "application/json",
                    accept: str = "application/json") -> Any:
        headers = {"Accept": accept, "Content-Type": content_type}
        method, url, headers, body, post = await self._client.param_serialize(
            method, path, query_params=query or [], header_params=headers, body=body,
            auth_settings=["BearerToken"],
        )
        try:
            return await self._client.call_api(method, url, header_params=headers, body=body,
                                               post_params=post, _request_timeout=timeout)
        except (TimeoutError, OSError) as exc:
            raise KubeError(0, "Unreachable", f"cannot reach the API server: {exc}") from None
        except Exception as exc:  # aiohttp.ClientError and friends, without importing aiohttp here
            if type(exc).__module__.startswith("aiohttp"):
                raise KubeError(0, "Unreachable", f"cannot reach the API server: {exc}") from None
            raise

    @staticmethod
    async def _raise_for_status(resp: Any) -> None:
        if resp.status < 400:
            return
        raw = await resp.read()
        try:
            status = json.loads(raw)
            raise KubeError(resp.status, status.get("reason", ""), status.get("message", raw.decode()))
        except (ValueError, AttributeError):
            raise KubeError(resp.status, str(resp.reason), raw.decode(errors="replace")[:300]) from None

    async def request(self, method: str, path: str, query: list[tuple[str, Any]] | None = None,
                      body: Any = None, content_type: str = "application/json",
                      timeout: float = REQUEST_TIMEOUT) -> Any:
        """One request; returns the decoded JSON body or raises :class:`KubeError`."""
        resp = await self._send(method, path, query, body, timeout, content_type)
        await self._raise_for_status(resp)
        try:
            return json.loads(await resp.read())
        except (TimeoutError, OSError) as exc:
            raise KubeError(0, "Unreachable", f"connection lost: {exc}") from None

    async def get(self, path: str, query: list[tuple[str, Any]] | None = None) -> Any:
        return await self.request("GET", path, query)

    async def stream(self, path: str, query: list[tuple[str, Any]], idle_timeout: float) -> AsyncIterator[dict]:
        """Yield watch events (decoded JSON lines). Ends when the server closes the stream;
        raises KubeError when the connection breaks or stays silent for ``idle_timeout`` seconds."""
        import aiohttp

        timeout = aiohttp.ClientTimeout(total=None, sock_connect=REQUEST_TIMEOUT, sock_read=idle_timeout)
        resp = await self._send("GET", path, query, None, timeout)
        await self._raise_for_status(resp)
        try:
            async for line in _lines(resp.response.content):
                if line.strip():
                    yield json.loads(line)
        except (TimeoutError, OSError, aiohttp.ClientError) as exc:
            raise KubeError(0, "Unreachable", f"watch connection lost: {exc or type(exc).__name__}") from None
        finally:
            resp.response.release()

    async def stream_text(self, path: str, query: list[tuple[str, Any]],
                          idle_timeout: float | None = None) -> AsyncIterator[str]:
        """Yield the lines (without the newline) of a plain-text response as they arrive — ``pods/log``,
        also with ``follow=true``. ``idle_timeout`` None: wait for the next line for ever. Raises
        KubeError with the API's own message (e.g. ``pods "x" not found``) or when the connection breaks."""
        import aiohttp

        timeout = aiohttp.ClientTimeout(total=None, sock_connect=REQUEST_TIMEOUT, sock_read=idle_timeout)
        resp = await self._send("GET", path, query, None, timeout, accept="text/plain, application/json")
        await self._raise_for_status(resp)
        try:
            async for line in _lines(resp.response.content):
                yield line.rstrip(b"\r").decode(errors="replace")
        except (TimeoutError, OSError, aiohttp.ClientError) as exc:
            raise KubeError(0, "Unreachable", f"log stream lost: {exc or type(exc).__name__}") from None
        finally:
            resp.response.release()


async def connect_target(kubeconfig: str | None, context: str | None) -> tuple[KubeTarget, KubeTransport]:
    """The kubeconfig's target and a transport to it (no request is sent yet). Every failure is a
    :class:`KubeError`: the client's own kubeconfig errors become ``BadKubeconfig``."""
    try:
        target = await asyncio.to_thread(read_kubeconfig_target, kubeconfig, context)
        transport = await KubeTransport.connect(kubeconfig, context)
    except KubeError:
        raise
    except Exception as exc:  # the client's own kubeconfig errors
        raise KubeError(0, "BadKubeconfig", f"cannot load kubeconfig: {exc}") from None
    return target, transport
