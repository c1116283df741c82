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
from collections.abc import Callable, Hashable
from typing import Any, Protocol, TypeVar

from console.alerts.model import Alert, cluster_alerts
from console.core.gpus import project_gpu_pod
from console.core.model import (
    ClusterSnapshot,
    Connection,
    ConnState,
    DeploymentDetail,
    DeploymentRow,
    GpuNode,
    HpaRow,
    PodRow,
)
from console.core.rollout import revision_history, rollout_verdict
from console.kube.access import KubeAccess
from console.kube.errors import KubeError, KubeTarget
from console.kube.indexes import (
    Index,
    MultiIndex,
    Projected,
    RowChanges,
    SortedRows,
    Subset,
    Totals,
    involved_object,
    owner_uids,
)
from console.kube.kubeconfig import read_kubeconfig_target
from console.kube.pods import pod_tombstone
from console.kube.reflector import Reflector
from console.kube.rows import deployment_row, event_row, hpa_row, node_row, pod_may_alert, pod_row
from console.kube.transport import KubeTransport

REPLACED_PODS = "replaced-pods"  # raw(): tombstones of deleted pods whose containers had failed
GONE_FOR_S = 3600.0  # kept for an hour (the API server keeps events that long by default)
GONE_MAX = 500
NAMESPACED = ("deployments", "horizontalpodautoscalers", "replicasets", "pods", "events")  # watched per namespace
GPU_PODS = "gpu-pods"  # the cluster-wide GPU pod index (a reflector of its own unless every namespace is watched)
T = TypeVar("T")


class ClusterService(Protocol):
    """What screens may ask of the cluster (implemented by :class:`KubeClusterService`)."""

    access: KubeAccess  # which cluster: every other service on it connects through the same kubeconfig and context

    async def run(self, notify: Callable[[], None]) -> None:
        """Keep state in step with the cluster until cancelled; call ``notify`` after each change."""

    def snapshot(self) -> ClusterSnapshot:
        """The current state (cheap; call it from the UI thread on each notification)."""

    def deployment_detail(self, name: str, namespace: str | None = None) -> DeploymentDetail | None:
        """Pods, revisions, events and HPA of one Deployment of the namespace (with every namespace watched,
        ``namespace`` says whose: the same name may be in several)."""

    def pods(self) -> tuple[PodRow, ...]:
        """Every pod of the namespace."""

    def pod_changes(self, mark: object) -> RowChanges:
        """Every pod's row in order, and which changed since the read that returned ``mark`` (None: a first read)."""

    def hpas(self) -> tuple[HpaRow, ...]:
        """Every HorizontalPodAutoscaler of the namespace."""

    def alerts(self) -> list[Alert]:
        """Alerts derived from the watched objects (OOMKilled, CrashLoopBackOff, NotReady, ...)."""

    def raw(self, resource: str, namespace: str | None = None) -> list[dict[str, Any]]:
        """The watched objects of one resource ("pods", "events", "replicasets", ...) as raw JSON; with
        ``namespace``, only that namespace's."""

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
        self._views = _Views()
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
        self._views = v = _Views()
        if self.all_namespaces:
            v.by_namespace = {r: MultiIndex(namespace_of) for r in NAMESPACED}
        ns_index = v.by_namespace.get
        self._reflectors = reflectors = {
            "nodes": Reflector(t, "/api/v1/nodes", "nodes", self._changed),
            "deployments": Reflector(t, f"/apis/apps/v1{scope}/deployments", "deployments", self._changed,
                                     indexes=_present(ns_index("deployments"))),
            "horizontalpodautoscalers": Reflector(
                t, f"/apis/autoscaling/v2{scope}/horizontalpodautoscalers", "horizontalpodautoscalers",
                self._changed, indexes=_present(ns_index("horizontalpodautoscalers"))),
            "replicasets": Reflector(t, f"/apis/apps/v1{scope}/replicasets", "replicasets", self._changed,
                                     indexes=_present(v.rs_by_owner, ns_index("replicasets"))),
            "pods": Reflector(t, f"/api/v1{scope}/pods", "pods", self._changed, on_delete=self._pod_gone,
                              indexes=_present(v.pods_by_owner, v.pods_may_alert, v.pod_rows, ns_index("pods"),
                                               # every namespace watched: the GPU index is kept from these pods
                                               Projected(v.gpu_allocation, project_gpu_pod)
                                               if self.all_namespaces else None)),
            "events": Reflector(t, f"/api/v1{scope}/events", "events", self._changed,
                                indexes=_present(v.events_by_object, ns_index("events"))),
        }
        tasks = [asyncio.create_task(r.run(), name=f"reflector-{k}") for k, r in reflectors.items()]
        try:
            if not self.all_namespaces:
                # The cluster-wide GPU pod index waits until the namespace's own data is in.
                while not all(r.synced or r.error for k, r in reflectors.items() if k in ("nodes", "deployments")):
                    await asyncio.sleep(0.05)
                reflectors[GPU_PODS] = gpu_pods = Reflector(
                    t, "/api/v1/pods", "pods", self._changed, project=project_gpu_pod,
                    field_selector="status.phase!=Succeeded,status.phase!=Failed", indexes=(v.gpu_allocation,))
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
        self._views = _Views()
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
        return ClusterSnapshot(
            connection=self._connection(),
            context=target.context if target else (self.access.context or ""),
            user=target.user if target else "",
            server=target.server if target else "",
            namespace="" if self.all_namespaces else (self.namespace or ""),
            sandbox=self.sandbox,
            nodes=self._node_rows(),
            deployments=self._deployment_rows(),
            synced=frozenset(k for k, r in refl.items() if r.synced)
            | ({GPU_PODS} if self.all_namespaces and "pods" in refl and refl["pods"].synced else set()),
            problems=tuple(problems),
        )

    def _versions(self, *resources: str) -> tuple[int, ...]:
        """Which state of these reflectors' objects a view was derived from (-1: no such reflector yet)."""
        refl = self._reflectors
        return tuple(refl[k].version if k in refl else -1 for k in resources)

    def _gpu_pods(self) -> Reflector | None:
        """The reflector whose pods the GPU allocation index is kept from: the cluster-wide GPU pod watch, or with
        every namespace watched, the pods watch itself (one LIST and one watch of every pod, not two)."""
        return self._reflectors.get(GPU_PODS if not self.all_namespaces else "pods")

    def _node_rows(self) -> tuple[GpuNode, ...]:
        """Every node's row with its GPUs allocated (None until the cluster-wide GPU pod index is in), built again
        only when a node or an allocation changed: pods that come and go elsewhere in the cluster cost nothing."""
        gpu_pods = self._gpu_pods()
        synced = gpu_pods is not None and gpu_pods.synced
        alloc = self._views.gpu_allocation
        key = (*self._versions("nodes"), synced, alloc.version)
        return self._views.cached("nodes", key, lambda: tuple(sorted(
            (node_row(n, alloc.by_group.get(n["metadata"]["name"], 0) if synced else None)
             for n in self._items("nodes")), key=lambda n: n.name)))

    def _deployment_rows(self) -> tuple[DeploymentRow, ...]:
        def build() -> tuple[DeploymentRow, ...]:
            hpas = self._hpas_by_target()
            return tuple(sorted((deployment_row(d, hpas.get((d["metadata"].get("namespace", ""),
                                                             d["metadata"]["name"])))
                                 for d in self._items("deployments")), key=lambda d: (d.namespace, d.name)))
        return self._views.cached("deployments", self._versions("deployments", "horizontalpodautoscalers"), build)

    def _store(self, resource: str) -> dict[str, Any]:
        """One reflector's objects by key (empty before it exists)."""
        r = self._reflectors.get(resource)
        return r.items if r is not None else {}

    def _items(self, resource: str) -> list[dict[str, Any]]:
        return list(self._store(resource).values())

    def _hpas_by_target(self) -> dict[tuple[str, str], HpaRow]:
        """HPAs by (namespace, the Deployment they scale): with every namespace watched, a name may repeat."""
        rows = [hpa_row(h) for h in self._items("horizontalpodautoscalers")]
        return {(r.namespace, r.target): r for r in rows}

    def hpas(self) -> tuple[HpaRow, ...]:
        return tuple(sorted((hpa_row(h) for h in self._items("horizontalpodautoscalers")),
                            key=lambda r: (r.namespace, r.name)))

    def alerts(self) -> list[Alert]:
        """Cluster-derived alerts from the watch store: the namespace's pods and Deployments, every node."""
        # Pods: only those that can alert at all (an index kept per watch event), looked at on every call since
        # their alerts resolve with time; Deployments' and nodes' alerts only when one of them changed.
        pod_items = self._store("pods")
        pods = [pod_items[k] for k in self._views.pods_may_alert.members if k in pod_items]
        others = self._views.cached("alerts", self._versions("deployments", "nodes"), lambda: cluster_alerts(
            [], self._items("deployments"), self._items("nodes")))
        return cluster_alerts(pods, [], []) + others

    @property
    def transport(self) -> KubeTransport | None:
        """The connection the watches use (for one-off reads such as pod logs), once connected."""
        return self._transport

    @property
    def home_namespace(self) -> str | None:
        """The context's own namespace (the kubeconfig's, else "default": where kubectl acts without -n), once the
        kubeconfig was read; also while every namespace is watched."""
        return self._target.namespace if self._target is not None else None

    def raw(self, resource: str, namespace: str | None = None) -> list[dict[str, Any]]:
        """The watched objects of one resource ("pods", "events", "replicasets", ...) as raw JSON;
        "replaced-pods": what is left of the failed containers of pods deleted in the last hour. With
        ``namespace``, only that namespace's: with every namespace watched they come from an index (the
        incident timeline reads its namespace on each change: its cost follows the namespace, not the cluster)."""
        if resource == REPLACED_PODS:
            horizon = time.time() - GONE_FOR_S
            return [pod for at, pod in self._gone if at >= horizon
                    and (namespace is None or pod["metadata"].get("namespace") == namespace)]
        if resource == GPU_PODS and self.all_namespaces:  # what the GPU index keeps of each pod (see _gpu_pods)
            return [project_gpu_pod(pod) for pod in self._items("pods")]
        store = self._store(resource)
        if namespace is None:
            return list(store.values())
        index = self._views.by_namespace.get(resource)
        if index is not None:
            return [store[k] for k in sorted(index.keys(namespace)) if k in store]
        # one namespace watched (its objects are all of the store) or a cluster-scoped resource
        return [o for o in store.values() if o.get("metadata", {}).get("namespace") == namespace]

    def _pod_gone(self, pod: dict[str, Any]) -> None:
        tombstone = pod_tombstone(pod)  # only pods whose containers were OOMKilled or failed are worth keeping
        if tombstone is not None:
            self._gone.append((time.time(), tombstone))

    def pods(self) -> tuple[PodRow, ...]:
        """Every pod of the namespace (the :pods view), by namespace and name (kept so per watch event)."""
        return self._views.pod_rows.rows()

    def pod_changes(self, mark: object) -> RowChanges:
        """:meth:`pods`, and the pods (by ``namespace/name``) whose row changed since the read that returned
        ``mark``: the :pods screen redraws those, not every row (#16)."""
        return self._views.pod_rows.since(mark)

    def _deployment(self, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        deps = self._store("deployments")
        if not self.all_namespaces:
            return deps.get(f"{self.namespace or ''}/{name}")  # type: ignore[no-any-return]
        if namespace:
            return deps.get(f"{namespace}/{name}")  # type: ignore[no-any-return]
        return next((d for d in deps.values() if d["metadata"]["name"] == name), None)  # the first of that name

    def deployment_detail(self, name: str, namespace: str | None = None) -> DeploymentDetail | None:
        """Pods, revisions, recent events and HPA of one Deployment of the namespace: read from the indexes kept
        per watch event (its ReplicaSets by owner, their pods by owner, events by involved object), so the work
        follows the Deployment's own objects, not the namespace's."""
        dep = self._deployment(name, namespace)
        if dep is None:
            return None
        views, namespace = self._views, dep["metadata"].get("namespace", "")
        rs_items, pod_items = self._store("replicasets"), self._store("pods")
        rss = [rs_items[k] for k in sorted(views.rs_by_owner.keys(dep["metadata"]["uid"])) if k in rs_items]
        pods = [pod_items[k] for rs in rss for k in views.pods_by_owner.keys(rs["metadata"]["uid"]) if k in pod_items]
        hpa = self._hpas_by_target().get((namespace, name))
        involved = {("Deployment", name)} | {("ReplicaSet", rs["metadata"]["name"]) for rs in rss} \
            | {("Pod", p["metadata"]["name"]) for p in pods}
        if hpa is not None:
            involved.add(("HorizontalPodAutoscaler", hpa.name))
        ev_items = self._store("events")
        keys = sorted(k for kind, obj_name in involved
                      for k in views.events_by_object.keys((namespace, kind, obj_name)) if k in ev_items)
        events = [event_row(ev_items[k]) for k in keys]
        events.sort(key=lambda e: e.last_seen, reverse=True)  # the latest first; ties in the order of their names
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


def namespace_of(obj: dict[str, Any]) -> tuple[str]:
    return (obj.get("metadata", {}).get("namespace", ""),)


def _present(*indexes: Index | None) -> tuple[Index, ...]:
    return tuple(i for i in indexes if i is not None)


class _Views:
    """The derived views of one watch run (indexes the reflectors keep up to date per event) and the values last
    derived from them, each with the reflector versions it was derived from."""

    def __init__(self) -> None:
        self.pods_by_owner = MultiIndex(owner_uids)
        self.rs_by_owner = MultiIndex(owner_uids)
        self.pods_may_alert = Subset(pod_may_alert)
        self.pod_rows = SortedRows(pod_row, lambda r: (r.namespace, r.name))
        self.events_by_object = MultiIndex(involved_object)
        self.gpu_allocation = Totals()
        # every namespace watched: each namespaced resource's objects by namespace (raw(resource, namespace))
        self.by_namespace: dict[str, MultiIndex] = {}
        self._values: dict[str, tuple[Hashable, Any]] = {}

    def cached(self, name: str, key: Hashable, build: Callable[[], T]) -> T:
        """``build()``, again only when ``key`` (the versions it depends on) has changed since the last call."""
        held = self._values.get(name)
        if held is not None and held[0] == key:
            return held[1]  # type: ignore[no-any-return]
        value = build()
        self._values[name] = (key, value)
        return value
