"""Drain a node as ``kubectl drain --ignore-daemonsets`` does: cordon it, then evict its pods through the
``pods/eviction`` subresource, so PodDisruptionBudgets are respected (an eviction a budget refuses is retried,
then reported — never forced).

The plan says which pods move, which a budget blocks now (each eviction is dry-run), and whether the GPU pods
that move fit on the GPUs free on the other schedulable nodes (placing each pod whole on one node, largest first).
"""

from __future__ import annotations

import asyncio
from typing import Any

from console.actions.reads import ClusterReads
from console.actions.validate import EXIT_FAILED, ActionError, check_name
from console.core.gpus import gpus_of_pod_spec
from console.core.model import ActionPlan, Preflight
from console.core.rollout import free_gpus_for
from console.kube.errors import KubeError

RETRY_S = 30.0  # how long an eviction a budget refuses is retried while applying (kubectl retries until --timeout)
RETRY_EVERY_S = 2.0
Obj = dict[str, Any]


def _ref(pod: Obj) -> str:
    meta = pod.get("metadata") or {}
    return f"{meta.get('namespace', '')}/{meta.get('name', '')}"


def movable(pods: list[Obj]) -> tuple[list[Obj], list[str]]:
    """The pods a drain evicts, and why the others stay (DaemonSet pods, mirror pods, finished pods)."""
    out, kept = [], []
    for pod in pods:
        meta = pod.get("metadata") or {}
        owners = {o.get("kind") for o in meta.get("ownerReferences") or [] if o.get("controller")}
        if "DaemonSet" in owners:
            kept.append(f"{_ref(pod)} (DaemonSet)")
        elif "kubernetes.io/config.mirror" in (meta.get("annotations") or {}):
            kept.append(f"{_ref(pod)} (mirror pod)")
        elif (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            continue
        else:
            out.append(pod)
    return out, kept


def placement(moving: list[Obj], node: str, nodes: list[Obj], pods: list[Obj]) -> Preflight:
    """Do the GPU pods that move fit on the other nodes' free GPUs (schedulable, each pod on one node)?"""
    needs = sorted(((gpus_of_pod_spec(p.get("spec") or {}), p) for p in moving), key=lambda t: -t[0])
    needs = [(g, p) for g, p in needs if g > 0]
    total = sum(g for g, _ in needs)
    if not needs:
        return Preflight(0, None, True, "no pod on this node holds GPUs")
    others = [n for n in nodes if (n.get("metadata") or {}).get("name") != node
              and not (n.get("spec") or {}).get("unschedulable")]
    staying = [p for p in pods if (p.get("spec") or {}).get("nodeName") != node]
    free_left: dict[str, int] = {}
    homeless = []
    for gpus, pod in needs:
        free = free_gpus_for(pod.get("spec") or {}, others, staying)
        for name, count in free.items():
            free_left.setdefault(name, count)
        fits = [n for n in free if free_left[n] >= gpus]
        if fits:
            free_left[max(fits, key=lambda n: free_left[n])] -= gpus
        else:
            homeless.append(f"{_ref(pod)} ({gpus} GPU{'s' if gpus != 1 else ''})")
    free_total = sum(free_gpus_for({}, others, staying, check_taints=False).values())
    if homeless:
        return Preflight(total, free_total, False, f"{len(homeless)} GPU pod(s) would stay Pending: no other node "
                                                   f"has their GPUs free: {', '.join(homeless)}")
    return Preflight(total, free_total, True, f"the {len(needs)} GPU pod(s) moving ({total} GPUs) fit on the "
                                              f"{free_total} GPUs free on the other nodes")


class NodeDrain(ClusterReads):
    """Drain, mixed into :class:`console.actions.service.Actions`."""

    def _audit(self, plan: ActionPlan, mode: str, result: str, after: Any = None, **extra: Any) -> None:
        raise NotImplementedError

    async def _evict(self, namespace: str, name: str, dry_run: bool) -> None:
        body = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": name, "namespace": namespace}}
        await self.transport.request("POST", f"/api/v1/namespaces/{namespace}/pods/{name}/eviction",
                                     [("dryRun", "All")] if dry_run else [], body=body)

    async def plan_drain(self, node: str) -> ActionPlan:
        """Read the node and its pods, dry-run each eviction, check where the GPU pods go."""
        check_name(node, "node")
        try:
            live = await self.transport.get(f"/api/v1/nodes/{node}")
            on_node = await self._list("/api/v1/pods", [("fieldSelector", f"spec.nodeName={node}")])
        except KubeError as exc:
            raise self._error(exc, "list", "pods on the node", "", "Node", node) from None
        moving, kept = movable(on_node)
        blocked = []
        for pod in moving:
            meta = pod["metadata"]
            try:
                await self._evict(meta["namespace"], meta["name"], dry_run=True)
            except KubeError as exc:
                if exc.code == 403:
                    raise self._error(exc, "create", "pods/eviction", meta["namespace"], "Pod", meta["name"]) from None
                blocked.append(f"{_ref(pod)}: {exc.message}")
        listed = await self._cluster_gpus()
        preflight = (Preflight(0, None, True, f"GPU placement {listed}") if isinstance(listed, str)
                     else placement(moving, node, *listed))
        warnings = [f"{len(moving)} pod(s) move: {', '.join(_ref(p) for p in moving) or 'none'}"]
        if kept:
            warnings.append(f"left in place: {', '.join(kept)}")
        warnings += [f"a PodDisruptionBudget blocks {b} — retried for {RETRY_S:.0f}s, then reported" for b in blocked]
        plan = ActionPlan(action="drain", namespace="", name=node, kind="Node",
                          kubectl=f"kubectl drain {node} --ignore-daemonsets --context {self.target.context}",
                          diff="", before={"unschedulable": bool((live.get("spec") or {}).get("unschedulable"))},
                          after={"unschedulable": True, "evicting": [_ref(p) for p in moving]},
                          warnings=tuple(warnings), preflight=preflight,
                          request={"method": "DRAIN", "path": f"/api/v1/nodes/{node}", "resource": "nodes",
                                   "pods": [_ref(p) for p in moving]})
        lines = [f"node/{node}: spec.unschedulable → true", *(f"evict pod {r}" for r in plan.request["pods"])]
        plan = ActionPlan(**{**plan.__dict__, "diff": "\n".join(lines) + "\n"})
        self._audit(plan, "dry-run", "ok")
        return plan

    async def apply_drain(self, plan: ActionPlan) -> str:
        """Cordon, then evict each planned pod; a budget's refusal is retried for :data:`RETRY_S` seconds."""
        if getattr(self, "readonly", False):
            message = "read-only mode: drain refused (started with --readonly)"
            self._audit(plan, "refused", message, after={})
            raise ActionError(EXIT_FAILED, message)
        node = plan.name
        try:
            await self.transport.request("PATCH", f"/api/v1/nodes/{node}", body={"spec": {"unschedulable": True}},
                                         content_type="application/merge-patch+json")
        except KubeError as exc:
            error = self._error(exc, "patch", "nodes", "", "Node", node)
            self._audit(plan, "applied", error.message, after={})
            raise error from None
        evicted, blocked = [], []
        for ref in plan.request["pods"]:  # type: ignore[union-attr]
            namespace, name = str(ref).split("/", 1)
            waited = 0.0
            while True:
                try:
                    await self._evict(namespace, name, dry_run=False)
                    evicted.append(ref)
                    break
                except KubeError as exc:
                    if exc.code == 404:  # gone already
                        evicted.append(ref)
                        break
                    if exc.code != 429 or waited >= RETRY_S:
                        blocked.append(f"{ref}: {exc.message}")
                        break
                await asyncio.sleep(RETRY_EVERY_S)
                waited += RETRY_EVERY_S
        result = "ok" if not blocked else f"{len(blocked)} pod(s) not evicted: {'; '.join(blocked)}"
        self._audit(plan, "applied", result, after={"unschedulable": True, "evicted": evicted, "blocked": blocked})
        if blocked:
            raise ActionError(EXIT_FAILED, f"node/{node} cordoned, {len(evicted)} pod(s) evicted; {result}")
        return f"node/{node} drained: {len(evicted)} pod(s) evicted"
