"""Rendering: the article's Deployment, HPA, PVC and routing come out of the values as they should, in
apply order, and ``llmctl render`` prints or writes YAML that parses back to the same objects."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from console.cli import main
from console.deploy.render import KINDS, alert_groups, render

from .value_sets import VALUE_SETS, values

EXAMPLE = "manifests/values.example.yaml"
ROOT = Path(__file__).resolve().parents[2]


def by_kind(rendered: object, kind: str) -> list[dict]:
    return [o.body for o in rendered.objects if o.kind == kind]  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", list(VALUE_SETS))
def test_every_value_set_renders_in_apply_order(name: str) -> None:
    rendered = render(values(name))
    orders = [KINDS[o.kind].order for o in rendered.objects]
    assert orders == sorted(orders) and rendered.objects[0].kind == "Namespace"
    for o in rendered.objects:
        assert o.body["apiVersion"] == KINDS[o.kind].api_version
        assert o.kind == "Namespace" or o.namespace == "llm-demo"
    docs = [d for d in yaml.safe_load_all(rendered.yaml()) if d]
    assert docs == [o.body for o in rendered.objects]


def test_the_articles_deployment() -> None:
    (dep,) = by_kind(render(values("defaults")), "Deployment")
    spec = dep["spec"]
    assert spec["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
    (c,) = spec["template"]["spec"]["containers"]
    # 13 GiB of weights (model.sizeGiB): the request holds them, the limit adds the article's 2 GiB buffer
    assert c["resources"] == {"requests": {"cpu": "4", "memory": "13Gi", "nvidia.com/gpu": "1"},
                              "limits": {"memory": "15Gi", "nvidia.com/gpu": "1"}}
    assert c["volumeMounts"][0] == {"name": "model-store", "mountPath": "/models", "readOnly": True}
    assert spec["template"]["spec"]["volumes"][0] == \
        {"name": "model-store", "persistentVolumeClaim": {"claimName": "model-pvc", "readOnly": True}}
    assert c["startupProbe"]["failureThreshold"] * c["startupProbe"]["periodSeconds"] == 600
    assert c["readinessProbe"]["httpGet"] == {"path": "/health", "port": "http"}
    assert {"name": "LD_LIBRARY_PATH", "value": "/usr/local/cuda-12.2/lib64"} in c["env"]
    assert spec["selector"]["matchLabels"] == spec["template"]["metadata"]["labels"] | {} or \
        set(spec["selector"]["matchLabels"].items()) <= set(spec["template"]["metadata"]["labels"].items())
    assert spec["template"]["spec"]["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists",
                                                        "effect": "NoSchedule"}]


def test_the_articles_hpa_and_the_queue_metric() -> None:
    (hpa,) = by_kind(render(values("defaults")), "HorizontalPodAutoscaler")
    assert hpa["metadata"]["name"] == "claude-inference-hpa"
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 8)
    cpu, gpu = hpa["spec"]["metrics"]
    assert cpu == {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization",
                                                                              "averageUtilization": 70}}}
    assert gpu["external"]["metric"]["name"] == "gpu_utilization"
    assert gpu["external"]["metric"]["selector"]["matchLabels"]["app"] == "claude"
    assert gpu["external"]["target"] == {"type": "AverageValue", "averageValue": "60"}
    (queued,) = by_kind(render(values("queue")), "HorizontalPodAutoscaler")
    assert [m["type"] for m in queued["spec"]["metrics"]] == ["Resource", "Pods"]
    assert queued["spec"]["metrics"][1]["pods"] == {"metric": {"name": "vllm_num_requests_waiting"},
                                                    "target": {"type": "AverageValue", "averageValue": "10"}}
    assert by_kind(render(values("no-hpa")), "HorizontalPodAutoscaler") == []
    assert by_kind(render(values("no-hpa")), "ServiceMonitor") == []


def test_pools_split_by_prompt_length() -> None:
    rendered = render(values("pools"))
    deps = {d["metadata"]["name"]: d for d in by_kind(rendered, "Deployment")}
    assert set(deps) == {"claude-inference-short-queue", "claude-inference-long-queue", "claude-inference-router"}
    env = {e["name"]: e["value"] for e in deps["claude-inference-router"]["spec"]["template"]["spec"]["containers"][0]
           ["env"]}
    assert env["SHORT_QUEUE_MAX_CHARS"] == "512"
    assert env["SHORT_QUEUE_URL"] == "http://claude-inference-short-queue.llm-demo.svc.cluster.local:8000"
    assert deps["claude-inference-short-queue"]["spec"]["selector"]["matchLabels"]["pool"] == "short"
    services = {s["metadata"]["name"]: s for s in by_kind(rendered, "Service")}
    assert services["claude-inference"]["spec"]["selector"]["app.kubernetes.io/component"] == "router"
    assert {h["spec"]["scaleTargetRef"]["name"] for h in by_kind(rendered, "HorizontalPodAutoscaler")} == \
        {"claude-inference-short-queue", "claude-inference-long-queue"}


def test_monitoring_objects_reuse_the_rule_file() -> None:
    rendered = render(values("defaults"))
    (rule,) = by_kind(rendered, "PrometheusRule")
    assert alert_groups() == ["llmctl-gpu", "llmctl-serving"]
    assert [g["name"] for g in rule["spec"]["groups"]] == alert_groups(values("defaults")) == \
        ["llmctl-gpu/llm-demo/claude-inference", "llmctl-serving/llm-demo/claude-inference"]
    assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    (mon,) = by_kind(rendered, "ServiceMonitor")
    (svc,) = by_kind(rendered, "Service")
    assert set(mon["spec"]["selector"]["matchLabels"].items()) <= set(svc["metadata"]["labels"].items())
    assert mon["spec"]["endpoints"] == [{"port": "http", "path": "/metrics", "interval": "15s"}]


def test_render_cli_prints_or_writes(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    assert main(["render", "-f", EXAMPLE]) == 0
    docs = [d for d in yaml.safe_load_all(capsys.readouterr().out) if d]
    assert [d["kind"] for d in docs][:5] == ["Namespace", "PersistentVolumeClaim", "PodDisruptionBudget", "Service",
                                             "Deployment"]
    assert main(["render", "-f", EXAMPLE, "-o", str(tmp_path / "out")]) == 0
    files = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert files == ["00-namespace.yaml", "10-persistentvolumeclaim.yaml", "15-poddisruptionbudget.yaml",
                     "20-service.yaml", "30-deployment.yaml", "40-horizontalpodautoscaler.yaml",
                     "50-servicemonitor.yaml", "60-prometheusrule.yaml"]
    again = [d for f in files for d in yaml.safe_load_all((tmp_path / "out" / f).read_text()) if d]
    assert again == docs


def test_render_cli_rejects_bad_values_with_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "values.yaml"
    bad.write_text("image: llm/claude-inference:v1.1.0\ngpusPerReplica: 0\nautoscaling:\n  minReplicas: 9\n")
    assert main(["render", "-f", str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}: 2 problems with the values:" in err
    assert f"{bad}:2: gpusPerReplica: 0 is too small: at least 1" in err
    assert f"{bad}:4: autoscaling.minReplicas: 9 must not exceed autoscaling.maxReplicas (8)" in err
    bad.write_text("image: [unclosed\n")
    assert main(["render", "-f", str(bad)]) == 2
    assert "not valid YAML" in capsys.readouterr().err
