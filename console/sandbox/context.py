"""What every part of the sandbox shares: config, clock, store, image catalog, faults, logs, simulation.

Controllers, the simulation and the HTTP layers all receive one :class:`SandboxContext`. Nothing here
does I/O; everything runs on the sandbox's single asyncio loop.
"""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from .clock import Clock
from .images import ImageCatalog
from .limits import HISTORY_BYTES, HISTORY_EVENTS
from .store import Store

# Annotation the scheduler writes on a bound pod: the GPU indexes (on its node) the pod holds.
GPU_ANNOTATION = "sandbox.llmctl.dev/gpus"
SANDBOX_LABEL = "sandbox.llmctl.dev/simulated"


@dataclass
class SandboxConfig:
    host: str = "127.0.0.1"
    port: int = 0
    kubeconfig: Path | None = None
    scenario: str = "default"  # default | large
    nodes: int | None = None  # None: the scenario's own (4 default, 250 large)
    gpus_per_node: int | None = None  # None: the scenario's own (4 default, 8 large)
    gpu_product: str = "A10G"
    speed: float = 1.0
    seed: int = 0
    history_limit: int = HISTORY_EVENTS  # watch history kept (events); older resourceVersions answer 410 Gone
    history_bytes: int = HISTORY_BYTES  # ... and JSON bytes of the objects it keeps alive
    bookmark_interval: float = 5.0  # wall seconds between BOOKMARK events on watches that ask
    exec_token_ttl: float = 900.0  # wall seconds an issued exec-plugin token is valid (EKS's: 15 minutes)
    # Wall seconds a connection may go without a complete request: headers sent too slowly or never finished
    # (slowloris), or an idle keep-alive connection. kube-apiserver has ReadHeaderTimeout 32 s and IdleTimeout
    # 90 s; aiohttp has one timer for both (keepalive_timeout), so the shorter. Running requests (watches,
    # log follows) are not affected.
    idle_timeout: float = 32.0
    state_dir: Path | None = None  # persist the cluster here (state.json) and start from it when present
    state_interval: float = 10.0  # wall seconds between periodic state writes (only when something changed)
    metrics_port: int | None = None  # fixed exporter ports: DCGM on this one, vLLM on the next (None: any free)


@dataclass
class FaultState:
    """Active faults: kind → target (a deployment or node name, or "" for the scenario's default)."""

    active: dict[str, str] = field(default_factory=dict)

    def is_on(self, kind: str) -> bool:
        return kind in self.active

    def target(self, kind: str) -> str | None:
        return self.active.get(kind)


class PodLogs:
    """Container logs the kubelet writes and ``pods/{name}/log`` serves (bounded per container)."""

    def __init__(self, max_lines: int = 2000) -> None:
        self._lines: dict[tuple[str, str, str], deque[str]] = defaultdict(lambda: deque(maxlen=max_lines))
        self._previous: dict[tuple[str, str, str], list[str]] = {}
        self._waiters: dict[tuple[str, str, str], list[asyncio.Event]] = defaultdict(list)
        self._appended: dict[tuple[str, str, str], int] = defaultdict(int)  # cursor for followers
        self.version = 0  # bumped on every change (the state writer's "anything new?")

    def append(self, namespace: str, pod: str, container: str, line: str) -> None:
        key = (namespace, pod, container)
        self._lines[key].append(line)
        self._appended[key] += 1
        self.version += 1
        for ev in self._waiters.pop(key, []):
            ev.set()

    def restart(self, namespace: str, pod: str, container: str) -> None:
        """A container restarted: its log so far becomes the ``previous=true`` log."""
        key = (namespace, pod, container)
        self._previous[key] = list(self._lines.pop(key, []))
        self.version += 1

    def lines(self, namespace: str, pod: str, container: str, previous: bool = False) -> list[str]:
        key = (namespace, pod, container)
        return list(self._previous.get(key, [])) if previous else list(self._lines.get(key, []))

    def waiter(self, namespace: str, pod: str, container: str) -> asyncio.Event:
        """An event set at the next appended line (for ``follow=true``)."""
        ev = asyncio.Event()
        self._waiters[(namespace, pod, container)].append(ev)
        return ev

    def cursor(self, namespace: str, pod: str, container: str) -> int:
        """How many lines were ever appended to this container's log (never decreases; for follow)."""
        return self._appended.get((namespace, pod, container), 0)

    def lines_since(self, namespace: str, pod: str, container: str, cursor: int) -> list[str]:
        """The lines appended after ``cursor`` (a :meth:`cursor` value) that are still kept."""
        key = (namespace, pod, container)
        new = self._appended.get(key, 0) - cursor
        kept = self._lines.get(key)
        if new <= 0 or not kept:
            return []
        return list(kept)[-min(new, len(kept)):]

    def forget(self, namespace: str, pod: str) -> None:
        self.version += 1
        for key in [k for k in (*self._lines, *self._previous, *self._waiters) if k[:2] == (namespace, pod)]:
            self._lines.pop(key, None)
            self._previous.pop(key, None)
            self._appended.pop(key, None)
            for ev in self._waiters.pop(key, []):
                ev.set()  # a follower of a deleted pod wakes, finds it gone and ends

    def dump(self) -> dict[str, Any]:
        """Everything kept, as JSON-able data (for the state file)."""
        keys = set(self._lines) | set(self._previous) | set(self._appended)
        return {"containers": [{"key": list(k), "lines": list(self._lines.get(k, ())),
                                "previous": self._previous.get(k), "appended": self._appended.get(k, 0)}
                               for k in sorted(keys)]}

    def load(self, data: dict[str, Any]) -> None:
        """Put back what :meth:`dump` wrote."""
        for item in data.get("containers") or []:
            key = tuple(item["key"])
            if len(key) != 3:
                continue
            if item.get("lines"):
                self._lines[key].extend(item["lines"])  # type: ignore[index]
            if item.get("previous") is not None:
                self._previous[key] = list(item["previous"])  # type: ignore[index]
            self._appended[key] = int(item.get("appended") or 0)  # type: ignore[index]


class Simulation(Protocol):
    """Request load, queueing and GPU memory (console/sandbox/sim). Read by the HPA and exporters."""

    def pod_utilisation(self, namespace: str, pod: str) -> tuple[float, float] | None:
        """(CPU % of request, GPU utilisation %) of a serving pod, or None when it is not serving."""

    def snapshot(self) -> dict[str, Any]:
        """Current figures (for tests and the in-process metrics source)."""


@dataclass
class SandboxContext:
    config: SandboxConfig
    clock: Clock
    store: Store
    catalog: ImageCatalog
    rng: random.Random
    faults: FaultState = field(default_factory=FaultState)
    logs: PodLogs = field(default_factory=PodLogs)
    sim: Any = None  # a Simulation, set when the simulation starts
    extras: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def create(cls, config: SandboxConfig, registry_host: str) -> SandboxContext:
        clock = Clock(config.speed)
        return cls(
            config=config,
            clock=clock,
            store=Store(clock, history_limit=config.history_limit, history_bytes=config.history_bytes),
            catalog=ImageCatalog.default(registry_host),
            rng=random.Random(config.seed),
        )
