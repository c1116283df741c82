"""The incident timeline's records (TimelineEntry, AlertSpan), the scope of a timeline (a namespace or one
Deployment and what belongs to it) and the constants the builder shares. Pure, no I/O."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from console.alerts.model import AlertTarget, pod_deployment

KINDS = ("alert-start", "alert-end", "event", "restart", "oomkill", "rollout", "scale", "audit")
# tie order for entries of the same second: cause before effect
KIND_RANK = {"audit": 0, "rollout": 1, "scale": 2, "restart": 3, "oomkill": 3, "event": 4, "alert-start": 5,
         "alert-end": 6}
REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
CHANGE_CAUSE = "kubernetes.io/change-cause"
# The deployment controller's words: "Scaled up replica set NAME to N from M" (v1.26+), and "... to N" for a new
# ReplicaSet (and for every scale before v1.26, when the old size is not said).
SCALED = re.compile(r"Scaled (up|down) replica set (\S+) to (\d+)(?: from (\d+))?")
NEW_SIZE = re.compile(r"New size: (\d+)")
_ASSIGNED = re.compile(r"Successfully assigned \S+ to (\S+)")
TOLERANCE = timedelta(seconds=2)  # clocks and one-second timestamps
HPA_FOLLOW = timedelta(seconds=15)  # a ReplicaSet scaled this soon after an HPA rescale is the HPA's doing
AUDIT_FOLLOW = timedelta(seconds=30)  # the cluster's scale this soon after an audited scale is that scale
ALERT_MATCH = timedelta(seconds=60)
QUIET_FIELDS = ("rollingUpdate", "change-cause")  # audit fields left out of an entry's summary (kept in its detail)

Obj = Mapping[str, Any]
Ref = tuple[str, ...]


@dataclass(frozen=True)
class TimelineEntry:
    """One thing that happened. ``ref`` says where to jump: ``("pod", ns, name)``, ``("deployment", ns,
    name)`` (also for a ReplicaSet's events), ``("hpa", ns, name)``, ``("node", name)`` or ``("alert", name)``;
    in a namespace's timeline, events about other kinds give ``(kind.lower(), ns, name)``."""

    time: datetime
    kind: str  # one of KINDS
    severity: str  # critical | error | warning | info
    target: AlertTarget
    summary: str
    detail: dict[str, Any] = field(default_factory=dict, hash=False)
    ref: Ref = ()

    def to_json(self) -> dict[str, Any]:
        return {"time": iso(self.time), "kind": self.kind, "severity": self.severity,
                "target": {k: v for k, v in vars(self.target).items() if v is not None},
                "summary": self.summary, "detail": _jsonable(self.detail), "ref": list(self.ref)}


@dataclass(frozen=True)
class AlertSpan:
    """An alert that fired from ``start`` until ``end`` (None: still firing)."""

    name: str
    severity: str
    target: AlertTarget
    start: datetime | None
    end: datetime | None = None
    summary: str = ""
    source: str = "prometheus"


def iso(t: datetime | None) -> str | None:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if t else None


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


# ---- scope ---------------------------------------------------------------------------------------------------


def metadata_of(obj: Obj) -> Obj:
    return obj.get("metadata") or {}


def _owner(obj: Obj, kind: str) -> Obj | None:
    return next((o for o in metadata_of(obj).get("ownerReferences") or [] if o.get("kind") == kind), None)


def revisions_of(rs: Obj) -> list[int]:
    """Every revision a ReplicaSet has had: its current one and those in revision-history (an undo)."""
    ann = metadata_of(rs).get("annotations") or {}
    out = []
    for text in [ann.get(REVISION, ""), *str(ann.get(REVISION_HISTORY, "")).split(",")]:
        try:
            out.append(int(text))
        except (TypeError, ValueError):
            continue
    return sorted(set(out))


@dataclass
class Scope:
    """What belongs to the namespace or the Deployment: its ReplicaSets, pods (also deleted ones, by
    name), HPAs and nodes."""

    namespace: str
    deployment: str | None
    deployments: dict[str, Obj] = field(default_factory=dict)
    replicasets: dict[str, list[Obj]] = field(default_factory=dict)  # deployment → its ReplicaSets
    rs_owner: dict[str, str] = field(default_factory=dict)  # ReplicaSet → deployment
    pods: dict[str, Obj] = field(default_factory=dict)
    hpa_target: dict[str, str] = field(default_factory=dict)  # HPA → deployment
    nodes: set[str] = field(default_factory=set)

    @classmethod
    def build(cls, namespace: str, deployment: str | None, deployments: Iterable[Obj], replicasets: Iterable[Obj],
              pods: Iterable[Obj], hpas: Iterable[Obj]) -> Scope:
        scope = cls(namespace, deployment)
        for d in deployments:
            if metadata_of(d).get("namespace", namespace) == namespace:
                scope.deployments[metadata_of(d).get("name", "")] = d
        for rs in replicasets:
            owner = _owner(rs, "Deployment")
            if owner is None or metadata_of(rs).get("namespace", namespace) != namespace:
                continue
            live = scope.deployments.get(owner.get("name", ""))
            if live is not None and metadata_of(live).get("uid") and owner.get("uid") != metadata_of(live).get("uid"):
                continue  # a ReplicaSet of an older Deployment of the same name
            if scope.wants(owner.get("name")):
                scope.replicasets.setdefault(owner["name"], []).append(rs)
                scope.rs_owner[metadata_of(rs).get("name", "")] = owner["name"]
        for pod in pods:
            scope.add_pod(pod)
        for hpa in hpas:
            ref = (hpa.get("spec") or {}).get("scaleTargetRef") or {}
            if ref.get("kind") == "Deployment" and scope.wants(ref.get("name")):
                scope.hpa_target[metadata_of(hpa).get("name", "")] = ref["name"]
        if deployment:
            scope.deployments = {k: v for k, v in scope.deployments.items() if k == deployment}
        return scope

    def add_pod(self, pod: Obj, replace: bool = True) -> None:
        """Take a pod of the scope (``replace`` False: only if no pod of that name is known — for the pods an
        audited change replaced, which a live one of the same name outranks)."""
        name = metadata_of(pod).get("name", "")
        if metadata_of(pod).get("namespace", self.namespace) != self.namespace or not self.wants(pod_deployment(pod)):
            return
        if replace or name not in self.pods:
            self.pods[name] = pod
            if (pod.get("spec") or {}).get("nodeName"):
                self.nodes.add(pod["spec"]["nodeName"])

    def learn_nodes(self, events: Iterable[Obj]) -> None:
        """Add the nodes pods in scope were scheduled to (``Scheduled`` events), also of pods gone since —
        a lost node's pods are evicted and rescheduled elsewhere, but its NotReady events still matter."""
        for ev in events:
            inv = ev.get("involvedObject") or {}
            found = _ASSIGNED.search(ev.get("message") or "") if ev.get("reason") == "Scheduled" else None
            if found and inv.get("kind") == "Pod" and (inv.get("namespace") or self.namespace) == self.namespace:
                dep = self.pod_deployment(inv.get("name", ""))
                if self.wants(dep) and (dep is not None or self.deployment is None):
                    self.nodes.add(found.group(1))

    def wants(self, deployment: str | None) -> bool:
        return self.deployment is None or deployment == self.deployment

    def pod_deployment(self, name: str) -> str | None:
        """The Deployment of a pod that may be gone: by its ReplicaSet's name (``<rs>-<suffix>``)."""
        if name in self.pods:
            return pod_deployment(self.pods[name])
        rs = name.rsplit("-", 1)[0]
        if rs in self.rs_owner:
            return self.rs_owner[rs]
        for dep in ([self.deployment] if self.deployment else self.deployments):
            if re.fullmatch(rf"{re.escape(dep)}-[a-z0-9]{{5,10}}-[a-z0-9]{{5}}", name):
                return dep
        return None

    def rs_deployment(self, name: str) -> str | None:
        if name in self.rs_owner:
            return self.rs_owner[name]
        for dep in ([self.deployment] if self.deployment else self.deployments):
            if re.fullmatch(rf"{re.escape(dep)}-[a-z0-9]{{5,10}}", name):
                return dep
        return None

    def involved(self, inv: Obj) -> tuple[AlertTarget, Ref] | None:
        """The target and jump reference of an event's involvedObject, or None when out of scope."""
        kind, name, ns = inv.get("kind", ""), inv.get("name", ""), inv.get("namespace") or self.namespace
        if kind == "Node":
            return (AlertTarget(node=name), ("node", name)) if name in self.nodes else None
        if ns != self.namespace:
            return None
        if kind == "Pod":
            dep = self.pod_deployment(name)
            if self.deployment and dep != self.deployment:
                return None
            node = ((self.pods.get(name) or {}).get("spec") or {}).get("nodeName")
            return AlertTarget(ns, dep, name, node), ("pod", ns, name)
        if kind == "Deployment":
            return (AlertTarget(ns, name), ("deployment", ns, name)) if self.wants(name) else None
        if kind == "ReplicaSet":
            dep = self.rs_deployment(name)
            if self.deployment and dep != self.deployment:
                return None
            return AlertTarget(ns, dep), (("deployment", ns, dep) if dep else ("replicaset", ns, name))
        if kind == "HorizontalPodAutoscaler":
            if name not in self.hpa_target:
                return None
            return AlertTarget(ns, self.hpa_target[name]), ("hpa", ns, name)
        if self.deployment:
            return None
        return AlertTarget(ns), (kind.lower(), ns, name)

    def alert_in(self, target: AlertTarget) -> bool:
        if target.namespace is None:
            return target.node is not None and target.node in self.nodes
        if target.namespace != self.namespace:
            return False
        if not self.deployment:
            return True
        if target.deployment:
            return target.deployment == self.deployment
        if target.pod:
            return self.pod_deployment(target.pod) == self.deployment
        return target.node is not None and target.node in self.nodes


def in_window(t: datetime | None, start: datetime, end: datetime) -> bool:
    return t is not None and start <= t <= end + TOLERANCE
