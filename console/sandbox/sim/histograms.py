"""Cumulative vLLM histograms and counters per pod, at O(buckets) per Deployment per tick.

Instead of drawing one latency per request (≈ QPS draws × 4 histograms × every pod, too slow for
10,000 pods), each tick adds the *expected* bucket counts of that tick's distributions to one
accumulator per Deployment, scaled to a pod of unit weight. A pod's series are then
``weight × (accumulator − accumulator when the pod started serving)``, floored to whole requests
at render time. Flooring keeps every bucket and counter monotone, and because the counts follow the
model's CDF exactly, ``histogram_quantile(0.99, rate(..._bucket[30s]))`` returns the model's p99
up to bucket interpolation. Per-pod randomness comes from the pod's weight (its share of traffic).
"""

from __future__ import annotations

from dataclasses import dataclass

from .figures import E2E_BUCKETS, ITL_BUCKETS, QUEUE_BUCKETS, TTFT_BUCKETS, Histogram, VllmPodSample
from .queueing import QueueResult, ServiceProfile, cumulative_counts

HISTOGRAMS: tuple[tuple[str, tuple[float, ...]], ...] = (
    ("e2e", E2E_BUCKETS), ("ttft", TTFT_BUCKETS), ("itl", ITL_BUCKETS), ("queue", QUEUE_BUCKETS),
)
BOUNDS = dict(HISTOGRAMS)


def _layout() -> tuple[dict[str, tuple[int, int]], int]:
    """Flat positions: each histogram's buckets then its sum; then prompt and generation tokens."""
    spans, pos = {}, 0
    for name, bounds in HISTOGRAMS:
        spans[name] = (pos, pos + len(bounds))  # buckets; the sum sits at the end index
        pos += len(bounds) + 1
    return spans, pos


SPANS, _TOKENS = _layout()
PROMPT_AT, GENERATION_AT = _TOKENS, _TOKENS + 1
SIZE = _TOKENS + 2
_ZEROS = [0.0] * SIZE


class DeploymentAccumulator:
    """Per-unit-weight cumulative values of one Deployment's histograms and token counters."""

    __slots__ = ("values",)

    def __init__(self) -> None:
        self.values = [0.0] * SIZE

    def add(self, result: QueueResult, profile: ServiceProfile, requests_per_unit: float) -> None:
        """Record one tick in which a unit-weight pod completed ``requests_per_unit`` requests."""
        n = requests_per_unit
        if n <= 0:
            return
        tokens = n * max(profile.generation_tokens - 1.0, 0.0)  # inter-token gaps per request
        parts = (
            ("e2e", result.e2e, n), ("ttft", result.ttft, n), ("itl", result.itl, tokens),
            ("queue", result.wait, n),
        )
        values = self.values
        for name, dist, count in parts:
            start, end = SPANS[name]
            for i, c in enumerate(cumulative_counts(dist, BOUNDS[name], count), start):
                values[i] += c
            values[end] += count * dist.mean
        values[PROMPT_AT] += n * profile.prompt_tokens
        values[GENERATION_AT] += n * profile.generation_tokens


@dataclass(slots=True)
class PodCounters:
    """One vLLM process's counters, as offsets into its Deployment's accumulator.

    ``frozen`` holds the per-unit values while the pod is out of service (not Ready), so its counters
    stand still and carry on when it is Ready again; a new container starts a new PodCounters.
    """

    weight: float
    offset: list[float] | None = None
    frozen: list[float] | None = None

    def join(self, acc: DeploymentAccumulator) -> None:
        if self.offset is not None:
            return
        if self.frozen is None:
            self.offset = acc.values.copy()
        else:
            self.offset = [a - f for a, f in zip(acc.values, self.frozen, strict=True)]
            self.frozen = None

    def leave(self, acc: DeploymentAccumulator) -> None:
        if self.offset is not None:
            self.frozen = [a - o for a, o in zip(acc.values, self.offset, strict=True)]
            self.offset = None

    def sample(
        self, acc: DeploymentAccumulator, model_name: str, namespace: str, pod: str,
        running: float, waiting: float, kv_cache_perc: float,
    ) -> VllmPodSample:
        """The pod's /metrics values now."""
        w = self.weight
        if self.offset is not None:
            # int() truncates: a whole number of requests, and a tiny negative rounding error becomes 0.
            v = [w * (a - o) for a, o in zip(acc.values, self.offset, strict=True)]
        else:
            v = [w * f for f in self.frozen or _ZEROS]
        counts = [int(x) for x in v]
        e2e, ttft, itl, queue = (
            Histogram(BOUNDS[name], counts[start:end], max(v[end], 0.0))
            for name, (start, end) in SPANS.items()
        )
        return VllmPodSample(
            model_name, namespace, pod, running, waiting, kv_cache_perc, e2e, ttft, itl, queue,
            counts[PROMPT_AT], counts[GENERATION_AT],
        )
