"""In-cluster config, as headless commands see it when they run as a Job or CronJob: no kubeconfig, the
service variables and a mounted service account (token, ca.crt, namespace) — here a temporary folder named
by LLMCTL_SERVICE_ACCOUNT_DIR. The token is read again when kubelet rotates it, and on a 401."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

import pytest

from console.kube.access import describe
from console.kube.errors import KubeError
from console.kube.kubeconfig import SERVICE_ACCOUNT_DIR_ENV
from console.kube.transport import connect_target
from console.sandbox.auth import TokenIssuer
from console.sandbox.server import SandboxThread
from tests.kube.conftest import ROOT, one_context, sandbox_ca, sandbox_token, whoami


def mount(sandbox: SandboxThread, folder: Path, token: str, namespace: str = "llm") -> Path:
    """What kubelet mounts at /var/run/secrets/kubernetes.io/serviceaccount (the token without a newline)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "token").write_text(token)
    sandbox_ca(sandbox, folder / "ca.crt")
    (folder / "namespace").write_text(namespace)
    return folder


def rotate(folder: Path, token: str) -> None:
    """kubelet's way: write the new token beside the old one and swap it in atomically."""
    fresh = folder / ".token.new"
    fresh.write_text(token)
    os.replace(fresh, folder / "token")


@pytest.fixture
def pod_env(sandbox: SandboxThread, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The environment of a pod on the sandbox's cluster, with no kubeconfig anywhere."""
    folder = mount(sandbox, tmp_path / "serviceaccount", sandbox_token(sandbox, "sandbox-viewer"))
    env = {"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": str(urlparse(sandbox.info.api).port),
           SERVICE_ACCOUNT_DIR_ENV: str(folder), "HOME": str(tmp_path / "home")}
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.delenv("POD_NAMESPACE", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


async def test_a_pod_uses_its_service_account(pod_env: dict[str, str], sandbox: SandboxThread) -> None:
    target, transport = await connect_target(None, None)
    try:
        assert target.context == "in-cluster" and target.namespace == "llm" and target.server == sandbox.info.api
        assert await whoami(transport) == "sandbox-viewer"
        rotate(Path(pod_env[SERVICE_ACCOUNT_DIR_ENV]), sandbox_token(sandbox, "sandbox-admin"))
        assert await whoami(transport) == "sandbox-admin", "the rotated token is used without reconnecting"
    finally:
        await transport.close()
    source = describe(None, None)
    assert source.files == () and source.auth == {
        "kind": "in-cluster", "token_file": str(Path(pod_env[SERVICE_ACCOUNT_DIR_ENV]) / "token")}
    assert source.tls["certificate_authority"] == str(Path(pod_env[SERVICE_ACCOUNT_DIR_ENV]) / "ca.crt")


async def test_a_token_changed_unnoticed_is_read_again_on_401(sb: SandboxThread, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Projected tokens expire; if the file changed without its inode, size or time showing it, the 401 makes
    the transport read it again and retry once."""
    issuer = TokenIssuer.load(sb.info.token_issuer)
    folder = mount(sb, tmp_path / "sa", issuer.mint("sandbox-viewer")[0])
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", str(urlparse(sb.info.api).port))
    monkeypatch.setenv(SERVICE_ACCOUNT_DIR_ENV, str(folder))
    _, transport = await connect_target(None, None)
    try:
        assert await whoami(transport) == "sandbox-viewer"
        sb.sandbox.rotate_token_issuer()  # the old token is refused from now on
        token_file = folder / "token"
        before = token_file.stat()
        fresh = TokenIssuer.load(sb.info.token_issuer).mint("sandbox-viewer")[0]
        assert len(fresh) == before.st_size
        with open(token_file, "r+") as fh:  # same inode, same size ...
            fh.write(fresh)
        os.utime(token_file, ns=(before.st_atime_ns, before.st_mtime_ns))  # ... and the same time
        assert await whoami(transport) == "sandbox-viewer"
        token_file.write_text("not-a-token")
        with pytest.raises(KubeError) as err:
            await transport.get("/api/v1/namespaces/llm/pods")
        assert err.value.code == 401
        assert err.value.message == f"unauthorized: the service account token from {token_file} was rejected"
    finally:
        await transport.close()


def test_headless_commands_run_as_a_job(pod_env: dict[str, str], sandbox: SandboxThread) -> None:
    env = {**os.environ, **pod_env}
    token = sandbox_token(sandbox, "sandbox-viewer")
    status = subprocess.run([sys.executable, "-m", "console.cli", "status", "-o", "json"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    # The pod's service account is bound to the view role, which may not list nodes: the nodes panel says so
    # and the command exits 1, as on a real cluster; the namespace's workloads are still there.
    assert status.returncode == 1, status.stderr
    snap = json.loads(status.stdout)
    assert snap["context"] == "in-cluster" and snap["namespace"] == "llm" and snap["nodes"] == []
    assert snap["problems"] == [{"resource": "nodes", "message": "no permission to list nodes cluster-wide"}]
    assert snap["deployments"]
    view = subprocess.run([sys.executable, "-m", "console.cli", "config", "view", "-o", "json"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert view.returncode == 0, view.stderr
    data = json.loads(view.stdout)
    assert data["kubeconfig"] == [] and data["auth"]["kind"] == "in-cluster" and data["server"] == sandbox.info.api
    assert token not in status.stdout + view.stdout + status.stderr + view.stderr


def test_a_kubeconfig_comes_first(pod_env: dict[str, str], sandbox: SandboxThread, tmp_path: Path,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    kubeconfig = tmp_path / "home" / ".kube" / "config"
    kubeconfig.parent.mkdir(parents=True)
    shutil.copy(sandbox.info.kubeconfig, kubeconfig)
    assert describe(None, None).context == "sandbox-admin"
    kubeconfig.unlink()
    assert describe(None, None).context == "in-cluster"
    with pytest.raises(KubeError):
        describe(str(tmp_path / "missing"), None)  # an explicit --kubeconfig never falls back
    with pytest.raises(KubeError):
        describe(None, "sandbox-admin")  # nor does an explicit --context
    monkeypatch.setenv("POD_NAMESPACE", "team-a")  # the downward API variable comes before the file
    assert describe(None, None).namespace == "team-a"


async def test_a_kubeconfig_token_file_is_read_again_too(sandbox: SandboxThread, tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(sandbox_token(sandbox, "sandbox-viewer"))
    kubeconfig = one_context(sandbox, tmp_path / "kc", {"tokenFile": "token"})  # relative to the kubeconfig
    _, transport = await connect_target(str(kubeconfig), None)
    try:
        assert await whoami(transport) == "sandbox-viewer"
        rotate(tmp_path, sandbox_token(sandbox, "sandbox-admin"))
        assert await whoami(transport) == "sandbox-admin"
    finally:
        await transport.close()
