"""GPU memory per pod and the per-GPU figures DCGM reports (framebuffer, utilisation, heat, power).

A pod's framebuffer follows its life: nothing until its container runs, a ramp to the image's
``gpu_memory_mib`` while the model loads (the cold start), the model plus its live KV-cache share
while serving. The gpu-memory-leak fault adds a steady growth on top until the GPU is nearly full;
leaked memory stays with the process, so only a restart (new container or new pod) gives it back,
as with a real leak.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterable, Mapping

from .figures import GpuFigures, PodFigures
from .index import NodeInfo

COLD_START_S = 35.0  # article: containers on Kubernetes cold-start in 35 s ± 5
KV_POOL_MIB = 2048.0  # framebuffer the KV cache takes when full, on top of the weights
LEAK_MIB_PER_S = 150.0  # crosses 80 % of an A10G from ~14 GiB in about half a simulated minute
LEAK_CEILING = 0.985  # a leak stops just short of a full GPU (the OOM is a different fault)
LOADING_UTIL = 8.0  # weight upload keeps a GPU a little busy
_UUID_NS = uuid.UUID("6f1c7c2e-2b57-4c7e-9a57-5d1b0b6c9e41")


def gpu_uuid(node: str, index: int) -> str:
    """A stable DCGM-style UUID for a node's GPU, the same in every run."""
    return f"GPU-{uuid.uuid5(_UUID_NS, f'{node}/{index}')}"


def pod_memory_mib(
    state: str, model_mib: float, loading_s: float, kv_cache_perc: float, leak_mib: float
) -> float:
    """Framebuffer a pod holds over all its GPUs for its state (serving | loading | loaded | stopped)."""
    if state == "stopped":
        return 0.0
    if state == "loading":
        return model_mib * min(1.0, loading_s / COLD_START_S)
    kv = KV_POOL_MIB * kv_cache_perc if state == "serving" else 0.0
    return model_mib + kv + leak_mib


def leak_ceiling_mib(total_mib: float, gpus: int, held_mib: float) -> float:
    """The most a leak may add before the pod's GPUs are nearly full."""
    return max(0.0, LEAK_CEILING * total_mib * gpus - held_mib)


class GpuFleet:
    """Every GPU of every GPU node, updated in place each tick."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self.gpus: dict[tuple[str, int], GpuFigures] = {}

    def sync(self, nodes: Mapping[str, NodeInfo]) -> None:
        """Follow node changes: new nodes' GPUs appear, deleted nodes' GPUs go."""
        wanted = set()
        for node in nodes.values():
            for i in range(node.gpu_count):
                key = (node.name, i)
                wanted.add(key)
                gpu = self.gpus.get(key)
                if gpu is None:
                    gpu = self.gpus[key] = GpuFigures(node.name, i, gpu_uuid(node.name, i), node.model_name,
                                                      node.memory_mib, temp_c=30.0 + self._rng.random() * 4)
                gpu.total_mib, gpu.model_name, gpu.node_ready = node.memory_mib, node.model_name, node.ready
        for key in [k for k in self.gpus if k not in wanted]:
            del self.gpus[key]

    def update(self, pods: Iterable[PodFigures], dt: float) -> None:
        """Recompute each GPU from the pods holding it, then let temperature and power follow."""
        gpus = self.gpus
        for gpu in gpus.values():
            gpu.used_mib = 0.0
            gpu.util = 0.0
            gpu.pods.clear()
        for pod in pods:
            share = pod.fb_used_mib / len(pod.gpus)
            util = pod.gpu_util if pod.state == "serving" else LOADING_UTIL if pod.state == "loading" else 0.0
            for i in pod.gpus:
                gpu = gpus.get((pod.node, i))
                if gpu is None:
                    continue
                gpu.used_mib = min(gpu.total_mib, gpu.used_mib + share)
                gpu.util = max(gpu.util, util)
                gpu.pods.append((pod.namespace, pod.name, pod.container))
        rnd = self._rng.random
        follow = min(1.0, 0.15 * dt)
        for gpu in gpus.values():
            # An A10G idles near 30 °C / 20 W and runs ~72 °C / ~145 W flat out (150 W board limit).
            target = 30.0 + 0.42 * gpu.util
            gpu.temp_c += (target - gpu.temp_c) * follow + (rnd() - 0.5) * 0.4
            gpu.power_w = 20.0 + 1.25 * gpu.util + gpu.used_mib / 2000.0 + (rnd() - 0.5) * 3.0
