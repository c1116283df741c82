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
    # How metadata.generation behaves, as each kind's registry strategy sets it: "" none (pods, services,
    # PVCs, namespaces, nodes, config); "spec" bumped on spec changes; "spec+annotations" the Deployment's
    # rule (annotation-only changes bump it too); "custom" a custom resource's (any change but metadata/status).
    generation: str = ""
    # An other version served from the same storage (autoscaling/v1 HPAs, events.k8s.io/v1 Events): the
    # API converts; the store and the controllers only know the storage version.
    storage_version: str | None = None

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def group_version(self) -> str:
        return self.api_version

    @property
    def is_view(self) -> bool:
        """Served in another version than the one stored (the API converts both ways)."""
        return self.storage_version is not None


_READ_ONLY_CREATE = ("create",)
RESOURCES: tuple[ResourceType, ...] = (
    ResourceType("", "v1", "namespaces", "namespace", "Namespace", False, ("ns",), ("status",)),
    ResourceType("", "v1", "nodes", "node", "Node", False, ("no",), ("status",)),
    ResourceType("", "v1", "pods", "pod", "Pod", True, ("po",), ("status", "log", "eviction")),
    ResourceType("", "v1", "events", "event", "Event", True, ("ev",)),
    ResourceType("", "v1", "services", "service", "Service", True, ("svc",), ("status",)),
    ResourceType("", "v1", "persistentvolumeclaims", "persistentvolumeclaim", "PersistentVolumeClaim",
                 True, ("pvc",), ("status",)),
    ResourceType("", "v1", "configmaps", "configmap", "ConfigMap", True, ("cm",)),
    ResourceType("", "v1", "secrets", "secret", "Secret", True),
    ResourceType("", "v1", "serviceaccounts", "serviceaccount", "ServiceAccount", True, ("sa",), ("token",)),
    ResourceType("apps", "v1", "deployments", "deployment", "Deployment", True, ("deploy",),
                 ("status", "scale"), generation="spec+annotations"),
    ResourceType("apps", "v1", "replicasets", "replicaset", "ReplicaSet", True, ("rs",),
                 ("status", "scale"), generation="spec"),
    ResourceType("apps", "v1", "daemonsets", "daemonset", "DaemonSet", True, ("ds",), ("status",),
                 generation="spec"),
    ResourceType("autoscaling", "v2", "horizontalpodautoscalers", "horizontalpodautoscaler",
                 "HorizontalPodAutoscaler", True, ("hpa",), ("status",), generation="spec"),
    ResourceType("autoscaling", "v1", "horizontalpodautoscalers", "horizontalpodautoscaler",
                 "HorizontalPodAutoscaler", True, ("hpa",), ("status",), generation="spec", storage_version="v2"),
    ResourceType("policy", "v1", "poddisruptionbudgets", "poddisruptionbudget", "PodDisruptionBudget", True,
                 ("pdb",), ("status",), generation="spec"),
    ResourceType("events.k8s.io", "v1", "events", "event", "Event", True, ("ev",), storage_version="v1"),
    # The Prometheus Operator's custom resources (its CRDs installed, as with kube-prometheus-stack).
    ResourceType("monitoring.coreos.com", "v1", "servicemonitors", "servicemonitor", "ServiceMonitor", True,
                 ("smon",), generation="custom"),
    ResourceType("monitoring.coreos.com", "v1", "prometheusrules", "prometheusrule", "PrometheusRule", True,
                 ("promrule",), generation="custom"),
    ResourceType("authorization.k8s.io", "v1", "selfsubjectaccessreviews", "selfsubjectaccessreview",
                 "SelfSubjectAccessReview", False, verbs=_READ_ONLY_CREATE, stored=False),
    ResourceType("authorization.k8s.io", "v1", "selfsubjectrulesreviews", "selfsubjectrulesreview",
                 "SelfSubjectRulesReview", False, verbs=_READ_ONLY_CREATE, stored=False),
    ResourceType("authentication.k8s.io", "v1", "selfsubjectreviews", "selfsubjectreview",
                 "SelfSubjectReview", False, verbs=_READ_ONLY_CREATE, stored=False),
)

# The storage version of each resource (what the store and the controllers use), by plural and by kind.
BY_PLURAL: dict[str, ResourceType] = {r.plural: r for r in RESOURCES if not r.is_view}
BY_KIND: dict[str, ResourceType] = {r.kind: r for r in RESOURCES if not r.is_view}
_BY_PATH: dict[tuple[str, str, str], ResourceType] = {(r.group, r.version, r.plural): r for r in RESOURCES}


def lookup(group: str, version: str, plural: str) -> ResourceType | None:
    """The resource served at ``/apis/<group>/<version>/<plural>`` (group "" for ``/api/v1``)."""
    return _BY_PATH.get((group, version, plural))


def storage_of(rt: ResourceType) -> ResourceType:
    """The stored resource behind a served one (itself unless it is another version's view)."""
    return BY_PLURAL[rt.plural] if rt.is_view else rt


def groups() -> dict[str, list[str]]:
    """Served API groups (excluding core) → versions, the preferred (storage) version first."""
    out: dict[str, list[str]] = {}
    for r in sorted(RESOURCES, key=lambda r: r.is_view):
        if r.group and r.version not in out.setdefault(r.group, []):
            out[r.group].append(r.version)
    return out
