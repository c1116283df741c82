"""Builds store objects for the simulation tests: nodes, a Deployment with its ReplicaSet, GPU pods.

The real controllers are written elsewhere, so the tests create exactly the objects the simulation
reads: node labels (GPU Feature Discovery), pods bound to a node with the scheduler's GPU annotation,
Ready conditions and ownerReferences Pod → ReplicaSet → Deployment.
"""

from __future__ import annotations

from typing import Any

from console.sandbox.context import GPU_ANNOTATION, SandboxConfig, SandboxContext
from console.sandbox.store import copy_object

NS = "llm"
IMAGE = "llm/claude-inference:v1.0.0"  # 13,800 MiB once loaded


def make_context(speed: float = 50.0, seed: int = 0) -> SandboxContext:
    ctx = SandboxContext.create(SandboxConfig(speed=speed, seed=seed), "127.0.0.1:5000")
    ctx.store.create("namespaces", {"metadata": {"name": NS}})
    return ctx


def add_node(ctx: SandboxContext, name: str, gpus: int = 4, memory_mib: int = 23028) -> dict[str, Any]:
    return ctx.store.create("nodes", {
        "metadata": {"name": name, "labels": {
            "nvidia.com/gpu.memory": str(memory_mib), "nvidia.com/gpu.product": "NVIDIA-A10G",
            "nvidia.com/gpu.count": str(gpus)}},
        "status": {"capacity": {"nvidia.com/gpu": str(gpus)}, "allocatable": {"nvidia.com/gpu": str(gpus)},
                   "conditions": [{"type": "Ready", "status": "True"}]},
    })


def add_deployment(ctx: SandboxContext, name: str, replicas: int = 2, ns: str = NS,
                   annotations: dict[str, str] | None = None) -> str:
    """A Deployment and its ReplicaSet; returns the ReplicaSet name."""
    dep = ctx.store.create("deployments", {
        "metadata": {"name": name, "namespace": ns, "annotations": annotations or {}},
        "spec": {"replicas": replicas, "template": {"metadata": {"labels": {"app": "claude"}}}},
    })
    rs_name = f"{name}-5d8f7c9b4"
    ctx.store.create("replicasets", {
        "metadata": {"name": rs_name, "namespace": ns, "labels": {"pod-template-hash": "5d8f7c9b4"},
                     "ownerReferences": [{"kind": "Deployment", "name": name, "uid": dep["metadata"]["uid"],
                                          "apiVersion": "apps/v1", "controller": True}]},
        "spec": {"replicas": replicas},
    })
    return rs_name


def add_pod(ctx: SandboxContext, name: str, node: str, gpus: str, rs: str | None, *, ready: bool = True,
            phase: str = "Running", ns: str = NS, image: str = IMAGE, labels: dict[str, str] | None = None,
            restarts: int = 0) -> dict[str, Any]:
    owners = [{"kind": "ReplicaSet", "name": rs, "uid": f"uid-{rs}", "apiVersion": "apps/v1"}] if rs else []
    return ctx.store.create("pods", {
        "metadata": {"name": name, "namespace": ns, "annotations": {GPU_ANNOTATION: gpus},
                     "labels": {"app": "claude", "pod-template-hash": "5d8f7c9b4", **(labels or {})},
                     "ownerReferences": owners},
        "spec": {"nodeName": node, "containers": [{
            "name": "inference", "image": f"{ctx.catalog.registry_host}/{image}",
            "resources": {"limits": {"nvidia.com/gpu": str(len(gpus.split(",")))}}}]},
        "status": {"phase": phase, "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
                   "containerStatuses": [{"name": "inference", "restartCount": restarts}]},
    })


def set_ready(ctx: SandboxContext, name: str, ready: bool, ns: str = NS) -> None:
    pod = copy_object(ctx.store.get("pods", ns, name))
    pod["status"]["conditions"] = [{"type": "Ready", "status": "True" if ready else "False"}]
    ctx.store.replace("pods", pod)


def claude(ctx: SandboxContext, replicas: int, nodes: int = 2, gpus_per_node: int = 4) -> str:
    """The seed's claude-inference Deployment with ``replicas`` Ready pods spread over GPU nodes."""
    for n in range(nodes):
        add_node(ctx, f"gpu-node-{n}", gpus_per_node)
    rs = add_deployment(ctx, "claude-inference", replicas)
    for i in range(replicas):
        add_pod(ctx, f"claude-inference-5d8f7c9b4-p{i}", f"gpu-node-{i % nodes}", str(i // nodes), rs)
    return rs
