"""The console's alert state: merging sources, newly-firing detection, resolution, acknowledgement, filter."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from console.alerts.center import AlertCenter, alert_key, compile_filter
from console.alerts.model import Alert, AlertTarget

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def alert(name: str, severity: str = "warning", source: str = "cluster", state: str = "firing",
          minutes_ago: float | None = 5, **target: str) -> Alert:
    since = None if minutes_ago is None else T0 - timedelta(minutes=minutes_ago)
    return Alert(source, name, severity, state, since, AlertTarget(**target), f"{name} summary")  # type: ignore[arg-type]


def test_update_returns_only_newly_firing_alerts() -> None:
    center = AlertCenter()
    oom = alert("OOMKilled", "critical", namespace="llm", pod="p1")
    pending = alert("LLMLatencyP99High", source="prometheus", state="pending", namespace="llm", pod="p1")
    assert center.update("cluster", [oom], T0) == [oom]
    assert center.update("cluster", [oom], T0) == []  # still firing: not new
    assert center.update("prometheus", [pending], T0) == []  # pending is not firing
    firing = alert("LLMLatencyP99High", source="prometheus", namespace="llm", pod="p1")
    assert center.update("prometheus", [firing], T0) == [firing]  # pending → firing is news


def test_gone_alerts_are_resolved_and_kept_for_an_hour() -> None:
    center = AlertCenter()
    oom = alert("OOMKilled", "critical", namespace="llm", pod="p1")
    center.update("cluster", [oom], T0)
    center.update("cluster", [], T0 + timedelta(minutes=2))
    rows = center.rows()
    assert [r.alert.state for r in rows] == ["resolved"]
    assert rows[0].resolved_at == T0 + timedelta(minutes=2)
    assert center.summary().firing == 0
    assert [(a.name, at) for a, _, at in center.resolved()] == [("OOMKilled", T0 + timedelta(minutes=2))]
    assert center.rows(resolved=False) == []
    center.update("cluster", [], T0 + timedelta(minutes=63))
    assert center.rows() == [], "resolved alerts are forgotten after keep_resolved_s"
    # Firing again after resolution: news again.
    assert center.update("cluster", [oom], T0 + timedelta(minutes=64)) == [oom]


def test_rows_sort_by_severity_then_age_and_summary_counts() -> None:
    center = AlertCenter()
    center.update("cluster", [
        alert("FailedScheduling", "warning", minutes_ago=30, namespace="llm", pod="p2"),
        alert("NodeNotReady", "critical", minutes_ago=2, node="n1"),
        alert("ProgressDeadlineExceeded", "critical", minutes_ago=9, namespace="llm", deployment="d"),
    ], T0)
    assert [r.alert.name for r in center.rows()] == ["ProgressDeadlineExceeded", "NodeNotReady", "FailedScheduling"]
    s = center.summary()
    assert (s.firing, s.critical, s.muted) == (3, 2, 0)


def test_acknowledge_mutes_without_hiding_and_toggles() -> None:
    center = AlertCenter()
    node = alert("NodeNotReady", "critical", node="n1")
    center.update("cluster", [node], T0)
    assert center.acknowledge(alert_key(node)) is True
    assert (center.summary().firing, center.summary().muted) == (0, 1)
    assert center.rows()[0].acknowledged
    assert center.acknowledge(alert_key(node)) is False
    assert center.summary().firing == 1
    with pytest.raises(KeyError):
        center.acknowledge("cluster|Nope|-")


def test_alertmanager_copy_wins_over_prometheus_copy() -> None:
    center = AlertCenter()
    center.update("prometheus", [alert("GPUFramebufferHigh", source="prometheus", node="n1", gpu="0")], T0)
    center.update("alertmanager", [alert("GPUFramebufferHigh", source="alertmanager", node="n1", gpu="0")], T0)
    assert [r.alert.source for r in center.rows()] == ["alertmanager"]
    assert center.summary().firing == 1


def test_a_failing_source_keeps_its_last_alerts_and_says_why() -> None:
    center = AlertCenter()
    center.update("prometheus", [alert("LLMKVCacheHigh", source="prometheus", namespace="llm", pod="p")], T0)
    center.set_error("prometheus", "Prometheus unreachable at http://127.0.0.1:1: connection refused")
    assert center.summary().firing == 1
    assert center.summary().errors == (("prometheus", "Prometheus unreachable at http://127.0.0.1:1: "
                                                      "connection refused"),)
    assert center.status("prometheus")[1] is not None
    with pytest.raises(ValueError, match="unknown alert source group"):
        center.update("nagios", [], T0)


def test_filter_text_or_regex() -> None:
    center = AlertCenter()
    center.update("cluster", [alert("NodeNotReady", "critical", node="gpu-node-1"),
                              alert("OOMKilled", "critical", namespace="llm", pod="claude-x")], T0)
    assert [r.alert.name for r in center.rows(compile_filter("GPU-NODE"))] == ["NodeNotReady"]
    assert [r.alert.name for r in center.rows(compile_filter("/^critical firing cluster OOM/"))] == ["OOMKilled"]
    assert compile_filter("  ") is None
    with pytest.raises(ValueError, match="bad filter regex"):
        compile_filter("/(/")
