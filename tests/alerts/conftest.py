"""Fixtures of the alert tests: a real Prometheus with the project's rules and a real Alertmanager, and a
sandbox per test whose initial rollout is done."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kubernetes import client, config

from console.sandbox.server import SandboxThread
from tests.actions.conftest import eventually, rolled_out
from tests.conftest import start_sandbox
from tests.infra_alertmanager import alert_stack

__all__ = ["alert_stack", "sb"]


@pytest.fixture
def sb() -> Iterator[SandboxThread]:
    """A fresh default-scenario sandbox for one test (faults change it), as tests/conftest.py's ``sb``, once its
    initial rollout is done: a rollout still in progress would be an alert of its own."""
    thread = start_sandbox()
    try:
        apps = client.AppsV1Api(config.new_client_from_config(thread.info.kubeconfig))
        eventually(lambda: rolled_out(apps), timeout=30, what="initial rollout")
        yield thread
    finally:
        thread.stop()
