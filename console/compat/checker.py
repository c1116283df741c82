"""The compatibility check against a cluster: reads nodes, the namespace's Deployments, DaemonSets, the GPU
Operator validator pods and the API server version through the raw JSON transport, reads image configs
(registry HTTP API v2 or the Docker Engine, in threads, concurrently), and assembles the report or the
set-image gate (:mod:`console.compat.matrix`). Behind ``llmctl check``, the Compat screen and the
set-image gate of the actions service. A read that fails becomes an UNKNOWN with its reason, never an OK.

Every image reference is read where the cluster's nodes would get it (console/compat/resolve.py): a Docker
Hub short name such as ``llm/app:v1`` through the registry the cluster advertises (KEP-1755) first, then on
Docker Hub — the same resolution for ``llmctl check``, ``:compat``, the set-image gate and ``deploy``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from console.compat.facts import ImageFacts
from console.compat.matrix import CompatGate, CompatReport, build_report, gate, unknown_gate
from console.compat.registry import CachedImages, ImageSource, RegistryClient
from console.compat.resolve import ResolvedImages, read_local_registry
from console.compat.stack import Check, daemonset_checks, kube_version_check, validator_check
from console.core.images import LocalRegistry
from console.kube.errors import KubeError

VALIDATOR_SELECTOR = "app=nvidia-operator-validator"
ASK_CLUSTER: Any = object()  # CompatChecker(local_registry=...): read the cluster's KEP-1755 ConfigMap


def _why(exc: KubeError, what: str) -> str:
    if exc.code == 403:
        return f"no permission to list {what}"
    if exc.unreachable:
        return exc.message if exc.message.startswith("cannot reach") else f"cannot reach the API server: {exc.message}"
    return f"cannot list {what}: {exc.code} {exc.message}"


class CompatService(Protocol):
    """What the :compat screen asks (implemented by :class:`CompatChecker`)."""

    async def report(self, namespace: str | None, candidate: str | None = None) -> CompatReport:
        """``namespace`` None: every namespace's Deployments."""
        ...


class CompatChecker:
    """Compatibility checks for one kube context (``transport``: a KubeTransport or anything with ``get``).

    ``images``: where image configs are read (default: their registries, with the Docker config's
    credentials). ``local_registry``: the cluster's advertised registry when the caller has read it already
    (None: there is none); by default it is read from the cluster for each report and gate."""

    def __init__(self, transport: Any, images: ImageSource | None = None,
                 local_registry: LocalRegistry | None = ASK_CLUSTER) -> None:
        self.transport = transport
        self.images: ImageSource = images if images is not None else CachedImages(RegistryClient())
        self.local_registry = local_registry

    async def _list(self, path: str, query: list[tuple[str, Any]] | None = None) -> list[dict[str, Any]]:
        return await self.transport.list(path, query)

    async def _try_list(self, path: str, what: str, errors: list[str],
                        query: list[tuple[str, Any]] | None = None) -> list[dict[str, Any]] | None:
        try:
            return await self._list(path, query)
        except KubeError as exc:
            errors.append(_why(exc, what))
            return None

    async def resolved_images(self) -> ResolvedImages:
        """The image source that reads each reference where the cluster's nodes get it."""
        local = self.local_registry
        if local is ASK_CLUSTER:
            local = await read_local_registry(self.transport)
        return ResolvedImages(self.images, local)

    async def image_facts(self, refs: Iterable[str]) -> dict[str, ImageFacts]:
        """Facts for each reference (keyed as written), looked up concurrently in threads (the sources block)."""
        wanted = sorted({r for r in refs if r})
        if not wanted:
            return {}
        source = await self.resolved_images()
        found = await asyncio.gather(*(asyncio.to_thread(source.facts, r) for r in wanted))
        return dict(zip(wanted, found, strict=True))

    async def stack(self, errors: list[str]) -> list[Check]:
        try:
            version: Mapping[str, Any] | None = await self.transport.get("/version")
            version_error = ""
        except KubeError as exc:
            version, version_error = None, exc.message
        ds_errors: list[str] = []
        daemonsets = await self._try_list("/apis/apps/v1/daemonsets", "daemonsets cluster-wide", ds_errors)
        validators = await self._try_list("/api/v1/pods", "pods cluster-wide", [],
                                          [("labelSelector", VALIDATOR_SELECTOR)])
        checks = [kube_version_check(version, version_error), *daemonset_checks(daemonsets, "; ".join(ds_errors))]
        validator = validator_check(validators)
        if validator is not None:
            checks.append(validator)
        return checks

    async def report(self, namespace: str | None, candidate: str | None = None, node: str | None = None,
                     deployment: str | None = None) -> CompatReport:
        """The matrix of the namespace's GPU images (and ``candidate``) × node pools, and the stack checks;
        ``namespace`` None: of every namespace's Deployments (one LIST cluster-wide)."""
        errors: list[str] = []
        nodes = await self._try_list("/api/v1/nodes", "nodes", errors)
        deployments = await self._try_list(
            f"/apis/apps/v1/namespaces/{namespace}/deployments" if namespace else "/apis/apps/v1/deployments",
            f"deployments in namespace {namespace}" if namespace else "deployments cluster-wide", errors)
        checks = await self.stack(errors)
        refs = {c.get("image", "") for d in deployments or [] if not deployment or d["metadata"]["name"] == deployment
                for c in ((d.get("spec") or {}).get("template") or {}).get("spec", {}).get("containers") or []}
        facts = await self.image_facts([*refs, *([candidate] if candidate else [])])
        return build_report(namespace or "", nodes=nodes or [], deployments=deployments or [], facts=facts,
                            stack=checks, candidate=candidate, node_name=node, deployment_name=deployment,
                            errors=errors)

    async def gate(self, deployment: Mapping[str, Any], container: str, image: str) -> CompatGate:
        """The set-image gate: ``image`` on the GPU nodes ``deployment`` can schedule on."""
        try:
            nodes = await self._list("/api/v1/nodes")
        except KubeError as exc:
            return unknown_gate(image, _why(exc, "nodes"))
        (facts,) = (await self.image_facts([image])).values()
        return gate(deployment, container, image, nodes, facts)
