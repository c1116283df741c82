"""console.alerts.model over crafted JSON: Prometheus's /api/v1/alerts, pods/Deployments/nodes, ordering."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from console.alerts.model import (
    Alert,
    AlertTarget,
    cluster_alerts,
    parse_prometheus_alerts,
    pod_deployment,
    sort_alerts,
)
from console.cli.alerts import format_table

T0 = "2026-11-25T10:00:00Z"
T1 = "2026-11-25T10:05:00Z"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def pod(name: str, *, statuses: list[dict[str, Any]] | None = None, conditions: list[dict[str, Any]] | None = None,
        node: str | None = "gpu-node-1", rs: str | None = "claude-inference-5d8f7c", hash_: str = "5d8f7c",
        ) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": "llm", "labels": {"pod-template-hash": hash_}}
    if rs:
        meta["ownerReferences"] = [{"kind": "ReplicaSet", "name": rs}]
    spec = {"nodeName": node} if node else {}
    return {"metadata": meta, "spec": spec,
            "status": {"startTime": T0, "conditions": conditions or [], "containerStatuses": statuses or []}}


def container(waiting: str | None = None, last: dict[str, Any] | None = None, restarts: int = 0,
              message: str = "") -> dict[str, Any]:
    state = {"waiting": {"reason": waiting, "message": message}} if waiting else {"running": {"startedAt": T0}}
    return {"name": "inference", "image": "registry.local/llm/claude:v2", "restartCount": restarts,
            "state": state, "lastState": {"terminated": last} if last else {}}


def prom_alert(name: str, state: str = "firing", severity: str | None = "critical", **labels: str) -> dict[str, Any]:
    all_labels = {"alertname": name, **labels, **({"severity": severity} if severity else {})}
    return {"labels": all_labels, "annotations": {"summary": f"{name} on {labels.get('pod')}", "description": "d"},
            "state": state, "activeAt": "2026-11-25T10:00:12.60602144+02:00", "value": "9.1e-01"}


def test_prometheus_alerts_are_parsed_with_their_target() -> None:
    doc = {"status": "success", "data": {"alerts": [
        prom_alert("GPUFramebufferHigh", "pending", "warning", gpu="0", UUID="GPU-1", Hostname="gpu-node-2",
                   namespace="llm", pod="claude-inference-abc"),
        prom_alert("LLMLatencyP99High", exported_namespace="llm", exported_pod="claude-x", model_name="m"),
        {"labels": {"alertname": "Bare"}, "state": "inactive"},
    ]}}
    fb, p99, bare = parse_prometheus_alerts(doc)
    assert fb == Alert("prometheus", "GPUFramebufferHigh", "warning", "pending",
                       datetime(2026, 11, 25, 8, 0, 12, 606021, tzinfo=UTC),
                       AlertTarget(namespace="llm", pod="claude-inference-abc", node="gpu-node-2", gpu="0"),
                       "GPUFramebufferHigh on claude-inference-abc")
    assert (p99.state, p99.severity, p99.target.namespace, p99.target.pod) == ("firing", "critical", "llm", "claude-x")
    assert p99.critical_firing and not fb.critical_firing
    assert (bare.severity, bare.state, bare.since, bare.summary) == ("none", "resolved", None, "Bare")
    assert fb.to_json()["since"] == "2026-11-25T08:00:12.606021+00:00"
    assert fb.to_json()["target"] == {"namespace": "llm", "deployment": None, "pod": "claude-inference-abc",
                                      "node": "gpu-node-2", "gpu": "0"}


@pytest.mark.parametrize("doc", [{"status": "error", "errorType": "bad_data", "error": "boom"},
                                 {"status": "success", "data": {"result": []}}])
def test_prometheus_error_answers_raise(doc: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        parse_prometheus_alerts(doc)


def test_oomkilled_is_critical_while_crashlooping_and_not_also_reported_as_crashloop() -> None:
    oom = {"exitCode": 137, "reason": "OOMKilled", "finishedAt": T1}
    pods = {"items": [pod("claude-inference-5d8f7c-aaaaa", statuses=[container("CrashLoopBackOff", oom, 3)]),
                      pod("claude-inference-5d8f7c-bbbbb", statuses=[container(None, oom, 1)])]}
    looping, recovered = cluster_alerts(pods, None, None)
    assert (looping.name, looping.severity, looping.state, looping.since) == ("OOMKilled", "critical", "firing", at(T1))
    assert looping.target == AlertTarget(namespace="llm", deployment="claude-inference",
                                         pod="claude-inference-5d8f7c-aaaaa", node="gpu-node-1")
    assert "OOMKilled (exit code 137), 3 restarts, in CrashLoopBackOff" in looping.summary
    assert (recovered.name, recovered.severity) == ("OOMKilled", "warning")


def test_crashloop_image_pull_and_failed_scheduling() -> None:
    crash = container("CrashLoopBackOff", {"exitCode": 1, "reason": "Error", "finishedAt": T1}, 5)
    pull = container("ImagePullBackOff", message='Back-off pulling image "registry.local/llm/claude:v2"')
    err_pull = container("ErrImagePull", message="manifest unknown")
    unschedulable = {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "lastTransitionTime": T0,
                     "message": "0/4 nodes are available: 4 Insufficient nvidia.com/gpu."}
    alerts = cluster_alerts([pod("a-1", statuses=[crash]), pod("a-2", statuses=[pull]),
                             pod("a-3", statuses=[err_pull]),
                             pod("a-4", conditions=[unschedulable], node=None)], [], [])
    by_pod = {a.target.pod: a for a in alerts}
    assert len(alerts) == 4
    assert (by_pod["a-1"].name, by_pod["a-1"].severity, by_pod["a-1"].since) == ("CrashLoopBackOff", "critical", at(T1))
    assert "last exit code 1" in by_pod["a-1"].summary
    assert (by_pod["a-2"].name, by_pod["a-2"].severity) == ("ImagePullBackOff", "warning")
    assert "registry.local/llm/claude:v2" in by_pod["a-2"].summary
    # ErrImagePull is the same condition as ImagePullBackOff (they alternate at every retry): one alert name.
    assert by_pod["a-3"].name == "ImagePullBackOff" and "ErrImagePull: manifest unknown" in by_pod["a-3"].summary
    sched = by_pod["a-4"]
    assert (sched.name, sched.severity, sched.since, sched.target.node) == ("FailedScheduling", "warning", at(T0), None)
    assert "no free GPU" in sched.summary and "Insufficient nvidia.com/gpu" in sched.summary


def test_healthy_objects_raise_nothing() -> None:
    ready = {"type": "Ready", "status": "True"}
    scheduled = {"type": "PodScheduled", "status": "True"}
    progressing = {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}
    assert cluster_alerts({"items": [pod("ok", statuses=[container()], conditions=[scheduled, ready])]},
                          {"items": [{"metadata": {"name": "d", "namespace": "llm"},
                                      "status": {"conditions": [progressing]}}]},
                          {"items": [{"metadata": {"name": "n"}, "status": {"conditions": [ready]}}]}) == []


def test_progress_deadline_and_node_not_ready() -> None:
    deployment = {"metadata": {"name": "claude-inference", "namespace": "llm"}, "status": {"conditions": [
        {"type": "Available", "status": "True"},
        {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded", "lastTransitionTime": T1,
         "message": 'ReplicaSet "claude-inference-77" has timed out progressing.'}]}}
    nodes = [{"metadata": {"name": "gpu-node-3"}, "status": {"conditions": [
        {"type": "Ready", "status": "Unknown", "reason": "NodeStatusUnknown", "lastTransitionTime": T0,
         "message": "Kubelet stopped posting node status."}]}},
        {"metadata": {"name": "gpu-node-4"}, "status": {"conditions": [
            {"type": "Ready", "status": "False", "reason": "KubeletNotReady", "lastTransitionTime": T1}]}}]
    stuck, lost, down = cluster_alerts([], [deployment], nodes)
    assert (stuck.name, stuck.severity, stuck.since) == ("ProgressDeadlineExceeded", "critical", at(T1))
    assert stuck.target == AlertTarget(namespace="llm", deployment="claude-inference")
    assert "has timed out progressing" in stuck.summary
    assert (lost.name, lost.severity, lost.target, lost.since) == (
        "NodeNotReady", "critical", AlertTarget(node="gpu-node-3"), at(T0))
    assert "Ready=Unknown" in lost.summary and "Kubelet stopped posting" in lost.summary
    assert down.target.node == "gpu-node-4" and "KubeletNotReady" in down.summary


def test_pod_deployment_from_the_replicaset() -> None:
    assert pod_deployment(pod("x")) == "claude-inference"
    assert pod_deployment(pod("x", rs="vllm-7b-6c9d", hash_="other")) == "vllm-7b"
    assert pod_deployment(pod("x", rs=None)) is None


def test_sort_by_severity_then_age() -> None:
    def alert(name: str, severity: str, since: str | None) -> Alert:
        return Alert("cluster", name, severity, "firing", at(since) if since else None)

    alerts = [alert("w-new", "warning", T1), alert("c-none", "critical", None), alert("odd", "page-me", T0),
              alert("c-new", "critical", T1), alert("w-old", "warning", T0), alert("c-old", "critical", T0),
              alert("info", "info", T0)]
    assert [a.name for a in sort_alerts(alerts)] == ["c-old", "c-new", "c-none", "w-old", "w-new", "info", "odd"]


def test_table_shows_age_and_target() -> None:
    a = Alert("cluster", "NodeNotReady", "critical", "firing", at(T0), AlertTarget(node="gpu-node-3"), "node down")
    b = Alert("prometheus", "GPUFramebufferHigh", "warning", "pending", None,
              AlertTarget(namespace="llm", pod="p-1", node="gpu-node-1", gpu="2"), "fb")
    lines = format_table([a, b], now=at(T1)).splitlines()
    assert lines[0].split() == ["SEVERITY", "STATE", "SOURCE", "ALERT", "AGE", "TARGET", "SUMMARY"]
    assert lines[1].split()[:7] == ["critical", "firing", "cluster", "NodeNotReady", "5m", "node", "gpu-node-3"]
    assert "llm/p-1 node gpu-node-1 GPU 2" in lines[2] and lines[2].split()[4] == "-"
