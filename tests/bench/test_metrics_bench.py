"""Measured figures for the metric panels (printed, not asserted; run with ./dev bench):

- render time of one braille chart frame at 80×20 for 1,000 points (a data change: the plot is rebuilt;
  and a repaint: the cached lines are handed out);
- Prometheus queries per refresh of each panel with 10 and with 1,000 serving pods, counted by the
  adapter and by Prometheus itself (``prometheus_http_requests_total``), and the refresh's wall time.

The fleets are simulations (the sandbox's own model and exporter renderers) served on loopback and
scraped by a real Prometheus.
"""

from __future__ import annotations

import asyncio
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from console.metrics.service import PrometheusMetrics
from console.sandbox.exporters import render_dcgm, render_vllm
from console.sandbox.sim import Simulation
from tests.conftest import need_tool
from tests.metrics.prom import PrometheusServer
from tests.sandbox_metrics.builders import add_deployment, add_node, add_pod, make_context
from tests.ui.chart_app import ChartApp

pytestmark = pytest.mark.bench
NS = "llm"


def test_chart_frame_render_time() -> None:
    async def measure() -> tuple[float, float]:
        app = ChartApp(points=1000)
        async with app.run_test(size=(80, 20)) as pilot:
            await pilot.pause(0.1)
            chart = app.query_one("#chart")
            width, height = chart.size.width, chart.size.height
            rebuild = []
            for _ in range(50):
                started = time.perf_counter()
                chart.build(width, height)
                rebuild.append(time.perf_counter() - started)
            chart.render_line(0)
            repaint = []
            for _ in range(50):
                started = time.perf_counter()
                for y in range(height):
                    chart.render_line(y)
                repaint.append(time.perf_counter() - started)
            return statistics.median(rebuild), statistics.median(repaint)

    rebuild, repaint = asyncio.run(measure())
    print(f"\nchart 80x20, 1,000 points x 4 series: new data {rebuild * 1000:.2f} ms/frame, "
          f"repaint {repaint * 1000:.3f} ms/frame")


class Fleet:
    """``pods`` serving pods (10 Deployments, one GPU each) of a ticking simulation, with DCGM and vLLM
    ``/metrics`` on loopback."""

    def __init__(self, pods: int) -> None:
        ctx = make_context()
        for n in range(max(1, pods // 8)):
            add_node(ctx, f"node-{n:03d}", 8)
        rss = [add_deployment(ctx, f"model-{d:02d}", pods // 10) for d in range(10)]
        for i in range(pods):
            add_pod(ctx, f"model-{i % 10:02d}-5d8f7c9b4-{i:05d}", f"node-{i // 8:03d}", str(i % 8), rss[i % 10])
        self.sim = Simulation(ctx)
        self.lock = threading.Lock()
        self.stop = threading.Event()
        fleet = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with fleet.lock:
                    text = render_dcgm(fleet.sim.gpus()) if self.path == "/dcgm" else \
                        render_vllm(fleet.sim.vllm_samples())
                body = text.encode()
                try:
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:  # a scrape that timed out
                    pass

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        threading.Thread(target=self._tick, daemon=True).start()

    def _tick(self) -> None:
        while not self.stop.wait(1.0):
            with self.lock:
                self.sim.tick(1.0)

    def close(self) -> None:
        self.stop.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fleet_prometheus(tmp_path: Path) -> Iterator[Callable[[int], tuple[PrometheusServer, Fleet]]]:
    binary = need_tool("prometheus")
    started: list[tuple[PrometheusServer, Fleet]] = []

    def start(pods: int) -> tuple[PrometheusServer, Fleet]:
        fleet = Fleet(pods)
        with fleet.lock:
            fleet.sim.tick(1.0)
        workdir = tmp_path / f"prom-{pods}"
        workdir.mkdir()
        server = PrometheusServer(binary, workdir, {"dcgm": f"{fleet.url}/dcgm", "vllm": f"{fleet.url}/vllm"},
                                  interval="2s")
        server.start()
        started.append((server, fleet))
        server.wait_for_series("min(count_over_time(vllm:e2e_request_latency_seconds_count[12s])) >= 5", timeout=60)
        return server, fleet

    yield start
    for server, fleet in started:
        server.stop()
        fleet.close()


def test_queries_per_refresh(fleet_prometheus: Callable[[int], tuple[PrometheusServer, Fleet]]) -> None:
    panels: dict[str, Callable[[PrometheusMetrics], Any]] = {
        "GPU screen": lambda s: (s.gpus(), s.gpu_history(900, 8), s.gpu_chart(900, 72)),
        "Latency screen": lambda s: (s.serving(NS), s.latency_chart(NS, "model-03", 900, 72)),
        "dashboard": lambda s: s.deployment_trends(NS, 900, 3),
    }
    print()
    for pods in (10, 1000):
        server, _fleet = fleet_prometheus(pods)
        service = PrometheusMetrics(server.url)
        service.gpus()  # discovery happens once, before the counted refreshes
        asked = service._query
        waited = [0.0]

        def timed(*args: Any, _asked: Any = asked, _waited: list[float] = waited) -> Any:
            started = time.perf_counter()
            try:
                return _asked(*args)
            finally:
                _waited[0] += time.perf_counter() - started
        service._query = timed  # type: ignore[method-assign]
        for name, refresh in panels.items():
            handlers = ("/api/v1/query", "/api/v1/query_range")
            before, sent = server.requests_served(*handlers), service.queries
            waited[0] = 0.0
            started = time.perf_counter()
            results = refresh(service)
            took = time.perf_counter() - started
            served = server.requests_served(*handlers) - before
            errors = [r.error for r in (results if isinstance(results, tuple) else (results,)) if r.error]
            print(f"{pods:>5} pods  {name:<15} queries sent {service.queries - sent}, seen by Prometheus "
                  f"{served:.0f}, refresh {took * 1000:.0f} ms (waiting for Prometheus {waited[0] * 1000:.0f} ms, "
                  f"the console's own work {(took - waited[0]) * 1000:.0f} ms)"
                  f"{'  ERRORS ' + str(errors) if errors else ''}")
        service.close()
