"""A thin raw-JSON transport over the official ``kubernetes.aio`` client, connected the way kubectl connects
(console.kube.kubeconfig) with credentials that refresh themselves (console.kube.credentials).

The transport asks the official client for raw responses so that lists of 10,000 pods are parsed once
with ``json`` instead of being turned into pydantic models, and so watch streams can be read line by line.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator
from typing import Any

from console.core.collector import collector_paused
from console.core.jsondecode import decode
from console.core.reasons import plain_reason
from console.http import env_proxy
from console.kube.credentials import Credentials, credentials_for
from console.kube.errors import KubeError, KubeTarget
from console.kube.kubeconfig import official_loaders, select_kubeconfig, service_account_dir
from console.kube.official import kubernetes_aio

REQUEST_TIMEOUT = 10.0  # seconds for one ordinary request
PAGE = 500  # items per page of a LIST (kubectl's chunk size)
BIG_ANSWER = 256 * 1024  # bytes: an answer this large is decoded in a thread (~3 ms and more of decoding)
# The ListMeta's continue token as the API server writes it, before the items: {"kind":…,"metadata":{…}, "items":…
_HEAD = re.compile(rb'^\{"kind":"[A-Za-z]*List","apiVersion":"[^"]*","metadata":\{([^{}]*)\},"items":')
_CONTINUE = re.compile(rb'"continue":"([A-Za-z0-9_=+/-]+)"')


def _head_continue(raw: bytes) -> str:
    """The continue token in the ListMeta at the head of a LIST's answer ("" when none is found there)."""
    head = _HEAD.match(raw, 0, 2048)
    if head is None:
        return ""
    token = _CONTINUE.search(head.group(1))
    return token.group(1).decode() if token else ""


async def load_kubernetes() -> Any:
    """Import the official client off the event loop (its loaders and ApiClient alone still cost ~0.15 s of
    CPU, mostly aiohttp: the UI must not wait)."""
    return await asyncio.to_thread(kubernetes_aio)


async def connect_target(kubeconfig: str | None, context: str | None) -> tuple[KubeTarget, KubeTransport]:
    """The target and a transport to it, as kubectl would connect: the kubeconfig (or the service account)
    loaded into an official ``kubernetes.aio`` ApiClient with credentials that refresh themselves. No
    request is sent and no exec plugin runs yet. Every failure is a :class:`KubeError`: the official
    loaders' own errors become ``BadKubeconfig``."""
    selection = await asyncio.to_thread(select_kubeconfig, kubeconfig, context)
    proxy = str(selection.cluster.get("proxy-url") or "")
    if proxy and not proxy.startswith(("http://", "https://")):  # aiohttp speaks HTTP(S) proxies only
        raise KubeError(0, "BadKubeconfig", f"proxy-url {proxy.split('://')[0]}:// of cluster "
                                            f"{selection.cluster_name!r} is not supported: use an HTTP(S) proxy")
    k8s = await load_kubernetes()
    official = official_loaders()
    cfg = k8s.client.Configuration()
    loader = None
    try:
        if selection.in_cluster:
            folder = service_account_dir()
            official.InCluster(token_filename=str(folder / "token"), cert_filename=str(folder / "ca.crt"),
                               try_refresh_token=False).load_and_set(cfg)
        else:
            loader = official.Loader(selection.config, active_context=selection.target.context,
                                     config_base_path=None)
            await loader.load_and_set(cfg)
    except KubeError:
        raise
    except Exception as exc:  # the official loaders' own errors (missing files, bad data)
        raise KubeError(0, "BadKubeconfig", f"cannot load kubeconfig: {exc}") from None
    cfg.retries = 0  # we retry ourselves, with backoff and a visible state
    # The environment's proxy as kubectl takes it (the kubeconfig's proxy-url first), passed explicitly: aiohttp's
    # trust_env would also read ~/.netrc and send its password to the API server (console/http.py's rules).
    cfg.proxy = cfg.proxy or env_proxy(str(cfg.host))
    cfg.client_session_kwargs = {"trust_env": False}
    credentials = credentials_for(selection, loader)
    client = k8s.client.ApiClient(configuration=cfg)
    credentials.attach(client)
    return selection.target, KubeTransport(client, credentials)


# ---- the transport -------------------------------------------------------------------------------------
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

    def __init__(self, api_client: Any, credentials: Credentials | None = None) -> None:
        self._client = api_client
        self.credentials = credentials or Credentials()

    @classmethod
    async def connect(cls, kubeconfig: str | None, context: str | None) -> KubeTransport:
        """A transport for the kubeconfig and context (see :func:`connect_target`)."""
        return (await connect_target(kubeconfig, context))[1]

    async def close(self) -> None:
        await self._client.close()

    async def _send(self, method: str, path: str, query: list[tuple[str, Any]] | None,
                    body: Any, timeout: Any, content_type: str = "application/json",
                    accept: str = "application/json") -> Any:
        """Send with a current credential; on 401 renew it and send once more, then give up, clearly."""
        cfg = self._client.configuration
        await self.credentials.prepare(cfg)
        sent = cfg.api_key.get("BearerToken")
        resp = await self._send_once(method, path, query, body, timeout, content_type, accept)
        if resp.status != 401:
            return resp
        await self._discard(resp)
        if await self.credentials.renew(cfg, sent):
            resp = await self._send_once(method, path, query, body, timeout, content_type, accept)
            if resp.status != 401:
                return resp
            await self._discard(resp)
        raise KubeError(401, "Unauthorized", self.credentials.rejected_message())

    @staticmethod
    async def _discard(resp: Any) -> None:
        try:
            await resp.read()
        except Exception:  # the body of a 401 does not matter; the connection is released either way
            resp.response.release()

    async def _send_once(self, method: str, path: str, query: list[tuple[str, Any]] | None, body: Any,
                         timeout: Any, content_type: str, accept: str) -> Any:
        headers = {"Accept": accept, "Content-Type": content_type}
        method, url, headers, body, post = await self._client.param_serialize(
            method, path, query_params=query or [], header_params=headers, body=body,
            auth_settings=["BearerToken"],
        )
        try:
            return await self._client.call_api(method, url, header_params=headers, body=body,
                                               post_params=post, _request_timeout=timeout)
        except (TimeoutError, OSError) as exc:
            raise KubeError(0, "Unreachable", f"cannot reach the API server: {plain_reason(exc)}") from None
        except Exception as exc:  # aiohttp.ClientError and friends, without importing aiohttp here
            if type(exc).__module__.startswith("aiohttp"):
                raise KubeError(0, "Unreachable", f"cannot reach the API server: {plain_reason(exc)}") from None
            raise

    async def open(self, method: str, path: str, body: Any = None, timeout: Any = REQUEST_TIMEOUT,
                   accept: str = "application/json") -> Any:
        """One request whose answer the caller reads and then releases (``resp.status``, ``resp.headers``,
        ``resp.response.content``), credentials handled as for every request; an HTTP error status is returned,
        not raised. For paths whose answers are not the API's own, e.g. a service proxy (console/serving)."""
        return await self._send(method, path, None, body, timeout, accept=accept)

    @staticmethod
    async def _raise_for_status(resp: Any) -> None:
        if resp.status < 400:
            return
        raw = await resp.read()
        try:
            status = decode(raw)
            raise KubeError(resp.status, status.get("reason", ""), status.get("message", raw.decode()))
        except (ValueError, AttributeError):
            raise KubeError(resp.status, str(resp.reason), raw.decode(errors="replace")[:300]) from None

    async def _read(self, method: str, path: str, query: list[tuple[str, Any]] | None = None, body: Any = None,
                    content_type: str = "application/json", timeout: float = REQUEST_TIMEOUT,
                    accept: str = "application/json") -> bytes:
        """One request's body, undecoded; raises :class:`KubeError`."""
        resp = await self._send(method, path, query, body, timeout, content_type, accept)
        await self._raise_for_status(resp)
        try:
            return await resp.read()  # type: ignore[no-any-return]
        except (TimeoutError, OSError) as exc:
            raise KubeError(0, "Unreachable", f"connection lost: {plain_reason(exc)}") from None

    async def request(self, method: str, path: str, query: list[tuple[str, Any]] | None = None,
                      body: Any = None, content_type: str = "application/json",
                      timeout: float = REQUEST_TIMEOUT, accept: str = "application/json") -> Any:
        """One request; returns the decoded JSON body or raises :class:`KubeError`."""
        return decode(await self._read(method, path, query, body, content_type, timeout, accept))

    async def get(self, path: str, query: list[tuple[str, Any]] | None = None) -> Any:
        return await self.request("GET", path, query)

    async def pages(self, path: str, query: list[tuple[str, Any]] | None = None,
                    page: int = PAGE) -> AsyncIterator[dict[str, Any]]:
        """Each page of a collection, decoded (``limit``/``continue``, as kubectl and client-go page), in order.

        Pipelined: the next page is asked for as soon as this one has arrived, and this one is decoded meanwhile
        (in a thread when it is large, so the event loop sends that request and stays responsive). The continue
        token is read from the head of the answer, where the API server writes the ListMeta before the items; a
        token that turns out not to be the page's own (or none found there) is followed the plain way, after
        decoding. So the server prepares page n+1 while the client decodes page n: a LIST of 10,000 pods takes
        the longer of the two instead of their sum (#16)."""
        def ask(token: str) -> asyncio.Future[bytes]:
            return asyncio.ensure_future(self._read("GET", path, [*(query or []), ("limit", page),
                                                                  *([("continue", token)] if token else [])]))
        pending: asyncio.Future[bytes] | None = ask("")
        with collector_paused():  # ~100,000 acyclic objects a page, most dropped once it is handled
            try:
                while pending is not None:
                    raw = await pending
                    ahead = _head_continue(raw)
                    pending = ask(ahead) if ahead else None
                    if pending is not None:
                        await asyncio.sleep(0)  # the request starts (and goes out) before this page is decoded
                    answer = await asyncio.to_thread(decode, raw) if len(raw) > BIG_ANSWER else decode(raw)
                    token = (answer.get("metadata") or {}).get("continue") or ""
                    if token != ahead:  # the head was not what it seemed: follow the page's own token
                        if pending is not None:
                            pending.cancel()
                        pending = ask(token) if token else None
                    yield answer
            finally:
                if pending is not None:
                    pending.cancel()
                    with contextlib.suppress(BaseException):
                        await pending

    async def list(self, path: str, query: list[tuple[str, Any]] | None = None, page: int = PAGE) -> list[dict]:
        """Every item of a collection, read ``page`` at a time (:meth:`pages`)."""
        items: list[dict] = []
        async for answer in self.pages(path, query, page):
            items += answer.get("items") or []
        return items

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
                    yield decode(line)
        except (TimeoutError, OSError, aiohttp.ClientError) as exc:
            raise KubeError(0, "Unreachable", f"watch connection lost: {plain_reason(exc)}") from None
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
            raise KubeError(0, "Unreachable", f"log stream lost: {plain_reason(exc)}") from None
        finally:
            resp.response.release()
