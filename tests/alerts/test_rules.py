"""manifests/prometheus-rules.yaml and manifests/prometheusrule.yaml: valid for promtool, the same groups."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from console.core.paths import manifests_dir
from tests.conftest import need_tool

ALERTS = {"GPUFramebufferHigh", "LLMLatencyP99High", "LLMKVCacheHigh", "LLMQueueWaitingHigh"}


def promtool_check(path: Path) -> str:
    result = subprocess.run([need_tool("promtool"), "check", "rules", str(path)], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def rules(doc: dict) -> dict[str, dict]:
    return {r["alert"]: r for g in doc["groups"] for r in g["rules"]}


def test_plain_rules_file_passes_promtool() -> None:
    out = promtool_check(manifests_dir() / "prometheus-rules.yaml")
    assert "SUCCESS: 4 rules found" in out


def test_prometheusrule_groups_pass_promtool_and_match_the_plain_file(tmp_path: Path) -> None:
    cr = yaml.safe_load((manifests_dir() / "prometheusrule.yaml").read_text())
    assert (cr["apiVersion"], cr["kind"]) == ("monitoring.coreos.com/v1", "PrometheusRule")
    assert cr["metadata"]["name"]
    groups = tmp_path / "groups.yaml"
    groups.write_text(yaml.safe_dump({"groups": cr["spec"]["groups"]}))
    assert "SUCCESS: 4 rules found" in promtool_check(groups)
    assert cr["spec"] == yaml.safe_load((manifests_dir() / "prometheus-rules.yaml").read_text())


def test_the_rules_say_what_the_issue_asks() -> None:
    by_name = rules(yaml.safe_load((manifests_dir() / "prometheus-rules.yaml").read_text()))
    assert set(by_name) == ALERTS
    for name, rule in by_name.items():
        assert rule["for"] and rule["labels"]["severity"] in {"warning", "critical"}, name
        text = rule["annotations"]["summary"] + rule["annotations"]["description"]
        assert "$labels.namespace" in text and "$labels.pod" in text, name
    fb = by_name["GPUFramebufferHigh"]
    assert fb["expr"] == "DCGM_FI_DEV_FB_USED / (DCGM_FI_DEV_FB_USED + DCGM_FI_DEV_FB_FREE) > 0.8"
    assert "$labels.gpu" in fb["annotations"]["summary"] and "$labels.Hostname" in fb["annotations"]["summary"]
    p99 = " ".join(by_name["LLMLatencyP99High"]["expr"].split())
    assert p99.startswith("histogram_quantile(0.99, sum by (le, namespace, pod, model_name) "
                          "(rate(vllm:e2e_request_latency_seconds_bucket[1m]))")
    assert p99.endswith("> 0.5")
    assert by_name["LLMKVCacheHigh"]["expr"] == "vllm:kv_cache_usage_perc > 0.9"
    assert by_name["LLMQueueWaitingHigh"]["expr"].startswith("vllm:num_requests_waiting > ")


def test_promtool_rejects_a_broken_rule(tmp_path: Path) -> None:
    """The check above would catch a mistake: promtool fails on a bad expression."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("groups:\n- name: x\n  rules:\n  - alert: X\n    expr: rate(foo[1m] > 1\n")
    result = subprocess.run([need_tool("promtool"), "check", "rules", str(bad)], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode != 0


DCGM = '{{gpu="{}",UUID="GPU-{}",Hostname="gpu-node-1",modelName="NVIDIA A10G",namespace="llm",pod="{}"}}'
PROMTOOL_TESTS = """
rule_files: [{rules}]
evaluation_interval: 15s
tests:
  - interval: 15s
    input_series:
      - series: 'DCGM_FI_DEV_FB_USED{gpu0}'
        values: '20000x40'
      - series: 'DCGM_FI_DEV_FB_FREE{gpu0}'
        values: '2000x40'
      - series: 'DCGM_FI_DEV_FB_USED{gpu1}'
        values: '10000x40'
      - series: 'DCGM_FI_DEV_FB_FREE{gpu1}'
        values: '12000x40'
      - series: 'vllm:e2e_request_latency_seconds_bucket{{le="0.1",namespace="llm",pod="slow",model_name="m"}}'
        values: '0+0x40'
      - series: 'vllm:e2e_request_latency_seconds_bucket{{le="1",namespace="llm",pod="slow",model_name="m"}}'
        values: '0+10x40'
      - series: 'vllm:e2e_request_latency_seconds_bucket{{le="+Inf",namespace="llm",pod="slow",model_name="m"}}'
        values: '0+10x40'
      - series: 'vllm:kv_cache_usage_perc{{namespace="llm",pod="slow",model_name="m"}}'
        values: '0.95x40'
      - series: 'vllm:num_requests_waiting{{namespace="llm",pod="slow",model_name="m"}}'
        values: '3x4 50x36'
    alert_rule_test:
      - eval_time: 1m
        alertname: GPUFramebufferHigh
        exp_alerts: []
      - eval_time: 6m
        alertname: GPUFramebufferHigh
        exp_alerts:
          - exp_labels: {{severity: warning, gpu: "0", UUID: GPU-1, Hostname: gpu-node-1, modelName: NVIDIA A10G,
                          namespace: llm, pod: claude-inference-abc}}
            exp_annotations: {{summary: "GPU 0 on gpu-node-1 (llm/claude-inference-abc) framebuffer 90.91% used"}}
      - eval_time: 4m
        alertname: LLMLatencyP99High
        exp_alerts:
          - exp_labels: {{severity: critical, namespace: llm, pod: slow, model_name: m}}
            exp_annotations: {{summary: "p99 latency 991ms on llm/slow (m)"}}
      - eval_time: 6m
        alertname: LLMKVCacheHigh
        exp_alerts:
          - exp_labels: {{severity: warning, namespace: llm, pod: slow, model_name: m}}
            exp_annotations: {{summary: "KV-cache 95% used on llm/slow"}}
      - eval_time: 2m
        alertname: LLMQueueWaitingHigh
        exp_alerts: []
      - eval_time: 5m
        alertname: LLMQueueWaitingHigh
        exp_alerts:
          - exp_labels: {{severity: warning, namespace: llm, pod: slow, model_name: m}}
            exp_annotations: {{summary: "50 requests waiting on llm/slow"}}
"""


def test_the_alerts_fire_on_crafted_series(tmp_path: Path) -> None:
    """``promtool test rules``: each alert fires after its ``for:`` (not before) with the labels and the summary
    naming namespace/pod/GPU. (The descriptions are dropped from the copy tested: prose, checked above.)"""
    doc = yaml.safe_load((manifests_dir() / "prometheus-rules.yaml").read_text())
    for rule in rules(doc).values():
        del rule["annotations"]["description"]
    copy = tmp_path / "rules.yaml"
    copy.write_text(yaml.safe_dump(doc))
    spec = tmp_path / "alerts_test.yaml"
    spec.write_text(PROMTOOL_TESTS.format(rules=copy, gpu0=DCGM.format(0, 1, "claude-inference-abc"),
                                           gpu1=DCGM.format(1, 2, "other")))
    result = subprocess.run([need_tool("promtool"), "test", "rules", str(spec)], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
