"""console.alerts.builtin: thresholds at / below / above, covered rules left out, first-seen times;
and the rules over the sandbox's in-process metrics source with the gpu-memory-leak fault."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from console.alerts.builtin import (
    RULES,
    BuiltinRuleState,
    Thresholds,
    covered_rules,
    evaluate,
)
from console.alerts.model import AlertTarget
from console.config import load_settings
from console.core.metrics import GpuSample, ServingStats
from console.sandbox.faultcli import send_fault
from console.sandbox.metrics_source import SandboxMetrics
from tests.conftest import start_sandbox
from tests.infra_alertmanager import wait

FB, P99, KV, QUEUE = RULES


def gpu(used_mib: float, total_mib: float = 1000.0, pod: str = "claude-inference-1") -> GpuSample:
    return GpuSample("gpu-node-1", "2", "GPU-x", "NVIDIA A10G", used_mib, total_mib, 50.0, 60.0, "llm", pod)


@pytest.mark.parametrize(("sample", "fires"), [
    (gpu(799.0), False),  # below
    (gpu(800.0), False),  # at 80 %: the rule is "> 80 %"
    (gpu(801.0), True),  # above
    (gpu(5.0, total_mib=0.0), False),  # no total: no figure
])
def test_framebuffer_rule(sample: GpuSample, fires: bool) -> None:
    alerts = evaluate([sample], [], Thresholds())
    assert [a.name for a in alerts] == ([FB] if fires else [])
    if fires:
        [a] = alerts
        assert (a.source, a.severity, a.state, a.since) == ("builtin", "warning", "firing", None)
        assert a.target == AlertTarget(namespace="llm", pod="claude-inference-1", node="gpu-node-1", gpu="2")
        assert a.summary == "GPU 2 on gpu-node-1 (llm/claude-inference-1) framebuffer 80.1% used (> 80%)"
        assert dict(a.labels) == {"alertname": FB, "severity": "warning", "Hostname": "gpu-node-1", "gpu": "2",
                                  "namespace": "llm", "pod": "claude-inference-1"}


@pytest.mark.parametrize(("stats", "expected"), [
    (ServingStats("d", p99_s=0.499, kv_cache=0.89, waiting=9.0), []),  # below
    (ServingStats("d", p99_s=0.5, kv_cache=0.9, waiting=10.0), []),  # at: not above
    (ServingStats("d", p99_s=0.501), [P99]),
    (ServingStats("d", kv_cache=0.91), [KV]),
    (ServingStats("d", waiting=10.5), [QUEUE]),
    (ServingStats("d", p99_s=2.0, kv_cache=1.0, waiting=40.0), [P99, KV, QUEUE]),
    (ServingStats("d"), []),  # no figures (a stack without them): nothing
])
def test_serving_rules(stats: ServingStats, expected: list[str]) -> None:
    alerts = evaluate([], [stats], Thresholds(), namespace="llm")
    assert [a.name for a in alerts] == expected
    for a in alerts:
        assert a.target == AlertTarget(namespace="llm", deployment="d")
        assert a.severity == ("critical" if a.name == P99 else "warning")
        assert dict(a.labels)["deployment"] == "d" and dict(a.labels)["namespace"] == "llm"


def test_summaries_and_configured_thresholds() -> None:
    thresholds = Thresholds(fb_percent=50.0, p99_ms=250.0, kv_percent=50.0, queue_waiting=2.0)
    alerts = evaluate([gpu(600.0)], [ServingStats("claude-inference", p99_s=0.3, kv_cache=0.6, waiting=3.0)],
                      thresholds, namespace="llm")
    assert [a.summary for a in alerts] == [
        "GPU 2 on gpu-node-1 (llm/claude-inference-1) framebuffer 60.0% used (> 50%)",
        "p99 latency 300 ms on llm/claude-inference (> 250 ms): scale out",
        "KV-cache 60% used on llm/claude-inference (> 50%)",
        "3 requests waiting on llm/claude-inference (> 2)"]
    assert evaluate([gpu(600.0)], [], Thresholds()) == []


def test_covered_rules_are_left_out() -> None:
    hot = ServingStats("d", p99_s=2.0, kv_cache=1.0, waiting=40.0)
    assert [a.name for a in evaluate([gpu(990.0)], [hot], covered={FB, KV})] == [P99, QUEUE]
    assert evaluate([gpu(990.0)], [hot], covered=set(RULES)) == []


def test_covered_rules_from_the_rules_api() -> None:
    doc = {"status": "success", "data": {"groups": [
        {"name": "llmctl-gpu", "rules": [{"type": "alerting", "name": FB, "query": "x > 0.8"}]},
        {"name": "rec", "rules": [{"type": "recording", "name": "job:x:rate"},
                                  {"type": "alerting", "name": "Other"}]}]}}
    assert covered_rules(doc) == {FB, "Other"}
    with pytest.raises(ValueError, match="bad_data"):
        covered_rules({"status": "error", "errorType": "bad_data", "error": "x"})
    with pytest.raises(ValueError, match=r"no data\.groups"):
        covered_rules({"status": "success", "data": {}})


def test_state_remembers_first_seen() -> None:
    state = BuiltinRuleState()
    t0 = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
    hot, cool = [gpu(900.0)], [gpu(100.0)]
    [first] = state.update(evaluate(hot, []), t0)
    [again] = state.update(evaluate(hot, []), t0 + timedelta(seconds=30))
    assert first.since == again.since == t0
    assert state.update(evaluate(cool, []), t0 + timedelta(seconds=60)) == []
    [later] = state.update(evaluate(hot, []), t0 + timedelta(seconds=90))
    assert later.since == t0 + timedelta(seconds=90)  # fired again: a new episode


def test_thresholds_come_from_the_settings(tmp_path: Path) -> None:
    settings = load_settings(env={"LLMCTL_ALERT_P99_MS": "250", "LLMCTL_ALERT_QUEUE_WAITING": "4"},
                             path=tmp_path / "none.yaml")
    assert Thresholds.from_settings(settings) == Thresholds(80.0, 250.0, 90.0, 4.0)
    config = tmp_path / "config.yaml"
    config.write_text("alert_fb_percent: 70\nalert_kv_percent: 95\n")
    assert Thresholds.from_settings(load_settings(env={}, path=config)) == Thresholds(70.0, 500.0, 95.0, 10.0)


def test_sandbox_source_with_a_memory_leak_fires_the_framebuffer_rule() -> None:
    sandbox = start_sandbox(seed=11)  # speed 40: the leak passes 80 % in about a wall second
    metrics = SandboxMetrics(sandbox)
    try:
        def fired() -> list:
            return evaluate(wait(lambda: metrics.gpus().value, 10, "GPU figures"), [], Thresholds())

        assert fired() == [], "a healthy sandbox's GPUs are below 80 %"
        assert send_fault("gpu-memory-leak", "claude-inference", sandbox.info.kubeconfig) == 0
        alerts = wait(fired, 20, "GPUFramebufferHigh from the sandbox's figures")
        assert {a.name for a in alerts} == {FB}
        assert all(a.target.pod and a.target.pod.startswith("claude-inference-") for a in alerts)
        assert all(a.target.namespace == "llm" and a.target.node for a in alerts)
    finally:
        metrics.close()
        sandbox.stop()


def test_sandbox_source_with_a_latency_spike_fires_the_p99_rule() -> None:
    sandbox = start_sandbox(seed=11)
    metrics = SandboxMetrics(sandbox)
    try:
        def fired() -> list:
            serving = wait(lambda: metrics.serving("llm").value, 10, "serving figures")
            return [a for a in evaluate([], serving, Thresholds(), namespace="llm")
                    if a.name == "LLMLatencyP99High" and a.target.deployment == "claude-inference"]

        assert fired() == [], "claude-inference serves under 500 ms at p99 (the long-prompt pool may not)"
        assert send_fault("latency-spike", "claude-inference", sandbox.info.kubeconfig) == 0
        [alert] = wait(fired, 30, "LLMLatencyP99High from the sandbox's figures")
        assert alert.target == AlertTarget(namespace="llm", deployment="claude-inference")
        assert alert.severity == "critical" and "p99 latency" in alert.summary
    finally:
        metrics.close()
        sandbox.stop()


def test_llmctl_alerts_on_the_sandbox_evaluates_the_builtin_rules(tmp_path: Path) -> None:
    """``llmctl alerts --sandbox`` reads the simulation's figures; thresholds from the environment (a 1 %
    framebuffer line makes every held GPU fire; the others are set out of reach)."""
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("LLMCTL_")},
           "XDG_CONFIG_HOME": str(tmp_path), "LLMCTL_ALERT_FB_PERCENT": "1", "LLMCTL_ALERT_P99_MS": "100000",
           "LLMCTL_ALERT_KV_PERCENT": "100", "LLMCTL_ALERT_QUEUE_WAITING": "100000"}
    result = subprocess.run([sys.executable, "-m", "console.cli", "alerts", "--sandbox", "-n", "llm", "-o", "json"],
                            capture_output=True, text=True, timeout=60, env=env, cwd=Path(__file__).parents[2])
    doc = json.loads(result.stdout)
    assert (result.returncode, doc["errors"]) == (0, []), result.stderr
    builtin = [a for a in doc["alerts"] if a["source"] == "builtin"]
    assert builtin and {a["name"] for a in builtin} == {FB}
    assert all(a["summary"].endswith("used (> 1%)") and a["target"]["node"] for a in builtin)
    assert any((a["target"]["pod"] or "").startswith("claude-inference-") for a in builtin)
