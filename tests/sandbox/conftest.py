"""Fixtures for the sandbox API contract tests: the real aiohttp app on 127.0.0.1 (port 0), in a
thread with its own loop, seeded directly through the store (no controllers), and official
``kubernetes`` clients pointed at it with the admin or the viewer token."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest
from kubernetes import client as k8s

from console.sandbox.api import make_app
from console.sandbox.api_tls import TlsMaterial
from console.sandbox.auth import Authenticator
from console.sandbox.context import SandboxConfig, SandboxContext
from console.sandbox.server import listen

T = TypeVar("T")
NS = "llm"
DEPLOY = "claude-inference"


class ApiServer:
    """The sandbox API served from a private loop in a daemon thread."""

    def __init__(self, config: SandboxConfig | None = None, tls: TlsMaterial | None = None) -> None:
        self.config = config or SandboxConfig(bookmark_interval=0.3)
        self.tls = tls
        self.auth = Authenticator.create()
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="sandbox-api", daemon=True)
        self.ctx: SandboxContext
        self.url = ""
        self._runner: Any = None  # aiohttp web.AppRunner

    def start(self) -> ApiServer:
        self._thread.start()
        self.run(self._start())
        return self

    async def _start(self) -> None:
        self.ctx = SandboxContext.create(self.config, registry_host="127.0.0.1:5000")
        ssl_context = self.tls.server_context() if self.tls else None
        # The listener settings of the real sandbox (idle/header timeout), on any free port.
        self._runner, port = await listen(make_app(self.ctx, self.auth), "127.0.0.1", 0, ssl_context,
                                          idle_timeout=self.config.idle_timeout, shutdown_timeout=2)
        scheme = "https" if self.tls else "http"
        self.url = f"{scheme}://127.0.0.1:{port}"

    def run(self, coro: Any, timeout: float = 10) -> Any:
        """Run a coroutine on the server's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a plain function on the server's loop (the only thread allowed to touch the store)."""
        async def wrapper() -> T:
            return fn(*args, **kwargs)
        return self.run(wrapper())

    def stop(self) -> None:
        if self._runner is not None:
            self.run(self._runner.cleanup(), timeout=15)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        self.loop.close()

    def client(self, token: str) -> k8s.ApiClient:
        conf = k8s.Configuration(host=self.url, api_key={"authorization": "Bearer " + token})
        if self.tls:
            conf.ssl_ca_cert = str(self.tls.cert_path)
        return k8s.ApiClient(conf)

    @property
    def watcher_count(self) -> int:
        return self.call(lambda: len(self.ctx.store._watchers))


# ---- seed objects (what controllers would have written) -------------------------------------------
def container(name: str, image: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "image": image, **extra}


def deployment(name: str = DEPLOY, replicas: int = 2) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "metadata": {"name": name, "namespace": NS, "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [
                    container("vllm", "registry.local/llm/claude-inference:v1",
                              env=[{"name": "MODEL", "value": "claude"}, {"name": "TP", "value": "1"}],
                              ports=[{"containerPort": 8000}],
                              resources={"limits": {"nvidia.com/gpu": "1"}}),
                    container("sidecar", "registry.local/llm/metrics-sidecar:v3"),
                ]},
            },
        },
    }


def pod(name: str, phase: str = "Running", node: str | None = "gpu-node-1", ready: bool = True,
        labels: dict[str, str] | None = None, state: dict[str, Any] | None = None,
        restarts: int = 0) -> dict[str, Any]:
    status: dict[str, Any] = {"phase": phase}
    if phase != "Pending" or state:
        status["containerStatuses"] = [{
            "name": "vllm", "ready": ready, "restartCount": restarts, "image": "x", "imageID": "",
            "state": state or {"running": {"startedAt": "2024-01-01T00:00:00Z"}},
        }]
    spec: dict[str, Any] = {"containers": [container("vllm", "registry.local/llm/claude-inference:v1")]}
    if node:
        spec["nodeName"] = node
    return {"metadata": {"name": name, "namespace": NS, "labels": labels or {"app": DEPLOY}},
            "spec": spec, "status": status}


def seed(ctx: SandboxContext) -> None:
    """A namespace, a deployment with its ReplicaSet and pods, a node, an HPA, an event."""
    store = ctx.store
    for ns in (NS, "default", "kube-system"):
        store.create("namespaces", {"metadata": {"name": ns}, "status": {"phase": "Active"}})
    node = {"metadata": {"name": "gpu-node-1", "labels": {"nvidia.com/gpu.product": "NVIDIA-A10G"}},
            "spec": {}, "status": {"conditions": [{"type": "Ready", "status": "True"}],
                                   "capacity": {"nvidia.com/gpu": "4"},
                                   "nodeInfo": {"kubeletVersion": "v1.30.4"}}}
    store.create("nodes", node)
    dep = store.create("deployments", deployment())
    rs = {"metadata": {"name": f"{DEPLOY}-5d4f8", "namespace": NS, "labels": {"app": DEPLOY},
                       "annotations": {"deployment.kubernetes.io/revision": "1"},
                       "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": DEPLOY,
                                            "uid": dep["metadata"]["uid"], "controller": True}]},
          "spec": {"replicas": 2, "selector": {"matchLabels": {"app": DEPLOY}},
                   "template": deployment()["spec"]["template"]}}
    rs = store.create("replicasets", rs)
    owner = [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": rs["metadata"]["name"],
              "uid": rs["metadata"]["uid"], "controller": True}]
    for p in (pod(f"{DEPLOY}-a"), pod(f"{DEPLOY}-b"), pod(f"{DEPLOY}-c", phase="Pending", node=None)):
        p["metadata"]["ownerReferences"] = owner
        store.create("pods", p)
    store.create("pods", {**pod("loner", node="gpu-node-2"), "metadata": {"name": "loner", "namespace": "default"}})
    store.create("horizontalpodautoscalers", {
        "metadata": {"name": DEPLOY, "namespace": NS},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": DEPLOY},
                 "minReplicas": 2, "maxReplicas": 8,
                 "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {
                     "type": "Utilization", "averageUtilization": 60}}}]},
    })
    store.create("events", {
        "metadata": {"name": f"{DEPLOY}.1", "namespace": NS},
        "involvedObject": {"kind": "Deployment", "name": DEPLOY, "namespace": NS,
                           "uid": dep["metadata"]["uid"]},
        "reason": "ScalingReplicaSet", "message": f"Scaled up replica set {DEPLOY}-5d4f8 to 2",
        "type": "Normal", "count": 1, "source": {"component": "deployment-controller"},
    })
    ctx.logs.append(NS, f"{DEPLOY}-a", "vllm", "INFO starting vLLM")
    ctx.logs.append(NS, f"{DEPLOY}-a", "vllm", "INFO model loaded")
    ctx.logs.append(NS, f"{DEPLOY}-a", "vllm", "INFO serving on :8000")


@pytest.fixture
def api_server() -> Iterator[ApiServer]:
    """A fresh seeded API server per test (cheap: ~20 ms)."""
    server = ApiServer().start()
    server.call(seed, server.ctx)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def k8s_admin(api_server: ApiServer) -> Iterator[k8s.ApiClient]:
    with api_server.client(api_server.auth.admin_token) as api:
        yield api


@pytest.fixture
def k8s_viewer(api_server: ApiServer) -> Iterator[k8s.ApiClient]:
    with api_server.client(api_server.auth.viewer_token) as api:
        yield api
