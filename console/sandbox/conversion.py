"""Conversion between a resource's storage version and the other versions the sandbox serves from the same
storage, as kube-apiserver's conversion functions do it:

- autoscaling/v1 ⇄ autoscaling/v2 HorizontalPodAutoscaler. v1 has only ``targetCPUUtilizationPercentage``;
  what it cannot express (other metrics, ``behavior``, current metrics, conditions) travels in the
  round-trip annotations ``autoscaling.alpha.kubernetes.io/metrics``, ``…/behavior``,
  ``…/current-metrics`` and ``…/conditions`` (metrics in the v1 — former v2beta1 — shape), so a v1 client
  that reads and writes back keeps them. A v1 object without a CPU target gets the default 80 %.
- events.k8s.io/v1 ⇄ core/v1 Event: ``regarding``/``involvedObject``, ``note``/``message``,
  ``reportingController``/``reportingComponent``, ``deprecatedSource``/``source``,
  ``deprecatedFirstTimestamp``/``firstTimestamp`` … (field selectors are translated the same way).
"""

from __future__ import annotations

import json
from typing import Any

from .resources import ResourceType

Obj = dict[str, Any]
METRICS_ANNOTATION = "autoscaling.alpha.kubernetes.io/metrics"
BEHAVIOR_ANNOTATION = "autoscaling.alpha.kubernetes.io/behavior"
CURRENT_METRICS_ANNOTATION = "autoscaling.alpha.kubernetes.io/current-metrics"
CONDITIONS_ANNOTATION = "autoscaling.alpha.kubernetes.io/conditions"
ROUND_TRIP = (METRICS_ANNOTATION, BEHAVIOR_ANNOTATION, CURRENT_METRICS_ANNOTATION, CONDITIONS_ANNOTATION)
DEFAULT_CPU_UTILIZATION = 80


def _compact(d: Obj) -> Obj:
    """Drop what Go's ``omitempty`` drops (None here)."""
    return {k: v for k, v in d.items() if v is not None}


def _metadata(meta: Obj, annotations: dict[str, str]) -> Obj:
    out = {k: v for k, v in meta.items() if k != "annotations"}
    if annotations:
        out["annotations"] = annotations
    return out


# ---- HPA: v2 (storage) → v1 ---------------------------------------------------------------------------
def _v1_metric_spec(m: Obj) -> Obj:
    kind = m.get("type")
    if kind == "Resource":
        r = m.get("resource") or {}
        t = r.get("target") or {}
        return {"type": kind, "resource": _compact({"name": r.get("name"),
                                                     "targetAverageUtilization": t.get("averageUtilization"),
                                                     "targetAverageValue": t.get("averageValue")})}
    if kind == "ContainerResource":
        r = m.get("containerResource") or {}
        t = r.get("target") or {}
        return {"type": kind, "containerResource": _compact({
            "name": r.get("name"), "container": r.get("container"),
            "targetAverageUtilization": t.get("averageUtilization"), "targetAverageValue": t.get("averageValue")})}
    if kind == "Pods":
        p = m.get("pods") or {}
        metric, t = p.get("metric") or {}, p.get("target") or {}
        return {"type": kind, "pods": _compact({"metricName": metric.get("name"), "selector": metric.get("selector"),
                                                "targetAverageValue": t.get("averageValue")})}
    if kind == "Object":
        o = m.get("object") or {}
        metric, t = o.get("metric") or {}, o.get("target") or {}
        return {"type": kind, "object": _compact({
            "target": o.get("describedObject"), "metricName": metric.get("name"), "selector": metric.get("selector"),
            "targetValue": t.get("value"), "averageValue": t.get("averageValue")})}
    e = m.get("external") or {}
    metric, t = e.get("metric") or {}, e.get("target") or {}
    return {"type": kind, "external": _compact({
        "metricName": metric.get("name"), "metricSelector": metric.get("selector"), "targetValue": t.get("value"),
        "targetAverageValue": t.get("averageValue")})}


def _v1_metric_status(m: Obj) -> Obj:
    kind = m.get("type")
    if kind in ("Resource", "ContainerResource"):
        key = "resource" if kind == "Resource" else "containerResource"
        r = m.get(key) or {}
        c = r.get("current") or {}
        return {"type": kind, key: _compact({"name": r.get("name"), "container": r.get("container"),
                                             "currentAverageUtilization": c.get("averageUtilization"),
                                             "currentAverageValue": c.get("averageValue") or "0"})}
    if kind == "Pods":
        p = m.get("pods") or {}
        metric, c = p.get("metric") or {}, p.get("current") or {}
        return {"type": kind, "pods": _compact({"metricName": metric.get("name"), "selector": metric.get("selector"),
                                                "currentAverageValue": c.get("averageValue") or "0"})}
    if kind == "Object":
        o = m.get("object") or {}
        metric, c = o.get("metric") or {}, o.get("current") or {}
        return {"type": kind, "object": _compact({
            "target": o.get("describedObject"), "metricName": metric.get("name"), "selector": metric.get("selector"),
            "currentValue": c.get("value") or "0", "averageValue": c.get("averageValue")})}
    e = m.get("external") or {}
    metric, c = e.get("metric") or {}, e.get("current") or {}
    return {"type": kind, "external": _compact({
        "metricName": metric.get("name"), "metricSelector": metric.get("selector"),
        "currentValue": c.get("value") or "0", "currentAverageValue": c.get("averageValue")})}


def _is_cpu_utilization(m: Obj, side: str) -> bool:
    r = m.get("resource") or {}
    return m.get("type") == "Resource" and r.get("name") == "cpu" and \
        (r.get(side) or {}).get("averageUtilization") is not None


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def hpa_v2_to_v1(obj: Obj) -> Obj:
    meta = obj.get("metadata") or {}
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items() if k not in ROUND_TRIP}
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    metrics = spec.get("metrics") or []
    cpu = next((m for m in metrics if _is_cpu_utilization(m, "target")), None)
    others = [_v1_metric_spec(m) for m in metrics if not _is_cpu_utilization(m, "target")]
    if others:
        annotations[METRICS_ANNOTATION] = _dumps(others)
    if spec.get("behavior") is not None:
        annotations[BEHAVIOR_ANNOTATION] = _dumps(spec["behavior"])
    current = status.get("currentMetrics") or []
    if current:
        annotations[CURRENT_METRICS_ANNOTATION] = _dumps([_v1_metric_status(m) for m in current])
    if status.get("conditions"):
        annotations[CONDITIONS_ANNOTATION] = _dumps(status["conditions"])
    cpu_now = next((m for m in current if _is_cpu_utilization(m, "current")), None)
    out: Obj = {"kind": "HorizontalPodAutoscaler", "apiVersion": "autoscaling/v1",
                "metadata": _metadata(meta, annotations)}
    out["spec"] = _compact({
        "scaleTargetRef": spec.get("scaleTargetRef"), "minReplicas": spec.get("minReplicas"),
        "maxReplicas": spec.get("maxReplicas", 0),
        "targetCPUUtilizationPercentage": cpu["resource"]["target"]["averageUtilization"] if cpu else None})
    out["status"] = _compact({
        "observedGeneration": status.get("observedGeneration"), "lastScaleTime": status.get("lastScaleTime"),
        "currentReplicas": status.get("currentReplicas", 0), "desiredReplicas": status.get("desiredReplicas", 0),
        "currentCPUUtilizationPercentage":
            cpu_now["resource"]["current"]["averageUtilization"] if cpu_now else None})
    return out


# ---- HPA: v1 → v2 (storage) ---------------------------------------------------------------------------
def _v2_target(kind: str, value: Any = None, average: Any = None, utilization: Any = None) -> Obj:
    return _compact({"type": kind, "value": value, "averageValue": average, "averageUtilization": utilization})


def _v2_metric_spec(m: Obj) -> Obj:
    kind = m.get("type")
    if kind in ("Resource", "ContainerResource"):
        key = "resource" if kind == "Resource" else "containerResource"
        r = m.get(key) or {}
        util = r.get("targetAverageUtilization")
        target = _v2_target("Utilization", utilization=util) if util is not None else \
            _v2_target("AverageValue", average=r.get("targetAverageValue"))
        return {"type": kind, key: _compact({"name": r.get("name"), "container": r.get("container"),
                                             "target": target})}
    if kind == "Pods":
        p = m.get("pods") or {}
        return {"type": kind, "pods": {"metric": _compact({"name": p.get("metricName"), "selector": p.get("selector")}),
                                       "target": _v2_target("AverageValue", average=p.get("targetAverageValue"))}}
    if kind == "Object":
        o = m.get("object") or {}
        target = _v2_target("AverageValue", average=o["averageValue"]) if o.get("averageValue") is not None else \
            _v2_target("Value", value=o.get("targetValue"))
        return {"type": kind, "object": {"describedObject": o.get("target") or {},
                                         "metric": _compact({"name": o.get("metricName"),
                                                             "selector": o.get("selector")}),
                                         "target": target}}
    e = m.get("external") or {}
    target = _v2_target("AverageValue", average=e["targetAverageValue"]) \
        if e.get("targetAverageValue") is not None else _v2_target("Value", value=e.get("targetValue"))
    return {"type": kind, "external": {"metric": _compact({"name": e.get("metricName"),
                                                           "selector": e.get("metricSelector")}),
                                       "target": target}}


def _v2_metric_status(m: Obj) -> Obj:
    kind = m.get("type")
    if kind in ("Resource", "ContainerResource"):
        key = "resource" if kind == "Resource" else "containerResource"
        r = m.get(key) or {}
        return {"type": kind, key: _compact({"name": r.get("name"), "container": r.get("container"), "current":
                                             _compact({"averageUtilization": r.get("currentAverageUtilization"),
                                                       "averageValue": r.get("currentAverageValue")})})}
    if kind == "Pods":
        p = m.get("pods") or {}
        return {"type": kind, "pods": {"metric": _compact({"name": p.get("metricName"), "selector": p.get("selector")}),
                                       "current": {"averageValue": p.get("currentAverageValue")}}}
    if kind == "Object":
        o = m.get("object") or {}
        return {"type": kind, "object": {"describedObject": o.get("target") or {},
                                         "metric": _compact({"name": o.get("metricName"),
                                                             "selector": o.get("selector")}),
                                         "current": _compact({"value": o.get("currentValue"),
                                                              "averageValue": o.get("averageValue")})}}
    e = m.get("external") or {}
    return {"type": kind, "external": {"metric": _compact({"name": e.get("metricName"),
                                                           "selector": e.get("metricSelector")}),
                                       "current": _compact({"value": e.get("currentValue"),
                                                            "averageValue": e.get("currentAverageValue")})}}


def _annotation_list(annotations: dict[str, str], key: str) -> list[Obj] | None:
    try:
        value = json.loads(annotations[key]) if key in annotations else None
    except ValueError:  # a malformed round-trip annotation is ignored, as json.Unmarshal's error is
        return None
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else None


def hpa_v1_to_v2(obj: Obj) -> Obj:
    meta = obj.get("metadata") or {}
    annotations = dict(meta.get("annotations") or {})
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    metrics = [_v2_metric_spec(m) for m in _annotation_list(annotations, METRICS_ANNOTATION) or []]
    cpu = spec.get("targetCPUUtilizationPercentage")
    if cpu is not None:
        metrics.append({"type": "Resource", "resource": {"name": "cpu", "target": _v2_target("Utilization",
                                                                                              utilization=cpu)}})
    if not metrics:
        metrics = [{"type": "Resource", "resource": {"name": "cpu", "target": _v2_target(
            "Utilization", utilization=DEFAULT_CPU_UTILIZATION)}}]
    v2_spec: Obj = _compact({"scaleTargetRef": spec.get("scaleTargetRef"), "minReplicas": spec.get("minReplicas"),
                             "maxReplicas": spec.get("maxReplicas"), "metrics": metrics})
    try:
        behavior = json.loads(annotations[BEHAVIOR_ANNOTATION]) if BEHAVIOR_ANNOTATION in annotations else None
    except ValueError:
        behavior = None
    if isinstance(behavior, dict):
        v2_spec["behavior"] = behavior
    current = _annotation_list(annotations, CURRENT_METRICS_ANNOTATION)
    if current is not None:
        current_metrics: list[Obj] | None = [_v2_metric_status(m) for m in current]
    elif status.get("currentCPUUtilizationPercentage") is not None:
        current_metrics = [{"type": "Resource", "resource": {"name": "cpu", "current": {
            "averageUtilization": status["currentCPUUtilizationPercentage"]}}}]
    else:
        current_metrics = None
    v2_status: Obj = _compact({"observedGeneration": status.get("observedGeneration"),
                               "lastScaleTime": status.get("lastScaleTime"),
                               "currentReplicas": status.get("currentReplicas") or None,
                               "desiredReplicas": status.get("desiredReplicas", 0)})
    v2_status["currentMetrics"] = current_metrics
    conditions = _annotation_list(annotations, CONDITIONS_ANNOTATION)
    if conditions:
        v2_status["conditions"] = conditions
    for key in ROUND_TRIP:
        annotations.pop(key, None)
    return {"kind": "HorizontalPodAutoscaler", "apiVersion": "autoscaling/v2",
            "metadata": _metadata(meta, annotations), "spec": v2_spec, "status": v2_status}


# ---- Events: core/v1 (storage) ⇄ events.k8s.io/v1 -------------------------------------------------------
_EVENT_FIELDS = (  # (events.k8s.io/v1, core/v1)
    ("regarding", "involvedObject"), ("note", "message"), ("reportingController", "reportingComponent"),
    ("deprecatedSource", "source"), ("deprecatedFirstTimestamp", "firstTimestamp"),
    ("deprecatedLastTimestamp", "lastTimestamp"), ("deprecatedCount", "count"),
)
_SAME_EVENT_FIELDS = ("eventTime", "series", "reportingInstance", "action", "reason", "related", "type")


def event_core_to_v1(obj: Obj) -> Obj:
    out: Obj = {"kind": "Event", "apiVersion": "events.k8s.io/v1", "metadata": obj.get("metadata") or {},
                "eventTime": obj.get("eventTime")}
    for key in _SAME_EVENT_FIELDS[1:]:
        if obj.get(key) not in (None, ""):
            out[key] = obj[key]
    for new, old in _EVENT_FIELDS:
        if obj.get(old) not in (None, "", 0):
            out[new] = obj[old]
    out.setdefault("regarding", {})
    out.setdefault("deprecatedSource", {})
    return out


def event_v1_to_core(obj: Obj) -> Obj:
    out: Obj = {"kind": "Event", "apiVersion": "v1", "metadata": obj.get("metadata") or {}}
    for key in _SAME_EVENT_FIELDS:
        if obj.get(key) is not None:
            out[key] = obj[key]
    for new, old in _EVENT_FIELDS:
        if obj.get(new) is not None:
            out[old] = obj[new]
    out.setdefault("involvedObject", {})
    return out


def event_field_selector(selector: str | None) -> str | None:
    """An events.k8s.io/v1 field selector in core/v1 field names."""
    if not selector:
        return selector
    parts = []
    for term in selector.split(","):
        for new, old in _EVENT_FIELDS:
            if term == new or term.startswith((new + ".", new + "=", new + "!")):
                term = old + term[len(new):]
                break
        parts.append(term)
    return ",".join(parts)


# ---- dispatch -----------------------------------------------------------------------------------------
def to_served(rt: ResourceType, obj: Obj) -> Obj:
    """A stored object as the version ``rt`` serves it (itself for the storage version)."""
    if not rt.is_view or obj.get("kind") == "Status":
        return obj
    if rt.group == "autoscaling":
        return hpa_v2_to_v1(obj)
    return event_core_to_v1(obj)


def to_storage(rt: ResourceType, obj: Obj) -> Obj:
    """An object of the version ``rt`` serves, in the storage version."""
    if not rt.is_view:
        return obj
    if rt.group == "autoscaling":
        return hpa_v1_to_v2(obj)
    return event_v1_to_core(obj)


def field_selector(rt: ResourceType, selector: str | None) -> str | None:
    """A field selector of the version ``rt`` serves, in the storage version's field names."""
    return event_field_selector(selector) if rt.is_view and rt.plural == "events" else selector


def served_schema(rt: ResourceType) -> Any:
    from . import schema

    return schema.HPA_V1 if rt.group == "autoscaling" else schema.EVENT_V1
