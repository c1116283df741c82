"""The incident timeline from hand-written Kubernetes JSON: ordering, scoping, dedupe; the report forms."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from console.alerts.model import Alert, AlertTarget
from console.incident.report import Figures, NodeProblem
from console.incident.service import (
    AlertSpan,
    Incident,
    alert_spans_from_range,
    build_timeline,
    render_markdown,
    to_json,
)
from console.kube.logs import SearchError, search

NOW = datetime(2026, 1, 31, 12, 0, 0, tzinfo=UTC)
NS, DEP, UID = "shop", "web", "uid-web"
OLD_RS, BAD_RS, OTHER_RS = "web-5c9f7d8b6", "web-7d4b9c6f8", "api-6b8d9f7c5"
BAD_POD, POD, OTHER_POD = f"{BAD_RS}-abcde", f"{OLD_RS}-xk2zq", f"{OTHER_RS}-yyyyy"


def at(hhmmss: str) -> str:
    return f"2026-01-31T{hhmmss}Z"


def t(hhmmss: str) -> datetime:
    return datetime.fromisoformat(at(hhmmss))


def deployment_obj(name: str = DEP, uid: str = UID) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": NS, "uid": uid, "generation": 3,
                         "annotations": {"deployment.kubernetes.io/revision": "3"}},
            "spec": {"replicas": 4, "template": {"spec": {"containers": [{"name": "app", "image": "app:v1"}]}}},
            "status": {"observedGeneration": 3, "replicas": 4, "updatedReplicas": 4, "readyReplicas": 4,
                       "availableReplicas": 4}}


def replicaset(name: str, image: str, created: str, revision: str, history: str = "", owner: str = DEP,
               uid: str = UID) -> dict[str, Any]:
    ann = {"deployment.kubernetes.io/revision": revision}
    if history:
        ann["deployment.kubernetes.io/revision-history"] = history
    return {"metadata": {"name": name, "namespace": NS, "creationTimestamp": at(created), "annotations": ann,
                         "ownerReferences": [{"kind": "Deployment", "name": owner, "uid": uid}]},
            "spec": {"template": {"spec": {"containers": [{"name": "app", "image": image}]}}}}


def event(reason: str, message: str, kind: str, name: str, first: str, last: str | None = None, count: int = 1,
          type_: str = "Normal", namespace: str = NS) -> dict[str, Any]:
    inv = {"kind": kind, "name": name}
    if kind != "Node":
        inv["namespace"] = namespace
    return {"metadata": {"name": f"{name}.{reason}", "namespace": namespace}, "involvedObject": inv,
            "reason": reason, "message": message, "type": type_, "count": count, "firstTimestamp": at(first),
            "lastTimestamp": at(last or first), "source": {"component": "test"}}


def pod(name: str, rs: str, node: str, terminated: dict[str, Any] | None = None, restarts: int = 0) -> dict[str, Any]:
    status: dict[str, Any] = {"phase": "Running", "containerStatuses": [
        {"name": "app", "image": "app:v1", "ready": True, "restartCount": restarts, "state": {"running": {}},
         "lastState": {"terminated": terminated} if terminated else {}}]}
    return {"metadata": {"name": name, "namespace": NS, "labels": {"pod-template-hash": rs.rsplit("-", 1)[1]},
                         "ownerReferences": [{"kind": "ReplicaSet", "name": rs}]},
            "spec": {"nodeName": node, "containers": [{"name": "app", "image": "app:v1"}]}, "status": status}


def audit(time: str, action: str, target: str = f"{NS}/Deployment/{DEP}", mode: str = "applied",
          before: dict | None = None, after: dict | None = None, user: str = "alice") -> dict[str, Any]:
    return {"time": at(time), "user": user, "action": action, "target": target, "before": before or {},
            "after": after or {}, "mode": mode, "result": "ok", "kubectl": "kubectl ..."}


HPA = {"metadata": {"name": "web-hpa", "namespace": NS},
       "spec": {"scaleTargetRef": {"kind": "Deployment", "name": DEP}, "minReplicas": 2, "maxReplicas": 8},
       "status": {"currentReplicas": 4, "desiredReplicas": 4}}

EVENTS = [
    event("ScalingReplicaSet", f"Scaled up replica set {BAD_RS} to 1", "Deployment", DEP, "11:10:00"),
    event("BackOff", "Back-off restarting failed container app", "Pod", BAD_POD, "11:12:00", "11:29:00", 7,
          "Warning"),
    event("NodeNotReady", "Node is not ready", "Node", "n1", "11:20:00", type_="Warning", namespace="default"),
    event("NodeNotReady", "Node is not ready", "Node", "n9", "11:21:00", type_="Warning", namespace="default"),
    event("ScalingReplicaSet", f"Scaled down replica set {BAD_RS} to 0 from 1", "Deployment", DEP, "11:30:05"),
    event("ScalingReplicaSet", f"Scaled up replica set {OLD_RS} to 3 from 2", "Deployment", DEP, "11:40:00"),
    event("SuccessfulRescale", "New size: 4; reason: cpu resource utilization above target",
          "HorizontalPodAutoscaler", "web-hpa", "11:50:00"),
    event("ScalingReplicaSet", f"Scaled up replica set {OLD_RS} to 4 from 3", "Deployment", DEP, "11:50:01"),
    event("Pulled", "Container image already present", "Pod", POD, "11:31:00"),  # Normal: not shown
    event("FailedScheduling", "0/4 nodes are available", "Pod", f"{OLD_RS}-gone1", "10:30:00", type_="Warning"),
    event("Unhealthy", "Readiness probe failed", "Pod", POD, "10:50:00", "11:05:00", 3, "Warning"),
    event("BackOff", "Back-off restarting failed container api", "Pod", OTHER_POD, "11:46:00", type_="Warning"),
]
PODS = [pod(POD, OLD_RS, "n1", {"reason": "OOMKilled", "exitCode": 137, "finishedAt": at("11:45:00")}, 1),
        pod(OTHER_POD, OTHER_RS, "n2", {"reason": "Error", "exitCode": 1, "finishedAt": at("11:46:00")}, 4)]
RSS = [replicaset(OLD_RS, "app:v1", "10:00:00", "3", "1"), replicaset(BAD_RS, "app:v2", "11:10:00", "2"),
       replicaset(OTHER_RS, "api:v1", "09:00:00", "1", owner="api", uid="uid-api")]
AUDIT = [audit("11:09:58", "set-image", mode="dry-run", before={"images": {"app": "app:v1"}},
               after={"images": {"app": "app:v2"}}),
         audit("11:10:00", "set-image", before={"images": {"app": "app:v1"}}, after={"images": {"app": "app:v2"}}),
         audit("11:30:05", "undo", before={"revision": 2}, after={"revision": 1}),
         audit("11:39:59", "scale", before={"replicas": 2}, after={"replicas": 3}),
         audit("11:35:00", "scale", target=f"{NS}/Deployment/api", before={"replicas": 1}, after={"replicas": 2}),
         audit("11:36:00", "scale", target=f"other/Deployment/{DEP}", before={"replicas": 1}, after={"replicas": 2}),
         audit("09:00:00", "scale", before={"replicas": 1}, after={"replicas": 2})]
TARGET = AlertTarget(NS, DEP, POD, "n1")
ALERTS = [Alert("cluster", "OOMKilled", "warning", "firing", t("11:45:00"), TARGET, "OOMKilled"),
          Alert("prometheus", "HighLatency", "critical", "firing", t("11:41:00"), AlertTarget(NS, DEP),
                "p99 above 500 ms"),
          Alert("prometheus", "Elsewhere", "critical", "firing", t("11:41:00"), AlertTarget("other", DEP), "x")]
RESOLVED = [(Alert("prometheus", "GPUHot", "warning", "resolved", t("11:42:00"), TARGET, "GPU at 91 %"),
             t("11:44:00"))]
SPANS = [AlertSpan("HighLatency", "critical", AlertTarget(NS, DEP), t("11:41:00"), None, "HighLatency firing")]


def timeline(deployment: str | None = DEP, **over: Any) -> list:
    args: dict[str, Any] = dict(namespace=NS, deployment=deployment, now=NOW, minutes=60, events=EVENTS, pods=PODS,
                                replicasets=RSS, deployments=[deployment_obj(), deployment_obj("api", "uid-api")],
                                hpas=[HPA], audit=AUDIT, alerts=ALERTS, resolved_alerts=RESOLVED, alert_spans=SPANS)
    args.update(over)
    return build_timeline(**args)


def test_a_deployment_timeline_in_order_with_every_kind() -> None:
    got = [(e.time.strftime("%H:%M:%S"), e.kind) for e in timeline()]
    assert got == [
        ("11:05:00", "event"),  # Unhealthy since before the window: placed at its last sighting
        ("11:09:58", "audit"),  # the dry-run
        ("11:10:00", "audit"),  # set-image applied ...
        ("11:10:00", "rollout"),  # ... and the rollout it started: same second, cause first
        ("11:12:00", "event"),  # BackOff of the bad pod (deleted since; matched by its ReplicaSet's name)
        ("11:20:00", "event"),  # NodeNotReady of a node the Deployment runs on (n9 is not)
        ("11:30:05", "audit"),  # undo
        ("11:30:05", "rollout"),  # the rollback
        ("11:39:59", "audit"),  # scale by alice ...
        ("11:40:00", "scale"),  # ... and the cluster's scale: one scale entry
        ("11:41:00", "alert-start"),  # HighLatency: record and ALERTS series are one
        ("11:42:00", "alert-start"),
        ("11:44:00", "alert-end"),
        ("11:45:00", "oomkill"),  # with the cluster's OOMKilled alert folded in
        ("11:50:00", "scale"),  # the HPA's, with the ReplicaSet scale it caused
    ]


def test_rollouts_say_old_and_new_images_and_the_rollback() -> None:
    first, back = [e for e in timeline() if e.kind == "rollout"]
    assert first.summary == "deployment/web revision 1 → 2: app:v1 → app:v2"
    assert first.detail["time_from"] == "created" and first.ref == ("deployment", NS, DEP)
    assert [s["message"] for s in first.detail["steps"]] == [f"Scaled up replica set {BAD_RS} to 1"]
    assert back.summary == "deployment/web revision 2 → 3: app:v2 → app:v1 (rollback to revision 1's template)"
    assert back.detail["rollback_of"] == 1 and back.detail["time_from"] == "audit"
    assert back.time == t("11:30:05")


def test_rollback_time_without_an_audit_log_comes_from_the_scale_down() -> None:
    back = [e for e in timeline(audit=[]) if e.kind == "rollout"][1]
    assert back.time == t("11:30:05") and back.detail["time_from"] == "previous scaled down"


def test_scale_dedupe_event_and_audit_and_hpa() -> None:
    entries = timeline()
    scales = [e for e in entries if e.kind == "scale"]
    assert len(scales) == 2, "rollout steps are not scales; the HPA's ReplicaSet scale is the HPA's"
    manual, hpa = scales
    assert manual.summary == (f"deployment/web: Scaled up replica set {OLD_RS} to 3 from 2 "
                              "(llmctl scale by alice)")
    assert manual.detail["audit"]["user"] == "alice" and manual.detail["to"] == 3
    assert hpa.ref == ("hpa", NS, "web-hpa") and hpa.detail["new_size"] == 4
    assert [r["message"] for r in hpa.detail["replicasets"]] == [f"Scaled up replica set {OLD_RS} to 4 from 3"]
    audits = [e for e in entries if e.kind == "audit"]
    assert len(audits) == 4, "every audit entry of the Deployment in the window is kept"
    assert audits[1].summary == "alice: set-image deployment/web (images.app app:v1 → app:v2) — applied, ok"


def test_scale_from_audit_alone_when_the_cluster_shows_no_event() -> None:
    scales = [e for e in timeline(events=[]) if e.kind == "scale"]
    assert [(e.time, e.detail["source"], e.detail["to"]) for e in scales] == [(t("11:39:59"), "audit", 3)]


def test_cluster_alert_merges_into_the_restart_it_comes_from() -> None:
    entries = timeline()
    oom = next(e for e in entries if e.kind == "oomkill")
    assert oom.detail["alerts"] == ["OOMKilled"] and oom.severity == "critical"
    assert oom.ref == ("pod", NS, POD) and oom.target.node == "n1"
    assert not any(e.kind == "alert-start" and e.detail["alert"] == "OOMKilled" for e in entries)
    starts = [e for e in entries if e.kind == "alert-start"]
    assert [e.detail["alert"] for e in starts] == ["HighLatency", "GPUHot"]
    assert starts[0].summary == "alert HighLatency firing (prometheus): p99 above 500 ms"
    end = next(e for e in entries if e.kind == "alert-end")
    assert end.summary == "alert GPUHot resolved after 2m00s (prometheus): GPU at 91 %" and end.ref == ("alert",
                                                                                                        "GPUHot")


def test_events_carry_count_and_first_last() -> None:
    backoff = next(e for e in timeline() if e.kind == "event" and e.detail["reason"] == "BackOff")
    assert backoff.detail["count"] == 7 and backoff.detail["first"] == t("11:12:00")
    assert backoff.detail["last"] == t("11:29:00") and backoff.ref == ("pod", NS, BAD_POD)
    assert backoff.target.deployment == DEP
    assert "(×7 from 2026-01-31T11:12:00Z to 2026-01-31T11:29:00Z)" in backoff.summary


def test_namespace_scope_takes_every_deployment_and_its_nodes() -> None:
    entries = timeline(deployment=None)
    assert any(e.kind == "restart" and e.target.pod == OTHER_POD for e in entries)
    assert any(e.kind == "event" and e.target.pod == OTHER_POD for e in entries)
    assert any(e.kind == "audit" and e.target.deployment == "api" for e in entries)
    assert not any(e.target.namespace == "other" for e in entries)
    assert not any(e.target.node == "n9" for e in entries)
    restart = next(e for e in entries if e.kind == "restart")
    assert restart.summary == f"{OTHER_POD}: container app exited (Error, exit code 1); 4 restarts"


def test_nodes_the_deployment_ran_on_before_count_too() -> None:
    lost = [event("Scheduled", f"Successfully assigned {NS}/{BAD_POD} to n7", "Pod", BAD_POD, "11:10:01"),
            event("NodeNotReady", "Node is not ready", "Node", "n7", "11:25:00", type_="Warning",
                  namespace="default")]
    entries = timeline(events=[*EVENTS, *lost])
    node = [e for e in entries if e.target.node == "n7"]
    assert [(e.kind, e.ref) for e in node] == [("event", ("node", "n7"))]
    assert not any(e.target.node == "n7" for e in timeline(deployment="api", events=[*EVENTS, *lost]))


def test_window_bounds() -> None:
    assert timeline(minutes=12) == [e for e in timeline() if e.time >= NOW - timedelta(minutes=12)]
    assert [e.kind for e in timeline(minutes=12)] == ["scale"]
    assert timeline(minutes=1) == []


def test_ties_keep_input_order() -> None:
    same = [audit("11:50:00", "pause"), audit("11:50:00", "resume"), audit("11:50:00", "restart")]
    assert [e.detail["action"] for e in timeline(audit=same, events=[])
            if e.kind == "audit"] == ["pause", "resume", "restart"]


def test_alert_spans_from_a_range_query() -> None:
    end = t("12:00:00").timestamp()
    doc = {"status": "success", "data": {"resultType": "matrix", "result": [
        {"metric": {"alertname": "GPUMemoryHigh", "severity": "warning", "namespace": NS, "pod": POD},
         "values": [[end - 3000 + 15 * i, "1"] for i in range(5)] + [[end - 600 + 15 * i, "1"] for i in range(41)]},
    ]}}
    spans = alert_spans_from_range(doc, 15, t("12:00:00"))
    assert [(s.start.strftime("%H:%M:%S"), s.end and s.end.strftime("%H:%M:%S")) for s in spans] == [
        ("11:10:00", "11:11:00"), ("11:50:00", None)]
    assert spans[0].target == AlertTarget(NS, None, POD)
    with pytest.raises(ValueError, match="bad_data"):
        alert_spans_from_range({"status": "error", "errorType": "bad_data", "error": "parse error"}, 15, NOW)


def test_markdown_and_json_reports() -> None:
    entries = tuple(timeline())
    incident = Incident(NS, DEP, NOW - timedelta(minutes=60), NOW, 60, entries,
                        nodes_not_ready=(NodeProblem("n1", "Unknown", "NodeStatusUnknown", "stopped", True),),
                        figures=(Figures(DEP, 3.5, 0.12, 0.61, 91.0, 80.5, 2),), alerts=tuple(ALERTS[:2]),
                        notes=("no Prometheus | x",), context="prod")
    md = render_markdown(incident)
    for section in ("# Incident snapshot: deployment shop/web", "## Timeline", "## Current state",
                    "### Deployments", "### Pods", "### HPAs", "### Nodes not ready", "## Alerts firing now",
                    "## Figures", "## Notes"):
        assert f"\n{section}\n" in f"\n{md}"
    assert "| 2026-01-31 11:10:00 | rollout | info | shop/web | deployment/web revision 1 → 2" in md
    assert "| web | 3.50 | 120 ms | 610 ms | 91 % | 80 % | 2 |" in md
    assert "\n- no Prometheus | x\n" in md
    doc = json.loads(json.dumps(to_json(incident)))
    assert doc["window"] == {"start": "2026-01-31T11:00:00Z", "end": "2026-01-31T12:00:00Z", "minutes": 60}
    assert [e["kind"] for e in doc["timeline"]] == [e.kind for e in entries]
    assert doc["timeline"][3]["detail"]["steps"][0]["time"] == "2026-01-31T11:10:00Z"
    assert doc["timeline"][3]["ref"] == ["deployment", NS, DEP]


def test_search_lines() -> None:
    lines = ["INFO loading", "RuntimeError: CUDA error: no kernel image", "info done", "cuda ok"]
    assert search(lines, "cuda") == [1, 3]
    assert search(lines, "/^INFO/") == [0]
    assert search(lines, "/^info/i") == [0, 2]
    assert search(lines, "") == []
    assert search(lines, "[") == [], "a plain pattern is a substring, not a regex"
    with pytest.raises(SearchError, match=r"bad regular expression 'a\(': missing \)"):
        search(lines, "/a(/")


def scaling_events(style: str) -> list[dict[str, Any]]:
    """The same history in the words a real deployment controller writes: "to N from M" (v1.26+, and "to N"
    for a new ReplicaSet) or "to N" for every scale (before v1.26)."""
    def say(direction: str, rs: str, old: int, new: int) -> str:
        if style == "1.26+" and not (direction == "up" and old == 0):
            return f"Scaled {direction} replica set {rs} to {new} from {old}"
        return f"Scaled {direction} replica set {rs} to {new}"

    return [event("ScalingReplicaSet", say("up", BAD_RS, 0, 1), "Deployment", DEP, "11:10:00"),
            event("ScalingReplicaSet", say("down", BAD_RS, 1, 0), "Deployment", DEP, "11:30:05"),
            event("ScalingReplicaSet", say("up", OLD_RS, 2, 3), "Deployment", DEP, "11:40:00"),
            event("SuccessfulRescale", "New size: 4; reason: cpu resource utilization above target",
                  "HorizontalPodAutoscaler", "web-hpa", "11:50:00"),
            event("ScalingReplicaSet", say("up", OLD_RS, 3, 4), "Deployment", DEP, "11:50:01")]


@pytest.mark.parametrize("style", ["1.26+", "1.24"])
def test_real_controller_wordings_give_rollouts_and_scales(style: str) -> None:
    entries = timeline(events=scaling_events(style), audit=[])
    rollouts = [e for e in entries if e.kind == "rollout"]
    assert [r.detail["time_from"] for r in rollouts] == ["created", "previous scaled down"]
    assert len(rollouts[0].detail["steps"]) == 1, "the new ReplicaSet's scale-up is the rollout's step"
    scales = [e for e in entries if e.kind == "scale"]
    assert [(e.time, e.detail.get("source")) for e in scales] == [(t("11:40:00"), "event"), (t("11:50:00"), "hpa")]
    manual, hpa = scales
    assert manual.detail["to"] == 3 and manual.detail["from"] == (2 if style == "1.26+" else None)
    assert "no cluster event seen" not in manual.summary
    assert len(hpa.detail["replicasets"]) == 1, "the HPA's rescale owns the ReplicaSet scale it caused"


def test_events_k8s_io_style_events_have_their_time() -> None:
    """The scheduler writes events.k8s.io events: eventTime only (no first/lastTimestamp), a series for
    repeats, and FailedScheduling messages ending in a preemption sentence."""
    message = ("0/4 nodes are available: 4 Insufficient nvidia.com/gpu. preemption: 0/4 nodes are available: "
               "4 No preemption victims found for incoming pod.")
    ev = {"metadata": {"name": "x.1", "namespace": NS, "creationTimestamp": at("11:20:00")},
          "involvedObject": {"kind": "Pod", "name": f"{OLD_RS}-pend1", "namespace": NS},
          "reason": "FailedScheduling", "message": message, "type": "Warning",
          "eventTime": "2026-01-31T11:20:00.123456Z",
          "series": {"count": 3, "lastObservedTime": "2026-01-31T11:24:00.000001Z"},
          "reportingComponent": "default-scheduler", "firstTimestamp": None, "lastTimestamp": None}
    [entry] = [e for e in timeline(events=[ev], audit=[], alerts=[], resolved_alerts=[], alert_spans=[])
               if e.kind == "event"]
    assert entry.time == datetime(2026, 1, 31, 11, 20, 0, 123456, tzinfo=UTC)
    assert entry.detail["count"] == 3 and "Insufficient nvidia.com/gpu" in entry.summary


def test_audit_entries_of_another_cluster_are_left_out() -> None:
    """The same namespace and Deployment names exist on many clusters: an audit entry belongs to the API
    server it was sent to (entries written before the server was recorded still count)."""
    here, there = "https://prod-gpu.example:6443", "https://staging.example:6443"
    entries = [dict(audit("11:39:59", "scale", before={"replicas": 2}, after={"replicas": 3}), server=here),
               dict(audit("11:41:00", "scale", before={"replicas": 3}, after={"replicas": 9}), server=there),
               audit("11:42:00", "restart")]
    got = [e for e in timeline(audit=entries, server=here) if e.kind == "audit"]
    assert [e.time for e in got] == [t("11:39:59"), t("11:42:00")]
    assert all("9" not in e.summary for e in got)
    scales = [e for e in timeline(audit=entries, server=here, events=[]) if e.kind == "scale"]
    assert [e.detail["to"] for e in scales] == [3], "another cluster's scale is no scale here"


def test_audit_summaries_show_values_as_written_not_python_reprs() -> None:
    entries = [audit("11:42:00", "resume", before={"paused": True}, after={"paused": False}),
               audit("11:43:00", "restart", before={"restartedAt": None}, after={"restartedAt": "2026-01-31T11:43Z"})]
    summaries = [e.summary for e in timeline(audit=entries) if e.kind == "audit"]
    assert any("paused true → false" in s for s in summaries), summaries
    assert any("restartedAt - → 2026-01-31T11:43Z" in s for s in summaries), summaries
    assert not any("True" in s or "None" in s for s in summaries)
