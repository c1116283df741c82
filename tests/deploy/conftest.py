"""Fixtures for the deploy tests: the engine on a sandbox context, with its own audit log."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from pathlib import Path
from typing import Any, TypeVar

from kubernetes import client, config

from console.audit import AuditLog
from console.deploy.engine import DeployEngine
from console.sandbox.server import SandboxThread

T = TypeVar("T")
ADMIN, VIEWER = "sandbox-admin", "sandbox-viewer"


def run(coro: Awaitable[T]) -> T:
    return asyncio.run(coro)  # type: ignore[arg-type]


async def engine(sb: SandboxThread, audit: Path, context: str = ADMIN, **kwargs: Any) -> DeployEngine:
    return await DeployEngine.connect(sb.info.kubeconfig, context, AuditLog(audit), **kwargs)


def core(sb: SandboxThread) -> client.CoreV1Api:
    return client.CoreV1Api(config.new_client_from_config(sb.info.kubeconfig, context=ADMIN))


def namespace_objects(sb: SandboxThread, namespace: str) -> list[str]:
    """Every stored object in ``namespace`` (what a "nothing half-applied" check lists), plus the namespace."""
    def collect() -> list[str]:
        store = sb.ctx.store
        out = [f"namespace/{namespace}"] if store.try_get("namespaces", None, namespace) else []
        for plural in ("persistentvolumeclaims", "services", "deployments", "replicasets", "pods",
                       "horizontalpodautoscalers", "servicemonitors", "prometheusrules", "configmaps"):
            out += [f"{plural}/{o['metadata']['name']}" for o in store.list(plural, namespace, None, None)]
        return out
    return sb.call(collect)
