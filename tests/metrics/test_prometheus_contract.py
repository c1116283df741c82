"""PrometheusMetrics against a real Prometheus scraping the sandbox: discovery, figures that match the
simulation, query counts and sizes, every builder's PromQL accepted by the server, typed errors."""

from __future__ import annotations

import json
import logging
import time
import urllib.request
from collections.abc import Iterator
from urllib.parse import urlencode

import pytest

from console.core.metrics import ErrorKind, chart_step
from console.metrics import promql
from console.metrics.promql import resolve_names
from console.metrics.service import PrometheusMetrics
from console.sandbox.sim.figures import E2E_BUCKETS

from .conftest import PromSandbox
from .fakeprom import fake_prometheus
from .prom import free_port
from .test_promql import VLLM

NS = "llm"


def wait_until(predicate, timeout: float = 30.0, what: str = "") -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"not in time: {what}")
        time.sleep(0.25)


@pytest.fixture(scope="module")
def prom(prom_sandbox: PromSandbox) -> Iterator[PrometheusMetrics]:
    service = PrometheusMetrics(prom_sandbox.prometheus.url, rediscover_s=0.5)

    def ready() -> bool:
        stats = service.serving(NS).value or ()
        return len(stats) == 3 and all(s.p99_s is not None for s in stats)

    prom_sandbox.wait_for_rates()
    wait_until(ready, 30, "rates over the first scrapes")
    yield service
    service.close()


def sim_deployments(ps: PromSandbox) -> dict[str, tuple[float, ...]]:
    return ps.sandbox.call(lambda: {d.name: (d.qps, d.p50_s, d.p95_s, d.p99_s, d.running, d.waiting, d.kv_cache_perc,
                                             d.replicas) for d in ps.sandbox.ctx.sim.deployments()})


def bucket(value: float) -> int:
    return next(i for i, b in enumerate(E2E_BUCKETS) if value <= b)


def test_discovery_finds_the_names_the_sandbox_serves(prom: PrometheusMetrics) -> None:
    names = prom.names
    assert names is not None and names.stack == "vllm" and names.e2e == "vllm:e2e_request_latency_seconds"
    assert names.kv_cache == "vllm:kv_cache_usage_perc" and names.ttft == "vllm:time_to_first_token_seconds"
    assert (names.serving_pod, names.gpu_pod, names.gpu_node) == ("pod", "pod", "Hostname")
    assert names.scrape_interval_s == 1.0 and prom.min_refresh_s() == 1.0


def test_gpu_figures_match_the_simulation(prom: PrometheusMetrics, prom_sandbox: PromSandbox) -> None:
    result = prom.gpus()
    assert result.error is None and result.at is not None
    sim = prom_sandbox.sandbox.call(lambda: {
        f"{g.node}/{g.index}": (g.used_mib, g.total_mib, g.pods[0][1] if g.pods else "")
        for g in prom_sandbox.sandbox.ctx.sim.gpus()})
    got = {g.key: g for g in result.value or ()}
    assert set(got) == set(sim) and len(got) == 16
    for key, (used, total, pod) in sim.items():
        g = got[key]
        assert g.pod == pod, "the pod holding a GPU comes from DCGM's labels"
        assert g.total_mib == pytest.approx(total, abs=1)
        assert g.used_percent == pytest.approx(100 * used / total, abs=1.5)  # one scrape behind at most
    held = [g for g in got.values() if g.pod]
    assert len(held) == 4 and all(g.namespace == NS and g.util is not None and g.temp_c for g in held)


def test_serving_figures_match_the_simulation(prom: PrometheusMetrics, prom_sandbox: PromSandbox) -> None:
    stats = {s.deployment: s for s in prom.serving(NS).value or ()}
    sim = sim_deployments(prom_sandbox)
    assert set(stats) == {"claude-inference", "claude-short-queue", "claude-long-queue"}
    for name, s in stats.items():
        qps, p50, p95, p99, running, waiting, kv, replicas = sim[name]
        assert s.pods == replicas
        assert s.qps == pytest.approx(qps, rel=0.3), name  # a 4 s rate of integer counters
        assert s.running == pytest.approx(running, rel=0.3) and s.waiting == pytest.approx(waiting, abs=0.5)
        assert s.kv_cache == pytest.approx(kv, abs=0.05)
        for measured, model in ((s.p50_s, p50), (s.p95_s, p95), (s.p99_s, p99)):
            assert measured is not None and abs(bucket(measured) - bucket(model)) <= 1, (name, measured, model)
        assert s.ttft_p95_s is not None and s.ttft_p95_s < s.p99_s  # type: ignore[operator]


def test_range_queries_ask_for_two_points_per_cell(prom: PrometheusMetrics) -> None:
    cells = 40
    result = prom.latency_chart(NS, "claude-inference", 300, cells)
    assert result.error is None, result.error
    lines = {s.name: s for s in result.value or ()}
    assert set(lines) == {"p50", "p95", "p99", "ttft_p95"}
    step = chart_step(300, cells)
    for s in lines.values():
        assert 0 < len(s.points) <= 2 * cells
        assert all(b[0] - a[0] == pytest.approx(step) for a, b in zip(s.points, s.points[1:], strict=False))
    history = prom.gpu_history(300, 8).value or {}
    assert len(history) == 16 and all(len(s.points) <= 16 for s in history.values())
    chart = prom.gpu_chart(300, cells)
    assert [s.name for s in chart.value or ()] == ["max", "mean"] and chart.at is not None
    trends = prom.deployment_trends(NS, 900, 4).value or {}
    trend = trends[NS, "claude-inference"]
    assert trend.gpu_mem is not None and trend.p99 is not None and trend.namespace == NS


def test_one_query_per_panel_per_refresh(prom: PrometheusMetrics) -> None:
    for call in (prom.gpus, lambda: prom.gpu_history(900, 8), lambda: prom.gpu_chart(900, 80),
                 lambda: prom.serving(NS), lambda: prom.latency_chart(NS, "claude-inference", 900, 80),
                 lambda: prom.deployment_trends(NS, 900, 4)):
        before = prom.queries
        assert call().error is None
        assert prom.queries - before == 1


def _server_accepts(url: str, query: str) -> bool:
    with urllib.request.urlopen(f"{url}/api/v1/query?{urlencode({'query': query})}", timeout=5) as resp:
        return json.loads(resp.read())["status"] == "success"


@pytest.mark.parametrize("stack", ["vllm", "underscored", "nim", "tgi", "exported-labels", "model-label"])
def test_every_builder_is_promql_the_server_accepts(prom_sandbox: PromSandbox, stack: str) -> None:
    names = {
        "vllm": resolve_names(VLLM, {"pod", "namespace"}, {"pod", "namespace", "Hostname"}, 1),
        "underscored": resolve_names({n.replace("vllm:", "vllm_") for n in VLLM}, {"pod"}, {"pod"}, 1),
        "nim": resolve_names({n.replace("vllm:", "") for n in VLLM}, {"pod", "namespace"}, {"pod"}, 1),
        "tgi": resolve_names({"tgi_request_duration_bucket", "tgi_queue_size", "tgi_batch_current_size",
                              *promql.DCGM_NAMES}, {"pod", "namespace"}, {"pod"}, 1),
        "exported-labels": resolve_names(VLLM, {"exported_pod", "exported_namespace"},
                                         {"exported_pod", "exported_namespace", "kubernetes_node"}, 1),
        "model-label": resolve_names(VLLM, {"model_name"}, {"pod"}, 1),
    }[stack]
    assert names.e2e is not None
    queries = [promql.serving_table(names, NS, 4), promql.latency_chart(names, NS, "claude-inference", 4),
               promql.latency_chart(names, None, None, 4), promql.deployment_trends(names, NS, 4),
               promql.gpu_table(names), promql.gpu_chart(names), promql.gpu_history(names),
               promql.pod_fb_used(names, NS)]
    for query in queries:
        assert _server_accepts(prom_sandbox.prometheus.url, query), query


def test_unreachable_is_a_typed_result_fast_and_without_credentials(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    url = f"http://127.0.0.1:{free_port()}"
    service = PrometheusMetrics(url, token="s3cret-token")
    started = time.monotonic()
    result = service.gpus()
    assert time.monotonic() - started < 1.0, "no retries on a dead port"
    assert result.value is None and result.error is not None and result.error.kind is ErrorKind.UNREACHABLE
    assert result.error.message.startswith(f"Prometheus unreachable at {url}")
    assert "s3cret" not in repr(service) and "s3cret" not in result.error.message and "s3cret" not in caplog.text


def test_refused_credentials_and_the_headers_sent() -> None:
    with fake_prometheus(status=401) as (url, seen):
        result = PrometheusMetrics(url, token="tok").serving(NS)
        assert result.error is not None and result.error.kind is ErrorKind.REFUSED
        assert "HTTP 401" in result.error.message
        assert seen[0]["headers"]["Authorization"] == "Bearer tok"
    with fake_prometheus(status=403) as (url, seen):
        result = PrometheusMetrics(url, username="alice", password="pw").gpus()
        assert result.error is not None and result.error.kind is ErrorKind.REFUSED
        assert seen[0]["headers"]["Authorization"] == "Basic YWxpY2U6cHc="
        assert "pw" not in result.error.message and "YWxp" not in result.error.message


def test_no_such_metric_is_said_and_looked_for_again() -> None:
    with fake_prometheus(names=[]) as (url, seen):
        service = PrometheusMetrics(url, rediscover_s=60)
        gpu, serving = service.gpus(), service.serving(NS)
        assert gpu.error is not None and gpu.error.message == "no such metric: DCGM_FI_DEV_FB_USED"
        assert serving.error is not None and serving.error.kind is ErrorKind.NO_METRIC
        assert "vllm:e2e_request_latency_seconds" in serving.error.message
        assert "tgi_request_duration" in serving.error.message
        assert sum("/label/__name__/values" in r["path"] for r in seen) == 1, "discovery is cached"


def test_a_slow_prometheus_times_out() -> None:
    with fake_prometheus(delay=3.0) as (url, _seen):
        started = time.monotonic()
        result = PrometheusMetrics(url, timeout=0.5).gpus()
        assert time.monotonic() - started < 2.0
        assert result.error is not None and result.error.kind is ErrorKind.UNREACHABLE
        assert "timed out" in result.error.message
