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
    verdict: RolloutVerdict | None = None
    hpa: HpaRow | None = None
    paused: bool = False

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


# ---- rollouts and actions -------------------------------------------------------------------------
@dataclass(frozen=True)
class RolloutVerdict:
    """What ``kubectl rollout status`` would say, word for word (reference.md §4)."""

    done: bool
    failed: bool
    message: str


@dataclass(frozen=True)
class Revision:
    number: int
    replicaset: str
    images: tuple[str, ...]
    change_cause: str
    created: str  # RFC 3339
    replicas: int


@dataclass(frozen=True)
class Preflight:
    """Whether the GPUs an action needs are free, and what to do if not."""

    gpus_needed: int
    gpus_free: int | None  # None: unknown (no permission to list nodes or pods)
    ok: bool
    message: str
    alternative: str | None = None  # e.g. "maxSurge 0 / maxUnavailable 1 (one replica fewer serving)"


@dataclass(frozen=True)
class ActionPlan:
    """A validated, dry-run-checked change, ready to confirm and apply."""

    action: str  # scale | set-image | undo | pause | resume | restart | hpa
    namespace: str
    name: str
    kind: str  # Deployment | HorizontalPodAutoscaler
    kubectl: str  # the equivalent kubectl command
    diff: str  # unified diff (YAML) of the live object vs the server's dry-run answer
    before: dict[str, object]  # the fields the action changes, before
    after: dict[str, object]  # the same fields as the dry-run says they will be
    warnings: tuple[str, ...] = ()
    preflight: Preflight | None = None
    alternatives: tuple[tuple[str, str], ...] = ()  # (id, label) of other plans offered instead
    request: dict[str, object] = field(default_factory=dict)  # what apply() sends (path, patch, type)
    compat: object = None  # set-image: console.compat.matrix.CompatGate (FAIL blocks unless forced)


@dataclass(frozen=True)
class ActionResult:
    plan: ActionPlan
    ok: bool
    message: str
    retried: bool = False  # a 409 conflict was retried once on a fresh read


@dataclass(frozen=True)
class ScaleHold:
    """Whether a scale stayed: an HPA (or anything else) may set the replica count again right after."""

    wanted: int
    replicas: int  # spec.replicas once settled
    held: bool
    reason: str = ""  # who changed it, and what to do instead; "" when it held


# ---- deployment detail ------------------------------------------------------------------------------
@dataclass(frozen=True)
class PodRow:
    name: str
    status: str  # kubectl's STATUS: Running, Pending, ContainerCreating, CrashLoopBackOff, ...
    ready: str  # "1/1"
    restarts: int
    node: str
    created: str
    cold_start_s: float | None  # creation → Ready, once Ready
    why: str  # the reason behind the status ("0/4 nodes are available: ...", "last: OOMKilled (exit 137)")
    image: str = ""
    namespace: str = ""


@dataclass(frozen=True)
class EventRow:
    last_seen: str
    type: str  # Normal | Warning
    reason: str
    obj: str  # "Pod/claude-inference-x"
    message: str
    count: int = 1


@dataclass(frozen=True)
class HpaRow:
    namespace: str
    name: str
    target: str  # Deployment name it scales
    min_replicas: int
    max_replicas: int
    current: int
    desired: int
    metrics: str  # "cpu 74%/70%, gpu_utilization 55/60"
    conditions: str  # "ScalingLimited: ..." when something limits it


@dataclass(frozen=True)
class DeploymentDetail:
    row: DeploymentRow
    verdict: RolloutVerdict
    paused: bool
    strategy: str  # "RollingUpdate maxSurge 1 maxUnavailable 0"
    pods: tuple[PodRow, ...]
    revisions: tuple[Revision, ...]
    events: tuple[EventRow, ...]
    hpa: HpaRow | None
