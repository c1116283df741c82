"""The incident view's service: what happened to a namespace or a Deployment in the last N minutes, and
what it looks like now — for the Incident screen and ``llmctl incident snapshot``.

:func:`collect_incident` reads the namespace once (Deployments, ReplicaSets, pods, events, HPAs; nodes and
node events), the audit log, alerts (given, or derived from what it read plus Prometheus's) and, when there
are, the metrics service's figures and Prometheus's ``ALERTS`` history; then builds the
:class:`~console.incident.report.Incident` with the pure
:func:`~console.incident.timeline.build_timeline`. A source that fails costs a note, not the
snapshot; only an unreachable cluster (or one that refuses every read) raises :class:`IncidentError`.

Everything the screens need is importable from here: ``build_timeline``, ``TimelineEntry``, ``AlertSpan``,
``Incident``, ``render_markdown``, ``to_json``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from console.alerts.model import Alert, cluster_alerts, parse_prometheus_alerts, parse_time
from console.audit import AuditLog
from console.core.metrics import MetricsService
from console.incident.alerts import alert_spans_from_range
from console.incident.model import KINDS, AlertSpan, Scope, TimelineEntry
from console.incident.report import (
    Figures,
    Incident,
    NodeProblem,
    alerts_in_scope,
    current_state,
    figures,
    render_markdown,
    to_json,
)
from console.incident.timeline import build_timeline, same_server, sort_entries
from console.kube.errors import KubeError
from console.kube.transport import KubeTransport, connect_target
from console.metrics.prometheus import PrometheusClient, PrometheusError

__all__ = ["KINDS", "AlertSpan", "Figures", "Incident", "IncidentError", "NodeProblem", "TimelineEntry",
           "alert_spans_from_range", "build_timeline", "collect_incident", "render_markdown", "sort_entries",
           "to_json", "validate_minutes"]

DEFAULT_MINUTES = 60
MAX_MINUTES = 7 * 24 * 60  # a week; the API server keeps events for an hour by default anyway
EXIT_FAILED, EXIT_USAGE = 1, 2


class IncidentError(Exception):
    """The snapshot cannot be made: ``code`` 1 the cluster is unreadable, 2 a usage error (bad minutes,
    unknown Deployment)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def validate_minutes(minutes: Any) -> float:
    """The window in minutes: a number > 0 and at most a week; IncidentError(2) otherwise."""
    try:
        value = float(minutes)
    except (TypeError, ValueError):
        raise IncidentError(EXIT_USAGE, f"--minutes must be a number of minutes, not {minutes!r}") from None
    if not math.isfinite(value) or value <= 0 or value > MAX_MINUTES:
        raise IncidentError(EXIT_USAGE, f"--minutes must be > 0 and ≤ {MAX_MINUTES} (a week), not {minutes}")
    return value


# ---- reading -------------------------------------------------------------------------------------------------


def _reads(namespace: str) -> dict[str, tuple[str, list[tuple[str, Any]]]]:
    ns = quote(namespace, safe="")
    reads = {
        "deployments": (f"/apis/apps/v1/namespaces/{ns}/deployments", []),
        "replicasets": (f"/apis/apps/v1/namespaces/{ns}/replicasets", []),
        "pods": (f"/api/v1/namespaces/{ns}/pods", []),
        "events": (f"/api/v1/namespaces/{ns}/events", []),
        "horizontalpodautoscalers": (f"/apis/autoscaling/v2/namespaces/{ns}/horizontalpodautoscalers", []),
        "nodes": ("/api/v1/nodes", []),
    }
    if namespace != "default":  # node events live in "default"
        reads["node events"] = ("/api/v1/namespaces/default/events", [("fieldSelector", "involvedObject.kind=Node")])
    return reads


def _read_note(what: str, namespace: str, exc: KubeError) -> str:
    where = "cluster-wide" if what == "nodes" else 'in "default"' if what == "node events" else f'in "{namespace}"'
    if exc.code == 403:
        return f"no permission to list {what.replace('node events', 'events')} {where}: {what} not shown"
    return f"cannot list {what} {where}: {exc.code} {exc.reason}: {exc.message}"


async def _read_cluster(transport: KubeTransport, namespace: str) -> tuple[dict[str, list[dict]], list[str]]:
    reads = _reads(namespace)
    results = await asyncio.gather(*(transport.list(path, query) for path, query in reads.values()),
                                   return_exceptions=True)
    out: dict[str, list[dict]] = {}
    notes: list[str] = []
    failed = set()
    for what, result in zip(reads, results, strict=True):
        if isinstance(result, KubeError):
            if result.unreachable:
                raise IncidentError(EXIT_FAILED, f"cluster unreadable: {result.message}")
            if result.code == 401:  # the transport's message names the credential that was rejected
                raise IncidentError(EXIT_FAILED, f"cluster unreadable: {result.message}")
            notes.append(_read_note(what, namespace, result))
            failed.add(what)
            out[what] = []
        elif isinstance(result, BaseException):
            raise result
        else:
            out[what] = result
    if failed >= {"deployments", "replicasets", "pods", "events", "horizontalpodautoscalers"}:
        raise IncidentError(EXIT_FAILED, f"cluster unreadable: {'; '.join(notes)}")
    return out, notes


def replaced_pod_alerts(audit: list[dict[str, Any]], deployments: list[dict[str, Any]], namespace: str,
                        server: str | None) -> list[tuple[Alert, datetime]]:
    """(alert, resolved at) for what the pods an audited change replaced were alerting on (OOMKilled,
    CrashLoopBackOff…): resolved when the change was applied. A snapshot taken after a restart still
    shows the alert that led to it."""
    out: list[tuple[Alert, datetime]] = []
    for entry in audit:
        at = parse_time(entry.get("time"))
        if entry.get("mode") != "applied" or at is None or not same_server(entry.get("server"), server):
            continue
        gone = [p for p in entry.get("replaced") or [] if (p.get("metadata") or {}).get("namespace") == namespace]
        out += [(replace(a, state="resolved"), at) for a in cluster_alerts(gone, deployments, None)]
    return out


def read_audit(audit: AuditLog | None) -> tuple[list[dict[str, Any]], list[str]]:
    """The audit log's entries (a line that is not JSON is skipped, with a note)."""
    if audit is None:
        return [], ["no audit log: audited actions not shown"]
    try:
        text = audit.path.read_text()
    except FileNotFoundError:
        return [], []
    except OSError as exc:
        return [], [f"cannot read the audit log {audit.path}: {exc.strerror or exc}"]
    entries, bad = [], 0
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            bad += 1
            continue
        if isinstance(entry, dict):
            entries.append(entry)
        else:
            bad += 1
    return entries, ([f"audit log {audit.path}: {bad} unreadable line(s) skipped"] if bad else [])


# ---- Prometheus ----------------------------------------------------------------------------------------------


def _why(exc: Exception) -> str:
    return exc.reason if isinstance(exc, PrometheusError) else str(exc)


async def _prometheus(prometheus: PrometheusClient, start: datetime, end: datetime,
                      want_records: bool) -> tuple[list[Alert], list[AlertSpan], list[str]]:
    """Prometheus's firing alerts now (when ``want_records``) and the ``ALERTS`` history of the window; the
    client is closed afterwards."""
    where = prometheus.source
    records: list[Alert] = []
    spans: list[AlertSpan] = []
    notes: list[str] = []
    window = (end - start).total_seconds()
    step = max(15.0, math.ceil(window / 1000))
    try:
        try:
            rows = await asyncio.to_thread(prometheus.query_range, 'ALERTS{alertstate="firing"}',
                                           start.timestamp(), end.timestamp(), step)
            spans = alert_spans_from_range({"status": "success", "data": {"resultType": "matrix", "result": rows}},
                                           step, end)
        except ValueError as exc:  # PrometheusError is one
            notes.append(f"{where}: alert history unavailable: {_why(exc)}")
        if want_records:
            try:
                records = parse_prometheus_alerts(await asyncio.to_thread(prometheus.alerts))
            except ValueError as exc:
                notes.append(f"{where}: alerts unavailable: {_why(exc)}")
    finally:
        prometheus.close()
    return records, spans, notes


# ---- metrics -------------------------------------------------------------------------------------------------


async def _figures(metrics: MetricsService, scope: Scope) -> tuple[tuple[Figures, ...], list[str]]:
    serving, gpus = await asyncio.gather(asyncio.to_thread(metrics.serving, scope.namespace),
                                         asyncio.to_thread(metrics.gpus))
    notes = [f"{metrics.source}: {what}: {r.error.message}" for what, r in (("latency and QPS", serving),
                                                                           ("GPU memory", gpus)) if r.error]
    return figures(scope, serving.value or (), gpus.value or ()), notes


# ---- the collector -------------------------------------------------------------------------------------------


async def collect_incident(transport: KubeTransport | None = None, namespace: str | None = None,
                           deployment: str | None = None, minutes: float = DEFAULT_MINUTES,
                           audit: AuditLog | None = None, alerts: list[Alert] | None = None,
                           metrics: MetricsService | None = None, prometheus: PrometheusClient | None = None, *,
                           kubeconfig: str | None = None, context: str | None = None,
                           resolved_alerts: Iterable[tuple[Alert, datetime]] = (),
                           now: datetime | None = None, server: str | None = None) -> Incident:
    """Read what the incident view needs and build the :class:`Incident`.

    ``transport``: an open :class:`KubeTransport` (kept open; ``context`` then only names it in the report),
    or None to connect with ``kubeconfig`` / ``context`` (closed afterwards; the namespace then defaults to
    the context's). ``alerts``: the caller's
    alert records (the console's merged list), or None to derive the cluster's from what is read here plus
    Prometheus's ``/api/v1/alerts`` when ``prometheus`` is given. ``resolved_alerts``: (alert, resolved
    at) pairs the caller saw end. ``metrics``: for p50/p99/QPS and GPU framebuffer figures. With
    ``prometheus`` the ``ALERTS`` history gives alert start/end entries.

    Raises :class:`IncidentError`: 2 for bad ``minutes`` or an unknown Deployment, 1 when the cluster
    cannot be read at all. Any other failing source becomes a note in ``Incident.notes``."""
    minutes = validate_minutes(minutes)
    end = now or datetime.now(UTC)
    start = end - timedelta(minutes=minutes)
    ctx_name = context or ""  # ``server``: the API server's URL, so another cluster's audit entries stay out
    own = transport is None
    if own:
        try:
            target, transport = await connect_target(kubeconfig, context)
        except KubeError as exc:
            raise IncidentError(EXIT_FAILED, f"cluster unreadable: {exc.message}") from None
        ctx_name, namespace, server = target.context, namespace or target.namespace, target.server
    assert transport is not None
    if not namespace:
        raise IncidentError(EXIT_USAGE, "no namespace: give one (-n NAMESPACE)")
    try:
        return await _collect(transport, namespace, deployment, start, end, minutes, audit, alerts, metrics,
                              prometheus, list(resolved_alerts), ctx_name, server)
    finally:
        if own:
            with contextlib.suppress(Exception):
                await transport.close()


async def _collect(transport: KubeTransport, namespace: str, deployment: str | None, start: datetime, end: datetime,
                   minutes: float, audit: AuditLog | None, alerts: list[Alert] | None,
                   metrics: MetricsService | None, prometheus: PrometheusClient | None,
                   resolved: list[tuple[Alert, datetime]], ctx_name: str, server: str | None) -> Incident:
    raw, notes = await _read_cluster(transport, namespace)
    names = sorted((d.get("metadata") or {}).get("name", "") for d in raw["deployments"])
    if deployment and deployment not in names and not any("deployments" in n for n in notes):
        known = ", ".join(names) or "none"
        raise IncidentError(EXIT_USAGE, f'deployment "{deployment}" not found in namespace "{namespace}" '
                                        f"(deployments: {known})")
    scope = Scope.build(namespace, deployment, raw["deployments"], raw["replicasets"], raw["pods"],
                        raw["horizontalpodautoscalers"])
    scope.learn_nodes(raw["events"])
    entries, audit_notes = read_audit(audit)
    notes += audit_notes
    records = list(alerts) if alerts is not None else cluster_alerts(raw["pods"], raw["deployments"], raw["nodes"])
    spans: list[AlertSpan] = []
    figs: tuple[Figures, ...] = ()
    prom = metric = None
    if prometheus is not None:
        prom = asyncio.ensure_future(_prometheus(prometheus, start, end, want_records=alerts is None))
    if metrics is not None:
        metric = asyncio.ensure_future(_figures(metrics, scope))
    if prom is not None:
        prom_records, spans, prom_notes = await prom
        records += prom_records
        notes += prom_notes
    if metric is not None:
        figs, metric_notes = await metric
        notes += metric_notes
    if metrics is None:
        notes.append("no metrics source (--prometheus, or --sandbox): latency, QPS and GPU figures not shown")
    if prometheus is None:
        notes.append("no Prometheus: alert history from the alerts firing now (and those seen resolved) only")
    if alerts is None:  # the cluster-derived alerts of pods a change replaced ended with them
        seen = {(a.name, a.target) for a, _ in resolved}  # the caller saw these end: keep its time
        derived = replaced_pod_alerts(entries, raw["deployments"], namespace, server)
        resolved = [*resolved, *((a, at) for a, at in derived if (a.name, a.target) not in seen)]
    timeline = build_timeline(namespace=namespace, deployment=deployment, now=end, minutes=minutes, server=server,
                              events=[*raw["events"], *raw.get("node events", [])], pods=raw["pods"],
                              replicasets=raw["replicasets"], deployments=raw["deployments"],
                              hpas=raw["horizontalpodautoscalers"], audit=entries, alerts=records,
                              resolved_alerts=resolved, alert_spans=spans)
    deployments, pods, hpas, nodes = current_state(scope, raw["pods"], raw["horizontalpodautoscalers"], raw["nodes"])
    return Incident(namespace, deployment, start, end, minutes, tuple(timeline), deployments, pods, hpas, nodes,
                    figs, alerts_in_scope(scope, records), tuple(notes), ctx_name,
                    metrics.source if metrics is not None else "")
