"""The incident record and its postmortem forms: the current state of what the incident is about (pure
builders over raw Kubernetes JSON and the metrics service's records), Markdown and JSON. No I/O."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from console.alerts.model import Alert, pod_deployment, sort_alerts
from console.core.metrics import GpuSample, ServingStats
from console.core.model import DeploymentRow, HpaRow, PodRow
from console.incident.model import Scope, TimelineEntry, iso
from console.kube.rows import deployment_row, hpa_row, pod_row


@dataclass(frozen=True)
class NodeProblem:
    """A node that is not Ready; ``in_scope`` when it runs pods of the namespace / Deployment."""

    name: str
    ready: str  # the Ready condition's status: False or Unknown
    reason: str
    message: str
    in_scope: bool


@dataclass(frozen=True)
class Figures:
    """A Deployment's serving figures now (latencies in seconds) and the framebuffer use of its GPUs."""

    deployment: str
    qps: float | None = None
    p50_s: float | None = None
    p99_s: float | None = None
    gpu_mem_max_percent: float | None = None
    gpu_mem_mean_percent: float | None = None
    gpus: int = 0


@dataclass(frozen=True)
class Incident:
    """One snapshot: the timeline of the window, what things look like now, and what could not be read."""

    namespace: str
    deployment: str | None
    start: datetime
    end: datetime
    minutes: float
    timeline: tuple[TimelineEntry, ...]
    deployments: tuple[DeploymentRow, ...] = ()
    pods: tuple[PodRow, ...] = ()
    hpas: tuple[HpaRow, ...] = ()
    nodes_not_ready: tuple[NodeProblem, ...] = ()
    figures: tuple[Figures, ...] = ()
    alerts: tuple[Alert, ...] = ()  # firing now, in scope
    notes: tuple[str, ...] = ()  # one per source that failed or was not configured
    context: str = ""
    metrics_source: str = ""

    @property
    def scope(self) -> str:
        return f"deployment {self.namespace}/{self.deployment}" if self.deployment else f"namespace {self.namespace}"


# ---- current state -------------------------------------------------------------------------------------------


State = tuple[tuple[DeploymentRow, ...], tuple[PodRow, ...], tuple[HpaRow, ...], tuple[NodeProblem, ...]]


def current_state(scope: Scope, pods: Iterable[Mapping[str, Any]], hpas: Iterable[Mapping[str, Any]],
                  nodes: Iterable[Mapping[str, Any]]) -> State:
    """Deployments (replicas, ready, image, revision, verdict), their pods, HPAs and the NotReady nodes."""
    hpa_rows = [hpa_row(dict(h)) for h in hpas if (h.get("metadata") or {}).get("name") in scope.hpa_target]
    by_target = {h.target: h for h in hpa_rows}
    deployments = tuple(deployment_row(dict(d), by_target.get(name)) for name, d in sorted(scope.deployments.items()))
    pod_rows = tuple(pod_row(dict(p)) for p in sorted(pods, key=lambda p: (p.get("metadata") or {}).get("name", ""))
                     if (p.get("metadata") or {}).get("name") in scope.pods and scope.wants(pod_deployment(p)))
    problems = []
    for node in nodes:
        ready = next((c for c in (node.get("status") or {}).get("conditions") or [] if c.get("type") == "Ready"), None)
        if ready is None or ready.get("status") == "True":
            continue
        name = (node.get("metadata") or {}).get("name", "")
        problems.append(NodeProblem(name, str(ready.get("status")), ready.get("reason") or "",
                                    ready.get("message") or "", name in scope.nodes))
    return deployments, pod_rows, tuple(sorted(hpa_rows, key=lambda h: h.name)), tuple(problems)


def figures(scope: Scope, serving: Iterable[ServingStats], gpus: Iterable[GpuSample]) -> tuple[Figures, ...]:
    """Serving figures of the Deployments in scope, and the framebuffer used % of the GPUs their pods hold."""
    by_dep: dict[str, list[float]] = {}
    for gpu in gpus:
        if gpu.namespace == scope.namespace and gpu.pod:
            dep = scope.pod_deployment(gpu.pod)
            if dep and scope.wants(dep):
                by_dep.setdefault(dep, []).append(gpu.used_percent)
    stats = {s.deployment: s for s in serving if scope.wants(s.deployment)}
    out = []
    for dep in sorted(set(stats) | set(by_dep)):
        s, used = stats.get(dep), by_dep.get(dep, [])
        out.append(Figures(dep, s.qps if s else None, s.p50_s if s else None, s.p99_s if s else None,
                           max(used) if used else None, sum(used) / len(used) if used else None, len(used)))
    return tuple(out)


def alerts_in_scope(scope: Scope, alerts: Iterable[Alert]) -> tuple[Alert, ...]:
    return tuple(sort_alerts(a for a in alerts if a.state == "firing" and scope.alert_in(a.target)))


# ---- JSON ----------------------------------------------------------------------------------------------------


def to_json(incident: Incident) -> dict[str, Any]:
    """The whole snapshot as one JSON-able document (times in RFC 3339, UTC)."""
    return {
        "scope": {"namespace": incident.namespace, "deployment": incident.deployment},
        "window": {"start": iso(incident.start), "end": iso(incident.end), "minutes": incident.minutes},
        "context": incident.context,
        "timeline": [e.to_json() for e in incident.timeline],
        "state": {
            "deployments": [asdict(d) for d in incident.deployments],
            "pods": [asdict(p) for p in incident.pods],
            "hpas": [asdict(h) for h in incident.hpas],
            "nodes_not_ready": [asdict(n) for n in incident.nodes_not_ready],
        },
        "alerts": [a.to_json() for a in incident.alerts],
        "figures": {"source": incident.metrics_source, "deployments": [asdict(f) for f in incident.figures]},
        "notes": list(incident.notes),
    }


# ---- Markdown ------------------------------------------------------------------------------------------------


def _cell(value: Any) -> str:
    text = "-" if value is None or value == "" else str(value)
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _table(head: Iterable[str], rows: Iterable[Iterable[Any]]) -> list[str]:
    head = list(head)
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return lines


def _when(t: datetime | None) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if t else "-"


def _ms(seconds: float | None) -> str | None:
    return None if seconds is None else f"{seconds * 1000:.0f} ms"


def _pct(value: float | None) -> str | None:
    return None if value is None else f"{value:.0f} %"


def render_markdown(incident: Incident) -> str:
    """The postmortem report: header, timeline, current state, alerts firing now, figures, notes."""
    i = incident
    counts: dict[str, int] = {}
    for e in i.timeline:
        counts[e.severity] = counts.get(e.severity, 0) + 1
    tally = ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "nothing happened"
    out = [f"# Incident snapshot: {i.scope}", "",
           f"- Window: {_when(i.start)} → {_when(i.end)} UTC (last {i.minutes:g} min)",
           f"- Context: {i.context or '-'}",
           f"- Timeline: {len(i.timeline)} entries ({tally})", "", "## Timeline", ""]
    if i.timeline:
        out += _table(("time (UTC)", "kind", "severity", "target", "what"),
                      ((_when(e.time), e.kind, e.severity, str(e.target), e.summary) for e in i.timeline))
    else:
        out.append("Nothing in the window.")
    out += ["", "## Current state", "", "### Deployments", ""]
    out += _table(("deployment", "ready", "up-to-date", "available", "revision", "image", "rollout"),
                  ((d.name, f"{d.ready}/{d.desired}", d.updated, d.available, d.revision, d.image,
                    d.verdict.message if d.verdict else None) for d in i.deployments)) if i.deployments else ["none"]
    out += ["", "### Pods", ""]
    out += _table(("pod", "status", "ready", "restarts", "node", "why"),
                  ((p.name, p.status, p.ready, p.restarts, p.node, p.why) for p in i.pods)) if i.pods else ["none"]
    out += ["", "### HPAs", ""]
    out += _table(("hpa", "target", "min", "max", "current", "desired", "metrics"),
                  ((h.name, h.target, h.min_replicas, h.max_replicas, h.current, h.desired, h.metrics)
                   for h in i.hpas)) if i.hpas else ["none"]
    out += ["", "### Nodes not ready", ""]
    out += _table(("node", "Ready", "reason", "message", "runs pods in scope"),
                  ((n.name, n.ready, n.reason, n.message, "yes" if n.in_scope else "no") for n in i.nodes_not_ready)
                  ) if i.nodes_not_ready else ["none"]
    out += ["", "## Alerts firing now", ""]
    out += _table(("severity", "alert", "source", "since", "target", "summary"),
                  ((a.severity, a.name, a.source, _when(a.since), str(a.target), a.summary) for a in i.alerts)
                  ) if i.alerts else ["none"]
    out += ["", "## Figures", ""]
    if i.figures:
        out += [f"From {i.metrics_source}.", ""] if i.metrics_source else []
        out += _table(("deployment", "QPS", "p50", "p99", "GPU memory max", "GPU memory mean", "GPUs"),
                      ((f.deployment, None if f.qps is None else f"{f.qps:.2f}", _ms(f.p50_s), _ms(f.p99_s),
                        _pct(f.gpu_mem_max_percent), _pct(f.gpu_mem_mean_percent), f.gpus) for f in i.figures))
    else:
        out.append("none (see the notes)" if i.notes else "none")
    out += ["", "## Notes", ""]
    out += [f"- {n}" for n in i.notes] or ["none"]
    return "\n".join(out) + "\n"
