"""The default scenario's load keeps every serving Deployment inside the 500 ms p99 SLO (issue 14: the long-prompt
pool sat at 750–830 ms and the others near 500 ms, so a healthy sandbox fired LLMLatencyP99High), with a margin
(under the built-in rule's 450 ms clear line); the latency-spike fault still pushes claude-inference far past it."""

from __future__ import annotations

import pytest

from console.sandbox.context import SandboxConfig, SandboxContext
from console.sandbox.scenarios import build
from console.sandbox.sim import Simulation

CLEAR_LINE_S = 0.45  # 500 ms less the built-in rules' 10 % hysteresis margin


def default_scenario(seed: int) -> Simulation:
    ctx = SandboxContext.create(SandboxConfig(speed=40, seed=seed), "127.0.0.1:5000")
    build(ctx)
    return Simulation(ctx)


@pytest.mark.parametrize(("seed", "dt"), [(7, 1.0), (11, 1.0), (3, 2.5)])  # dt > 1: a loop behind at high speed
def test_every_pool_stays_well_under_500ms_for_ten_simulated_minutes(seed: int, dt: float) -> None:
    sim = default_scenario(seed)
    worst: dict[str, float] = {}
    for _ in range(int(600 / dt)):
        sim.tick(dt)
        for d in sim.deployments():
            if d.p99_s is not None:
                worst[d.name] = max(worst.get(d.name, 0.0), d.p99_s)
    assert set(worst) == {"claude-inference", "claude-short-queue", "claude-long-queue"}
    assert all(p99 < CLEAR_LINE_S for p99 in worst.values()), worst


def test_the_latency_spike_still_breaches_the_slo() -> None:
    sim = default_scenario(7)
    for _ in range(10):
        sim.tick(1.0)
    sim.ctx.faults.active["latency-spike"] = "claude-inference"
    spiked = []
    for _ in range(30):
        sim.tick(1.0)
        fig = sim.deployment("llm", "claude-inference")
        assert fig is not None and fig.p99_s is not None
        spiked.append(fig.p99_s)
    assert min(spiked) > 1.0
    others = [d.p99_s for d in sim.deployments() if d.name != "claude-inference"]
    assert all(p is not None and p < CLEAR_LINE_S for p in others), "only the target is slowed"
