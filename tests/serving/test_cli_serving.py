"""``llmctl probe`` and ``llmctl loadtest`` as a user runs them: the real command line against the sandbox's
kubeconfig (the console's kube transport and credentials), exit codes, one-line errors for bad input,
``--save`` and ``loadtest compare``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from console.sandbox.server import SandboxThread
from tests.serving.conftest import Cluster


def llmctl(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "console", *args], capture_output=True, text=True,
                          timeout=timeout, env={"PATH": "/usr/bin:/bin", "HOME": "/nonexistent"})


@pytest.fixture(scope="module")
def kube(serving_sandbox: tuple[SandboxThread, Cluster]) -> list[str]:
    return ["--kubeconfig", serving_sandbox[1].kubeconfig]


def test_probe_prints_the_answer_timing_and_pod(kube: list[str], serving_sandbox: tuple[SandboxThread, Cluster]
                                                ) -> None:
    thread = serving_sandbox[0]
    done = llmctl(*kube, "probe", "claude-inference", "-o", "json")
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["ok"] and doc["model"] == "claude-inference" and doc["service"] == "llm/claude-inference:8000"
    assert doc["text"] and 0 < doc["ttft_s"] < doc["latency_s"] and doc["tokens_per_s"] > 0
    pods = thread.call(lambda: [p["metadata"]["name"] for p in thread.ctx.store.list("pods", "llm", "app=claude")])
    assert doc["pod"] in pods
    table = llmctl(*kube, "probe", "claude-router:80", "--prompt", "why is p99 high?")
    assert table.returncode == 0, table.stderr
    assert "routed to claude-short-queue" in table.stdout and "TTFT" in table.stdout


def test_probe_failures_exit_1_with_one_line(kube: list[str]) -> None:
    missing = llmctl(*kube, "probe", "nope")
    assert missing.returncode == 1 and missing.stderr.strip() == 'llmctl probe: services "nope" not found'
    viewer = llmctl(*kube, "--context", "sandbox-viewer", "probe", "claude-inference")
    assert viewer.returncode == 1 and len(viewer.stderr.strip().splitlines()) == 1
    assert 'cannot get resource "services/proxy"' in viewer.stderr
    wrong_model = llmctl(*kube, "probe", "claude-inference", "--model", "gpt-4")
    assert wrong_model.returncode == 1 and "The model `gpt-4` does not exist" in wrong_model.stderr


@pytest.mark.parametrize("args, message", [
    (("probe", "Bad_Name"), "not a Service name"),
    (("probe", "svc:99999"), "not a port number or name"),
    (("probe", "svc", "--max-tokens", "0"), "--max-tokens must be between"),
    (("loadtest", "svc", "--qps", "0"), "--qps must be > 0"),
    (("loadtest", "svc", "--qps", "nan"), "--qps must be > 0"),
    (("loadtest", "svc", "--qps", "1e9"), "--qps must be > 0 and ≤ 2000"),
    (("loadtest", "svc", "--concurrency", "0"), "--concurrency must be between 1"),
    (("loadtest", "svc"), "give either --qps or --concurrency"),
    (("loadtest", "svc", "--qps", "5", "--duration", "forever"), "--duration: not a duration"),
    (("loadtest", "svc", "--qps", "5", "--duration", "2d"), "--duration must be > 0 and ≤ 3600"),
    (("loadtest", "svc", "--qps", "5", "--prompts", "/nonexistent/prompts.txt"), "No such file"),
    (("loadtest", "svc", "--qps", "5", "--prompt-mix", "80-20"), "short:long weights"),
    (("loadtest", "svc", "--find-max", "--p99", "soon"), "--p99: not a duration"),
    (("loadtest", "svc", "--find-max", "--concurrency", "4"), "does not take --concurrency"),
    (("loadtest", "compare", "only-one.json"), "usage: llmctl loadtest compare A.json B.json"),
    (("loadtest", "compare", "/nonexistent/a.json", "/nonexistent/b.json"), "No such file"),
])
def test_bad_input_is_exit_2_and_one_line(kube: list[str], args: tuple[str, ...], message: str) -> None:
    done = llmctl(*kube, *args)
    assert done.returncode == 2, done
    assert len(done.stderr.strip().splitlines()) == 1 and message in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


def test_loadtest_saves_and_compares(kube: list[str], tmp_path: Path) -> None:
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text('{"prompt": "short one"}\n' + json.dumps({"prompt": "long " * 80}) + "\n")
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    first = llmctl(*kube, "loadtest", "claude-router:80", "--qps", "10", "--duration", "2s", "--prompts",
                   str(prompts), "--save", str(a))
    assert first.returncode == 0, first.stderr
    assert "achieved" in first.stdout and "routed to" in first.stdout
    saved = json.loads(a.read_text())
    assert saved["summary"]["requests"] == 20 and set(saved["summary"]["routed_to"]) == {
        "claude-short-queue", "claude-long-queue"}
    second = llmctl(*kube, "loadtest", "claude-inference", "--concurrency", "3", "--duration", "2s", "-o", "json",
                    "--save", str(b))
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout)["plan"]["mode"] == "closed-loop"
    compared = llmctl("loadtest", "compare", str(a), str(b), "-o", "json")  # no kubeconfig needed
    assert compared.returncode == 0, compared.stderr
    rows = {r["metric"]: r for r in json.loads(compared.stdout)["metrics"]}
    assert rows["achieved QPS"]["a"] == pytest.approx(10, abs=0.6)
    assert rows["latency p99"]["b"] == json.loads(b.read_text())["summary"]["latency_s"]["p99"]
    text = llmctl("loadtest", "compare", str(a), str(b))
    assert text.returncode == 0 and text.stdout.startswith("METRIC")


def test_probe_reaches_the_model_as_kubectl_would_with_exec_plugins_and_client_certificates(
        serving_sandbox: tuple[SandboxThread, Cluster], tmp_path: Path) -> None:
    """The requests go through the console's kube transport: an exec-plugin user (as on EKS/GKE/AKS) and a
    client-certificate user reach the model; a certificate whose user has no role bound gets the 403."""
    from tests.kube.conftest import exec_user, one_context

    thread = serving_sandbox[0]
    operator = thread.sandbox.client_certificate("sandbox-llm-operator", (), tmp_path / "pki")
    cert = {"client-certificate": str(operator.cert_path), "client-key": str(operator.key_path)}
    nobody = thread.sandbox.client_certificate("nobody", (), tmp_path / "pki2")
    for name, user in (("exec", exec_user(thread)), ("cert", cert)):
        kubeconfig = one_context(thread, tmp_path / f"kc-{name}", user)
        done = llmctl("--kubeconfig", str(kubeconfig), "probe", "claude-inference", "-o", "json")
        assert done.returncode == 0, (name, done.stderr)
        assert json.loads(done.stdout)["ok"]
    kubeconfig = one_context(thread, tmp_path / "kc-nobody", {"client-certificate": str(nobody.cert_path),
                                                              "client-key": str(nobody.key_path)})
    refused = llmctl("--kubeconfig", str(kubeconfig), "probe", "claude-inference")
    assert refused.returncode == 1 and 'User "nobody" cannot get resource "services"' in refused.stderr
