"""What the manifests derive from the values rather than take as written: memory sized from the weights,
``/dev/shm``, the volume's access mode (from the StorageClass when the cluster could be read), the disruption
budget's floor and the termination grace period. Pure functions; render, the values' cross-checks and the
preflight share them, so each rule is written once.

Memory: loading a model streams its weights through host memory (the page cache of the safetensors files is
charged to the pod's memory cgroup), so the request holds at least the weights, rounded up to whole GiB, and
the limit keeps the source article's 2 GiB buffer above it (its ``12Gi``/``14Gi`` when the size is unknown).

Access mode ``auto``: ReadOnlyMany when the StorageClass's provisioner is a shared file system that offers it
(NFS, CephFS, EFS, Filestore, Azure Files, ...), else ReadWriteOnce — the one mode every provisioner binds. A
ReadOnlyMany claim on a block-storage class (most CSI drivers) stays Pending for ever, so llmctl never asks
for it on a class it cannot read; with ReadWriteOnce and more than one serving pod, the values warn that pods
on other nodes than the volume's hang on a Multi-Attach error.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from console.core.units import GIB, MEMORY_BUFFER, MIB, parse_quantity
from console.deploy.values.schema import AUTO, Values

ARTICLE_REQUEST, ARTICLE_LIMIT = "12Gi", "14Gi"  # the source article's OOM rule, used without model.sizeGiB
SHM_FLOOR_GIB = 2  # vLLM's Kubernetes example mounts a 2Gi /dev/shm; NCCL between a pod's GPUs uses it too
SHUTDOWN_MARGIN_S = 10  # after the last request: the server frees its GPU memory and exits
SHARED_MODES = ("ReadOnlyMany", "ReadWriteMany")  # modes whose volume attaches to several nodes at once
# Provisioners (CSI drivers and in-tree plugins) of shared file systems: their volumes mount on many nodes at
# once, ReadOnlyMany included. Matched as substrings of StorageClass.provisioner.
SHARED_PROVISIONERS = ("nfs", "cephfs", "efs.csi.aws.com", "filestore.csi.storage.gke.io", "file.csi.azure.com",
                       "azure-file", "glusterfs", "juicefs", "lustre", "spectrumscale", "gpfs", "beegfs",
                       "smb.csi.k8s.io", "csi.weka.io")


@dataclass(frozen=True)
class StorageClassFacts:
    name: str
    provisioner: str

    @property
    def shared(self) -> bool:
        """Whether its volumes can be mounted on several nodes at once (read-only many)."""
        low = self.provisioner.lower()
        return any(p in low for p in SHARED_PROVISIONERS)


@dataclass(frozen=True)
class ClusterFacts:
    """What the cluster told the preflight that changes the manifests; the defaults mean "not known" (an
    offline ``llmctl render``), which renders everything and resolves ``auto`` to ReadWriteOnce."""

    storage_class: StorageClassFacts | None = None
    storage_class_note: str = ""  # why it is unknown: "no default StorageClass", "cannot read storageclasses: …"
    unserved: frozenset[str] = frozenset()  # optional kinds the cluster does not serve (left out)


def _gib(n: int) -> str:
    return f"{n}Gi"


def _exact(n_bytes: float) -> str:
    """Bytes as a manifest quantity, never rounded down: whole Gi when exact, else Mi (rounded up)."""
    if n_bytes % GIB == 0:
        return _gib(int(n_bytes // GIB))
    return f"{math.ceil(n_bytes / MIB)}Mi"


def memory_for(size_gib: float | None, request: str | None, limit: str | None) -> tuple[str, str]:
    """(request, limit) with the derived ones filled in: request ≥ the weights (whole GiB), limit = request +
    2 GiB (the article's buffer); without a size, the article's 12Gi / 14Gi."""
    if request is None:
        request = _gib(max(1, math.ceil(size_gib))) if size_gib else ARTICLE_REQUEST
    if limit is None:
        if request == ARTICLE_REQUEST and not size_gib:
            limit = ARTICLE_LIMIT
        else:
            limit = _exact(float(parse_quantity(request)) + MEMORY_BUFFER)
    return request, limit


def memory(values: Values) -> tuple[str, str]:
    """The serving container's memory (request, limit)."""
    r = values.resources
    return memory_for(values.model.size_gib, r.memory_request, r.memory_limit)


def memory_fit_problem(size_gib: float | None, request: str, limit: str) -> str | None:
    """Why a memory request/limit does not fit ``size_gib`` of weights (None: it fits, or the size is unknown)."""
    if not size_gib:
        return None
    weights = size_gib * GIB
    short = []
    if float(parse_quantity(request)) < weights:
        short.append(f"request {request}")
    if float(parse_quantity(limit)) < weights + MEMORY_BUFFER:
        short.append(f"limit {limit}")
    if not short:
        return None
    want_request, want_limit = memory_for(size_gib, None, None)
    verb = "are" if len(short) > 1 else "is"
    return (f"memory {' and '.join(short)} {verb} too small for {size_gib:g} GiB of weights (model.sizeGiB): loading "
            "streams the weights through host memory, so the pod is OOM-killed or evicted while it loads; use at "
            f"least {want_request} / {want_limit} (the weights, then the source article's 2 GiB buffer), or leave "
            "resources.memoryRequest and memoryLimit out to size them from the weights")


def shm_size(values: Values) -> str:
    """``/dev/shm``'s size: as given, else 1 GiB per GPU with a 2 GiB floor. A Memory-backed emptyDir is
    charged to the pod's memory, so it cannot usefully exceed the memory limit."""
    if values.resources.shm_size:
        return values.resources.shm_size
    return _gib(max(SHM_FLOOR_GIB, values.gpus_per_replica))


def access_mode(values: Values, cluster: ClusterFacts | None = None) -> str:
    """The claim's access mode: as given; ``auto`` → ReadOnlyMany on a shared file system's StorageClass,
    else ReadWriteOnce (see the module docstring)."""
    mode = values.storage.access_mode
    if mode != AUTO:
        return mode
    sc = cluster.storage_class if cluster else None
    return "ReadOnlyMany" if sc is not None and sc.shared else "ReadWriteOnce"


def access_mode_reason(values: Values, cluster: ClusterFacts | None) -> str:
    """Why :func:`access_mode` chose what it chose, in a sentence (for the preflight)."""
    mode = access_mode(values, cluster)
    if values.storage.access_mode != AUTO:
        return f"storage.accessMode {mode}, as set"
    sc = cluster.storage_class if cluster else None
    if sc is None:
        why = cluster.storage_class_note if cluster and cluster.storage_class_note else "the StorageClass is unknown"
        return f"storage.accessMode auto → ReadWriteOnce ({why}; every provisioner binds ReadWriteOnce)"
    if sc.shared:
        return f"storage.accessMode auto → ReadOnlyMany (StorageClass {sc.name}: {sc.provisioner} shares volumes " \
               "across nodes)"
    return f"storage.accessMode auto → ReadWriteOnce (StorageClass {sc.name}: {sc.provisioner} is not known to " \
           "offer ReadOnlyMany)"


def most_serving_pods(values: Values) -> int:
    """The most GPU pods that may run at once (the HPA's ceilings, or the replicas), every pool together."""
    a, p = values.autoscaling, values.pools
    if p.enabled:
        if a.enabled:
            return p.short.max_replicas + p.long.max_replicas
        return p.short.replicas + p.long.replicas
    return a.max_replicas if a.enabled else values.replicas


def single_node_volume_problem(values: Values, cluster: ClusterFacts | None = None) -> str | None:
    """Why the weights volume cannot serve every pod (a ReadWriteOnce volume, more than one pod), or None."""
    mode = access_mode(values, cluster)
    most = most_serving_pods(values)
    if not values.storage.create or mode != "ReadWriteOnce" or most <= 1:
        return None  # an existing claim is used as it is; ReadWriteOncePod is refused by the values' own checks
    if values.storage.access_mode == AUTO and cluster is None:
        shown = "auto → ReadWriteOnce unless llmctl deploy finds a shared file system's StorageClass"
    else:
        shown = "auto → ReadWriteOnce" if values.storage.access_mode == AUTO else mode
    spread = " (spread across nodes)" if values.availability.spread_across_nodes != "none" else ""
    return (f"storage.accessMode {shown}: the volume attaches to one node, so of up to {most} serving pods{spread} "
            "those on other nodes hang in ContainerCreating (Multi-Attach error); set ReadOnlyMany on a shared file "
            "system (NFS, CephFS, EFS, Filestore, Azure Files), or give each replica its own copy of the weights")


def replica_floor(values: Values, pool: str | None = None) -> int:
    """The fewest pods a serving Deployment runs (the HPA's minimum when it scales it, else its replicas)."""
    a = values.autoscaling
    if pool is not None:
        spec = values.pools.short if pool == "short" else values.pools.long
        return spec.min_replicas if a.enabled else spec.replicas
    return a.min_replicas if a.enabled else values.replicas


def min_available(floor: int) -> int | None:
    """The budget for a Deployment whose pods never drop below ``floor``: one pod of that floor may be evicted
    (``floor − 1``). None below 2 pods: ``minAvailable: 1`` on a single replica would block every drain."""
    return floor - 1 if floor >= 2 else None


def grace_seconds(values: Values) -> int:
    """terminationGracePeriodSeconds: the preStop drain, then the longest request, then a margin to exit."""
    return values.serving.drain_seconds + values.serving.max_request_seconds + SHUTDOWN_MARGIN_S
