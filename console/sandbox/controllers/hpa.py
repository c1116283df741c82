"""The HorizontalPodAutoscaler controller (autoscaling/v2), syncing every 15 simulated seconds like
kube-controller-manager: per-metric replica proposals with a 10 % tolerance, the largest wins,
scale-down stabilised over 300 s, scale-up rate-limited, clamped to min/max, and the status,
conditions and SuccessfulRescale events a real HPA writes.

Metrics come from the simulation (``ctx.sim.pod_utilisation(namespace, pod)`` → (CPU % of request,
GPU utilisation %)); without a simulation there are no metrics and the HPA says so, as a real one
does without metrics-server.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Hashable, Mapping
from typing import Any

from ..selectors import selector_matches
from ..store import Obj, copy_object
from .base import Controller, container_requests, get_condition, parse_quantity, pod_active, pod_ready
from .events import record_event
from .keys import Key, key_of
from .rollout import replicas

COMPONENT = "horizontal-pod-autoscaler"
SYNC_SECONDS = 15.0
TOLERANCE = 0.1
DOWNSCALE_WINDOW = 300.0


class MetricError(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason, self.message = reason, message


def _go_selector(selector: Mapping[str, Any] | None) -> str:
    """A LabelSelector as Go's %+v prints it (kube puts this in event reasons and conditions)."""
    labels = ",".join(f"{k}: {v}" for k, v in sorted(((selector or {}).get("matchLabels") or {}).items()))
    return (f"&LabelSelector{{MatchLabels:map[string]string{{{labels},}},"
            "MatchExpressions:[]LabelSelectorRequirement{},}")


def _quantity(value: float) -> str:
    return str(round(value)) if abs(value - round(value)) < 1e-6 else f"{round(value * 1000)}m"


def _metric_value(name: str, util: tuple[float, float]) -> float | None:
    lowered = name.lower()
    if "gpu" in lowered or "dcgm" in lowered:
        return util[1]
    if "cpu" in lowered:
        return util[0]
    return None


def _metrics(spec: Mapping[str, Any]) -> list[dict[str, Any]]:
    if spec.get("metrics"):
        return list(spec["metrics"])
    target = spec.get("targetCPUUtilizationPercentage", 80)  # an autoscaling/v1 object stored as is
    return [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization",
                                                                        "averageUtilization": target}}}]


class HpaController(Controller):
    name = "hpa"
    plurals = ("horizontalpodautoscalers",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._recs: dict[Key, list[tuple[float, int]]] = {}
        self._ticker: asyncio.Task[None] | None = None

    def on_change(self, type_: str, plural: str, obj: Obj, old: Obj | None) -> None:
        if type_ == "DELETED":
            self._recs.pop(key_of(obj), None)
        elif old is None or old.get("spec") != obj.get("spec"):
            self.enqueue(key_of(obj))

    def initial_keys(self) -> list[Key]:
        return [key_of(h) for h in self.store.iter_all("horizontalpodautoscalers")]

    def start(self) -> None:
        super().start()
        self._ticker = asyncio.get_running_loop().create_task(self._tick(), name="sandbox-hpa-tick")

    async def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            try:
                await self._ticker
            except asyncio.CancelledError:
                pass
            self._ticker = None
        await super().stop()

    async def _tick(self) -> None:
        """The HPA's periodic resync (the real controller is periodic too: --horizontal-pod-autoscaler-sync-period)."""
        while True:
            await self.clock.sleep(SYNC_SECONDS)
            for hpa in list(self.store.iter_all("horizontalpodautoscalers")):
                self.enqueue(key_of(hpa))

    # ---- metrics ----------------------------------------------------------------------------------
    def _target_pods(self, d: Obj) -> list[Obj]:
        pods = []
        for rs in self.index.owned("replicasets", d["metadata"]["uid"]):
            pods += [p for p in self.index.owned("pods", rs["metadata"]["uid"]) if pod_active(p) and pod_ready(p)]
        return pods

    def _util(self, ns: str, pods: list[Obj]) -> list[tuple[Obj, tuple[float, float]]]:
        sim = self.ctx.sim
        if sim is None:
            return []
        out = []
        for pod in pods:
            util = sim.pod_utilisation(ns, pod["metadata"]["name"])
            if util is not None:
                out.append((pod, (float(util[0]), float(util[1]))))
        return out

    def _propose(self, ns: str, metric: Mapping[str, Any], d: Obj, current: int,
                 status_replicas: int) -> tuple[int, str, dict[str, Any]]:
        """(replicas this metric asks for, its name for messages, its currentMetrics entry)."""
        kind = metric.get("type")
        if kind == "Resource":
            res = metric["resource"]
            name, target = res["name"], res.get("target") or {}
            samples = self._util(ns, self._target_pods(d)) if name == "cpu" else []
            if not samples:
                raise MetricError("FailedGetResourceMetric", "the HPA was unable to compute the replica count: "
                                  f"failed to get {name} utilization: unable to get metrics for resource {name}: "
                                  "no metrics returned from resource metrics API")
            util = sum(u[0] for _, u in samples) / len(samples)
            value = sum(u[0] / 100 * self._cpu_request(p) for p, u in samples) / len(samples)
            if target.get("type", "Utilization") == "Utilization":
                ratio = util / float(target.get("averageUtilization") or 80)
            else:
                ratio = value / (parse_quantity(target.get("averageValue")) or 1.0)
            desired = current if abs(ratio - 1) <= TOLERANCE else math.ceil(ratio * len(samples))
            entry = {"type": "Resource", "resource": {"name": name, "current": {
                "averageUtilization": round(util), "averageValue": _quantity(value)}}}
            return desired, f"{name} resource utilization (percentage of request)", entry
        if kind == "External":
            ext = metric["external"]
            name, selector, target = ext["metric"]["name"], ext["metric"].get("selector"), ext.get("target") or {}
            pods = [p for p in self.store.iter_all("pods") if p["metadata"].get("namespace") == ns
                    and pod_active(p) and pod_ready(p) and selector_matches(selector, p["metadata"].get("labels"))]
            values = [v for _, u in self._util(ns, pods) if (v := _metric_value(name, u)) is not None]
            if not values:
                raise MetricError("FailedGetExternalMetric", "the HPA was unable to compute the replica count: "
                                  f"unable to get external metric {ns}/{name}/{_go_selector(selector)}: "
                                  "no metrics returned from external metrics API")
            usage = sum(values)
            label = f"external metric {name}({_go_selector(selector)})"
            if target.get("type") == "Value":
                ratio = usage / (parse_quantity(target.get("value")) or 1.0)
                desired = current if abs(ratio - 1) <= TOLERANCE else math.ceil(ratio * current)
                current_value = {"value": _quantity(usage)}
            else:
                per_pod = parse_quantity(target.get("averageValue")) or 1.0
                ratio = usage / (per_pod * max(current, 1))
                desired = current if abs(ratio - 1) <= TOLERANCE else math.ceil(usage / per_pod)
                current_value = {"averageValue": _quantity(usage / max(status_replicas, 1))}
            entry = {"type": "External", "external": {"metric": copy_object(ext["metric"]), "current": current_value}}
            return desired, label, entry
        if kind == "Pods":
            pm = metric["pods"]
            name, target = pm["metric"]["name"], pm.get("target") or {}
            samples = self._util(ns, self._target_pods(d))
            values = [v for _, u in samples if (v := _metric_value(name, u)) is not None]
            if not values:
                raise MetricError("FailedGetPodsMetric", "the HPA was unable to compute the replica count: "
                                  f"unable to get metric {name}: no metrics returned from custom metrics API")
            avg = sum(values) / len(values)
            ratio = avg / (parse_quantity(target.get("averageValue")) or 1.0)
            desired = current if abs(ratio - 1) <= TOLERANCE else math.ceil(ratio * len(values))
            entry = {"type": "Pods", "pods": {"metric": copy_object(pm["metric"]),
                                              "current": {"averageValue": _quantity(avg)}}}
            return desired, f"pods metric {name}", entry
        raise MetricError("InvalidMetricSourceType", f"the HPA was unable to compute the replica count: "
                          f"unknown metric source type {kind!r}")

    @staticmethod
    def _cpu_request(pod: Obj) -> float:
        return sum(container_requests(c).get("cpu", 0.0) for c in pod["spec"].get("containers") or [])

    # ---- reconcile --------------------------------------------------------------------------------
    def reconcile(self, key: Hashable) -> None:
        ns, name = key  # type: ignore[misc]
        hpa = self.store.try_get("horizontalpodautoscalers", ns, name)
        if hpa is None:
            return
        spec, old = hpa.get("spec") or {}, hpa.get("status") or {}
        now = self.clock.timestamp()
        conds: dict[str, tuple[str, str, str]] = {}
        ref = spec.get("scaleTargetRef") or {}
        target = self.store.try_get("deployments", ns, ref.get("name", "")) if ref.get("kind") == "Deployment" else None
        status: dict[str, Any] = {}  # the real controller's setStatus writes no observedGeneration
        if target is None:
            conds["AbleToScale"] = ("False", "FailedGetScale", "the HPA controller was unable to get the target's "
                                    f'current scale: deployments.apps "{ref.get("name")}" not found')
            status.update(currentReplicas=old.get("currentReplicas", 0), desiredReplicas=old.get("desiredReplicas", 0),
                          currentMetrics=None)
            self._write(hpa, status, conds, now)
            return
        current = replicas(target)
        status_replicas = int((target.get("status") or {}).get("replicas") or 0)
        min_r, max_r = int(spec.get("minReplicas") or 1), int(spec.get("maxReplicas") or 1)
        desired, reason, metrics = self._desired(key, hpa, target, current, status_replicas, min_r, max_r, conds)
        status["currentMetrics"] = metrics or None  # v2 serializes it without omitempty: null when none
        if old.get("lastScaleTime"):
            status["lastScaleTime"] = old["lastScaleTime"]
        if desired != current:
            scaled = copy_object(target)
            scaled["spec"]["replicas"] = desired
            self.store.replace("deployments", scaled, check_version=False)
            status["lastScaleTime"] = now
            conds["AbleToScale"] = ("True", "SucceededRescale",
                                    f"the HPA controller was able to update the target scale to {desired}")
            record_event(self.ctx, hpa, "SuccessfulRescale", f"New size: {desired}; reason: {reason}",
                         component=COMPONENT)
        conds.setdefault("AbleToScale", ("True", "ReadyForNewScale", "recommended size matches current size"))
        status.update(currentReplicas=status_replicas, desiredReplicas=desired)
        self._write(hpa, status, conds, now)

    def _desired(self, key: Key, hpa: Obj, target: Obj, current: int, status_replicas: int, min_r: int,
                 max_r: int, conds: dict[str, tuple[str, str, str]]) -> tuple[int, str, list[dict[str, Any]]]:
        if current == 0 and min_r != 0:
            conds["ScalingActive"] = ("False", "ScalingDisabled",
                                      "scaling is disabled since the replica count of the target is zero")
            return 0, "", []
        if current > max_r:
            return max_r, "Current number of replicas above Spec.MaxReplicas", []
        if current < min_r:
            return min_r, "Current number of replicas below Spec.MinReplicas", []
        proposals: list[tuple[int, str]] = []
        entries, errors = [], []
        for metric in _metrics(hpa.get("spec") or {}):
            try:
                want, label, entry = self._propose(key[0], metric, target, current, status_replicas)
            except MetricError as err:
                errors.append(err)
                continue
            proposals.append((want, label))
            entries.append(entry)
        if not proposals:
            conds["ScalingActive"] = ("False", errors[0].reason, errors[0].message)
            return current, "", entries
        want, label = max(proposals, key=lambda p: p[0])
        conds["ScalingActive"] = ("True", "ValidMetricFound",
                                  f"the HPA was able to successfully calculate a replica count from {label}")
        reason = f"{label} above target" if want > current else "All metrics below target"
        desired = self._stabilize(key, hpa, current, want, conds)
        if desired > max_r:
            desired = max_r
            conds["ScalingLimited"] = ("True", "TooManyReplicas",
                                       "the desired replica count is more than the maximum replica count")
        elif desired < min_r:
            desired = min_r
            conds["ScalingLimited"] = ("True", "TooFewReplicas",
                                       "the desired replica count is less than the minimum replica count")
        conds.setdefault("ScalingLimited", ("False", "DesiredWithinRange",
                                            "the desired count is within the acceptable range"))
        return desired, reason, entries

    def _stabilize(self, key: Key, hpa: Obj, current: int, want: int,
                   conds: dict[str, tuple[str, str, str]]) -> int:
        """Stabilisation windows (down 300 s, up 0 s by default) and the default scale-up rate limit."""
        behavior = (hpa.get("spec") or {}).get("behavior") or {}
        up_window = float((behavior.get("scaleUp") or {}).get("stabilizationWindowSeconds") or 0)
        down = (behavior.get("scaleDown") or {}).get("stabilizationWindowSeconds")
        down_window = DOWNSCALE_WINDOW if down is None else float(down)
        now = self.clock.sim_elapsed()
        recs = [r for r in self._recs.get(key, []) if now - r[0] <= max(up_window, down_window)]
        recs.append((now, want))
        self._recs[key] = recs
        up_rec = min(r for t, r in recs if now - t <= up_window or t == now)
        down_rec = max(r for t, r in recs if now - t <= down_window or t == now)
        stabilized = current
        if stabilized < up_rec:
            stabilized = up_rec
        if stabilized > down_rec:
            stabilized = down_rec
        if stabilized != want:
            conds["AbleToScale"] = (
                ("True", "ScaleDownStabilized",
                 "recent recommendations were higher than current one, applying the highest recent recommendation")
                if want < current else
                ("True", "ScaleUpStabilized",
                 "recent recommendations were lower than current one, applying the lowest recent recommendation"))
        limit = max(current * 2, current + 4)  # default scaleUp policies: 100 % or 4 pods per 15 s
        if stabilized > limit:
            stabilized = limit
            conds["ScalingLimited"] = ("True", "ScaleUpLimit",
                                       "the desired replica count is increasing faster than the maximum scale rate")
        return stabilized

    def _write(self, hpa: Obj, status: dict[str, Any], conds: dict[str, tuple[str, str, str]], now: str) -> None:
        old_status = hpa.get("status") or {}
        out = []
        for type_ in ("AbleToScale", "ScalingActive", "ScalingLimited"):
            if type_ not in conds:
                continue
            state, reason, message = conds[type_]
            prev = get_condition(old_status, type_)
            since = prev["lastTransitionTime"] if prev and prev.get("status") == state else now
            out.append({"type": type_, "status": state, "lastTransitionTime": since, "reason": reason,
                        "message": message})
        status["conditions"] = out
        if status != old_status:
            updated = copy_object(hpa)
            updated["status"] = status
            self.store.replace("horizontalpodautoscalers", updated, check_version=False)
