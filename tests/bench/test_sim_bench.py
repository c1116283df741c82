"""Measured figures for the large scenario's size (printed, not asserted; run with ./dev bench).

10,000 pods on 250 × 8 GPUs: 2,000 serving one-GPU pods and 8,000 pods without a GPU. And the
worst case of 10,000 serving pods (five per GPU), which a one-GPU-per-pod cluster cannot reach.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import pytest

from console.core.collector import collector_paused
from console.sandbox.exporters import render_dcgm, render_vllm
from console.sandbox.sim import Simulation
from tests.sandbox_metrics.builders import NS, add_deployment, add_node, add_pod, make_context

pytestmark = pytest.mark.bench

NODES, GPUS = 250, 8


def build(serving: int, total: int = 10_000) -> Simulation:
    ctx = make_context()
    for n in range(NODES):
        add_node(ctx, f"node-{n:03d}", GPUS)
    rss = [add_deployment(ctx, f"model-{d:02d}", serving // 20) for d in range(20)]
    for i in range(serving):
        add_pod(ctx, f"serve-{i:05d}", f"node-{i % NODES:03d}", str((i // NODES) % GPUS), rss[i % 20])
    for i in range(total - serving):
        ctx.store.create("pods", {
            "metadata": {"name": f"cpu-{i:05d}", "namespace": NS},
            "spec": {"nodeName": "node-000", "containers": [{"name": "c", "image": "x"}]},
            "status": {"phase": "Running"},
        })
    sim = Simulation(ctx)
    sim.tick(1.0)
    return sim


def measure(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


@pytest.mark.parametrize("serving", [2_000, 10_000])
def test_tick_and_render_figures(serving: int, capsys: pytest.CaptureFixture[str]) -> None:
    sim = build(serving)
    tick_ms = measure(lambda: sim.tick(1.0), 10)

    def vllm() -> None:
        with collector_paused():
            render_vllm(sim.vllm_samples()).encode()

    vllm_ms = measure(vllm, 3)
    dcgm_ms = measure(lambda: render_dcgm(sim.gpus()).encode(), 3)
    size = len(render_vllm(sim.vllm_samples())) / 1e6
    with capsys.disabled():
        print(f"\n[bench] 10,000 pods / {NODES * GPUS} GPUs, {serving} serving: tick {tick_ms:.1f} ms, "
              f"vLLM /metrics {vllm_ms:.0f} ms ({size:.0f} MB), DCGM /metrics {dcgm_ms:.1f} ms")
