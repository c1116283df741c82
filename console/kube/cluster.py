"""The cluster service: watch-driven state of GPU nodes and workloads for the console.

Reads come from reflectors (list once, then watch), scoped to the selected namespace; the GPU
allocation index (which pods hold GPUs on which node) is the one cluster-wide pod watch, started
only after the namespace's own data has arrived, and kept as tiny projections.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

from console.alerts.model import Alert, cluster_alerts
from console.core.gpus import project_gpu_pod
from console.core.model import ClusterSnapshot, Connection, ConnState, DeploymentDetail, HpaRow, PodRow
from console.core.rollout import revision_history, rollout_verdict
from console.kube.access import KubeAccess
from console.kube.errors import KubeError, KubeTarget
from console.kube.kubeconfig import read_kubeconfig_target
from console.kube.pods import pod_tombstone
from console.kube.reflector import Reflector
from console.kube.rows import deployment_row, event_row, hpa_row, node_row, pod_may_alert, pod_row
from console.kube.transport import KubeTransport

REPLACED_PODS = "replaced-pods"  # raw(): tombstones of deleted pods whose containers had failed
GONE_FOR_S = 3600.0  # kept for an hour (the API server keeps events that long by default)
GONE_MAX = 500


class ClusterService(Protocol):
    """What screens may ask of the cluster (implemented by :class:`KubeClusterService`)."""

    access: KubeAccess  # which cluster: every other service on it connects through the same kubeconfig and context

    async def run(self, notify: Callable[[], None]) -> None:
        """Keep state in step with the cluster until cancelled; call ``notify`` after each change."""

    def snapshot(self) -> ClusterSnapshot:
        """The current state (cheap; call it from the UI thread on each notification)."""

    def deployment_detail(self, name: str) -> DeploymentDetail | None:
        """Pods, revisions, events and HPA of one Deployment of the namespace."""

    def pods(self) -> tuple[PodRow, ...]:
        """Every pod of the namespace."""

    def hpas(self) -> tuple[HpaRow, ...]:
        """Every HorizontalPodAutoscaler of the namespace."""

    def alerts(self) -> list[Alert]:
        """Alerts derived from the watched objects (OOMKilled, CrashLoopBackOff, NotReady, ...)."""

    def raw(self, resource: str) -> list[dict[str, Any]]:
        """The watched objects of one resource ("pods", "events", "replicasets", ...) as raw JSON."""

    @property
    def transport(self) -> KubeTransport | None:
        """The watches' connection (for one-off reads such as pod logs) once connected, else None."""

    def retarget(self, context: str | None, namespace: str | None, all_namespaces: bool = False) -> None:
        """Watch another context and/or namespace from the next :meth:`run` on (the caller restarts it)."""


def _describe(exc: KubeError, resource: str, namespace: str | None) -> str:
    where = f" in {namespace}" if namespace else " cluster-wide"
    if exc.code == 403:
        return f"no permission to list {resource}{where}"
    return exc.message  # a 401 says which credential failed (see console.kube.transport)


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
        self.access = KubeAccess(kubeconfig, context, prepare)  # shared with every other service on this cluster
        self.namespace = namespace
        self.all_namespaces = False  # watch every namespace (k9s's `0`); the snapshot's namespace is then ""
        self.sandbox = sandbox
        self._target: KubeTarget | None = None
        self._transport: KubeTransport | None = None
        self._reflectors: dict[str, Reflector] = {}
        self._gone: deque[tuple[float, dict[str, Any]]] = deque(maxlen=GONE_MAX)  # (time, tombstone) of deleted pods
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
        scope = "" if self.all_namespaces else f"/namespaces/{self.namespace or ''}"
        t = self._transport
        assert t is not None
        self._reflectors = reflectors = {
            "nodes": Reflector(t, "/api/v1/nodes", "nodes", self._changed),
            "deployments": Reflector(t, f"/apis/apps/v1{scope}/deployments", "deployments", self._changed),
            "horizontalpodautoscalers": Reflector(
                t, f"/apis/autoscaling/v2{scope}/horizontalpodautoscalers", "horizontalpodautoscalers",
                self._changed),
            "replicasets": Reflector(t, f"/apis/apps/v1{scope}/replicasets", "replicasets", self._changed),
            "pods": Reflector(t, f"/api/v1{scope}/pods", "pods", self._changed, on_delete=self._pod_gone),
            "events": Reflector(t, f"/api/v1{scope}/events", "events", self._changed),
        }
        gpu_pods = Reflector(t, "/api/v1/pods", "pods", self._changed, project=project_gpu_pod,
                             field_selector="status.phase!=Succeeded,status.phase!=Failed")
        tasks = [asyncio.create_task(r.run(), name=f"reflector-{k}") for k, r in reflectors.items()]
        try:
            # The cluster-wide GPU pod index waits until the namespace's own data is in.
            while not all(r.synced or r.error for k, r in reflectors.items() if k in ("nodes", "deployments")):
                await asyncio.sleep(0.05)
            reflectors["gpu-pods"] = gpu_pods
            tasks.append(asyncio.create_task(gpu_pods.run(), name="reflector-gpu-pods"))
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            with contextlib.suppress(Exception):  # this run's connection (a retarget may have made a new one)
                await t.close()
            if self._transport is t:
                self._transport = None

    def retarget(self, context: str | None, namespace: str | None, all_namespaces: bool = False) -> None:
        """Watch another context and/or namespace from the next :meth:`run` on; the state of the old target is
        dropped at once (the app cancels the running watches and starts them again). ``namespace`` None: the
        context's own namespace."""
        self.access.context = context
        self.namespace = namespace
        self.all_namespaces = all_namespaces
        self._target = None
        self._fatal = None
        self._reflectors = {}
        self._gone.clear()
    async def _connect(self) -> None:
        kubeconfig = await self.access.resolve()
        self._target = await asyncio.to_thread(read_kubeconfig_target, kubeconfig, self.access.context)
        if not self.namespace and not self.all_namespaces:
            self.namespace = self._target.namespace
        self._notify()
        try:
            self._transport = await KubeTransport.connect(kubeconfig, self.access.context)
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
        unauthorized = [r.error for r in broken if r.error and r.error.code == 401]
        if unauthorized:  # no credential works (rejected token, failing exec plugin): say which, plainly
            return Connection(ConnState.ERROR, unauthorized[0].message, last_ok)
        if broken and all(r.error and r.error.code == 403 for r in broken) and len(broken) == len(core):
            return Connection(ConnState.FORBIDDEN, "no permission to read the cluster", last_ok)
        return Connection(ConnState.CONNECTED, "", last_ok)

    def snapshot(self) -> ClusterSnapshot:
        target = self._target
        refl = self._reflectors
        problems = []
        for name, r in refl.items():
            if r.error is not None:
                scope = None if name in ("nodes", "gpu-pods") or self.all_namespaces else self.namespace
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
        hpas = self._hpas_by_target()
        dep_rows = tuple(sorted((deployment_row(d, hpas.get(d["metadata"]["name"]))
                                 for d in (deps.items.values() if deps else ())),
                                key=lambda d: (d.namespace, d.name)))
        return ClusterSnapshot(
            connection=self._connection(),
            context=target.context if target else (self.access.context or ""),
            user=target.user if target else "",
            server=target.server if target else "",
            namespace="" if self.all_namespaces else (self.namespace or ""),
            sandbox=self.sandbox,
            nodes=node_rows,
            deployments=dep_rows,
            synced=frozenset(k for k, r in refl.items() if r.synced),
            problems=tuple(problems),
        )

    def _items(self, resource: str) -> list[dict[str, Any]]:
        r = self._reflectors.get(resource)
        return list(r.items.values()) if r is not None else []

    def _hpas_by_target(self) -> dict[str, HpaRow]:
        rows = [hpa_row(h) for h in self._items("horizontalpodautoscalers")]
        return {r.target: r for r in rows}

    def hpas(self) -> tuple[HpaRow, ...]:
        return tuple(sorted((hpa_row(h) for h in self._items("horizontalpodautoscalers")), key=lambda r: r.name))

    def alerts(self) -> list[Alert]:
        """Cluster-derived alerts from the watch store: the namespace's pods and Deployments, every node."""
        # Only the pods that can alert at all are examined (per pod version): a redraw's work follows the few
        # troubled pods, not every pod of the namespace.
        pods = [p for p in self._items("pods") if pod_may_alert(p)]
        return cluster_alerts(pods, self._items("deployments"), self._items("nodes"))

    @property
    def transport(self) -> KubeTransport | None:
        """The connection the watches use (for one-off reads such as pod logs), once connected."""
        return self._transport

    def raw(self, resource: str) -> list[dict[str, Any]]:
        """The watched objects of one resource ("pods", "events", "replicasets", ...) as raw JSON;
        "replaced-pods": what is left of the failed containers of pods deleted in the last hour."""
        if resource == REPLACED_PODS:
            horizon = time.time() - GONE_FOR_S
            return [pod for at, pod in self._gone if at >= horizon]
        return self._items(resource)

    def _pod_gone(self, pod: dict[str, Any]) -> None:
        tombstone = pod_tombstone(pod)  # only pods whose containers were OOMKilled or failed are worth keeping
        if tombstone is not None:
            self._gone.append((time.time(), tombstone))

    def pods(self) -> tuple[PodRow, ...]:
        """Every pod of the namespace (the :pods view)."""
        return tuple(sorted((pod_row(p) for p in self._items("pods")), key=lambda r: r.name))

    def deployment_detail(self, name: str) -> DeploymentDetail | None:
        """Pods, revisions, recent events and HPA of one Deployment of the namespace."""
        dep = next((d for d in self._items("deployments") if d["metadata"]["name"] == name), None)
        if dep is None:
            return None
        uid = dep["metadata"]["uid"]
        rss = [rs for rs in self._items("replicasets")
               if any(o.get("uid") == uid for o in rs["metadata"].get("ownerReferences") or [])]
        rs_uids = {rs["metadata"]["uid"] for rs in rss}
        pods = [p for p in self._items("pods")
                if any(o.get("uid") in rs_uids for o in p["metadata"].get("ownerReferences") or [])]
        hpa = self._hpas_by_target().get(name)
        involved = {("Deployment", name)} | {("ReplicaSet", rs["metadata"]["name"]) for rs in rss} \
            | {("Pod", p["metadata"]["name"]) for p in pods}
        if hpa is not None:
            involved.add(("HorizontalPodAutoscaler", hpa.name))
        events = [event_row(e) for e in self._items("events")
                  if ((e.get("involvedObject") or {}).get("kind"), (e.get("involvedObject") or {}).get("name"))
                  in involved]
        events.sort(key=lambda e: e.last_seen, reverse=True)
        spec = dep.get("spec") or {}
        strategy = spec.get("strategy") or {}
        ru = strategy.get("rollingUpdate") or {}
        strategy_text = strategy.get("type", "RollingUpdate")
        if strategy_text == "RollingUpdate":
            strategy_text += f" maxSurge {ru.get('maxSurge', '25%')} maxUnavailable {ru.get('maxUnavailable', '25%')}"
        row = deployment_row(dep, hpa)
        return DeploymentDetail(
            row=row, verdict=rollout_verdict(dep), paused=bool(spec.get("paused")), strategy=strategy_text,
            pods=tuple(sorted((pod_row(p) for p in pods), key=lambda r: r.name)),
            revisions=tuple(revision_history(dep, rss)),
            events=tuple(events[:30]), hpa=hpa,
        )

    def age(self) -> float | None:
        """Seconds since the last successful read or event, or None before the first."""
        last = self._connection().last_ok
        return None if last is None else time.time() - last
