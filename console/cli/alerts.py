"""``llmctl alerts [-o json] [--prometheus URL] [--alertmanager URL]``: what is wrong right now, once.

Cluster-derived alerts (OOMKilled, CrashLoopBackOff, ImagePullBackOff, FailedScheduling, rollout
ProgressDeadlineExceeded, node NotReady) read from the API with the official kubernetes client, plus
Prometheus's ``/api/v1/alerts`` when a Prometheus is configured, plus Alertmanager's (with their silences;
a Prometheus alert Alertmanager also holds is shown once, as Alertmanager's), plus the built-in rules
(console/alerts/builtin.py) that Prometheus has no rule for, evaluated on the metrics source
(Prometheus, or the sandbox's simulation with --sandbox); sorted by severity, then age. Silenced or
inhibited alerts are listed but do not count as critical.

Exit codes: 0 nothing critical is firing, 1 something critical is firing or a source could not be read,
2 configuration error.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from console.cli.common import OUTPUTS, STRUCTURED, columns, dump

if TYPE_CHECKING:

    from console import wiring
    from console.alerts.model import Alert
    from console.config import Settings
    from console.kube.access import KubeAccess

COMMAND = "alerts"
METRICS_TIMEOUT_S = 10.0  # a sandbox that has just started needs a moment before its first figures


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(COMMAND, parents=[common],
                       help="firing alerts: cluster-derived, built-in rules, Prometheus's (--prometheus) and "
                            "Alertmanager's (--alertmanager); exit 1 on critical")
    p.add_argument("-o", "--output", choices=OUTPUTS, default="table")
    p.set_defaults(func=run)


async def read_cluster(access: KubeAccess, namespace: str | None) -> dict[str, Any]:
    """Raw JSON lists of pods, Deployments (of ``namespace``, else all) and nodes, through the same kubeconfig
    loading and credentials as every other command. Nodes are skipped (None) when the user may not list them."""
    from console.kube.errors import KubeError

    _, transport = await access.connect()
    try:
        where = f"/namespaces/{namespace}" if namespace else ""
        pods = await transport.list(f"/api/v1{where}/pods")
        deployments = await transport.list(f"/apis/apps/v1{where}/deployments")
        try:
            nodes: list[dict[str, Any]] | None = await transport.list("/api/v1/nodes")
        except KubeError as exc:
            if exc.code != 403:
                raise
            nodes = None
        return {"pods": pods, "deployments": deployments, "nodes": nodes}
    finally:
        await transport.close()


def read_prometheus(settings: Settings) -> dict[str, Any]:
    """Prometheus's ``/api/v1/alerts`` answer, through the Prometheus adapter (credentials only in the
    request's headers). Raises PrometheusError (a ValueError) naming the server."""
    from console.metrics.prometheus import prometheus_alerts

    return prometheus_alerts(settings)


def builtin_alerts(services: wiring.Services) -> tuple[list[Alert], list[str]]:
    """The built-in rules Prometheus has no rule for (none are queried when it has them all), evaluated on
    the metrics source ``llmctl top`` would use. A source without the metric (no DCGM exporter) is no error."""
    from console.alerts import builtin as rules
    from console.cli import top as cli_top
    from console.core.metrics import ErrorKind

    settings = services.settings
    try:
        covered = rules.covered_by_prometheus(settings)
    except ValueError as exc:
        return [], [f"built-in rules: {exc}"]
    wanted = set(rules.RULES) - covered
    if not wanted:
        return [], []
    service = services.metrics
    if service is None:
        return [], []
    errors: list[str] = []
    records: dict[str, Any] = {}
    for what, needed in (("gpu", {rules.FB_HIGH}), ("latency", wanted - {rules.FB_HIGH})):
        if wanted & needed:
            result = cli_top.fetch(service, what, settings.namespace, METRICS_TIMEOUT_S)
            records[what] = result.value
            if result.error is not None and result.error.kind is not ErrorKind.NO_METRIC:
                errors.append(f"built-in rules: {result.error.message}")
    found = rules.evaluate(records.get("gpu"), records.get("latency"), rules.Thresholds.from_settings(settings),
                           covered, namespace=settings.namespace)
    return found, errors


def collect(services: wiring.Services) -> tuple[list[Alert], list[str]]:
    """Every source's alerts, sorted, and one message per source that failed."""
    import asyncio

    from console.alerts.alertmanager import AlertmanagerError, merge_alerts
    from console.alerts.model import cluster_alerts, parse_prometheus_alerts, sort_alerts
    from console.http import public_url
    from console.kube.errors import KubeError

    settings = services.settings
    alerts: list[Alert] = []
    errors: list[str] = []
    try:
        raw = asyncio.run(read_cluster(services.access, settings.namespace))
        alerts.extend(cluster_alerts(raw["pods"], raw["deployments"], raw["nodes"]))
    except KubeError as exc:  # kubeconfig, credentials, TLS, HTTP and API errors: the transport says which
        errors.append(f"cluster unreadable: {exc.message}")
    prometheus: list[Alert] = []
    prometheus_read = True
    if settings.prometheus_url:
        where = public_url(settings.prometheus_url.rstrip("/"))
        try:
            prometheus = parse_prometheus_alerts(read_prometheus(settings))
        except ValueError as exc:  # PrometheusError is one: its reason is the cause without the server's name
            errors.append(f"Prometheus at {where}: {getattr(exc, 'reason', None) or exc}")
            prometheus_read = False
    manager: list[Alert] = []
    if settings.alertmanager_url:
        try:
            assert services.alertmanager is not None
            manager = services.alertmanager.alerts()
        except AlertmanagerError as exc:
            errors.append(str(exc))
    alerts.extend(merge_alerts(prometheus, manager))
    if settings.builtin_rules and prometheus_read:  # an unreadable Prometheus: reported above
        found, problems = builtin_alerts(services)
        alerts.extend(found)
        errors.extend(problems)
    return sort_alerts(alerts), errors


def _age(since: datetime | None, now: datetime) -> str:
    from console.core.units import human_duration

    return "-" if since is None else human_duration((now - since).total_seconds())


def format_table(alerts: list[Alert], now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    rows = []
    for a in alerts:
        state, summary = a.state, a.summary
        if a.silenced_by:
            state, summary = "silenced", f"{summary} (silenced by {', '.join(a.silenced_by)})"
        elif a.inhibited_by:
            state = "inhibited"
        rows.append((a.severity, state, a.source, a.name, _age(a.since, now), str(a.target), summary))
    return columns(("SEVERITY", "STATE", "SOURCE", "ALERT", "AGE", "TARGET", "SUMMARY"), rows)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from console import wiring

    with wiring.session(settings) as services:
        alerts, errors = collect(services)
    critical = sum(a.critical_firing for a in alerts)
    if args.output in STRUCTURED:
        print(dump({"alerts": [a.to_json() for a in alerts], "critical_firing": critical,
                          "errors": errors}, args.output))
    elif alerts:
        print(format_table(alerts))
    else:
        print("no alerts")
    for message in errors:
        print(f"llmctl alerts: {message}", file=sys.stderr)
    return 1 if critical or errors else 0
