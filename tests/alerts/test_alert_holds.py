"""Alerts that mean something (issue 14): cluster-derived alerts keyed by the underlying condition and held
until the container has been healthy for a while; built-in rules with the rule files' ``for:`` and a
resolve hysteresis; the alert center keeping one start time per alert; alerts grouped by Deployment.

Each bug measured on main is reproduced here with crafted objects and times (no sandbox): the sandbox
versions are in test_alerts_sandbox_holds.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml

from console.alerts import builtin
from console.alerts.builtin import (
    FB_HIGH,
    P99_HIGH,
    BuiltinRuleState,
    Thresholds,
    evaluate,
    readings,
)
from console.alerts.center import AlertCenter, AlertGroup, alert_key, group_rows
from console.alerts.model import RECOVERY_HOLD_S, Alert, AlertTarget, cluster_alerts
from console.core.metrics import GpuSample, ServingStats
from console.core.paths import manifests_dir

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def stamp(seconds_ago: float) -> str:
    return (NOW - timedelta(seconds=seconds_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


def pod(name: str, cs: dict[str, Any], ready: bool = False) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "llm", "labels": {"pod-template-hash": "5d8f7c"},
                         "ownerReferences": [{"kind": "ReplicaSet", "name": "claude-inference-5d8f7c"}]},
            "spec": {"nodeName": "gpu-node-1"},
            "status": {"startTime": stamp(3600), "containerStatuses": [cs],
                       "conditions": [{"type": "Ready", "status": "True" if ready else "False",
                                       "lastTransitionTime": stamp(900)}]}}


def crashed(reason: str = "Error", exit_code: int = 1, finished_ago: float = 30.0) -> dict[str, Any]:
    return {"terminated": {"reason": reason, "exitCode": exit_code, "startedAt": stamp(finished_ago + 2),
                           "finishedAt": stamp(finished_ago)}}


def waiting(reason: str, last: dict[str, Any], restarts: int = 3) -> dict[str, Any]:
    return {"name": "inference", "image": "r/llm/claude:v2", "restartCount": restarts, "ready": False,
            "state": {"waiting": {"reason": reason, "message": "back-off"}}, "lastState": last}


def running(started_ago: float, last: dict[str, Any], ready: bool, restarts: int = 3) -> dict[str, Any]:
    return {"name": "inference", "image": "r/llm/claude:v2", "restartCount": restarts, "ready": ready,
            "started": True, "state": {"running": {"startedAt": stamp(started_ago)}}, "lastState": last}


def alerts_of(cs: dict[str, Any], ready: bool = False, hold_s: float = RECOVERY_HOLD_S) -> list[Alert]:
    return cluster_alerts([pod("claude-inference-5d8f7c-aaaaa", cs, ready)], None, None, now=NOW, hold_s=hold_s)


# ---- cluster-derived: one alert per condition, held until healthy -----------------------------------------------


def test_a_crash_loop_is_one_alert_between_restarts() -> None:
    """Bug: CrashLoopBackOff resolved while the container ran between two back-offs, and fired again."""
    backing_off = alerts_of(waiting("CrashLoopBackOff", crashed()))
    restarted = alerts_of(running(5, crashed(finished_ago=15), ready=False))
    assert [a.name for a in backing_off] == [a.name for a in restarted] == ["CrashLoopBackOff"]
    assert alert_key(backing_off[0]) == alert_key(restarted[0])
    assert restarted[0].severity == "critical" and "restarted" in restarted[0].summary

    center = AlertCenter()
    fresh = center.update("cluster", backing_off, NOW)
    for i in range(1, 6):  # five back-off cycles: waiting, running, waiting, ...
        cycle = backing_off if i % 2 == 0 else restarted
        fresh += center.update("cluster", cycle, NOW + timedelta(seconds=20 * i))
    assert len(fresh) == 1 and center.resolved() == [], "one alert, never resolved in between"


def test_a_crash_loop_resolves_once_the_container_has_been_ready_for_the_hold() -> None:
    recovering = alerts_of(running(RECOVERY_HOLD_S - 60, crashed(finished_ago=RECOVERY_HOLD_S), ready=True),
                           ready=True)
    assert [a.name for a in recovering] == ["CrashLoopBackOff"], "Ready, but not yet for the hold"
    healthy = running(RECOVERY_HOLD_S + 1, crashed(finished_ago=RECOVERY_HOLD_S + 3), ready=True)
    assert alerts_of(healthy, ready=True) == []
    assert alerts_of(running(300, crashed(finished_ago=302), ready=True), ready=True, hold_s=240) == [], \
        "the hold is a parameter (the sandbox tests divide it by the speed factor)"
    stuck = running(RECOVERY_HOLD_S * 3, crashed(finished_ago=RECOVERY_HOLD_S * 3 + 2), ready=False)
    assert [a.name for a in alerts_of(stuck)] == ["CrashLoopBackOff"], "running but never Ready: not healthy"


def test_a_clean_exit_a_first_start_and_a_long_run_s_one_exit_raise_nothing() -> None:
    assert alerts_of(running(10, crashed("Completed", 0, finished_ago=12), ready=True), ready=True) == []
    assert alerts_of(running(10, {}, ready=False, restarts=0)) == []
    after_two_hours = {"terminated": {"reason": "Error", "exitCode": 1, "startedAt": stamp(7230),
                                      "finishedAt": stamp(30)}}
    assert alerts_of(running(25, after_two_hours, ready=False, restarts=1)) == [], \
        "one exit after a long run is no crash loop (the kubelet restarts it without a back-off)"
    assert [a.name for a in alerts_of(waiting("CrashLoopBackOff", after_two_hours))] == ["CrashLoopBackOff"]


def test_image_pull_errors_are_one_alert() -> None:
    """Bug: ErrImagePull and ImagePullBackOff alternate, so two alerts flapped."""
    err = alerts_of(waiting("ErrImagePull", {}, restarts=0))
    backoff = alerts_of(waiting("ImagePullBackOff", {}, restarts=0))
    assert [a.name for a in err] == [a.name for a in backoff] == ["ImagePullBackOff"]
    assert alert_key(err[0]) == alert_key(backoff[0])
    assert "ErrImagePull" in err[0].summary and "ImagePullBackOff" in backoff[0].summary
    center = AlertCenter()
    fresh = []
    for i in range(6):
        fresh += center.update("cluster", err if i % 2 else backoff, NOW + timedelta(seconds=10 * i))
    assert len(fresh) == 1 and center.resolved() == []


def test_oomkilled_resolves_after_the_container_ran_ready_for_the_hold() -> None:
    """Bug: OOMKilled never resolved: lastState.terminated keeps the OOM kill after the pods recover."""
    oom = crashed("OOMKilled", 137, finished_ago=RECOVERY_HOLD_S + 60)
    recovered = running(RECOVERY_HOLD_S + 30, oom, ready=True, restarts=4)
    assert alerts_of(recovered, ready=True) == []
    [recovering] = alerts_of(running(120, crashed("OOMKilled", 137, 125), ready=True, restarts=4), ready=True)
    assert recovering.name == "OOMKilled" and "OOMKilled (exit code 137)" in recovering.summary
    [loading] = alerts_of(running(RECOVERY_HOLD_S * 2, oom, ready=False, restarts=4))
    assert loading.name == "OOMKilled", "not Ready: not healthy, however long it runs"


def test_an_oom_crash_loop_is_one_critical_alert() -> None:
    oom = crashed("OOMKilled", 137, finished_ago=8)
    looping = alerts_of(waiting("CrashLoopBackOff", oom))
    between = alerts_of(running(4, oom, ready=False))
    assert [(a.name, a.severity) for a in looping] == [(a.name, a.severity) for a in between] == \
        [("OOMKilled", "critical")]
    assert alert_key(looping[0]) == alert_key(between[0])
    [once] = alerts_of(running(60, oom, ready=True, restarts=1), ready=True)
    assert once.severity == "warning", "one OOM kill, restarted: a warning"


def test_a_crash_loop_keeps_its_start_time_in_the_center() -> None:
    """The alert's own time moves on at every crash (the last termination); the row keeps the first."""
    center = AlertCenter()
    first = alerts_of(waiting("CrashLoopBackOff", crashed(finished_ago=100)))
    later = alerts_of(waiting("CrashLoopBackOff", crashed(finished_ago=10)))
    center.update("cluster", first, NOW)
    center.update("cluster", later, NOW + timedelta(seconds=90))
    [row] = center.rows()
    assert row.since == NOW - timedelta(seconds=100)
    center.update("cluster", [], NOW + timedelta(seconds=200))
    again = alerts_of(waiting("CrashLoopBackOff", crashed(finished_ago=-300)))
    center.update("cluster", again, NOW + timedelta(seconds=400))
    [row] = center.rows(resolved=False)
    assert row.since == NOW + timedelta(seconds=300), "firing again after it resolved: a new start"


# ---- built-in rules: for: and hysteresis -------------------------------------------------------------------------


def p99(ms: float, deployment: str = "claude-long-queue") -> list[ServingStats]:
    return [ServingStats(deployment, p99_s=ms / 1000)]


def test_builtin_holds_are_the_rule_files() -> None:
    """Same names, thresholds and ``for:`` as manifests/prometheus-rules.yaml."""
    doc = yaml.safe_load((manifests_dir() / "prometheus-rules.yaml").read_text())
    shipped = {r["alert"]: r for g in doc["groups"] for r in g["rules"]}
    assert set(shipped) == set(builtin.RULES)
    units = {"s": 1, "m": 60, "h": 3600}
    for name, rule in shipped.items():
        assert builtin.FOR_S[name] == int(rule["for"][:-1]) * units[rule["for"][-1]], name
        assert builtin.SEVERITY[name] == rule["labels"]["severity"], name
    t = Thresholds()
    assert shipped[FB_HIGH]["expr"].endswith(f"> {t.fb_percent / 100:g}")
    assert " ".join(shipped[P99_HIGH]["expr"].split()).endswith(f"> {t.p99_ms / 1000:g}")
    assert shipped[builtin.KV_HIGH]["expr"].endswith(f"> {t.kv_percent / 100:g}")
    assert shipped[builtin.QUEUE_HIGH]["expr"].endswith(f"> {t.queue_waiting:g}")


def test_a_builtin_rule_is_pending_until_its_for_has_passed() -> None:
    """Bug: the built-in rules fired on the first figure over the line (no ``for:``)."""
    state = BuiltinRuleState()
    [pending] = state.update(evaluate([], p99(800), namespace="llm"), NOW)
    assert (pending.name, pending.state, pending.since) == (P99_HIGH, "pending", NOW)
    [still] = state.update(evaluate([], p99(800), namespace="llm"), NOW + timedelta(seconds=119))
    assert still.state == "pending"
    [firing] = state.update(evaluate([], p99(800), namespace="llm"), NOW + timedelta(seconds=120))
    assert (firing.state, firing.since) == ("firing", NOW)


def test_a_figure_wandering_around_the_threshold_does_not_flap() -> None:
    state, center = BuiltinRuleState(), AlertCenter()
    fresh = []
    for i in range(80):  # 20 minutes, 15 s apart: 510 ms, 490 ms, 510 ms, ...
        at = NOW + timedelta(seconds=15 * i)
        found = readings([], p99(510 if i % 2 == 0 else 490), Thresholds(), namespace="llm")
        fresh += center.update("builtin", state.update(found, at), at)
    assert fresh == [] and center.resolved() == []


def test_a_firing_rule_resolves_under_the_margin_or_after_the_hold() -> None:
    def fire() -> tuple[BuiltinRuleState, datetime]:
        state = BuiltinRuleState()
        for s in range(0, 121, 15):
            state.update(readings([], p99(900), Thresholds(), namespace="llm"), NOW + timedelta(seconds=s))
        return state, NOW + timedelta(seconds=120)

    state, t = fire()
    [held] = state.update(readings([], p99(480), Thresholds(), namespace="llm"), t + timedelta(seconds=15))
    assert held.state == "firing", "under 500 ms but not by the margin: still firing"
    assert "resolves under 450 ms, or after 2m under 500 ms" in held.summary
    assert state.update(readings([], p99(480), Thresholds(), namespace="llm"),
                        t + timedelta(seconds=15 + 119))[0].state == "firing"
    assert state.update(readings([], p99(480), Thresholds(), namespace="llm"), t + timedelta(seconds=15 + 120)) == [], \
        "under the threshold for the hold: resolved"

    state, t = fire()
    assert state.update(readings([], p99(449), Thresholds(), namespace="llm"), t + timedelta(seconds=15)) == [], \
        "under the threshold by the margin (10 %): resolved at once"
    state, t = fire()
    [gone] = state.update([], t + timedelta(seconds=15))
    assert gone.state == "firing", "no figure (no Ready pod): held, not resolved"
    assert state.update([], t + timedelta(seconds=15 + 120)) == []


def test_framebuffer_rule_holds_five_minutes() -> None:
    hot = [GpuSample("gpu-node-1", "0", "GPU-x", "NVIDIA A10G", 900.0, 1000.0, 50.0, 60.0, "llm", "p")]
    state = BuiltinRuleState()
    assert state.update(readings(hot, [], Thresholds()), NOW)[0].state == "pending"
    assert state.update(readings(hot, [], Thresholds()), NOW + timedelta(seconds=299))[0].state == "pending"
    assert state.update(readings(hot, [], Thresholds()), NOW + timedelta(seconds=300))[0].state == "firing"
    cooler = [GpuSample("gpu-node-1", "0", "GPU-x", "NVIDIA A10G", 750.0, 1000.0, 50.0, 60.0, "llm", "p")]
    assert state.update(readings(cooler, [], Thresholds()), NOW + timedelta(seconds=310))[0].state == "firing"
    cool = [GpuSample("gpu-node-1", "0", "GPU-x", "NVIDIA A10G", 700.0, 1000.0, 50.0, 60.0, "llm", "p")]
    assert state.update(readings(cool, [], Thresholds()), NOW + timedelta(seconds=320)) == []


def test_readings_fire_as_evaluate_does() -> None:
    stats = [ServingStats("d", p99_s=0.6, kv_cache=0.5, waiting=2.0), ServingStats("e", p99_s=0.2)]
    found = readings([], stats, Thresholds(), namespace="llm")
    assert [r.alert for r in found if r.above] == evaluate([], stats, Thresholds(), namespace="llm")
    assert {(r.rule, r.alert.target.deployment) for r in found} == {
        (P99_HIGH, "d"), (builtin.KV_HIGH, "d"), (builtin.QUEUE_HIGH, "d"), (P99_HIGH, "e")}


# ---- grouping by Deployment --------------------------------------------------------------------------------------


def test_alerts_of_one_deployment_are_grouped() -> None:
    center = AlertCenter()
    t = NOW - timedelta(minutes=5)
    center.update("cluster", [
        Alert("cluster", "OOMKilled", "critical", "firing", t, AlertTarget("llm", "claude-inference", "ci-1", "n1")),
        Alert("cluster", "OOMKilled", "warning", "firing", t, AlertTarget("llm", "claude-inference", "ci-2", "n2")),
        Alert("cluster", "NodeNotReady", "critical", "firing", t + timedelta(minutes=1), AlertTarget(node="n3")),
        Alert("cluster", "ProgressDeadlineExceeded", "critical", "firing", t - timedelta(minutes=9),
              AlertTarget("llm", "claude-short-queue")),
    ], NOW)
    center.update("builtin", [Alert("builtin", "GPUFramebufferHigh", "warning", "firing", t,
                                    AlertTarget("llm", None, "claude-inference-5d8f7c-x", "n1", "0"))], NOW)
    entries = group_rows(center.rows(), deployments=["claude-inference", "claude-short-queue"])
    shapes = [(e.deployment, len(e.rows)) if isinstance(e, AlertGroup) else e.alert.name for e in entries]
    assert shapes == ["ProgressDeadlineExceeded", ("claude-inference", 3), "NodeNotReady"]
    group = entries[1]
    assert isinstance(group, AlertGroup)
    assert group.severity == "critical" and group.target == AlertTarget("llm", "claude-inference")
    assert [r.alert.name for r in group.rows] == ["OOMKilled", "GPUFramebufferHigh", "OOMKilled"]  # center order
    assert group.summary == "3 alerts: OOMKilled ×2, GPUFramebufferHigh"
    assert not group.acknowledged
    for row in group.rows:
        center.acknowledge(row.key)
    [_, acked, _] = group_rows(center.rows(), deployments=["claude-inference", "claude-short-queue"])
    assert isinstance(acked, AlertGroup) and acked.acknowledged


@pytest.mark.parametrize("resolved", [True, False])
def test_resolved_alerts_are_not_grouped(resolved: bool) -> None:
    center = AlertCenter()
    a = Alert("cluster", "OOMKilled", "warning", "firing", NOW, AlertTarget("llm", "d", "d-1"))
    b = Alert("cluster", "OOMKilled", "warning", "firing", NOW, AlertTarget("llm", "d", "d-2"))
    center.update("cluster", [a, b], NOW)
    center.update("cluster", [a], NOW + timedelta(minutes=1))
    entries = group_rows(center.rows(resolved=resolved))
    assert [type(e).__name__ for e in entries] == ["AlertRow", "AlertRow"][: 1 + resolved]
