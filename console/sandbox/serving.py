"""What the sandbox's model pods answer over HTTP: the OpenAI-compatible API vLLM serves, and the article's
length router.

A model pod (a GPU pod the simulation counts as serving) answers ``/health``, ``/v1/models``,
``/v1/completions`` and ``/v1/chat/completions`` (with ``stream: true`` as Server-Sent Events, chunk by chunk
as vLLM sends them, with ``usage``). Its answer takes as long as the queueing model says a request takes
right now: TTFT and end-to-end latency are drawn from the same distributions the vLLM histograms of
:mod:`.sim.histograms` are filled from, and every request that arrives is added to its Deployment's offered
load (:class:`ArrivalMeter`, read by the simulation once per tick). So load sent through the API server's
proxy moves the p99 the exporter reports, and a client's measured p99 agrees with the histogram's.

Latencies are real seconds at every ``--speed``: the speed factor compresses controller time (cold starts,
HPA windows), not what one request costs, so a load generator's clock and the exporter agree.

A router pod (its container has ``SHORT_QUEUE_MAX_CHARS``, as ``claude-router``) sends prompts shorter than
that many characters to the ``<base>-short-queue`` Deployment and the rest to ``<base>-long-queue``.

Every answer names the pod that produced it in ``X-Served-By`` (what ``nginx add_header X-Served-By
$hostname`` in front of a model server gives on a real cluster); the router adds ``X-Routed-To``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import time
import uuid
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from .context import SandboxContext
from .sim.queueing import LogNormal
from .store import Obj

SERVED_BY = "X-Served-By"
ROUTED_TO = "X-Routed-To"
ROUTER_ENV = "SHORT_QUEUE_MAX_CHARS"
METER_WINDOW_S = 1.0  # wall seconds of arrivals that make up the rate the simulation adds
MAX_MODEL_LEN = 4096
_WORDS = ("the", "model", "is", "serving", "from", "a", "sandbox", "GPU", "and", "answers", "within", "its",
          "queue", "budget", "on", "time", "kernel", "cache", "batch", "token")


class ArrivalMeter:
    """Real requests per Deployment over the last second of wall time (what the simulation adds to its load)."""

    def __init__(self, window: float = METER_WINDOW_S) -> None:
        self.window = window
        self._arrivals: dict[tuple[str, str], deque[float]] = {}

    def record(self, key: tuple[str, str], now: float | None = None) -> None:
        self._arrivals.setdefault(key, deque()).append(time.monotonic() if now is None else now)

    def rate(self, key: tuple[str, str], now: float | None = None) -> float:
        """Arrivals per second in the last window (0 for a Deployment that got none)."""
        q = self._arrivals.get(key)
        if not q:
            return 0.0
        edge = (time.monotonic() if now is None else now) - self.window
        while q and q[0] < edge:
            q.popleft()
        return len(q) / self.window


@dataclass(frozen=True)
class Timing:
    """When one request's first token and last token come, and how many tokens it generates."""

    ttft_s: float
    e2e_s: float
    tokens: int


def sample_timing(fig: Any, generation_tokens: float, max_tokens: int | None, rng: random.Random) -> Timing:
    """A request's timing from a Deployment's current figures (p50/p99 of e2e and TTFT, lognormal).

    One standard-normal draw serves both, so TTFT and latency are the model's at the same quantile; a
    request asking for fewer tokens than the model's typical answer ends earlier, in proportion."""
    z = rng.gauss(0.0, 1.0)
    e2e = LogNormal.fit(fig.p50_s, fig.p99_s).quantile(z)
    ttft = LogNormal.fit(fig.ttft_p50_s, fig.ttft_p99_s).quantile(z)
    full = max(1, round(generation_tokens))
    tokens = full if not max_tokens else max(1, min(full, max_tokens))
    e2e = max(e2e, ttft * 1.05)
    if tokens < full:
        e2e = ttft + (e2e - ttft) * (tokens - 1) / max(full - 1, 1)
    return Timing(ttft, e2e, tokens)


def count_tokens(text: str) -> int:
    """Prompt tokens as a BPE tokenizer roughly counts English: one per four characters."""
    return max(1, (len(text) + 3) // 4)


def answer_words(prompt: str, n: int) -> list[str]:
    """A deterministic answer for a prompt: ``n`` tokens (one word each, with its leading space)."""
    seed = int.from_bytes(hashlib.blake2s(prompt.encode(), digest_size=4).digest(), "big")
    return [(" " if i else "") + _WORDS[(seed + 7 * i) % len(_WORDS)] for i in range(n)]


def prompt_text(kind: str, body: Mapping[str, Any]) -> str:
    """The text of a completion prompt or of a chat's messages (what the router measures)."""
    if kind == "chat":
        parts = []
        for m in body.get("messages") or []:
            content = m.get("content") if isinstance(m, dict) else None
            if isinstance(content, list):  # content parts: [{"type": "text", "text": ...}]
                content = "".join(str(p.get("text") or "") for p in content if isinstance(p, dict))
            parts.append(str(content or ""))
        return "\n".join(parts)
    prompt = body.get("prompt")
    if isinstance(prompt, list):
        return "".join(str(p) for p in prompt)
    return str(prompt or "")


def _error(status: int, message: str, kind: str, param: str | None = None) -> web.Response:
    """An error as vLLM's OpenAI server writes it (``{"error": {...}}``)."""
    body = {"error": {"message": message, "type": kind, "param": param, "code": status}}
    return web.json_response(body, status=status)


def _validate(kind: str, body: Any) -> tuple[int | None, web.Response | None]:
    """(max_tokens, None) for a usable request, else (None, a 400 as vLLM answers it)."""
    if not isinstance(body, dict):
        return None, _error(400, "the request body must be a JSON object", "BadRequestError")
    if kind == "chat":
        msgs = body.get("messages")
        if not isinstance(msgs, list) or not msgs:
            return None, _error(400, "messages: field required (a non-empty list)", "BadRequestError", "messages")
    elif body.get("prompt") in (None, "", []):
        return None, _error(400, "prompt: field required", "BadRequestError", "prompt")
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    if max_tokens is not None and (not isinstance(max_tokens, int) or isinstance(max_tokens, bool)
                                   or max_tokens < 1):
        return None, _error(400, f"max_tokens must be at least 1, got {max_tokens}.", "BadRequestError",
                            "max_tokens")
    return max_tokens, None


class ModelServers:
    """Every model and router pod's HTTP server (one object per sandbox, kept in ``ctx.extras``)."""

    def __init__(self, ctx: SandboxContext) -> None:
        self.ctx = ctx
        self.meter = ArrivalMeter()
        self._rng = random.Random(f"serving-{ctx.config.seed}")  # own stream: controllers' draws stay put
        self._endpoints: dict[tuple[str, str], tuple[str, list[Obj]]] = {}
        self._hooked: Any = None

    @classmethod
    def of(cls, ctx: SandboxContext) -> ModelServers:
        """The sandbox's servers (created on first use), with the simulation reading their arrivals."""
        servers = ctx.extras.get("model_servers")
        if servers is None:
            servers = ctx.extras["model_servers"] = cls(ctx)
        servers._hook()
        return servers

    def _hook(self) -> None:
        sim = self.ctx.sim
        if sim is not None and sim is not self._hooked and hasattr(sim, "extra_load"):
            sim.extra_load = self.meter.rate
            self._hooked = sim

    # ---- endpoints -------------------------------------------------------------------------------
    def ready_pods(self, namespace: str, selector: Mapping[str, str]) -> list[Obj]:
        """Ready, not terminating pods matching an equality selector (cached per store version)."""
        key = (namespace, json.dumps(selector, sort_keys=True))
        rv = self.ctx.store.resource_version
        cached = self._endpoints.get(key)
        if cached is not None and cached[0] == rv:
            return cached[1]
        pods = [p for p in self.ctx.store.iter_all("pods")
                if p["metadata"].get("namespace") == namespace and _selected(selector, p) and pod_ready(p)]
        pods.sort(key=lambda p: p["metadata"]["name"])
        if len(self._endpoints) > 1000:
            self._endpoints.clear()
        self._endpoints[key] = (rv, pods)
        return pods

    def pick(self, pods: list[Obj]) -> Obj:
        """One endpoint, as kube-proxy's random choice spreads connections."""
        return pods[self._rng.randrange(len(pods))]

    # ---- a pod's server --------------------------------------------------------------------------
    def listens(self, pod: Obj, port: int) -> bool:
        """Whether a container of the pod declares ``port`` (only those get an answer)."""
        return any(p.get("containerPort") == port for c in pod["spec"].get("containers") or []
                   for p in c.get("ports") or [])

    async def serve(self, request: web.Request, pod: Obj, path: str) -> web.StreamResponse | None:
        """The pod's answer to ``request`` for ``path`` (starting with ``/``), or None when nothing in the
        pod is listening (the proxy says connection refused)."""
        ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
        limit = router_limit(pod)
        if limit is not None:
            return await self._route(request, pod, path, limit) if pod_ready(pod) else None
        served = self._serving(ns, name)
        if served is None:
            return None  # still loading the model (or not a model server): no listener yet
        return await self._model(request, ns, name, served, path)

    def _serving(self, ns: str, pod: str) -> tuple[Any, Any] | None:
        self._hook()
        sim = self.ctx.sim
        if sim is None or not hasattr(sim, "serving_pod"):
            return None
        if sim.version == 0:  # asked before the first tick: Ready pods serve from the start, as on a cluster
            sim.tick(0.0)
        return sim.serving_pod(ns, pod)

    async def _model(self, request: web.Request, ns: str, pod: str, served: tuple[Any, Any],
                     path: str, routed: str | None = None) -> web.StreamResponse:
        fig, profile = served
        model = fig.name
        headers = {SERVED_BY: pod, **({ROUTED_TO: routed} if routed else {})}
        path = path.rstrip("/") or "/"
        if path in ("/health", "/ping") and request.method in ("GET", "HEAD"):
            return web.Response(status=200, headers=headers)
        if path == "/v1/models" and request.method == "GET":
            return web.json_response({"object": "list", "data": [_model_card(model)]}, headers=headers)
        kind = {"/v1/chat/completions": "chat", "/v1/completions": "text"}.get(path)
        if kind is None:
            return web.json_response({"detail": "Not Found"}, status=404, headers=headers)
        if request.method != "POST":
            return web.json_response({"detail": "Method Not Allowed"}, status=405, headers=headers)
        try:
            body = json.loads(await request.read() or b"null")
        except ValueError:
            return _with(_error(400, "the request body is not valid JSON", "BadRequestError"), headers)
        max_tokens, problem = _validate(kind, body)
        if problem is not None:
            return _with(problem, headers)
        if body.get("model") not in (None, model):
            return _with(_error(404, f"The model `{body.get('model')}` does not exist.", "NotFoundError",
                                "model"), headers)
        self.meter.record((ns, model))
        if fig.p50_s is None or fig.ttft_p50_s is None:
            return _with(_error(503, "the model is not serving yet", "ServiceUnavailableError"), headers)
        served_qps = fig.qps + fig.rejected_qps
        if fig.rejected_qps > 0 and self._rng.random() < fig.rejected_qps / served_qps:
            return _with(_error(503, "the request queue is full; try again later", "ServiceUnavailableError"),
                         headers)
        text = prompt_text(kind, body)
        timing = sample_timing(fig, profile.generation_tokens, max_tokens, self._rng)
        words = answer_words(text, timing.tokens)
        completion = _Completion(kind, model, count_tokens(text), words, timing)
        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            return await completion.stream(request, headers, include_usage)
        await asyncio.sleep(timing.e2e_s)
        return web.json_response(completion.whole(), headers=headers)

    async def _route(self, request: web.Request, pod: Obj, path: str, limit: int) -> web.StreamResponse:
        """The length router: short prompts to the short pool, the rest to the long pool."""
        ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
        base = _deployment_base(pod)
        headers = {SERVED_BY: name}
        trimmed = path.rstrip("/") or "/"
        if trimmed in ("/health", "/ping", "/healthz"):
            return web.Response(status=200, headers=headers)
        pools = {p: f"{base}-{p}-queue" for p in ("short", "long")}
        if trimmed == "/v1/models":
            return web.json_response({"object": "list", "data": [_model_card(m) for m in pools.values()]},
                                     headers=headers)
        kind = {"/v1/chat/completions": "chat", "/v1/completions": "text"}.get(trimmed)
        if kind is None or request.method != "POST":
            return web.json_response({"detail": "Not Found"}, status=404, headers=headers)
        try:
            body = json.loads(await request.read() or b"null")
        except ValueError:
            return _with(_error(400, "the request body is not valid JSON", "BadRequestError"), headers)
        if not isinstance(body, dict):
            return _with(_error(400, "the request body must be a JSON object", "BadRequestError"), headers)
        pool = pools["short" if len(prompt_text(kind, body)) < limit else "long"]
        if body.get("model") not in (None, *pools.values(), _deployment_name(pod)):
            return _with(_error(404, f"The model `{body.get('model')}` does not exist.", "NotFoundError",
                                "model"), headers)
        body["model"] = pool
        selector = self._pool_selector(ns, pool)
        backends = [p for p in self.ready_pods(ns, selector) if self._serving(ns, p["metadata"]["name"])]
        if selector is None or not backends:
            return _with(_error(503, f"no ready replica of {pool}", "ServiceUnavailableError"),
                         {**headers, ROUTED_TO: pool})
        backend = self.pick(backends)
        served = self._serving(ns, backend["metadata"]["name"])
        assert served is not None
        forwarded = _Forwarded(request, json.dumps(body).encode())
        return await self._model(forwarded, ns, backend["metadata"]["name"], served, path, routed=pool)  # type: ignore[arg-type]

    def _pool_selector(self, ns: str, deployment: str) -> dict[str, str] | None:
        dep = self.ctx.store.try_get("deployments", ns, deployment)
        if dep is None:
            return None
        return dict(((dep.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}) or None


class _Forwarded:
    """The router's request to a pool pod: the client's request with the rewritten body."""

    def __init__(self, original: web.Request, body: bytes) -> None:
        self._original = original
        self._body = body
        self.method = original.method
        self.headers = original.headers

    async def read(self) -> bytes:
        return self._body

    async def prepare_response(self, response: web.StreamResponse) -> None:
        await response.prepare(self._original)


class _Completion:
    """One completion's bodies: whole, or as the SSE chunks vLLM streams."""

    def __init__(self, kind: str, model: str, prompt_tokens: int, words: list[str], timing: Timing) -> None:
        self.kind, self.model, self.words, self.timing = kind, model, words, timing
        self.prompt_tokens = prompt_tokens
        self.id = ("chatcmpl-" if kind == "chat" else "cmpl-") + uuid.uuid4().hex
        self.created = int(time.time())

    def usage(self) -> dict[str, int]:
        n = len(self.words)
        return {"prompt_tokens": self.prompt_tokens, "completion_tokens": n, "total_tokens": self.prompt_tokens + n}

    def whole(self) -> dict[str, Any]:
        text = "".join(self.words)
        if self.kind == "chat":
            choice: dict[str, Any] = {"index": 0, "message": {"role": "assistant", "content": text,
                                                              "tool_calls": []},
                                      "logprobs": None, "finish_reason": "stop", "stop_reason": None}
            obj = "chat.completion"
        else:
            choice = {"index": 0, "text": text, "logprobs": None, "finish_reason": "stop", "stop_reason": None}
            obj = "text_completion"
        return {"id": self.id, "object": obj, "created": self.created, "model": self.model, "choices": [choice],
                "usage": self.usage()}

    def _chunk(self, piece: str | None, finish: str | None, first: bool = False) -> dict[str, Any]:
        if self.kind == "chat":
            delta: dict[str, Any] = {}
            if first:
                delta["role"] = "assistant"
            if piece is not None:
                delta["content"] = piece
            choice: dict[str, Any] = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
            obj = "chat.completion.chunk"
        else:
            choice = {"index": 0, "text": piece or "", "logprobs": None, "finish_reason": finish}
            obj = "text_completion"
        return {"id": self.id, "object": obj, "created": self.created, "model": self.model, "choices": [choice]}

    async def stream(self, request: Any, headers: dict[str, str], include_usage: bool) -> web.StreamResponse:
        resp = web.StreamResponse(headers={**headers, "Content-Type": "text/event-stream; charset=utf-8",
                                           "Cache-Control": "no-cache"})
        try:
            if isinstance(request, _Forwarded):
                await request.prepare_response(resp)
            else:
                await resp.prepare(request)
            await self._write_chunks(resp, include_usage)
        except ConnectionError:  # the client went away before or mid-answer (vLLM aborts the request)
            pass
        return resp

    async def _write_chunks(self, resp: web.StreamResponse, include_usage: bool) -> None:
        t0 = time.monotonic()
        n = len(self.words)
        gap = (self.timing.e2e_s - self.timing.ttft_s) / max(n - 1, 1)
        for i, word in enumerate(self.words):
            due = self.timing.ttft_s + gap * i
            delay = t0 + due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            last = i == n - 1
            await resp.write(_sse(self._chunk(word, "stop" if last else None, first=i == 0)))
        if include_usage:
            await resp.write(_sse({"id": self.id, "object": self._chunk(None, None)["object"],
                                   "created": self.created, "model": self.model, "choices": [],
                                   "usage": self.usage()}))
        await resp.write(b"data: [DONE]\n\n")
        await resp.write_eof()


def _sse(obj: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(obj, separators=(",", ":")).encode() + b"\n\n"


def _with(resp: web.Response, headers: Mapping[str, str]) -> web.Response:
    resp.headers.update(headers)
    return resp


def _model_card(model: str) -> dict[str, Any]:
    return {"id": model, "object": "model", "created": int(time.time()), "owned_by": "vllm", "root": model,
            "parent": None, "max_model_len": MAX_MODEL_LEN}


def _selected(selector: Mapping[str, str], pod: Obj) -> bool:
    labels = pod["metadata"].get("labels") or {}
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def pod_ready(pod: Obj) -> bool:
    """Ready condition True and not being deleted: what puts a pod into a Service's endpoints."""
    if pod["metadata"].get("deletionTimestamp"):
        return False
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def router_limit(pod: Obj) -> int | None:
    """The router's short-prompt limit in characters, when the pod is a length router."""
    for c in pod["spec"].get("containers") or []:
        for e in c.get("env") or []:
            if e.get("name") == ROUTER_ENV:
                try:
                    return int(e.get("value"))
                except (TypeError, ValueError):
                    return None
    return None


def _deployment_name(pod: Obj) -> str:
    """The pod's Deployment name: its ReplicaSet owner's name without the pod-template-hash."""
    for ref in pod["metadata"].get("ownerReferences") or []:
        if ref.get("kind") == "ReplicaSet":
            rs = str(ref.get("name") or "")
            return rs.rsplit("-", 1)[0] if "-" in rs else rs
    return pod["metadata"]["name"]


def _deployment_base(pod: Obj) -> str:
    return _deployment_name(pod).removesuffix("-router")

