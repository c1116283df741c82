"""``-o yaml`` on the existing commands: the same report as ``-o json``, as YAML (issue 17)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from console.sandbox.server import SandboxThread

ROOT = Path(__file__).resolve().parent.parent


def llmctl(sb: SandboxThread, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "console.cli", *args, "--kubeconfig", str(sb.info.kubeconfig)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("args", [
    ("rollout", "history", "claude-inference", "-n", "llm"),
    ("rollout", "status", "claude-inference", "-n", "llm"),
    ("config", "view"),
    ("scale", "claude-long-queue", "--replicas", "1", "-n", "llm", "--dry-run"),
])
def test_yaml_is_the_json_report(sandbox: SandboxThread, args: tuple[str, ...]) -> None:
    as_json = llmctl(sandbox, *args, "-o", "json")
    as_yaml = llmctl(sandbox, *args, "-o", "yaml")
    assert as_json.returncode == as_yaml.returncode, as_json.stderr + as_yaml.stderr
    assert "Traceback" not in as_yaml.stderr
    assert not as_yaml.stdout.lstrip().startswith(("{", "[")), "YAML, not JSON"
    assert yaml.safe_load(as_yaml.stdout) == json.loads(as_json.stdout)


def test_status_yaml(sandbox: SandboxThread) -> None:
    out = llmctl(sandbox, "status", "-o", "yaml")
    assert out.returncode == 0, out.stderr
    doc = yaml.safe_load(out.stdout)
    assert doc["namespace"] == "llm" and len(doc["nodes"]) == 4 and doc["deployments"]
