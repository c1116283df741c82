"""The load generator's own cost (printed, not asserted): CPU per 1,000 streamed chat requests and the QPS that
cost allows from one core, for llmctl's generator (console/serving over the kube transport's aiohttp session),
the ``openai`` package's async client and a plain aiohttp loop (the floor), in the same run against the same
sandbox; then open-loop runs at 100 and 200 QPS and how close the achieved rate came.

The sandbox runs in its own process (``llmctl sandbox``), so the CPU measured here (``time.process_time``) is
the generator's alone. Run with ``./dev bench`` or ``pytest -m bench tests/bench/test_bench_loadgen.py -s``.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from console.kube.access import KubeAccess
from console.serving.client import ServingClient, parse_service
from console.serving.loadtest import LoadPlan, LoadRun, prompt_mix

pytestmark = pytest.mark.bench

REQUESTS = 1000
CONCURRENCY = 64
SERVICE = "claude-inference"
PROMPT = "In one sentence: why does p99 latency matter?"


@pytest.fixture(scope="module")
def sandbox_process() -> Iterator[str]:
    """``llmctl sandbox`` in its own process, claude-inference at 8 replicas (so it keeps up); its kubeconfig."""
    folder = tempfile.mkdtemp(prefix="llmctl-bench-")
    kubeconfig = str(Path(folder) / "kubeconfig")
    proc = subprocess.Popen([sys.executable, "-m", "console", "sandbox", "--speed", "20", "--kubeconfig", kubeconfig],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("{") and json.loads(line).get("event") == "ready":
                break
        subprocess.run([sys.executable, "-m", "console", "--kubeconfig", kubeconfig, "hpa", "set", "claude-hpa",
                        "--min", "8", "--max", "8", "-n", "llm", "--yes"], capture_output=True, timeout=60, check=True)
        time.sleep(3)  # cold start of the new replicas at speed 20
        yield kubeconfig
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def _credentials(kubeconfig: str) -> tuple[str, str, ssl.SSLContext]:
    import base64

    doc = yaml.safe_load(Path(kubeconfig).read_text())
    cluster = doc["clusters"][0]["cluster"]
    ctx = ssl.create_default_context(cadata=base64.b64decode(cluster["certificate-authority-data"]).decode())
    token = next(u["user"]["token"] for u in doc["users"] if u["name"] == "sandbox-admin")
    return cluster["server"], token, ctx


async def _closed_loop(send: Callable[[], Awaitable[bool]], n: int, concurrency: int) -> tuple[float, float, int]:
    """(CPU seconds, wall seconds, failures) for ``n`` requests at ``concurrency``."""
    counter = iter(range(n))
    failures = 0

    async def worker() -> None:
        nonlocal failures
        for _ in counter:
            if not await send():
                failures += 1

    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.process_time() - cpu, time.perf_counter() - wall, failures


async def _llmctl(kubeconfig: str) -> tuple[float, float, int]:
    _, transport = await KubeAccess(kubeconfig).connect()
    client = ServingClient(transport, parse_service(SERVICE, "llm"))
    await client.resolve()
    try:
        async def send() -> bool:
            return (await client.chat(PROMPT, 64)).ok
        await _closed_loop(send, 50, 10)  # warm-up: connections, imports
        return await _closed_loop(send, REQUESTS, CONCURRENCY)
    finally:
        await transport.close()


async def _openai(kubeconfig: str) -> tuple[float, float, int]:
    import openai

    server, token, ctx = _credentials(kubeconfig)
    base = f"{server}/api/v1/namespaces/llm/services/{SERVICE}:8000/proxy/v1"
    client = openai.AsyncOpenAI(base_url=base, api_key=token, max_retries=0,
                                http_client=openai.DefaultAsyncHttpxClient(verify=ctx))
    try:
        async def send() -> bool:
            try:
                stream = await client.chat.completions.create(
                    model=SERVICE, messages=[{"role": "user", "content": PROMPT}], max_tokens=64, stream=True,
                    stream_options={"include_usage": True})
                async for _ in stream:
                    pass
                return True
            except openai.APIError:
                return False
        await _closed_loop(send, 50, 10)
        return await _closed_loop(send, REQUESTS, CONCURRENCY)
    finally:
        await client.close()


async def _aiohttp_floor(kubeconfig: str) -> tuple[float, float, int]:
    import aiohttp

    server, token, ctx = _credentials(kubeconfig)
    url = f"{server}/api/v1/namespaces/llm/services/{SERVICE}:8000/proxy/v1/chat/completions"
    body = json.dumps({"model": SERVICE, "messages": [{"role": "user", "content": PROMPT}], "max_tokens": 64,
                       "stream": True})
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx, limit=100)) as session:
        async def send() -> bool:
            async with session.post(url, data=body, headers=headers) as resp:
                async for _ in resp.content:  # read the stream, parse nothing: the floor
                    pass
                return resp.status == 200
        await _closed_loop(send, 50, 10)
        return await _closed_loop(send, REQUESTS, CONCURRENCY)


async def _open_loop(kubeconfig: str, qps: float, seconds: float) -> dict[str, Any]:
    _, transport = await KubeAccess(kubeconfig).connect()
    client = ServingClient(transport, parse_service(SERVICE, "llm"))
    await client.resolve()
    try:
        cpu = time.process_time()
        result = await LoadRun(client, LoadPlan(qps=qps, duration_s=seconds, prompts=prompt_mix(1, 0))).run()
        result["cpu_s"] = time.process_time() - cpu
        return result
    finally:
        await transport.close()


def test_generator_cost(sandbox_process: str) -> None:
    rows = []
    for name, measure in (("llmctl (kube transport, aiohttp)", _llmctl), ("openai AsyncOpenAI (httpx)", _openai),
                          ("plain aiohttp loop (floor)", _aiohttp_floor)):
        cpu, wall, failures = asyncio.run(measure(sandbox_process))
        rows.append((name, cpu, wall, failures))
    print(f"\nload generator cost, {REQUESTS} streamed chat requests at concurrency {CONCURRENCY} "
          "(sandbox in its own process):")
    print(f"  {'client':36} {'CPU s/1000 req':>15} {'max QPS/core':>13} {'wall QPS':>9} {'failed':>7}")
    for name, cpu, wall, failures in rows:
        per_k = cpu * 1000 / REQUESTS
        print(f"  {name:36} {per_k:15.2f} {1000 / per_k:13.0f} {REQUESTS / wall:9.0f} {failures:7d}")
    for qps in (100.0, 200.0):
        result = asyncio.run(_open_loop(sandbox_process, qps, 5.0))
        s = result["summary"]
        print(f"  open loop {qps:.0f} QPS for 5 s: achieved {s['achieved_qps']:.1f} QPS "
              f"({100 * (s['achieved_qps'] / qps - 1):+.1f} %), {s['errors']} errors, not sent {s['not_sent']}, "
              f"generator CPU {result['cpu_s']:.2f} s, p99 {s['latency_s']['p99']}")
