"""The HPA against a stub simulation, and the large scenario's build time and idleness."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

from console.sandbox import scenarios
from console.sandbox.context import GPU_ANNOTATION, SandboxConfig, SandboxContext
from console.sandbox.controllers.manager import ControllerManager

from .conftest import Cluster, condition, wait_for


class LoadStub:
    """Our own simulation interface (SandboxContext.sim): fixed utilisation for every serving pod."""

    def __init__(self, cpu: float, gpu: float) -> None:
        self.cpu, self.gpu = cpu, gpu

    def pod_utilisation(self, namespace: str, pod: str) -> tuple[float, float] | None:
        return (self.cpu, self.gpu)

    def snapshot(self) -> dict[str, float]:
        return {"cpu": self.cpu, "gpu": self.gpu}


def _hpa(c: Cluster) -> dict:
    return c.store.get("horizontalpodautoscalers", "llm", "claude-hpa")


async def test_hpa_scales_out_on_high_utilisation_and_respects_max(cluster: Cluster) -> None:
    c = cluster
    c.ctx.sim = LoadStub(cpu=95.0, gpu=20.0)
    await wait_for(lambda: c.deployment()["spec"]["replicas"] == 8, timeout=10, what="scale out to max")
    hpa = await wait_for(lambda: (h := _hpa(c))["status"].get("desiredReplicas") == 8
                         and condition(h, "ScalingLimited")["reason"] == "TooManyReplicas" and h, what="limited")
    assert condition(hpa, "ScalingActive")["reason"] == "ValidMetricFound"
    assert hpa["status"]["lastScaleTime"]
    metrics = {m["type"]: m for m in hpa["status"]["currentMetrics"]}
    assert metrics["Resource"]["resource"]["current"]["averageUtilization"] == 95
    assert metrics["Resource"]["resource"]["current"]["averageValue"] == "3800m"  # 95 % of 4 CPUs
    assert metrics["External"]["external"]["metric"]["name"] == "gpu_utilization"
    rescales = [e["message"] for e in c.events("SuccessfulRescale")]
    # ceil(2 pods × 95 / 70) = 3; the external metric (4 app=claude pods × 20 / 60 → 2) asks for less.
    assert rescales[0] == "New size: 3; reason: cpu resource utilization (percentage of request) above target"
    await asyncio.sleep(0.6)  # two more sync periods: never past maxReplicas
    assert c.deployment()["spec"]["replicas"] == 8
    # Load drops: the 300 s scale-down stabilisation window holds the size.
    c.ctx.sim = LoadStub(cpu=10.0, gpu=5.0)
    hpa = await wait_for(lambda: condition(h := _hpa(c), "AbleToScale")["reason"] == "ScaleDownStabilized" and h,
                         what="stabilised")
    assert c.deployment()["spec"]["replicas"] == 8


async def test_hpa_without_metrics_does_not_scale(cluster: Cluster) -> None:
    c = cluster
    assert c.ctx.sim is None
    hpa = await wait_for(lambda: condition(h := _hpa(c), "ScalingActive") and h, what="first HPA sync")
    cond = condition(hpa, "ScalingActive")
    assert (cond["status"], cond["reason"]) == ("False", "FailedGetResourceMetric")
    assert hpa["status"]["currentReplicas"] == hpa["status"]["desiredReplicas"] == 2
    assert c.deployment()["spec"]["replicas"] == 2


async def test_large_scenario_builds_and_stays_idle() -> None:
    ctx = SandboxContext.create(SandboxConfig(scenario="large", speed=60, seed=5), registry_host="127.0.0.1:5000")
    started = time.perf_counter()
    scenarios.build(ctx)
    built = time.perf_counter() - started
    pods = list(ctx.store.iter_all("pods"))
    assert len(pods) >= 10_000
    assert len(list(ctx.store.iter_all("nodes"))) == 250
    assert len({p["metadata"]["namespace"] for p in pods}) >= 20
    print(f"large scenario: {len(pods)} pods built in {built:.1f}s")  # a figure, not a bound (tests/bench times it)
    slots = Counter((p["spec"]["nodeName"], i) for p in pods
                    for i in ((p["metadata"].get("annotations") or {}).get(GPU_ANNOTATION) or "").split(",") if i)
    assert len(slots) >= 1500 and max(slots.values()) == 1
    assert all(p["status"]["phase"] == "Running" and p["spec"].get("nodeName") for p in pods)
    manager = ControllerManager(ctx)
    manager.start()
    try:
        assert await manager.settle(20)
        await asyncio.sleep(0.2)  # let the first HPA syncs land
        before = ctx.store.resource_version
        await asyncio.sleep(1.0)
        assert ctx.store.resource_version == before, "controllers keep writing on a steady cluster"
        assert manager.idle
    finally:
        await manager.stop()
