"""``llmctl top gpu|latency`` and the Prometheus settings (flag, environment, config file)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from console import cli
from console.config import load_settings

from .conftest import PromSandbox
from .prom import free_port


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    for key in ("LLMCTL_PROMETHEUS_URL", "LLMCTL_PROMETHEUS_TOKEN", "LLMCTL_NAMESPACE", "LLMCTL_SANDBOX"):
        monkeypatch.delenv(key, raising=False)


def test_top_gpu_on_the_sandbox_reads_the_simulation(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--sandbox", "top", "gpu", "-o", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["source"] == "sandbox simulation (direct)" and doc["error"] is None
    gpus = doc["gpus"]
    assert len(gpus) == 16 and {g["node"] for g in gpus} == {f"gpu-node-{i}" for i in range(1, 5)}
    held = [g for g in gpus if g["pod"]]
    assert len(held) == 4 and all(55 < g["used_percent"] < 70 and g["namespace"] == "llm" for g in held)


def test_top_latency_through_prometheus(prom_sandbox: PromSandbox, capsys: pytest.CaptureFixture[str],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    prom_sandbox.wait_for_rates()
    monkeypatch.setenv("LLMCTL_PROMETHEUS_URL", prom_sandbox.prometheus.url)
    code = cli.main(["top", "latency", "-n", "llm"])
    out = capsys.readouterr().out
    assert code == 0, out
    lines = out.splitlines()
    assert lines[0].split()[:6] == ["DEPLOYMENT", "PODS", "QPS", "p50", "p95", "p99"]
    assert {line.split()[0] for line in lines[1:]} == {"claude-inference", "claude-short-queue", "claude-long-queue"}
    assert cli.main(["top", "latency", "-o", "json", "--prometheus", prom_sandbox.prometheus.url]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["source"].startswith("Prometheus at http://127.0.0.1:")
    assert all(d["p99_s"] and d["qps"] for d in doc["deployments"])


def test_top_says_why_it_has_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["top", "gpu"]) == 2
    assert "no metrics source: give --prometheus URL" in capsys.readouterr().err
    dead = f"http://127.0.0.1:{free_port()}"
    assert cli.main(["top", "gpu", "--prometheus", dead, "-o", "json"]) == 1
    captured = capsys.readouterr()
    assert json.loads(captured.out)["error"].startswith(f"Prometheus unreachable at {dead}")
    assert "Prometheus unreachable" in captured.err


def test_prometheus_settings_and_their_secrets(tmp_path: Path) -> None:
    cfg = tmp_path / "config.yaml"
    cfg.write_text("prometheus_url: http://prom:9090\nprometheus_token: tok-from-file\ngpu_refresh: 30\n")
    settings = load_settings({}, env={"LLMCTL_LATENCY_REFRESH": "2"}, path=cfg)
    assert (settings.prometheus_url, settings.gpu_refresh, settings.latency_refresh) == ("http://prom:9090", 30, 2)
    assert settings.prometheus_token == "tok-from-file" and "tok-from-file" not in repr(settings)
    flagged = load_settings({"prometheus_url": "http://flag:9090"}, env={"LLMCTL_PROMETHEUS_URL": "http://env"},
                            path=cfg)
    assert flagged.prometheus_url == "http://flag:9090"


def test_the_flag_is_accepted_before_and_after_the_command() -> None:
    parser = cli.build_parser()
    assert parser.parse_args(["--prometheus", "http://a", "top", "gpu"]).prometheus_url == "http://a"
    assert parser.parse_args(["top", "gpu", "--prometheus", "http://b"]).prometheus_url == "http://b"
    assert parser.parse_args(["--prometheus", "http://c"]).prometheus_url == "http://c"


def test_top_tables_keep_their_columns_under_their_headers() -> None:
    """`llmctl top gpu` printed framebuffer figures wider than their column, so UTIL showed the FB % and TEMP
    the utilisation. Every value must start where its header starts."""
    from console.cli.top import format_gpus, format_latency

    gpu = {"node": "gpu-node-1", "index": "0", "model": "NVIDIA A10G", "used_mib": 22528.0, "total_mib": 23028.0,
           "used_percent": 97.8, "util": 87.0, "temp_c": 71.0, "namespace": "llm", "pod": "claude-inference-x-y"}
    serving = {"deployment": "claude-inference", "pods": 2, "qps": 16.0, "p50_s": 0.2, "p95_s": 0.35, "p99_s": 0.45,
               "ttft_p95_s": 0.1, "running": 3.0, "waiting": 0.0, "kv_cache": 0.42, "namespace": "llm-prod"}
    for text, wanted in ((format_gpus([gpu]), {"UTIL": "87%", "TEMP": "71C", "POD": "llm/claude-inference-x-y"}),
                         (format_latency([serving]), {"p99": "450ms", "KV": "42%", "WAITING": "0.0"}),
                         (format_latency([serving], every_namespace=True),
                          {"NAMESPACE": "llm-prod", "DEPLOYMENT": "claude-inference", "p99": "450ms"})):
        header, row = text.splitlines()[:2]
        for column, value in wanted.items():
            start = header.index(column)
            assert row[start:].startswith(value), f"{column}: {row!r} under {header!r}"
            assert row.index(value) <= start + len(column), f"{value} drifted right of {column}"
