"""Lint rules on crafted build contexts: each finding fires on the mistake, says why, and stays quiet on
the right pattern (the shipped template lints clean)."""

from __future__ import annotations

from pathlib import Path

import pytest

from console.builds.lint import (
    DockerIgnore,
    lint_context,
    lint_dockerfile,
    lint_image_size,
    validate_tag,
)
from console.builds.model import ImageInfo, Layer, Severity
from console.builds.parse import parse_dockerfile
from console.builds.template import init_project
from console.core.paths import asset
from tests.builds.conftest import write_context


def rules(findings) -> set[str]:
    return {f.rule for f in findings}


def test_weights_copied_by_name_are_an_error_citing_the_article(tmp_path: Path) -> None:
    ctx = write_context(tmp_path, "FROM nvidia/cuda:12.2.2-runtime-ubuntu22.04\n"
                                  "COPY models/llama-7b.safetensors /models/\nCOPY app.py /app/\n")
    findings = lint_context(ctx, tags=["r/app:v1"])
    weights = [f for f in findings if f.rule == "weights-in-image"]
    assert len(weights) == 1 and weights[0].severity is Severity.ERROR and weights[0].line == 2
    assert "8.3 GB" in weights[0].reason and "2.1 GB" in weights[0].reason and "/models" in weights[0].reason


def test_copy_dot_carries_weights_unless_dockerignore_excludes_them(tmp_path: Path) -> None:
    dockerfile = "FROM nvidia/cuda:12.2.2-runtime-ubuntu22.04\nCOPY . /app\n"
    files = {"weights/model.gguf": "x" * 100, "app.py": "print(1)\n"}
    leaky = write_context(tmp_path / "a", dockerfile, files, dockerignore=".git/\n")
    found = [f for f in lint_context(leaky, tags=["r/app:v1"]) if f.rule == "weights-in-image"]
    assert found and "weights/model.gguf" in found[0].message
    tight = write_context(tmp_path / "b", dockerfile, files, dockerignore="weights/\n")
    assert "weights-in-image" not in rules(lint_context(tight, tags=["r/app:v1"]))


def test_missing_dockerignore_and_moving_or_missing_tags(tmp_path: Path) -> None:
    ctx = write_context(tmp_path, "FROM nvidia/cuda:12.2.2-runtime-ubuntu22.04\nCOPY app.py /app/\n",
                        dockerignore=None)
    assert {"no-dockerignore", "tag-missing"} <= rules(lint_context(ctx, tags=[]))
    latest = [f for f in lint_context(ctx, tags=["r/app:latest", "r/app", "r/app:v1"]) if f.rule == "tag-latest"]
    assert [f.message.split(":")[0] for f in latest] == ["r/app", "r/app"]
    assert "latest" in latest[0].reason


@pytest.mark.parametrize(("base", "unpinned"), [
    ("nvidia/cuda", True), ("nvidia/cuda:latest", True), ("nvidia/cuda:12.2.2-runtime-ubuntu22.04", False),
    ("nvcr.io/nvidia/cuda:12.4.1-base-ubuntu22.04", False), ("pytorch/pytorch:latest", True),
    ("pytorch/pytorch:2.3.0-cuda12.1-cudnn8-runtime", False), ("vllm/vllm-openai", True),
    ("vllm/vllm-openai:v0.5.3", False), ("nvidia/cuda@sha256:" + "a" * 64, False),
])
def test_cuda_base_must_pin_a_version(tmp_path: Path, base: str, unpinned: bool) -> None:
    df = parse_dockerfile(f"FROM {base}\nCOPY app.py /app/\n")
    found = [f for f in lint_dockerfile(df, dockerignore="", tags=["r/a:v1"]) if f.rule == "cuda-unpinned"]
    assert bool(found) is unpinned
    if unpinned:
        assert found[0].severity is Severity.WARNING and "driver" in found[0].reason


def test_cuda_version_from_build_args_is_resolved() -> None:
    df = parse_dockerfile("ARG CUDA=12.2.2\nFROM nvidia/cuda:${CUDA}-runtime-ubuntu22.04\n")
    assert not [f for f in lint_dockerfile(df, dockerignore="", tags=["r/a:v1"]) if f.rule == "cuda-unpinned"]
    pinned_late = lint_dockerfile(df, dockerignore="", tags=["r/a:v1"], build_args={"CUDA": "latest"})
    assert [f.severity for f in pinned_late if f.rule == "cuda-unpinned"] == [Severity.WARNING]


def test_non_cuda_base_is_an_info_finding() -> None:
    df = parse_dockerfile("FROM python:3.11-slim\n")
    found = [f for f in lint_dockerfile(df, dockerignore="", tags=["r/a:v1"]) if f.rule == "cuda-unpinned"]
    assert [f.severity for f in found] == [Severity.INFO]


def test_dependencies_installed_after_the_code_bust_the_cache() -> None:
    bad = parse_dockerfile("FROM nvidia/cuda:12.2.2-runtime-ubuntu22.04\nWORKDIR /app\nCOPY . .\n"
                           "RUN pip install -r requirements.txt\n")
    found = [f for f in lint_dockerfile(bad, dockerignore="", tags=["r/a:v1"]) if f.rule == "deps-after-code"]
    assert found and found[0].line == 4 and "cache" in found[0].reason
    good = parse_dockerfile("FROM nvidia/cuda:12.2.2-runtime-ubuntu22.04\nCOPY requirements.txt .\n"
                            "RUN pip install -r requirements.txt\nCOPY . .\nRUN pip install --no-deps .\n")
    assert "deps-after-code" not in rules(lint_dockerfile(good, dockerignore="", tags=["r/a:v1"]))
    inherited = parse_dockerfile("FROM nvidia/cuda:12.2.2-runtime-ubuntu22.04 AS src\nCOPY . /src\n"
                                 "FROM src AS final\nRUN pip install torch\n")
    assert "deps-after-code" in rules(lint_dockerfile(inherited, dockerignore="", tags=["r/a:v1"]))


def test_image_larger_than_the_limit() -> None:
    layers = (Layer("sha256:a", 7_000_000_000, "/bin/sh -c #(nop) COPY dir:abc in /models "),
              Layer("sha256:b", 1_300_000_000, ""))
    image = ImageInfo("r/app:v1", "sha256:x", 8_300_000_000, "", ("r/app:v1",), layers)
    found = lint_image_size(image, 5_000_000_000)
    assert len(found) == 1 and "8.3 GB" in found[0].message and "COPY dir:abc in /models" in found[0].message
    assert "2.1 GB" in found[0].reason
    assert lint_image_size(image, 10_000_000_000) == []


def test_dockerignore_semantics() -> None:
    ignore = DockerIgnore("# comment\nmodels/\n**/*.bin\n!keep/*.bin\n/secret.env\n")
    assert ignore.ignored("models/a/b.safetensors")
    assert ignore.ignored("deep/x/y.bin") and ignore.ignored("top.bin")
    assert not ignore.ignored("keep/small.bin")
    assert ignore.ignored("secret.env") and not ignore.ignored("app.py")


@pytest.mark.parametrize(("tag", "ok"), [
    ("llm/app:v1.2.0", True), ("127.0.0.1:5000/llm/app:v1", True), ("registry.example.com/a/b", True),
    ("localhost:5000/a", True), ("LLM/app:v1", False), ("llm/app:", False), ("llm/app:-bad", False),
    ("llm//app", False), ("", False), ("llm/app@sha256:" + "a" * 64, False),
])
def test_validate_tag(tag: str, ok: bool) -> None:
    assert (validate_tag(tag) is None) is ok


def test_template_has_the_article_shape_and_lints_clean(tmp_path: Path) -> None:
    written = init_project(tmp_path)
    assert sorted(p.name for p in written) == [".dockerignore", "Dockerfile"]
    df = parse_dockerfile((tmp_path / "Dockerfile").read_text())
    assert [s.name for s in df.stages] == ["base", "deps", "runtime"]
    args = dict(df.global_args)
    assert args["CUDA_VERSION"] and args["PYTHON_VERSION"]
    runtime = df.stages[2]
    keywords = [(i.keyword, i.args) for i in runtime.instructions]
    assert ("VOLUME", "/models") in keywords
    assert any(k == "USER" and a not in ("root", "0") for k, a in keywords)
    deps = df.stages[1]
    assert [i.args.split()[0] for i in deps.instructions if i.keyword == "COPY"] == ["requirements.txt"]
    text = (tmp_path / "Dockerfile").read_text()
    assert "ARG APT_MIRROR" in text and "ARG PIP_MIRROR" in text and "mirrors.aliyun" not in text
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "llama.safetensors").write_text("weights")
    (tmp_path / "requirements.txt").write_text("vllm\n")
    assert lint_context(tmp_path, tags=["registry.example.com/llm/inference:v1.0.0"]) == []


def test_init_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    init_project(tmp_path)
    (tmp_path / "Dockerfile").write_text("FROM mine\n")
    with pytest.raises(FileExistsError):
        init_project(tmp_path)
    assert (tmp_path / "Dockerfile").read_text() == "FROM mine\n"
    init_project(tmp_path, force=True)
    assert (tmp_path / "Dockerfile").read_text() == asset("Dockerfile.template").read_text()
