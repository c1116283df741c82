"""The DaemonSet controller: one pod per eligible node (the device plugin and DCGM exporter on every
GPU node), a one-at-a-time rolling update when the template changes, and the DaemonSet status
(desired / current / ready / available / updated) that `kubectl get ds` and the Compat panel read.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any

from ..store import Obj, copy_object
from .base import Controller, owner_reference, pod_active, pod_ready
from .events import record_event
from .keys import Key, controller_ref, key_of
from .pods import graceful_delete, pod_from_template, unique_pod_name
from .rollout import template_hash
from .scheduler import affinity_matches, node_taints, tolerates

COMPONENT = "daemonset-controller"
REVISION_LABEL = "controller-revision-hash"

# What the DaemonSet controller adds to every daemon pod so it stays on troubled nodes.
DAEMON_TOLERATIONS = [
    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/disk-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/memory-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/pid-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"},
]


def daemon_pod(ds: Mapping[str, Any], node_name: str, name: str, now: str) -> Obj:
    """A daemon pod pinned to ``node_name`` (bound directly, with the node affinity kube writes)."""
    ns = ds["metadata"]["namespace"]
    pod = pod_from_template(
        ds["spec"]["template"], namespace=ns, name=name, generate_name=f"{ds['metadata']['name']}-",
        owner_ref=owner_reference(ds),
        extra_labels={REVISION_LABEL: template_hash(ds["spec"]["template"]),
                      "pod-template-generation": str(ds["metadata"].get("generation", 1))},
    )
    spec = pod["spec"]
    spec["affinity"] = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node_name]}]}]}}}
    tolerations = [t for t in spec.get("tolerations") or []
                   if t.get("key") not in ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable")]
    spec["tolerations"] = tolerations + [dict(t) for t in DAEMON_TOLERATIONS]
    spec["nodeName"] = node_name
    pod["status"]["conditions"] = [{"type": "PodScheduled", "status": "True", "lastProbeTime": None,
                                    "lastTransitionTime": now}]
    return pod


def should_run(ds: Mapping[str, Any], node: Mapping[str, Any]) -> tuple[bool, bool]:
    """(should a daemon pod be created here, may an existing one keep running) — NodeShouldRunDaemonPod:
    a NoSchedule taint only keeps new pods away; an untolerated NoExecute taint evicts."""
    tspec = ds["spec"]["template"].get("spec", {})
    if not affinity_matches({"spec": tspec}, node):
        return False, False
    tolerations = (tspec.get("tolerations") or []) + DAEMON_TOLERATIONS
    untolerated = [t for t in node_taints(node)
                   if t.get("effect") in ("NoSchedule", "NoExecute") and not tolerates(tolerations, t)]
    if not untolerated:
        return True, True
    return False, not any(t.get("effect") == "NoExecute" for t in untolerated)


def daemonset_status(ds: Mapping[str, Any], nodes: list[Obj], pods: list[Obj]) -> dict[str, Any]:
    current = template_hash(ds["spec"]["template"])
    wanted = {n["metadata"]["name"] for n in nodes if should_run(ds, n)[0]}
    by_node: dict[str, list[Obj]] = {}
    for pod in pods:
        by_node.setdefault(pod["spec"].get("nodeName", ""), []).append(pod)
    scheduled = [n for n in wanted if by_node.get(n)]
    ready = sum(1 for n in scheduled if any(pod_ready(p) for p in by_node[n]))
    updated = sum(1 for n in scheduled if any(p["metadata"]["labels"].get(REVISION_LABEL) == current
                                              for p in by_node[n]))
    status = {
        "currentNumberScheduled": len(scheduled),
        "desiredNumberScheduled": len(wanted),
        "numberAvailable": ready,
        "numberMisscheduled": sum(1 for n in by_node if n not in wanted),
        "numberReady": ready,
        "numberUnavailable": len(wanted) - ready,
        "observedGeneration": ds["metadata"].get("generation", 1),
        "updatedNumberScheduled": updated,
    }
    return {k: v for k, v in status.items() if v or k in ("currentNumberScheduled", "desiredNumberScheduled",
                                                           "numberMisscheduled", "numberReady")}


class DaemonSetController(Controller):
    name = "daemonset"
    plurals = ("daemonsets", "nodes", "pods")

    def on_change(self, type_: str, plural: str, obj: Obj, old: Obj | None) -> None:
        if plural == "daemonsets":
            self.enqueue(key_of(obj))
        elif plural == "nodes":
            if old is None or type_ != "MODIFIED" or self._node_changed(old, obj):
                for ds in self.store.iter_all("daemonsets"):
                    self.enqueue(key_of(ds))
        else:
            ref = controller_ref(obj)
            if ref and ref.get("kind") == "DaemonSet":
                self.enqueue((obj["metadata"].get("namespace") or "", ref["name"]))

    @staticmethod
    def _node_changed(old: Obj, new: Obj) -> bool:
        return (old["metadata"].get("labels") != new["metadata"].get("labels")
                or old["spec"].get("taints") != new["spec"].get("taints"))

    def initial_keys(self) -> list[Key]:
        return [key_of(ds) for ds in self.store.iter_all("daemonsets")]

    def reconcile(self, key: Hashable) -> None:
        ns, name = key  # type: ignore[misc]
        ds = self.store.try_get("daemonsets", ns, name)
        if ds is None:
            return
        nodes = sorted(self.store.iter_all("nodes"), key=lambda n: n["metadata"]["name"])
        pods = [p for p in self.index.owned("pods", ds["metadata"]["uid"]) if pod_active(p)]
        by_node: dict[str, list[Obj]] = {}
        for pod in pods:
            by_node.setdefault(pod["spec"].get("nodeName", ""), []).append(pod)
        now = self.clock.timestamp()
        current = template_hash(ds["spec"]["template"])
        for node in nodes:
            node_name = node["metadata"]["name"]
            here = by_node.pop(node_name, [])
            run, keep = should_run(ds, node)
            if not keep:
                for pod in here:
                    self._delete(ds, pod)
            elif not here and run:
                pod = daemon_pod(ds, node_name, unique_pod_name(self.ctx, ns, f"{name}-"), now)
                created = self.store.create("pods", pod)
                record_event(self.ctx, ds, "SuccessfulCreate", f"Created pod: {created['metadata']['name']}",
                             component=COMPONENT)
            else:
                for extra in here[1:]:
                    self._delete(ds, extra)
        for stray in by_node.values():
            for pod in stray:
                self._delete(ds, pod)
        self._rolling_update(ds, current)
        pods = [p for p in self.index.owned("pods", ds["metadata"]["uid"]) if pod_active(p)]
        status = daemonset_status(ds, nodes, pods)
        if status != ds.get("status"):
            updated = copy_object(self.store.get("daemonsets", ns, name))
            updated["status"] = status
            self.store.replace("daemonsets", updated, check_version=False)

    def _rolling_update(self, ds: Obj, current: str) -> None:
        """Replace outdated daemon pods one node at a time (maxUnavailable 1)."""
        if (ds["spec"].get("updateStrategy") or {}).get("type") == "OnDelete":
            return
        pods = [p for p in self.index.owned("pods", ds["metadata"]["uid"])]
        unavailable = sum(1 for p in pods if not pod_ready(p) or p["metadata"].get("deletionTimestamp"))
        if unavailable:
            return
        outdated = [p for p in pods if (p["metadata"].get("labels") or {}).get(REVISION_LABEL) != current]
        if outdated:
            self._delete(ds, sorted(outdated, key=lambda p: p["spec"].get("nodeName", ""))[0])

    def _delete(self, ds: Obj, pod: Obj) -> None:
        graceful_delete(self.ctx, pod)
        record_event(self.ctx, ds, "SuccessfulDelete", f"Deleted pod: {pod['metadata']['name']}", component=COMPONENT)
