"""Pod logs through the pods/log API of a fresh sandbox: the last N lines, follow, the previous container
of a crash-looping pod (its CUDA error), and the API's own words for what cannot be read."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from console.kube import logs
from console.kube.transport import KubeTransport
from console.sandbox.faultcli import send_fault
from console.sandbox.server import SandboxThread
from tests.actions.conftest import ADMIN, DEP, NS

CONTAINER = "inference"


async def pods_of(transport: KubeTransport) -> list[dict[str, Any]]:
    return (await transport.get(f"/api/v1/namespaces/{NS}/pods", [("labelSelector", "app=claude")]))["items"]


async def test_tail_follow_and_errors(sb: SandboxThread) -> None:
    transport = await KubeTransport.connect(sb.info.kubeconfig, ADMIN)
    try:
        pod = (await pods_of(transport))[0]["metadata"]["name"]
        everything = await logs.read(transport, NS, pod, lines=None)
        assert len(everything) >= 3
        assert await logs.read(transport, NS, pod, CONTAINER, lines=2) == everything[-2:]
        assert await logs.read(transport, NS, pod, lines=0) == []

        follow = logs.tail(transport, NS, pod, lines=1, follow=True)
        assert await asyncio.wait_for(anext(follow), 5) == everything[-1]
        for i in range(3):
            sb.loop.call_soon_threadsafe(sb.ctx.logs.append, NS, pod, CONTAINER, f"request {i} done")
        seen = [await asyncio.wait_for(anext(follow), 5) for _ in range(3)]
        await follow.aclose()
        assert seen == ["request 0 done", "request 1 done", "request 2 done"]

        with pytest.raises(logs.LogError, match='pods "ghost" not found') as err:
            await logs.read(transport, NS, "ghost")
        assert err.value.code == 404
        with pytest.raises(logs.LogError, match=f"container nope is not valid for pod {pod}"):
            await logs.read(transport, NS, pod, "nope")
        with pytest.raises(logs.LogError, match=f'previous terminated container "{CONTAINER}" in pod "{pod}" not'):
            await logs.read(transport, NS, pod, previous=True)
        with pytest.raises(logs.LogError, match="cannot be followed"):
            await anext(logs.tail(transport, NS, pod, previous=True, follow=True))
    finally:
        await transport.close()


async def test_previous_container_of_a_crash_looping_pod(sb: SandboxThread) -> None:
    assert await asyncio.to_thread(send_fault, "cuda-too-new", DEP, sb.info.kubeconfig) == 0
    transport = await KubeTransport.connect(sb.info.kubeconfig, ADMIN)
    try:
        deadline = time.monotonic() + 30
        last_words: list[str] = []
        while not last_words:  # restarted at least once: its previous run's log is kept
            assert time.monotonic() < deadline, "no container restarted"
            for p in await pods_of(transport):
                if any(cs.get("restartCount") for cs in p["status"].get("containerStatuses") or []):
                    try:
                        last_words = await logs.read(transport, NS, p["metadata"]["name"], previous=True)
                    except logs.LogError as exc:  # crashed, not restarted yet (back-off)
                        assert exc.code == 400 and "previous terminated container" in exc.message
            await asyncio.sleep(0.1)
        hits = logs.search(last_words, "cuda error")
        assert hits and "RuntimeError: CUDA error: CUDA driver version is insufficient" in last_words[hits[-1]]
    finally:
        await transport.close()
