"""`llmctl sandbox --state-dir DIR --metrics-port N`: a restart looks like an API server restart (issue 14).

The cluster (objects and their resourceVersions) comes back as it was — not rebuilt from the scenario — versions
go on from where they were, a watch resumes from a version it had, and the exporters keep their ports, so a
Prometheus scraping them does not go stale. A second sandbox on the same directory is refused.
"""

from __future__ import annotations

import json
import random
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

from kubernetes import client as k8s
from kubernetes import config as k8s_config

ROOT = Path(__file__).resolve().parent.parent


def free_port_pair() -> int:
    """A port whose successor is also free (the vLLM exporter takes PORT+1), below the kernel's ephemeral range:
    the test stops and restarts the sandbox on it, and a port the kernel hands out for port 0 could be given to
    another test in between (the suite runs on two workers)."""
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    rng = random.Random()
    for _ in range(200):
        port = rng.randrange(10_000, low - 2)
        with socket.socket() as a, socket.socket() as b:
            try:
                a.bind(("127.0.0.1", port))
                b.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
            return port
    raise RuntimeError("no two adjacent free ports")


def start(state: Path, kubeconfig: Path, metrics_port: int) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "console.cli", "sandbox", "--kubeconfig", str(kubeconfig), "--speed", "20",
         "--state-dir", str(state), "--metrics-port", str(metrics_port)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    line = proc.stdout.readline()  # type: ignore[union-attr]
    if not line:
        proc.kill()
        raise AssertionError(f"no ready line: {proc.stderr.read()}")  # type: ignore[union-attr]
    return proc, json.loads(line)


def stop(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        assert proc.wait(timeout=20) == 0, proc.stderr.read()  # type: ignore[union-attr]
    finally:
        if proc.poll() is None:
            proc.kill()


def api(kubeconfig: Path) -> k8s.ApiClient:
    return k8s_config.new_client_from_config(str(kubeconfig), context="sandbox-admin")


def test_a_restarted_sandbox_keeps_its_cluster_versions_and_ports(tmp_path: Path) -> None:
    state, kubeconfig = tmp_path / "state", tmp_path / "kc"
    port = free_port_pair()
    proc, ready = start(state, kubeconfig, port)
    try:
        assert ready["metrics"] == {"dcgm": f"http://127.0.0.1:{port}/metrics",
                                    "vllm": f"http://127.0.0.1:{port + 1}/metrics"}
        assert ready["state"] == {"file": str(state / "state.json"), "restored": False}
        with api(kubeconfig) as c:
            core = k8s.CoreV1Api(c)
            made = core.create_namespaced_config_map("llm", k8s.V1ConfigMap(
                metadata=k8s.V1ObjectMeta(name="kept"), data={"answer": "42"}))
            pods_before = {p.metadata.uid for p in core.list_namespaced_pod("llm").items}
            listed_rv = core.list_namespaced_config_map("llm").metadata.resource_version
        second = subprocess.run(
            [sys.executable, "-m", "console.cli", "sandbox", "--state-dir", str(state)],
            cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert second.returncode == 2 and "in use by another sandbox" in second.stderr, second.stderr
        assert "Traceback" not in second.stderr
    finally:
        stop(proc)
    assert (state / "state.json").is_file()

    proc, ready = start(state, kubeconfig, port)
    try:
        assert ready["state"]["restored"] is True
        assert ready["metrics"]["dcgm"] == f"http://127.0.0.1:{port}/metrics"
        with urllib.request.urlopen(ready["metrics"]["dcgm"], timeout=5) as resp:
            assert b"DCGM_FI_DEV_FB_USED" in resp.read()
        with api(kubeconfig) as c:
            core = k8s.CoreV1Api(c)
            kept = core.read_namespaced_config_map("kept", "llm")
            assert kept.data == {"answer": "42"}
            assert kept.metadata.resource_version == made.metadata.resource_version
            assert kept.metadata.uid == made.metadata.uid
            # the same pods, not a scenario built again (its pods would have new UIDs)
            assert pods_before & {p.metadata.uid for p in core.list_namespaced_pod("llm").items}
            # versions go on from where they were
            later = core.create_namespaced_config_map("llm", k8s.V1ConfigMap(metadata=k8s.V1ObjectMeta(name="later")))
            assert int(later.metadata.resource_version) > int(made.metadata.resource_version)
            # a watch from a version handed out before the restart resumes (no 410) and sees what came after
            seen = []
            for event in k8s.CoreV1Api(c).list_namespaced_config_map(
                    "llm", watch=True, resource_version=listed_rv, timeout_seconds=2, _preload_content=False
            ).stream():
                line = json.loads(event)
                seen.append((line["type"], line["object"]["metadata"].get("name")))
                if ("ADDED", "later") in seen:
                    break
            assert ("ADDED", "later") in seen and not any(t == "ERROR" for t, _ in seen), seen
    finally:
        stop(proc)


def test_state_dir_errors_are_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "state"
    bad.mkdir()
    (bad / "state.json").write_text("not json")
    out = subprocess.run([sys.executable, "-m", "console.cli", "sandbox", "--state-dir", str(bad)],
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "not a usable sandbox state" in out.stderr and "Traceback" not in out.stderr
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    try:
        port = taken.getsockname()[1]
        out = subprocess.run([sys.executable, "-m", "console.cli", "sandbox", "--metrics-port", str(port)],
                             cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert out.returncode == 1 and f"127.0.0.1:{port}" in out.stderr and "DCGM" in out.stderr
        assert "Traceback" not in out.stderr
    finally:
        taken.close()
    out = subprocess.run([sys.executable, "-m", "console.cli", "sandbox", "--metrics-port", "70000"],
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "--metrics-port" in out.stderr
