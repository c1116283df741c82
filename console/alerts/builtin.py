"""llmctl's built-in alert rules, evaluated from the MetricsService's records when Prometheus has no rule of
the same name (so a cluster without ``manifests/prometheus-rules.yaml`` still gets the four alerts).

| rule (= the rule file's alert name) | fires when                                   | for | setting             |
|-------------------------------------|----------------------------------------------|-----|---------------------|
| ``GPUFramebufferHigh`` (warning)    | a GPU's framebuffer used % > 80              | 5m  | ``alert_fb_percent``|
| ``LLMLatencyP99High`` (critical)    | a Deployment's p99 latency > 500 ms          | 2m  | ``alert_p99_ms``    |
| ``LLMKVCacheHigh`` (warning)        | a Deployment's mean KV-cache use % > 90      | 5m  | ``alert_kv_percent``|
| ``LLMQueueWaitingHigh`` (warning)   | a Deployment's requests waiting > 10         | 2m  | ``alert_queue_waiting`` |

80 % and 500 ms are the source article's thresholds, the ``for:`` durations the rule files'. The rule files
judge per pod; the records here are per GPU and per Deployment (the Latency screen's figures), which is what
they are evaluated on.

"Covered" is by name: :func:`covered_rules` reads the alerting rules Prometheus has loaded
(``/api/v1/rules``, through the Prometheus adapter console/metrics/prometheus.py) and :func:`evaluate`
leaves those out.

:func:`readings` gives every figure with its rule and threshold; :func:`evaluate` the alerts of those over
their threshold, on the current figures alone (``since`` None). A caller that refreshes (the console, the
tests) keeps a :class:`BuiltinRuleState`, which adds what Prometheus does with ``for:`` and what it does
not — hysteresis:

- an alert is *pending* from the first figure over the threshold, and *firing* once every figure for the
  rule's ``for:`` (:data:`FOR_S`) has been over it; a figure at or under the threshold while pending drops it;
- a firing alert resolves at the first figure under the threshold by the margin (:data:`CLEAR_MARGIN`, 10 %:
  450 ms for 500 ms, 72 % for 80 %), or once no figure has been over the threshold for the rule's ``for:``
  again (a figure between the two lines, or none at all — a Deployment without a Ready pod — holds it).

So a p99 wandering around 500 ms neither fires nor, once firing, resolves and fires again at every
refresh. Times are the metrics source's (the sandbox's simulated clock). No I/O except :func:`fetch_rules`;
no Textual.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from console.alerts.model import Alert, AlertTarget
from console.core.metrics import GpuSample, ServingStats
from console.core.units import human_duration
from console.metrics.prometheus import TIMEOUT_S, PrometheusClient, PrometheusError

FB_HIGH, P99_HIGH, KV_HIGH, QUEUE_HIGH = "GPUFramebufferHigh", "LLMLatencyP99High", "LLMKVCacheHigh", \
    "LLMQueueWaitingHigh"
RULES = (FB_HIGH, P99_HIGH, KV_HIGH, QUEUE_HIGH)
SEVERITY = {FB_HIGH: "warning", P99_HIGH: "critical", KV_HIGH: "warning", QUEUE_HIGH: "warning"}
FOR_S = {FB_HIGH: 300.0, P99_HIGH: 120.0, KV_HIGH: 300.0, QUEUE_HIGH: 120.0}  # the rule files' ``for:``
CLEAR_MARGIN = 0.1  # a firing alert resolves at once under threshold × (1 − margin)


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


@dataclass(frozen=True)
class Reading:
    """One figure a rule judges: its value and threshold in the rule's unit (%, ms, requests), and the alert it
    raises when over (``alert``'s summary states the value)."""

    rule: str
    value: float
    threshold: float
    alert: Alert

    @property
    def above(self) -> bool:
        """Over the threshold: strictly, as the rule files' ``>``."""
        return self.value > self.threshold

    def under_margin(self, margin: float = CLEAR_MARGIN) -> bool:
        return self.value <= self.threshold * (1 - margin)


def readings(gpus: Iterable[GpuSample] | None, serving: Iterable[ServingStats] | None,
             thresholds: Thresholds = Thresholds(), covered: Iterable[str] = (), *,
             namespace: str | None = None) -> list[Reading]:
    """Every figure the built-in rules judge (rules named in ``covered`` left out), over its threshold or not.
    ``namespace``: the one ``serving`` was read for (a ServingStats without its own namespace is of that one)."""
    skip = set(covered)
    out: list[Reading] = []
    if FB_HIGH not in skip:
        for g in gpus or ():
            if g.total_mib > 0:
                held = f"{g.namespace}/{g.pod}" if g.pod else "no pod"
                out.append(Reading(FB_HIGH, 100 * g.used_mib / g.total_mib, thresholds.fb_percent, _alert(
                    FB_HIGH, AlertTarget(namespace=g.namespace or None, pod=g.pod or None, node=g.node, gpu=g.index),
                    f"GPU {g.index} on {g.node} ({held}) framebuffer {g.used_percent:.1f}% used "
                    f"(> {_num(thresholds.fb_percent)}%)",
                    {"Hostname": g.node, "gpu": g.index, "namespace": g.namespace, "pod": g.pod})))
    for s in serving or ():
        ns = s.namespace or namespace
        target = AlertTarget(namespace=ns, deployment=s.deployment)
        where = f"{ns}/{s.deployment}" if ns else s.deployment
        labels: dict[str, str | None] = {"namespace": ns, "deployment": s.deployment}
        if P99_HIGH not in skip and s.p99_s is not None:
            out.append(Reading(P99_HIGH, s.p99_s * 1000, thresholds.p99_ms, _alert(
                P99_HIGH, target, f"p99 latency {s.p99_s * 1000:.0f} ms on {where} "
                                  f"(> {_num(thresholds.p99_ms)} ms): scale out", labels)))
        if KV_HIGH not in skip and s.kv_cache is not None:
            out.append(Reading(KV_HIGH, s.kv_cache * 100, thresholds.kv_percent, _alert(
                KV_HIGH, target, f"KV-cache {s.kv_cache * 100:.0f}% used on {where} "
                                 f"(> {_num(thresholds.kv_percent)}%)", labels)))
        if QUEUE_HIGH not in skip and s.waiting is not None:
            out.append(Reading(QUEUE_HIGH, s.waiting, thresholds.queue_waiting, _alert(
                QUEUE_HIGH, target, f"{_num(s.waiting)} requests waiting on {where} "
                                    f"(> {_num(thresholds.queue_waiting)})", labels)))
    return out


def evaluate(gpus: Iterable[GpuSample] | None, serving: Iterable[ServingStats] | None,
             thresholds: Thresholds = Thresholds(), covered: Iterable[str] = (), *,
             namespace: str | None = None) -> list[Alert]:
    """The built-in rules over the current records, without holds: the alerts of the figures strictly above
    their threshold, as the rule files' ``>``; rules named in ``covered`` are left out. ``namespace``: the one
    ``serving`` was read for (a ServingStats without its own namespace is of that one)."""
    return [r.alert for r in readings(gpus, serving, thresholds, covered, namespace=namespace) if r.above]


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


@dataclass
class _Track:
    alert: Alert  # the latest over-threshold alert (its summary states the figure)
    since: datetime  # pending from
    firing: bool = False
    under_since: datetime | None = None  # firing, but nothing over the threshold since then


class BuiltinRuleState:
    """The built-in rules' ``for:`` and hysteresis across evaluations (module docstring). :meth:`update` takes
    each evaluation's :func:`readings` — or :func:`evaluate`'s alerts, the figures over their threshold (the
    others then count as between the lines) — and returns the pending and firing alerts, each with the time it
    became pending as its ``since``. Thread-safe."""

    def __init__(self, for_s: Mapping[str, float] | None = None, margin: float = CLEAR_MARGIN) -> None:
        self.for_s = {**FOR_S, **(for_s or {})}
        self.margin = margin
        self._tracks: dict[tuple[str, str], _Track] = {}
        self._lock = threading.Lock()

    def update(self, found: Iterable[Reading | Alert], now: datetime | None = None) -> list[Alert]:
        now = now or datetime.now(UTC)
        seen: dict[tuple[str, str], Reading | Alert] = {}
        for item in found:
            seen[alert_key(item.alert if isinstance(item, Reading) else item)] = item
        out = []
        with self._lock:
            tracks: dict[tuple[str, str], _Track] = {}
            for key in dict.fromkeys([*self._tracks, *seen]):  # a stable order
                track = self._step(self._tracks.get(key), seen.get(key), now)
                if track is not None:
                    tracks[key] = track
                    out.append(self._shown(track, seen.get(key)))
            self._tracks = tracks
        return out

    def _step(self, track: _Track | None, item: Reading | Alert | None, now: datetime) -> _Track | None:
        above = isinstance(item, Alert) or (isinstance(item, Reading) and item.above)
        if above:
            alert = item.alert if isinstance(item, Reading) else item
            assert isinstance(alert, Alert)
            if track is None:
                track = _Track(alert, alert.since or now)
            track.alert, track.under_since = alert, None
            if not track.firing and now - track.since >= timedelta(seconds=self.for_s.get(alert.name, 0.0)):
                track.firing = True
            return track
        if track is None or not track.firing:
            return None  # under the threshold: nothing, or a pending alert that does not fire
        if isinstance(item, Reading) and item.under_margin(self.margin):
            return None  # well under: resolved
        track.under_since = track.under_since or now
        if now - track.under_since >= timedelta(seconds=self.for_s.get(track.alert.name, 0.0)):
            return None  # under the threshold (or unknown) for as long as it took to fire: resolved
        return track

    def _shown(self, track: _Track, item: Reading | Alert | None) -> Alert:
        alert = replace(track.alert, state="firing" if track.firing else "pending", since=track.since)
        if track.under_since is None:
            return alert
        name = alert.name
        hold = human_duration(self.for_s.get(name, 0.0))
        if isinstance(item, Reading):
            unit = {FB_HIGH: "%", P99_HIGH: " ms", KV_HIGH: "%"}.get(name, "")
            clear = item.threshold * (1 - self.margin)
            note = (f"now {_num(round(item.value, 1))}{unit}, under {_num(item.threshold)}{unit}: resolves under "
                    f"{_num(round(clear, 1))}{unit}, or after {hold} under {_num(item.threshold)}{unit}")
        else:
            note = f"no figure now: resolves after {hold} without one over the threshold"
        return replace(alert, summary=f"{track.alert.summary}; {note}")
