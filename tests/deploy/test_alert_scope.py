"""Each app's PrometheusRule fires for its own pods only: the PromQL scoping (console/deploy/promql.py) on
its own, promtool's check of what it renders, and promtool's rule tests with two apps whose names share a
prefix in one namespace — one alert each, never a copy of the other's."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from console.deploy.promql import scope_expr
from console.deploy.render import alert_scope, render
from tests.conftest import need_tool

from .value_sets import values

M = 'namespace="llm"'


@pytest.mark.parametrize(("expr", "expected"), [
    ("up", 'up{namespace="llm"}'),
    ('up{job="a"} == 0', 'up{namespace="llm",job="a"} == 0'),
    ("vllm:num_requests_waiting > 10", 'vllm:num_requests_waiting{namespace="llm"} > 10'),
    ("sum by (le, pod) (rate(x_bucket[5m]))", 'sum by (le, pod) (rate(x_bucket{namespace="llm"}[5m]))'),
    ("sum without(instance)(x) / on(pod) group_left(node) y",
     'sum without(instance)(x{namespace="llm"}) / on(pod) group_left(node) y{namespace="llm"}'),
    ("histogram_quantile(0.99, sum(rate(h_bucket[1m])) by (le))",
     'histogram_quantile(0.99, sum(rate(h_bucket{namespace="llm"}[1m])) by (le))'),
    ('label_replace(up, "dst", "$1", "src", "(.*)")', 'label_replace(up{namespace="llm"}, "dst", "$1", "src", "(.*)")'),
    ("rate(x[5m] offset 1h) > bool 1e3", 'rate(x{namespace="llm"}[5m] offset 1h) > bool 1e3'),
    ("max_over_time(rate(x[1m])[10m:1m])", 'max_over_time(rate(x{namespace="llm"}[1m])[10m:1m])'),
    ('{__name__=~"vllm:.+"}', '{namespace="llm",__name__=~"vllm:.+"}'),
    ("a and b unless c or d", 'a{namespace="llm"} and b{namespace="llm"} unless c{namespace="llm"} or '
                              'd{namespace="llm"}'),
    ("topk(3, x) # a comment with up", 'topk(3, x{namespace="llm"}) # a comment with up'),
    ("count(x{}) > 0x1F", 'count(x{namespace="llm"}) > 0x1F'),
])
def test_every_series_selector_gets_the_matchers(expr: str, expected: str) -> None:
    assert scope_expr(expr, M) == expected


@pytest.mark.parametrize("bad", ['up{job="a"', 'up{job="a}', "rate(x[5m)"])
def test_malformed_expressions_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        scope_expr(bad, M)


def _pods(deployment: str) -> list[str]:
    """Pod names a Deployment's ReplicaSets give (pod-template-hash alphabet; old numeric hashes too)."""
    return [f"{deployment}-7d9f8b6c5d-x2x4z", f"{deployment}-5c6d7f8b9-abcde", f"{deployment}-1234567890-q9w8e"]


def test_two_apps_never_select_each_others_pods() -> None:
    # Names that share prefixes, with and without the pools (NAME-short-queue, NAME-long-queue, NAME-router).
    apps = [values("defaults", name="claude"), values("defaults", name="claude-inference"),
            values("pools", name="claude-inference-short"), values("pools", name="claude-short")]
    pods = {v.name: [p for d in v.deployments() for p in _pods(d)] for v in apps}  # the routers' pods too
    every = [p for ps in pods.values() for p in ps]
    for v in apps:
        ns, pod_re = re.fullmatch(r'namespace="([^"]+)",pod=~"(.+)"', alert_scope(v)).groups()  # type: ignore[union-attr]
        assert ns == v.namespace
        serving = {p for p in pods[v.name] if "-router-" not in p}
        assert {p for p in every if re.fullmatch(pod_re, p)} == serving, v.name


def _rules_file(tmp_path: Path, *names: str) -> Path:
    groups = []
    for name in names:
        (rule,) = render(values("defaults", name=name, namespace="llm")).by_kind("PrometheusRule")
        for group in rule.body["spec"]["groups"]:
            for r in group["rules"]:
                r.pop("annotations", None)  # promtool compares them too; the scope lives in expr and labels
            groups.append(group)
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))
    return path


def test_promtool_accepts_the_scoped_rules(tmp_path: Path) -> None:
    path = _rules_file(tmp_path, "claude", "claude-inference")
    done = subprocess.run([need_tool("promtool"), "check", "rules", str(path)], capture_output=True, text=True,
                          timeout=30, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 8 rules found" in done.stdout  # 4 alerts per app, in uniquely named groups


def test_two_apps_in_one_namespace_fire_one_alert_each(tmp_path: Path) -> None:
    rules = _rules_file(tmp_path, "claude", "claude-inference")
    a, b = "claude-7d9f8b6c5d-x2x4z", "claude-inference-5c6d7f8b9-abcde"
    series = [f'vllm:num_requests_waiting{{namespace="{ns}",pod="{pod}"}}'
              for ns, pod in (("llm", a), ("llm", b), ("other", a))]
    gpu = [f'DCGM_FI_DEV_FB_{what}{{namespace="llm",pod="{pod}",gpu="0"}}' for pod in (a, b)
           for what in ("USED", "FREE")]
    test = {
        "rule_files": [str(rules)],
        "evaluation_interval": "1m",
        "tests": [{
            "interval": "1m",
            "input_series": [{"series": s, "values": "20x10"} for s in series]
            + [{"series": s, "values": ("900x10" if "USED" in s else "100x10")} for s in gpu],
            "alert_rule_test": [
                {"eval_time": "5m", "alertname": "LLMQueueWaitingHigh", "exp_alerts": [
                    {"exp_labels": {"severity": "warning", "llmctl_app": "claude", "namespace": "llm", "pod": a}},
                    {"exp_labels": {"severity": "warning", "llmctl_app": "claude-inference", "namespace": "llm",
                                    "pod": b}}]},
                {"eval_time": "8m", "alertname": "GPUFramebufferHigh", "exp_alerts": [
                    {"exp_labels": {"severity": "warning", "llmctl_app": "claude", "namespace": "llm", "pod": a,
                                    "gpu": "0"}},
                    {"exp_labels": {"severity": "warning", "llmctl_app": "claude-inference", "namespace": "llm",
                                    "pod": b, "gpu": "0"}}]},
            ],
        }],
    }
    spec = tmp_path / "test.yaml"
    spec.write_text(yaml.safe_dump(test, sort_keys=False))
    done = subprocess.run([need_tool("promtool"), "test", "rules", str(spec)], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    # The same test against the unscoped rule file fails: each app's rule fires for all three series.
    unscoped = yaml.safe_load((Path(__file__).resolve().parents[2] / "manifests" / "prometheusrule.yaml")
                              .read_text())["spec"]["groups"]
    rules.write_text(yaml.safe_dump({"groups": [{**g, "name": f"{g['name']}-{i}"} for i in range(2)
                                                for g in unscoped]}))
    done = subprocess.run([need_tool("promtool"), "test", "rules", str(spec)], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode != 0 and "LLMQueueWaitingHigh" in done.stdout + done.stderr
