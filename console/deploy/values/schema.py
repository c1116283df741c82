"""The values file's typed form (frozen dataclasses) and its schema: every key with its type, default,
bounds and check. Loading and validation live in console.deploy.values.load."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from console.actions.validate import image_reference_problem
from console.core.units import MIB, TIB

NAME_MAX = 47  # the longest object name is NAME-short-queue-hpa (63 characters)
MAX_REPLICAS = 1000
MAX_GPUS_PER_REPLICA = 16
MODEL_OVERHEAD = 1.2  # weights × 1.2: activations, CUDA context and KV-cache headroom

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
LABEL_KEY_PATTERN = re.compile(r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
                        r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
ENV_NAME_PATTERN = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
DURATION_PATTERN = re.compile(r"^[0-9]+(ms|s|m|h)$")
PERCENT_PATTERN = re.compile(r"^[0-9]{1,3}%$")
_METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
ACCESS_MODES = ("ReadOnlyMany", "ReadWriteOnce", "ReadWriteMany", "ReadWriteOncePod")
AUTO = "auto"
SPREAD_CHOICES = ("ScheduleAnyway", "DoNotSchedule", "none")
PULL_POLICIES = ("IfNotPresent", "Always", "Never")


# ---- the typed values ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Model:
    name: str
    path: str
    size_gib: float | None


@dataclass(frozen=True)
class Resources:
    """``None`` memory sizes are derived (console.deploy.values.derived): from ``model.sizeGiB`` when known."""

    cpu: str
    memory_request: str | None
    memory_limit: str | None
    shm_size: str | None


@dataclass(frozen=True)
class Strategy:
    max_surge: int | str
    max_unavailable: int | str
    progress_deadline_seconds: int


@dataclass(frozen=True)
class Probes:
    path: str
    startup_seconds: int


@dataclass(frozen=True)
class Serving:
    max_request_seconds: int
    drain_seconds: int


@dataclass(frozen=True)
class Security:
    run_as_user: int
    run_as_group: int
    read_only_root_filesystem: bool
    scratch_size: str


@dataclass(frozen=True)
class Availability:
    pod_disruption_budget: bool
    spread_across_nodes: str


@dataclass(frozen=True)
class Storage:
    claim_name: str
    create: bool
    size: str
    storage_class_name: str | None
    access_mode: str
    read_only: bool


@dataclass(frozen=True)
class Autoscaling:
    enabled: bool
    min_replicas: int
    max_replicas: int
    cpu_utilization: int | None
    gpu_utilization: int | None
    gpu_metric: str
    queue_length: int | None
    queue_metric: str
    scale_up_stabilization_seconds: int
    scale_down_stabilization_seconds: int


@dataclass(frozen=True)
class Monitoring:
    service_monitor: bool
    prometheus_rule: bool
    interval: str
    labels: dict[str, str]


@dataclass(frozen=True)
class Pool:
    replicas: int
    min_replicas: int
    max_replicas: int


@dataclass(frozen=True)
class Pools:
    enabled: bool
    split_at_chars: int
    short: Pool
    long: Pool
    router_image: str
    router_replicas: int


@dataclass(frozen=True)
class Values:
    """Everything ``render`` needs, validated; ``warnings`` are things that work but deserve a look."""

    namespace: str
    name: str
    model: Model
    image: str
    image_pull_policy: str
    replicas: int
    gpus_per_replica: int
    resources: Resources
    strategy: Strategy
    port: int
    probes: Probes
    serving: Serving
    security: Security
    availability: Availability
    env: dict[str, str]
    args: tuple[str, ...]
    node_selector: dict[str, str]
    tolerate_gpu_taint: bool
    storage: Storage
    autoscaling: Autoscaling
    monitoring: Monitoring
    pools: Pools
    warnings: tuple[str, ...] = field(default=(), compare=False)

    def deployments(self) -> list[str]:
        """The names of the Deployments these values render, serving ones first."""
        if self.pools.enabled:
            return [f"{self.name}-short-queue", f"{self.name}-long-queue", f"{self.name}-router"]
        return [self.name]

    def gpu_pods(self) -> int:
        """GPU pods at the start (before any autoscaling)."""
        if self.pools.enabled:
            return self.pools.short.replicas + self.pools.long.replicas
        return self.replicas


# ---- the schema ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Key:
    """One key of the values file: its type, default, bounds and the dataclass field it fills."""

    kind: str  # str int number bool quantity memory map strlist section intorpercent duration
    default: Any = None
    nullable: bool = False
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()
    check: Callable[[Any], str | None] | None = None
    children: dict[str, Key] | None = None
    cls: type | None = None
    attr: str | None = None


def _pattern(regex: re.Pattern[str], what: str) -> Callable[[Any], str | None]:
    return lambda v: None if regex.match(v) else f"{v!r} is not {what}"


def _dns_name(v: str) -> str | None:
    if len(v) > NAME_MAX:
        return f"{v!r} is longer than {NAME_MAX} characters (suffixes such as -short-queue-hpa are added to it)"
    return None if _DNS_1035.match(v) else (f"{v!r} is not a valid name: lowercase letters, digits and '-', "
                                            "starting with a letter and ending with a letter or digit")


def _dns_label(what: str) -> Callable[[str], str | None]:
    def check(v: str) -> str | None:
        if len(v) > 63:
            return f"{v!r} is longer than 63 characters"
        return None if _DNS_LABEL.match(v) else (f"{v!r} is not a valid {what}: lowercase letters, digits and '-', "
                                                 "starting and ending with a letter or digit")
    return check


def label_value_problem(v: str) -> str | None:
    if len(v) > 63 or not _LABEL_VALUE.match(v):
        return f"{v!r} is not a valid label value (at most 63 letters, digits, '-', '_' or '.')"
    return None


def _abs_path(v: str) -> str | None:
    return None if v.startswith("/") else f"{v!r} must be an absolute path (starting with /)"


def _image(v: str) -> str | None:
    return image_reference_problem(v)


def _metric(v: str) -> str | None:
    return None if _METRIC_NAME.match(v) else f"{v!r} is not a valid metric name"


SCHEMA: dict[str, Key] = {
    "namespace": Key("str", "llm", check=_dns_label("namespace")),
    "name": Key("str", "claude-inference", check=_dns_name),
    "model": Key("section", cls=Model, children={
        "name": Key("str", "claude", check=label_value_problem),
        "path": Key("str", "/models", check=_abs_path),
        "sizeGiB": Key("number", None, nullable=True, low=0.1, high=4096, attr="size_gib"),
    }),
    "image": Key("str", None, check=_image),
    "imagePullPolicy": Key("str", "IfNotPresent", choices=PULL_POLICIES),
    "replicas": Key("int", 2, low=0, high=MAX_REPLICAS),
    "gpusPerReplica": Key("int", 1, low=1, high=MAX_GPUS_PER_REPLICA),
    "resources": Key("section", cls=Resources, children={
        "cpu": Key("quantity", "4", low=0.001, high=1024),
        "memoryRequest": Key("memory", None, nullable=True, low=64 * MIB, high=16 * TIB),
        "memoryLimit": Key("memory", None, nullable=True, low=64 * MIB, high=16 * TIB),
        "shmSize": Key("memory", None, nullable=True, low=64 * MIB, high=1 * TIB),
    }),
    "strategy": Key("section", cls=Strategy, children={
        "maxSurge": Key("intorpercent", 1),
        "maxUnavailable": Key("intorpercent", 0),
        "progressDeadlineSeconds": Key("int", 600, low=30, high=86400),
    }),
    "port": Key("int", 8000, low=1, high=65535),
    "probes": Key("section", cls=Probes, children={
        "path": Key("str", "/health", check=_abs_path),
        "startupSeconds": Key("int", 600, low=10, high=7200),
    }),
    "serving": Key("section", cls=Serving, children={
        "maxRequestSeconds": Key("int", 300, low=1, high=86400),
        "drainSeconds": Key("int", 10, low=0, high=600),
    }),
    "security": Key("section", cls=Security, children={
        "runAsUser": Key("int", 10001, low=1, high=2**31 - 1),  # 0 (root) would fail runAsNonRoot
        "runAsGroup": Key("int", 10001, low=0, high=2**31 - 1),
        "readOnlyRootFilesystem": Key("bool", True),
        "scratchSize": Key("memory", "4Gi", low=16 * MIB, high=1 * TIB),
    }),
    "availability": Key("section", cls=Availability, children={
        "podDisruptionBudget": Key("bool", True),
        "spreadAcrossNodes": Key("str", "ScheduleAnyway", choices=SPREAD_CHOICES),
    }),
    "env": Key("map", {"LD_LIBRARY_PATH": "/usr/local/cuda-12.2/lib64"}),
    "args": Key("strlist", []),
    "nodeSelector": Key("map", {"nvidia.com/gpu.present": "true"}),
    "tolerateGpuTaint": Key("bool", True),
    "storage": Key("section", cls=Storage, children={
        "claimName": Key("str", "model-pvc", check=_dns_label("claim name")),
        "create": Key("bool", True),
        "size": Key("memory", "100Gi", low=MIB, high=1024 * TIB),
        "storageClassName": Key("str", None, nullable=True),
        "accessMode": Key("str", AUTO, choices=(AUTO, *ACCESS_MODES)),
        "readOnly": Key("bool", True),
    }),
    "autoscaling": Key("section", cls=Autoscaling, children={
        "enabled": Key("bool", True),
        "minReplicas": Key("int", 2, low=1, high=MAX_REPLICAS),
        "maxReplicas": Key("int", 8, low=1, high=MAX_REPLICAS),
        "cpuUtilization": Key("int", 70, nullable=True, low=1, high=100),
        "gpuUtilization": Key("int", 60, nullable=True, low=1, high=100),
        "gpuMetric": Key("str", "gpu_utilization", check=_metric),
        "queueLength": Key("int", None, nullable=True, low=1, high=100000),
        "queueMetric": Key("str", "vllm_num_requests_waiting", check=_metric),
        "scaleUpStabilizationSeconds": Key("int", 0, low=0, high=3600),
        "scaleDownStabilizationSeconds": Key("int", 300, low=0, high=3600),
    }),
    "monitoring": Key("section", cls=Monitoring, children={
        "serviceMonitor": Key("bool", True),
        "prometheusRule": Key("bool", True),
        "interval": Key("duration", "15s"),
        "labels": Key("map", {"release": "kube-prometheus-stack"}),
    }),
    "pools": Key("section", cls=Pools, children={
        "enabled": Key("bool", False),
        "splitAtChars": Key("int", 256, low=1, high=1_000_000),
        "short": Key("section", cls=Pool, children={
            "replicas": Key("int", 1, low=0, high=MAX_REPLICAS),
            "minReplicas": Key("int", 1, low=1, high=MAX_REPLICAS),
            "maxReplicas": Key("int", 4, low=1, high=MAX_REPLICAS),
        }),
        "long": Key("section", cls=Pool, children={
            "replicas": Key("int", 1, low=0, high=MAX_REPLICAS),
            "minReplicas": Key("int", 1, low=1, high=MAX_REPLICAS),
            "maxReplicas": Key("int", 4, low=1, high=MAX_REPLICAS),
        }),
        "routerImage": Key("str", "llm/claude-router:v1.0.0", check=_image),
        "routerReplicas": Key("int", 1, low=1, high=MAX_REPLICAS),
    }),
}


# ---- problems ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Problem:
    """One thing wrong with the values: the key path (``autoscaling.minReplicas``), what, and the line."""

    path: str
    message: str
    line: int | None = None

    def text(self, source: str | None = None) -> str:
        where = f"{source}:{self.line}: " if source and self.line else (f"line {self.line}: " if self.line else "")
        return f"{where}{self.path}: {self.message}" if self.path else f"{where}{self.message}"


class ValuesError(ValueError):
    """The values cannot be used; ``problems`` lists every reason (the message has them one per line)."""

    def __init__(self, problems: list[Problem], source: str | None = None) -> None:
        self.problems = problems
        self.source = source
        super().__init__("\n".join(p.text(source) for p in problems))

    @property
    def message(self) -> str:
        return str(self)
