"""Discovery documents: what kubectl and the clients read to learn which resources exist where.

kubectl 1.32 first asks for aggregated discovery (``APIGroupDiscoveryList``); answering the legacy
documents with plain ``application/json`` makes it fall back to ``/api``, ``/apis`` and one
``APIResourceList`` per group version, which is all the sandbox serves.
"""

from __future__ import annotations

from typing import Any

from .resources import RESOURCES, ResourceType, groups

GIT_VERSION = "v1.30.4"
# `kubectl get all` lists the resources in category "all".
_CATEGORY_ALL = frozenset({"pods", "services", "deployments", "replicasets", "daemonsets",
                           "horizontalpodautoscalers"})
_SUBRESOURCE_VERBS = ["get", "patch", "update"]


def version() -> dict[str, Any]:
    return {
        "major": "1", "minor": "30", "gitVersion": GIT_VERSION, "gitCommit": "sandbox",
        "gitTreeState": "clean", "buildDate": "2024-08-14T00:00:00Z", "goVersion": "go1.22.5",
        "compiler": "gc", "platform": "linux/amd64",
    }


def api_versions(server_address: str) -> dict[str, Any]:
    """``GET /api``."""
    return {"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}]}


def api_group_list() -> dict[str, Any]:
    """``GET /apis``: every non-core group with its versions and preferred version."""
    out = []
    for group, versions in groups().items():
        entries = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
        out.append({"name": group, "versions": entries, "preferredVersion": entries[0]})
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": out}


def api_group(group: str) -> dict[str, Any] | None:
    """``GET /apis/<group>``."""
    for g in api_group_list()["groups"]:
        if g["name"] == group:
            return {"kind": "APIGroup", "apiVersion": "v1", **g}
    return None


def _resource_entry(rt: ResourceType) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": rt.plural, "singularName": rt.singular, "namespaced": rt.namespaced,
                             "kind": rt.kind, "verbs": list(rt.verbs)}
    if rt.short_names:
        entry["shortNames"] = list(rt.short_names)
    if rt.plural in _CATEGORY_ALL:
        entry["categories"] = ["all"]
    elif rt.group == "monitoring.coreos.com":  # what the Prometheus Operator's CRDs declare
        entry["categories"] = ["prometheus-operator"]
    return entry


def _subresource_entry(rt: ResourceType, sub: str) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": f"{rt.plural}/{sub}", "singularName": "", "namespaced": rt.namespaced,
                             "kind": rt.kind, "verbs": list(_SUBRESOURCE_VERBS)}
    if sub == "scale":
        entry.update(group="autoscaling", version="v1", kind="Scale")
    elif sub == "log":
        entry["verbs"] = ["get"]
    elif sub == "eviction":
        entry.update(group="policy", version="v1", kind="Eviction", verbs=["create"])
    elif sub == "token":
        entry.update(group="authentication.k8s.io", version="v1", kind="TokenRequest", verbs=["create"])
    return entry


def resource_list(group: str, version: str) -> dict[str, Any] | None:
    """``GET /api/v1`` or ``/apis/<group>/<version>``: resources and subresources, or None if not served."""
    served = [rt for rt in RESOURCES if rt.group == group and rt.version == version]
    if not served:
        return None
    resources = []
    for rt in served:
        resources.append(_resource_entry(rt))
        resources.extend(_subresource_entry(rt, sub) for sub in rt.subresources)
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": served[0].api_version,
            "resources": resources}
