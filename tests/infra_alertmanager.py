"""A real Alertmanager (Debian package ``prometheus-alertmanager``) fed by a real Prometheus that loads the
project's ``manifests/prometheus-rules.yaml`` and scrapes a speed-1 sandbox; started and stopped by the tests.

``alert_stack`` (module scope) starts the three and injects the ``gpu-memory-leak`` fault at once: the leak
takes ~35 s of simulated time to push claude-inference's GPUs past 80 %, so tests that do not need the
alert run while it grows, and :meth:`AlertStack.wait_for_alert` waits only for what is left.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from console.core.paths import manifests_dir
from console.sandbox.faultcli import send_fault
from console.sandbox.server import SandboxThread
from tests.conftest import need_tool, start_sandbox
from tests.metrics.prom import PrometheusServer, ServerProcess

RULE_FOR = "2s"  # the test copy of the rules waits this long instead of the manifests' 2m / 5m


class AlertmanagerServer(ServerProcess):
    """``prometheus-alertmanager`` with its own config and storage; no cluster gossip port."""

    name = "alertmanager"

    def __init__(self, binary: str, workdir: Path, group_wait: str = "1s") -> None:
        super().__init__(binary, workdir)
        self.config = workdir / "alertmanager.yml"
        self.config.write_text(
            "route:\n  receiver: blackhole\n"
            f"  group_wait: {group_wait}\n  group_interval: {group_wait}\n  repeat_interval: 1h\n"
            "receivers:\n  - name: blackhole\n")

    def command(self) -> list[str]:
        return [self.binary, f"--config.file={self.config}", f"--storage.path={self.workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}", "--cluster.listen-address="]


def shortened_rules(dest: Path, for_: str = RULE_FOR) -> Path:
    """A copy of manifests/prometheus-rules.yaml with every ``for:`` shortened to ``for_`` (nothing else
    changed), so the alerts fire within seconds."""
    doc = yaml.safe_load((manifests_dir() / "prometheus-rules.yaml").read_text())
    for group in doc["groups"]:
        for rule in group["rules"]:
            if "for" in rule:
                rule["for"] = for_
    dest.write_text(yaml.safe_dump(doc, sort_keys=False))
    return dest


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return json.loads(resp.read())


class AlertStack:
    def __init__(self, sandbox: SandboxThread, prometheus: PrometheusServer, alertmanager: AlertmanagerServer,
                 leak_started: float) -> None:
        self.sandbox = sandbox
        self.prometheus = prometheus
        self.alertmanager = alertmanager
        self.leak_started = leak_started

    @property
    def kubeconfig(self) -> str:
        return self.sandbox.info.kubeconfig

    def prometheus_alerts(self) -> list[dict[str, Any]]:
        return list(get_json(f"{self.prometheus.url}/api/v1/alerts")["data"]["alerts"])

    def alertmanager_alerts(self) -> list[dict[str, Any]]:
        return list(get_json(f"{self.alertmanager.url}/api/v2/alerts"))

    def wait_for_alert(self, name: str, timeout: float = 75.0) -> list[dict[str, Any]]:
        """Alertmanager's alerts named ``name`` once there are any (Prometheus fired and sent them)."""
        return wait(lambda: [a for a in self.alertmanager_alerts() if a["labels"].get("alertname") == name],
                    timeout, f"{name} in Alertmanager")


def wait(check: Callable[[], Any], timeout: float, what: str, interval: float = 0.25) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(interval)


@pytest.fixture(scope="module")
def alert_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AlertStack]:
    """A speed-1 sandbox with claude-inference's GPU memory leaking, a Prometheus with the project's rules
    (``for:`` shortened) scraping it every second, and the Alertmanager it sends its alerts to."""
    prometheus_bin = need_tool("prometheus")
    alertmanager_bin = need_tool("prometheus-alertmanager")
    workdir: Path = tmp_path_factory.mktemp("alert-stack")
    sandbox = start_sandbox(speed=1.0, seed=11)  # speed 1: the exporters' counters are in simulated time
    alertmanager = AlertmanagerServer(alertmanager_bin, workdir)
    prometheus = PrometheusServer(prometheus_bin, workdir, {"dcgm": sandbox.info.dcgm, "vllm": sandbox.info.vllm})
    rules = shortened_rules(workdir / "rules.yaml")
    with prometheus.config.open("a") as fh:
        fh.write(f"rule_files: ['{rules}']\nalerting:\n  alertmanagers:\n"
                 f"    - static_configs: [{{targets: ['127.0.0.1:{alertmanager.port}']}}]\n")
    try:
        alertmanager.start()
        prometheus.start()
        assert send_fault("gpu-memory-leak", "claude-inference", sandbox.info.kubeconfig) == 0
        yield AlertStack(sandbox, prometheus, alertmanager, time.monotonic())
    finally:
        prometheus.stop()
        alertmanager.stop()
        sandbox.stop()
