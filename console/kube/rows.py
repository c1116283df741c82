"""Row builders: raw Kubernetes JSON → the frozen rows screens show (pure functions, no I/O)."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from console.alerts.model import pod_may_alert as _pod_may_alert
from console.core.gpus import GPU, gpus_of_pod_spec, node_ready
from console.core.model import DeploymentRow, EventRow, GpuNode, HpaRow, PodRow
from console.core.rollout import rollout_verdict
from console.core.units import as_int, quantity_text
from console.kube.pods import cold_start_seconds, pod_status, pod_why


def node_row(node: dict[str, Any], allocated: int | None) -> GpuNode:
    """A node's row (built once per version of the node and number of GPUs allocated on it)."""
    return _per_version(_NODE_ROWS, node, lambda n: _node_row(n, allocated), allocated)


def _node_row(node: dict[str, Any], allocated: int | None) -> GpuNode:
    meta, status = node.get("metadata") or {}, node.get("status") or {}
    labels = meta.get("labels") or {}

    def label(key: str) -> str:
        return labels.get(f"nvidia.com/{key}", "")

    driver = ".".join(p for p in (label("cuda.driver.major"), label("cuda.driver.minor"),
                                  label("cuda.driver.rev")) if p)
    cuda = ".".join(p for p in (label("cuda.runtime.major"), label("cuda.runtime.minor")) if p)
    compute = ".".join(p for p in (label("gpu.compute.major"), label("gpu.compute.minor")) if p)
    ready = node_ready(node)
    memory = label("gpu.memory")
    return GpuNode(
        name=meta.get("name", ""),
        product=label("gpu.product"),
        driver=driver,
        cuda=cuda,
        compute=compute,
        gpu_memory_mib=int(memory) if memory.isdigit() else None,
        allocatable=as_int((status.get("allocatable") or {}).get(GPU)),
        allocated=allocated,
        ready=ready,
        unschedulable=bool((node.get("spec") or {}).get("unschedulable")),
    )


def hpa_row(hpa: dict[str, Any]) -> HpaRow:
    meta, spec, status = hpa.get("metadata") or {}, hpa.get("spec") or {}, hpa.get("status") or {}
    targets = {}
    for m in spec.get("metrics") or []:
        name, target = _metric_name_target(m)
        targets[name] = target
    shown = []
    for m in status.get("currentMetrics") or []:
        name, current = _metric_name_current(m)
        shown.append(f"{name} {current}/{targets.pop(name, '?')}")
    shown += [f"{name} <unknown>/{target}" for name, target in targets.items()]
    limited = [f"{c.get('type')}: {c.get('reason')}" for c in status.get("conditions") or []
               if (c.get("type") == "ScalingLimited" and c.get("status") == "True")
               or (c.get("type") in ("AbleToScale", "ScalingActive") and c.get("status") == "False")]
    return HpaRow(
        namespace=meta.get("namespace", ""), name=meta.get("name", ""),
        target=(spec.get("scaleTargetRef") or {}).get("name", ""),
        min_replicas=as_int(spec.get("minReplicas", 1)), max_replicas=as_int(spec.get("maxReplicas")),
        current=as_int(status.get("currentReplicas")), desired=as_int(status.get("desiredReplicas")),
        metrics=", ".join(shown), conditions="; ".join(limited),
    )


def _metric_name_target(m: dict[str, Any]) -> tuple[str, str]:
    kind = m.get("type", "")
    body = m.get(kind[:1].lower() + kind[1:]) or {}
    name = body.get("name") or (body.get("metric") or {}).get("name") or kind
    target = body.get("target") or {}
    if target.get("averageUtilization") is not None:
        return name, f"{target['averageUtilization']}%"
    return name, quantity_text(target.get("averageValue") or target.get("value") or "?")


def _metric_name_current(m: dict[str, Any]) -> tuple[str, str]:
    kind = m.get("type", "")
    body = m.get(kind[:1].lower() + kind[1:]) or {}
    name = body.get("name") or (body.get("metric") or {}).get("name") or kind
    current = body.get("current") or {}
    if current.get("averageUtilization") is not None:
        return name, f"{current['averageUtilization']}%"
    return name, quantity_text(current.get("averageValue") or current.get("value") or "?")


def deployment_row(dep: dict[str, Any], hpa: HpaRow | None = None) -> DeploymentRow:
    meta, spec, status = dep.get("metadata") or {}, dep.get("spec") or {}, dep.get("status") or {}
    pod_spec = (spec.get("template") or {}).get("spec") or {}
    containers = pod_spec.get("containers") or []
    return DeploymentRow(
        namespace=meta.get("namespace", ""),
        name=meta.get("name", ""),
        desired=as_int(spec.get("replicas", 1)),
        ready=as_int(status.get("readyReplicas")),
        updated=as_int(status.get("updatedReplicas")),
        available=as_int(status.get("availableReplicas")),
        image=containers[0].get("image", "") if containers else "",
        gpus_per_replica=gpus_of_pod_spec(pod_spec),
        revision=(meta.get("annotations") or {}).get("deployment.kubernetes.io/revision", ""),
        created=meta.get("creationTimestamp", ""),
        verdict=rollout_verdict(dep),
        hpa=hpa,
        paused=bool(spec.get("paused")),
    )


T = TypeVar("T")
_PER_VERSION_MAX = 1 << 16
Version = tuple[str, str, Hashable]  # uid, resourceVersion (a version never changes), what else the value depends on
_POD_ROWS: dict[Version, PodRow] = {}
_NODE_ROWS: dict[Version, GpuNode] = {}
_MAY_ALERT: dict[Version, bool] = {}


def _per_version(cache: dict[Version, T], obj: dict[str, Any], build: Callable[[dict[str, Any]], T],
                 extra: Hashable = None) -> T:
    """``build(obj)``, once per version of an object (uid, resourceVersion, and ``extra``): every redraw asks
    again for every object of the view, and most have not changed. Objects without both are built every time."""
    meta = obj.get("metadata") or {}
    version = (meta.get("uid") or "", meta.get("resourceVersion") or "", extra)
    if not (version[0] and version[1]):
        return build(obj)
    if version in cache:
        return cache[version]
    if len(cache) >= _PER_VERSION_MAX:
        cache.clear()  # old versions: built again on demand
    value = cache[version] = build(obj)
    return value


def pod_row(pod: dict[str, Any]) -> PodRow:
    """A pod's row (built once per version of the pod)."""
    return _per_version(_POD_ROWS, pod, _pod_row)


def pod_may_alert(pod: dict[str, Any]) -> bool:
    """console.alerts.model.pod_may_alert, once per version of the pod."""
    return _per_version(_MAY_ALERT, pod, _pod_may_alert)


def _pod_row(pod: dict[str, Any]) -> PodRow:
    reason, ready, restarts, _ = pod_status(pod)
    spec, meta = pod.get("spec") or {}, pod.get("metadata") or {}
    containers = spec.get("containers") or []
    return PodRow(
        name=meta.get("name", ""), status=reason, ready=f"{ready}/{len(containers)}", restarts=restarts,
        node=spec.get("nodeName") or "", created=meta.get("creationTimestamp", ""),
        cold_start_s=cold_start_seconds(pod), why=pod_why(pod),
        image=containers[0].get("image", "") if containers else "",
        namespace=meta.get("namespace", ""),
    )


def event_row(ev: dict[str, Any]) -> EventRow:
    inv = ev.get("involvedObject") or {}
    last = ev.get("lastTimestamp") or ev.get("eventTime") or (ev.get("metadata") or {}).get("creationTimestamp") or ""
    return EventRow(last_seen=str(last)[:19].replace("T", " ") + ("Z" if last else ""), type=ev.get("type", ""),
                    reason=ev.get("reason", ""), obj=f"{inv.get('kind', '')}/{inv.get('name', '')}",
                    message=ev.get("message", ""), count=as_int(ev.get("count") or 1))
