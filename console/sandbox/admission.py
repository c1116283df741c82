"""What kube-apiserver's admission and registry strategies add to a new object, beyond defaulting:

- a Service gets its ``clusterIP`` allocated from the service CIDR (10.96.0.0/16), as the service IP
  allocator does on create (``clusterIP: None`` keeps a headless Service headless);
- a PersistentVolumeClaim without ``storageClassName`` gets the default StorageClass (``standard``), as the
  DefaultStorageClass admission plugin does. An explicit ``""`` asks for no class and is kept.

Runs on create only (the fields are immutable afterwards), on dry-run creates too: a real dry-run also
allocates, it just does not keep the allocation.
"""

from __future__ import annotations

import hashlib
from typing import Any

from .context import SandboxContext

DEFAULT_STORAGE_CLASS = "standard"
_CLUSTER_IP_TYPES = ("ClusterIP", "NodePort", "LoadBalancer")


def _allocate_cluster_ip(ctx: SandboxContext, key: str) -> str:
    """A free address, derived from the Service's namespace/name (deterministic, and without drawing on the
    simulation's seeded random numbers)."""
    used = {(s.get("spec") or {}).get("clusterIP") for s in ctx.store.list("services", None, None, None)}
    n = int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) % 62000 + 1000
    while True:
        ip = f"10.96.{n // 250}.{n % 250 + 1}"
        if ip not in used:
            return ip
        n = n + 1 if n < 63000 else 1000


def admit_create(ctx: SandboxContext, plural: str, obj: dict[str, Any]) -> None:
    """Fill what the API server allocates for a new object (in place)."""
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return
    if plural == "services" and spec.get("type", "ClusterIP") in _CLUSTER_IP_TYPES:
        meta = obj.get("metadata") or {}
        ip = spec.get("clusterIP") or _allocate_cluster_ip(ctx, f"{meta.get('namespace')}/{meta.get('name')}")
        spec["clusterIP"] = ip
        spec.setdefault("clusterIPs", [ip])
        if ip != "None":
            spec.setdefault("ipFamilies", ["IPv4"])
            spec.setdefault("ipFamilyPolicy", "SingleStack")
        spec.setdefault("internalTrafficPolicy", "Cluster")
    elif plural == "persistentvolumeclaims":
        if "storageClassName" not in spec:
            spec["storageClassName"] = DEFAULT_STORAGE_CLASS
        spec.setdefault("volumeMode", "Filesystem")
