"""GPU arithmetic on raw pod JSON, shared by the row builders, the cluster service and the preflight.

A module of its own (no imports from the other services) so that ``rows`` and ``rollout`` can both
use it without importing each other.
"""

from __future__ import annotations

from typing import Any

from console.core.units import as_int

GPU = "nvidia.com/gpu"


def gpus_of_pod_spec(spec: dict[str, Any]) -> int:
    """GPUs a pod asks for: the sum of container limits (GPUs are limits-only resources)."""
    total = 0
    for c in spec.get("containers") or []:
        res = c.get("resources") or {}
        total += as_int((res.get("limits") or {}).get(GPU) or (res.get("requests") or {}).get(GPU))
    return total


def project_gpu_pod(pod: dict[str, Any]) -> tuple[str, int] | None:
    """What the allocation index keeps of a pod: (node, GPUs) while it holds them, else None."""
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    if status.get("phase") in ("Succeeded", "Failed") or not spec.get("nodeName"):
        return None
    gpus = gpus_of_pod_spec(spec)
    return (spec["nodeName"], gpus) if gpus else None


def node_ready(node: dict[str, Any]) -> bool:
    """Whether the node's Ready condition is True (Unknown and False both mean no new pods land there)."""
    conditions = (node.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
