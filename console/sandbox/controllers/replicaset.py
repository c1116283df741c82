"""The ReplicaSet controller: keep spec.replicas active pods, delete the least valuable ones first
on scale-down (kube's ranking), and report replicas / ready / available counts.
"""

from __future__ import annotations

import time
from collections.abc import Hashable, Mapping
from typing import Any

from ..clock import parse_timestamp
from ..store import Obj, copy_object
from .base import Controller, get_condition, owner_reference, pod_active, pod_ready
from .events import record_event
from .keys import Key, controller_ref, key_of
from .pods import graceful_delete, pod_from_template, unique_pod_name

COMPONENT = "replicaset-controller"
_BURST = 500  # pods created per pass at most (the real controller's slow-start batches are similar)
_PHASE_RANK = {"Pending": 0, "Unknown": 1, "Running": 2}


def _epoch(ts: str | None) -> float:
    try:
        return parse_timestamp(ts).timestamp() if ts else 0.0
    except ValueError:
        return 0.0


def ready_since(pod: Mapping[str, Any]) -> float | None:
    """Wall time (epoch seconds) the pod became Ready, or None when it is not Ready."""
    cond = get_condition(pod.get("status"), "Ready")
    if not cond or cond.get("status") != "True":
        return None
    return _epoch(cond.get("lastTransitionTime"))


def deletion_rank(pod: Mapping[str, Any]) -> tuple[Any, ...]:
    """Sort key: the pods to delete first sort first (unbound, pending, not ready, ready the shortest,
    most restarts, newest) — controller.ActivePods ordering."""
    status = pod.get("status") or {}
    since = ready_since(pod)
    restarts = sum(int(c.get("restartCount") or 0) for c in status.get("containerStatuses") or [])
    return (
        bool(pod.get("spec", {}).get("nodeName")),
        _PHASE_RANK.get(status.get("phase", "Pending"), 0),
        since is not None,
        -(since or 0.0),
        -restarts,
        -_epoch(pod["metadata"].get("creationTimestamp")),
        pod["metadata"]["name"],
    )


class ReplicaSetController(Controller):
    name = "replicaset"
    plurals = ("replicasets", "pods")

    def on_change(self, type_: str, plural: str, obj: Obj, old: Obj | None) -> None:
        if plural == "replicasets":
            self.enqueue(key_of(obj))
            return
        ref = controller_ref(obj)
        if ref and ref.get("kind") == "ReplicaSet":
            self.enqueue((obj["metadata"].get("namespace") or "", ref["name"]))

    def initial_keys(self) -> list[Key]:
        return [key_of(rs) for rs in self.store.iter_all("replicasets")]

    def reconcile(self, key: Hashable) -> None:
        ns, name = key  # type: ignore[misc]
        rs = self.store.try_get("replicasets", ns, name)
        if rs is None:
            return
        pods = [p for p in self.index.owned("pods", rs["metadata"]["uid"]) if pod_active(p)]
        want = int(rs["spec"].get("replicas") if rs["spec"].get("replicas") is not None else 1)
        diff = len(pods) - want
        if diff < 0:
            for _ in range(min(-diff, _BURST)):
                self._create_pod(rs)
            if -diff > _BURST:
                self.enqueue(key)
        elif diff > 0:
            for pod in sorted(pods, key=deletion_rank)[:diff]:
                graceful_delete(self.ctx, pod)
                record_event(self.ctx, rs, "SuccessfulDelete", f"Deleted pod: {pod['metadata']['name']}",
                             component=COMPONENT)
        self._update_status(key, rs)

    def _create_pod(self, rs: Obj) -> None:
        ns, name = key_of(rs)
        pod = pod_from_template(
            rs["spec"]["template"], namespace=ns, name=unique_pod_name(self.ctx, ns, f"{name}-"),
            generate_name=f"{name}-", owner_ref=owner_reference(rs),
        )
        created = self.store.create("pods", pod)
        record_event(self.ctx, rs, "SuccessfulCreate", f"Created pod: {created['metadata']['name']}",
                     component=COMPONENT)

    def _update_status(self, key: Key, rs: Obj) -> None:
        rs = self.store.get("replicasets", *key)
        pods = [p for p in self.index.owned("pods", rs["metadata"]["uid"]) if pod_active(p)]
        status, pending = replicaset_status(rs, pods, self.clock.speed)
        if pending is not None:  # a pod becomes available once minReadySeconds have passed
            self.enqueue_after(pending, key, timer_key=("available", *key))
        if status != rs.get("status"):
            updated = copy_object(rs)
            updated["status"] = status
            self.store.replace("replicasets", updated, check_version=False)


def replicaset_status(rs: Mapping[str, Any], pods: list[Obj],
                      speed: float = 1.0) -> tuple[dict[str, Any], float | None]:
    """ReplicaSet status over its active pods (zero counters omitted, except replicas), and the
    simulated seconds until a Ready pod passes minReadySeconds (None when nothing is waiting)."""
    template_labels = (rs["spec"].get("template", {}).get("metadata") or {}).get("labels") or {}
    min_ready = int(rs["spec"].get("minReadySeconds") or 0)
    now = time.time()
    ready = available = labelled = 0
    recheck: float | None = None
    for pod in pods:
        labels = pod["metadata"].get("labels") or {}
        if all(labels.get(k) == v for k, v in template_labels.items()):
            labelled += 1
        if pod_ready(pod):
            ready += 1
            since = ready_since(pod) or now
            sim_ready_for = (now - since) * speed
            if min_ready <= 0 or sim_ready_for >= min_ready:
                available += 1
            else:
                left = min_ready - sim_ready_for
                recheck = left if recheck is None else min(recheck, left)
    status: dict[str, Any] = {"replicas": len(pods)}
    for field, value in (("fullyLabeledReplicas", labelled), ("readyReplicas", ready),
                         ("availableReplicas", available)):
        if value:
            status[field] = value
    status["observedGeneration"] = rs["metadata"].get("generation", 1)
    return status, (None if recheck is None else recheck + 0.1)
