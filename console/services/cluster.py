"""The cluster service: watch-driven state of GPU nodes and workloads for the console.

Reads come from reflectors (list once, then watch), scoped to the selected namespace; the GPU
allocation index (which pods hold GPUs on which node) is the one cluster-wide pod watch, started
only after the namespace's own data has arrived, and kept as tiny projections.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any, Protocol

from console.model import ClusterSnapshot, Connection, ConnState, DeploymentRow, GpuNode

from .kube import KubeError, KubeTarget, KubeTransport, read_kubeconfig_target
from .reflector import Reflector

GPU = "nvidia.com/gpu"


class ClusterService(Protocol):
    """What screens may ask of the cluster (implemented by :class:`KubeClusterService`)."""

    async def run(self, notify: Callable[[], None]) -> None:
        """Keep state in step with the cluster until cancelled; call ``notify`` after each change."""

    def snapshot(self) -> ClusterSnapshot:
        """The current state (cheap; call it from the UI thread on each notification)."""


def _int(value: Any) -> int:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return 0


def gpus_of_pod_spec(spec: dict[str, Any]) -> int:
    """GPUs a pod asks for: the sum of container limits (GPUs are limits-only resources)."""
    total = 0
    for c in spec.get("containers") or []:
        res = c.get("resources") or {}
        total += _int((res.get("limits") or {}).get(GPU) or (res.get("requests") or {}).get(GPU))
    return total


def project_gpu_pod(pod: dict[str, Any]) -> tuple[str, int] | None:
    """What the allocation index keeps of a pod: (node, GPUs) while it holds them, else None."""
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    if status.get("phase") in ("Succeeded", "Failed") or not spec.get("nodeName"):
        return None
    gpus = gpus_of_pod_spec(spec)
    return (spec["nodeName"], gpus) if gpus else None


def node_row(node: dict[str, Any], allocated: int | None) -> GpuNode:
    meta, status = node.get("metadata") or {}, node.get("status") or {}
    labels = meta.get("labels") or {}

    def label(key: str) -> str:
        return labels.get(f"nvidia.com/{key}", "")

    driver = ".".join(p for p in (label("cuda.driver.major"), label("cuda.driver.minor"),
                                  label("cuda.driver.rev")) if p)
    cuda = ".".join(p for p in (label("cuda.runtime.major"), label("cuda.runtime.minor")) if p)
    compute = ".".join(p for p in (label("gpu.compute.major"), label("gpu.compute.minor")) if p)
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])
    memory = label("gpu.memory")
    return GpuNode(
        name=meta.get("name", ""),
        product=label("gpu.product"),
        driver=driver,
        cuda=cuda,
        compute=compute,
        gpu_memory_mib=int(memory) if memory.isdigit() else None,
        allocatable=_int((status.get("allocatable") or {}).get(GPU)),
        allocated=allocated,
        ready=ready,
        unschedulable=bool((node.get("spec") or {}).get("unschedulable")),
    )


def deployment_row(dep: dict[str, Any]) -> DeploymentRow:
    meta, spec, status = dep.get("metadata") or {}, dep.get("spec") or {}, dep.get("status") or {}
    pod_spec = (spec.get("template") or {}).get("spec") or {}
    containers = pod_spec.get("containers") or []
    return DeploymentRow(
        namespace=meta.get("namespace", ""),
        name=meta.get("name", ""),
        desired=_int(spec.get("replicas", 1)),
        ready=_int(status.get("readyReplicas")),
        updated=_int(status.get("updatedReplicas")),
        available=_int(status.get("availableReplicas")),
        image=containers[0].get("image", "") if containers else "",
        gpus_per_replica=gpus_of_pod_spec(pod_spec),
        revision=(meta.get("annotations") or {}).get("deployment.kubernetes.io/revision", ""),
        created=meta.get("creationTimestamp", ""),
    )


def _describe(exc: KubeError, resource: str, namespace: str | None) -> str:
    where = f" in {namespace}" if namespace else " cluster-wide"
    if exc.code == 403:
        return f"no permission to list {resource}{where}"
    if exc.code == 401:
        return "not authorised: the kubeconfig's credentials were rejected"
    return exc.message


class KubeClusterService:
    """Watch-driven :class:`ClusterService` over the official Kubernetes client."""

    def __init__(
        self,
        kubeconfig: str | None = None,
        context: str | None = None,
        namespace: str | None = None,
        sandbox: bool = False,
        prepare: Callable[[], str] | None = None,
    ) -> None:
        self.kubeconfig = kubeconfig
        self.context = context
        self.namespace = namespace
        self.sandbox = sandbox
        self._prepare = prepare  # blocking; returns a kubeconfig path (e.g. waits for the sandbox)
        self._target: KubeTarget | None = None
        self._transport: KubeTransport | None = None
        self._reflectors: dict[str, Reflector] = {}
        self._fatal: str | None = None
        self._notify: Callable[[], None] = lambda: None

    # ---- lifecycle ------------------------------------------------------------------------------
    async def run(self, notify: Callable[[], None]) -> None:
        self._notify = notify
        try:
            await self._connect()
        except KubeError as exc:
            self._fatal = exc.message
            notify()
            return
        ns = self.namespace or ""
        t = self._transport
        assert t is not None
        self._reflectors = {
            "nodes": Reflector(t, "/api/v1/nodes", "nodes", self._changed),
            "deployments": Reflector(t, f"/apis/apps/v1/namespaces/{ns}/deployments", "deployments",
                                     self._changed),
        }
        gpu_pods = Reflector(t, "/api/v1/pods", "pods", self._changed, project=project_gpu_pod,
                             field_selector="status.phase!=Succeeded,status.phase!=Failed")
        tasks = [asyncio.create_task(r.run(), name=f"reflector-{k}") for k, r in self._reflectors.items()]
        try:
            # The cluster-wide GPU pod index waits until the namespace's own data is in.
            while not all(r.synced or r.error for r in self._reflectors.values()):
                await asyncio.sleep(0.05)
            self._reflectors["gpu-pods"] = gpu_pods
            tasks.append(asyncio.create_task(gpu_pods.run(), name="reflector-gpu-pods"))
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            await self.close()

    async def _connect(self) -> None:
        if self._prepare is not None:
            self.kubeconfig = await asyncio.to_thread(self._prepare)
        self._target = await asyncio.to_thread(read_kubeconfig_target, self.kubeconfig, self.context)
        if not self.namespace:
            self.namespace = self._target.namespace
        self._notify()
        try:
            self._transport = await KubeTransport.connect(self.kubeconfig, self.context)
        except KubeError:
            raise
        except Exception as exc:  # the client's own config errors
            raise KubeError(0, "BadKubeconfig", f"cannot load kubeconfig: {exc}") from None

    async def close(self) -> None:
        if self._transport is not None:
            with contextlib.suppress(Exception):
                await self._transport.close()
            self._transport = None

    def _changed(self, _reflector: Reflector) -> None:
        self._notify()

    # ---- state ----------------------------------------------------------------------------------
    def _connection(self) -> Connection:
        if self._fatal:
            return Connection(ConnState.ERROR, self._fatal)
        core = [self._reflectors[k] for k in ("nodes", "deployments") if k in self._reflectors]
        last_ok = max((r.last_ok for r in core if r.last_ok), default=None)
        broken = [r for r in core if r.error is not None]
        if not core or (not any(r.synced for r in core) and not broken):
            return Connection(ConnState.CONNECTING, "connecting…", last_ok)
        unreachable = [r for r in broken if r.error and r.error.unreachable]
        if unreachable:
            return Connection(ConnState.DISCONNECTED, unreachable[0].error.message, last_ok)  # type: ignore[union-attr]
        if broken and all(r.error and r.error.code in (401, 403) for r in broken) and len(broken) == len(core):
            return Connection(ConnState.FORBIDDEN, "no permission to read the cluster", last_ok)
        return Connection(ConnState.CONNECTED, "", last_ok)

    def snapshot(self) -> ClusterSnapshot:
        target = self._target
        refl = self._reflectors
        problems = []
        for name, r in refl.items():
            if r.error is not None:
                scope = None if name in ("nodes", "gpu-pods") else self.namespace
                problems.append((name, _describe(r.error, r.resource, scope)))
        alloc: dict[str, int] | None = None
        gpu_pods = refl.get("gpu-pods")
        if gpu_pods is not None and gpu_pods.synced:
            alloc = {}
            for entry in gpu_pods.items.values():
                if entry is not None:
                    alloc[entry[0]] = alloc.get(entry[0], 0) + entry[1]
        nodes = refl.get("nodes")
        node_rows = tuple(
            sorted(
                (node_row(n, None if alloc is None else alloc.get(n["metadata"]["name"], 0))
                 for n in (nodes.items.values() if nodes else ())),
                key=lambda n: n.name,
            )
        )
        deps = refl.get("deployments")
        dep_rows = tuple(sorted((deployment_row(d) for d in (deps.items.values() if deps else ())),
                                key=lambda d: (d.namespace, d.name)))
        return ClusterSnapshot(
            connection=self._connection(),
            context=target.context if target else (self.context or ""),
            user=target.user if target else "",
            server=target.server if target else "",
            namespace=self.namespace or "",
            sandbox=self.sandbox,
            nodes=node_rows,
            deployments=dep_rows,
            synced=frozenset(k for k, r in refl.items() if r.synced),
            problems=tuple(problems),
        )

    def age(self) -> float | None:
        """Seconds since the last successful read or event, or None before the first."""
        last = self._connection().last_ok
        return None if last is None else time.time() - last
