"""Fixtures for the action contract tests: a fresh sandbox per test (start-up ≈ 0.2 s), the actions
service on its admin or viewer context, an official client for checks from outside, and a transport
that counts (and can interfere with) requests."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client, config

from console.actions.service import Actions
from console.audit import AuditLog
from console.kube.kubeconfig import read_kubeconfig_target
from console.kube.transport import PAGE, KubeTransport
from console.sandbox.server import SandboxThread

NS, DEP, HPA = "llm", "claude-inference", "claude-hpa"
ADMIN, VIEWER = "sandbox-admin", "sandbox-viewer"


def apps_api(sb: SandboxThread, context: str = ADMIN) -> client.AppsV1Api:
    return client.AppsV1Api(config.new_client_from_config(sb.info.kubeconfig, context=context))


def hpa_api(sb: SandboxThread) -> client.AutoscalingV2Api:
    return client.AutoscalingV2Api(config.new_client_from_config(sb.info.kubeconfig, context=ADMIN))


def tokens(sb: SandboxThread) -> list[str]:
    doc = yaml.safe_load(Path(sb.info.kubeconfig).read_text())
    return [u["user"]["token"] for u in doc["users"]]


def eventually(check: Callable[[], Any], timeout: float = 20.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def rolled_out(apps: client.AppsV1Api, name: str = DEP) -> bool:
    d = apps.read_namespaced_deployment(name, NS)
    s, want = d.status, d.spec.replicas
    return (s.observed_generation or 0) >= d.metadata.generation and (s.updated_replicas or 0) == want \
        and (s.replicas or 0) == want and (s.available_replicas or 0) == want


def marks(apps: client.AppsV1Api, name: str = DEP) -> tuple[str, int]:
    """(resourceVersion, generation): both unchanged means nothing was written."""
    d = apps.read_namespaced_deployment(name, NS)
    return d.metadata.resource_version, d.metadata.generation


class CountingTransport:
    """A KubeTransport that counts requests and can run a hook before each real (non-dry-run) PATCH."""

    def __init__(self, inner: KubeTransport) -> None:
        self.inner = inner
        self.calls: list[tuple[str, str]] = []
        self.before_patch: Callable[[], None] | None = None

    async def request(self, method: str, path: str, query: list[tuple[str, Any]] | None = None,
                      body: Any = None, content_type: str = "application/json", timeout: float = 10.0) -> Any:
        self.calls.append((method, path))
        if method == "PATCH" and ("dryRun", "All") not in (query or []) and self.before_patch is not None:
            self.before_patch()
        return await self.inner.request(method, path, query, body, content_type, timeout)

    async def get(self, path: str, query: list[tuple[str, Any]] | None = None) -> Any:
        self.calls.append(("GET", path))
        return await self.inner.get(path, query)

    async def list(self, path: str, query: list[tuple[str, Any]] | None = None) -> list[dict]:
        return await KubeTransport.list(self, path, query)  # type: ignore[arg-type]  (its pages: counted GETs)

    def pages(self, path: str, query: list[tuple[str, Any]] | None = None, page: int = PAGE) -> Any:
        return KubeTransport.pages(self, path, query, page)  # type: ignore[arg-type]

    async def _read(self, method: str, path: str, query: list[tuple[str, Any]] | None = None,
                    *args: Any, **kwargs: Any) -> bytes:  # each page of pages(): a counted GET
        self.calls.append((method, path))
        return await self.inner._read(method, path, query, *args, **kwargs)

    def stream(self, path: str, query: list[tuple[str, Any]], idle_timeout: float) -> Any:
        self.calls.append(("WATCH", path))
        return self.inner.stream(path, query, idle_timeout)

    async def close(self) -> None:
        await self.inner.close()


async def connect(sb: SandboxThread, audit_path: Path, context: str = ADMIN, readonly: bool = False
                  ) -> tuple[Actions, CountingTransport]:
    """The actions service on ``context`` with a counting transport and its own audit log."""
    kubeconfig = sb.info.kubeconfig
    transport = CountingTransport(await KubeTransport.connect(kubeconfig, context))
    target = read_kubeconfig_target(kubeconfig, context)
    return Actions(transport, target, AuditLog(audit_path), readonly), transport  # type: ignore[arg-type]
