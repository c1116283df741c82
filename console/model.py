"""Frozen data shared by services and screens. No I/O, no Textual."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class ConnState(StrEnum):
    CONNECTING = "connecting"
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"
    FORBIDDEN = "forbidden"
    ERROR = "error"


@dataclass(frozen=True)
class Connection:
    """How the console's link to a source stands, for the header and each panel."""

    state: ConnState = ConnState.CONNECTING
    message: str = ""
    last_ok: float | None = None  # time.time() of the last successful read or event


@dataclass(frozen=True)
class GpuNode:
    name: str
    product: str  # "NVIDIA-A10G", or "" when the node has no GPU Feature Discovery labels
    driver: str  # "535.104.05", or ""
    cuda: str  # highest CUDA the driver supports (nvidia.com/cuda.runtime.*), or ""
    compute: str  # compute capability "8.6", or ""
    gpu_memory_mib: int | None
    allocatable: int
    allocated: int | None  # None: unknown (pods not readable)
    ready: bool
    unschedulable: bool = False

    @property
    def free(self) -> int | None:
        return None if self.allocated is None else max(self.allocatable - self.allocated, 0)


@dataclass(frozen=True)
class DeploymentRow:
    namespace: str
    name: str
    desired: int
    ready: int
    updated: int
    available: int
    image: str
    gpus_per_replica: int
    revision: str
    created: str  # RFC 3339

    @property
    def gpus_total(self) -> int:
        return self.gpus_per_replica * self.desired


@dataclass(frozen=True)
class ClusterSnapshot:
    """Everything the dashboard shows about the cluster at one moment."""

    connection: Connection = field(default_factory=Connection)
    context: str = ""
    user: str = ""
    server: str = ""
    namespace: str = ""
    sandbox: bool = False
    nodes: tuple[GpuNode, ...] = ()
    deployments: tuple[DeploymentRow, ...] = ()
    synced: frozenset[str] = frozenset()  # resources listed at least once ("nodes", "deployments", ...)
    problems: tuple[tuple[str, str], ...] = ()  # (resource, message) e.g. ("pods", "no permission ...")

    def problem(self, resource: str) -> str | None:
        return next((m for r, m in self.problems if r == resource), None)
