"""Figures of a load test: percentiles, the per-second series, the summary and the comparison of two runs.

Pure functions over :class:`~console.serving.client.Reply` lists and plain dicts (saved results are JSON).
Percentiles interpolate linearly between order statistics (numpy's default), over successful requests.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

from console.serving.client import Reply


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0–100) of ``values`` (any order); None for no values."""
    if not values:
        return None
    data = sorted(values)
    pos = (len(data) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(data) - 1)
    return data[lo] + (data[hi] - data[lo]) * (pos - lo)


def _quantiles(values: Sequence[float]) -> dict[str, float | None]:
    return {"p50": percentile(values, 50), "p95": percentile(values, 95), "p99": percentile(values, 99)}


def summarize(replies: Sequence[Reply], duration_s: float) -> dict[str, Any]:
    """The run's figures: counts, error rate, achieved QPS, latency and TTFT p50/p95/p99, tokens/s."""
    ok = [r for r in replies if r.ok]
    tokens = sum(r.completion_tokens for r in ok)
    errors: dict[str, int] = {}
    for r in replies:
        if not r.ok:
            key = (r.error or f"HTTP {r.status}")[:120]
            errors[key] = errors.get(key, 0) + 1
    duration = max(duration_s, 1e-9)
    return {
        "requests": len(replies),
        "ok": len(ok),
        "errors": len(replies) - len(ok),
        "error_rate": (len(replies) - len(ok)) / len(replies) if replies else 0.0,
        "achieved_qps": len(replies) / duration,
        "duration_s": duration_s,
        "latency_s": _quantiles([r.latency_s for r in ok]),
        "ttft_s": _quantiles([r.ttft_s for r in ok if r.ttft_s is not None]),
        "output_tokens": tokens,
        "tokens_per_s": tokens / duration,
        "error_kinds": dict(sorted(errors.items(), key=lambda kv: -kv[1])[:5]),
        "pods": _count(r.pod for r in ok if r.pod),
        "routed_to": _count(r.routed_to for r in ok if r.routed_to),
    }


def _count(names: Iterable[str | None]) -> dict[str, int]:
    out: dict[str, int] = {}
    for n in names:
        if n:
            out[n] = out.get(n, 0) + 1
    return dict(sorted(out.items()))


def per_second(replies: Sequence[Reply], duration_s: float) -> list[dict[str, Any]]:
    """One row per second of the run, by send time: requests sent (the achieved QPS of that second),
    errors, latency p50/p99 and TTFT p50 of the requests sent in it."""
    seconds = max(1, math.ceil(duration_s - 1e-9))
    buckets: list[list[Reply]] = [[] for _ in range(seconds)]
    for r in replies:
        buckets[min(max(int(r.sent), 0), seconds - 1)].append(r)
    rows = []
    for i, group in enumerate(buckets):
        ok = [r for r in group if r.ok]
        lat = [r.latency_s for r in ok]
        ttft = [r.ttft_s for r in ok if r.ttft_s is not None]
        rows.append({"t": i, "qps": len(group), "errors": len(group) - len(ok),
                     "p50_s": percentile(lat, 50), "p99_s": percentile(lat, 99), "ttft_p50_s": percentile(ttft, 50)})
    return rows


COMPARED = (
    ("achieved QPS", ("summary", "achieved_qps"), 1.0, "{:.1f}"),
    ("latency p50", ("summary", "latency_s", "p50"), 1000.0, "{:.0f}ms"),
    ("latency p95", ("summary", "latency_s", "p95"), 1000.0, "{:.0f}ms"),
    ("latency p99", ("summary", "latency_s", "p99"), 1000.0, "{:.0f}ms"),
    ("TTFT p50", ("summary", "ttft_s", "p50"), 1000.0, "{:.0f}ms"),
    ("TTFT p99", ("summary", "ttft_s", "p99"), 1000.0, "{:.0f}ms"),
    ("tokens/s", ("summary", "tokens_per_s"), 1.0, "{:.1f}"),
    ("error rate", ("summary", "error_rate"), 100.0, "{:.2f}%"),
    ("max QPS under line", ("find_max", "max_qps"), 1.0, "{:.1f}"),
)


def _dig(doc: Any, path: tuple[str, ...]) -> float | None:
    for key in path:
        if not isinstance(doc, dict):
            return None
        doc = doc.get(key)
    return float(doc) if isinstance(doc, int | float) and not isinstance(doc, bool) else None


def compare(a: dict[str, Any], b: dict[str, Any]) -> list[dict[str, Any]]:
    """Metric by metric, A and B of two saved results and B's change relative to A (None where either lacks it)."""
    rows = []
    for label, path, scale, fmt in COMPARED:
        va, vb = _dig(a, path), _dig(b, path)
        if va is None and vb is None:
            continue
        change = None if va is None or vb is None or va == 0 else (vb - va) / abs(va)
        rows.append({"metric": label, "a": va, "b": vb, "change": change,
                     "a_text": "-" if va is None else fmt.format(va * scale),
                     "b_text": "-" if vb is None else fmt.format(vb * scale)})
    return rows
