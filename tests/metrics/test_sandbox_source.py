"""The sandbox's in-process metrics source: the simulation's own figures through the MetricsService protocol,
and the bounded history behind its charts."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from console.core.metrics import ErrorKind
from console.sandbox.history import History, Ring
from console.sandbox.metrics_source import SandboxMetrics
from console.sandbox.server import SandboxThread
from tests.conftest import start_sandbox


@pytest.fixture(scope="module")
def source(sandbox: SandboxThread) -> Iterator[SandboxMetrics]:
    service = SandboxMetrics(sandbox, interval_s=0.1)
    deadline = time.monotonic() + 10
    while service.gpus().error is not None:
        assert time.monotonic() < deadline, "the simulation never ticked"
        time.sleep(0.05)
    yield service
    service.close()


def test_gpus_are_what_dcgm_would_serve(source: SandboxMetrics, sandbox: SandboxThread) -> None:
    result = source.gpus()
    gpus = {g.key: g for g in result.value or ()}
    sim = sandbox.call(lambda: {f"{g.node}/{g.index}": g.pods[0][1] if g.pods else ""
                                for g in sandbox.ctx.sim.gpus() if g.node_ready})
    assert len(gpus) == 16 and {k: g.pod for k, g in gpus.items()} == sim
    held = [g for g in gpus.values() if g.pod]
    assert held and all(50 < g.used_percent < 80 and g.namespace == "llm" for g in held)
    assert result.at is not None and result.at > time.time() - 2, "simulated time: ahead of the wall at speed 40"
    assert "simulated time ×40" in source.source


def test_serving_is_the_queue_model(source: SandboxMetrics, sandbox: SandboxThread) -> None:
    stats = {s.deployment: s for s in source.serving("llm").value or ()}
    assert {"claude-inference", "claude-short-queue", "claude-long-queue"} <= set(stats)
    inference = stats["claude-inference"]
    assert inference.pods == 2 and inference.qps and 10 < inference.qps < 25
    assert inference.p50_s < inference.p95_s < inference.p99_s  # type: ignore[operator]
    assert inference.ttft_p95_s is not None and 0 <= (inference.kv_cache or 0) < 1
    assert source.serving("elsewhere").value == ()


def test_charts_keep_history_and_never_exceed_two_points_per_cell(source: SandboxMetrics) -> None:
    time.sleep(0.3)  # a few samples (every 2 simulated seconds at speed 40: 0.05 s)
    lines = {s.name: s for s in source.latency_chart("llm", "claude-inference", 8.0, 2).value or ()}
    assert set(lines) == {"p50", "p95", "p99", "ttft_p95"} and all(2 <= len(s.points) <= 4 for s in lines.values())
    fleet = source.gpu_chart(300, 40)
    assert [s.name for s in fleet.value or ()] == ["max", "mean"] and fleet.at is not None
    history = source.gpu_history(300, 8).value or {}
    assert len(history) == 16 and all(len(s.points) <= 16 for s in history.values())
    trend = (source.deployment_trends("llm", 900, 4).value or {})["llm", "claude-inference"]
    assert trend.gpu_mem and trend.gpu_mem.last and 50 < trend.gpu_mem.last < 80 and trend.p99 and trend.p99.last


def test_a_sandbox_not_started_yet_says_so() -> None:
    thread = SandboxThread()
    assert SandboxMetrics(thread).gpus().error.kind is ErrorKind.NO_DATA  # type: ignore[union-attr]


def test_a_stopped_sandbox_is_reported_not_raised() -> None:
    thread = start_sandbox()
    service = SandboxMetrics(thread)
    thread.stop()
    result = service.serving("llm")
    assert result.error is not None and result.value is None


def test_ring_resamples_like_a_range_query_and_stays_bounded() -> None:
    ring = Ring(capacity=5)
    for t in range(20):
        ring.append(float(t), float(t * 10))
    assert len(ring.times) < 10, "trimmed in bulk"
    assert ring.resample(19.0, 1.0, 3, 1.0) == ((17.0, 170.0), (18.0, 180.0), (19.0, 190.0))
    assert ring.resample(30.0, 1.0, 2, 2.0) == (), "nothing in the lookback: a gap, not a stale value"
    assert ring.resample(19.5, 1.0, 1, 1.0) == ((19.5, 190.0),)


def test_history_shares_its_budget_and_forgets_old_series() -> None:
    history = History(interval_s=1.0, horizon_s=100.0, budget=40)
    for key in "abcd":
        history.add(key, 0.0, 1.0)
    history.add("e", 500.0, 1.0)
    history.rebalance(500.0)
    assert list(history.rings) == ["e"] and history.rings["e"].capacity == 40
    history.add("none", 1.0, None)
    assert "none" not in history.rings
