"""llmctl's built-in alert rules, evaluated from the MetricsService's records when Prometheus has no rule of
the same name (so a cluster without ``manifests/prometheus-rules.yaml`` still gets the four alerts).

| rule (= the rule file's alert name) | fires when                                   | setting             |
|-------------------------------------|----------------------------------------------|---------------------|
| ``GPUFramebufferHigh`` (warning)    | a GPU's framebuffer used % > 80              | ``alert_fb_percent``|
| ``LLMLatencyP99High`` (critical)    | a Deployment's p99 latency > 500 ms          | ``alert_p99_ms``    |
| ``LLMKVCacheHigh`` (warning)        | a Deployment's mean KV-cache use % > 90      | ``alert_kv_percent``|
| ``LLMQueueWaitingHigh`` (warning)   | a Deployment's requests waiting > 10         | ``alert_queue_waiting`` |

80 % and 500 ms are the source article's thresholds. The rule files judge per pod; the records here are
per GPU and per Deployment (the Latency screen's figures), which is what they are evaluated on.

"Covered" is by name: :func:`covered_rules` reads the alerting rules Prometheus has loaded
(``/api/v1/rules``, through the Prometheus adapter console/metrics/prometheus.py) and :func:`evaluate`
leaves those out. Unlike Prometheus's rules these have no
``for:`` duration: they fire on the current figures, and their ``since`` is None. A caller that refreshes
(the console) keeps a :class:`BuiltinRuleState`, which stamps each alert with the time it was first seen.
No I/O except :func:`fetch_rules`; no Textual.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from console.alerts.model import Alert, AlertTarget
from console.core.metrics import GpuSample, ServingStats
from console.metrics.prometheus import TIMEOUT_S, PrometheusClient, PrometheusError

FB_HIGH, P99_HIGH, KV_HIGH, QUEUE_HIGH = "GPUFramebufferHigh", "LLMLatencyP99High", "LLMKVCacheHigh", \
    "LLMQueueWaitingHigh"
RULES = (FB_HIGH, P99_HIGH, KV_HIGH, QUEUE_HIGH)
SEVERITY = {FB_HIGH: "warning", P99_HIGH: "critical", KV_HIGH: "warning", QUEUE_HIGH: "warning"}


@dataclass(frozen=True)
class Thresholds:
    fb_percent: float = 80.0  # GPU framebuffer used, %
    p99_ms: float = 500.0  # p99 end-to-end latency, ms
    kv_percent: float = 90.0  # KV-cache used, %
    queue_waiting: float = 10.0  # requests waiting

    @classmethod
    def from_settings(cls, settings: Any) -> Thresholds:
        """From console.config.Settings (``alert_fb_percent``, ``alert_p99_ms``, ``alert_kv_percent``,
        ``alert_queue_waiting``)."""
        return cls(settings.alert_fb_percent, settings.alert_p99_ms, settings.alert_kv_percent,
                   settings.alert_queue_waiting)


def _num(value: float) -> str:
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"


def _alert(name: str, target: AlertTarget, summary: str, labels: dict[str, str | None]) -> Alert:
    all_labels = {"alertname": name, "severity": SEVERITY[name], **{k: v for k, v in labels.items() if v}}
    return Alert("builtin", name, SEVERITY[name], "firing", None, target, summary,
                 labels=tuple(sorted((k, str(v)) for k, v in all_labels.items())))


def evaluate(gpus: Iterable[GpuSample] | None, serving: Iterable[ServingStats] | None,
             thresholds: Thresholds = Thresholds(), covered: Iterable[str] = (), *,
             namespace: str | None = None) -> list[Alert]:
    """The built-in rules over the current records; rules named in ``covered`` are left out. Firing means
    strictly above the threshold, as the rule files' ``>``. ``namespace``: the one ``serving`` was read
    for (ServingStats carry none), for the targets."""
    skip = set(covered)
    out: list[Alert] = []
    if FB_HIGH not in skip:
        for g in gpus or ():
            if g.total_mib > 0 and g.used_mib / g.total_mib > thresholds.fb_percent / 100:
                held = f"{g.namespace}/{g.pod}" if g.pod else "no pod"
                out.append(_alert(FB_HIGH, AlertTarget(namespace=g.namespace or None, pod=g.pod or None,
                                                       node=g.node, gpu=g.index),
                                  f"GPU {g.index} on {g.node} ({held}) framebuffer {g.used_percent:.1f}% used "
                                  f"(> {_num(thresholds.fb_percent)}%)",
                                  {"Hostname": g.node, "gpu": g.index, "namespace": g.namespace, "pod": g.pod}))
    for s in serving or ():
        target = AlertTarget(namespace=namespace, deployment=s.deployment)
        where = f"{namespace}/{s.deployment}" if namespace else s.deployment
        labels: dict[str, str | None] = {"namespace": namespace, "deployment": s.deployment}
        if P99_HIGH not in skip and s.p99_s is not None and s.p99_s > thresholds.p99_ms / 1000:
            out.append(_alert(P99_HIGH, target, f"p99 latency {s.p99_s * 1000:.0f} ms on {where} "
                                                f"(> {_num(thresholds.p99_ms)} ms): scale out", labels))
        if KV_HIGH not in skip and s.kv_cache is not None and s.kv_cache > thresholds.kv_percent / 100:
            out.append(_alert(KV_HIGH, target, f"KV-cache {s.kv_cache * 100:.0f}% used on {where} "
                                               f"(> {_num(thresholds.kv_percent)}%)", labels))
        if QUEUE_HIGH not in skip and s.waiting is not None and s.waiting > thresholds.queue_waiting:
            out.append(_alert(QUEUE_HIGH, target, f"{_num(s.waiting)} requests waiting on {where} "
                                                  f"(> {_num(thresholds.queue_waiting)})", labels))
    return out


def covered_rules(doc: Mapping[str, Any]) -> set[str]:
    """The names of the alerting rules in a Prometheus ``/api/v1/rules`` answer. Raises ValueError for an
    error answer or one of the wrong shape."""
    if doc.get("status") != "success":
        raise ValueError(f"Prometheus answered {doc.get('errorType', 'error')}: {doc.get('error', doc.get('status'))}")
    groups = (doc.get("data") or {}).get("groups")
    if not isinstance(groups, list):
        raise ValueError("not an /api/v1/rules answer: no data.groups list")
    return {str(r["name"]) for g in groups for r in g.get("rules") or ()
            if r.get("type", "alerting") == "alerting" and r.get("name")}


def covered_by_prometheus(settings: Any) -> set[str]:
    """The alert rules the configured Prometheus defines (none without one). Raises ValueError."""
    if not settings.prometheus_url:
        return set()
    return covered_rules(fetch_rules(
        settings.prometheus_url, token=settings.prometheus_token, username=settings.prometheus_username,
        password=settings.prometheus_password, insecure=settings.prometheus_insecure))


def fetch_rules(url: str, *, token: str | None = None, username: str | None = None, password: str | None = None,
                insecure: bool = False, timeout: float = TIMEOUT_S) -> dict[str, Any]:
    """Prometheus's ``/api/v1/rules?type=alert`` answer. Raises ValueError with a message that names the
    server (never the credentials, which only go into the request's header)."""
    with PrometheusClient(url, token=token, username=username, password=password, insecure=insecure,
                          timeout=timeout) as prometheus:
        where = prometheus.where
        try:
            return prometheus.rules("alert")
        except PrometheusError as exc:
            if exc.kind == "unreachable":
                raise ValueError(f"Prometheus unreachable at {where}: {exc.reason}") from None
            if exc.kind == "answer":
                raise ValueError(f"unexpected answer from Prometheus at {where} to /api/v1/rules: {exc.detail}") \
                    from None
            if exc.kind == "refused":
                raise ValueError(str(exc)) from None
            raise ValueError(f"Prometheus at {where} answered HTTP {exc.status} to /api/v1/rules"
                             + (f": {exc.detail}" if exc.detail else "")) from None


def alert_key(alert: Alert) -> tuple[str, str]:
    return alert.name, str(alert.target)


class BuiltinRuleState:
    """Remembers when each built-in alert was first seen across evaluations, for their ``since``; an alert
    that stops firing is forgotten (it starts afresh if it fires again). Thread-safe."""

    def __init__(self) -> None:
        self._first_seen: dict[tuple[str, str], datetime] = {}
        self._lock = threading.Lock()

    def update(self, alerts: Iterable[Alert], now: datetime | None = None) -> list[Alert]:
        now = now or datetime.now(UTC)
        out = []
        with self._lock:
            seen = {}
            for alert in alerts:
                key = alert_key(alert)
                seen[key] = self._first_seen.get(key, alert.since or now)
                out.append(replace(alert, since=seen[key]))
            self._first_seen = seen
        return out
