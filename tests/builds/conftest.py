"""Session fixtures for the build tests: a private dockerd with a local busybox base image, a registry on
127.0.0.1, and helpers to write build contexts. Under CI=true a missing binary fails, never skips."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from console.builds.engine import DockerBuildService
from tests.conftest import IN_CI, need_tool
from tests.infra_docker import (
    Engine,
    Registry,
    make_base_image,
    remove_tree,
    start_engine,
    start_registry,
    stop_engine,
    stop_registry,
)

# A three-stage build in the shape of the source article's Dockerfile: base, dependencies, code.
MULTI_STAGE = """\
ARG BASE=local/busybox:1
FROM ${BASE} AS base
ENV CUDA_VERSION=12.2.2
RUN mkdir -p /opt/venv && echo "base ready"

FROM base AS deps
COPY requirements.txt /tmp/requirements.txt
RUN echo "installing $(wc -l < /tmp/requirements.txt) requirements" && sleep 0.4 \\
 && dd if=/dev/zero of=/opt/venv/site-packages.bin bs=1k count=400 2>/dev/null

FROM base AS runtime
COPY --from=deps /opt/venv /opt/venv
WORKDIR /app
COPY app.py /app/
LABEL org.opencontainers.image.title=inference
VOLUME /models
USER 10001
CMD ["sh", "-c", "cat /app/app.py"]
"""


def write_context(root: Path, dockerfile: str = MULTI_STAGE, files: dict[str, str] | None = None,
                  dockerignore: str | None = "models/\n**/*.safetensors\n.git/\n") -> Path:
    """A build context folder with a Dockerfile, requirements.txt, app.py and extra files."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "Dockerfile").write_text(dockerfile)
    (root / "requirements.txt").write_text("torch==2.3.0\nvllm==0.5.0\n")
    (root / "app.py").write_text("print('serving')\n")
    if dockerignore is not None:
        (root / ".dockerignore").write_text(dockerignore)
    for name, text in (files or {}).items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def _need_root() -> None:
    if os.geteuid() != 0:
        if IN_CI:
            pytest.fail("the build tests start dockerd and need root under CI=true")
        pytest.skip("dockerd needs root")


@pytest.fixture(scope="session")
def docker_engine() -> Iterator[Engine]:
    """Our own dockerd (own socket and data-root, no host networking changes) with local/busybox:1."""
    dockerd = need_tool("dockerd")
    busybox = need_tool("busybox")
    _need_root()
    # A short path: unix socket paths are limited to 108 bytes.
    workdir = Path(tempfile.mkdtemp(prefix="llmctl-dk-"))
    engine = start_engine(workdir, dockerd)
    try:
        make_base_image(engine.host, busybox)
        yield engine
    finally:
        stop_engine(engine)
        remove_tree(workdir)


@pytest.fixture(scope="session")
def registry(docker_engine: Engine) -> Iterator[Registry]:
    binary = need_tool("docker-registry")
    workdir = Path(tempfile.mkdtemp(prefix="llmctl-reg-"))
    reg = start_registry(workdir, binary)
    try:
        yield reg
    finally:
        stop_registry(reg)
        remove_tree(workdir)


@pytest.fixture
def builds(docker_engine: Engine) -> Iterator[DockerBuildService]:
    service = DockerBuildService(docker_engine.host)
    try:
        yield service
    finally:
        service.close()
