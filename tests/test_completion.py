"""Shell completion: the scripts argcomplete makes, and the answers llmctl gives at TAB — commands, choices,
contexts from the kubeconfig, and resource types, names and namespaces from a live sandbox; nothing (and no
traceback) when the cluster is unreachable."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from console.sandbox.server import SandboxThread

ROOT = Path(__file__).resolve().parents[1]


def complete(line: str, tmp_path: Path) -> list[str]:
    """What llmctl suggests for the command line ``line`` with the cursor at its end (as bash asks)."""
    out = tmp_path / "completions"
    out.unlink(missing_ok=True)
    env = {**os.environ, "_ARGCOMPLETE": "1", "COMP_LINE": line, "COMP_POINT": str(len(line)),
           "_ARGCOMPLETE_STDOUT_FILENAME": str(out), "_ARGCOMPLETE_SHELL": "bash"}
    result = subprocess.run([sys.executable, "-m", "console.cli"], env=env, capture_output=True, text=True,
                            timeout=30, cwd=ROOT)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    return out.read_text().replace("\x0b", "\n").split() if out.exists() else []


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_the_script_for_each_shell(shell: str) -> None:
    result = subprocess.run([sys.executable, "-m", "console.cli", "completion", shell], capture_output=True,
                            text=True, timeout=30, cwd=ROOT)
    assert result.returncode == 0 and "llmctl" in result.stdout and "_ARGCOMPLETE" in result.stdout
    if shell == "bash" and shutil.which("bash"):
        syntax = subprocess.run(["bash", "-n"], input=result.stdout, capture_output=True, text=True)
        assert syntax.returncode == 0, syntax.stderr
    bad = subprocess.run([sys.executable, "-m", "console.cli", "completion", "tcsh"], capture_output=True,
                         text=True, timeout=30, cwd=ROOT)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


def test_commands_and_choices(tmp_path: Path) -> None:
    assert {"status", "scale"} <= set(complete("llmctl s", tmp_path))
    assert complete("llmctl get pods -o y", tmp_path) == ["yaml"]
    assert "get" in complete("llmctl g", tmp_path)


def test_cluster_words_come_from_the_cluster(sandbox: SandboxThread, tmp_path: Path) -> None:
    k = f"llmctl --kubeconfig {sandbox.info.kubeconfig}"
    assert complete(f"{k} --context sandbox-v", tmp_path) == ["sandbox-viewer"]
    assert {"deployments", "deploy", "deployments.apps"} <= set(complete(f"{k} get dep", tmp_path))
    assert complete(f"{k} get deploy,sv", tmp_path) == ["deploy,svc"]
    assert complete(f"{k} get deploy claude-r", tmp_path) == ["claude-router"]
    assert complete(f"{k} get pods -n l", tmp_path) == ["llm"]
    assert all(n.startswith("coredns-") for n in complete(f"{k} -n kube-system get po ", tmp_path))


def test_an_unreachable_cluster_suggests_nothing(tmp_path: Path) -> None:
    from tests.metrics.prom import free_port

    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(f"""apiVersion: v1
kind: Config
clusters: [{{name: c, cluster: {{server: "https://127.0.0.1:{free_port()}"}}}}]
users: [{{name: u, user: {{token: secret-token-xyz}}}}]
contexts: [{{name: here, context: {{cluster: c, user: u}}}}]
current-context: here
""")
    assert complete(f"llmctl --kubeconfig {kubeconfig} get dep", tmp_path) == []
    assert complete(f"llmctl --kubeconfig {kubeconfig} --context h", tmp_path) == ["here"]
    assert complete(f"llmctl --kubeconfig {tmp_path / 'missing'} --context h", tmp_path) == []
