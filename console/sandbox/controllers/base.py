"""What every sandbox controller shares: a dirty-key queue drained by one worker task, timers on the
sandbox clock, and small helpers over API objects (conditions, owner references, quantities).

Controllers are event-driven: a store change marks keys dirty and wakes the worker; a reconcile is a
plain synchronous function over the store (the store lives on the same loop, so a reconcile sees a
consistent snapshot and needs no locking). Idle means no runnable task at all: no polling.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
from collections import deque
from collections.abc import Hashable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from ..store import Obj
from .keys import Key

if TYPE_CHECKING:
    from ..context import SandboxContext
    from .index import StoreIndex

log = logging.getLogger("console.sandbox.controllers")

# The workload the faults and the default scenario revolve around (reference.md §1).
DEFAULT_NAMESPACE = "llm"
DEFAULT_DEPLOYMENT = "claude-inference"

# How many keys a worker reconciles before yielding to the loop, so a 10k-pod initial sync does not
# starve the HTTP layer sharing the loop.
_BATCH = 200


class Controller:
    """One reconcile loop over dirty keys; subclasses map store changes to keys and reconcile a key."""

    name = "controller"
    plurals: tuple[str, ...] = ()  # resources whose changes this controller wants to hear about

    def __init__(self, ctx: SandboxContext, index: StoreIndex) -> None:
        self.ctx = ctx
        self.store = ctx.store
        self.clock = ctx.clock
        self.index = index
        self._queue: deque[Hashable] = deque()
        self._queued: set[Hashable] = set()
        self._wake = asyncio.Event()
        self._timers: dict[Hashable, asyncio.TimerHandle] = {}
        self._task: asyncio.Task[None] | None = None
        self._busy = False
        self.running = False

    # ---- to override ----------------------------------------------------------------------------
    def on_change(self, type_: str, plural: str, obj: Obj, old: Obj | None) -> None:
        """React to a committed store change (synchronously; enqueue only)."""

    def initial_keys(self) -> Iterable[Hashable]:
        """Keys to reconcile once at start (the informer's initial list)."""
        return ()

    def reconcile(self, key: Hashable) -> None:
        """Bring one object's world in line with its spec."""

    def reconcile_batch(self, keys: list[Hashable]) -> None:
        """Reconcile several keys; the scheduler overrides this to share one capacity snapshot."""
        for key in keys:
            try:
                self.reconcile(key)
            except Exception:  # a bug in one object must not kill the loop for all others
                log.exception("%s: reconcile of %s failed", self.name, key)

    # ---- queue ----------------------------------------------------------------------------------
    def enqueue(self, key: Hashable) -> None:
        if not self.running or key in self._queued:
            return
        self._queued.add(key)
        self._queue.append(key)
        self._wake.set()

    def enqueue_after(self, sim_seconds: float, key: Hashable, timer_key: Hashable | None = None) -> None:
        """Reconcile ``key`` after a simulated delay; a later call with the same timer key replaces it."""
        self.call_after(sim_seconds, lambda: self.enqueue(key), timer_key)

    def call_after(self, sim_seconds: float, fn: Any, timer_key: Hashable | None = None) -> None:
        """Run ``fn`` after a simulated delay (cancelled by :meth:`stop`)."""
        if not self.running:
            return
        tk: Hashable = timer_key if timer_key is not None else object()
        self.cancel_timer(tk)

        def fire() -> None:
            self._timers.pop(tk, None)
            if self.running:
                try:
                    fn()
                except Exception:
                    log.exception("%s: timer %s failed", self.name, tk)

        self._timers[tk] = self.clock.call_later(max(0.0, sim_seconds), fire)

    def cancel_timer(self, timer_key: Hashable) -> None:
        handle = self._timers.pop(timer_key, None)
        if handle is not None:
            handle.cancel()

    def has_timer(self, timer_key: Hashable) -> bool:
        return timer_key in self._timers

    @property
    def idle(self) -> bool:
        return not self._queue and not self._busy

    # ---- lifecycle ------------------------------------------------------------------------------
    def start(self) -> None:
        self.running = True
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"sandbox-{self.name}")
        for key in self.initial_keys():
            self.enqueue(key)

    async def stop(self) -> None:
        self.running = False
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                self._busy = True
                batch = []
                while self._queue and len(batch) < _BATCH:
                    key = self._queue.popleft()
                    self._queued.discard(key)
                    batch.append(key)
                self.reconcile_batch(batch)
                self._busy = False
                await asyncio.sleep(0)


# ---- object helpers -------------------------------------------------------------------------------
def owner_reference(owner: Mapping[str, Any]) -> dict[str, Any]:
    """The controller reference a child carries, as the real controllers write it."""
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def get_condition(status: Mapping[str, Any] | None, type_: str) -> dict[str, Any] | None:
    for cond in (status or {}).get("conditions") or []:
        if cond.get("type") == type_:
            return cond
    return None


def condition_true(obj: Mapping[str, Any], type_: str) -> bool:
    cond = get_condition(obj.get("status"), type_)
    return bool(cond and cond.get("status") == "True")


def node_ready(node: Mapping[str, Any] | None) -> bool:
    return bool(node) and condition_true(node, "Ready")  # type: ignore[arg-type]


def pod_ready(pod: Mapping[str, Any]) -> bool:
    return condition_true(pod, "Ready")


def pod_active(pod: Mapping[str, Any]) -> bool:
    """Counts towards its controller's replicas: not terminating and not finished (kube's IsPodActive)."""
    return (
        not pod["metadata"].get("deletionTimestamp")
        and (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
    )


def parse_workload_target(target: str | None) -> Key:
    """``name`` (in the ``llm`` namespace) or ``namespace/name`` → (namespace, name)."""
    if not target:
        return (DEFAULT_NAMESPACE, DEFAULT_DEPLOYMENT)
    ns, sep, name = target.partition("/")
    return (ns, name) if sep else (DEFAULT_NAMESPACE, target)


# ---- quantities -----------------------------------------------------------------------------------
_QUANTITY = re.compile(r"^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)([a-zA-Z]*)$")
_SUFFIX = {
    "": 1.0, "n": 1e-9, "u": 1e-6, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18,
    "Ki": 2.0**10, "Mi": 2.0**20, "Gi": 2.0**30, "Ti": 2.0**40, "Pi": 2.0**50, "Ei": 2.0**60,
}


def parse_quantity(value: Any) -> float:
    """A Kubernetes quantity ("500m", "12Gi", "4", 2) as a float in base units; 0 when unparsable."""
    if value is None:
        return 0.0
    if isinstance(value, int | float):
        return float(value)
    m = _QUANTITY.match(str(value).strip())
    if not m or m.group(2) not in _SUFFIX:
        return 0.0
    try:
        parsed = float(m.group(1)) * _SUFFIX[m.group(2)]
    except ValueError:  # "1.2.3": the API refuses such quantities, objects written around it may not
        return 0.0
    return parsed if math.isfinite(parsed) else 0.0


def container_requests(container: Mapping[str, Any]) -> dict[str, float]:
    """Requests of a container; a limit without a request counts as the request (API defaulting)."""
    res = container.get("resources") or {}
    out = {k: parse_quantity(v) for k, v in (res.get("limits") or {}).items()}
    out.update({k: parse_quantity(v) for k, v in (res.get("requests") or {}).items()})
    return out


def pod_requests(pod: Mapping[str, Any]) -> dict[str, float]:
    total: dict[str, float] = {}
    for c in pod.get("spec", {}).get("containers") or []:
        for k, v in container_requests(c).items():
            total[k] = total.get(k, 0.0) + v
    return total


def pod_gpus(pod: Mapping[str, Any]) -> int:
    return int(pod_requests(pod).get("nvidia.com/gpu", 0))
