"""The values checks that need the cluster's GPU nodes: GPUs per replica against the largest node, the
model's size against GPU memory; and the GPUs a model needs. Pure functions."""

from __future__ import annotations

import math
from dataclasses import dataclass

from console.deploy.values.schema import MODEL_OVERHEAD, Problem, Values


# ---- checks that need the cluster's nodes ------------------------------------------------------------
@dataclass(frozen=True)
class NodeFacts:
    """What the GPU nodes offer, as far as known: the most GPUs one node has, and GPU memory (MiB)."""

    max_gpus_per_node: int | None = None
    gpu_memory_mib: int | None = None
    gpu_nodes: int | None = None


def gpus_for_model(size_gib: float, gpu_memory_mib: int) -> int:
    """GPUs one replica needs for a model of ``size_gib`` weights on GPUs of ``gpu_memory_mib``
    (weights × 1.2 for activations, the CUDA context and KV-cache headroom; whole GPUs)."""
    if gpu_memory_mib <= 0:
        raise ValueError("gpu_memory_mib must be positive")
    return max(1, math.ceil(size_gib * MODEL_OVERHEAD * 1024 / gpu_memory_mib))


def check_against_nodes(values: Values, facts: NodeFacts) -> list[Problem]:
    """Combinations the cluster's GPU nodes make impossible (empty when facts are unknown)."""
    problems = []
    if facts.max_gpus_per_node is not None and facts.gpu_nodes and values.gpus_per_replica > facts.max_gpus_per_node:
        problems.append(Problem("gpusPerReplica", f"{values.gpus_per_replica} GPUs per replica, but the largest GPU "
                                f"node has {facts.max_gpus_per_node} allocatable nvidia.com/gpu: a pod's GPUs all come "
                                "from one node, so it could never be scheduled"))
    if values.model.size_gib and facts.gpu_memory_mib:
        need = gpus_for_model(values.model.size_gib, facts.gpu_memory_mib)
        if need > values.gpus_per_replica:
            problems.append(Problem("model.sizeGiB", f"a {values.model.size_gib:g} GiB model needs about {need} GPUs "
                                    f"of {facts.gpu_memory_mib // 1024} GiB (weights × {MODEL_OVERHEAD}), but "
                                    f"gpusPerReplica is {values.gpus_per_replica}"))
    return problems
