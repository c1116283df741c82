"""``KUBECONFIG=a:b:c`` as kubectl reads it: contexts, clusters and users spread over several files, the
first file to define a name wins, the current-context comes from the first file that sets one, missing
files are skipped. Every resolution is compared with ``kubectl config view --minify`` from both kubectls,
and every context is then used for real against the sandbox (the API server says who we are)."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

import pytest

from console.kube.access import describe
from console.kube.errors import KubeError
from console.kube.kubeconfig import read_kubeconfig_target
from console.kube.transport import connect_target
from console.sandbox.server import SandboxThread
from tests.kube.conftest import kubectl, kubectls, minify, sandbox_ca, sandbox_doc, sandbox_token, whoami, write_yaml

BOGUS = "https://127.0.0.1:1"  # what the later files say, and must lose


@pytest.fixture
def files(sandbox: SandboxThread, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """Three kubeconfigs in three folders; the cluster's CA is a file named relative to the second one."""
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.kube/config of the machine's
    sandbox_ca(sandbox, tmp_path / "tls" / "ca.crt")
    users = write_yaml(tmp_path / "a" / "users.yaml", {
        "apiVersion": "v1", "kind": "Config", "current-context": "viewer",
        "contexts": [{"name": "viewer", "context": {"cluster": "sbx", "user": "viewer", "namespace": "llm"}},
                     {"name": "admin", "context": {"cluster": "sbx", "user": "admin"}}],
        "users": [{"name": "viewer", "user": {"token": sandbox_token(sandbox, "sandbox-viewer")}}],
    })
    clusters = write_yaml(tmp_path / "b" / "clusters.yaml", {
        "apiVersion": "v1", "kind": "Config", "current-context": "admin",  # loses: a.yaml set one first
        "clusters": [{"name": "sbx",
                      "cluster": {"server": sandbox.info.api, "certificate-authority": "../tls/ca.crt"}}],
        "users": [{"name": "admin", "user": {"token": sandbox_token(sandbox, "sandbox-admin")}},
                  {"name": "viewer", "user": {"token": "loses-to-a"}}],
    })
    extra = write_yaml(tmp_path / "c" / "extra.yaml", {
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "sbx", "cluster": {"server": BOGUS, "insecure-skip-tls-verify": True}},
                     {"name": "elsewhere", "cluster": {"server": BOGUS}}],
        "contexts": [{"name": "viewer", "context": {"cluster": "elsewhere", "user": "viewer"}},
                     {"name": "operator", "context": {"cluster": "sbx", "user": "operator", "namespace": "llm"}}],
        "users": [{"name": "operator", "user": {"token": sandbox_token(sandbox, "sandbox-llm-operator")}}],
    })
    return {"a": users, "b": clusters, "c": extra, "missing": tmp_path / "nowhere.yaml"}


def kubectl_view(binary: str, context: str | None) -> dict[str, Any]:
    """What kubectl resolves: context name, cluster, user, namespace (kubectl leaves it out: default), server."""
    doc = minify(binary, context)
    ctx = doc["contexts"][0]
    return {"context": ctx["name"], "cluster": ctx["context"]["cluster"], "user": ctx["context"].get("user", ""),
            "namespace": ctx["context"].get("namespace") or "default",
            "server": doc["clusters"][0]["cluster"]["server"]}


def ours(context: str | None) -> dict[str, Any]:
    source = describe(None, context)
    return {"context": source.context, "cluster": source.cluster, "user": source.user,
            "namespace": source.namespace, "server": source.server}


def use(monkeypatch: pytest.MonkeyPatch, *paths: Path) -> None:
    monkeypatch.setenv("KUBECONFIG", os.pathsep.join(str(p) for p in paths))


async def test_two_files_resolve_as_kubectl_and_reach_the_right_user(
        files: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    use(monkeypatch, files["a"], files["b"])
    for context in (None, "viewer", "admin"):
        for binary in kubectls():
            assert ours(context) == kubectl_view(binary, context), (binary, context)
    assert ours(None)["context"] == "viewer", "current-context from the first file that sets one"
    assert read_kubeconfig_target(None, "admin").namespace == "default"
    for context, user in (("viewer", "sandbox-viewer"), ("admin", "sandbox-admin")):
        _, transport = await connect_target(None, context)
        try:  # the first file's viewer token, the second file's cluster and CA (a path relative to it)
            assert await whoami(transport) == user
        finally:
            await transport.close()


async def test_three_files_first_definition_wins(files: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    use(monkeypatch, files["a"], files["missing"], files["b"], files["c"])  # a missing file is skipped
    for context in (None, "viewer", "admin", "operator"):
        for binary in kubectls():
            assert ours(context) == kubectl_view(binary, context), (binary, context)
    assert ours("operator")["server"] == ours("viewer")["server"] != BOGUS
    for context, user in (("viewer", "sandbox-viewer"), ("operator", "sandbox-llm-operator")):
        _, transport = await connect_target(None, context)
        try:
            assert await whoami(transport) == user
        finally:
            await transport.close()
    source = describe(None, "operator")
    assert source.origin == {"context": str(files["c"]), "cluster": str(files["b"]), "user": str(files["c"])}


async def test_order_decides(files: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    use(monkeypatch, files["c"], files["b"], files["a"])  # c defines viewer and sbx first now; b sets the context
    for context in (None, "viewer"):
        for binary in kubectls():
            assert ours(context) == kubectl_view(binary, context), (binary, context)
    assert ours(None)["context"] == "admin" and ours("viewer")["server"] == BOGUS
    target, transport = await connect_target(None, None)
    try:
        with pytest.raises(KubeError) as err:
            await transport.get("/api/v1/namespaces/llm/pods")
        assert err.value.unreachable and target.server == BOGUS
    finally:
        await transport.close()


def test_relative_paths_are_relative_to_their_file(files: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    use(monkeypatch, files["a"], files["b"])
    ca = describe(None, "viewer").tls["certificate_authority"]
    assert ca == str(files["b"].parent.parent / "tls" / "ca.crt")
    for binary in kubectls():
        # kubectl prints the path as written; --flatten reads the file it resolves it to.
        assert minify(binary, "viewer")["clusters"][0]["cluster"]["certificate-authority"] == "../tls/ca.crt"
        flat = kubectl(binary, "config", "view", "--minify", "--flatten", "--raw", "-o", "json", "--context", "viewer")
        data = json.loads(flat.stdout)["clusters"][0]["cluster"]["certificate-authority-data"]
        assert base64.b64decode(data) == Path(ca).read_bytes()


def test_what_goes_wrong_is_said_plainly(files: dict[str, Path], monkeypatch: pytest.MonkeyPatch,
                                         sandbox: SandboxThread) -> None:
    use(monkeypatch, files["a"], files["b"])
    with pytest.raises(KubeError) as err:
        describe(None, "nope")
    assert err.value.message == (f"context 'nope' not found in {files['a']}, {files['b']} (contexts: viewer, admin)")
    use(monkeypatch, files["missing"])
    with pytest.raises(KubeError) as err:
        describe(None, None)
    assert err.value.message == f"no kubeconfig: no file listed in $KUBECONFIG ({files['missing']}) exists"
    with pytest.raises(KubeError) as err:
        describe(str(files["missing"]), None)  # --kubeconfig must exist, and wins over $KUBECONFIG
    assert err.value.message.startswith(f"no kubeconfig at {files['missing']}")
    use(monkeypatch, files["c"])
    assert describe(sandbox.info.kubeconfig, None).server == sandbox.info.api
    with pytest.raises(KubeError) as err:  # c alone: the viewer context's user is in a, which is not listed
        describe(None, "viewer")
    assert err.value.message == f"context 'viewer' uses user 'viewer', which is not in {files['c']}"
    for binary in kubectls():
        out = kubectl(binary, "config", "view", "--minify", "--context", "viewer")
        assert "cannot locate user viewer" in out.stderr


def test_empty_and_odd_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sandbox: SandboxThread) -> None:
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    use(monkeypatch, empty, Path(sandbox.info.kubeconfig))
    assert ours(None)["context"] == sandbox_doc(sandbox)["current-context"]
    for binary in kubectls():
        assert ours(None) == kubectl_view(binary, None)
    broken = tmp_path / "broken.yaml"
    broken.write_text("clusters: [\n")
    use(monkeypatch, broken)
    with pytest.raises(KubeError) as err:
        describe(None, None)
    assert err.value.reason == "BadKubeconfig" and str(broken) in err.value.message
    odd = tmp_path / "odd.yaml"
    odd.write_text("contexts: 5\n")
    use(monkeypatch, odd)
    with pytest.raises(KubeError) as err:
        describe(None, None)
    assert err.value.reason == "BadKubeconfig" and err.value.message.startswith("cannot load kubeconfig")
