"""``llmctl loadtest`` against the sandbox: the achieved rate, the p99 it measures against the sandbox's own vLLM
exporter histogram over the same window, and ``--find-max``'s shape (the rate under the 500 ms line grows
with replicas). Real parts: the sandbox API server's service proxy, the console's kube transport, the
exporter's /metrics over HTTP."""

from __future__ import annotations

import asyncio
import math
import re
import time
import urllib.request

import pytest

from console.kube.access import KubeAccess
from console.sandbox.server import SandboxThread
from console.serving.client import ServingClient, parse_service
from console.serving.loadtest import LoadPlan, LoadRun, find_max, prompt_mix
from tests.serving.conftest import Cluster

SERVICE = "claude-inference"
_BUCKET = re.compile(r'^vllm:e2e_request_latency_seconds_bucket\{model_name="([^"]+)",[^}]*le="([^"]+)"\} (\S+)$')


def e2e_buckets(url: str, model: str) -> dict[float, float]:
    """The exporter's e2e latency histogram of one model, summed over its pods: le → cumulative count."""
    text = urllib.request.urlopen(url, timeout=5).read().decode()
    out: dict[float, float] = {}
    for line in text.splitlines():
        m = _BUCKET.match(line)
        if m and m.group(1) == model:
            le = math.inf if m.group(2) == "+Inf" else float(m.group(2))
            out[le] = out.get(le, 0.0) + float(m.group(3))
    return out


def histogram_quantile(q: float, buckets: dict[float, float]) -> float:
    """Prometheus's histogram_quantile over cumulative buckets (linear inside the bucket)."""
    bounds = sorted(buckets)
    total = buckets[math.inf]
    rank = q * total
    prev_bound, prev_count = 0.0, 0.0
    for b in bounds:
        if buckets[b] >= rank:
            if b == math.inf:
                return prev_bound
            return prev_bound + (b - prev_bound) * (rank - prev_count) / (buckets[b] - prev_count)
        prev_bound, prev_count = b, buckets[b]
    return bounds[-2]


def scale(thread: SandboxThread, replicas: int, hpa: bool = False) -> None:
    """Hold claude-inference at ``replicas`` Ready pods (the HPA removed, so only the load changes)."""
    def change() -> None:
        store = thread.ctx.store
        if not hpa and store.try_get("horizontalpodautoscalers", "llm", "claude-hpa") is not None:
            store.delete("horizontalpodautoscalers", "llm", "claude-hpa")
        dep = store.get("deployments", "llm", SERVICE)
        store.replace("deployments", {**dep, "spec": {**dep["spec"], "replicas": replicas}})

    thread.call(change)
    time.sleep(0.5)  # let the scale start: the figures still show the old replicas for a tick
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        figs = thread.call(lambda: thread.ctx.sim.deployment("llm", SERVICE))
        pods = thread.call(lambda: len(thread.ctx.store.list("pods", "llm", "app=claude")))
        if figs is not None and figs.replicas == replicas == pods:  # settled: no pod still terminating
            time.sleep(0.5)
            return
        time.sleep(0.05)
    raise AssertionError(f"{SERVICE} never reached {replicas} serving replicas")


async def connect(cluster: Cluster) -> ServingClient:
    _, transport = await KubeAccess(cluster.kubeconfig).connect()
    client = ServingClient(transport, parse_service(SERVICE, "llm"))
    await client.resolve()
    return client


def test_the_hpa_scales_out_under_the_load(serving_sandbox: tuple[SandboxThread, Cluster]) -> None:
    """Load sent through the proxy is load the HPA sees: 25 QPS on top of the scenario's 12 overloads two
    replicas, GPU utilisation passes the HPA's 60 target, and it scales claude-inference out."""
    thread, cluster = serving_sandbox

    def replicas() -> int:
        return thread.call(lambda: thread.ctx.store.get("deployments", "llm", SERVICE)["spec"]["replicas"])

    assert replicas() == 2

    async def go() -> dict:
        client = await connect(cluster)
        try:
            return await LoadRun(client, LoadPlan(qps=25, duration_s=5.0, prompts=prompt_mix(1, 0))).run()
        finally:
            await client.transport.close()

    result = asyncio.run(go())
    # The open loop sends each request when due; on a 2-core machine busy with other tests its wake-ups can come
    # late enough that the last ones fall past the 5 s window (CI saw 22.2): what was sent is what it reports.
    assert 25 * 0.8 <= result["summary"]["achieved_qps"] <= 25 * 1.05
    assert replicas() > 2


def bucketed(latencies: list[float], bounds: list[float]) -> dict[float, float]:
    """Measured latencies counted into the exporter's cumulative buckets."""
    return {b: float(sum(1 for v in latencies if v <= b)) for b in bounds}


def test_open_loop_rate_and_p99_agree_with_the_exporter(serving_sandbox: tuple[SandboxThread, Cluster]) -> None:
    """50 QPS for 6 s: the rate is kept each second; the p99 the generator measures agrees with the exporter's
    histogram over the same window (read with the same buckets, as Prometheus's histogram_quantile reads it),
    and with the queueing model's own p99 over the window (the exporter's buckets are 0.3/0.5/0.8 s wide, so its
    histogram_quantile alone cannot resolve a p99 inside one to ±20 %)."""
    thread, cluster = serving_sandbox
    scale(thread, 6)
    model_p99: list[float] = []

    async def watch_model(stop: asyncio.Event) -> None:
        while not stop.is_set():
            fig = await asyncio.to_thread(thread.call, lambda: thread.ctx.sim.deployment("llm", SERVICE))
            if fig is not None and fig.p99_s is not None:
                model_p99.append(fig.p99_s)
            await asyncio.sleep(0.1)

    async def go() -> tuple[dict, LoadRun, dict]:
        client = await connect(cluster)
        stop = asyncio.Event()
        try:
            await client.chat("warm up the connection pool")
            before = await asyncio.to_thread(e2e_buckets, thread.info.vllm, SERVICE)
            watcher = asyncio.get_running_loop().create_task(watch_model(stop))
            run = LoadRun(client, LoadPlan(qps=50, duration_s=6.0, prompts=prompt_mix(1, 0)))
            result = await run.run()
            stop.set()
            await watcher
            after = await asyncio.to_thread(e2e_buckets, thread.info.vllm, SERVICE)
        finally:
            await client.transport.close()
        return result, run, {le: after[le] - before.get(le, 0.0) for le in after}

    result, run, exporter = asyncio.run(go())
    s = result["summary"]
    assert s["errors"] == 0 and s["requests"] + s["not_sent"] == 300 and s["not_sent"] <= 5
    assert abs(s["achieved_qps"] - 50) <= 2.5, s["achieved_qps"]
    seconds = result["per_second"]
    assert [row["qps"] for row in seconds][1:-1] == pytest.approx([50] * (len(seconds) - 2), abs=5)
    assert exporter[math.inf] > 0 and len(s["pods"]) == 6  # the Service spread the load over every replica
    measured = bucketed([r.latency_s for r in run.replies if r.ok], sorted(exporter))
    from_exporter, from_generator = histogram_quantile(0.99, exporter), histogram_quantile(0.99, measured)
    assert from_generator == pytest.approx(from_exporter, rel=0.2), (from_generator, from_exporter)
    model = sorted(model_p99)[len(model_p99) // 2]
    assert s["latency_s"]["p99"] == pytest.approx(model, rel=0.2), (s["latency_s"]["p99"], model)


def test_find_max_grows_with_replicas(serving_sandbox: tuple[SandboxThread, Cluster]) -> None:
    thread, cluster = serving_sandbox
    base = LoadPlan(qps=2, duration_s=2.0, prompts=prompt_mix(1, 0))
    found = {}
    for replicas in (2, 4):
        scale(thread, replicas)

        async def go() -> dict:
            client = await connect(cluster)
            try:
                return await find_max(client, base, 0.5, start_qps=2, factor=2.0, refine=2)
            finally:
                await client.transport.close()

        found[replicas] = asyncio.run(go())["find_max"]
    two, four = found[2], found[4]
    for fm in (two, four):
        assert fm["max_qps"] is not None and fm["first_over_qps"] is not None, fm
        assert all(s["p99_s"] < 0.5 for s in fm["steps"] if s["under"])
        assert any(s["p99_s"] >= 0.5 for s in fm["steps"] if not s["under"])
    assert four["max_qps"] > 1.5 * two["max_qps"], (two, four)
    assert {s["replicas"] for s in two["steps"]} == {2} and {s["replicas"] for s in four["steps"]} == {4}
