"""The sandbox's DCGM-exporter and vLLM ``/metrics`` endpoints, in Prometheus text format 0.0.4.

The text is rendered here rather than with prometheus_client: client_python ≥ 0.23 makes Prometheus
2.x store ``vllm:foo`` as ``vllm_foo`` (client_python #1177), and the console must see the names real
vLLM serves, colon included. The renderers are pure functions over the simulation's records
(:mod:`console.sandbox.sim.figures`), so the console's in-process metrics source can reuse them.
Each endpoint renders at most once per simulation tick and serves the cached bytes in between.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Any

from aiohttp import web

from console.core.collector import collector_paused

from .context import SandboxContext
from .sim.figures import GpuFigures, Histogram, VllmPodSample

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

DCGM_FAMILIES: tuple[tuple[str, str, Callable[[GpuFigures], str]], ...] = (
    ("DCGM_FI_DEV_FB_USED", "Framebuffer memory used (in MiB).", lambda g: str(round(g.used_mib))),
    ("DCGM_FI_DEV_FB_FREE", "Framebuffer memory free (in MiB).", lambda g: str(round(g.free_mib))),
    ("DCGM_FI_DEV_GPU_UTIL", "GPU utilization (in %).", lambda g: str(round(g.util))),
    ("DCGM_FI_DEV_GPU_TEMP", "GPU temperature (in C).", lambda g: str(round(g.temp_c))),
    ("DCGM_FI_DEV_POWER_USAGE", "Power draw (in W).", lambda g: f"{g.power_w:.3f}"),
    ("DCGM_FI_DEV_XID_ERRORS", "Value of the last XID error encountered.", lambda g: str(g.xid)),
)

VLLM_GAUGES: tuple[tuple[str, str, Callable[[VllmPodSample], float]], ...] = (
    ("vllm:num_requests_running", "Number of requests in model execution batches.", lambda s: s.running),
    ("vllm:num_requests_waiting", "Number of requests waiting to be processed.", lambda s: s.waiting),
    ("vllm:kv_cache_usage_perc", "KV-cache usage. 1 means 100 percent usage.", lambda s: s.kv_cache_perc),
    # The pre-v0.10 name; dashboards and the console query both.
    ("vllm:gpu_cache_usage_perc", "GPU KV-cache usage. 1 means 100 percent usage.",
     lambda s: s.kv_cache_perc),
)
VLLM_COUNTERS: tuple[tuple[str, str, str, Callable[[VllmPodSample], int]], ...] = (
    ("vllm:request_success_total", "Count of successfully processed requests.", ',finished_reason="stop"',
     lambda s: s.request_success),
    ("vllm:prompt_tokens_total", "Number of prefill tokens processed.", "", lambda s: s.prompt_tokens),
    ("vllm:generation_tokens_total", "Number of generation tokens processed.", "",
     lambda s: s.generation_tokens),
)
VLLM_HISTOGRAMS: tuple[tuple[str, str, Callable[[VllmPodSample], Histogram]], ...] = (
    ("vllm:e2e_request_latency_seconds", "Histogram of e2e request latency in seconds.", lambda s: s.e2e),
    ("vllm:time_to_first_token_seconds", "Histogram of time to first token in seconds.", lambda s: s.ttft),
    ("vllm:inter_token_latency_seconds", "Histogram of inter-token latency in seconds.", lambda s: s.itl),
    ("vllm:request_queue_time_seconds", "Histogram of time spent in WAITING phase for request.",
     lambda s: s.queue),
)


def escape_label(value: str) -> str:
    """A label value escaped as the text format requires (backslash, quote, newline)."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def format_bound(bound: float) -> str:
    """An ``le`` value spelled as client libraries (and so vLLM) spell it: 0.3, 1.0, +Inf."""
    return "+Inf" if bound == float("inf") else repr(float(bound))


def _num(value: float) -> str:
    return repr(round(float(value), 6))


def _header(out: list[str], name: str, help_text: str, kind: str) -> None:
    out.append(f"# HELP {name} {help_text}\n# TYPE {name} {kind}\n")


def dcgm_labels(gpu: GpuFigures) -> str:
    """DCGM-exporter's labels for one GPU, with the pod mapping of the first pod holding it."""
    labels = (f'gpu="{gpu.index}",UUID="{gpu.uuid}",device="nvidia{gpu.index}",'
              f'modelName="{escape_label(gpu.model_name)}",Hostname="{escape_label(gpu.node)}"')
    if gpu.pods:
        ns, pod, container = gpu.pods[0]
        labels += (f',container="{escape_label(container)}",namespace="{escape_label(ns)}",'
                   f'pod="{escape_label(pod)}"')
    return labels


def render_dcgm(gpus: Iterable[GpuFigures]) -> str:
    """DCGM-exporter text for these GPUs; GPUs of NotReady nodes are left out (nothing scrapes them)."""
    live = [(g, dcgm_labels(g)) for g in gpus if g.node_ready]
    out: list[str] = []
    for name, help_text, value in DCGM_FAMILIES:
        _header(out, name, help_text, "gauge")
        out.extend(f"{name}{{{labels}}} {value(g)}\n" for g, labels in live)
    return "".join(out)


def render_vllm(samples: Iterable[VllmPodSample]) -> str:
    """vLLM /metrics text for these pods (one label set per pod: model_name, namespace, pod)."""
    rows = [(s, f'model_name="{escape_label(s.model_name)}",namespace="{escape_label(s.namespace)}",'
                f'pod="{escape_label(s.pod)}"') for s in samples]
    out: list[str] = []
    for name, help_text, gauge in VLLM_GAUGES:
        _header(out, name, help_text, "gauge")
        out.extend(f"{name}{{{labels}}} {_num(gauge(s))}\n" for s, labels in rows)
    for name, help_text, extra, counter in VLLM_COUNTERS:
        _header(out, name, help_text, "counter")
        out.extend(f"{name}{{{labels}{extra}}} {counter(s)}\n" for s, labels in rows)
    for name, help_text, hist in VLLM_HISTOGRAMS:
        _header(out, name, help_text, "histogram")
        if rows:
            template = histogram_template(name, hist(rows[0][0]).bounds)
            for s, labels in rows:
                h = hist(s)
                out.append(template.format(labels, *h.buckets, _num(h.sum)))
    return "".join(out)


def histogram_template(name: str, bounds: tuple[float, ...]) -> str:
    """A ``str.format`` template for one series of a histogram: {0} labels, {1..n} buckets, {n+1} sum.

    One C-level format call per pod and histogram is about twice as fast as joining its lines.
    """
    n = len(bounds)
    lines = [f'{name}_bucket{{{{{{0}},le="{format_bound(b)}"}}}} {{{i}}}\n' for i, b in enumerate(bounds, 1)]
    lines.append(f"{name}_sum{{{{{{0}}}}}} {{{n + 1}}}\n{name}_count{{{{{{0}}}}}} {{{n}}}\n")
    return "".join(lines)


class _CachedText:
    """The rendered text of one simulation version; re-rendered only after the simulation ticks.

    ``collect`` runs on the loop (it reads the simulation's live state); ``render`` gets only what
    ``collect`` returned, so when ``offload`` is set it runs in a worker thread and a large render
    (≈ 1 s for 10,000 vLLM pods) does not stall the API server sharing the loop.
    """

    def __init__(self, collect: Callable[[Any], Any], render: Callable[[Any], str], offload: bool) -> None:
        self._collect, self._render, self._offload = collect, render, offload
        self._version: int | None = None
        self._body = b""
        self._lock = asyncio.Lock()

    async def get(self, sim: Any) -> bytes:
        version = sim.version if sim is not None else None
        if version is not None and version == self._version:
            return self._body
        async with self._lock:  # concurrent scrapes of one version render once
            if version is not None and version == self._version:
                return self._body
            with collector_paused():
                data = self._collect(sim)
            if self._offload:
                body = await asyncio.get_running_loop().run_in_executor(None, self._encode, data)
            else:
                body = self._encode(data)
            self._body, self._version = body, version
            return body

    def _encode(self, data: Any) -> bytes:
        # the render allocates ~10 acyclic objects per pod; each collection it triggered walked the whole store
        with collector_paused():
            return self._render(data).encode()


def _metrics_app(ctx: SandboxContext, cache: _CachedText) -> web.Application:
    async def metrics(_request: web.Request) -> web.Response:
        return web.Response(body=await cache.get(ctx.sim), headers={"Content-Type": CONTENT_TYPE})

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    return app


def make_dcgm_app(ctx: SandboxContext) -> web.Application:
    """DCGM-exporter ``/metrics`` over ``ctx.sim``'s GPUs (empty families before the simulation runs).

    Rendered on the loop: GPU records are live state the next tick mutates, and 2,000 GPUs take ~10 ms.
    """
    return _metrics_app(
        ctx, _CachedText(lambda sim: sim.gpus() if sim is not None else [], render_dcgm, False))


def make_vllm_app(ctx: SandboxContext) -> web.Application:
    """vLLM ``/metrics`` for every serving pod of ``ctx.sim`` (one endpoint for the whole fleet)."""
    return _metrics_app(
        ctx, _CachedText(lambda sim: sim.vllm_samples() if sim is not None else [], render_vllm, True))
