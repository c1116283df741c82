"""The scheduler: binds Pending pods to Ready nodes with room for their requests, GPUs first.

Filters run in kube-scheduler's order (NodeUnschedulable, TaintToleration, NodeAffinity,
NodeResourcesFit) and the first failing one gives each node its reason, so a pod that fits nowhere
gets kube's exact message: ``0/4 nodes are available: 4 Insufficient nvidia.com/gpu.``. Bound GPU
pods get the GPU indexes they hold in ``GPU_ANNOTATION`` (what the DCGM exporter and the simulation
read). Unschedulable pods are retried only when something that could make room happens.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..context import GPU_ANNOTATION
from ..store import Obj, copy_object
from .base import Controller, get_condition, node_ready, parse_quantity, pod_requests
from .events import record_event
from .keys import Key, key_of

COMPONENT = "default-scheduler"
GPU = "nvidia.com/gpu"
_RELEVANT_NODE_FIELDS = ("unschedulable", "taints")


@dataclass
class NodeUsage:
    """What is already requested on a node (bound pods that have not finished)."""

    requested: Counter[str] = field(default_factory=Counter)
    pods: int = 0
    gpus_in_use: set[int] = field(default_factory=set)


def tolerates(tolerations: list[Mapping[str, Any]] | None, taint: Mapping[str, Any]) -> bool:
    for tol in tolerations or []:
        if tol.get("effect") and tol["effect"] != taint.get("effect"):
            continue
        if tol.get("operator") == "Exists":
            if not tol.get("key") or tol["key"] == taint.get("key"):
                return True
        elif tol.get("key") == taint.get("key") and (tol.get("value") or "") == (taint.get("value") or ""):
            return True
    return False


def node_taints(node: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The node's taints, plus the one the node lifecycle controller is about to add when it is not
    Ready (so a pod never lands on a dead node in the instant before the taint is written)."""
    taints = list(node.get("spec", {}).get("taints") or [])
    if not node_ready(node) and not any(t.get("key", "").startswith("node.kubernetes.io/") for t in taints):
        cond = get_condition(node.get("status"), "Ready")
        key = "node.kubernetes.io/unreachable" if cond and cond.get("status") == "Unknown" else \
            "node.kubernetes.io/not-ready"
        taints.append({"key": key, "effect": "NoSchedule"})
    return taints


def _term_matches(term: Mapping[str, Any], node: Mapping[str, Any]) -> bool:
    labels = node["metadata"].get("labels") or {}
    for expr in term.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        has = key in labels
        if (op == "In" and labels.get(key) not in values) or (op == "NotIn" and labels.get(key) in values) or \
                (op == "Exists" and not has) or (op == "DoesNotExist" and has):
            return False
    for expr in term.get("matchFields") or []:
        if expr.get("key") == "metadata.name":
            name = node["metadata"]["name"]
            if (expr.get("operator") == "In") != (name in (expr.get("values") or [])):
                return False
    return True


def affinity_matches(pod: Mapping[str, Any], node: Mapping[str, Any]) -> bool:
    spec = pod.get("spec", {})
    labels = node["metadata"].get("labels") or {}
    if any(labels.get(k) != v for k, v in (spec.get("nodeSelector") or {}).items()):
        return False
    required = (((spec.get("affinity") or {}).get("nodeAffinity") or {})
                .get("requiredDuringSchedulingIgnoredDuringExecution") or {})
    terms = required.get("nodeSelectorTerms") or []
    return not terms or any(_term_matches(t, node) for t in terms)


def filter_node(pod: Mapping[str, Any], node: Mapping[str, Any], usage: NodeUsage) -> list[str]:
    """Why ``pod`` cannot go to ``node`` (empty when it fits), worded as kube-scheduler words it."""
    spec = pod.get("spec", {})
    tolerations = spec.get("tolerations")
    if node.get("spec", {}).get("unschedulable") and not tolerates(
            tolerations, {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}):
        return ["node(s) were unschedulable"]
    for taint in node_taints(node):
        if taint.get("effect") in ("NoSchedule", "NoExecute") and not tolerates(tolerations, taint):
            return [f"node(s) had untolerated taint {{{taint.get('key')}: {taint.get('value') or ''}}}"]
    if not affinity_matches(pod, node):
        return ["node(s) didn't match Pod's node affinity/selector"]
    allocatable = node.get("status", {}).get("allocatable") or {}
    reasons = []
    if usage.pods + 1 > parse_quantity(allocatable.get("pods", 110)):
        reasons.append("Too many pods")
    for resource, amount in sorted(pod_requests(pod).items()):
        if amount <= 0:
            continue
        free = parse_quantity(allocatable.get(resource, 0)) - usage.requested[resource]
        if amount > free + 1e-9:
            reasons.append(f"Insufficient {resource}")
    return reasons


def unschedulable_message(total_nodes: int, reasons: Counter[str], preemption: Counter[str] | None = None) -> str:
    """kube-scheduler's FitError text, with the preemption sentence it appends since v1.24 (``preemption``:
    per failing node, what preemption found there — see :func:`preemption_verdict`)."""
    if total_nodes == 0:
        return "no nodes available to schedule pods"
    parts = sorted(f"{count} {reason}" for reason, count in reasons.items())
    message = f"0/{total_nodes} nodes are available: {', '.join(parts)}."
    if preemption:
        verdicts = ", ".join(sorted(f"{count} {what}" for what, count in preemption.items()))
        message += f" preemption: 0/{total_nodes} nodes are available: {verdicts}."
    return message


def preemption_verdict(why: list[str]) -> str:
    """What preemption finds on a node that does not fit: evicting pods cannot fix a taint, a selector or a
    NotReady node; a resource shortage could be, but the sandbox runs no lower-priority pods to evict."""
    if all(w.startswith(("Insufficient ", "Too many pods")) for w in why):
        return "No preemption victims found for incoming pod"
    return "Preemption is not helpful for scheduling"


def gpu_indexes(pod: Mapping[str, Any]) -> list[int]:
    text = (pod["metadata"].get("annotations") or {}).get(GPU_ANNOTATION) or ""
    return [int(x) for x in text.split(",") if x.strip().isdigit()]


class Scheduler(Controller):
    name = "scheduler"
    plurals = ("pods", "nodes")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._unschedulable: set[Key] = set()

    # ---- wiring ---------------------------------------------------------------------------------
    @staticmethod
    def _wants_scheduling(pod: Mapping[str, Any]) -> bool:
        spec = pod.get("spec", {})
        return (not spec.get("nodeName") and not pod["metadata"].get("deletionTimestamp")
                and spec.get("schedulerName", "default-scheduler") == "default-scheduler"
                and (pod.get("status") or {}).get("phase", "Pending") == "Pending")

    def on_change(self, type_: str, plural: str, obj: Obj, old: Obj | None) -> None:
        if plural == "nodes":
            if type_ == "ADDED" or (type_ == "MODIFIED" and old is not None and self._node_changed(old, obj)):
                self._retry_unschedulable()
            return
        key = key_of(obj)
        if type_ == "DELETED":
            self._unschedulable.discard(key)
            if obj.get("spec", {}).get("nodeName"):
                self._retry_unschedulable()  # its resources are free now
        elif self._wants_scheduling(obj):
            if type_ == "ADDED" or key not in self._unschedulable:
                self.enqueue(key)
        elif old is not None and (obj.get("status") or {}).get("phase") in ("Succeeded", "Failed") and \
                (old.get("status") or {}).get("phase") not in ("Succeeded", "Failed"):
            self._retry_unschedulable()

    @staticmethod
    def _node_changed(old: Obj, new: Obj) -> bool:
        return (any(old.get("spec", {}).get(f) != new.get("spec", {}).get(f) for f in _RELEVANT_NODE_FIELDS)
                or node_ready(old) != node_ready(new)
                or old.get("status", {}).get("allocatable") != new.get("status", {}).get("allocatable")
                or old["metadata"].get("labels") != new["metadata"].get("labels"))

    def _retry_unschedulable(self) -> None:
        for key in sorted(self._unschedulable):
            self.enqueue(key)

    def initial_keys(self) -> list[Key]:
        return [key_of(p) for p in self.store.iter_all("pods") if self._wants_scheduling(p)]

    # ---- scheduling -------------------------------------------------------------------------------
    def _usage(self) -> dict[str, NodeUsage]:
        usage: dict[str, NodeUsage] = {}
        for pod in self.store.iter_all("pods"):
            node = pod.get("spec", {}).get("nodeName")
            if not node or (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
                continue
            u = usage.setdefault(node, NodeUsage())
            u.requested.update(pod_requests(pod))
            u.pods += 1
            u.gpus_in_use.update(gpu_indexes(pod))
        return usage

    def reconcile_batch(self, keys: list[Hashable]) -> None:
        pods = []
        for key in keys:
            pod = self.store.try_get("pods", *key)  # type: ignore[misc]
            if pod is None or not self._wants_scheduling(pod):
                self._unschedulable.discard(key)  # type: ignore[arg-type]
            else:
                pods.append(pod)
        if not pods:
            return
        usage = self._usage()
        nodes = sorted(self.store.iter_all("nodes"), key=lambda n: n["metadata"]["name"])
        pods.sort(key=lambda p: (-int(p["spec"].get("priority") or 0), p["metadata"].get("creationTimestamp", ""),
                                 p["metadata"]["name"]))
        for pod in pods:
            self._schedule_one(pod, nodes, usage)

    def _schedule_one(self, pod: Obj, nodes: list[Obj], usage: dict[str, NodeUsage]) -> None:
        reasons: Counter[str] = Counter()
        preemption: Counter[str] = Counter()
        fits = []
        for node in nodes:
            u = usage.setdefault(node["metadata"]["name"], NodeUsage())
            why = filter_node(pod, node, u)
            if why:
                reasons.update(set(why))
                preemption[preemption_verdict(why)] += 1
            else:
                fits.append(node)
        if not fits:
            self._mark_unschedulable(pod, unschedulable_message(len(nodes), reasons, preemption))
            return
        self._bind(pod, min(fits, key=lambda n: self._score(pod, n, usage)), usage)

    @staticmethod
    def _score(pod: Obj, node: Obj, usage: dict[str, NodeUsage]) -> tuple[float, str]:
        """Least allocated first (spreads replicas, as the default NodeResourcesFit scoring does)."""
        allocatable = node.get("status", {}).get("allocatable") or {}
        u = usage[node["metadata"]["name"]]
        resource = GPU if pod_requests(pod).get(GPU) else "cpu"
        total = parse_quantity(allocatable.get(resource, 0)) or 1.0
        return (u.requested[resource] / total, node["metadata"]["name"])

    def _bind(self, pod: Obj, node: Obj, usage: dict[str, NodeUsage]) -> None:
        node_name = node["metadata"]["name"]
        u = usage[node_name]
        requests = pod_requests(pod)
        updated = copy_object(pod)
        gpus = int(requests.get(GPU, 0))
        if gpus:
            capacity = int(parse_quantity((node.get("status", {}).get("allocatable") or {}).get(GPU, 0)))
            chosen = [i for i in range(capacity) if i not in u.gpus_in_use][:gpus]
            updated["metadata"].setdefault("annotations", {})[GPU_ANNOTATION] = ",".join(map(str, chosen))
            u.gpus_in_use.update(chosen)
        updated["spec"]["nodeName"] = node_name
        status = updated.setdefault("status", {})
        status["phase"] = "Pending"
        now = self.clock.timestamp()
        status["conditions"] = [c for c in status.get("conditions") or [] if c.get("type") != "PodScheduled"] + [
            {"type": "PodScheduled", "status": "True", "lastProbeTime": None, "lastTransitionTime": now}]
        u.requested.update(requests)
        u.pods += 1
        self._unschedulable.discard(key_of(pod))
        self.store.replace("pods", updated, check_version=False)
        ns, name = key_of(pod)
        record_event(self.ctx, updated, "Scheduled", f"Successfully assigned {ns}/{name} to {node_name}",
                     component=COMPONENT, action="Binding")

    def _mark_unschedulable(self, pod: Obj, message: str) -> None:
        self._unschedulable.add(key_of(pod))
        old = get_condition(pod.get("status"), "PodScheduled")
        if not (old and old.get("status") == "False" and old.get("message") == message):
            updated = copy_object(pod)
            status = updated.setdefault("status", {})
            status["phase"] = "Pending"
            since = old["lastTransitionTime"] if old and old.get("status") == "False" else self.clock.timestamp()
            status["conditions"] = [c for c in status.get("conditions") or [] if c.get("type") != "PodScheduled"] + [
                {"type": "PodScheduled", "status": "False", "lastProbeTime": None, "lastTransitionTime": since,
                 "reason": "Unschedulable", "message": message}]
            pod = self.store.replace("pods", updated, check_version=False)
        record_event(self.ctx, pod, "FailedScheduling", message, "Warning", component=COMPONENT, action="Scheduling")
