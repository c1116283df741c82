"""Alerts from every source as one kind of record, and the pure functions that make them.

- ``parse_prometheus_alerts``: Prometheus ``GET /api/v1/alerts`` (the rules of
  ``manifests/prometheus-rules.yaml`` or any other);
- ``cluster_alerts``: derived from raw Kubernetes JSON (pods, Deployments, nodes) — OOMKilled,
  CrashLoopBackOff, ImagePullBackOff (ErrImagePull included), FailedScheduling (``Insufficient
  nvidia.com/gpu``), ProgressDeadlineExceeded, node NotReady — one alert per underlying condition, held
  until the container has been healthy for :data:`RECOVERY_HOLD_S`;
- ``sort_alerts``: most severe first, then the longest-standing first.

No I/O here: callers fetch the JSON (the ``llmctl alerts`` command, the console's watch store).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from console.core.units import human_duration

Source = Literal["prometheus", "alertmanager", "cluster", "builtin"]
State = Literal["pending", "firing", "resolved"]

SEVERITY_ORDER = {"critical": 0, "error": 1, "warning": 2, "info": 3, "none": 4}
GPU_RESOURCE = "nvidia.com/gpu"
_PULL_REASONS = ("ImagePullBackOff", "ErrImagePull")
IMAGE_PULL = "ImagePullBackOff"  # the one alert for both pull reasons: they alternate at every retry
# A container that crashed stays "in its crash loop" until it has run, Ready, this long without exiting again: the
# kubelet's own rule (it resets a container's restart back-off after 10 minutes of running without a problem).
RECOVERY_HOLD_S = 600.0


@dataclass(frozen=True)
class AlertTarget:
    """What an alert is about; any part may be unknown (None)."""

    namespace: str | None = None
    deployment: str | None = None
    pod: str | None = None
    node: str | None = None
    gpu: str | None = None

    def __str__(self) -> str:
        parts = []
        if self.pod or self.deployment:
            name = self.pod or self.deployment
            parts.append(f"{self.namespace}/{name}" if self.namespace else str(name))
        elif self.namespace:
            parts.append(self.namespace)
        if self.node:
            parts.append(f"node {self.node}")
        if self.gpu is not None:
            parts.append(f"GPU {self.gpu}")
        return " ".join(parts) or "-"


@dataclass(frozen=True)
class Alert:
    source: Source
    name: str
    severity: str
    state: State
    since: datetime | None
    target: AlertTarget = field(default_factory=AlertTarget)
    summary: str = ""
    # The source's labels, sorted (alertname, severity, …); metadata, not identity: left out of ==.
    labels: tuple[tuple[str, str], ...] = field(default=(), compare=False)
    silenced_by: tuple[str, ...] = ()  # Alertmanager silence ids muting it
    inhibited_by: tuple[str, ...] = ()  # Alertmanager: fingerprints of the alerts inhibiting it

    @property
    def muted(self) -> bool:
        """Silenced or inhibited in Alertmanager: someone knows, nobody is notified."""
        return bool(self.silenced_by or self.inhibited_by)

    @property
    def critical_firing(self) -> bool:
        return self.state == "firing" and self.severity == "critical" and not self.muted

    def to_json(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["since"] = self.since.isoformat() if self.since else None
        doc["labels"] = dict(self.labels)
        doc["silenced_by"], doc["inhibited_by"] = list(self.silenced_by), list(self.inhibited_by)
        return doc


def parse_time(value: Any) -> datetime | None:
    """An RFC 3339 timestamp (Kubernetes' or Prometheus' with nanoseconds) as an aware datetime in UTC."""
    if not isinstance(value, str) or not value or value.startswith("0001-01-01"):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# --- Prometheus -------------------------------------------------------------------------------------------------


def _label(labels: Mapping[str, str], *names: str) -> str | None:
    return next((labels[n] for n in names if labels.get(n)), None)


def target_from_labels(labels: Mapping[str, str]) -> AlertTarget:
    """The target named by an alert's labels (DCGM's ``Hostname``/``gpu``, scrape-renamed ``exported_*``)."""
    return AlertTarget(
        namespace=_label(labels, "namespace", "exported_namespace"),
        deployment=_label(labels, "deployment", "exported_deployment"),
        pod=_label(labels, "pod", "exported_pod"),
        node=_label(labels, "node", "Hostname", "kubernetes_node", "instance_node"),
        gpu=_label(labels, "gpu", "UUID"),
    )


def parse_prometheus_alerts(doc: Mapping[str, Any]) -> list[Alert]:
    """Alerts of a Prometheus ``/api/v1/alerts`` answer (``{"status": "success", "data": {"alerts": [...]}}``).

    Raises ValueError for an error answer or one of the wrong shape."""
    if doc.get("status") != "success":
        raise ValueError(f"Prometheus answered {doc.get('errorType', 'error')}: {doc.get('error', doc.get('status'))}")
    data = doc.get("data")
    if not isinstance(data, Mapping) or not isinstance(data.get("alerts"), list):
        raise ValueError("not an /api/v1/alerts answer: no data.alerts list")
    alerts = []
    for raw in data["alerts"]:
        labels = raw.get("labels") or {}
        annotations = raw.get("annotations") or {}
        state = raw.get("state")
        alerts.append(Alert(
            source="prometheus",
            name=labels.get("alertname", "?"),
            severity=labels.get("severity", "none"),
            state=state if state in ("pending", "firing") else "resolved",
            since=parse_time(raw.get("activeAt")),
            target=target_from_labels(labels),
            summary=annotations.get("summary") or annotations.get("description") or labels.get("alertname", ""),
            labels=tuple(sorted((str(k), str(v)) for k, v in labels.items())),
        ))
    return alerts


# --- Cluster-derived --------------------------------------------------------------------------------------------


def _condition(obj: Mapping[str, Any], type_: str) -> Mapping[str, Any] | None:
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c.get("type") == type_), None)


def pod_deployment(pod: Mapping[str, Any]) -> str | None:
    """The Deployment of a pod: its owning ReplicaSet's name without the ``-<pod-template-hash>``."""
    meta = pod.get("metadata") or {}
    rs = next((o.get("name") for o in meta.get("ownerReferences") or [] if o.get("kind") == "ReplicaSet"), None)
    if not rs:
        return None
    template_hash = (meta.get("labels") or {}).get("pod-template-hash")
    if template_hash and rs.endswith(f"-{template_hash}"):
        return rs[: -len(template_hash) - 1]
    return rs.rsplit("-", 1)[0] if "-" in rs else rs


def _failed(term: Mapping[str, Any]) -> bool:
    """A container's termination that was a failure (a non-zero exit, or a reason other than Completed)."""
    if not term:
        return False
    code = term.get("exitCode")
    return term.get("reason") == "OOMKilled" or (code != 0 if code is not None else term.get("reason") != "Completed")


def _healthy_for(cs: Mapping[str, Any], now: datetime) -> float | None:
    """Seconds a container has been running and Ready without exiting (since its current start); None when it
    is not running and Ready. A start time in the future (clock skew) counts as just started."""
    running = (cs.get("state") or {}).get("running")
    if running is None or not cs.get("ready"):
        return None
    started = parse_time(running.get("startedAt"))
    return max((now - started).total_seconds(), 0.0) if started is not None else 0.0


def _short_run(term: Mapping[str, Any], hold_s: float) -> bool:
    """The run that ended in ``term`` lasted less than the hold (or its times are unknown): an exit soon after a
    start, which the kubelet answers with a growing back-off — a crash loop, not a long run's one exit."""
    started, finished = parse_time(term.get("startedAt")), parse_time(term.get("finishedAt"))
    return started is None or finished is None or (finished - started).total_seconds() < hold_s


def pod_may_alert(pod: Mapping[str, Any]) -> bool:
    """Whether :func:`cluster_alerts` can derive any alert from this pod, at any time: False for a pod that is
    not Unschedulable and has no container waiting in CrashLoopBackOff or an image pull, nor a failed last exit —
    most pods. A caller may skip those (the console does, remembering the answer per pod version)."""
    scheduled = _condition(pod, "PodScheduled")
    if scheduled and scheduled.get("status") == "False" and scheduled.get("reason") == "Unschedulable":
        return True
    status = pod.get("status") or {}
    for cs in [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or [])]:
        reason = ((cs.get("state") or {}).get("waiting") or {}).get("reason")
        if reason == "CrashLoopBackOff" or reason in _PULL_REASONS or \
                _failed((cs.get("lastState") or {}).get("terminated") or {}):
            return True
    return False


def _pod_alerts(pod: Mapping[str, Any], now: datetime, hold_s: float) -> list[Alert]:
    meta, spec, status = pod.get("metadata") or {}, pod.get("spec") or {}, pod.get("status") or {}
    target = AlertTarget(namespace=meta.get("namespace"), deployment=pod_deployment(pod), pod=meta.get("name"),
                         node=spec.get("nodeName"))
    where = f"{meta.get('namespace')}/{meta.get('name')}"
    hold = human_duration(hold_s)
    out: list[Alert] = []
    scheduled = _condition(pod, "PodScheduled")
    if scheduled and scheduled.get("status") == "False" and scheduled.get("reason") == "Unschedulable":
        message = scheduled.get("message") or "unschedulable"
        gpu = f"Insufficient {GPU_RESOURCE}" in message
        out.append(Alert("cluster", "FailedScheduling", "warning", "firing", parse_time(
            scheduled.get("lastTransitionTime")), target,
            f"{where} cannot be scheduled{' (no free GPU)' if gpu else ''}: {message}"))
    for cs in [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or [])]:
        name = cs.get("name")
        waiting = (cs.get("state") or {}).get("waiting") or {}
        reason = waiting.get("reason")
        last = (cs.get("lastState") or {}).get("terminated") or {}
        restarts = cs.get("restartCount") or 0
        looping = reason == "CrashLoopBackOff"
        healthy = _healthy_for(cs, now)
        # One condition from the failed exit until the container has run Ready for the hold: the restarts between
        # two back-offs (Running, not yet Ready) are the same crash loop, not a recovery.
        troubled = looping or (_failed(last) and (healthy is None or healthy < hold_s))
        if troubled and last.get("reason") == "OOMKilled":
            critical = looping or (restarts >= 2 and healthy is None)
            state = ", in CrashLoopBackOff" if looping else (
                f", running again (resolves once Ready for {hold})" if healthy is not None else ", restarted")
            out.append(Alert("cluster", "OOMKilled", "critical" if critical else "warning", "firing",
                             parse_time(last.get("finishedAt")), target,
                             f"{where}: container {name} OOMKilled (exit code {last.get('exitCode', 137)}), "
                             f"{restarts} restarts{state}"))
        elif looping or (troubled and _short_run(last, hold_s)):
            exit_code = f" (last exit code {last['exitCode']})" if "exitCode" in last else ""
            summary = (f"{where}: container {name} in CrashLoopBackOff{exit_code}, {restarts} restarts" if looping
                       else f"{where}: container {name} restarted after a crash{exit_code}, {restarts} restarts; "
                            f"in its crash loop until Ready for {hold}")
            out.append(Alert("cluster", "CrashLoopBackOff", "critical", "firing",
                             parse_time(last.get("finishedAt")) or parse_time(status.get("startTime")), target,
                             summary))
        if reason in _PULL_REASONS:
            out.append(Alert("cluster", IMAGE_PULL, "warning", "firing", parse_time(status.get("startTime")), target,
                             f"{where}: container {name} cannot pull {cs.get('image')}: {reason}: "
                             f"{waiting.get('message') or reason}"))
    return out


def _deployment_alerts(deployment: Mapping[str, Any]) -> list[Alert]:
    progressing = _condition(deployment, "Progressing")
    if not progressing or progressing.get("reason") != "ProgressDeadlineExceeded":
        return []
    meta = deployment.get("metadata") or {}
    target = AlertTarget(namespace=meta.get("namespace"), deployment=meta.get("name"))
    return [Alert("cluster", "ProgressDeadlineExceeded", "critical", "firing",
                  parse_time(progressing.get("lastTransitionTime") or progressing.get("lastUpdateTime")), target,
                  f"{meta.get('namespace')}/{meta.get('name')} rollout failed: "
                  f"{progressing.get('message') or 'ProgressDeadlineExceeded'}")]


def _node_alerts(node: Mapping[str, Any]) -> list[Alert]:
    ready = _condition(node, "Ready")
    if ready is None or ready.get("status") == "True":
        return []
    name = (node.get("metadata") or {}).get("name")
    detail = ready.get("message") or ready.get("reason") or f"Ready={ready.get('status')}"
    return [Alert("cluster", "NodeNotReady", "critical", "firing", parse_time(ready.get("lastTransitionTime")),
                  AlertTarget(node=name), f"node {name} is NotReady (Ready={ready.get('status')}): {detail}")]


def _items(doc: Mapping[str, Any] | Iterable[Mapping[str, Any]] | None) -> Iterable[Mapping[str, Any]]:
    """A List's items, or the objects themselves."""
    if doc is None:
        return ()
    if isinstance(doc, Mapping):
        return doc.get("items") or ()
    return doc


def cluster_alerts(pods: Any, deployments: Any, nodes: Any, *, now: datetime | None = None,
                   hold_s: float = RECOVERY_HOLD_S) -> list[Alert]:
    """Alerts derived from raw Kubernetes JSON: each argument a List (``{"items": [...]}``) or a list of objects.

    Each alert is one underlying condition, named the same however the container's status moves within it.
    Pods: OOMKilled (``lastState.terminated.reason``; critical while it crash-loops, warning once restarted)
    and CrashLoopBackOff (other failed exits of a run shorter than the hold, or waiting in CrashLoopBackOff) —
    from the failed exit until the container has run Ready for ``hold_s`` (default :data:`RECOVERY_HOLD_S`,
    10 minutes) without exiting again, so the restarts between two back-offs are the same alert and an OOM
    kill the container has recovered from resolves; the hold is measured against ``now`` (default: the wall
    clock) from the container's ``startedAt``.
    ImagePullBackOff (ErrImagePull too: the two alternate at every retry). FailedScheduling (PodScheduled
    False, Unschedulable — e.g. ``Insufficient nvidia.com/gpu``). Deployments: ProgressDeadlineExceeded (the
    Progressing condition's reason). Nodes: NotReady (Ready False or Unknown)."""
    now = now or datetime.now(UTC)
    out: list[Alert] = []
    for pod in _items(pods):
        out.extend(_pod_alerts(pod, now, hold_s))
    for deployment in _items(deployments):
        out.extend(_deployment_alerts(deployment))
    for node in _items(nodes):
        out.extend(_node_alerts(node))
    return out


def sort_alerts(alerts: Iterable[Alert]) -> list[Alert]:
    """Most severe first (critical, error, warning, info, others), then the oldest (longest-standing) first;
    alerts without a start time last within their severity; ties by name and target (a stable order)."""
    far = datetime.max.replace(tzinfo=UTC)
    return sorted(alerts, key=lambda a: (SEVERITY_ORDER.get(a.severity, len(SEVERITY_ORDER)), a.since or far,
                                         a.name, str(a.target)))
