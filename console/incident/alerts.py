"""The incident timeline's alert entries: alert records, resolved alerts and Prometheus ``ALERTS`` spans
merged into start/end entries, and cluster-derived alerts folded into the entry of the same status."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from console.alerts.model import SEVERITY_ORDER, Alert, AlertTarget, target_from_labels
from console.core.units import clock
from console.incident.model import ALERT_MATCH, TOLERANCE, AlertSpan, Scope, TimelineEntry, in_window

# ---- alerts --------------------------------------------------------------------------------------------------


def _worse(a: str, b: str) -> str:
    return a if SEVERITY_ORDER.get(a, 9) <= SEVERITY_ORDER.get(b, 9) else b


def _merge_cluster_alert(entries: list[TimelineEntry], alert: Alert) -> bool:
    """Fold a cluster-derived alert into the entry computed from the same status; True when done."""
    if alert.since is None:
        return False
    since, tgt = alert.since, alert.target
    for i, e in enumerate(entries):
        if abs(e.time - since) > ALERT_MATCH and not (
                e.kind == "event" and e.detail["first"] - TOLERANCE <= since <= e.detail["last"] + ALERT_MATCH):
            continue
        same = (alert.name == "CrashLoopBackOff" and e.kind == "restart" and e.target.pod == tgt.pod) or \
               (alert.name == "OOMKilled" and e.kind == "oomkill" and e.target.pod == tgt.pod) or \
               (alert.name == "FailedScheduling" and e.kind == "event" and e.detail.get("reason") == "FailedScheduling"
                and e.target.pod == tgt.pod) or \
               (alert.name == "NodeNotReady" and e.kind == "event" and e.detail.get("reason") == "NodeNotReady"
                and e.target.node == tgt.node)
        if same:
            entries[i] = replace(e, severity=_worse(alert.severity, e.severity),
                                 detail={**e.detail, "alerts": [*e.detail.get("alerts", []), alert.name]})
            return True
    return False


def _alert_key(name: str, target: AlertTarget) -> tuple[Any, ...]:
    return (name, target.namespace, target.deployment, target.pod, target.node, target.gpu)


def alert_entries(scope: Scope, entries: list[TimelineEntry], alerts: list[Alert],
                   resolved: list[tuple[Alert, datetime]], spans: list[AlertSpan], start: datetime,
                   end: datetime) -> list[TimelineEntry]:
    merged: list[AlertSpan] = [s for s in spans if scope.alert_in(s.target)]
    for alert, ended in resolved:
        if scope.alert_in(alert.target):
            merged.append(AlertSpan(alert.name, alert.severity, alert.target, alert.since, ended, alert.summary,
                                    alert.source))
    for alert in alerts:
        if alert.state != "firing" or not scope.alert_in(alert.target):
            continue
        if alert.source == "cluster" and _merge_cluster_alert(entries, alert):
            continue
        key = _alert_key(alert.name, alert.target)
        same = next((i for i, s in enumerate(merged) if _alert_key(s.name, s.target) == key and (
            s.end is None or (s.start and alert.since and abs(s.start - alert.since) <= ALERT_MATCH))), None)
        if same is not None:  # the same alert as a record and as a series: one span, the record's words
            merged[same] = replace(merged[same], summary=alert.summary or merged[same].summary,
                                   severity=alert.severity or merged[same].severity)
            continue
        merged.append(AlertSpan(alert.name, alert.severity, alert.target, alert.since, None, alert.summary,
                                alert.source))
    out = []
    for s in merged:
        base = {"alert": s.name, "source": s.source, "start": s.start, "end": s.end}
        what = s.summary or s.name
        if in_window(s.start, start, end):
            assert s.start is not None
            out.append(TimelineEntry(s.start, "alert-start", s.severity, s.target,
                                     f"alert {s.name} firing ({s.source}): {what}", base, ("alert", s.name)))
        if in_window(s.end, start, end):
            assert s.end is not None
            lasted = f" after {clock((s.end - s.start).total_seconds())}" if s.start else ""
            out.append(TimelineEntry(s.end, "alert-end", "info", s.target,
                                     f"alert {s.name} resolved{lasted} ({s.source}): {what}", base, ("alert", s.name)))
    return out


def alert_spans_from_range(doc: Mapping[str, Any], step: float, end: datetime) -> list[AlertSpan]:
    """Firing spans from a Prometheus ``query_range`` answer for ``ALERTS{alertstate="firing"}``: one per run
    of points no more than 1.5 steps apart; a run reaching the query's ``end`` is still firing (end None).

    Raises ValueError for an error answer or one of the wrong shape."""
    if doc.get("status") != "success":
        raise ValueError(f"Prometheus answered {doc.get('errorType', 'error')}: {doc.get('error', doc.get('status'))}")
    data = doc.get("data") or {}
    if not isinstance(data.get("result"), list):
        raise ValueError("not a query_range answer: no data.result list")
    out = []
    last_stamp = end.timestamp()
    for series in data["result"]:
        labels = series.get("metric") or {}
        stamps = sorted(float(ts) for ts, _ in series.get("values") or [])
        runs: list[list[float]] = []
        for ts in stamps:
            if runs and ts - runs[-1][-1] <= 1.5 * step:
                runs[-1].append(ts)
            else:
                runs.append([ts])
        for run in runs:
            ongoing = run[-1] >= last_stamp - 1.5 * step
            out.append(AlertSpan(labels.get("alertname", "?"), labels.get("severity", "none"),
                                 target_from_labels(labels), datetime.fromtimestamp(run[0], UTC),
                                 None if ongoing else datetime.fromtimestamp(run[-1], UTC),
                                 f"{labels.get('alertname', '?')} firing", "prometheus"))
    return out
