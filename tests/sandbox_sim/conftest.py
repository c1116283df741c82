"""Fixtures for the simulated-cluster tests: a real store and ControllerManager on the test's own loop,
at a high speed factor so a 35 s cold start takes well under a second of wall time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest

from console.sandbox import scenarios
from console.sandbox.api_defaults import apply_defaults
from console.sandbox.context import SandboxConfig, SandboxContext
from console.sandbox.controllers.manager import ControllerManager
from console.sandbox.store import Obj, copy_object

SPEED = 60.0
NS = "llm"
DEPLOY = "claude-inference"
T = TypeVar("T")


@dataclass
class Cluster:
    ctx: SandboxContext
    manager: ControllerManager

    @property
    def store(self) -> Any:
        return self.ctx.store

    def deployment(self, name: str = DEPLOY, ns: str = NS) -> Obj:
        return self.store.get("deployments", ns, name)

    def update_deployment(self, mutate: Callable[[Obj], None], name: str = DEPLOY, ns: str = NS) -> Obj:
        """A client-side update (as kubectl would send it: defaulted, whole object)."""
        d = copy_object(self.deployment(name, ns))
        mutate(d)
        apply_defaults("deployments", d)
        return self.store.replace("deployments", d)

    def set_image(self, tag: str, name: str = DEPLOY, ns: str = NS) -> Obj:
        ref = self.ctx.catalog.ref("llm/claude-inference", tag)

        def mutate(d: Obj) -> None:
            d["spec"]["template"]["spec"]["containers"][0]["image"] = ref

        return self.update_deployment(mutate, name, ns)

    def replicasets(self, name: str = DEPLOY, ns: str = NS) -> list[Obj]:
        uid = self.deployment(name, ns)["metadata"]["uid"]
        return [rs for rs in self.store.list("replicasets", ns)
                if any(r["uid"] == uid for r in rs["metadata"].get("ownerReferences") or [])]

    def pods(self, name: str = DEPLOY, ns: str = NS) -> list[Obj]:
        uids = {rs["metadata"]["uid"] for rs in self.replicasets(name, ns)}
        return [p for p in self.store.list("pods", ns)
                if any(r["uid"] in uids for r in p["metadata"].get("ownerReferences") or [])]

    def events(self, reason: str | None = None, ns: str = NS) -> list[Obj]:
        return [e for e in self.store.list("events", ns) if reason is None or e["reason"] == reason]


def rollout_done(d: Obj) -> bool:
    """`kubectl rollout status` would say "successfully rolled out"."""
    st, want = d.get("status") or {}, d["spec"].get("replicas", 1)
    return (st.get("observedGeneration", 0) >= d["metadata"]["generation"] and st.get("updatedReplicas", 0) == want
            and st.get("replicas", 0) == want and st.get("availableReplicas", 0) == want)


def condition(obj: Obj, type_: str) -> dict[str, Any] | None:
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c["type"] == type_), None)


async def wait_for(probe: Callable[[], T], timeout: float = 8.0, what: str = "condition") -> T:
    """Poll ``probe`` until it returns something truthy (the test's clock, not the sandbox's)."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.01)


async def start_cluster(**config: Any) -> Cluster:
    ctx = SandboxContext.create(SandboxConfig(**{"speed": SPEED, "seed": 3, **config}),
                                registry_host="127.0.0.1:5000")
    scenarios.build(ctx)
    manager = ControllerManager(ctx)
    manager.start()
    assert await manager.settle(10)
    return Cluster(ctx, manager)


@pytest.fixture
async def cluster() -> AsyncIterator[Cluster]:
    """The default scenario with every controller running."""
    c = await start_cluster()
    try:
        yield c
    finally:
        await c.manager.stop()
