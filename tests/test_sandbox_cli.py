"""`llmctl sandbox` as a user runs it: one JSON ready line, a kubeconfig kubectl can use, faults, SIGTERM."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import yaml

from tests.conftest import debian_kubectl

ROOT = Path(__file__).resolve().parent.parent


def test_sandbox_command_end_to_end(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kc"
    proc = subprocess.Popen(
        [sys.executable, "-m", "console.cli", "sandbox", "--port", "0", "--kubeconfig", str(kubeconfig),
         "--speed", "40", "--seed", "3"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        line = proc.stdout.readline()  # type: ignore[union-attr]
        ready = json.loads(line)
        assert ready["event"] == "ready" and ready["kubeconfig"] == str(kubeconfig)
        assert set(ready["metrics"]) == {"dcgm", "vllm"} and ready["registry"].startswith("http://127.0.0.1:")
        kc = yaml.safe_load(kubeconfig.read_text())
        assert {c["name"] for c in kc["contexts"]} == {"sandbox-admin", "sandbox-viewer", "sandbox-llm-operator",
                                                      "sandbox-llm-developer"}
        tokens = [u["user"]["token"] for u in kc["users"]]
        assert len(set(tokens)) == 4
        assert not any(t in line for t in tokens), "the ready line must not carry a token"
        assert oct(kubeconfig.stat().st_mode & 0o777) == "0o600"

        with urllib.request.urlopen(ready["metrics"]["dcgm"], timeout=5) as resp:
            assert b"DCGM_FI_DEV_FB_USED" in resp.read()
        with urllib.request.urlopen(ready["registry"] + "/v2/_catalog", timeout=5) as resp:
            assert "llm/claude-inference" in json.loads(resp.read())["repositories"]

        status = subprocess.run([sys.executable, "-m", "console.cli", "status", "--kubeconfig", str(kubeconfig),
                                 "-o", "json"], cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert status.returncode == 0, status.stderr
        snap = json.loads(status.stdout)
        assert len(snap["nodes"]) == 4 and snap["namespace"] == "llm"
        assert not any(t in status.stdout for t in tokens)

        fault = subprocess.run([sys.executable, "-m", "console.cli", "sandbox", "fault", "latency-spike",
                                "--kubeconfig", str(kubeconfig)], cwd=ROOT, capture_output=True, text=True)
        assert fault.returncode == 0, fault.stderr
        assert json.loads(fault.stdout)["applied"] == "latency-spike"
        viewer = subprocess.run([sys.executable, "-m", "console.cli", "sandbox", "fault", "oom", "--context",
                                 "sandbox-viewer", "--kubeconfig", str(kubeconfig)], cwd=ROOT,
                                capture_output=True, text=True)
        assert viewer.returncode == 1 and "forbidden" in viewer.stderr.lower()
        clear = subprocess.run([sys.executable, "-m", "console.cli", "sandbox", "fault", "clear",
                                "--kubeconfig", str(kubeconfig)], cwd=ROOT, capture_output=True, text=True)
        assert clear.returncode == 0 and "latency-spike" in clear.stdout

        kubectl = debian_kubectl()
        out = subprocess.run([kubectl, "--kubeconfig", str(kubeconfig), "get", "pods", "-A"],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        assert "claude-inference-" in out.stdout and "NAMESPACE" in out.stdout
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            assert proc.wait(timeout=15) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
    time.sleep(0)
