"""What the simulation needs from the store, parsed once per change instead of once per tick.

A store listener only records which objects changed (listeners must stay cheap); :meth:`ClusterIndex.refresh`
re-parses those at the start of the next tick. Only GPU pods and GPU nodes are kept, so a tick costs
O(GPU pods) however many other pods the cluster holds.

Grouping pods into Deployments: ownerReferences Pod → ReplicaSet → Deployment, as Kubernetes itself
links them. When the ReplicaSet object is not (yet) known, the ReplicaSet name minus its
``pod-template-hash`` suffix is used; a bare pod (no ReplicaSet owner) groups under its ``app`` label.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..context import GPU_ANNOTATION
from ..images import ImageCatalog
from ..store import Store

QPS_ANNOTATION = "sandbox.llmctl.dev/qps"  # on a Deployment: offered load in requests per second
GPU_MEMORY_LABEL = "nvidia.com/gpu.memory"
GPU_PRODUCT_LABEL = "nvidia.com/gpu.product"
GPU_RESOURCE = "nvidia.com/gpu"
DEFAULT_GPU_MEMORY_MIB = 23028  # NVIDIA A10G
_WATCHED = ("pods", "nodes", "replicasets", "deployments")
_INT = re.compile(r"\d+")


@dataclass(slots=True)
class PodInfo:
    namespace: str
    name: str
    uid: str
    node: str
    gpus: tuple[int, ...]
    container: str
    running: bool
    ready: bool  # condition Ready=True and not terminating
    restarts: int
    owner_rs: str | None
    app: str | None
    template_hash: str | None
    model_mib: int  # framebuffer its image needs once loaded (catalog), 0 if unknown


@dataclass(slots=True)
class NodeInfo:
    name: str
    gpu_count: int
    memory_mib: float
    model_name: str
    ready: bool


@dataclass(slots=True)
class DeploymentInfo:
    namespace: str
    name: str
    replicas: int
    qps: float | None  # from the QPS annotation
    pool: str | None  # the template's ``pool`` label (short / long queue)


def parse_gpu_indexes(value: str | None) -> tuple[int, ...]:
    """GPU indexes from the scheduler's annotation: "0", "0,1", "[0, 1]" all work."""
    return tuple(int(m) for m in _INT.findall(value or ""))


def _condition_true(status: Mapping[str, Any], kind: str, default: bool) -> bool:
    conditions = status.get("conditions")
    if not conditions:
        return default
    return any(c.get("type") == kind and c.get("status") == "True" for c in conditions)


def _quantity(value: Any) -> int:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return 0


class ClusterIndex:
    """GPU pods, GPU nodes, ReplicaSet owners and Deployments, kept current from store events."""

    def __init__(self, store: Store, catalog: ImageCatalog, default_product: str = "A10G") -> None:
        self._store = store
        self._catalog = catalog
        self._default_model = f"NVIDIA {default_product}"
        self.pods: dict[tuple[str, str], PodInfo] = {}
        self.nodes: dict[str, NodeInfo] = {}
        self.rs_owner: dict[tuple[str, str], str] = {}
        self.deployments: dict[tuple[str, str], DeploymentInfo] = {}
        self._dirty: dict[str, set[tuple[str, str]]] = {p: set() for p in _WATCHED}
        self._full = True  # first refresh scans everything the scenario created before us
        store.subscribe(self._on_change)

    def _on_change(self, _type: str, plural: str, obj: dict[str, Any], _old: dict[str, Any] | None) -> None:
        dirty = self._dirty.get(plural)
        if dirty is not None:
            meta = obj["metadata"]
            dirty.add((meta.get("namespace") or "", meta["name"]))

    def refresh(self) -> bool:
        """Apply pending changes; True when anything changed."""
        if self._full:
            self._full = False
            for plural in _WATCHED:
                self._dirty[plural].clear()
                for obj in self._store.iter_all(plural):
                    meta = obj["metadata"]
                    self._apply(plural, (meta.get("namespace") or "", meta["name"]), obj)
            return True
        changed = False
        for plural, keys in self._dirty.items():
            if not keys:
                continue
            changed = True
            for key in keys:
                self._apply(plural, key, self._store.try_get(plural, key[0] or None, key[1]))
            keys.clear()
        return changed

    def _apply(self, plural: str, key: tuple[str, str], obj: dict[str, Any] | None) -> None:
        if plural == "pods":
            info = self._parse_pod(obj) if obj is not None else None
            self._put(self.pods, key, info)
        elif plural == "nodes":
            self._put(self.nodes, key[1], self._parse_node(obj) if obj is not None else None)
        elif plural == "replicasets":
            owner = None
            if obj is not None:
                owner = next((r["name"] for r in obj["metadata"].get("ownerReferences") or []
                              if r.get("kind") == "Deployment"), None)
            self._put(self.rs_owner, key, owner)
        elif plural == "deployments":
            self._put(self.deployments, key, self._parse_deployment(obj) if obj is not None else None)

    @staticmethod
    def _put(table: dict[Any, Any], key: Any, value: Any) -> None:
        if value is None:
            table.pop(key, None)
        else:
            table[key] = value

    def deployment_of(self, pod: PodInfo) -> str | None:
        """The Deployment a pod belongs to (see the module docstring for the rules)."""
        if pod.owner_rs is not None:
            owner = self.rs_owner.get((pod.namespace, pod.owner_rs))
            if owner is not None:
                return owner
            suffix = f"-{pod.template_hash}" if pod.template_hash else None
            if suffix and pod.owner_rs.endswith(suffix):
                return pod.owner_rs[: -len(suffix)]
            return pod.owner_rs.rpartition("-")[0] or pod.owner_rs
        return pod.app

    # ---- parsing --------------------------------------------------------------------------------
    def _parse_pod(self, obj: Mapping[str, Any]) -> PodInfo | None:
        meta, spec, status = obj["metadata"], obj.get("spec") or {}, obj.get("status") or {}
        gpus = parse_gpu_indexes((meta.get("annotations") or {}).get(GPU_ANNOTATION))
        node = spec.get("nodeName")
        if not gpus or not node:
            return None
        containers = spec.get("containers") or []
        gpu_containers = [c for c in containers
                          if GPU_RESOURCE in ((c.get("resources") or {}).get("limits") or {})] or containers
        model_mib = 0
        for c in gpu_containers:
            image = self._catalog.resolve(c.get("image") or "")
            model_mib += image.gpu_memory_mib if image is not None else 0
        labels = meta.get("labels") or {}
        owners = meta.get("ownerReferences") or []
        owner_rs = next((r["name"] for r in owners if r.get("kind") == "ReplicaSet"), None)
        running = status.get("phase") == "Running"
        return PodInfo(
            namespace=meta.get("namespace") or "",
            name=meta["name"],
            uid=meta.get("uid") or meta["name"],
            node=node,
            gpus=gpus,
            container=gpu_containers[0].get("name", "") if gpu_containers else "",
            running=running,
            ready=running and not meta.get("deletionTimestamp") and _condition_true(status, "Ready", False),
            restarts=sum(int(cs.get("restartCount") or 0) for cs in status.get("containerStatuses") or []),
            owner_rs=owner_rs,
            app=labels.get("app"),
            template_hash=labels.get("pod-template-hash"),
            model_mib=model_mib,
        )

    def _parse_node(self, obj: Mapping[str, Any]) -> NodeInfo | None:
        meta, status = obj["metadata"], obj.get("status") or {}
        labels = meta.get("labels") or {}
        count = (_quantity((status.get("capacity") or {}).get(GPU_RESOURCE))
                 or _quantity((status.get("allocatable") or {}).get(GPU_RESOURCE))
                 or _quantity(labels.get("nvidia.com/gpu.count")))
        if count <= 0:
            return None
        product = labels.get(GPU_PRODUCT_LABEL)
        return NodeInfo(
            name=meta["name"],
            gpu_count=count,
            memory_mib=float(_quantity(labels.get(GPU_MEMORY_LABEL)) or DEFAULT_GPU_MEMORY_MIB),
            model_name=product.replace("-", " ") if product else self._default_model,
            ready=_condition_true(status, "Ready", True),
        )

    @staticmethod
    def _parse_deployment(obj: Mapping[str, Any]) -> DeploymentInfo:
        meta, spec = obj["metadata"], obj.get("spec") or {}
        qps: float | None
        try:
            qps = float((meta.get("annotations") or {})[QPS_ANNOTATION])
        except (KeyError, TypeError, ValueError):
            qps = None
        template_labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
        return DeploymentInfo(
            namespace=meta.get("namespace") or "",
            name=meta["name"],
            replicas=int(spec.get("replicas", 1) or 0),
            qps=qps,
            pool=template_labels.get("pool") or (meta.get("labels") or {}).get("pool"),
        )
