"""``llmctl alerts [-o json] [--prometheus URL]``: what is wrong right now, once.

Cluster-derived alerts (OOMKilled, CrashLoopBackOff, ImagePullBackOff, FailedScheduling, rollout
ProgressDeadlineExceeded, node NotReady) read from the API with the official kubernetes client, plus
Prometheus's ``/api/v1/alerts`` when a Prometheus is configured; sorted by severity, then age.

Exit codes: 0 nothing critical is firing, 1 something critical is firing or a source could not be read,
2 configuration error.
"""

from __future__ import annotations

import argparse
import base64
import json
import ssl
import sys
import urllib.error
import urllib.request
from datetime import UTC, datetime
from typing import Any

from console.config import Settings
from console.services.alerts import Alert, cluster_alerts, parse_prometheus_alerts, sort_alerts

COMMAND = "alerts"
TIMEOUT_S = 10.0
TABLE = "{:<9} {:<8} {:<10} {:<25} {:>6}  {:<40} {}"


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(COMMAND, parents=[common],
                       help="firing alerts: cluster-derived, plus Prometheus's with --prometheus; exit 1 on critical")
    p.add_argument("-o", "--output", choices=("table", "json"), default="table")


def read_cluster(kubeconfig: str | None, context: str | None, namespace: str | None) -> dict[str, Any]:
    """Raw JSON lists of pods, Deployments (of ``namespace``, else all) and nodes. Nodes are skipped (None)
    when the user may not list them."""
    from kubernetes import client, config
    from kubernetes.client.exceptions import ApiException

    api = config.new_client_from_config(config_file=kubeconfig, context=context)
    try:
        core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
        kw: dict[str, Any] = {"_preload_content": False, "_request_timeout": TIMEOUT_S}
        if namespace:
            pods = core.list_namespaced_pod(namespace, **kw)
            deployments = apps.list_namespaced_deployment(namespace, **kw)
        else:
            pods = core.list_pod_for_all_namespaces(**kw)
            deployments = apps.list_deployment_for_all_namespaces(**kw)
        try:
            nodes: Any = json.loads(core.list_node(**kw).data)
        except ApiException as exc:
            if exc.status != 403:
                raise
            nodes = None
        return {"pods": json.loads(pods.data), "deployments": json.loads(deployments.data), "nodes": nodes}
    finally:
        api.close()


def read_prometheus(settings: Settings) -> dict[str, Any]:
    """Prometheus's ``/api/v1/alerts`` answer (credentials only in the request's headers)."""
    url = settings.prometheus_url.rstrip("/") + "/api/v1/alerts"  # type: ignore[union-attr]
    req = urllib.request.Request(url, headers={"Accept": "application/json"})
    if settings.prometheus_token:
        req.add_header("Authorization", f"Bearer {settings.prometheus_token}")
    elif settings.prometheus_username:
        basic = f"{settings.prometheus_username}:{settings.prometheus_password or ''}".encode()
        req.add_header("Authorization", f"Basic {base64.b64encode(basic).decode()}")
    tls = ssl._create_unverified_context() if settings.prometheus_insecure else None  # the user asked for it
    with urllib.request.urlopen(req, timeout=TIMEOUT_S, context=tls) as resp:
        doc: dict[str, Any] = json.loads(resp.read())
        return doc


def collect(settings: Settings, kubeconfig: str | None) -> tuple[list[Alert], list[str]]:
    """Every source's alerts, sorted, and one message per source that failed."""
    from console.services.metrics import public_url

    alerts: list[Alert] = []
    errors: list[str] = []
    try:
        raw = read_cluster(kubeconfig, settings.context, settings.namespace)
        alerts.extend(cluster_alerts(raw["pods"], raw["deployments"], raw["nodes"]))
    except Exception as exc:  # config, TLS, HTTP and API errors all mean "cluster unreadable"
        errors.append(f"cluster unreadable: {getattr(exc, 'reason', None) or exc}")
    if settings.prometheus_url:
        where = public_url(settings.prometheus_url.rstrip("/"))
        try:
            alerts.extend(parse_prometheus_alerts(read_prometheus(settings)))
        except (OSError, ValueError) as exc:
            reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
            errors.append(f"Prometheus at {where}: {reason}")
    return sort_alerts(alerts), errors


def _age(since: datetime | None, now: datetime) -> str:
    if since is None:
        return "-"
    seconds = max(0, int((now - since).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def format_table(alerts: list[Alert], now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    lines = [TABLE.format("SEVERITY", "STATE", "SOURCE", "ALERT", "AGE", "TARGET", "SUMMARY")]
    lines += [TABLE.format(a.severity, a.state, a.source, a.name, _age(a.since, now), str(a.target), a.summary)
              for a in alerts]
    return "\n".join(lines)


def run(args: argparse.Namespace, settings: Settings) -> int:
    sandbox = None
    kubeconfig = settings.kubeconfig
    try:
        if settings.sandbox:
            from console.cli import sandbox_thread

            sandbox = sandbox_thread(settings)
            kubeconfig = sandbox.start().kubeconfig
        alerts, errors = collect(settings, kubeconfig)
    finally:
        if sandbox is not None:
            sandbox.stop()
    critical = sum(a.critical_firing for a in alerts)
    if args.output == "json":
        print(json.dumps({"alerts": [a.to_json() for a in alerts], "critical_firing": critical,
                          "errors": errors}, indent=2))
    elif alerts:
        print(format_table(alerts))
    else:
        print("no alerts")
    for message in errors:
        print(f"llmctl alerts: {message}", file=sys.stderr)
    return 1 if critical or errors else 0
