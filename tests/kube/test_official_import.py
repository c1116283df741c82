"""console/kube/official.py: the official client's loaders and ApiClient without the rest of the package, in a
fresh interpreter (the test process has imported ``kubernetes`` whole already). The deferred packages must then
behave as a plain import makes them: typed API calls, models, the synchronous client, ``__version__``."""

from __future__ import annotations

import json
import subprocess
import sys

from console.sandbox.server import SandboxThread

CHILD = r"""
import asyncio, importlib.metadata, json, sys

from console.kube.transport import KubeTransport

needed = ("kubernetes.aio.config", "kubernetes.aio.client", "kubernetes.aio.utils")

async def main():
    transport = await KubeTransport.connect(sys.argv[1], None)  # as `llmctl status` connects
    try:
        raw = await transport.get("/api/v1/namespaces/llm/pods")
        heavy = [m for m in sys.modules if m.startswith("kubernetes") and m not in ("kubernetes", "kubernetes.aio")
                 and (not m.startswith(needed) or m.startswith(("kubernetes.aio.client.api.",
                                                                  "kubernetes.aio.client.models.")))]
        k8s = sys.modules["kubernetes.aio"]
        api = k8s.client.CoreV1Api(transport._client)  # typed: the models load now
        typed = await api.list_namespaced_pod("llm")
        return heavy, raw, typed
    finally:
        await transport.close()

heavy, raw, typed = asyncio.run(main())
import kubernetes
from kubernetes import client as sync_client

print(json.dumps({
    "heavy": heavy,
    "raw": sorted(p["metadata"]["name"] for p in raw["items"]),
    "typed": sorted(p.metadata.name for p in typed.items),
    "model": type(typed.items[0]).__name__,
    "version": kubernetes.__version__ == importlib.metadata.version("kubernetes"),
    "sync": sync_client.V1Pod.__name__,
    "all": "CoreV1Api" in kubernetes.aio.client.__all__ if hasattr(kubernetes.aio.client, "__all__")
           else "CoreV1Api" in dir(kubernetes.aio.client),
}))
"""


def test_the_loaders_alone_then_the_whole_package_on_demand(sandbox: SandboxThread) -> None:
    out = subprocess.run([sys.executable, "-c", CHILD, str(sandbox.info.kubeconfig)], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["heavy"] == [], "connecting imported more of the client than its loaders and ApiClient"
    assert seen["raw"] and seen["raw"] == seen["typed"], "the raw transport and a typed call list the same pods"
    assert seen["model"] == "V1Pod" and seen["sync"] == "V1Pod"
    assert seen["version"] and seen["all"]


STATUS = r"""
import json, runpy, sys
sys.argv = ["llmctl", "--kubeconfig", sys.argv[1], "status", "-o", "json"]
try:
    runpy.run_module("console", run_name="__main__")
except SystemExit as stop:
    code = stop.code
print(json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""


def test_status_imports_only_what_it_needs(sandbox: SandboxThread) -> None:
    """``llmctl status`` reads the cluster and prints: no UI, no Docker adapter, no Prometheus client, no
    sandbox code, no synchronous kubernetes client (each of them costs start-up CPU it never uses)."""
    out = subprocess.run([sys.executable, "-c", STATUS, str(sandbox.info.kubeconfig)], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["code"] in (0, None), out.stdout[:2000]
    unneeded = ("textual", "rich", "docker", "prometheus_api_client", "console.builds", "console.sandbox",
                "console.metrics", "screens", "kubernetes.client", "kubernetes.config", "kubernetes_validate")
    assert [m for m in seen["modules"] if m.startswith(unneeded)] == []
