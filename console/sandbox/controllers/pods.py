"""Pods as the API server and kubelet shape them: defaults, names, QoS class, container statuses and
pod conditions. Shared by the ReplicaSet/DaemonSet controllers (creation), the kubelet (status) and
the scenarios (pods built directly in their steady state must look exactly like kubelet-made ones,
or the controllers would rewrite 10,000 of them at start).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..store import Obj, copy_object
from .base import get_condition

if TYPE_CHECKING:
    from ..context import SandboxContext

_NAME_CHARS = "bcdfghjklmnpqrstvwxz2456789"  # apimachinery's rand.String alphabet (no vowels)

# The tolerations the DefaultTolerationSeconds admission plugin adds to every pod.
DEFAULT_TOLERATIONS = [
    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
]


def random_name(ctx: SandboxContext, prefix: str, n: int = 5) -> str:
    """``prefix`` + n chars from the seeded rng (so a scenario replays with the same pod names)."""
    return prefix + "".join(ctx.rng.choice(_NAME_CHARS) for _ in range(n))


def unique_pod_name(ctx: SandboxContext, namespace: str, prefix: str) -> str:
    while True:
        name = random_name(ctx, prefix)
        if ctx.store.try_get("pods", namespace, name) is None:
            return name


def _default_container(c: dict[str, Any]) -> None:
    image = str(c.get("image", ""))
    tag = image.rsplit("/", 1)[-1].partition(":")[2] if "@" not in image else "digest"
    c.setdefault("imagePullPolicy", "Always" if tag in ("", "latest") else "IfNotPresent")
    c.setdefault("resources", {})
    c.setdefault("terminationMessagePath", "/dev/termination-log")
    c.setdefault("terminationMessagePolicy", "File")
    for port in c.get("ports") or []:
        port.setdefault("protocol", "TCP")


def apply_pod_defaults(spec: dict[str, Any]) -> dict[str, Any]:
    """Fill what the API server's defaulting and admission would (in place; returns ``spec``)."""
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("serviceAccountName", "default")
    spec.setdefault("serviceAccount", spec["serviceAccountName"])
    spec.setdefault("securityContext", {})
    spec.setdefault("enableServiceLinks", True)
    spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
    spec.setdefault("priority", 0)
    for c in spec.get("containers") or []:
        _default_container(c)
    tolerations = spec.setdefault("tolerations", [])
    for tol in DEFAULT_TOLERATIONS:
        if not any(t.get("key") == tol["key"] and t.get("effect") in (None, "", "NoExecute") for t in tolerations):
            tolerations.append(dict(tol))
    return spec


def qos_class(spec: Mapping[str, Any]) -> str:
    """Guaranteed / Burstable / BestEffort from the containers' cpu and memory requests and limits."""
    any_set, guaranteed = False, True
    for c in spec.get("containers") or []:
        res = c.get("resources") or {}
        limits, requests = res.get("limits") or {}, res.get("requests") or {}
        for r in ("cpu", "memory"):
            if r in limits or r in requests:
                any_set = True
            if r not in limits or requests.get(r, limits[r]) != limits[r]:
                guaranteed = False
    if not any_set:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


def pod_from_template(
    template: Mapping[str, Any],
    *,
    namespace: str,
    name: str,
    generate_name: str,
    owner_ref: Mapping[str, Any],
    extra_labels: Mapping[str, str] | None = None,
) -> Obj:
    """A new Pending pod from a pod template (the object the ReplicaSet controller POSTs)."""
    tmeta = template.get("metadata") or {}
    spec = apply_pod_defaults(copy_object(template.get("spec") or {}))
    meta: dict[str, Any] = {
        "name": name,
        "generateName": generate_name,
        "namespace": namespace,
        "labels": {**(tmeta.get("labels") or {}), **(extra_labels or {})},
        "ownerReferences": [dict(owner_ref)],
    }
    if tmeta.get("annotations"):
        meta["annotations"] = dict(tmeta["annotations"])
    return {"metadata": meta, "spec": spec, "status": {"phase": "Pending", "qosClass": qos_class(spec)}}


def graceful_delete(ctx: SandboxContext, pod: Obj) -> None:
    """Delete a pod as the API server does: an unbound pod goes at once; a bound one is marked with a
    deletionTimestamp and the kubelet removes it after its (simulated) termination."""
    meta = pod["metadata"]
    if meta.get("deletionTimestamp"):
        return
    if not pod.get("spec", {}).get("nodeName"):
        ctx.store.delete("pods", meta.get("namespace"), meta["name"])
        return
    updated = copy_object(pod)
    updated["metadata"]["deletionTimestamp"] = ctx.clock.timestamp()
    updated["metadata"]["deletionGracePeriodSeconds"] = pod["spec"].get("terminationGracePeriodSeconds", 30)
    ctx.store.replace("pods", updated, check_version=False)


# ---- status ---------------------------------------------------------------------------------------
def container_id(namespace: str, pod: str, container: str, attempt: int) -> str:
    """A stable containerd ID per (pod, container, attempt): the same whether the kubelet started the
    container or a scenario built the pod already running."""
    digest = hashlib.sha256(f"{namespace}/{pod}/{container}/{attempt}".encode()).hexdigest()
    return f"containerd://{digest}"


def image_id(ctx: SandboxContext, image: str) -> str:
    """What containerd reports as imageID: repo@digest (the catalog's manifest digest when known)."""
    found = ctx.catalog.resolve(image)
    if found is not None:
        return f"{ctx.catalog.registry_host}/{found.repository}@{found.manifest_digest()}"
    repo = image.split("@", 1)[0].rsplit(":", 1)[0] if ":" in image.rsplit("/", 1)[-1] else image
    return f"{repo}@sha256:{hashlib.sha256(image.encode()).hexdigest()}"


@dataclass
class ContainerView:
    """What the kubelet knows about one container, enough to render its containerStatus."""

    name: str
    image: str
    image_id: str = ""
    container_id: str = ""
    ready: bool = False
    started: bool = False
    restart_count: int = 0
    state: dict[str, Any] = field(default_factory=lambda: {"waiting": {"reason": "ContainerCreating"}})
    last_state: dict[str, Any] = field(default_factory=dict)

    def status(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "image": self.image,
            "imageID": self.image_id,
            "ready": self.ready,
            "restartCount": self.restart_count,
            "started": self.started,
            "state": self.state,
            "lastState": self.last_state,
        }
        if self.container_id:
            out["containerID"] = self.container_id
        return out


def _condition(old: Mapping[str, Any] | None, type_: str, ok: bool, now: str,
               reason: str | None = None, message: str | None = None) -> dict[str, Any]:
    status = "True" if ok else "False"
    since = old["lastTransitionTime"] if old and old.get("status") == status else now
    cond: dict[str, Any] = {"type": type_, "status": status, "lastProbeTime": None, "lastTransitionTime": since}
    if not ok and reason:
        cond["reason"] = reason
        cond["message"] = message
    return cond


def pod_status(
    pod: Mapping[str, Any],
    containers: Sequence[ContainerView],
    *,
    now: str,
    host_ip: str,
    pod_ip: str | None,
    start_time: str,
) -> dict[str, Any]:
    """The full pod status the kubelet reports for these containers (conditions keep their
    transition times while unchanged, so recomputing an unchanged pod is a no-op write)."""
    old = pod.get("status") or {}
    ever_ran = any(c.started or c.restart_count or c.last_state for c in containers)
    all_ready = bool(containers) and all(c.ready for c in containers)
    unready = [c.name for c in containers if not c.ready]
    msg = f"containers with unready status: [{' '.join(unready)}]"
    scheduled = get_condition(old, "PodScheduled") or _condition(None, "PodScheduled", True, now)
    conditions = [
        _condition(get_condition(old, "PodReadyToStartContainers"), "PodReadyToStartContainers", True, now),
        _condition(get_condition(old, "Initialized"), "Initialized", True, now),
        _condition(get_condition(old, "Ready"), "Ready", all_ready, now, "ContainersNotReady", msg),
        _condition(get_condition(old, "ContainersReady"), "ContainersReady", all_ready, now,
                   "ContainersNotReady", msg),
        scheduled,
    ]
    status: dict[str, Any] = {
        "phase": "Running" if ever_ran else "Pending",
        "conditions": conditions,
        "hostIP": host_ip,
        "hostIPs": [{"ip": host_ip}],
    }
    if pod_ip:
        status["podIP"] = pod_ip
        status["podIPs"] = [{"ip": pod_ip}]
    status["startTime"] = start_time
    status["containerStatuses"] = [c.status() for c in containers]
    status["qosClass"] = old.get("qosClass") or qos_class(pod.get("spec") or {})
    return status


def running_view(ctx: SandboxContext, namespace: str, pod: str, container: Mapping[str, Any], started_at: str,
                 *, ready: bool = True, restart_count: int = 0) -> ContainerView:
    """A container that is up (and, by default, passing its readiness probe)."""
    return ContainerView(
        name=container["name"],
        image=container["image"],
        image_id=image_id(ctx, container["image"]),
        container_id=container_id(namespace, pod, container["name"], restart_count),
        ready=ready,
        started=True,
        restart_count=restart_count,
        state={"running": {"startedAt": started_at}},
    )


def node_ip(node: Mapping[str, Any]) -> str:
    for addr in node.get("status", {}).get("addresses") or []:
        if addr.get("type") == "InternalIP":
            return str(addr["address"])
    return ""
