"""``llmctl status``: one consistent read of the cluster service, as a table or JSON."""

from __future__ import annotations

import argparse
import contextlib
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from console.cli.common import OUTPUTS, STRUCTURED, dump, positive

if TYPE_CHECKING:

    from console.config import Settings
    from console.core.model import ClusterSnapshot
    from console.kube.cluster import ClusterService

WANTED = frozenset({"nodes", "deployments", "gpu-pods"})


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    status = sub.add_parser("status", parents=[common], help="GPU nodes and Deployments, once")
    status.add_argument("-A", "--all-namespaces", action="store_true",
                        help="every namespace's Deployments (as kubectl -A; wins over -n)")
    status.add_argument("-o", "--output", choices=OUTPUTS, default="table")
    status.add_argument("--timeout", type=positive, default=20.0, help="seconds to wait for the cluster")
    status.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    from console import wiring
    from console.core.model import ConnState

    with wiring.session(settings) as services:
        if args.all_namespaces:
            services.cluster.retarget(services.access.context, None, all_namespaces=True)
        snap = asyncio.run(collect_status(services.cluster, args.timeout))
    print(format_status(snap, args.output, every_namespace=args.all_namespaces))
    return 0 if snap.connection.state is ConnState.CONNECTED and not snap.problems else 1


async def collect_status(service: ClusterService, timeout: float) -> ClusterSnapshot:
    """Run the service until nodes, deployments and the GPU index are listed (or it fails)."""
    import asyncio

    from console.core.model import ClusterSnapshot, ConnState

    changed = asyncio.Event()
    task = asyncio.create_task(service.run(changed.set))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    snap = service.snapshot()
    try:
        while loop.time() < deadline and not task.done():
            snap = service.snapshot()
            if snap.synced >= WANTED or snap.connection.state in (ConnState.ERROR, ConnState.FORBIDDEN):
                break
            if snap.problems and {"nodes", "deployments"} <= (snap.synced | {p for p, _ in snap.problems}):
                break
            changed.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(changed.wait(), max(0.05, deadline - loop.time()))
        snap = service.snapshot()
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    if snap.connection.state is ConnState.CONNECTING:
        snap = ClusterSnapshot(**{**snap.__dict__, "connection": type(snap.connection)(
            ConnState.DISCONNECTED, f"no answer from the API server within {timeout:g}s")})
    return snap


def format_status(snap: ClusterSnapshot, output: str, every_namespace: bool = False) -> str:
    if output in STRUCTURED:
        data = asdict(snap)
        data["synced"] = sorted(snap.synced)
        data["problems"] = [{"resource": r, "message": m} for r, m in snap.problems]
        for node, row in zip(data["nodes"], snap.nodes, strict=True):
            node["free"] = row.free
        return dump(data, output)
    from rich.console import Console
    from rich.table import Table

    console = Console(width=160, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
    namespace = "all" if every_namespace else snap.namespace
    head = f"context {snap.context}  namespace {namespace}  {snap.connection.state.value}"
    if snap.connection.message:
        head += f": {snap.connection.message}"
    console.print(head + ("  [SANDBOX]" if snap.sandbox else ""))
    nodes = Table("NODE", "READY", "PRODUCT", "DRIVER", "CUDA", "GPUS", "ALLOCATED", "FREE", box=None)
    for n in snap.nodes:
        nodes.add_row(n.name, "Ready" if n.ready else "NotReady", n.product or "-", n.driver or "-",
                      n.cuda or "-", str(n.allocatable), "?" if n.allocated is None else str(n.allocated),
                      "?" if n.free is None else str(n.free))
    console.print(nodes)
    deps = Table(*(("NAMESPACE",) if every_namespace else ()), "DEPLOYMENT", "READY", "UP-TO-DATE", "AVAILABLE",
                 "GPUS", "REV", "IMAGE", box=None)
    for d in snap.deployments:
        deps.add_row(*((d.namespace,) if every_namespace else ()), d.name, f"{d.ready}/{d.desired}", str(d.updated),
                     str(d.available), str(d.gpus_total), d.revision or "-", d.image)
    console.print(deps)
    for resource, message in snap.problems:
        console.print(f"{resource}: {message}")
    return console.export_text().rstrip()
