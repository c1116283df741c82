"""``llmctl status -A``: every namespace's Deployments, as ``kubectl get deployments -A`` — a NAMESPACE column in
the table, each Deployment with its namespace in ``-o json`` — with one name in two namespaces listed twice."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from kubernetes import client, config

from console.sandbox.server import SandboxThread
from tests.ui.test_every_namespace_deployment import HOME, NAME, OTHER, copy_to_other_namespace

ROOT = Path(__file__).resolve().parent.parent


def llmctl(sb: SandboxThread, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "console.cli", "--kubeconfig", str(sb.info.kubeconfig), *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_status_of_every_namespace(sandbox: SandboxThread) -> None:
    copy_to_other_namespace(sandbox)
    apps = client.AppsV1Api(config.new_client_from_config(str(sandbox.info.kubeconfig)))
    expect = sorted((d.metadata.namespace, d.metadata.name) for d in apps.list_deployment_for_all_namespaces().items)
    assert (HOME, NAME) in expect and (OTHER, NAME) in expect
    as_json = llmctl(sandbox, "status", "-A", "-o", "json")
    assert as_json.returncode == 0, as_json.stderr
    doc = json.loads(as_json.stdout)
    assert doc["namespace"] == "" and sorted((d["namespace"], d["name"]) for d in doc["deployments"]) == expect
    # -A wins over -n, as in kubectl
    assert json.loads(llmctl(sandbox, "status", "-n", HOME, "--all-namespaces", "-o", "json").stdout)["namespace"] == ""
    table = llmctl(sandbox, "status", "-A")
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert "namespace all" in lines[0]
    head = next(i for i, line in enumerate(lines) if line.split()[:2] == ["NAMESPACE", "DEPLOYMENT"])
    listed = sorted(tuple(line.split()[:2]) for line in lines[head + 1:head + 1 + len(expect)])
    assert listed == expect
    # one namespace: as before, no NAMESPACE column
    one = llmctl(sandbox, "status")
    assert any(line.split()[:1] == ["DEPLOYMENT"] for line in one.stdout.splitlines()), one.stdout


def test_the_in_process_sandbox_ends_quietly_under_every_namespace_watch() -> None:
    """`llmctl --sandbox status -A` ends while its cluster-wide watches are being opened: the sandbox's watch handler
    met a client already gone before its stream began and returned no response, and aiohttp printed a traceback
    ("Missing return statement on request handler") on the user's terminal — in two runs of three."""
    for _ in range(4):
        out = subprocess.run([sys.executable, "-m", "console.cli", "--sandbox", "status", "-A"], cwd=ROOT,
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 0 and "namespace all" in out.stdout, out.stderr
        assert out.stderr == "", out.stderr
