"""One OpenAI-compatible request to a model Service, through the API server's service proxy.

The request goes over the console's :class:`~console.kube.transport.KubeTransport` — the kubeconfig's server,
CA and credentials (tokens, client certificates, exec plugins), as kubectl reaches the cluster — to
``/api/v1/namespaces/NS/services/NAME:PORT/proxy/v1/chat/completions``. RBAC: the caller needs ``create`` on
``services/proxy`` (``get`` for ``/v1/models``), which the ``edit`` and ``admin`` roles have and ``view`` has not.

Timing: TTFT is the time to the first streamed content token, latency the time to the end of the answer,
both from the moment the request is sent. Which pod answered is known only when the server (or a proxy in
front of it) names itself in a response header (:data:`POD_HEADERS`); vLLM itself does not.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import asdict, dataclass
from typing import Any

from console.kube.errors import KubeError
from console.kube.transport import KubeTransport

POD_HEADERS = ("x-served-by", "x-pod-name", "x-backend-pod")  # first one present names the pod
ROUTED_HEADER = "x-routed-to"
DEFAULT_MAX_TOKENS = 64
_DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")


class ServingError(Exception):
    """The service cannot be asked at all (not found, no port, forbidden); the message says why."""


@dataclass(frozen=True)
class ServiceRef:
    """A Service and the port its proxy path names (a number or a port name)."""

    namespace: str
    name: str
    port: str = ""

    @property
    def proxy_base(self) -> str:
        target = f"{self.name}:{self.port}" if self.port else self.name
        return f"/api/v1/namespaces/{self.namespace}/services/{target}/proxy"

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}" + (f":{self.port}" if self.port else "")


def parse_service(text: str, namespace: str) -> ServiceRef:
    """``NAME`` or ``NAME:PORT`` (a port number or name) → a :class:`ServiceRef`; ValueError for bad input."""
    name, _, port = text.strip().partition(":")
    if not _DNS_LABEL.match(name):
        raise ValueError(f"not a Service name: {text!r} (lower-case letters, digits and '-', e.g. claude-inference)")
    if port and not (port.isdigit() and 0 < int(port) < 65536) and not _DNS_LABEL.match(port):
        raise ValueError(f"not a port number or name: {port!r}")
    return ServiceRef(namespace, name, port)


@dataclass
class Reply:
    """One request's outcome; times in seconds from its own send (``sent`` is seconds from the run's start)."""

    ok: bool
    status: int
    latency_s: float
    ttft_s: float | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    pod: str | None = None
    routed_to: str | None = None
    text: str = ""
    error: str | None = None
    sent: float = 0.0
    model: str = ""

    @property
    def tokens_per_s(self) -> float | None:
        """Decode speed: tokens after the first over the time after the first (None for one token)."""
        if self.ttft_s is None or self.completion_tokens < 2 or self.latency_s <= self.ttft_s:
            return None
        return (self.completion_tokens - 1) / (self.latency_s - self.ttft_s)

    def as_dict(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["tokens_per_s"] = self.tokens_per_s
        return doc


def _error_message(status: int, raw: bytes) -> str:
    """The server's own words: an OpenAI ``error.message``, a Kubernetes Status ``message``, or the text."""
    try:
        doc = json.loads(raw)
    except ValueError:
        text = raw.decode(errors="replace").strip()
        return f"HTTP {status}: {text[:200]}" if text else f"HTTP {status}"
    if isinstance(doc, dict):
        err = doc.get("error")
        if isinstance(err, dict) and err.get("message"):
            return f"HTTP {status}: {err['message']}"
        if doc.get("message"):
            return f"HTTP {status}: {doc['message']}"
        if doc.get("detail"):
            return f"HTTP {status}: {doc['detail']}"
    return f"HTTP {status}"


def _pod_of(headers: Any) -> str | None:
    for name in POD_HEADERS:
        value = headers.get(name)
        if value:
            return str(value)
    return None


class ServingClient:
    """Chat requests to one Service's model through the service proxy (one per run; share its transport)."""

    def __init__(self, transport: KubeTransport, service: ServiceRef, model: str | None = None,
                 timeout: float = 60.0) -> None:
        self.transport = transport
        self.service = service
        self.model = model
        self.timeout = timeout
        self.selector: dict[str, str] = {}

    async def resolve(self) -> None:
        """Read the Service (its port when none was given, its selector) and, without ``model``, the first
        model ``/v1/models`` lists. Raises :class:`ServingError` with the API's reason."""
        ref = self.service
        try:
            svc = await self.transport.get(f"/api/v1/namespaces/{ref.namespace}/services/{ref.name}")
        except KubeError as exc:
            raise ServingError(exc.message) from None
        spec = svc.get("spec") or {}
        self.selector = dict(spec.get("selector") or {})
        ports = spec.get("ports") or []
        if not ref.port:
            if not ports:
                raise ServingError(f"service {ref} has no ports")
            self.service = ServiceRef(ref.namespace, ref.name, str(ports[0].get("port")))
        elif not any(ref.port in (str(p.get("port")), p.get("name")) for p in ports):
            known = ", ".join(str(p.get("port")) for p in ports) or "none"
            raise ServingError(f"service {ref.namespace}/{ref.name} has no port {ref.port} (ports: {known})")
        if self.model is None:
            self.model = await self.first_model()

    async def first_model(self) -> str:
        """The first model id the server lists at ``/v1/models``."""
        try:
            resp = await self.transport.open("GET", self.service.proxy_base + "/v1/models", timeout=self.timeout)
        except KubeError as exc:
            raise ServingError(exc.message) from None
        try:
            raw = await resp.read()
        finally:
            resp.response.release()
        if resp.status >= 400:
            raise ServingError(f"{self.service}: /v1/models answered {_error_message(resp.status, raw)}")
        try:
            data = json.loads(raw).get("data") or []
            return str(data[0]["id"])
        except (ValueError, AttributeError, LookupError, TypeError):
            raise ServingError(f"{self.service}: /v1/models lists no model") from None

    def body(self, prompt: str, max_tokens: int, stream: bool) -> dict[str, Any]:
        doc: dict[str, Any] = {"model": self.model, "messages": [{"role": "user", "content": prompt}],
                               "max_tokens": max_tokens, "stream": stream}
        if stream:
            doc["stream_options"] = {"include_usage": True}
        return doc

    async def chat(self, prompt: str, max_tokens: int = DEFAULT_MAX_TOKENS, stream: bool = True,
                   origin: float | None = None) -> Reply:
        """One chat completion, timed. Never raises for a failed request: the :class:`Reply` says what failed.
        ``origin``: a ``time.perf_counter()`` value ``Reply.sent`` is measured from."""
        body = self.body(prompt, max_tokens, stream)
        start = time.perf_counter()
        sent = start - origin if origin is not None else 0.0
        try:
            resp = await self.transport.open("POST", self.service.proxy_base + "/v1/chat/completions", body,
                                             timeout=self.timeout,
                                             accept="text/event-stream" if stream else "application/json")
        except KubeError as exc:
            return Reply(False, exc.code, time.perf_counter() - start, error=exc.message, sent=sent)
        except TimeoutError:
            return Reply(False, 0, time.perf_counter() - start, error="timed out", sent=sent)
        try:
            headers = resp.headers
            reply = Reply(True, resp.status, 0.0, pod=_pod_of(headers), routed_to=headers.get(ROUTED_HEADER),
                          sent=sent)
            if resp.status >= 400:
                raw = await resp.read()
                reply.ok, reply.error = False, _error_message(resp.status, raw)
            elif stream:
                await self._read_stream(resp.response.content, reply, start)
            else:
                self._read_whole(json.loads(await resp.read()), reply)
        except (TimeoutError, OSError) as exc:
            reply.ok, reply.error = False, f"connection lost: {exc or type(exc).__name__}"
        except ValueError as exc:
            reply.ok, reply.error = False, f"unreadable answer: {exc}"
        except Exception as exc:  # aiohttp's payload errors, without importing aiohttp here
            if not type(exc).__module__.startswith("aiohttp"):
                raise
            reply.ok, reply.error = False, f"connection lost: {exc or type(exc).__name__}"
        finally:
            resp.response.release()
        reply.latency_s = time.perf_counter() - start
        return reply

    @staticmethod
    def _read_whole(doc: dict[str, Any], reply: Reply) -> None:
        choice = (doc.get("choices") or [{}])[0]
        reply.text = str((choice.get("message") or {}).get("content") or "")
        usage = doc.get("usage") or {}
        reply.prompt_tokens = int(usage.get("prompt_tokens") or 0)
        reply.completion_tokens = int(usage.get("completion_tokens") or 0)
        reply.model = str(doc.get("model") or "")

    @staticmethod
    async def _read_stream(content: Any, reply: Reply, start: float) -> None:
        """Server-Sent Events as vLLM sends them: ``data: {chunk}`` lines, then ``data: [DONE]``."""
        pieces: list[str] = []
        usage: dict[str, Any] | None = None
        async for line in content:
            if not line.startswith(b"data:"):
                continue
            data = line[5:].strip()
            if data == b"[DONE]":
                break
            chunk = json.loads(data)
            if chunk.get("usage"):
                usage = chunk["usage"]
            for choice in chunk.get("choices") or ():
                piece = (choice.get("delta") or {}).get("content")
                if piece:
                    if reply.ttft_s is None:
                        reply.ttft_s = time.perf_counter() - start
                    pieces.append(piece)
            if not reply.model:
                reply.model = str(chunk.get("model") or "")
        reply.text = "".join(pieces)
        reply.prompt_tokens = int((usage or {}).get("prompt_tokens") or 0)
        reply.completion_tokens = int((usage or {}).get("completion_tokens") or len(pieces))

    async def ready_endpoints(self) -> int | None:
        """How many Ready pods the Service selects now (None when the pods cannot be listed)."""
        if not self.selector:
            return None
        selector = ",".join(f"{k}={v}" for k, v in sorted(self.selector.items()))
        try:
            pods = await self.transport.list(f"/api/v1/namespaces/{self.service.namespace}/pods",
                                             [("labelSelector", selector)])
        except KubeError:
            return None
        return sum(1 for p in pods if not p["metadata"].get("deletionTimestamp") and any(
            c.get("type") == "Ready" and c.get("status") == "True"
            for c in (p.get("status") or {}).get("conditions") or ()))


async def service_for_deployment(transport: KubeTransport, namespace: str, deployment: str) -> ServiceRef:
    """The Service in front of a Deployment: the first whose selector picks the Deployment's pod labels.
    Raises :class:`ServingError` when there is none (or the Deployment cannot be read)."""
    try:
        dep = await transport.get(f"/apis/apps/v1/namespaces/{namespace}/deployments/{deployment}")
        services = await transport.list(f"/api/v1/namespaces/{namespace}/services")
    except KubeError as exc:
        raise ServingError(exc.message) from None
    labels = (((dep.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels") or {}
    for svc in sorted(services, key=lambda s: s["metadata"]["name"]):
        selector = (svc.get("spec") or {}).get("selector") or {}
        if selector and all(labels.get(k) == v for k, v in selector.items()):
            return ServiceRef(namespace, svc["metadata"]["name"])
    raise ServingError(f"no Service in namespace {namespace} selects the pods of deployment {deployment}")
