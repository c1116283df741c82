"""kubectl against the sandbox through the kubeconfig it writes (skipped without kubectl, never under CI).

kubectl sends kubeconfig credentials only to an https server, so these run the API over TLS with a
throwaway self-signed certificate, as ``console.sandbox.api_tls`` provides.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from console.sandbox.api_tls import self_signed
from console.sandbox.kubeconfig import write_kubeconfig
from console.sandbox.store import copy_object
from tests.conftest import debian_kubectl

from .conftest import DEPLOY, NS, ApiServer, seed


def _second_revision(server: ApiServer) -> None:
    """What the deployment controller leaves after a rollout to :v2: two ReplicaSets, status rolled out."""
    store = server.ctx.store
    dep = copy_object(store.get("deployments", NS, DEPLOY))
    dep["spec"]["template"]["spec"]["containers"][0]["image"] = "registry.local/llm/claude-inference:v2"
    dep["metadata"]["annotations"] = {"deployment.kubernetes.io/revision": "2"}
    dep = store.replace("deployments", dep)
    rs = copy_object(store.get("replicasets", NS, f"{DEPLOY}-5d4f8"))
    for key in ("uid", "resourceVersion", "creationTimestamp"):
        rs["metadata"].pop(key)
    rs["metadata"]["name"] = f"{DEPLOY}-7b9c6"
    rs["metadata"]["annotations"] = {"deployment.kubernetes.io/revision": "2"}
    rs["spec"]["template"] = dep["spec"]["template"]
    store.create("replicasets", rs)
    _rolled_out(server)


def _rolled_out(server: ApiServer) -> None:
    dep = copy_object(server.ctx.store.get("deployments", NS, DEPLOY))
    n = dep["spec"]["replicas"]
    dep["status"] = {"observedGeneration": dep["metadata"]["generation"], "replicas": n, "updatedReplicas": n,
                     "readyReplicas": n, "availableReplicas": n}
    server.ctx.store.replace("deployments", dep)


@pytest.fixture
def kubectl_env(tmp_path: Path) -> Iterator[tuple[ApiServer, list[str]]]:
    kubectl = debian_kubectl()
    tls = self_signed(tmp_path / "tls")
    server = ApiServer(tls=tls).start()
    server.call(seed, server.ctx)
    server.call(_second_revision, server)
    config = write_kubeconfig(tmp_path / "kubeconfig", server.url, server.auth, ca_pem=tls.ca_pem)
    base = [kubectl, "--kubeconfig", str(config), "--cache-dir", str(tmp_path / "cache"), "--request-timeout=10s"]
    try:
        yield server, base
    finally:
        server.stop()


def run(base: list[str], *args: str, ok: bool = True) -> str:
    done = subprocess.run([*base, *args], capture_output=True, text=True, timeout=30, check=False)
    if ok:
        assert done.returncode == 0, f"kubectl {' '.join(args)}: {done.stderr}"
    return done.stdout + done.stderr


def test_kubectl_reads(kubectl_env: tuple[ApiServer, list[str]]) -> None:
    _, k = kubectl_env
    pods = run(k, "get", "pods", "-A")
    assert pods.splitlines()[0].split() == ["NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert f"{DEPLOY}-c" in pods and "Pending" in pods and "loner" in pods
    listed = json.loads(run(k, "get", "deploy", "-n", NS, "-o", "json"))
    assert [d["metadata"]["name"] for d in listed["items"]] == [DEPLOY]
    nodes = run(k, "get", "nodes")
    assert "gpu-node-1" in nodes and "Ready" in nodes
    assert DEPLOY in run(k, "get", "hpa") and "ScalingReplicaSet" in run(k, "get", "events")
    described = run(k, "describe", "deploy", DEPLOY)
    assert "RollingUpdateStrategy:  0 max unavailable, 1 max surge" in described
    assert f"{DEPLOY}-7b9c6" in described
    assert "successfully rolled out" in run(k, "rollout", "status", f"deploy/{DEPLOY}", "--timeout=5s")
    history = run(k, "rollout", "history", f"deploy/{DEPLOY}")
    assert [line.split()[0] for line in history.splitlines()[2:] if line.strip()] == ["1", "2"]
    assert run(k, "auth", "can-i", "patch", "deployments").strip() == "yes"
    assert run(k, "logs", f"{DEPLOY}-a", "--tail=1").strip() == "INFO serving on :8000"


def test_kubectl_writes(kubectl_env: tuple[ApiServer, list[str]]) -> None:
    server, k = kubectl_env
    store = server.ctx.store

    def spec() -> dict:
        return server.call(lambda: copy_object(store.get("deployments", NS, DEPLOY)))["spec"]

    run(k, "scale", f"deploy/{DEPLOY}", "--replicas=3")
    assert spec()["replicas"] == 3
    run(k, "set", "image", f"deploy/{DEPLOY}", "vllm=registry.local/llm/claude-inference:v3")
    images = [c["image"] for c in spec()["template"]["spec"]["containers"]]
    assert images == ["registry.local/llm/claude-inference:v3", "registry.local/llm/metrics-sidecar:v3"]
    run(k, "rollout", "pause", f"deploy/{DEPLOY}")
    assert spec()["paused"] is True
    run(k, "rollout", "resume", f"deploy/{DEPLOY}")
    assert "paused" not in spec()
    run(k, "rollout", "restart", f"deploy/{DEPLOY}")
    assert "kubectl.kubernetes.io/restartedAt" in spec()["template"]["metadata"]["annotations"]
    run(k, "rollout", "undo", f"deploy/{DEPLOY}", "--to-revision=1")
    assert spec()["template"]["spec"]["containers"][0]["image"].endswith(":v1")
    denied = run(k, "--context", "sandbox-viewer", "scale", f"deploy/{DEPLOY}", "--replicas=1", ok=False)
    assert 'User "sandbox-viewer" cannot patch resource "deployments/scale"' in denied
    assert spec()["replicas"] == 3


def test_kubectl_sends_no_token_to_plain_http(api_server: ApiServer, tmp_path: Path) -> None:
    """Why the sandbox offers TLS: over http:// kubectl is anonymous, whatever the kubeconfig says."""
    kubectl = debian_kubectl()
    config = write_kubeconfig(tmp_path / "kubeconfig", api_server.url, api_server.auth)
    out = run([kubectl, "--kubeconfig", str(config), "--cache-dir", str(tmp_path / "cache")], "get", "pods",
              ok=False)
    assert "provide credentials" in out or "Unauthorized" in out
