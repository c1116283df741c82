"""``llmctl top gpu|latency``: the GPU and Latency screens' figures, once, as a table or ``-o json``;
and the one place that decides which metrics source the console and these commands use.

Exit codes: 0 figures printed, 1 the source failed (unreachable, no such metric, no data in time),
2 no metrics source (no Prometheus configured and not on the sandbox).
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from console.cli.common import OUTPUTS, STRUCTURED, columns, dump, positive

if TYPE_CHECKING:
    from console.config import Settings
    from console.core.metrics import MetricsResult, MetricsService

COMMAND = "top"


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    top = sub.add_parser(COMMAND, parents=[common], help="GPU or serving figures from Prometheus, once")
    top.add_argument("what", choices=("gpu", "latency"), help="gpu: per-GPU memory/utilisation; latency: per "
                                                              "Deployment p50/p95/p99, TTFT, QPS, queue, KV-cache")
    top.add_argument("-o", "--output", choices=OUTPUTS, default="table")
    top.add_argument("--timeout", type=positive, default=15.0, help="seconds to wait for the first figures")
    top.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from console import wiring

    if not settings.prometheus_url and not settings.sandbox:
        print("llmctl top: no metrics source: give --prometheus URL (or LLMCTL_PROMETHEUS_URL, or "
              "prometheus_url in the config), or use --sandbox", file=sys.stderr)
        return 2
    with wiring.session(settings) as services:
        if services.sandbox is not None and services.metrics is not None and not settings.prometheus_url:
            services.access.resolve_blocking()  # the simulation's figures: start the in-process sandbox
        assert services.metrics is not None
        return show(services.metrics, args.what, settings.namespace, args.output, args.timeout)


def fetch(service: MetricsService, what: str, namespace: str | None, timeout: float) -> MetricsResult[Any]:
    """One read; while the source has no data yet (a sandbox starting), ask again until ``timeout``."""
    from console.core.metrics import ErrorKind

    deadline = time.monotonic() + timeout
    while True:
        result = service.gpus() if what == "gpu" else service.serving(namespace)
        waiting = result.error is not None and result.error.kind is ErrorKind.NO_DATA
        if not waiting or time.monotonic() > deadline:
            return result
        time.sleep(0.25)


def show(service: MetricsService, what: str, namespace: str | None, output: str, timeout: float) -> int:
    result = fetch(service, what, namespace, timeout)
    rows = [asdict(r) for r in result.value or ()]
    if what == "gpu":
        for row, gpu in zip(rows, result.value or (), strict=True):
            row["used_percent"] = round(gpu.used_percent, 1)
    if output in STRUCTURED:
        doc = {"source": service.source, "at": result.at, ("gpus" if what == "gpu" else "deployments"): rows,
               "error": result.error.message if result.error else None}
        if what == "latency":
            doc["namespace"] = namespace
        print(dump(doc, output))
    elif result.error is None:
        print(format_gpus(rows) if what == "gpu" else format_latency(rows, every_namespace=not namespace))
    if result.error is not None:
        print(f"llmctl top: {result.error.message}", file=sys.stderr)
        return 1
    return 0


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.0f}ms"


def _num(value: float | None, fmt: str = "{:.1f}") -> str:
    return "-" if value is None else fmt.format(value)


def format_gpus(rows: list[dict[str, Any]]) -> str:
    return columns(("NODE", "GPU", "MODEL", "FB USED", "UTIL", "TEMP", "POD"), (
        (r["node"], r["index"], r["model"],
         f"{r['used_mib'] / 1024:.1f}/{r['total_mib'] / 1024:.1f}GiB {r['used_percent']:.0f}%",
         _num(r["util"], "{:.0f}%"), _num(r["temp_c"], "{:.0f}C"),
         f"{r['namespace']}/{r['pod']}" if r["pod"] else "-") for r in rows))


def format_latency(rows: list[dict[str, Any]], every_namespace: bool = False) -> str:
    """The table; with every namespace read, a NAMESPACE column first (as ``kubectl top pods -A``): one name
    may serve in several namespaces, each with its own figures."""
    head = ("NAMESPACE",) if every_namespace else ()
    return columns((*head, "DEPLOYMENT", "PODS", "QPS", "p50", "p95", "p99", "TTFT p95", "RUNNING", "WAITING",
                    "KV"), (
        ((r["namespace"] or "-",) if every_namespace else ()) + (
            r["deployment"], _num(r["pods"], "{:.0f}"), _num(r["qps"]), _ms(r["p50_s"]), _ms(r["p95_s"]),
            _ms(r["p99_s"]), _ms(r["ttft_p95_s"]), _num(r["running"]), _num(r["waiting"]),
            "-" if r["kv_cache"] is None else f"{100 * r['kv_cache']:.0f}%") for r in rows))
