"""The resource types the sandbox serves: group, version, kind, scope, verbs, subresources."""

from __future__ import annotations

from dataclasses import dataclass

RW_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True)
class ResourceType:
    group: str  # "" for the core group
    version: str
    plural: str
    singular: str
    kind: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()
    verbs: tuple[str, ...] = RW_VERBS
    stored: bool = True  # False for virtual resources such as access reviews

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def group_version(self) -> str:
        return self.api_version


RESOURCES: tuple[ResourceType, ...] = (
    ResourceType("", "v1", "namespaces", "namespace", "Namespace", False, ("ns",), ("status",)),
    ResourceType("", "v1", "nodes", "node", "Node", False, ("no",), ("status",)),
    ResourceType("", "v1", "pods", "pod", "Pod", True, ("po",), ("status", "log")),
    ResourceType("", "v1", "events", "event", "Event", True, ("ev",)),
    ResourceType("", "v1", "services", "service", "Service", True, ("svc",), ("status",)),
    ResourceType("", "v1", "persistentvolumeclaims", "persistentvolumeclaim", "PersistentVolumeClaim",
                 True, ("pvc",), ("status",)),
    ResourceType("", "v1", "configmaps", "configmap", "ConfigMap", True, ("cm",)),
    ResourceType("apps", "v1", "deployments", "deployment", "Deployment", True, ("deploy",),
                 ("status", "scale")),
    ResourceType("apps", "v1", "replicasets", "replicaset", "ReplicaSet", True, ("rs",),
                 ("status", "scale")),
    ResourceType("apps", "v1", "daemonsets", "daemonset", "DaemonSet", True, ("ds",), ("status",)),
    ResourceType("autoscaling", "v2", "horizontalpodautoscalers", "horizontalpodautoscaler",
                 "HorizontalPodAutoscaler", True, ("hpa",), ("status",)),
    # The Prometheus Operator's custom resources (its CRDs installed, as with kube-prometheus-stack).
    ResourceType("monitoring.coreos.com", "v1", "servicemonitors", "servicemonitor", "ServiceMonitor", True,
                 ("smon",)),
    ResourceType("monitoring.coreos.com", "v1", "prometheusrules", "prometheusrule", "PrometheusRule", True,
                 ("promrule",)),
    ResourceType("authorization.k8s.io", "v1", "selfsubjectaccessreviews", "selfsubjectaccessreview",
                 "SelfSubjectAccessReview", False, verbs=("create",), stored=False),
)

BY_PLURAL: dict[str, ResourceType] = {r.plural: r for r in RESOURCES}
BY_KIND: dict[str, ResourceType] = {r.kind: r for r in RESOURCES}


def lookup(group: str, version: str, plural: str) -> ResourceType | None:
    """The resource served at ``/apis/<group>/<version>/<plural>`` (group "" for ``/api/v1``)."""
    rt = BY_PLURAL.get(plural)
    if rt is None or rt.group != group or rt.version != version:
        return None
    return rt


def groups() -> dict[str, list[str]]:
    """Served API groups (excluding core) → versions."""
    out: dict[str, list[str]] = {}
    for r in RESOURCES:
        if r.group and r.version not in out.setdefault(r.group, []):
            out[r.group].append(r.version)
    return out
