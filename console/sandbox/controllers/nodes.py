"""GPU nodes: how they look (GPU Feature Discovery labels, capacity, conditions) and what the node
lifecycle controller does when one stops reporting — taint it, mark its pods not ready, and evict
them after a short simulated grace so their ReplicaSets recreate them elsewhere.
"""

from __future__ import annotations

import hashlib
from collections.abc import Hashable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..cuda import driver_table
from ..store import Obj, copy_object
from .base import Controller, get_condition, node_ready, pod_ready
from .events import record_event
from .keys import Key
from .pods import graceful_delete
from .scheduler import tolerates

if TYPE_CHECKING:
    from ..context import SandboxContext

UNREACHABLE = "node.kubernetes.io/unreachable"
NOT_READY = "node.kubernetes.io/not-ready"
# Simulated seconds between a node going NotReady and its pods' eviction. Kubernetes' default is the
# pods' 300 s toleration; the sandbox shortens it so a node-loss drill shows recovery within a demo.
EVICTION_SECONDS = 30.0
KUBELET_VERSION = "v1.30.4"


@dataclass(frozen=True)
class GpuProduct:
    """A GPU model as GPU Feature Discovery labels it, with the AWS instance types that carry it."""

    product: str  # nvidia.com/gpu.product
    compute: tuple[int, int]
    memory_mib: int
    family: str
    driver: str
    instances: dict[int, tuple[str, int, int]]  # GPUs per node → (instance type, vCPUs, memory GiB)
    mig: bool = False


PRESETS: dict[str, GpuProduct] = {
    "A10G": GpuProduct("NVIDIA-A10G", (8, 6), 23028, "ampere", "535.104.05",
                       {1: ("g5.xlarge", 4, 16), 4: ("g5.12xlarge", 48, 192), 8: ("g5.48xlarge", 192, 768)}),
    "A100-SXM4-80GB": GpuProduct("NVIDIA-A100-SXM4-80GB", (8, 0), 81920, "ampere", "535.104.05",
                                 {8: ("p4de.24xlarge", 96, 1152)}, mig=True),
    "H100-80GB-HBM3": GpuProduct("NVIDIA-H100-80GB-HBM3", (9, 0), 81559, "hopper", "550.90.07",
                                 {8: ("p5.48xlarge", 192, 2048)}, mig=True),
    "L4": GpuProduct("NVIDIA-L4", (8, 9), 23034, "ada-lovelace", "535.104.05",
                     {1: ("g6.xlarge", 4, 16), 4: ("g6.12xlarge", 48, 192), 8: ("g6.48xlarge", 192, 768)}),
    "T4": GpuProduct("Tesla-T4", (7, 5), 15360, "turing", "535.104.05",
                     {1: ("g4dn.xlarge", 4, 16), 4: ("g4dn.12xlarge", 48, 192), 8: ("g4dn.metal", 96, 384)}),
    "V100": GpuProduct("Tesla-V100-SXM2-16GB", (7, 0), 16160, "volta", "535.104.05",
                       {1: ("p3.2xlarge", 8, 61), 4: ("p3.8xlarge", 32, 244), 8: ("p3.16xlarge", 64, 488)}),
}
_ALIASES = {"A100": "A100-SXM4-80GB", "H100": "H100-80GB-HBM3"}


def gpu_product(name: str) -> GpuProduct:
    """A preset by short name ("A10G", "H100"), full name or GFD product label, case-insensitively."""
    wanted = name.strip().upper().removeprefix("NVIDIA-").removeprefix("TESLA-")
    wanted = _ALIASES.get(wanted, wanted)
    for key, preset in PRESETS.items():
        if wanted in (key.upper(), preset.product.upper().split("-", 1)[1]):
            return preset
    raise ValueError(f"unknown GPU product {name!r}; known: {', '.join(PRESETS)}")


def cuda_runtime_for(driver: str) -> tuple[int, int]:
    """The CUDA version the driver reports (what GFD's cuda.runtime labels show); (0, 0) if unknown."""
    return driver_table().driver_cuda(driver) or (0, 0)


def _hex(seed: str, n: int) -> str:
    return hashlib.sha256(seed.encode()).hexdigest()[:n]


def make_node(name: str, index: int, preset: GpuProduct, gpus: int, *, now: str, zone: str = "us-east-1a") -> Obj:
    """A Ready GPU node as kubelet + GFD + the device plugin would publish it."""
    itype, vcpus, mem_gib = preset.instances.get(gpus) or (
        f"{preset.product.lower()}-x{gpus}", max(8, 12 * gpus), max(32, 48 * gpus))
    major, minor, rev = [*preset.driver.split("."), "", ""][:3]
    rt_major, rt_minor = cuda_runtime_for(preset.driver)
    ip = f"10.0.{index // 200}.{index % 200 + 10}"
    labels = {
        "beta.kubernetes.io/arch": "amd64", "beta.kubernetes.io/instance-type": itype, "beta.kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64", "kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
        "node.kubernetes.io/instance-type": itype, "topology.kubernetes.io/region": zone[:-1],
        "topology.kubernetes.io/zone": zone, "feature.node.kubernetes.io/pci-10de.present": "true",
        "nvidia.com/gpu.present": "true", "nvidia.com/gpu.product": preset.product,
        "nvidia.com/gpu.count": str(gpus), "nvidia.com/gpu.memory": str(preset.memory_mib),
        "nvidia.com/gpu.family": preset.family, "nvidia.com/gpu.machine": itype,
        "nvidia.com/gpu.compute.major": str(preset.compute[0]), "nvidia.com/gpu.compute.minor": str(preset.compute[1]),
        "nvidia.com/gpu.replicas": "1", "nvidia.com/mig.capable": str(preset.mig).lower(),
        "nvidia.com/cuda.driver.major": major, "nvidia.com/cuda.driver.minor": minor,
        "nvidia.com/cuda.driver.rev": rev, "nvidia.com/cuda.runtime.major": str(rt_major),
        "nvidia.com/cuda.runtime.minor": str(rt_minor), "nvidia.com/gpu.deploy.device-plugin": "true",
        "nvidia.com/gpu.deploy.dcgm-exporter": "true",
    }
    mem_ki = mem_gib * 1024 * 1024
    capacity = {"cpu": str(vcpus), "ephemeral-storage": "209702892Ki", "hugepages-1Gi": "0", "hugepages-2Mi": "0",
                "memory": f"{mem_ki}Ki", "nvidia.com/gpu": str(gpus), "pods": "110"}
    if gpus == 0:  # a CPU-only node: no GPU Feature Discovery labels, no device plugin resource
        labels = {k: v for k, v in labels.items() if not k.startswith(("nvidia.com/", "feature.node.kubernetes.io/"))}
        del capacity["nvidia.com/gpu"]
    allocatable = dict(capacity, cpu=f"{vcpus * 1000 - 100 - 2 * vcpus}m", memory=f"{mem_ki - 1_782_000}Ki",
                       **{"ephemeral-storage": "192188443124"})
    return {
        "metadata": {
            "name": name, "labels": labels,
            "annotations": {"node.alpha.kubernetes.io/ttl": "0",
                            "volumes.kubernetes.io/controller-managed-attach-detach": "true"},
        },
        "spec": {"podCIDR": f"10.244.{index}.0/24", "podCIDRs": [f"10.244.{index}.0/24"],
                 "providerID": f"aws:///{zone}/i-0{_hex(name, 16)}"},
        "status": {
            "capacity": capacity, "allocatable": allocatable,
            "conditions": healthy_conditions(now),
            "addresses": [{"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": name},
                          {"type": "InternalDNS", "address": f"ip-{ip.replace('.', '-')}.ec2.internal"}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "architecture": "amd64", "bootID": _uuid(name + "boot"), "containerRuntimeVersion": "containerd://1.7.11",
                "kernelVersion": "5.10.219-208.866.amzn2.x86_64", "kubeProxyVersion": KUBELET_VERSION,
                "kubeletVersion": KUBELET_VERSION, "machineID": _hex(name + "machine", 32),
                "operatingSystem": "linux", "osImage": "Amazon Linux 2", "systemUUID": _uuid(name + "system"),
            },
        },
    }


def _uuid(seed: str) -> str:
    h = _hex(seed, 32)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def healthy_conditions(now: str) -> list[dict[str, Any]]:
    rows = (("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
            ("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
            ("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
            ("Ready", "True", "KubeletReady", "kubelet is posting ready status"))
    return [{"type": t, "status": s, "lastHeartbeatTime": now, "lastTransitionTime": now, "reason": r, "message": m}
            for t, s, r, m in rows]


def set_node_reachable(ctx: SandboxContext, name: str, reachable: bool) -> Obj:
    """Flip a node between healthy and "Kubelet stopped posting node status." (what node-loss does)."""
    node = copy_object(ctx.store.get("nodes", None, name))
    now = ctx.clock.timestamp()
    if reachable:
        node["status"]["conditions"] = healthy_conditions(now)
    else:
        for cond in node["status"].get("conditions") or []:
            cond.update(status="Unknown", reason="NodeStatusUnknown", message="Kubelet stopped posting node status.",
                        lastTransitionTime=now)
    return ctx.store.replace("nodes", node, check_version=False)


class NodeLifecycle(Controller):
    """Taints for NotReady nodes, pods marked not ready, and taint-based eviction after a grace."""

    name = "node-lifecycle"
    plurals = ("nodes",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._was_ready: dict[str, bool] = {}

    def on_change(self, type_: str, plural: str, obj: Obj, old: Obj | None) -> None:
        self.enqueue(("", obj["metadata"]["name"]))

    def initial_keys(self) -> list[Key]:
        keys = []
        for node in self.store.iter_all("nodes"):
            self._was_ready[node["metadata"]["name"]] = node_ready(node)
            keys.append(("", node["metadata"]["name"]))
        return keys

    def reconcile(self, key: Hashable) -> None:
        name = key[1]  # type: ignore[index]
        node = self.store.try_get("nodes", None, name)
        if node is None:
            self._was_ready.pop(name, None)
            self.cancel_timer(("evict", name))
            for pod in self.index.pods_on(name):  # pod GC: pods of a deleted node go at once
                self.store.delete("pods", pod["metadata"]["namespace"], pod["metadata"]["name"])
            return
        ready, was = node_ready(node), self._was_ready.get(name, True)
        self._was_ready[name] = ready
        ours = (UNREACHABLE, NOT_READY)
        taints = [t for t in node["spec"].get("taints") or [] if t.get("key") not in ours]
        if ready:
            self.cancel_timer(("evict", name))
            if not was:
                record_event(self.ctx, node, "NodeReady", f"Node {name} status is now: NodeReady",
                             component="kubelet", host=name)
        else:
            cond = get_condition(node.get("status"), "Ready")
            taint_key = UNREACHABLE if cond and cond.get("status") == "Unknown" else NOT_READY
            existing = {(t.get("key"), t.get("effect")): t for t in node["spec"].get("taints") or []}
            now = self.clock.timestamp()
            taints += [existing.get((taint_key, "NoSchedule")) or {"key": taint_key, "effect": "NoSchedule"},
                       existing.get((taint_key, "NoExecute")) or {"key": taint_key, "effect": "NoExecute",
                                                                   "timeAdded": now}]
            if was:
                record_event(self.ctx, node, "NodeNotReady", f"Node {name} status is now: NodeNotReady",
                             component="node-controller")
            self._mark_pods_not_ready(name)
            if not self.has_timer(("evict", name)):
                self.call_after(EVICTION_SECONDS, lambda: self._evict(name, taint_key), ("evict", name))
        if taints != (node["spec"].get("taints") or []):
            updated = copy_object(node)
            updated["spec"]["taints"] = taints
            if not taints:
                del updated["spec"]["taints"]
            self.store.replace("nodes", updated, check_version=False)

    def _mark_pods_not_ready(self, name: str) -> None:
        now = self.clock.timestamp()
        for pod in self.index.pods_on(name):
            if not pod_ready(pod) or pod["metadata"].get("deletionTimestamp"):
                continue
            updated = copy_object(pod)
            for cond in updated["status"]["conditions"]:
                if cond.get("type") == "Ready":
                    cond.update(status="False", lastTransitionTime=now)
            self.store.replace("pods", updated, check_version=False)
            record_event(self.ctx, updated, "NodeNotReady", "Node is not ready", "Warning",
                         component="node-controller")

    def _evict(self, name: str, taint_key: str) -> None:
        if node_ready(self.store.try_get("nodes", None, name)):
            return
        taint = {"key": taint_key, "effect": "NoExecute"}
        for pod in self.index.pods_on(name):
            forever = [t for t in pod["spec"].get("tolerations") or []
                       if tolerates([t], taint) and t.get("tolerationSeconds") is None]
            if forever or pod["metadata"].get("deletionTimestamp"):
                continue  # DaemonSet pods tolerate unreachable nodes indefinitely
            ns, pod_name = pod["metadata"]["namespace"], pod["metadata"]["name"]
            graceful_delete(self.ctx, pod)
            record_event(self.ctx, pod, "TaintManagerEviction", f"Marking for deletion Pod {ns}/{pod_name}",
                         component="taint-eviction-controller")
