"""PromQL builders: pure functions from a discovered :class:`MetricNames` to query strings.

Serving stacks name the same thing differently (reference.md §3): vLLM ``vllm:e2e_request_latency_seconds``
(which Prometheus may store as ``vllm_e2e_request_latency_seconds``, test-infra.md), NIM the vLLM names
without the prefix, TGI ``tgi_request_duration``. Which names and labels a cluster uses is found once
(:func:`resolve_names` over what the server holds), so every builder here writes exactly one spelling and
no query carries ``or`` fallbacks that would double its cost.

Multi-series queries tag each part with a ``llmctl`` label (:func:`tagged`), so a chart with four lines
(p50, p95, p99, TTFT p95) or a table with eight columns is still one query per refresh, however many
pods there are. A Deployment is recovered from its pods' names (``<deployment>-<template-hash>-<suffix>``),
which every Deployment's pods carry, rather than from the stack's model label, which names the model.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

TAG = "llmctl"  # the label each part of a multi-series query is tagged with
DEPLOYMENT = "deployment"  # the label the builders derive from the pod name
# Pods of a Deployment: <deployment>-<pod-template-hash (≤ 10)>-<5 random characters>.
POD_SUFFIX = "-[a-z0-9]{1,10}-[a-z0-9]{5}"
POD_OF_DEPLOYMENT = f"(.+){POD_SUFFIX}"


@dataclass(frozen=True)
class Stack:
    """One serving stack's metric names (histograms by base name, without ``_bucket``)."""

    name: str
    e2e: str
    ttft: str | None
    running: str | None
    waiting: str | None
    kv_cache: tuple[str, ...]  # newest name first


def _vllm(prefix: str, name: str) -> Stack:
    return Stack(name, f"{prefix}e2e_request_latency_seconds", f"{prefix}time_to_first_token_seconds",
                 f"{prefix}num_requests_running", f"{prefix}num_requests_waiting",
                 (f"{prefix}kv_cache_usage_perc", f"{prefix}gpu_cache_usage_perc"))


# In order of preference when a server holds several.
STACKS: tuple[Stack, ...] = (
    _vllm("vllm:", "vllm"),
    _vllm("vllm_", "vllm"),  # the colon names as Prometheus 2.x may store them (client_python #1177)
    _vllm("", "nim"),
    Stack("tgi", "tgi_request_duration", None, "tgi_batch_current_size", "tgi_queue_size", ()),
)
DCGM_FB_USED = "DCGM_FI_DEV_FB_USED"
DCGM_FB_FREE = "DCGM_FI_DEV_FB_FREE"
DCGM_GPU_UTIL = "DCGM_FI_DEV_GPU_UTIL"
DCGM_GPU_TEMP = "DCGM_FI_DEV_GPU_TEMP"
DCGM_NAMES = (DCGM_FB_USED, DCGM_FB_FREE, DCGM_GPU_UTIL, DCGM_GPU_TEMP)
NODE_LABELS = ("Hostname", "kubernetes_node", "node", "instance")  # where DCGM says which node a GPU is on


@dataclass(frozen=True)
class MetricNames:
    """The names and labels this cluster's metrics use (None: not found)."""

    stack: str = ""  # vllm | nim | tgi, "" when no serving metrics were found
    e2e: str | None = None
    ttft: str | None = None
    running: str | None = None
    waiting: str | None = None
    kv_cache: str | None = None
    serving_pod: str | None = "pod"  # exported_pod when a relabelling scrape moved the pod label
    serving_namespace: str | None = "namespace"
    serving_model: str | None = None  # grouping fallback when the serving metrics carry no pod label
    fb_used: str | None = None
    fb_free: str | None = None
    gpu_util: str | None = None
    gpu_temp: str | None = None
    gpu_pod: str = "pod"
    gpu_namespace: str = "namespace"
    gpu_node: str = "Hostname"
    scrape_interval_s: float = 15.0

    @property
    def has_gpu(self) -> bool:
        return self.fb_used is not None and self.fb_free is not None

    @property
    def has_serving(self) -> bool:
        return self.e2e is not None


def candidate_names() -> tuple[str, ...]:
    """Every metric name discovery looks for (histograms as their ``_bucket`` series)."""
    names: list[str] = list(DCGM_NAMES)
    for s in STACKS:
        names += [f"{s.e2e}_bucket", *([f"{s.ttft}_bucket"] if s.ttft else []), *(s.kv_cache)]
        names += [n for n in (s.running, s.waiting) if n]
    return tuple(dict.fromkeys(names))


def discovery_match() -> str:
    """A series selector matching every candidate name: ``{__name__=~"a|b|..."}`` (one request)."""
    return '{__name__=~"' + "|".join(candidate_names()) + '"}'


def _first(present: set[str], *names: str | None) -> str | None:
    return next((n for n in names if n and n in present), None)


def _pick_label(labels: set[str], *choices: str) -> str | None:
    return next((c for c in choices if c in labels), None)


def resolve_names(present: Iterable[str], serving_labels: Iterable[str] = (), gpu_labels: Iterable[str] = (),
                  scrape_interval_s: float = 15.0) -> MetricNames:
    """Pick the stack and labels from the names (and, per family, the label names) the server holds.

    ``exported_pod`` wins over ``pod`` because it exists only when a scrape renamed the metric's own
    pod label, and then ``pod`` names the exporter, not the workload.
    """
    have = set(present)
    stack = next((s for s in STACKS if f"{s.e2e}_bucket" in have), None)
    s_labels, g_labels = set(serving_labels), set(gpu_labels)
    serving: dict[str, object] = {}
    if stack is not None:
        serving = {
            "stack": stack.name, "e2e": stack.e2e,
            "ttft": stack.ttft if stack.ttft and f"{stack.ttft}_bucket" in have else None,
            "running": _first(have, stack.running), "waiting": _first(have, stack.waiting),
            "kv_cache": _first(have, *stack.kv_cache),
            "serving_pod": _pick_label(s_labels, "exported_pod", "pod"),
            "serving_namespace": _pick_label(s_labels, "exported_namespace", "namespace"),
            "serving_model": _pick_label(s_labels, "model_name", "model_id", "model"),
        }
    gpu: dict[str, object] = {}
    if DCGM_FB_USED in have:
        gpu = {
            "fb_used": DCGM_FB_USED, "fb_free": _first(have, DCGM_FB_FREE),
            "gpu_util": _first(have, DCGM_GPU_UTIL), "gpu_temp": _first(have, DCGM_GPU_TEMP),
            "gpu_pod": _pick_label(g_labels, "exported_pod", "pod") or "pod",
            "gpu_namespace": _pick_label(g_labels, "exported_namespace", "namespace") or "namespace",
            "gpu_node": _pick_label(g_labels, *NODE_LABELS) or "Hostname",
        }
    return MetricNames(**serving, **gpu, scrape_interval_s=scrape_interval_s)  # type: ignore[arg-type]


# ---- small pieces -----------------------------------------------------------------------------------
def quote(value: str) -> str:
    """A PromQL string literal."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def regex_literal(value: str) -> str:
    """``value`` matched literally inside a PromQL regex (RE2 metacharacters escaped)."""
    return "".join("\\" + c if c in r".^$*+?()[]{}|\\" else c for c in value)


def duration(seconds: float) -> str:
    """A PromQL duration in whole seconds (at least 1s)."""
    return f"{max(1, round(seconds))}s"


def selector(metric: str, *matchers: str) -> str:
    """``metric{m1,m2}``, or the bare name without matchers."""
    kept = [m for m in matchers if m]
    return f"{metric}{{{','.join(kept)}}}" if kept else metric


def tagged(parts: dict[str, str]) -> str:
    """One query returning every part, each series labelled ``llmctl="<role>"``."""
    return " or ".join(f'label_replace({expr}, "{TAG}", "{role}", "", "")' for role, expr in parts.items())


def rate_window(scrape_interval_s: float, step_s: float = 0.0) -> float:
    """The rate() range for a step: at least four scrapes, and at least step + one scrape (Grafana's
    ``$__rate_interval``), so every point of a chart covers the whole gap to the next."""
    return max(4 * scrape_interval_s, step_s + scrape_interval_s)


# ---- serving (latency, throughput, queue) -------------------------------------------------------------
def _serving_matchers(n: MetricNames, namespace: str | None, deployment: str | None) -> tuple[str, ...]:
    ns = f"{n.serving_namespace}={quote(namespace)}" if namespace and n.serving_namespace else ""
    dep = ""
    if deployment:
        if n.serving_pod:
            dep = f"{n.serving_pod}=~{quote(regex_literal(deployment) + POD_SUFFIX)}"
        elif n.serving_model:
            dep = f"{n.serving_model}={quote(deployment)}"
    return ns, dep


def with_deployment(expr: str, pod_label: str | None, model_label: str | None = None) -> str:
    """``expr`` with a ``deployment`` label derived from its pod name (or model label, or "all")."""
    if pod_label:
        return f'label_replace({expr}, "{DEPLOYMENT}", "$1", "{pod_label}", {quote(POD_OF_DEPLOYMENT)})'
    if model_label:
        return f'label_replace({expr}, "{DEPLOYMENT}", "$1", "{model_label}", "(.+)")'
    return f'label_replace({expr}, "{DEPLOYMENT}", "all", "", "")'


def _grouped(n: MetricNames, expr: str, by_deployment: bool, namespace: str | None = None) -> tuple[str, str]:
    """(expression, extra grouping) for aggregating ``expr`` overall or per Deployment — per namespace and
    Deployment when read for every namespace (``namespace`` None): a name may serve in several."""
    if by_deployment:
        per_namespace = n.serving_namespace if not namespace else None
        return (with_deployment(expr, n.serving_pod, n.serving_model),
                ", ".join(filter(None, (per_namespace, DEPLOYMENT))))
    return expr, ""


def quantile(n: MetricNames, q: float, histogram: str, window_s: float, namespace: str | None = None,
             deployment: str | None = None, by_deployment: bool = False) -> str:
    """``histogram_quantile`` of a histogram's rate over the window, summed by ``le`` (and Deployment)."""
    rate = f"rate({selector(histogram + '_bucket', *_serving_matchers(n, namespace, deployment))}" \
           f"[{duration(window_s)}])"
    expr, extra = _grouped(n, rate, by_deployment, namespace)
    return f"histogram_quantile({q}, sum by ({', '.join(filter(None, (extra, 'le')))}) ({expr}))"


def qps(n: MetricNames, window_s: float, namespace: str | None = None, deployment: str | None = None,
        by_deployment: bool = False) -> str:
    """Completed requests per second: the rate of the latency histogram's ``_count``."""
    assert n.e2e is not None
    rate = f"rate({selector(n.e2e + '_count', *_serving_matchers(n, namespace, deployment))}[{duration(window_s)}])"
    return _aggregate(n, "sum", rate, by_deployment, namespace)


def gauge(n: MetricNames, metric: str, how: str = "sum", namespace: str | None = None,
          deployment: str | None = None, by_deployment: bool = False) -> str:
    """A per-pod gauge (running, waiting, KV-cache) aggregated over the selected pods."""
    return _aggregate(n, how, selector(metric, *_serving_matchers(n, namespace, deployment)), by_deployment,
                      namespace)


def _aggregate(n: MetricNames, how: str, expr: str, by_deployment: bool, namespace: str | None = None) -> str:
    expr, extra = _grouped(n, expr, by_deployment, namespace)
    return f"{how} by ({extra}) ({expr})" if extra else f"{how}({expr})"


def serving_table(n: MetricNames, namespace: str | None, window_s: float) -> str:
    """Now, per Deployment: p50/p95/p99, TTFT p95, QPS, running, waiting, KV-cache, pods (one query)."""
    assert n.e2e is not None
    parts = {f"p{round(q * 100)}": quantile(n, q, n.e2e, window_s, namespace, by_deployment=True)
             for q in (0.5, 0.95, 0.99)}
    if n.ttft:
        parts["ttft_p95"] = quantile(n, 0.95, n.ttft, window_s, namespace, by_deployment=True)
    parts["qps"] = qps(n, window_s, namespace, by_deployment=True)
    for role, metric, how in (("running", n.running, "sum"), ("waiting", n.waiting, "sum"),
                              ("kv_cache", n.kv_cache, "avg"), ("pods", n.running, "count")):
        if metric:
            parts[role] = gauge(n, metric, how, namespace, by_deployment=True)
    return tagged(parts)


def latency_chart(n: MetricNames, namespace: str | None, deployment: str | None, window_s: float) -> str:
    """p50, p95, p99 and TTFT p95 of one Deployment (or the whole namespace) over time (one query)."""
    assert n.e2e is not None
    parts = {f"p{round(q * 100)}": quantile(n, q, n.e2e, window_s, namespace, deployment) for q in (0.5, 0.95, 0.99)}
    if n.ttft:
        parts["ttft_p95"] = quantile(n, 0.95, n.ttft, window_s, namespace, deployment)
    return tagged(parts)


# ---- GPUs (DCGM) --------------------------------------------------------------------------------------
def fb_used_percent(n: MetricNames, *matchers: str) -> str:
    """Framebuffer used % per GPU: ``FB_USED / (FB_USED + FB_FREE) × 100`` (DCGM has no total)."""
    assert n.fb_used and n.fb_free
    used, free = selector(n.fb_used, *matchers), selector(n.fb_free, *matchers)
    return f"100 * {used} / ({used} + {free})"


def gpu_table(n: MetricNames) -> str:
    """Now, per GPU: framebuffer used and total (MiB), utilisation %, temperature (one query)."""
    assert n.fb_used and n.fb_free
    parts = {"used": n.fb_used, "total": f"{n.fb_used} + {n.fb_free}"}
    if n.gpu_util:
        parts["util"] = n.gpu_util
    if n.gpu_temp:
        parts["temp"] = n.gpu_temp
    return tagged(parts)


def gpu_history(n: MetricNames) -> str:
    """Framebuffer used % of every GPU, for the per-GPU sparklines (a range query)."""
    return fb_used_percent(n)


def gpu_chart(n: MetricNames) -> str:
    """The fleet's highest and mean framebuffer used %, for the chart with the 80 % line (one query)."""
    pct = fb_used_percent(n)
    return tagged({"max": f"max({pct})", "mean": f"avg({pct})"})


def pod_fb_used(n: MetricNames, namespace: str | None = None) -> str:
    """Framebuffer used (MiB) per pod, attributed by DCGM's pod labels (never by NVML PIDs)."""
    assert n.fb_used
    ns = f"{n.gpu_namespace}={quote(namespace)}" if namespace else ""
    held = f'{n.gpu_pod}!=""'
    return f"sum by ({n.gpu_namespace}, {n.gpu_pod}) ({selector(n.fb_used, held, ns)})"


def deployment_fb_percent(n: MetricNames, namespace: str | None) -> str:
    """Framebuffer used % of the GPUs each Deployment's pods hold (per namespace too when read for every one)."""
    assert n.fb_used and n.fb_free
    matchers = (f'{n.gpu_pod}!=""', f"{n.gpu_namespace}={quote(namespace)}" if namespace else "")
    used, free = selector(n.fb_used, *matchers), selector(n.fb_free, *matchers)
    by = f"sum by ({DEPLOYMENT})" if namespace else f"sum by ({n.gpu_namespace}, {DEPLOYMENT})"
    return (f"100 * {by} ({with_deployment(used, n.gpu_pod)})"
            f" / {by} ({with_deployment(f'({used} + {free})', n.gpu_pod)})")


def deployment_trends(n: MetricNames, namespace: str | None, window_s: float) -> str:
    """Per Deployment over time: GPU memory used % and p99 latency, for the dashboard (one query)."""
    parts = {}
    if n.has_gpu:
        parts["gpu_mem"] = deployment_fb_percent(n, namespace)
    if n.e2e:
        parts["p99"] = quantile(n, 0.99, n.e2e, window_s, namespace, by_deployment=True)
    return tagged(parts)
