"""The console's figures on a big cluster (printed, not asserted; ``./dev bench``), issue 16:

- watch event → screen: a pod created through the API until its row is on ``:pods``, 20 times, with 500 pods in
  the namespace (the large scenario: 250 nodes × 8 GPUs, ~10,000 pods, 500 a namespace), and the console's CPU
  per event;
- key → screen while events stream: cursor moves on ``:pods`` while pods are created and deleted meanwhile;
- idle CPU: the console's CPU share over 60 s on the dashboard and on ``:pods`` with nobody typing;
- start-up: ``llmctl --version``, ``--help``, ``render`` (CPU and wall of the process), the TUI's first frame and
  its data on screen (a fresh process), ``llmctl status -o json`` against kubectl's CPU on the default sandbox.

The sandboxes run in their own processes (``llmctl sandbox``), and so does the operator who writes meanwhile
(tests/bench/writer.py), so the console's figures are its own.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.bench.processes import ROOT, child, sandbox_process
from tests.bench.writer import Writer
from tests.conftest import current_kubectl

pytestmark = pytest.mark.bench

NS = "llm-prod"  # a namespace of the large scenario: 500 pods


@pytest.fixture(scope="module")
def large() -> Iterator[str]:
    yield from sandbox_process("--scenario", "large")


@pytest.fixture(scope="module")
def small() -> Iterator[str]:
    yield from sandbox_process()


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def _pods_screen(kubeconfig: str, tmp_path: Path, every_namespace: bool = False) -> Any:
    from console.config import Settings
    from console.kube.cluster import KubeClusterService
    from tests.ui.helpers import console_app

    service = KubeClusterService(kubeconfig, namespace=NS)
    service.all_namespaces = every_namespace  # as `0` / `:ns all` sets it: all ~10,000 pods on :pods
    return console_app(service, Settings(audit_log=str(tmp_path / "audit")))


def _drawn(table: Any, row: str | int, cursor: bool = False) -> bool:
    """Whether a row (its key, or its index) has been drawn into a frame — with the cursor on it if ``cursor`` — as
    the ResourceTable keeps each row's drawn line (screens/widgets/table.py)."""
    from textual.widgets.data_table import RowKey

    key = table._row_locations.get_key(row) if isinstance(row, int) else RowKey(row)
    kept = table._strips.get(key)
    return kept is not None and (not cursor or kept[0][2] == "row")


@pytest.mark.parametrize("view", ["namespace", "all namespaces"])
def test_watch_event_to_screen_and_keys_while_events_stream(large: str, tmp_path: Path, view: str) -> None:
    """A namespace of 500 pods, and every namespace (~10,000 pods in one table: the issue's "10,000 pods in one
    namespace" as the console shows them)."""
    from textual.widgets import DataTable

    from tests.ui.helpers import burst, wait_for

    write = Writer(large)  # another operator, in a process of its own: its CPU is not the console's
    every = view == "all namespaces"
    ns = "0bench" if every else NS  # its pods sort first: drawn on screen, and they move every row below
    write("namespace", ns)
    latencies: list[float] = []  # the pod's watch event reached the console → its row drawn
    created: list[float] = []  # the create request sent → its row drawn (the sandbox's own delay included)
    keys: list[float] = []
    cpu_per_event = 0.0
    shown = 0
    loading: dict[str, float] = {}

    async def run() -> None:
        nonlocal cpu_per_event, shown
        t0 = time.perf_counter()
        app = await _pods_screen(large, tmp_path, every)
        async with app.run_test(size=(180, 50)) as pilot:
            loading["first frame"] = time.perf_counter() - t0
            deployments = app.screen.query_one("#deployments", DataTable)
            await wait_for(pilot, lambda: deployments.row_count > 0, timeout=120, what="deployments listed")
            loading["data on screen"] = time.perf_counter() - t0
            await wait_for(pilot, lambda: any(n.allocated is not None for n in app.snapshot.nodes), timeout=300,
                           what="GPU columns filled")  # the cluster-wide GPU pod index is in
            loading["GPU columns filled"] = time.perf_counter() - t0
            await app.switch_mode("pods")
            table = app.screen.query_one("#all-pods", DataTable)
            await wait_for(pilot, lambda: table.row_count >= (9000 if every else 400), timeout=300, what="pods listed")
            await pilot.pause(1.0)
            shown = table.row_count
            cpu0 = time.process_time()
            store = app.services.cluster._reflectors["pods"].items  # the console's watch store of the namespace
            for i in range(20):
                name = f"0bench-{i:02d}-{os.getpid()}"  # sorts first: drawn on screen, and moves every row below
                t0 = time.perf_counter()
                await asyncio.to_thread(write, "create", ns, name)
                arrived = polled = None
                key = f"{ns}/{name}" if every else name
                while not _drawn(table, key):  # not Pilot's pause: it makes every widget answer a callback
                    assert time.perf_counter() - t0 < 30, f"{name} never drawn"
                    if arrived is None and f"{ns}/{name}" in store:
                        arrived = polled
                    polled = time.perf_counter()
                    await asyncio.sleep(0.002)
                drawn = time.perf_counter()
                created.append(drawn - t0)
                latencies.append(drawn - (arrived or polled or t0))  # from the last look before it was in the store
            cpu_per_event = (time.process_time() - cpu0) / 20
            # Keys while events stream: pods created and deleted every 50 ms meanwhile.
            write("churn", NS)
            table.focus()
            await pilot.pause(0.5)
            try:
                for i in range(30):
                    before = table.cursor_row
                    t0 = time.perf_counter()
                    burst(app, "down" if i % 2 == 0 else "up")  # as the terminal delivers it
                    while table.cursor_row == before or not _drawn(table, table.cursor_row, cursor=True):
                        assert time.perf_counter() - t0 < 30, "the cursor never moved"
                        await asyncio.sleep(0.002)
                    keys.append(time.perf_counter() - t0)
                    await asyncio.sleep(0.05)
            finally:
                write("stop")

    try:
        asyncio.run(run())
    finally:
        for i in range(20):
            write("delete", ns, f"0bench-{i:02d}-{os.getpid()}")
        write.close()
    print(f"\nlarge scenario, {view}, dashboard (in-process, imports done): " +
          ", ".join(f"{what} {seconds:.2f} s" for what, seconds in loading.items()))
    print(f"watch event → :pods row drawn ({shown} pods shown): p50 {statistics.median(latencies) * 1000:.0f} ms, "
          f"p95 {_pct(latencies, 0.95) * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms; "
          f"console CPU {cpu_per_event * 1000:.0f} ms per pod created (its events: added, scheduled, running, ready)")
    print(f"pod create request → :pods row drawn: p50 {statistics.median(created) * 1000:.0f} ms, "
          f"p95 {_pct(created, 0.95) * 1000:.0f} ms")
    print(f"key → cursor moved while events stream: p50 {statistics.median(keys) * 1000:.0f} ms, "
          f"p95 {_pct(keys, 0.95) * 1000:.0f} ms, max {max(keys) * 1000:.0f} ms")


def test_idle_cpu_on_the_dashboard_and_pods(large: str, tmp_path: Path) -> None:
    """The console's CPU share while nobody types (the large scenario's simulator still moves HPAs and pod metrics,
    as a live cluster does), over 60 s on the dashboard and 60 s on :pods (the issue's window)."""
    from textual.widgets import DataTable

    from tests.ui.helpers import wait_for

    shares: dict[str, float] = {}

    async def run() -> None:
        app = await _pods_screen(large, tmp_path)
        async with app.run_test(size=(180, 50)) as pilot:
            deployments = app.screen.query_one("#deployments", DataTable)
            await wait_for(pilot, lambda: deployments.row_count > 0, timeout=120, what="deployments listed")
            await wait_for(pilot, lambda: any(n.allocated is not None for n in app.snapshot.nodes), timeout=300,
                           what="GPU columns filled")
            for mode in ("dashboard", "pods"):
                await app.switch_mode(mode)
                await asyncio.sleep(5)  # settled
                cpu0, t0 = time.process_time(), time.perf_counter()
                await asyncio.sleep(60)  # no Pilot polling meanwhile: the app's own work only
                shares[mode] = (time.process_time() - cpu0) / (time.perf_counter() - t0)

    asyncio.run(run())
    print("\nidle CPU (large scenario, one core = 100 %): " +
          ", ".join(f"{mode} {share * 100:.1f} %" for mode, share in shares.items()))


FIRST_FRAME = """
import time
t0 = time.perf_counter()
import asyncio, json, sys
from textual.widgets import DataTable
from console.config import Settings
from console.kube.cluster import KubeClusterService
from tests.ui.helpers import console_app

async def main():
    app = console_app(KubeClusterService(sys.argv[1]), Settings(audit_log=sys.argv[2]))
    async with app.run_test(size=(160, 45)) as pilot:
        first = time.perf_counter() - t0
        table = app.screen.query_one("#deployments", DataTable)
        while not table.row_count:
            await pilot.pause(0.01)
        print(json.dumps({"first": first, "data": time.perf_counter() - t0}))

asyncio.run(main())
"""


def test_startup_figures(small: str, tmp_path: Path) -> None:
    llmctl = [sys.executable, "-m", "console"]
    floor = child([sys.executable, "-c", "pass"])
    version = child([*llmctl, "--version"])
    helped = child([*llmctl, "--help"])
    render = child([*llmctl, "render", "-f", "manifests/values.example.yaml"])
    status = child([*llmctl, "--kubeconfig", small, "status", "-o", "json"])
    # What the official client alone costs before a request: its kubernetes.aio config loaders and ApiClient, imported
    # the way the console imports them (console/kube/official.py). The console's floor for any command that talks to
    # a cluster while it uses them.
    official = child([sys.executable, "-c", "from console.kube.official import kubernetes_aio; kubernetes_aio()"])
    kubectl = child([current_kubectl(), "--kubeconfig", small, "get", "nodes,deployments,pods,hpa", "-A", "-o",
                      "json"])
    frames = []
    for _ in range(3):
        out = subprocess.run([sys.executable, "-c", FIRST_FRAME, small, str(tmp_path / "audit")], cwd=ROOT,
                             capture_output=True, text=True, timeout=120, check=True)
        frames.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(f"\nbare python: CPU {floor[0]:.2f} s, wall {floor[1]:.2f} s")
    for what, (cpu, wall) in (("llmctl --version", version), ("llmctl --help", helped), ("llmctl render", render),
                              ("llmctl status -o json (small sandbox)", status),
                              ("the official kubernetes.aio loaders + ApiClient imported, nothing else", official),
                              ("kubectl get nodes,deployments,pods,hpa -A -o json", kubectl)):
        print(f"{what}: CPU {cpu:.2f} s, wall {wall:.2f} s")
    without = status[0] - official[0] + floor[0]
    print(f"llmctl status / kubectl CPU: {status[0] / kubectl[0]:.1f}× (the official client's import alone: "
          f"{official[0] / kubectl[0]:.1f}×; the status without it: {without / kubectl[0]:.1f}×)")
    print(f"TUI first frame {statistics.median(f['first'] for f in frames):.2f} s, "
          f"data on screen {statistics.median(f['data'] for f in frames):.2f} s (a fresh process, small sandbox)")
