"""What the actions read from the cluster: the target object, ReplicaSets, nodes and pods for the
GPU preflight, access reviews, and the rollout verdict live (``follow``).

The base of :class:`console.actions.service.Actions`; on its own it is the read-only part a screen
can use without an audit log. Errors become :class:`ActionError` with person-readable messages.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from console.actions import plan as ap
from console.actions.validate import EXIT_FAILED, EXIT_USAGE, ActionError, check_name
from console.core.model import Preflight, Revision, RolloutVerdict, ScaleHold
from console.core.rollout import owned_replicasets, revision_history, rollout_verdict
from console.kube.errors import KubeError, KubeTarget
from console.kube.transport import KubeTransport

KIND_WORD = {"Deployment": "deployment", "HorizontalPodAutoscaler": "horizontalpodautoscaler"}
ACTIVE_PODS = "status.phase!=Succeeded,status.phase!=Failed"
WATCH_SECONDS = 60
HPA_OBSERVE_S = 35.0  # two of the HPA controller's default 15 s syncs, and some slack


class ClusterReads:
    """Reads and the rollout watch for one kube context."""

    def __init__(self, transport: KubeTransport, target: KubeTarget) -> None:
        self.transport = transport
        self.target = target
        self._can: dict[tuple[str, str, str, str, str], bool] = {}

    # ---- errors ---------------------------------------------------------------------------------------
    def _error(self, exc: KubeError, verb: str, resource: str, namespace: str, kind: str, name: str) -> ActionError:
        """A person-readable ActionError for a failed API call."""
        if exc.unreachable:
            text = exc.message if exc.message.startswith("cannot reach") else f"cannot reach the API server: {exc}"
            return ActionError(EXIT_FAILED, text)
        if exc.code == 403:
            return ActionError(EXIT_FAILED, f'forbidden: cannot {verb} {resource} in namespace "{namespace}" '
                                            f"(user {self.target.user or 'unknown'})")
        if exc.code == 401:  # the transport says which credential (token, exec plugin, token file…) and why
            return ActionError(EXIT_FAILED, exc.message)
        if exc.code == 404:
            return ActionError(EXIT_FAILED, f'{KIND_WORD.get(kind, kind.lower())} "{name}" not found in namespace '
                                            f'"{namespace}"')
        if exc.code == 422:
            return ActionError(EXIT_USAGE, f"the API server rejected the change: {exc.message}")
        return ActionError(EXIT_FAILED, f"{verb} {resource} failed: {exc.code} {exc.reason}: {exc.message}")

    # ---- reads --------------------------------------------------------------------------------------
    async def _read(self, kind: str, namespace: str, name: str) -> dict[str, Any]:
        check_name(name, KIND_WORD.get(kind, kind))  # an empty name would read the whole collection
        path = ap.hpa_path(namespace, name) if kind == "HorizontalPodAutoscaler" else ap.deployment_path(namespace,
                                                                                                        name)
        resource = "horizontalpodautoscalers" if kind == "HorizontalPodAutoscaler" else "deployments"
        try:
            return await self.transport.get(path)
        except KubeError as exc:
            raise self._error(exc, "get", resource, namespace, kind, name) from None

    async def _list(self, path: str, query: list[tuple[str, Any]] | None = None) -> list[dict[str, Any]]:
        return await self.transport.list(path, query)

    @staticmethod
    def _selector_query(deployment: dict[str, Any]) -> list[tuple[str, Any]]:
        selector = (deployment.get("spec") or {}).get("selector") or {}
        if selector.get("matchLabels") and not selector.get("matchExpressions"):
            return [("labelSelector", ",".join(f"{k}={v}" for k, v in selector["matchLabels"].items()))]
        return []

    async def _replicasets(self, deployment: dict[str, Any]) -> list[dict[str, Any]]:
        ns = deployment["metadata"]["namespace"]
        try:
            rss = await self._list(f"/apis/apps/v1/namespaces/{ns}/replicasets", self._selector_query(deployment))
        except KubeError as exc:
            raise self._error(exc, "list", "replicasets", ns, "ReplicaSet", "") from None
        return owned_replicasets(deployment, rss)

    async def _deployment_pods(self, deployment: dict[str, Any]) -> list[dict[str, Any]]:
        """The pods of the Deployment's ReplicaSets (KubeError / ActionError when unreadable)."""
        ns = deployment["metadata"]["namespace"]
        owners = {rs["metadata"].get("uid") for rs in await self._replicasets(deployment)}
        pods = await self._list(f"/api/v1/namespaces/{ns}/pods", self._selector_query(deployment))
        return [p for p in pods if any(o.get("uid") in owners for o in p["metadata"].get("ownerReferences") or [])]

    async def _cluster_gpus(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]] | str:
        """Nodes and non-terminated pods, listed once, or why they could not be (for the preflight)."""
        listed = []
        for what, path, query in (("nodes", "/api/v1/nodes", []),
                                  ("pods", "/api/v1/pods", [("fieldSelector", ACTIVE_PODS)])):
            try:
                listed.append(await self._list(path, query))
            except KubeError as exc:
                if exc.code == 403:
                    return f"unknown: no permission to list {what} cluster-wide"
                return f"unknown: cannot list {what}: {exc.message}"
        return listed[0], listed[1]

    async def _preflight(self, check: Callable[[list, list], Preflight], gpus_needed: int) -> Preflight:
        """Run ``check`` over the cluster's nodes and pods; when they cannot be read, say so — an
        unknown preflight does not block the action."""
        listed = await self._cluster_gpus()
        if isinstance(listed, str):
            return Preflight(gpus_needed, None, True, listed)
        return check(*listed)

    async def can_i(self, verb: str, resource: str, namespace: str, group: str = "", subresource: str = "") -> bool:
        """Whether this user may do it (SelfSubjectAccessReview), cached for the session. Raises
        ActionError when the question could not be asked (e.g. the server is unreachable)."""
        key = (verb, resource, namespace, group, subresource)
        if key not in self._can:
            attrs = {"verb": verb, "resource": resource, "namespace": namespace, "group": group}
            if subresource:
                attrs["subresource"] = subresource
            body = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                    "spec": {"resourceAttributes": attrs}}
            try:
                review = await self.transport.request(
                    "POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", body=body)
            except KubeError as exc:
                raise self._error(exc, "create", "selfsubjectaccessreviews", namespace, "", "") from None
            self._can[key] = bool((review.get("status") or {}).get("allowed"))
        return self._can[key]

    # ---- did a scale hold? --------------------------------------------------------------------------
    async def scale_held(self, namespace: str, name: str, wanted: int, timeout: float = HPA_OBSERVE_S) -> ScaleHold:
        """After a scale to ``wanted``: wait until the Deployment's HPA (if one targets it) has seen the new
        count — its status shows it, or it has already set another — and say whether the count stayed.

        The HPA controller sets the scale before it writes its status, so once the status shows ``wanted``
        as the current count, a Deployment still at ``wanted`` has been left alone. Without an HPA the count
        is read once. A forbidden HPA list or an HPA that does not sync within ``timeout`` is reported as
        held with the reason it could not be confirmed."""
        try:
            hpa = next(iter(await self.hpas_of(namespace, name)), None)
        except KubeError:  # not readable: the Deployment's own count is all there is to go by
            hpa = None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            live = await self._read("Deployment", namespace, name)
            replicas = ap.replicas_of(live)
            if replicas != wanted:
                return ScaleHold(wanted, replicas, False, self._overrider(hpa, live, wanted, replicas))
            if hpa is None:
                return ScaleHold(wanted, replicas, True)
            hpa = await self._read("HorizontalPodAutoscaler", namespace, hpa["metadata"]["name"])
            if (hpa.get("status") or {}).get("currentReplicas") == wanted:
                return ScaleHold(wanted, replicas, True)
            if loop.time() > deadline:
                return ScaleHold(wanted, replicas, True, f"HorizontalPodAutoscaler {hpa['metadata']['name']} has not "
                                 f"synced in {timeout:g}s: it may still change the count")
            await asyncio.sleep(0.5)

    async def hpas_of(self, namespace: str, name: str) -> list[dict[str, Any]]:
        """The HorizontalPodAutoscalers whose scaleTargetRef is this Deployment (KubeError if unreadable)."""
        return [h for h in await self._list(ap.hpa_path(namespace))
                if (ref := (h.get("spec") or {}).get("scaleTargetRef") or {}).get("kind") == "Deployment"
                and ref.get("name") == name]

    @staticmethod
    def _overrider(hpa: dict[str, Any] | None, live: dict[str, Any], wanted: int, replicas: int) -> str:
        if hpa is None:
            managers = [f.get("manager") for f in (live.get("metadata") or {}).get("managedFields") or []
                        if "f:replicas" in str(f.get("fieldsV1", {}).get("f:spec", {}))]
            who = f"{managers[-1]} (the last writer of spec.replicas)" if managers else "something else"
            return f"{who} set it to {replicas}"
        spec = hpa.get("spec") or {}
        low, high, hpa_name = spec.get("minReplicas", 1), spec.get("maxReplicas"), hpa["metadata"]["name"]
        why = ("its maxReplicas" if replicas == high and wanted > replicas else
               "its minReplicas" if replicas == low and wanted < replicas else "from its metrics")
        bound = "--max" if high is not None and wanted > high else "--min"
        return (f"HorizontalPodAutoscaler {hpa_name} (min {low}, max {high}) set it to {replicas} ({why}); "
                f"to keep {wanted}, change the HPA instead: llmctl hpa set {hpa_name} {bound} {wanted}")

    # ---- rollout status -----------------------------------------------------------------------------
    async def status(self, namespace: str, name: str) -> RolloutVerdict:
        return rollout_verdict(await self._read("Deployment", namespace, name))

    async def history(self, namespace: str, name: str) -> list[Revision]:
        live = await self._read("Deployment", namespace, name)
        return revision_history(live, await self._replicasets(live))

    async def follow(self, namespace: str, name: str, timeout: float,
                     on_update: Callable[[RolloutVerdict], None] | None = None) -> RolloutVerdict:
        """Watch the rollout until kubectl would say done or failed; on ``timeout`` seconds return the
        latest verdict. A dropped watch resumes from a fresh read; ``on_update`` sees each new verdict."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        state: dict[str, RolloutVerdict | None] = {"verdict": None}

        def seen(obj: dict[str, Any]) -> RolloutVerdict:
            verdict = rollout_verdict(obj)
            if verdict != state["verdict"] and on_update is not None:
                on_update(verdict)
            state["verdict"] = verdict
            return verdict

        try:
            async with asyncio.timeout(timeout):
                await self._follow_loop(namespace, name, seen, deadline)
        except TimeoutError:
            pass
        if state["verdict"] is None:
            raise ActionError(EXIT_FAILED, f"no answer from the API server within {timeout:g}s")
        return state["verdict"]

    async def _follow_loop(self, namespace: str, name: str, seen: Callable[[dict[str, Any]], RolloutVerdict],
                           deadline: float) -> None:
        """Watch until the rollout ends; ride out an unreachable server with back-off (the caller's
        timeout ends it), resuming from a fresh read each time."""
        failures = 0
        while True:
            try:
                if await self._watch_once(namespace, name, seen, deadline):
                    return
                failures = 0
            except KubeError as exc:
                if not exc.unreachable:
                    raise self._error(exc, "watch", "deployments", namespace, "Deployment", name) from None
                failures += 1
                await asyncio.sleep(min(0.5 * failures, 4.0))

    async def _watch_once(self, namespace: str, name: str, seen: Callable[[dict[str, Any]], RolloutVerdict],
                          deadline: float) -> bool:
        """A fresh GET, then one watch from its resourceVersion; True once the rollout is done or failed."""
        live = await self.transport.get(ap.deployment_path(namespace, name))
        verdict = seen(live)
        if verdict.done or verdict.failed:
            return True
        left = int(deadline - asyncio.get_running_loop().time()) + 1
        query = [("watch", "true"), ("fieldSelector", f"metadata.name={name}"),
                 ("resourceVersion", live["metadata"].get("resourceVersion", "")), ("allowWatchBookmarks", "true"),
                 ("timeoutSeconds", max(1, min(WATCH_SECONDS, left)))]
        async for event in self.transport.stream(ap.deployment_path(namespace), query, WATCH_SECONDS + 30):
            kind, obj = event.get("type"), event.get("object") or {}
            if kind == "ERROR":  # e.g. 410 Gone: read afresh and watch from there
                await asyncio.sleep(0.2)
                return False
            if kind == "DELETED":
                raise ActionError(EXIT_FAILED, f'deployment "{name}" was deleted')
            if kind in ("ADDED", "MODIFIED"):
                verdict = seen(obj)
                if verdict.done or verdict.failed:
                    return True
        return False
