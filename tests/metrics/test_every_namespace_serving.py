"""With every namespace read, one Deployment name may serve in two namespaces (staging and prod): each
(namespace, Deployment) has its own serving figures, trends and alert targets — from a real Prometheus scraping
the sandbox and from the sandbox's own source alike — and the Latency screen shows, charts and load-tests each
apart. Before, the figures were summed by Deployment name alone: one row, the pods of both namespaces, p99 of
both mixed, and alerts without a namespace."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from kubernetes import client, config
from textual.widgets import DataTable

from console.alerts.builtin import P99_HIGH, readings
from console.config import Settings
from console.core.metrics import MetricsService, ServingStats
from console.kube.cluster import KubeClusterService
from console.metrics.service import PrometheusMetrics
from console.sandbox.metrics_source import SandboxMetrics
from screens.latency import LatencyScreen
from screens.loadtest import LoadTestScreen
from tests.conftest import need_tool, start_sandbox
from tests.ui.helpers import console_app, rows, wait_for
from tests.ui.test_every_namespace_deployment import HOME, NAME, OTHER, copy_to_other_namespace

from .conftest import PromSandbox
from .prom import PrometheusServer

BOTH = {(HOME, NAME), (OTHER, NAME)}
T = TypeVar("T")


@pytest.fixture(scope="module")
def two(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PromSandbox]:
    """A sandbox with claude-inference in llm and a copy (1 replica) in team-b, scraped by its own Prometheus.
    Speed 10: the copy's model loads in seconds (the figures compared here are counts and namespaces, not rates
    against the simulation's own)."""
    binary = need_tool("prometheus")
    sandbox = start_sandbox(speed=10.0, seed=11)
    server = PrometheusServer(binary, tmp_path_factory.mktemp("prometheus"),
                              {"dcgm": sandbox.info.dcgm, "vllm": sandbox.info.vllm})
    try:
        copy_to_other_namespace(sandbox)
        server.start()
        yield PromSandbox(sandbox, server)
    finally:
        server.stop()
        sandbox.stop()


def replicas(ps: PromSandbox) -> dict[tuple[str, str], int]:
    apps = client.AppsV1Api(config.new_client_from_config(ps.sandbox.info.kubeconfig))
    return {(ns, NAME): apps.read_namespaced_deployment(NAME, ns).spec.replicas for ns in (HOME, OTHER)}


def settled(source: MetricsService, ready: Callable[[dict[tuple[str, str], ServingStats]], bool],
            timeout: float = 60.0) -> dict[tuple[str, str], ServingStats]:
    deadline = time.monotonic() + timeout
    while True:
        result = source.serving(None)
        found = {s.key: s for s in result.value or ()}
        if ready(found):
            return found
        assert time.monotonic() < deadline, f"never settled: {found or result.error}"
        time.sleep(0.25)


def eventually(read: Callable[[], T], ok: Callable[[T], bool], timeout: float = 30.0) -> T:
    """``read()`` until ``ok`` holds for it: a range query may come back empty while Prometheus's first scrapes of
    the copy land (the assertion after it then says what was read)."""
    deadline = time.monotonic() + timeout
    while not ok(found := read()) and time.monotonic() < deadline:
        time.sleep(0.25)
    return found


@pytest.mark.parametrize("kind", ["prometheus", "sandbox"])
def test_each_namespace_has_its_own_figures(two: PromSandbox, kind: str) -> None:
    source: Any = (PrometheusMetrics(two.prometheus.url, rediscover_s=0.5) if kind == "prometheus"
                   else SandboxMetrics(two.sandbox))
    try:
        want = replicas(two)
        assert want[HOME, NAME] != want[OTHER, NAME]  # so that a sum of both is neither

        def ready(found: dict[tuple[str, str], ServingStats]) -> bool:
            return all(k in found and found[k].pods == want[k] and found[k].p99_s is not None for k in BOTH)
        every = settled(source, ready)
        assert all(s.namespace for s in every.values()), "every row names its namespace"
        # One namespace read: its rows alone, of that namespace.
        home = source.serving(HOME).value or ()
        assert home and {s.namespace for s in home} == {HOME} and (HOME, NAME) in {s.key for s in home}
        # Trends are by (namespace, Deployment) too.
        trends = eventually(lambda: source.deployment_trends(None, 900, 4).value or {}, lambda t: set(t) >= BOTH)
        assert set(trends) >= BOTH, sorted(trends)
        assert all(trends[k].namespace == k[0] for k in BOTH)
        # The latency chart of the copy is the copy's.
        lines = eventually(lambda: {s.name for s in source.latency_chart(OTHER, NAME, 300, 40).value or ()},
                           lambda found: "p99" in found)
        assert "p99" in lines
        # The built-in rules' targets carry each Deployment's namespace (an alert opens the right one).
        targets = {(r.alert.target.namespace, r.alert.target.deployment)
                   for r in readings(None, every.values()) if r.alert.name == P99_HIGH}
        assert targets >= BOTH
    finally:
        source.close()


async def test_the_latency_screen_shows_each_namespace_apart(two: PromSandbox, tmp_path: Path) -> None:
    metrics = PrometheusMetrics(two.prometheus.url, rediscover_s=0.5)
    settled(metrics, lambda found: set(found) >= BOTH)
    app = console_app(KubeClusterService(two.sandbox.info.kubeconfig, sandbox=True),
                      Settings(gpu_refresh=0.5, latency_refresh=0.5, audit_log=str(tmp_path / "audit.jsonl")),
                      metrics=metrics)
    try:
        async with app.run_test(size=(180, 50)) as pilot:
            await wait_for(pilot, lambda: app.snapshot.deployments, what="the Deployments")
            await pilot.press("0")  # every namespace
            await wait_for(pilot, lambda: not app.snapshot.namespace, what="every namespace")
            await pilot.press("colon", *"latency", "enter")
            await wait_for(pilot, lambda: isinstance(app.screen, LatencyScreen), what="the Latency screen")
            screen: Any = app.screen
            table = screen.query_one("#serving", DataTable)
            names = {f"{ns}/{name}" for ns, name in BOTH}
            await wait_for(pilot, lambda: names <= {r[0] for r in rows(table)},
                           what=lambda: f"a row each: {[r[0] for r in rows(table)]}")
            table.focus()
            table.move_cursor(row=[r[0] for r in rows(table)].index(f"{OTHER}/{NAME}"))
            await wait_for(pilot, lambda: screen.query_one("#latency-chart").title.startswith(f"{OTHER}/{NAME}"),
                           what="the copy charted")
            await pilot.press("L")
            await wait_for(pilot, lambda: isinstance(app.screen, LoadTestScreen), what="the load test")
            assert app.screen.namespace == OTHER  # type: ignore[attr-defined]
    finally:
        metrics.close()
