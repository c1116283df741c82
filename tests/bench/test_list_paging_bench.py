"""The sandbox API server's CPU for a paged LIST of every pod (what ``llmctl status`` and kubectl send:
``limit=500`` and ``continue``), against one plain LIST of the same pods, at 1k, 10k and 20k pods; and a
field-selected LIST (``spec.nodeName``: a node's pods) and a label-selected one. Printed, not asserted
(``./dev bench``).

The API server runs on its own loop thread, seeded through the store (no controllers), so the CPU
measured is that thread's (``time.thread_time`` on the loop): the server's work only, not the client's.
"""

from __future__ import annotations

import json
import time
import urllib.request
from typing import Any

import pytest

from tests.sandbox.conftest import ApiServer, pod

pytestmark = pytest.mark.bench

NAMESPACES = 20
NODES = 250
PAGE = 500


def _seed(server: ApiServer, count: int) -> None:
    def seed() -> None:
        store = server.ctx.store
        for n in range(NAMESPACES):
            store.create("namespaces", {"metadata": {"name": f"ns-{n:02d}"}, "status": {"phase": "Active"}})
        for i in range(count):
            p = pod(f"model-{i % 37:02d}-{i:05d}", node=f"node-{i % NODES:03d}",
                    labels={"app": f"model-{i % 37:02d}", "pod-template-hash": "5d4f8c9b7"})
            meta = p["metadata"]
            meta["namespace"] = f"ns-{i % NAMESPACES:02d}"
            meta["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "model-5d4f8c9b7",
                                        "uid": "0b6c8f8e-1111-4c3e-9d55-6f0f2a1b2c3d", "controller": True,
                                        "blockOwnerDeletion": True}]
            meta["annotations"] = {"prometheus.io/scrape": "true", "prometheus.io/port": "8000"}
            p["status"]["conditions"] = [{"type": t, "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"}
                                         for t in ("PodScheduled", "Initialized", "ContainersReady", "Ready")]
            p["status"]["podIP"] = f"10.{i // 65536}.{i // 256 % 256}.{i % 256}"
            store.create("pods", p)
    server.run(_as_coro(seed), timeout=600)


async def _as_coro(fn: Any) -> Any:
    return fn()


class Client:
    def __init__(self, server: ApiServer) -> None:
        self.server = server
        self.token = server.auth.admin_token

    def get(self, path: str) -> Any:
        req = urllib.request.Request(self.server.url + path, headers={"Authorization": f"Bearer {self.token}"})
        with urllib.request.urlopen(req, timeout=300) as resp:
            return json.loads(resp.read())

    def server_cpu(self) -> float:
        return self.server.call(time.thread_time)

    def measure(self, fn: Any, repeat: int = 3) -> tuple[float, float, Any]:
        """(server CPU s, wall s, result), the median of ``repeat`` runs."""
        runs = []
        for _ in range(repeat):
            cpu0, wall0 = self.server_cpu(), time.perf_counter()
            result = fn()
            runs.append((self.server_cpu() - cpu0, time.perf_counter() - wall0, result))
        runs.sort(key=lambda r: r[0])
        return runs[len(runs) // 2]

    def paged(self, path: str, sep: str = "?") -> list[dict]:
        items: list[dict] = []
        cont = ""
        while True:
            answer = self.get(f"{path}{sep}limit={PAGE}" + (f"&continue={cont}" if cont else ""))
            items += answer["items"]
            cont = answer["metadata"].get("continue") or ""
            if not cont:
                return items


@pytest.mark.parametrize("count", [1_000, 10_000, 20_000])
def test_paged_list_cpu(count: int) -> None:
    server = ApiServer().start()
    try:
        _seed(server, count)
        client = Client(server)
        plain_cpu, plain_wall, plain = client.measure(lambda: client.get("/api/v1/pods")["items"])
        paged_cpu, paged_wall, paged = client.measure(lambda: client.paged("/api/v1/pods"))
        assert len(plain) == len(paged) == count  # a figure about the wrong list would mean nothing
        node_cpu, _, on_node = client.measure(
            lambda: client.paged("/api/v1/pods?fieldSelector=spec.nodeName%3Dnode-007", "&"))
        label_cpu, _, labelled = client.measure(
            lambda: client.paged("/api/v1/namespaces/ns-03/pods?labelSelector=app%3Dmodel-05", "&"))
    finally:
        server.stop()
    print(f"\n{count:>6} pods: sandbox CPU, one plain LIST {plain_cpu:.3f} s (wall {plain_wall:.2f} s); "
          f"paged LIST (limit={PAGE}, {-(-count // PAGE)} pages) {paged_cpu:.3f} s (wall {paged_wall:.2f} s) = "
          f"{paged_cpu / plain_cpu:.2f}× the plain LIST")
    print(f"        fieldSelector spec.nodeName ({len(on_node)} pods) {node_cpu * 1000:.1f} ms; "
          f"labelSelector app= in one namespace ({len(labelled)} pods) {label_cpu * 1000:.1f} ms")
