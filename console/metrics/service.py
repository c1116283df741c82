"""GPU and serving metrics: the records the screens show, the ``MetricsService`` protocol, and its
Prometheus implementation.

Two sources implement the protocol: :class:`PrometheusMetrics` here (any cluster with Prometheus, read
through the one Prometheus adapter, console/metrics/prometheus.py) and the sandbox's in-process source
(console/sandbox/metrics_source.py, wired by the CLI: services never import the sandbox). Every method
blocks (callers run it in a thread worker) and never raises: what went wrong comes back as a
:class:`MetricsError` a person can act on ("Prometheus unreachable at URL: ...", "no such metric: ..."),
so a dead Prometheus costs the console one panel, not the app.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from console.core.metrics import (
    DeploymentTrend,
    ErrorKind,
    GpuSample,
    MetricsError,
    MetricsResult,
    Series,
    ServingStats,
    chart_step,
    newest,
)
from console.core.units import parse_duration
from console.core.yamlsafe import safe_load
from console.metrics import promql
from console.metrics.prometheus import TIMEOUT_S, PrometheusClient, PrometheusError
from console.metrics.promql import MetricNames


def no_metric(*names: str) -> MetricsError:
    return MetricsError(ErrorKind.NO_METRIC, "no such metric: " + " or ".join(names))


SERVING_NAMES = tuple(dict.fromkeys(s.e2e for s in promql.STACKS))
NO_DCGM = no_metric(promql.DCGM_FB_USED)
NO_SERVING = no_metric(*SERVING_NAMES)
NO_TRENDS = no_metric(promql.DCGM_FB_USED, *SERVING_NAMES)


def _number(text: Any) -> float | None:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(value) or math.isinf(value) else value


class PrometheusMetrics:
    """:class:`MetricsService` over Prometheus's HTTP API (:class:`~console.metrics.prometheus.PrometheusClient`).

    Every request has a 5 s timeout and no retries. Names are discovered once and cached; a family not found
    yet is looked for again at most every ``rediscover_s``, so a Prometheus that starts scraping later is
    picked up. Credentials only go into request headers: never into messages, reprs or logs.
    """

    def __init__(self, url: str, *, token: str | None = None, username: str | None = None,
                 password: str | None = None, insecure: bool = False, timeout: float = TIMEOUT_S,
                 rediscover_s: float = 30.0) -> None:
        self._client = PrometheusClient(url, token=token, username=username, password=password, insecure=insecure,
                                        timeout=timeout)
        self.url = self._client.url
        self.source = self._client.source
        self._rediscover_s = rediscover_s
        self._names: MetricNames | None = None
        self._looked_at = 0.0
        self._lock = threading.Lock()
        self.queries = 0  # PromQL queries sent (discovery excluded), for the benchmark

    @classmethod
    def from_settings(cls, settings: Any) -> PrometheusMetrics:
        """For ``settings.prometheus_url`` (console.config.Settings) and its credentials."""
        return cls(settings.prometheus_url or "", token=settings.prometheus_token,
                   username=settings.prometheus_username, password=settings.prometheus_password,
                   insecure=settings.prometheus_insecure)

    def __repr__(self) -> str:
        return f"PrometheusMetrics({self._client.where!r})"

    def close(self) -> None:
        self._client.close()

    def min_refresh_s(self) -> float:
        return self._names.scrape_interval_s if self._names else 1.0

    @property
    def names(self) -> MetricNames | None:
        """What discovery found (None before the first successful look)."""
        return self._names

    # ---- the protocol ---------------------------------------------------------------------------
    def gpus(self) -> MetricsResult[tuple[GpuSample, ...]]:
        return self._ask(lambda n: n.has_gpu, NO_DCGM, promql.gpu_table, self._parse_gpus)

    def gpu_history(self, window_s: float, cells: int) -> MetricsResult[dict[str, Series]]:
        def parse(rows: list[dict[str, Any]], n: MetricNames) -> dict[str, Series]:
            return {f"{r['metric'].get(n.gpu_node, '?')}/{r['metric'].get('gpu', '?')}": _series("fb", r)
                    for r in rows}

        return self._ask(lambda n: n.has_gpu, NO_DCGM, promql.gpu_history, parse, (window_s, cells),
                         lambda v: v.values())

    def gpu_chart(self, window_s: float, cells: int) -> MetricsResult[tuple[Series, ...]]:
        return self._ask(lambda n: n.has_gpu, NO_DCGM, promql.gpu_chart, _tagged_series, (window_s, cells))

    def serving(self, namespace: str | None) -> MetricsResult[tuple[ServingStats, ...]]:
        return self._ask(lambda n: n.has_serving, NO_SERVING,
                         lambda n: promql.serving_table(n, namespace, promql.rate_window(n.scrape_interval_s)),
                         lambda rows, n: _parse_serving(rows, n, namespace))

    def latency_chart(self, namespace: str | None, deployment: str | None, window_s: float,
                      cells: int) -> MetricsResult[tuple[Series, ...]]:
        step = chart_step(window_s, cells)
        result = self._ask(
            lambda n: n.has_serving, NO_SERVING,
            lambda n: promql.latency_chart(n, namespace, deployment, promql.rate_window(n.scrape_interval_s, step)),
            _tagged_series, (window_s, cells))
        if self._names is not None and self._names.has_serving and not self._names.ttft:
            result = MetricsResult(result.value, result.error, result.at, ("TTFT: no such metric for this stack",))
        return result

    def deployment_trends(self, namespace: str | None, window_s: float,
                          cells: int) -> MetricsResult[dict[tuple[str, str], DeploymentTrend]]:
        step = chart_step(window_s, cells)

        def parse(rows: list[dict[str, Any]], n: MetricNames) -> dict[tuple[str, str], DeploymentTrend]:
            found: dict[tuple[str, str], dict[str, Series]] = {}
            for r in rows:
                dep = r["metric"].get(promql.DEPLOYMENT, "")
                role = r["metric"].get(promql.TAG, "")
                label = n.gpu_namespace if role == "gpu_mem" else n.serving_namespace
                found.setdefault((_namespace_of(r, label, namespace), dep), {})[role] = _series(role, r)
            return {(ns, d): DeploymentTrend(d, s.get("gpu_mem"), s.get("p99"), ns)
                    for (ns, d), s in found.items() if d}

        return self._ask(
            lambda n: n.has_gpu or n.has_serving, NO_TRENDS,
            lambda n: promql.deployment_trends(n, namespace, promql.rate_window(n.scrape_interval_s, step)),
            parse, (window_s, cells), lambda v: [x for t in v.values() for x in (t.gpu_mem, t.p99) if x])

    # ---- plumbing -------------------------------------------------------------------------------
    def _ask(self, usable: Callable[[MetricNames], bool], missing: MetricsError, build: Callable[[MetricNames], str],
             parse: Callable[[list[dict[str, Any]], MetricNames], Any],
             chart: tuple[float, int] | None = None,
             series_of: Callable[[Any], Iterable[Series]] = lambda v: v) -> MetricsResult[Any]:
        """Discover (once), check the family exists, run one query, parse it; errors become results.
        A range result (``chart``) is as old as its newest point (``series_of`` finds its lines)."""
        names = self._discover()
        if isinstance(names, MetricsError):
            return MetricsResult(error=names)
        if not usable(names):
            return MetricsResult(error=missing)
        now = time.time()
        rows = self._query(build(names), now, chart)
        if isinstance(rows, MetricsError):
            return MetricsResult(error=rows)
        try:
            value = parse(rows, names)
        except (KeyError, IndexError, TypeError, ValueError) as exc:  # an answer of an unexpected shape
            return MetricsResult(error=self._error(exc))
        stamp = newest(series_of(value)) if chart is not None else now
        return MetricsResult(value, at=None if stamp is None else min(stamp, now))  # range ends round up

    def _query(self, query: str, now: float, chart: tuple[float, int] | None) -> list[dict[str, Any]] | MetricsError:
        self.queries += 1
        try:
            if chart is None:
                return self._client.query(query, at=now)
            window_s, cells = chart
            step = chart_step(window_s, cells)
            start = now - step * (2 * max(cells, 1) - 1)
            return self._client.query_range(query, start, now, step)
        except Exception as exc:  # every failure becomes a typed result
            return self._error(exc)

    def _discover(self) -> MetricNames | MetricsError:
        with self._lock:
            names = self._names
            complete = names is not None and names.has_gpu and names.has_serving
            if names is not None and (complete or time.monotonic() - self._looked_at < self._rediscover_s):
                return names
            try:
                found = self._look_up()
            except Exception as exc:  # reported, never raised into the UI
                return self._error(exc)
            self._names, self._looked_at = found, time.monotonic()
            return found

    def _look_up(self) -> MetricNames:
        """Four requests, once: which candidate names exist, the labels of the two families, the
        scrape interval (from the running config)."""
        since = time.time() - 3600
        present = set(self._client.label_values("__name__", promql.discovery_match(), since))
        first = promql.resolve_names(present)

        def labels(metric: str | None) -> list[str]:
            return self._client.label_names(metric, since) if metric is not None else []

        return promql.resolve_names(present, labels(f"{first.e2e}_bucket" if first.e2e else None),
                                    labels(first.fb_used), self._scrape_interval())

    def _scrape_interval(self) -> float:
        try:
            config = safe_load(self._client.config_yaml(), "Prometheus's configuration") or {}
            return parse_duration(str((config.get("global") or {}).get("scrape_interval", "1m")))
        except (PrometheusError, ValueError, KeyError, TypeError, AttributeError):
            return 15.0  # e.g. a Thanos or Mimir front end without the config API: a common default

    def _error(self, exc: Exception) -> MetricsError:
        if not isinstance(exc, PrometheusError):  # the adapter types every failure; anything else is a bug's
            return MetricsError(ErrorKind.QUERY, f"unexpected answer from {self.source} ({type(exc).__name__})")
        if exc.kind == "refused":
            kind = ErrorKind.REFUSED
        elif exc.kind == "answer" or (exc.kind == "http" and exc.status in (400, 422)):
            kind = ErrorKind.QUERY
        else:
            kind = ErrorKind.UNREACHABLE
        return MetricsError(kind, str(exc))

    def _parse_gpus(self, rows: list[dict[str, Any]], n: MetricNames) -> tuple[GpuSample, ...]:
        by_gpu: dict[tuple[str, str], dict[str, Any]] = {}
        for r in rows:
            m = r["metric"]
            rec = by_gpu.setdefault((m.get(n.gpu_node, "?"), m.get("gpu", "?")), {"labels": m})
            rec[m.get(promql.TAG, "")] = _number(r["value"][1])
            if m.get(n.gpu_pod) and not rec["labels"].get(n.gpu_pod):
                rec["labels"] = m
        out = []
        for (node, index), rec in by_gpu.items():
            m = rec["labels"]
            out.append(GpuSample(node, index, m.get("UUID", ""), m.get("modelName", ""), rec.get("used") or 0.0,
                                 rec.get("total") or 0.0, rec.get("util"), rec.get("temp"),
                                 m.get(n.gpu_namespace, ""), m.get(n.gpu_pod, "")))
        return tuple(sorted(out, key=lambda g: (g.node, _natural(g.index))))


def _natural(text: str) -> tuple[int, str]:
    return (int(text), "") if text.isdigit() else (1 << 30, text)


def _series(name: str, row: dict[str, Any]) -> Series:
    points = []
    for ts, value in row.get("values", ()):
        number = _number(value)
        if number is not None:
            points.append((float(ts), number))
    return Series(name, tuple(points))


def _tagged_series(rows: list[dict[str, Any]], _n: MetricNames) -> tuple[Series, ...]:
    return tuple(sorted((_series(r["metric"].get(promql.TAG, ""), r) for r in rows), key=lambda s: s.name))


def _namespace_of(row: dict[str, Any], label: str | None, asked: str | None) -> str:
    """The namespace a per-Deployment figure belongs to: the one asked for, else the row's namespace label
    (kept by the grouping when every namespace is read)."""
    return asked or (row["metric"].get(label, "") if label else "")


def _parse_serving(rows: list[dict[str, Any]], n: MetricNames,
                   namespace: str | None) -> tuple[ServingStats, ...]:
    fields: dict[tuple[str, str], dict[str, Any]] = {}
    for r in rows:
        dep = r["metric"].get(promql.DEPLOYMENT, "")
        if dep:
            key = (_namespace_of(r, n.serving_namespace, namespace), dep)
            fields.setdefault(key, {})[r["metric"].get(promql.TAG, "")] = _number(r["value"][1])
    out = []
    for (ns, dep), f in sorted(fields.items()):
        pods = f.get("pods")
        out.append(ServingStats(dep, int(pods) if pods is not None else None, f.get("qps"), f.get("p50"),
                                f.get("p95"), f.get("p99"), f.get("ttft_p95"), f.get("running"), f.get("waiting"),
                                f.get("kv_cache"), ns))
    return tuple(out)
