"""GPU and serving metrics: the records the screens show, the ``MetricsService`` protocol, and the
Prometheus adapter.

Two sources implement the protocol: :class:`PrometheusMetrics` here (any cluster with Prometheus) and
the sandbox's in-process source (console/sandbox/metrics_source.py, wired by the CLI: services never
import the sandbox). Every method blocks (callers run it in a thread worker) and never raises: what went
wrong comes back as a :class:`MetricsError` a person can act on ("Prometheus unreachable at URL",
"no such metric: ..."), so a dead Prometheus costs the console one panel, not the app.
"""

from __future__ import annotations

import base64
import json
import math
import re
import ssl
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Generic, Protocol, TypeVar
from urllib.parse import urlsplit, urlunsplit

import yaml

from . import promql
from .promql import MetricNames

T = TypeVar("T")
WINDOWS = {"5m": 300.0, "15m": 900.0, "1h": 3600.0, "6h": 21600.0}
TIMEOUT_S = 5.0


class ErrorKind(StrEnum):
    NOT_CONFIGURED = "not configured"
    UNREACHABLE = "unreachable"
    REFUSED = "refused"
    NO_METRIC = "no such metric"
    QUERY = "query failed"
    NO_DATA = "no data yet"


@dataclass(frozen=True)
class MetricsError:
    kind: ErrorKind
    message: str


@dataclass(frozen=True)
class MetricsResult(Generic[T]):
    """A value or an error; ``at`` is the time (epoch s) the data is as of, for the panel's age."""

    value: T | None = None
    error: MetricsError | None = None
    at: float | None = None
    missing: tuple[str, ...] = ()  # parts the stack does not have (e.g. TGI has no TTFT histogram)


@dataclass(frozen=True)
class Series:
    """One line of a chart: (epoch s, value) points, oldest first."""

    name: str
    points: tuple[tuple[float, float], ...]

    @property
    def last(self) -> float | None:
        return self.points[-1][1] if self.points else None


@dataclass(frozen=True)
class GpuSample:
    """One GPU as DCGM reports it now; the pod is DCGM's pod mapping, never an NVML PID."""

    node: str
    index: str
    uuid: str
    model: str
    used_mib: float
    total_mib: float
    util: float | None
    temp_c: float | None
    namespace: str = ""
    pod: str = ""

    @property
    def key(self) -> str:
        return f"{self.node}/{self.index}"

    @property
    def used_percent(self) -> float:
        return 100.0 * self.used_mib / self.total_mib if self.total_mib else 0.0


@dataclass(frozen=True)
class ServingStats:
    """One Deployment's serving figures now (latencies in seconds, KV-cache 0..1)."""

    deployment: str
    pods: int | None = None
    qps: float | None = None
    p50_s: float | None = None
    p95_s: float | None = None
    p99_s: float | None = None
    ttft_p95_s: float | None = None
    running: float | None = None
    waiting: float | None = None
    kv_cache: float | None = None


@dataclass(frozen=True)
class DeploymentTrend:
    """A Deployment's recent GPU memory used % and p99 latency, for the dashboard's sparklines."""

    deployment: str
    gpu_mem: Series | None = None
    p99: Series | None = None


class MetricsService(Protocol):
    """What the GPU, Latency and dashboard panels ask for. Blocking; never raises."""

    source: str  # where the figures come from, for the panels ("Prometheus at http://...")

    def min_refresh_s(self) -> float:
        """Refreshing faster than this re-reads the same data (the scrape interval)."""
        ...

    def gpus(self) -> MetricsResult[tuple[GpuSample, ...]]: ...

    def gpu_history(self, window_s: float, cells: int) -> MetricsResult[dict[str, Series]]:
        """Framebuffer used % per GPU (keyed by :attr:`GpuSample.key`), ~2 points per cell."""
        ...

    def gpu_chart(self, window_s: float, cells: int) -> MetricsResult[tuple[Series, ...]]:
        """The fleet's ``max`` and ``mean`` framebuffer used %."""
        ...

    def serving(self, namespace: str | None) -> MetricsResult[tuple[ServingStats, ...]]: ...

    def latency_chart(self, namespace: str | None, deployment: str | None, window_s: float,
                      cells: int) -> MetricsResult[tuple[Series, ...]]:
        """``p50``, ``p95``, ``p99`` and ``ttft_p95`` (seconds) of one Deployment."""
        ...

    def deployment_trends(self, namespace: str | None, window_s: float,
                          cells: int) -> MetricsResult[dict[str, DeploymentTrend]]: ...

    def close(self) -> None: ...


def chart_step(window_s: float, cells: int) -> float:
    """Seconds between points so a chart ``cells`` wide gets two per cell and never more."""
    return float(max(1, math.ceil(window_s / (2 * max(cells, 1)))))


def newest(series: Iterable[Series]) -> float | None:
    """The timestamp of the newest point: a chart's data is as old as that."""
    stamps = [s.points[-1][0] for s in series if s.points]
    return max(stamps) if stamps else None


def no_metric(*names: str) -> MetricsError:
    return MetricsError(ErrorKind.NO_METRIC, "no such metric: " + " or ".join(names))


SERVING_NAMES = tuple(dict.fromkeys(s.e2e for s in promql.STACKS))
NO_DCGM = no_metric(promql.DCGM_FB_USED)
NO_SERVING = no_metric(*SERVING_NAMES)
NO_TRENDS = no_metric(promql.DCGM_FB_USED, *SERVING_NAMES)


def public_url(url: str) -> str:
    """The URL without any user:password part, for messages."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))


def _number(text: Any) -> float | None:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(value) or math.isinf(value) else value


class PrometheusMetrics:
    """:class:`MetricsService` over Prometheus's HTTP API (prometheus-api-client, no extras).

    Every request has a 5 s timeout and no retries (the client's defaults retry for ~6 s on a dead port).
    Names are discovered once and cached; a family not found yet is looked for again at most every
    ``rediscover_s``, so a Prometheus that starts scraping later is picked up. Credentials only go into
    request headers: never into messages, reprs or logs.
    """

    def __init__(self, url: str, *, token: str | None = None, username: str | None = None,
                 password: str | None = None, insecure: bool = False, timeout: float = TIMEOUT_S,
                 rediscover_s: float = 30.0) -> None:
        from prometheus_api_client import PrometheusConnect
        from urllib3.util.retry import Retry

        self.url = url.rstrip("/")
        self.source = f"Prometheus at {public_url(self.url)}"
        self._headers: dict[str, str] = {}
        if token:
            self._headers["Authorization"] = f"Bearer {token}"
        elif username:
            basic = base64.b64encode(f"{username}:{password or ''}".encode()).decode()
            self._headers["Authorization"] = f"Basic {basic}"
        self._timeout = timeout
        self._tls = ssl._create_unverified_context() if insecure else None  # the user asked for no verification
        self._client = PrometheusConnect(self.url, headers=self._headers or None, disable_ssl=insecure,
                                         retry=Retry(total=0), timeout=timeout)  # type: ignore[arg-type]
        self._rediscover_s = rediscover_s
        self._names: MetricNames | None = None
        self._looked_at = 0.0
        self._lock = threading.Lock()
        self.queries = 0  # PromQL queries sent (discovery excluded), for the benchmark

    def __repr__(self) -> str:
        return f"PrometheusMetrics({public_url(self.url)!r})"

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
                         _parse_serving)

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
                          cells: int) -> MetricsResult[dict[str, DeploymentTrend]]:
        step = chart_step(window_s, cells)

        def parse(rows: list[dict[str, Any]], _n: MetricNames) -> dict[str, DeploymentTrend]:
            found: dict[str, dict[str, Series]] = {}
            for r in rows:
                dep = r["metric"].get(promql.DEPLOYMENT, "")
                role = r["metric"].get(promql.TAG, "")
                found.setdefault(dep, {})[role] = _series(role, r)
            return {d: DeploymentTrend(d, s.get("gpu_mem"), s.get("p99")) for d, s in found.items() if d}

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
                return list(self._client.custom_query(query, params={"time": now}))
            window_s, cells = chart
            step = chart_step(window_s, cells)
            start = now - step * (2 * max(cells, 1) - 1)
            return list(self._client.custom_query_range(
                query, datetime.fromtimestamp(start), datetime.fromtimestamp(now), str(step)))
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
        scrape interval (from the running config; an API the client does not wrap)."""
        since = {"start": time.time() - 3600}
        present = set(self._client.get_label_values("__name__", params={"match[]": promql.discovery_match(), **since}))
        first = promql.resolve_names(present)

        def labels(metric: str | None) -> list[str]:
            if metric is None:
                return []
            return list(self._client.get_label_names(params={"match[]": metric, **since}) or [])

        return promql.resolve_names(present, labels(f"{first.e2e}_bucket" if first.e2e else None),
                                    labels(first.fb_used), self._scrape_interval())

    def _scrape_interval(self) -> float:
        try:
            request = urllib.request.Request(f"{self.url}/api/v1/status/config", headers=self._headers)
            with urllib.request.urlopen(request, timeout=self._timeout, context=self._tls) as resp:
                config = yaml.safe_load(json.loads(resp.read())["data"]["yaml"]) or {}
            return parse_duration(str((config.get("global") or {}).get("scrape_interval", "1m")))
        except (OSError, ValueError, KeyError, TypeError, yaml.YAMLError):
            return 15.0  # e.g. a Thanos or Mimir front end without the config API: a common default

    def _error(self, exc: Exception) -> MetricsError:
        where = public_url(self.url)
        text = str(exc)
        code = re.search(r"HTTP Status Code (\d+)", text)
        if code:
            status = int(code.group(1))
            if status in (401, 403):
                return MetricsError(ErrorKind.REFUSED, f"Prometheus at {where} refused the request (HTTP {status}):"
                                                       " check prometheus_token / prometheus_username")
            detail = re.search(r'"error":\s*"((?:[^"\\]|\\.)*)"', text)
            kind = ErrorKind.QUERY if status in (400, 422) else ErrorKind.UNREACHABLE
            return MetricsError(kind, f"Prometheus at {where} answered HTTP {status}"
                                      + (f": {detail.group(1)}" if detail else ""))
        if not isinstance(exc, OSError):  # requests' errors are OSErrors; anything else is a strange answer
            return MetricsError(ErrorKind.QUERY, f"unexpected answer from Prometheus at {where} "
                                                 f"({type(exc).__name__})")
        reason = "timed out" if "timed out" in text.lower() or "timeout" in type(exc).__name__.lower() else \
            "connection refused" if "refused" in text.lower() else type(exc).__name__
        return MetricsError(ErrorKind.UNREACHABLE, f"Prometheus unreachable at {where} ({reason})")

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


def _parse_serving(rows: list[dict[str, Any]], _n: MetricNames) -> tuple[ServingStats, ...]:
    fields: dict[str, dict[str, Any]] = {}
    for r in rows:
        dep = r["metric"].get(promql.DEPLOYMENT, "")
        if dep:
            fields.setdefault(dep, {})[r["metric"].get(promql.TAG, "")] = _number(r["value"][1])
    out = []
    for dep, f in sorted(fields.items()):
        pods = f.get("pods")
        out.append(ServingStats(dep, int(pods) if pods is not None else None, f.get("qps"), f.get("p50"),
                                f.get("p95"), f.get("p99"), f.get("ttft_p95"), f.get("running"), f.get("waiting"),
                                f.get("kv_cache")))
    return tuple(out)


def parse_duration(text: str) -> float:
    """Seconds in a Prometheus duration: ``15s``, ``1m``, ``1m30s``, ``500ms``."""
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)", text)
    if not parts:
        raise ValueError(f"not a duration: {text!r}")
    return sum(float(v) * units[u] for v, u in parts)
