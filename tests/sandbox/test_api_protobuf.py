"""Protobuf request bodies, as kubectl ≥ 1.32 sends them for create and update: decoded into the same
objects a JSON body gives (the current kubectl from PyPI against the sandbox API over TLS)."""

from __future__ import annotations

import base64
import http.client
import json
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest
from kubernetes import client as k8s

from console.sandbox.api_proto import MAGIC, decode_body
from console.sandbox.api_tls import self_signed
from console.sandbox.errors import ApiError
from console.sandbox.kubeconfig import write_kubeconfig
from tests.conftest import current_kubectl

from .conftest import NS, ApiServer, seed


@pytest.fixture
def env(tmp_path: Path) -> Iterator[tuple[ApiServer, list[str]]]:
    kubectl = current_kubectl()
    tls = self_signed(tmp_path / "tls")
    server = ApiServer(tls=tls).start()
    server.call(seed, server.ctx)
    config = write_kubeconfig(tmp_path / "kubeconfig", server.url, server.auth, ca_pem=tls.ca_pem)
    base = [kubectl, "--kubeconfig", str(config), "--cache-dir", str(tmp_path / "cache"), "--request-timeout=10s"]
    try:
        yield server, base
    finally:
        server.stop()


def run(base: list[str], *args: str) -> str:
    done = subprocess.run([*base, *args], capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0, f"kubectl {' '.join(args)}: {done.stderr}"
    return done.stdout


def test_current_kubectl_sends_protobuf_and_the_objects_read_back_as_sent(env: tuple[ApiServer, list[str]],
                                                                          tmp_path: Path) -> None:
    server, base = env
    assert run(base, "create", "namespace", "proto").strip() == "namespace/proto created"
    run(base, "create", "deployment", "web", "-n", "proto", "--image=nginx:1.25", "--replicas=0", "--port=8080")
    run(base, "create", "service", "clusterip", "web", "-n", "proto", "--tcp=80:8080")
    blob = tmp_path / "blob.bin"
    blob.write_bytes(bytes(range(256)))
    run(base, "create", "configmap", "cfg", "-n", "proto", "--from-literal=mode=fast", f"--from-file={blob}")
    with server.client(server.auth.admin_token) as api:
        dep = k8s.AppsV1Api(api).read_namespaced_deployment("web", "proto")
        svc = k8s.CoreV1Api(api).read_namespaced_service("web", "proto")
        cm = k8s.CoreV1Api(api).read_namespaced_config_map("cfg", "proto")
    assert dep.spec.replicas == 0  # a pointer set to 0 survives (not dropped as a zero value)
    assert dep.metadata.labels == {"app": "web"}
    assert dep.spec.template.spec.containers[0].ports[0].container_port == 8080
    assert dep.spec.template.metadata.generation is None  # zero non-pointer fields are omitted
    assert svc.spec.ports[0].port == 80 and svc.spec.ports[0].target_port == 8080  # IntOrString, int
    assert cm.data == {"mode": "fast"}
    assert base64.b64decode(cm.binary_data["blob.bin"]) == bytes(range(256))
    assert server.call(lambda: server.ctx.store.try_get("namespaces", None, "proto")) is not None


def test_access_review_and_hpa_in_protobuf(env: tuple[ApiServer, list[str]]) -> None:
    server, base = env
    assert run(base, "auth", "can-i", "list", "pods", "-n", NS).strip() == "yes"
    run(base, "autoscale", "deployment", "claude-inference", "-n", NS, "--name=proto-hpa", "--min=2", "--max=5",
        "--cpu-percent=70")
    hpa = server.call(lambda: server.ctx.store.get("horizontalpodautoscalers", NS, "proto-hpa"))
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 5)
    assert hpa["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"] == 70


def _post(server: ApiServer, path: str, body: bytes) -> tuple[int, dict]:
    url = urlparse(server.url)
    ctx = ssl.create_default_context(cafile=str(server.tls.cert_path)) if server.tls else None
    conn = http.client.HTTPSConnection(url.hostname, url.port, context=ctx, timeout=5)
    conn.request("POST", path, body, headers={"Authorization": f"Bearer {server.auth.admin_token}",
                                              "Content-Type": "application/vnd.kubernetes.protobuf"})
    resp = conn.getresponse()
    return resp.status, json.loads(resp.read())


def test_a_body_that_is_not_kubes_protobuf_is_400(env: tuple[ApiServer, list[str]]) -> None:
    server, _ = env
    status, body = _post(server, "/api/v1/namespaces", b'{"metadata": {"name": "x"}}')
    assert status == 400 and "expected prefix [107 56 115 0]" in body["message"]
    status, body = _post(server, "/api/v1/namespaces", MAGIC + b"\x0a\xff\xff")
    assert status == 400 and body["reason"] == "BadRequest"


def _field(number: int, payload: bytes) -> bytes:
    return bytes([number << 3 | 2, len(payload)]) + payload


def test_decoding_types_meta_and_refusing_unknown_kinds() -> None:
    type_meta = _field(1, b"v1") + _field(2, b"Namespace")
    meta = _field(1, _field(1, b"ns1"))  # ObjectMeta.name
    body = decode_body(MAGIC + _field(1, type_meta) + _field(2, meta))
    assert body == {"kind": "Namespace", "apiVersion": "v1", "metadata": {"name": "ns1"}}
    with pytest.raises(ApiError) as e:
        decode_body(MAGIC + _field(1, _field(1, b"v1") + _field(2, b"Gadget")) + _field(2, b""))
    assert e.value.code == 400 and 'no kind "Gadget" is registered' in e.value.message


def _uvarint(value: int) -> bytes:
    out, value = bytearray(), value & (2**64 - 1)
    while True:
        b = value & 0x7F
        value >>= 7
        out.append(b | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _varint(number: int, value: int) -> bytes:
    return _uvarint(number << 3) + _uvarint(value)


def test_times_quantities_zero_values_and_unknown_fields() -> None:
    created = _field(8, _varint(1, 1_700_000_000))  # ObjectMeta.creationTimestamp (Time.seconds)
    meta = _field(1, b"p") + created + _varint(7, 0)  # generation 0: a plain int64, omitted as Go omits it
    limits = _field(1, _field(1, b"nvidia.com/gpu") + _field(2, _field(1, b"1")))  # map<string, Quantity>
    port = _varint(2, 0) + _varint(3, 8000) + _field(4, b"")  # hostPort 0 omitted, containerPort kept
    container = _field(1, b"c") + _field(2, b"img") + _field(8, limits) + _field(6, port) + _varint(99, 5)
    pod = _field(1, meta) + _field(2, _field(2, container))
    body = decode_body(MAGIC + _field(1, _field(1, b"v1") + _field(2, b"Pod")) + _field(2, pod))
    assert body["metadata"] == {"name": "p", "creationTimestamp": "2023-11-14T22:13:20Z"}
    c = body["spec"]["containers"][0]
    assert c["resources"] == {"limits": {"nvidia.com/gpu": "1"}}
    assert c["ports"] == [{"containerPort": 8000}]
    assert c["name"] == "c" and c["image"] == "img"
