"""What the API server fills in before storing an object: defaults, and the status a new object starts with.

Clients see the defaults (a Deployment created without a strategy reads back RollingUpdate 25%/25%, a
container's ``imagePullPolicy`` follows its tag), as kube-apiserver's defaulting functions set them.
"""

from __future__ import annotations

import copy
from typing import Any

Obj = dict[str, Any]
WORKLOADS = ("deployments", "replicasets", "daemonsets")


def _default_container(c: Obj) -> None:
    image = str(c.get("image") or "")
    tag = image.rsplit("/", 1)[-1]
    latest = "@" not in tag and (":" not in tag or tag.endswith(":latest"))
    c.setdefault("imagePullPolicy", "Always" if latest else "IfNotPresent")
    c.setdefault("terminationMessagePath", "/dev/termination-log")
    c.setdefault("terminationMessagePolicy", "File")
    c.setdefault("resources", {})
    for port in c.get("ports") or []:
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")


def default_pod_spec(spec: Obj) -> None:
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("securityContext", {})
    spec.setdefault("schedulerName", "default-scheduler")
    for key in ("containers", "initContainers"):
        for c in spec.get(key) or []:
            if isinstance(c, dict):
                _default_container(c)


def _default_workload(plural: str, obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    if plural != "daemonsets":
        spec.setdefault("replicas", 1)
    spec.setdefault("revisionHistoryLimit", 10)
    if plural == "deployments":
        spec.setdefault("progressDeadlineSeconds", 600)
        strategy = spec.setdefault("strategy", {})
        strategy.setdefault("type", "RollingUpdate")
        if strategy["type"] == "RollingUpdate":
            ru = strategy.setdefault("rollingUpdate", {})
            ru.setdefault("maxUnavailable", "25%")
            ru.setdefault("maxSurge", "25%")
    elif plural == "daemonsets":
        strategy = spec.setdefault("updateStrategy", {})
        strategy.setdefault("type", "RollingUpdate")
        if strategy["type"] == "RollingUpdate":
            strategy.setdefault("rollingUpdate", {"maxUnavailable": 1, "maxSurge": 0})
    template = spec.get("template")
    if isinstance(template, dict) and isinstance(template.get("spec"), dict):
        default_pod_spec(template["spec"])


def normalize(plural: str, obj: Obj) -> None:
    """Drop what Go's ``omitempty`` drops: a paused=false patch reads back with ``paused`` omitted."""
    spec = obj.get("spec")
    if plural == "deployments" and isinstance(spec, dict) and spec.get("paused") is False:
        del spec["paused"]


def apply_defaults(plural: str, obj: Obj) -> None:
    """Fill the fields the API server defaults on every write (in place)."""
    normalize(plural, obj)
    if plural in WORKLOADS:
        _default_workload(plural, obj)
    elif plural == "pods" and isinstance(obj.get("spec"), dict):
        default_pod_spec(obj["spec"])
    elif plural == "horizontalpodautoscalers":
        obj.setdefault("spec", {}).setdefault("minReplicas", 1)
    elif plural == "namespaces":
        obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
    elif plural == "services":
        spec = obj.setdefault("spec", {})
        spec.setdefault("type", "ClusterIP")
        spec.setdefault("sessionAffinity", "None")
        for port in spec.get("ports") or []:
            if isinstance(port, dict):
                port.setdefault("protocol", "TCP")
                port.setdefault("targetPort", port.get("port"))


def default_update(plural: str, new: Obj, old: Obj) -> None:
    """Defaults for an update, only if the stored object carries them already.

    Objects the scenario and controllers write straight into the store were never defaulted; adding
    defaults to their pod template on, say, a pause patch would change the template and look like a
    new revision to the deployment controller. Such objects are only normalized.
    """
    probe = copy.deepcopy(old)
    apply_defaults(plural, probe)
    if probe == old:
        apply_defaults(plural, new)
    else:
        normalize(plural, new)


def _qos_class(spec: Obj) -> str:
    containers = [c for c in spec.get("containers") or [] if isinstance(c, dict)]
    resources = [c.get("resources") or {} for c in containers]
    if not any(r.get("requests") or r.get("limits") for r in resources):
        return "BestEffort"
    guaranteed = all(
        (r.get("limits") or {}).get(res) and (r.get("requests") or {}).get(res, (r.get("limits") or {})[res])
        == (r.get("limits") or {})[res]
        for r in resources for res in ("cpu", "memory")
    )
    return "Guaranteed" if guaranteed else "Burstable"


def initial_status(plural: str, obj: Obj) -> Obj | None:
    """The status a freshly created object starts with (None: keep what the client sent, as for nodes)."""
    if plural == "nodes":
        return None
    if plural == "pods":
        return {"phase": "Pending", "qosClass": _qos_class(obj.get("spec") or {})}
    if plural == "namespaces":
        return {"phase": "Active"}
    if plural == "persistentvolumeclaims":
        return {"phase": "Pending"}
    if plural == "services":
        return {"loadBalancer": {}}
    return {}
