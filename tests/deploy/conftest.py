"""Fixtures for the deploy tests: the engine on a sandbox context, with its own audit log."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Awaitable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from kubernetes import client, config

from console.audit import AuditLog
from console.deploy.engine import DeployEngine
from console.sandbox.server import SandboxThread
from tests.conftest import start_sandbox

T = TypeVar("T")
ADMIN, VIEWER = "sandbox-admin", "sandbox-viewer"
ROOT = Path(__file__).resolve().parents[2]
NS = "llm-demo"  # the value sets' namespace


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
                       "horizontalpodautoscalers", "servicemonitors", "prometheusrules", "configmaps",
                       "poddisruptionbudgets"):
            out += [f"{plural}/{o['metadata']['name']}" for o in store.list(plural, namespace, None, None)]
        return out
    return sb.call(collect)


@pytest.fixture(scope="module")
def shared_sandbox() -> Iterator[SandboxThread]:
    """One sandbox per module for tests that change nothing (dry runs), with the value sets' namespace."""
    thread = start_sandbox()
    core(thread).create_namespace({"metadata": {"name": NS}})
    try:
        yield thread
    finally:
        thread.stop()


def llmctl_cli(sb: SandboxThread, state: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """``python -m console.cli ARGS --kubeconfig SANDBOX`` as a script runs it: no terminal, its own state dir."""
    env = {**os.environ, "XDG_STATE_HOME": str(state), "XDG_CONFIG_HOME": str(state / "config")}
    env.pop("KUBECONFIG", None)
    return subprocess.run([sys.executable, "-m", "console.cli", *args, "--kubeconfig", sb.info.kubeconfig],
                          cwd=ROOT, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=timeout)
