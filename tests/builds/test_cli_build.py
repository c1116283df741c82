"""``llmctl build`` end to end: a subprocess pointed at our dockerd through DOCKER_HOST."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.builds.conftest import write_context
from tests.infra_docker import Engine, Registry


def llmctl(*args: str, host: str | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "DOCKER_HOST"}
    if host:
        env["DOCKER_HOST"] = host
    env["XDG_CONFIG_HOME"] = str(cwd or Path.cwd())  # no user config file
    return subprocess.run([sys.executable, "-m", "console.cli", "build", *args], capture_output=True, text=True,
                          env=env, timeout=120, cwd=cwd)


def test_build_and_push_headless(docker_engine: Engine, registry: Registry, tmp_path: Path) -> None:
    ctx = write_context(tmp_path / "ctx")
    ref = f"{registry.address}/llm/cli:v2"
    done = llmctl(str(ctx), "-t", ref, "--target", "runtime", "--build-arg", "BASE=local/busybox:1", "--push",
                  host=docker_engine.host, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "lint: 1 finding(s)" in out and "cuda-unpinned" in out  # busybox declares no CUDA
    assert "Step 1/15 ARG BASE=local/busybox:1" in out and "    base ready" in out
    assert f"built {ref}" in out and "largest layers of" in out and "CUDA_VERSION=12.2.2" in out
    assert "stages: base (FROM local/busybox:1)" in out
    assert f"pushed {ref} sha256:" in out

    as_json = llmctl(str(ctx), "-t", ref, "-o", "json", host=docker_engine.host, cwd=tmp_path)
    assert as_json.returncode == 0, as_json.stderr
    report = json.loads(as_json.stdout)
    assert report["result"] == "succeeded" and report["exit"] == 0
    assert report["image"]["size"] > 2_000_000 and report["image"]["reference"] == ref
    assert sum(s["cached"] for s in report["steps"]) == 11, "the second build comes from the cache"
    assert "Step 1/15" in as_json.stderr


def test_failed_build_exits_1_naming_the_step(docker_engine: Engine, tmp_path: Path) -> None:
    ctx = write_context(tmp_path, "FROM local/busybox:1\nRUN echo 'pip: no matching distribution'; exit 1\n")
    done = llmctl(str(ctx), "-t", "llm/fail:v1", host=docker_engine.host, cwd=tmp_path)
    assert done.returncode == 1
    assert "build failed at step 2/2 (RUN echo 'pip: no matching distribution'; exit 1)" in done.stderr
    assert "returned a non-zero code: 1" in done.stderr and "    pip: no matching distribution" in done.stderr
    assert "Traceback" not in done.stderr


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    ctx = write_context(tmp_path)
    bad_tag = llmctl(str(ctx), "-t", "LLM/App:v1", cwd=tmp_path)
    assert bad_tag.returncode == 2 and "bad tag" in bad_tag.stderr and "lowercase" in bad_tag.stderr
    assert llmctl(str(ctx), "--build-arg", "NOEQUALS", cwd=tmp_path).returncode == 2
    assert llmctl(str(tmp_path / "missing"), cwd=tmp_path).returncode == 2
    assert llmctl(str(ctx), "--push", cwd=tmp_path).returncode == 2


def test_unreachable_engine_exits_1_with_how_to_point_docker_host(tmp_path: Path) -> None:
    ctx = write_context(tmp_path)
    done = llmctl(str(ctx), "-t", "llm/x:v1", host=f"unix://{tmp_path}/none.sock", cwd=tmp_path)
    assert done.returncode == 1
    assert "cannot reach the Docker Engine at unix://" in done.stderr and "DOCKER_HOST" in done.stderr
    assert "Traceback" not in done.stderr


def test_init_writes_the_template_and_refuses_to_overwrite(tmp_path: Path) -> None:
    folder = tmp_path / "project"
    first = llmctl("--init", str(folder), cwd=tmp_path)
    assert first.returncode == 0 and (folder / "Dockerfile").exists() and (folder / ".dockerignore").exists()
    again = llmctl("--init", str(folder), cwd=tmp_path)
    assert again.returncode == 1 and "--force" in again.stderr
    assert llmctl("--init", str(folder), "--force", cwd=tmp_path).returncode == 0
    (folder / "requirements.txt").write_text("vllm==0.5.3\n")
    lint = llmctl(str(folder), "-t", "registry.example.com/llm/inference:v1.0.0", "--lint-only", cwd=tmp_path)
    assert lint.returncode == 0 and "lint: no findings" in lint.stdout
