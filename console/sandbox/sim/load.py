"""The simulation loop: offered load per serving Deployment, its queue, and what pods and GPUs show.

Once per simulated second (``clock.sleep(1.0)``) it re-reads what changed in the store, groups the
Ready GPU pods by Deployment (see :mod:`.index`), runs each Deployment's M/M/c queue
(:mod:`.queueing`), spreads the result over its pods by their traffic weight, and recomputes GPU
memory and per-GPU figures (:mod:`.gpu`). Work per tick is O(GPU pods + GPUs); nothing runs
between ticks. Everything random comes from one generator seeded from ``ctx.rng``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

from ..context import SandboxContext
from .figures import DeploymentFigures, GpuFigures, PodFigures, VllmPodSample
from .gpu import LEAK_MIB_PER_S, GpuFleet, leak_ceiling_mib, pod_memory_mib
from .histograms import DeploymentAccumulator, PodCounters
from .index import ClusterIndex, DeploymentInfo, PodInfo
from .queueing import MU_PER_REPLICA, Z95, Z99, ServiceProfile, step

log = logging.getLogger(__name__)

LATENCY_SPIKE = "latency-spike"
GPU_MEMORY_LEAK = "gpu-memory-leak"
DEFAULT_FAULT_TARGET = "claude-inference"
SPIKE_SLOWDOWN = 6.0  # latency-spike: every request takes 6× longer (p99 ≈ 1.8 s ≫ 500 ms)
KV_TOKENS = 4096.0  # tokens one replica's KV cache holds (A10G, ~2 GiB pool)
# A healthy start: every pool well inside the 500 ms p99 SLO (under the built-in rule's 450 ms clear line at
# the noise's peaks), so a newcomer sees a healthy cluster and only a fault or more load makes it unhealthy:
# claude-inference 2 replicas at ρ ≈ 0.41 (GPU ≈ 41 %, under the HPA's 60 target; p99 ≈ 360 ms, < 420 ms);
# the one-replica pools lightly loaded, as one replica queues far more than two (M/M/3 vs M/M/6): short
# prompts at ρ ≈ 0.2 (p99 ≈ 320 ms), long prompts — prefill-heavy, 0.6 μ — at ρ ≈ 0.14 (p99 ≈ 320 ms).
# More load (annotation sandbox.llmctl.dev/qps, e.g. the article's 23.5) or a fault tips it over;
# latency-spike takes claude-inference to p99 ≈ 1.7 s.
BASE_QPS = {  # the scenario's workload only, not a namesake elsewhere
    ("llm", "claude-inference"): 12.0,
    ("llm", "claude-short-queue"): 3.0,
    ("llm", "claude-long-queue"): 1.2,
}
UNKNOWN_LOAD = 0.2  # other Deployments get a fifth of their initial replicas' capacity: p99 < 500 ms on one
PROFILES = {
    "short": ServiceProfile(service_p50_s=0.16, ttft_p50_s=0.06, prompt_tokens=60.0),
    # Long prompts (≥ 256 chars): prefill-heavy, so a longer TTFT and less throughput per replica.
    "long": ServiceProfile(capacity_qps=MU_PER_REPLICA * 0.6, service_p50_s=0.22, ttft_p50_s=0.12,
                           prompt_tokens=900.0),
}
DEFAULT_PROFILE = ServiceProfile()


@dataclass(slots=True)
class _PodState:
    info: PodInfo
    fig: PodFigures
    counters: PodCounters
    group: tuple[str, str] | None = None
    loading_s: float = 0.0
    loaded: bool = False
    restarts: int = 0


@dataclass(slots=True)
class _DeploymentState:
    fig: DeploymentFigures
    profile: ServiceProfile
    acc: DeploymentAccumulator = field(default_factory=DeploymentAccumulator)
    backlog: float = 0.0
    noise: float = 0.0
    pinned_qps: float | None = None
    members: list[_PodState] = field(default_factory=list)


def _profile(name: str, info: DeploymentInfo | None) -> ServiceProfile:
    pool = info.pool if info is not None else None
    if pool is None:
        pool = "long" if name.endswith("-long-queue") else "short" if name.endswith("-short-queue") else None
    return PROFILES.get(pool or "", DEFAULT_PROFILE)


class Simulation:
    """Request load, queueing and GPU memory for the sandbox (the ``Simulation`` protocol)."""

    def __init__(self, ctx: SandboxContext) -> None:
        self.ctx = ctx
        self._rng = random.Random(ctx.rng.getrandbits(64))  # own stream: controllers' draws don't shift it
        self.index = ClusterIndex(ctx.store, ctx.catalog, ctx.config.gpu_product)
        self.fleet = GpuFleet(self._rng)
        self._pods: dict[tuple[str, str], _PodState] = {}
        self._deps: dict[tuple[str, str], _DeploymentState] = {}
        self._overrides: dict[tuple[str, str], float] = {}
        self._task: asyncio.Task[None] | None = None
        self.version = 0  # ticks so far; exporters cache their text per version
        self.extra_load: Callable[[tuple[str, str]], float] | None = None  # real requests/s (sandbox/serving.py)
        self.sim_seconds = 0.0

    # ---- lifecycle ------------------------------------------------------------------------------
    def start(self) -> None:
        """Start ticking on the running loop."""
        self.ctx.sim = self
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="sandbox-simulation")

    async def stop(self) -> None:
        """Cancel the tick task; the figures keep their last values."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        clock = self.ctx.clock
        last = clock.sim_elapsed()
        while True:
            await clock.sleep(1.0)
            now = clock.sim_elapsed()
            dt, last = min(max(now - last, 0.0), 5.0), now  # a stalled loop must not dump minutes at once
            try:
                self.tick(dt)
            except Exception:  # one bad object must not stop the metrics
                log.exception("simulation tick failed")

    # ---- the tick -------------------------------------------------------------------------------
    def tick(self, dt: float = 1.0) -> None:
        """Advance the simulation by ``dt`` simulated seconds (tests call this directly)."""
        if self.index.refresh():
            self._sync()
        spike = self._fault_target(LATENCY_SPIKE)
        leak = self._fault_target(GPU_MEMORY_LEAK)
        for dep in self._deps.values():
            dep.members.clear()
            dep.fig.loading = 0
        for st in self._pods.values():
            self._classify(st, dt)
        for key, dep in self._deps.items():
            self._run_queue(key, dep, dt, spike is not None and _matches(spike, key))
            active = ((LATENCY_SPIKE, spike), (GPU_MEMORY_LEAK, leak))
            dep.fig.faults = tuple(kind for kind, target in active if target and _matches(target, key))
        for st in self._pods.values():
            self._memory(st, dt, leak is not None and st.group is not None and _matches(leak, st.group))
        self.fleet.update((st.fig for st in self._pods.values()), dt)
        self.version += 1
        self.sim_seconds += dt

    def _sync(self) -> None:
        """Follow index changes: new pods, replaced pods (same name, new uid), gone pods, new groups."""
        index = self.index
        pods = self._pods
        for key in [k for k in pods if k not in index.pods]:
            del pods[key]
        for key, info in index.pods.items():
            st = pods.get(key)
            if st is None or st.info.uid != info.uid:
                fig = PodFigures(info.namespace, info.name, None, info.node, info.gpus, info.container)
                st = pods[key] = _PodState(info, fig, PodCounters(self._rng.uniform(0.93, 1.07)),
                                           restarts=info.restarts)
            st.info = info
            dep_name = index.deployment_of(info)
            group = (info.namespace, dep_name) if dep_name else None
            if group != st.group:  # counters are offsets into one Deployment's accumulator
                st.group, st.counters = group, PodCounters(st.counters.weight)
            st.fig.deployment, st.fig.node, st.fig.gpus = dep_name, info.node, info.gpus
            if st.group is not None and st.group not in self._deps:
                profile = _profile(dep_name or "", index.deployments.get(st.group))
                self._deps[st.group] = _DeploymentState(DeploymentFigures(*st.group), profile)
        live = {st.group for st in pods.values()}
        for key in [k for k in self._deps if k not in live]:
            del self._deps[key]
        self.fleet.sync(index.nodes)

    def _classify(self, st: _PodState, dt: float) -> None:
        info, fig = st.info, st.fig
        dep = self._deps.get(st.group) if st.group is not None else None
        if info.restarts != st.restarts:  # a new container: fresh process, fresh counters, no leak
            st.restarts, st.loading_s, st.loaded, fig.leak_mib = info.restarts, 0.0, False, 0.0
            st.counters = PodCounters(st.counters.weight)
        if not info.running:
            state = "stopped"
            st.loading_s, st.loaded, fig.leak_mib = 0.0, False, 0.0
        elif info.ready and dep is not None:
            state = "serving"
            st.loaded = True
            dep.members.append(st)
            st.counters.join(dep.acc)
        elif info.ready:  # Ready but belongs to no Deployment we can name: holds memory, gets no traffic
            state, st.loaded = "loaded", True
        elif st.loaded:
            state = "loaded"
        else:
            state = "loading"
            st.loading_s += dt
            if dep is not None:
                dep.fig.loading += 1
        if state != "serving":
            if fig.state == "serving" and dep is not None:
                st.counters.leave(dep.acc)
            fig.qps = fig.running = fig.waiting = fig.kv_cache_perc = fig.cpu_percent = fig.gpu_util = 0.0
        fig.state = state

    def _offered_qps(self, key: tuple[str, str], dep: _DeploymentState) -> float:
        if key in self._overrides:
            return self._overrides[key]
        info = self.index.deployments.get(key)
        if info is not None and info.qps is not None:
            return info.qps
        if key in BASE_QPS:
            return BASE_QPS[key]
        if dep.pinned_qps is None:  # pinned at first sight so scaling out does not raise the load
            replicas = max(info.replicas if info is not None else 0, len(dep.members), 1)
            dep.pinned_qps = UNKNOWN_LOAD * dep.profile.capacity_qps * replicas
        return dep.pinned_qps

    def _run_queue(self, key: tuple[str, str], dep: _DeploymentState, dt: float, spiked: bool) -> None:
        fig, members = dep.fig, dep.members
        fig.replicas = len(members)
        offered = self._offered_qps(key, dep)
        dep.noise = 0.8 * dep.noise + self._rng.gauss(0.0, 0.03)  # AR(1): ~5 % wander, seconds-long
        fig.offered_qps = offered * max(0.0, 1.0 + dep.noise)
        if self.extra_load is not None:  # requests sent to the pods through the API server's proxy
            fig.offered_qps += self.extra_load(key)
        if not members:  # nothing Ready: the Service has no endpoints, requests fail fast
            dep.backlog = 0.0
            fig.qps = fig.rho = fig.running = fig.waiting = fig.kv_cache_perc = 0.0
            fig.rejected_qps = fig.offered_qps
            fig.p50_s = fig.p95_s = fig.p99_s = fig.ttft_p50_s = fig.ttft_p95_s = fig.ttft_p99_s = None
            fig.queue_p99_s = fig.itl_p50_s = None
            return
        profile = dep.profile
        r = step(profile, fig.offered_qps, len(members), dep.backlog, dt, SPIKE_SLOWDOWN if spiked else 1.0)
        dep.backlog = r.backlog
        total_w = sum(st.counters.weight for st in members)
        dep.acc.add(r, profile, r.served_qps * dt / total_w)
        fig.qps, fig.rejected_qps, fig.rho = r.served_qps, r.rejected_qps, r.rho
        fig.running, fig.waiting = r.running, r.waiting
        fig.p50_s, fig.p95_s, fig.p99_s = r.e2e.median, r.e2e.quantile(Z95), r.e2e.quantile(Z99)
        fig.ttft_p50_s, fig.ttft_p95_s, fig.ttft_p99_s = r.ttft.median, r.ttft.quantile(Z95), r.ttft.quantile(Z99)
        fig.queue_p99_s, fig.itl_p50_s = r.wait.quantile(0.99), r.itl.median
        kv_per_request = (profile.prompt_tokens + profile.generation_tokens) / KV_TOKENS
        rnd = self._rng.random
        kv_sum = 0.0
        for st in members:
            pf, share = st.fig, st.counters.weight / total_w
            pf.qps, pf.running, pf.waiting = r.served_qps * share, r.running * share, r.waiting * share
            pf.kv_cache_perc = min(0.99, pf.running * kv_per_request)
            kv_sum += pf.kv_cache_perc
            load = pf.qps / profile.capacity_qps
            pf.gpu_util = min(100.0, max(0.0, 100.0 * min(load, 1.0) * (1.0 + (rnd() - 0.5) * 0.06)))
            # CPU (tokenising, HTTP, scheduling) tracks the load; ~74 % of request at ρ = 0.8.
            pf.cpu_percent = max(1.0, (10.0 + 80.0 * min(load, 1.25)) * (1.0 + (rnd() - 0.5) * 0.08))
        fig.kv_cache_perc = kv_sum / len(members)

    def _memory(self, st: _PodState, dt: float, leaking: bool) -> None:
        fig, info = st.fig, st.info
        if leaking and fig.state in ("serving", "loaded"):
            node = self.index.nodes.get(info.node)
            total = node.memory_mib if node is not None else 0.0
            held = pod_memory_mib(fig.state, info.model_mib, st.loading_s, fig.kv_cache_perc, 0.0)
            ceiling = leak_ceiling_mib(total, len(info.gpus), held)
            fig.leak_mib = max(fig.leak_mib, min(fig.leak_mib + LEAK_MIB_PER_S * dt, ceiling))
        fig.fb_used_mib = pod_memory_mib(fig.state, info.model_mib, st.loading_s, fig.kv_cache_perc,
                                         fig.leak_mib)

    def _fault_target(self, kind: str) -> tuple[str | None, str] | None:
        target = self.ctx.faults.target(kind)
        if target is None:
            return None
        ns, _, name = (target or DEFAULT_FAULT_TARGET).rpartition("/")
        return (ns or None, name)

    # ---- reads ----------------------------------------------------------------------------------
    def set_offered_qps(self, namespace: str, deployment: str, qps: float | None) -> None:
        """Override a Deployment's offered load (None: back to annotation / default)."""
        if qps is None:
            self._overrides.pop((namespace, deployment), None)
        else:
            self._overrides[(namespace, deployment)] = max(0.0, qps)

    def pod_utilisation(self, namespace: str, pod: str) -> tuple[float, float] | None:
        """(CPU % of request, GPU utilisation %) of a serving pod, or None when it is not serving."""
        st = self._pods.get((namespace, pod))
        if st is None or st.fig.state != "serving":
            return None
        return st.fig.cpu_percent, st.fig.gpu_util

    def serving_pod(self, namespace: str, pod: str) -> tuple[DeploymentFigures, ServiceProfile] | None:
        """The Deployment figures and profile behind a serving pod (None when the pod is not serving)."""
        st = self._pods.get((namespace, pod))
        if st is None or st.fig.state != "serving" or st.group is None or st.group not in self._deps:
            return None
        dep = self._deps[st.group]
        return dep.fig, dep.profile

    def deployment(self, namespace: str, name: str) -> DeploymentFigures | None:
        """One Deployment's live figures (None if it has no GPU pods); copy values you keep."""
        dep = self._deps.get((namespace, name))
        return dep.fig if dep is not None else None

    def deployments(self) -> list[DeploymentFigures]:
        """Every Deployment with at least one GPU pod (live records)."""
        return [d.fig for d in self._deps.values()]

    def pods(self) -> list[PodFigures]:
        """Every GPU pod (any state)."""
        return [st.fig for st in self._pods.values()]

    def gpus(self) -> list[GpuFigures]:
        """Every GPU of every GPU node, including NotReady nodes (``node_ready`` False)."""
        return list(self.fleet.gpus.values())

    def vllm_samples(self) -> list[VllmPodSample]:
        """What each serving pod's vLLM /metrics would show now."""
        out = []
        for st in self._pods.values():
            fig = st.fig
            if fig.state != "serving" or st.group is None:
                continue
            dep = self._deps[st.group]
            out.append(st.counters.sample(dep.acc, st.group[1], fig.namespace, fig.name,
                                          fig.running, fig.waiting, fig.kv_cache_perc))
        return out

    def snapshot(self) -> dict[str, Any]:
        """All current figures as plain data: {tick, sim_seconds, deployments, pods, gpus}."""
        gpus = []
        for g in self.fleet.gpus.values():
            rec = _record(g)
            rec["pods"] = [list(p) for p in g.pods]
            rec["free_mib"], rec["used_percent"] = g.free_mib, g.used_percent
            gpus.append(rec)
        pods = []
        for st in self._pods.values():
            rec = _record(st.fig)
            rec["gpus"] = list(st.fig.gpus)
            pods.append(rec)
        deps = []
        for d in self._deps.values():
            rec = _record(d.fig)
            rec["faults"] = list(d.fig.faults)
            deps.append(rec)
        return {"tick": self.version, "sim_seconds": self.sim_seconds, "deployments": deps, "pods": pods,
                "gpus": gpus}


def _matches(target: tuple[str | None, str], key: tuple[str, str]) -> bool:
    return target[1] == key[1] and (target[0] is None or target[0] == key[0])


_FIELDS: dict[type, tuple[str, ...]] = {}


def _record(obj: Any) -> dict[str, Any]:
    names = _FIELDS.get(type(obj))
    if names is None:
        names = _FIELDS[type(obj)] = tuple(f.name for f in fields(obj))
    return {n: getattr(obj, n) for n in names}
