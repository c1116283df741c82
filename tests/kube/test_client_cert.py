"""Client-certificate users, as kubeadm and many on-premises clusters hand them out: the sandbox's TLS asks
for an optional client certificate signed by its client CA and, like kube-apiserver, takes the CN as the
user name and each O as a group; the console (and both kubectls) authenticate with the kubeconfig's
``client-certificate``/``client-key`` files or ``-data``."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from console.kube.access import describe
from console.kube.errors import KubeError
from console.kube.transport import connect_target
from console.sandbox.api_tls import ClientCa
from console.sandbox.server import SandboxThread
from tests.kube.conftest import kubectl, kubectls, one_context, whoami


def cert_files(sandbox: SandboxThread, folder: Path, user: str, *groups: str) -> dict[str, str]:
    """A kubeconfig user with certificate and key as files, named relative to the kubeconfig's folder."""
    made = sandbox.sandbox.client_certificate(user, groups, folder / "pki")
    return {"client-certificate": f"pki/{made.cert_path.name}", "client-key": f"pki/{made.key_path.name}"}


def cert_data(sandbox: SandboxThread, folder: Path, user: str, *groups: str) -> dict[str, str]:
    made = sandbox.sandbox.client_certificate(user, groups, folder / "pki")
    return {"client-certificate-data": base64.b64encode(made.cert_path.read_bytes()).decode(),
            "client-key-data": base64.b64encode(made.key_path.read_bytes()).decode()}


async def test_the_certificates_cn_is_the_user(sandbox: SandboxThread, tmp_path: Path) -> None:
    kubeconfig = one_context(sandbox, tmp_path / "kc", cert_files(sandbox, tmp_path, "alice", "system:masters"))
    target, transport = await connect_target(str(kubeconfig), None)
    try:
        assert target.user == "u" and await whoami(transport) == "alice"
        assert (await transport.get("/api/v1/nodes"))["items"], "system:masters may list nodes"
    finally:
        await transport.close()
    source = describe(str(kubeconfig), None)
    assert source.auth["kind"] == "client-certificate"
    assert source.auth["certificate_subject"] == "CN=alice,O=system:masters"
    assert source.auth["client_certificate"] == str(tmp_path / "pki" / "alice.crt")


async def test_a_user_without_a_role_is_authenticated_but_forbidden(sandbox: SandboxThread, tmp_path: Path) -> None:
    kubeconfig = one_context(sandbox, tmp_path / "kc", cert_data(sandbox, tmp_path, "bob", "gpu-team"))
    _, transport = await connect_target(str(kubeconfig), None)
    try:
        with pytest.raises(KubeError) as err:
            await transport.get("/api/v1/namespaces/llm/pods")
        assert err.value.code == 403 and 'User "bob" cannot list resource "pods"' in err.value.message
    finally:
        await transport.close()


async def test_a_certificate_named_like_a_sandbox_user_gets_its_rights(sandbox: SandboxThread, tmp_path: Path) -> None:
    kubeconfig = one_context(sandbox, tmp_path / "kc", cert_files(sandbox, tmp_path, "sandbox-viewer"))
    _, transport = await connect_target(str(kubeconfig), None)
    try:
        assert await whoami(transport) == "sandbox-viewer"
        with pytest.raises(KubeError) as err:
            await transport.request("PATCH", "/apis/apps/v1/namespaces/llm/deployments/claude-inference/scale",
                                    body={"spec": {"replicas": 3}}, content_type="application/merge-patch+json")
        assert err.value.code == 403
    finally:
        await transport.close()


async def test_a_certificate_from_another_ca_is_refused_at_the_handshake(sandbox: SandboxThread,
                                                                          tmp_path: Path) -> None:
    foreign = ClientCa.ensure(tmp_path / "other-ca").issue("mallory", ("system:masters",), tmp_path / "pki")
    user = {"client-certificate": str(foreign.cert_path), "client-key": str(foreign.key_path)}
    _, transport = await connect_target(str(one_context(sandbox, tmp_path / "kc", user)), None)
    try:
        with pytest.raises(KubeError) as err:
            await transport.get("/api/v1/nodes")
        assert err.value.unreachable and err.value.message.startswith("cannot reach the API server")
    finally:
        await transport.close()


def test_both_kubectls_authenticate_with_the_certificate(sandbox: SandboxThread, tmp_path: Path) -> None:
    admin = one_context(sandbox, tmp_path / "admin", cert_files(sandbox, tmp_path, "alice", "system:masters"))
    nobody = one_context(sandbox, tmp_path / "nobody", cert_data(sandbox, tmp_path, "bob"))
    for binary in kubectls():
        allowed = kubectl(binary, "--kubeconfig", str(admin), "get", "nodes", "-o", "name")
        assert allowed.returncode == 0 and allowed.stdout.count("node/") == 4, (binary, allowed.stderr)
        denied = kubectl(binary, "--kubeconfig", str(nobody), "get", "pods")
        assert denied.returncode != 0 and 'User "bob" cannot list resource "pods"' in denied.stderr, binary
