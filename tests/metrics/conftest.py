"""One real Prometheus per session, scraping one seeded speed-1 sandbox's DCGM and vLLM exporters at 1 s.

Speed 1 because the exporters' counters advance in simulated time: Prometheus's rate() is per wall
second, so only at speed 1 do its QPS and latency quantiles compare with the simulation's own figures.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from console.sandbox.server import SandboxThread
from tests.conftest import need_tool, start_sandbox

from .prom import PrometheusServer


class PromSandbox:
    """The sandbox and the Prometheus scraping it."""

    def __init__(self, sandbox: SandboxThread, prometheus: PrometheusServer) -> None:
        self.sandbox = sandbox
        self.prometheus = prometheus

    def wait_for_rates(self) -> None:
        """Until rate() over a 4 s window is right: it underestimates while the window is not yet full of
        samples (the first ~6 s after Prometheus starts)."""
        self.prometheus.wait_for_series("min(count_over_time(vllm:e2e_request_latency_seconds_count[6s])) >= 5")


@pytest.fixture(scope="session")
def prom_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PromSandbox]:
    binary = need_tool("prometheus")
    sandbox = start_sandbox(speed=1.0, seed=11)
    workdir: Path = tmp_path_factory.mktemp("prometheus")
    server = PrometheusServer(binary, workdir, {"dcgm": sandbox.info.dcgm, "vllm": sandbox.info.vllm})
    try:
        server.start()
        yield PromSandbox(sandbox, server)
    finally:
        server.stop()
        sandbox.stop()
