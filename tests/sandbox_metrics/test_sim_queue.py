"""The queue model on its own: latency rises when replicas are short and falls after scale-out."""

from __future__ import annotations

import math

import pytest

from console.sandbox.sim.figures import E2E_BUCKETS
from console.sandbox.sim.queueing import (
    Z99,
    LogNormal,
    ServiceProfile,
    WaitTime,
    cumulative_counts,
    erlang_c,
    step,
)

from .promtext import histogram_quantile

PROFILE = ServiceProfile()
QPS = 23.5  # claude-inference's offered load (the article's VM figure)


def p99(replicas: int, qps: float = QPS, slowdown: float = 1.0) -> float:
    return step(PROFILE, qps, replicas, 0.0, 1.0, slowdown).e2e.quantile(Z99)


def test_erlang_c_matches_known_values() -> None:
    assert erlang_c(1, 0.5) == pytest.approx(0.5)  # M/M/1: P(wait) = ρ
    assert erlang_c(2, 1.6) == pytest.approx(0.7111, abs=1e-3)
    assert 0 < erlang_c(1000, 800.0) < 1e-6  # big pools at ρ = 0.8 hardly ever queue (and stay finite)


def test_p99_crosses_500ms_when_replicas_are_short_and_falls_after_scale_out() -> None:
    two, three, four = p99(2), p99(3), p99(4)
    assert two > 0.5, "two replicas at ρ≈0.8 must breach the article's 500 ms p99 line"
    assert three < 0.5 and four < three, "scale-out must bring p99 back under the line"
    low = step(PROFILE, 5.0, 4, 0.0)
    assert 0.18 <= low.e2e.median <= 0.25, "p50 at low load is the article's ~200 ms service time"
    assert 0.06 <= low.ttft.median <= 0.12


def test_overload_grows_a_capped_queue_that_drains_after_scale_out() -> None:
    backlog, waits = 0.0, []
    for _ in range(30):
        r = step(PROFILE, 40.0, 2, backlog)  # capacity 29.4 QPS: ρ ≈ 1.36
        backlog = r.backlog
        waits.append(r.waiting)
    assert r.rho > 1 and waits[-1] > waits[0] > 0
    assert r.e2e.quantile(Z99) > 5.0, "a growing queue must show in the latency"
    for _ in range(20):
        r = step(PROFILE, 60.0, 2, backlog)
        backlog = r.backlog
    assert backlog == PROFILE.max_waiting_per_replica * 2 and r.rejected_qps > 0, "the queue is capped"
    for _ in range(60):
        r = step(PROFILE, 40.0, 4, backlog)  # capacity 58.8 QPS
        backlog = r.backlog
    assert backlog == 0 and r.e2e.quantile(Z99) < 0.5


def test_latency_spike_slowdown_pushes_p99_far_past_500ms() -> None:
    assert p99(4, slowdown=6.0) > 1.0 > 0.5 > p99(4)


def test_wait_time_distribution_is_consistent() -> None:
    w = WaitTime(0.3, 10.0)
    assert w.quantile(0.5) == 0.0 and w.cdf(0.0) == pytest.approx(0.7)
    assert w.cdf(w.quantile(0.99)) == pytest.approx(0.99)
    shifted = WaitTime(1.0, 5.0, shift=2.0)
    assert shifted.cdf(1.9) == 0.0 and shifted.quantile(0.5) > 2.0


def test_histogram_from_expected_counts_gives_back_the_model_p99() -> None:
    r = step(PROFILE, QPS, 2, 0.0)
    counts = cumulative_counts(r.e2e, E2E_BUCKETS, 30 * QPS)  # a 30 s rate window
    estimate = histogram_quantile(0.99, list(zip(E2E_BUCKETS, (math.floor(c) for c in counts), strict=True)))
    truth = r.e2e.quantile(Z99)
    # Same bucket as the truth, and within linear-interpolation error.
    bucket = next(b for b in E2E_BUCKETS if b >= truth)
    assert next(b for b in E2E_BUCKETS if b >= estimate) == bucket
    assert estimate == pytest.approx(truth, rel=0.15)


def test_lognormal_fit_round_trips() -> None:
    d = LogNormal.fit(0.2, 0.9)
    assert d.median == pytest.approx(0.2) and d.quantile(Z99) == pytest.approx(0.9)
    assert d.cdf(0.2) == pytest.approx(0.5) and d.cdf(math.inf) == 1.0
