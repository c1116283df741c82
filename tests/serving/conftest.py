"""Reaching the sandbox's model pods the way a user does: through the API server's service proxy, with the
kubeconfig's bearer token and CA."""

from __future__ import annotations

import base64
import ssl
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from console.sandbox.server import SandboxThread
from tests.conftest import start_sandbox


@dataclass(frozen=True)
class Cluster:
    server: str
    ca_file: str
    tokens: dict[str, str]
    kubeconfig: str

    def proxy_url(self, service: str, port: int | str, namespace: str = "llm", kind: str = "services") -> str:
        return f"{self.server}/api/v1/namespaces/{namespace}/{kind}/{service}:{port}/proxy"

    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.ca_file)


def cluster_of(thread: SandboxThread, folder: str) -> Cluster:
    doc = yaml.safe_load(Path(thread.info.kubeconfig).read_text())
    cluster = doc["clusters"][0]["cluster"]
    ca = Path(folder) / "ca.crt"
    ca.write_bytes(base64.b64decode(cluster["certificate-authority-data"]))
    tokens = {u["name"]: u["user"]["token"] for u in doc["users"]}
    return Cluster(cluster["server"], str(ca), tokens, thread.info.kubeconfig)


@pytest.fixture(scope="module")
def serving_sandbox() -> Iterator[tuple[SandboxThread, Cluster]]:
    """A default-scenario sandbox at speed 10 and how to reach it."""
    thread = start_sandbox(speed=10.0)
    with tempfile.TemporaryDirectory() as folder:
        try:
            yield thread, cluster_of(thread, folder)
        finally:
            thread.stop()
