"""``llmctl config view``: which files, context, cluster, user and kind of credential are in use — for every
kind a kubeconfig can hold — and never the secret itself, in the table or in JSON."""

from __future__ import annotations

import base64
import json
import os
import sys
from pathlib import Path

import pytest

from console.cli import main
from console.sandbox.server import SandboxThread
from tests.kube.conftest import PLUGIN, sandbox_token, write_yaml

SECRETS = {
    "token": "tok-3b9f1c0e5d7a",
    "password": "hunter2-9f8e7d",
    "env": "AKIAEXAMPLESECRET77",
    "id-token": "eyJhbGciOi.idtoken.sig",
    "refresh-token": "refresh-5566aa",
    "proxy": "proxy-pass-1234",
}


@pytest.fixture
def kubeconfig(sandbox: SandboxThread, tmp_path: Path) -> tuple[Path, list[str]]:
    """One kubeconfig with a context per kind of credential; returns it and every secret it holds."""
    cert = sandbox.sandbox.client_certificate("alice", ("system:masters",), tmp_path / "pki")
    key_data = base64.b64encode(cert.key_path.read_bytes()).decode()
    (tmp_path / "token-file").write_text(SECRETS["token"] + "-file")
    users = {
        "token": {"token": SECRETS["token"]},
        "token-file": {"tokenFile": "token-file"},
        "exec": {"exec": {"apiVersion": "client.authentication.k8s.io/v1beta1", "command": "aws",
                          "args": ["eks", "get-token", "--cluster-name", "prod"],
                          "env": [{"name": "AWS_SECRET_ACCESS_KEY", "value": SECRETS["env"]}]}},
        "basic": {"username": "ops", "password": SECRETS["password"]},
        "client-certificate": {"client-certificate-data": base64.b64encode(cert.cert_path.read_bytes()).decode(),
                               "client-key-data": key_data},
        "auth-provider": {"auth-provider": {"name": "oidc", "config": {
            "id-token": SECRETS["id-token"], "refresh-token": SECRETS["refresh-token"], "client-secret": "cs-1"}}},
        "sandbox": {"token": sandbox_token(sandbox, "sandbox-admin")},
    }
    doc = {"apiVersion": "v1", "kind": "Config", "current-context": "token",
           "clusters": [{"name": "c", "cluster": {"server": sandbox.info.api, "tls-server-name": "api.internal",
                                                  "proxy-url": f"http://ops:{SECRETS['proxy']}@proxy:3128"}}],
           "contexts": [{"name": kind, "context": {"cluster": "c", "user": kind}} for kind in users],
           "users": [{"name": kind, "user": user} for kind, user in users.items()]}
    secrets = [*SECRETS.values(), key_data, "cs-1", sandbox_token(sandbox, "sandbox-admin")]
    return write_yaml(tmp_path / "kc", doc), secrets


@pytest.mark.parametrize("kind", ["token", "token-file", "exec", "basic", "client-certificate", "auth-provider"])
def test_each_kind_is_named_and_no_secret_is_printed(kubeconfig: tuple[Path, list[str]], kind: str,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    path, secrets = kubeconfig
    assert main(["config", "view", "--kubeconfig", str(path), "--context", kind, "-o", "json"]) == 0
    out = capsys.readouterr().out
    data = json.loads(out)
    assert data["auth"]["kind"] == kind and data["context"] == kind and data["user"] == kind
    assert data["tls"]["tls_server_name"] == "api.internal"
    assert data["tls"]["proxy_url"] == "http://ops:REDACTED@proxy:3128"
    assert main(["config", "view", "--kubeconfig", str(path), "--context", kind]) == 0
    out += capsys.readouterr().out
    leaked = [s for s in secrets if s in out]
    assert not leaked, f"config view printed a secret: {leaked}"


def test_the_table_says_what_is_in_use(kubeconfig: tuple[Path, list[str]], capsys: pytest.CaptureFixture[str]) -> None:
    path, _ = kubeconfig
    assert main(["config", "view", "--kubeconfig", str(path), "--context", "exec"]) == 0
    table = capsys.readouterr().out
    assert "exec plugin: aws eks get-token --cluster-name prod (client.authentication.k8s.io/v1beta1), " \
           "env AWS_SECRET_ACCESS_KEY" in table
    assert main(["config", "view", "--kubeconfig", str(path), "--context", "client-certificate"]) == 0
    assert "client certificate (inline data) (CN=alice,O=system:masters)" in capsys.readouterr().out
    assert main(["config", "view", "--kubeconfig", str(path), "--context", "token-file"]) == 0
    assert f"bearer token from file {path.parent / 'token-file'}" in capsys.readouterr().out


def test_merged_files_and_errors(kubeconfig: tuple[Path, list[str]], tmp_path: Path,
                                 monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    path, _ = kubeconfig
    first = write_yaml(tmp_path / "first.yaml", {"apiVersion": "v1", "kind": "Config", "current-context": "exec"})
    monkeypatch.setenv("KUBECONFIG", os.pathsep.join([str(first), str(path)]))
    assert main(["config", "view", "-o", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["kubeconfig"] == [str(first), str(path)] and data["context"] == "exec"
    assert main(["config", "view"]) == 0
    table = capsys.readouterr().out
    assert f"kubeconfig      {first}\n                {path}\n" in table and f"(from {path})" in table
    assert main(["config", "view", "--context", "nope"]) == 1
    assert "context 'nope' not found in" in capsys.readouterr().err


def test_the_exec_plugin_is_not_run(sandbox: SandboxThread, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Viewing the configuration runs nothing: a plugin may be slow, interactive or have side effects."""
    count = tmp_path / "runs"
    user = {"exec": {"apiVersion": "client.authentication.k8s.io/v1beta1", "command": sys.executable,
                     "args": [str(PLUGIN), "--issuer", sandbox.info.token_issuer, "--count", str(count)]}}
    doc = {"apiVersion": "v1", "kind": "Config", "current-context": "x",
           "clusters": [{"name": "c", "cluster": {"server": sandbox.info.api}}],
           "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
           "users": [{"name": "u", "user": user}]}
    assert main(["config", "view", "--kubeconfig", str(write_yaml(tmp_path / "kc", doc))]) == 0
    assert "exec plugin:" in capsys.readouterr().out and not count.exists()
