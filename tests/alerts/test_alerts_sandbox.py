"""Cluster-derived alerts from sandbox faults, read with the official kubernetes client; and ``llmctl alerts``
run as a process against a sandbox (and a stand-in Prometheus ``/api/v1/alerts``)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config

from console.alerts.model import Alert, cluster_alerts
from console.sandbox.faultcli import send_fault
from console.sandbox.server import SandboxThread
from tests.actions.conftest import eventually

REPO = Path(__file__).resolve().parents[2]


def read_alerts(sb: SandboxThread) -> list[Alert]:
    api = config.new_client_from_config(sb.info.kubeconfig)
    try:
        core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
        raw = client.ApiClient().sanitize_for_serialization
        return cluster_alerts(raw(core.list_pod_for_all_namespaces()), raw(apps.list_deployment_for_all_namespaces()),
                              raw(core.list_node()))
    finally:
        api.close()


def wait_for(sb: SandboxThread, name: str, timeout: float = 40.0, **target: str) -> Alert:
    def found() -> Alert | None:
        return next((a for a in read_alerts(sb) if a.name == name and a.state == "firing"
                     and all(getattr(a.target, k) == v for k, v in target.items())), None)

    alert: Alert = eventually(found, timeout=timeout, what=f"{name} alert for {target}")
    return alert


def test_a_healthy_sandbox_has_no_alerts(sb: SandboxThread) -> None:
    assert read_alerts(sb) == []


def test_oom_fault_raises_oomkilled(sb: SandboxThread) -> None:
    assert send_fault("oom", "claude-inference", sb.info.kubeconfig) == 0
    alert = wait_for(sb, "OOMKilled", namespace="llm", deployment="claude-inference")
    assert alert.source == "cluster" and alert.since is not None and alert.target.node
    assert "OOMKilled (exit code 137)" in alert.summary
    eventually(lambda: any(a.name == "OOMKilled" and a.critical_firing for a in read_alerts(sb)), timeout=40,
               what="an OOMKilled container in CrashLoopBackOff")
    assert not any(a.name == "CrashLoopBackOff" and a.target.deployment == "claude-inference"
                   for a in read_alerts(sb)), "an OOM crash loop is reported once, as OOMKilled"


def test_node_loss_raises_node_not_ready(sb: SandboxThread) -> None:
    assert send_fault("node-loss", "gpu-node-2", sb.info.kubeconfig) == 0
    alert = wait_for(sb, "NodeNotReady", node="gpu-node-2")
    assert alert.critical_firing and "Ready=Unknown" in alert.summary
    assert [a.target.node for a in read_alerts(sb) if a.name == "NodeNotReady"] == ["gpu-node-2"]


def test_cuda_too_new_raises_crashloop(sb: SandboxThread) -> None:
    assert send_fault("cuda-too-new", "claude-inference", sb.info.kubeconfig) == 0
    alert = wait_for(sb, "CrashLoopBackOff", namespace="llm", deployment="claude-inference")
    assert alert.critical_firing and "in CrashLoopBackOff (last exit code" in alert.summary


# --- llmctl alerts as a process ---------------------------------------------------------------------------------


def llmctl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "console.cli", *args], capture_output=True, text=True, timeout=60,
                          cwd=REPO)


PROM_ANSWER = {"status": "success", "data": {"alerts": [
    {"labels": {"alertname": "GPUFramebufferHigh", "severity": "warning", "gpu": "1", "Hostname": "gpu-node-1",
                "namespace": "llm", "pod": "claude-inference-x"},
     "annotations": {"summary": "GPU 1 on gpu-node-1 (llm/claude-inference-x) framebuffer 91% used"},
     "state": "firing", "activeAt": "2026-11-25T10:00:00Z", "value": "0.91"}]}}
# The project's four rules are loaded, so `llmctl alerts` evaluates none of its built-in ones.
RULES_ANSWER = {"status": "success", "data": {"groups": [{"name": "llmctl", "rules": [
    {"type": "alerting", "name": name} for name in ("GPUFramebufferHigh", "LLMLatencyP99High", "LLMKVCacheHigh",
                                                    "LLMQueueWaitingHigh")]}]}}


@pytest.fixture
def prometheus() -> Iterator[str]:
    """A stand-in for Prometheus's ``/api/v1/alerts`` and ``/api/v1/rules`` (the real one is exercised with
    promtool and in test_alertmanager.py)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            answer = {"/api/v1/alerts": PROM_ANSWER, "/api/v1/rules": RULES_ANSWER}.get(self.path.split("?")[0])
            body = json.dumps(answer).encode() if answer else b"{}"
            self.send_response(200 if answer else 404)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_llmctl_alerts_exit_code_follows_critical_alerts(sb: SandboxThread, prometheus: str) -> None:
    kubeconfig = sb.info.kubeconfig
    healthy = llmctl("alerts", "--kubeconfig", kubeconfig)
    assert healthy.returncode == 0, healthy.stderr
    assert healthy.stdout.strip() == "no alerts"

    warned = llmctl("alerts", "--kubeconfig", kubeconfig, "-o", "json", "--prometheus", prometheus)
    assert warned.returncode == 0, warned.stderr
    doc = json.loads(warned.stdout)
    assert doc["critical_firing"] == 0 and doc["errors"] == []
    [fb] = doc["alerts"]
    assert (fb["source"], fb["name"], fb["severity"], fb["state"]) == ("prometheus", "GPUFramebufferHigh", "warning",
                                                                       "firing")
    assert fb["target"]["node"] == "gpu-node-1" and fb["target"]["gpu"] == "1"

    assert send_fault("node-loss", "gpu-node-3", kubeconfig) == 0
    wait_for(sb, "NodeNotReady", node="gpu-node-3")
    down = llmctl("--prometheus", prometheus, "alerts", "--kubeconfig", kubeconfig, "-o", "json")
    assert down.returncode == 1, down.stderr
    doc = json.loads(down.stdout)
    assert doc["critical_firing"] >= 1
    assert doc["alerts"][0]["name"] == "NodeNotReady" and doc["alerts"][0]["target"]["node"] == "gpu-node-3"
    assert {a["source"] for a in doc["alerts"]} == {"cluster", "prometheus"}
    table = llmctl("alerts", "--kubeconfig", kubeconfig)
    assert table.returncode == 1
    lines = table.stdout.splitlines()
    assert lines[0].split()[:4] == ["SEVERITY", "STATE", "SOURCE", "ALERT"]
    assert lines[1].split()[:4] == ["critical", "firing", "cluster", "NodeNotReady"] and "gpu-node-3" in lines[1]


def test_llmctl_alerts_reports_unreadable_sources(sb: SandboxThread, tmp_path: Path) -> None:
    from tests.metrics.prom import free_port

    dead = f"http://127.0.0.1:{free_port()}"
    result = llmctl("alerts", "--kubeconfig", sb.info.kubeconfig, "--prometheus", dead, "-o", "json")
    assert result.returncode == 1
    errors = json.loads(result.stdout)["errors"]
    assert len(errors) == 1 and errors[0].startswith(f"Prometheus at {dead}: connection refused")
    assert "Errno" not in result.stdout + result.stderr
    assert "llmctl alerts: Prometheus at" in result.stderr
    missing = llmctl("alerts", "--kubeconfig", str(tmp_path / "nope"))
    # an unusable kubeconfig is bad input: one line, exit 2, before anything is read
    assert missing.returncode == 2 and "no kubeconfig at" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1
