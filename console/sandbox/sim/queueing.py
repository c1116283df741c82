"""The request-load model: an M/M/c queue in front of a Deployment's vLLM replicas, in closed form.

Pure functions over plain numbers (no store, no clock), so the model is tested on its own.

Calibration, from the source article: a 4×A10G node serves 58.7 QPS, so one replica (one GPU) saturates
at μ ≈ 14.7 QPS; claude-inference is offered 23.5 QPS. A replica batches requests: by Little's law it
holds μ × S ≈ 14.7 × 0.2 ≈ 3 at saturation, so the queue has c = 3 servers per replica. With two
replicas ρ ≈ 0.8 and the wait pushes p99 to ~1 s, past the article's 500 ms scale-out line; with three,
ρ ≈ 0.53 and p99 falls back to ~0.4 s. The service time itself (no queueing) has p50 ≈ 0.18–0.21 s:
TTFT ~80 ms plus ~6 decode steps.

Latency distributions are lognormal, fitted to the model's p50 and p99, so histograms filled from them
give back (within bucket resolution) the quantiles the model states.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

MU_PER_REPLICA = 58.7 / 4  # QPS one replica serves at saturation (article: node QPS 58.7 on 4 GPUs)
Z95 = 1.6448536269514722
Z99 = 2.3263478740408408
_SQRT2 = math.sqrt(2.0)


@dataclass(frozen=True)
class ServiceProfile:
    """How one Deployment's requests behave when nothing queues (seconds, tokens per request)."""

    capacity_qps: float = MU_PER_REPLICA
    service_p50_s: float = 0.18
    service_sigma: float = 0.15
    ttft_p50_s: float = 0.08
    ttft_sigma: float = 0.25
    itl_p50_s: float = 0.016
    itl_sigma: float = 0.25
    prompt_tokens: float = 150.0
    generation_tokens: float = 7.0
    slots_per_replica: int = 3  # requests one replica runs at once at saturation (μ × S, Little's law)
    max_waiting_per_replica: int = 128  # beyond this the router rejects (vLLM max_num_seqs-like cap)
    batch_slowdown: float = 0.2  # decode slows by this fraction at full batch (ρ → 1)


@dataclass(frozen=True)
class LogNormal:
    """A latency distribution given by its median and log-space sigma."""

    median: float
    sigma: float

    @classmethod
    def fit(cls, p50: float, p99: float) -> LogNormal:
        """The lognormal with this p50 and p99 (p99 ≥ p50 > 0)."""
        p50 = max(p50, 1e-6)
        return cls(p50, max(math.log(max(p99, p50) / p50) / Z99, 1e-3))

    def quantile(self, z: float) -> float:
        """The quantile at standard-normal score ``z`` (0 → p50, Z99 → p99)."""
        return self.median * math.exp(self.sigma * z)

    def cdf(self, x: float) -> float:
        if x == math.inf:
            return 1.0
        if x <= 0:
            return 0.0
        return 0.5 * (1.0 + math.erf(math.log(x / self.median) / (self.sigma * _SQRT2)))

    @property
    def mean(self) -> float:
        return self.median * math.exp(self.sigma * self.sigma / 2)


@dataclass(frozen=True)
class WaitTime:
    """Queue wait: 0 with probability 1 − p_wait, else ``shift`` + Exp(rate) (M/M/c plus a backlog)."""

    p_wait: float
    rate: float
    shift: float = 0.0

    def quantile(self, q: float) -> float:
        tail = 1.0 - q
        if self.p_wait <= tail:
            return 0.0
        return self.shift + math.log(self.p_wait / tail) / self.rate

    def cdf(self, x: float) -> float:
        if x == math.inf:
            return 1.0
        if x < self.shift:
            return 0.0
        return 1.0 - self.p_wait * math.exp(-self.rate * (x - self.shift))

    @property
    def mean(self) -> float:
        return self.p_wait * (self.shift + 1.0 / self.rate)


@dataclass(frozen=True)
class QueueResult:
    """One tick of one Deployment's queue."""

    rho: float
    served_qps: float
    rejected_qps: float
    backlog: float  # requests queued beyond what the M/M/c steady state explains (overload)
    running: float
    waiting: float
    service: LogNormal
    e2e: LogNormal
    ttft: LogNormal
    itl: LogNormal
    wait: WaitTime


def erlang_c(servers: int, load: float) -> float:
    """Probability an arrival waits in an M/M/c queue with ``load`` = λ/μ Erlangs (load < servers).

    Uses the Erlang B recursion, which is numerically stable for thousands of servers.
    """
    if servers <= 0:
        return 1.0
    b = 1.0
    for k in range(1, servers + 1):
        b = load * b / (k + load * b)
    rho = load / servers
    return b / (1.0 - rho * (1.0 - b))


def step(
    profile: ServiceProfile,
    offered_qps: float,
    replicas: int,
    backlog: float,
    dt: float = 1.0,
    slowdown: float = 1.0,
) -> QueueResult:
    """Advance one Deployment's queue by ``dt`` seconds with ``replicas`` serving pods.

    ``slowdown`` multiplies every service time (the latency-spike fault). The backlog is the fluid
    excess of arrivals over capacity: it grows while ρ > 1, is capped at ``max_waiting_per_replica``
    per replica (the rest is rejected), and drains once capacity returns.
    """
    replicas = max(replicas, 1)
    dt = max(dt, 1e-6)
    cap = replicas * profile.capacity_qps
    rho = offered_qps / cap
    available = backlog + offered_qps * dt
    served = min(cap * dt, available)
    queued = available - served
    limit = profile.max_waiting_per_replica * replicas
    rejected = max(0.0, queued - limit)
    queued -= rejected

    if queued > 1e-9:  # overloaded or draining: everyone waits behind the backlog
        wait = WaitTime(1.0, max(cap - offered_qps, 0.05 * cap), queued / cap)
    else:
        queued = 0.0
        rho_ss = min(rho, 0.98)  # the closed form diverges at ρ = 1; the backlog takes over there
        servers = replicas * profile.slots_per_replica
        wait = WaitTime(erlang_c(servers, rho_ss * servers), cap * (1.0 - rho_ss))

    busy = 1.0 + profile.batch_slowdown * min(rho, 1.0)
    service = LogNormal(profile.service_p50_s * slowdown * busy, profile.service_sigma)
    ttft_base = LogNormal(profile.ttft_p50_s * slowdown * busy, profile.ttft_sigma)
    w50, w99 = wait.quantile(0.5), wait.quantile(0.99)
    # Quantiles of service + wait, added as if comonotonic: a slight overestimate, always ordered.
    e2e = LogNormal.fit(service.median + w50, service.quantile(Z99) + w99)
    ttft = LogNormal.fit(ttft_base.median + w50, ttft_base.quantile(Z99) + w99)
    itl = LogNormal(profile.itl_p50_s * slowdown * busy, profile.itl_sigma)

    served_qps = served / dt
    running = served_qps * service.mean  # Little's law
    waiting = queued if queued else offered_qps * wait.mean
    return QueueResult(rho, served_qps, rejected / dt, queued, running, waiting,
                       service, e2e, ttft, itl, wait)


def cumulative_counts(dist: LogNormal | WaitTime, bounds: tuple[float, ...], n: float) -> list[float]:
    """Expected cumulative bucket counts for ``n`` observations of ``dist`` (last bound is +Inf)."""
    return [n * dist.cdf(b) for b in bounds]
