"""Runs every sandbox controller on the sandbox's loop, fed by one store subscription.

One listener updates the shared indexes first and then tells each interested controller, so a
controller reconciling in response to a change always sees indexes that include it.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from ..store import Obj
from .base import Controller
from .daemonset import DaemonSetController
from .deployment import DeploymentController
from .disruption import DisruptionController
from .hpa import HpaController
from .index import StoreIndex
from .kubelet import Kubelet
from .nodes import NodeLifecycle
from .replicaset import ReplicaSetController
from .scheduler import Scheduler
from .serviceaccounts import ServiceAccountController
from .volumes import VolumeBinder

if TYPE_CHECKING:
    from ..context import SandboxContext

EXTRAS_KEY = "controllers"  # ctx.extras[EXTRAS_KEY] is the running manager (faults notify it)


class ControllerManager:
    """The sandbox's kube-controller-manager + scheduler + kubelets."""

    def __init__(self, ctx: SandboxContext) -> None:
        self.ctx = ctx
        self.index: StoreIndex | None = None
        self.controllers: list[Controller] = []
        self._subscribed = False
        self._running = False

    def start(self) -> None:
        """Start every controller (call on the running loop that owns ``ctx.store``)."""
        if self._running:
            return
        self.index = StoreIndex(self.ctx.store)
        classes: list[type[Controller]] = [
            NodeLifecycle, Scheduler, Kubelet, DaemonSetController, ReplicaSetController,
            DeploymentController, HpaController, VolumeBinder, DisruptionController,
            ServiceAccountController,
        ]
        self.controllers = [cls(self.ctx, self.index) for cls in classes]
        self._by_plural: dict[str, list[Controller]] = {}
        for c in self.controllers:
            for plural in c.plurals:
                self._by_plural.setdefault(plural, []).append(c)
        self._running = True
        if not self._subscribed:  # the store has no unsubscribe: one listener for the sandbox's life
            self.ctx.store.subscribe(self._on_change)
            self._subscribed = True
        self.ctx.extras[EXTRAS_KEY] = self
        for c in self.controllers:
            c.start()

    async def stop(self) -> None:
        self._running = False
        for c in reversed(self.controllers):
            await c.stop()
        if self.ctx.extras.get(EXTRAS_KEY) is self:
            del self.ctx.extras[EXTRAS_KEY]

    def _on_change(self, type_: str, plural: str, obj: Obj, old: Obj | None) -> None:
        if not self._running or self.index is None:
            return
        self.index.on_change(type_, plural, obj, old)
        for c in self._by_plural.get(plural, ()):
            c.on_change(type_, plural, obj, old)

    def notify_fault(self, kind: str, target: str | None) -> None:
        """A fault was applied or cleared: controllers that act on faults re-examine what it touches."""
        for c in self.controllers:
            hook = getattr(c, "on_fault", None)
            if hook is not None:
                hook(kind, target)

    def controller(self, name: str) -> Controller:
        return next(c for c in self.controllers if c.name == name)

    @property
    def idle(self) -> bool:
        """No controller has queued or in-flight work (timers may still be pending)."""
        return all(c.idle for c in self.controllers)

    async def settle(self, timeout: float = 5.0) -> bool:
        """Wait until every work queue is empty (for tests and scenario start); False on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            await asyncio.sleep(0)
            if self.idle:
                await asyncio.sleep(0.01)
                if self.idle:
                    return True
        return False
