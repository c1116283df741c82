"""Plain records the simulation publishes each tick and the exporters render.

They carry no behaviour and no reference to the store, so the console's in-process metrics source
and the text renderers can use them without a :class:`SandboxContext`. Objects handed out by the
simulation are its live state: read them, never mutate them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

INF = float("inf")

# vLLM's own bucket bounds (vllm/v1/metrics/loggers.py), so PromQL written for real vLLM works as is.
E2E_BUCKETS: tuple[float, ...] = (
    0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0,
    120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0, INF,
)
TTFT_BUCKETS: tuple[float, ...] = (
    0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5,
    10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0, INF,
)
ITL_BUCKETS: tuple[float, ...] = (
    0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5,
    10.0, 20.0, 40.0, 80.0, INF,
)
# vLLM times the queue phase with the request-latency buckets.
QUEUE_BUCKETS: tuple[float, ...] = E2E_BUCKETS


@dataclass(slots=True)
class Histogram:
    """One Prometheus histogram's current value: cumulative bucket counts (last is +Inf) and sum."""

    bounds: tuple[float, ...]
    buckets: list[int]
    sum: float

    @property
    def count(self) -> int:
        return self.buckets[-1]


@dataclass(slots=True)
class DeploymentFigures:
    """The queue model's view of one serving Deployment for the current tick (latencies in seconds)."""

    namespace: str
    name: str
    replicas: int = 0  # serving (Ready) pods holding a GPU
    loading: int = 0  # Running pods still loading the model
    offered_qps: float = 0.0
    qps: float = 0.0  # served (completed) requests per second
    rejected_qps: float = 0.0  # dropped because the queue was full
    rho: float = 0.0  # utilisation λ / (c·μ); > 1 means the queue grows
    p50_s: float | None = None
    p95_s: float | None = None
    p99_s: float | None = None
    ttft_p50_s: float | None = None
    ttft_p95_s: float | None = None
    ttft_p99_s: float | None = None
    queue_p99_s: float | None = None
    itl_p50_s: float | None = None
    running: float = 0.0
    waiting: float = 0.0
    kv_cache_perc: float = 0.0  # 0..1, mean over the serving pods
    faults: tuple[str, ...] = ()


@dataclass(slots=True)
class PodFigures:
    """One GPU pod's figures. ``state`` is serving | loading | loaded (Running, not Ready) | stopped."""

    namespace: str
    name: str
    deployment: str | None
    node: str
    gpus: tuple[int, ...]
    container: str
    state: str = "stopped"
    qps: float = 0.0
    running: float = 0.0
    waiting: float = 0.0
    kv_cache_perc: float = 0.0
    cpu_percent: float = 0.0  # of the CPU request
    gpu_util: float = 0.0
    fb_used_mib: float = 0.0  # over all its GPUs
    leak_mib: float = 0.0


@dataclass(slots=True)
class GpuFigures:
    """One physical GPU as DCGM reports it. ``pods`` are (namespace, pod, container) holding it."""

    node: str
    index: int
    uuid: str
    model_name: str
    total_mib: float
    node_ready: bool = True
    used_mib: float = 0.0
    util: float = 0.0
    temp_c: float = 30.0
    power_w: float = 20.0
    xid: int = 0
    pods: list[tuple[str, str, str]] = field(default_factory=list)

    @property
    def free_mib(self) -> float:
        return max(0.0, self.total_mib - self.used_mib)

    @property
    def used_percent(self) -> float:
        return 100.0 * self.used_mib / self.total_mib if self.total_mib else 0.0


@dataclass(slots=True)
class VllmPodSample:
    """Everything one vLLM pod's /metrics shows; counters and histograms are cumulative."""

    model_name: str
    namespace: str
    pod: str
    running: float
    waiting: float
    kv_cache_perc: float
    e2e: Histogram
    ttft: Histogram
    itl: Histogram
    queue: Histogram
    prompt_tokens: int
    generation_tokens: int

    @property
    def request_success(self) -> int:
        return self.e2e.count
