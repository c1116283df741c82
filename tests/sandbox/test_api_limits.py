"""Size limits as a real API server has them: 413 above 3 MiB of request body (kube-apiserver's
maxRequestBodyBytes), 422 for an object whose stored form would pass etcd's 1.5 MiB request limit, and
the per-field limits of API validation (annotations 256 KiB, ConfigMap data 1 MiB)."""

from __future__ import annotations

import json
import socket
from typing import Any

import pytest
from kubernetes import client as k8s

from console.sandbox.api_decode import MAX_BODY_BYTES, MAX_OBJECT_BYTES

from .conftest import DEPLOY, NS, ApiServer, deployment
from .test_api_bodies import DEPLOYMENTS, alive, assert_status, send

MiB = 1024 * 1024


def env_heavy(name: str, total: int) -> dict[str, Any]:
    """A Deployment carrying about ``total`` bytes in env values (no per-field limit applies to them)."""
    body = deployment(name)
    chunk = 64 * 1024
    env = [{"name": f"V{i}", "value": "x" * chunk} for i in range(total // chunk + 1)]
    body["spec"]["template"]["spec"]["containers"][0]["env"] = env
    return body


def test_the_limits_are_the_real_servers() -> None:
    assert 3 * MiB == MAX_BODY_BYTES
    assert int(1.5 * MiB) == MAX_OBJECT_BYTES


def test_a_body_over_3_mib_is_413_request_entity_too_large(api_server: ApiServer) -> None:
    code, status = send(api_server, "POST", DEPLOYMENTS, env_heavy("huge", 10 * MiB))
    assert_status(code, status, 413, "RequestEntityTooLarge", "Request entity too large: limit is 3145728")
    alive(api_server)


def test_the_official_client_sees_the_413_too(k8s_admin: k8s.ApiClient) -> None:
    with pytest.raises(k8s.ApiException) as err:
        k8s.AppsV1Api(k8s_admin).create_namespaced_deployment(NS, env_heavy("huge", 10 * MiB))
    assert err.value.status == 413
    assert json.loads(err.value.body)["reason"] == "RequestEntityTooLarge"


def test_a_413_is_answered_before_a_declared_oversized_body_is_read(api_server: ApiServer) -> None:
    port = int(api_server.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall((f"POST {DEPLOYMENTS} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {api_server.auth.admin_token}"
                      f"\r\nContent-Type: application/json\r\nContent-Length: {64 * MiB}\r\n\r\n").encode())
        head = sock.recv(65536)
    assert head.startswith(b"HTTP/1.1 413"), head[:200]


def test_an_object_over_1_5_mib_is_422_as_etcd_refuses_it(api_server: ApiServer) -> None:
    code, status = send(api_server, "POST", DEPLOYMENTS, env_heavy("big", 2 * MiB))
    assert_status(code, status, 422, "Invalid", "etcdserver: request is too large", 'Deployment.apps "big"')
    assert send(api_server, "GET", f"{DEPLOYMENTS}/big", b"")[0] == 404
    # just under the limit is fine
    code, made = send(api_server, "POST", DEPLOYMENTS, env_heavy("fits", MAX_OBJECT_BYTES - 200 * 1024))
    assert code == 201, made


def test_an_update_or_patch_that_grows_past_the_limit_is_422_and_changes_nothing(api_server: ApiServer) -> None:
    before = send(api_server, "GET", f"{DEPLOYMENTS}/{DEPLOY}", b"")[1]
    env = env_heavy(DEPLOY, 2 * MiB)["spec"]["template"]["spec"]["containers"][0]["env"]
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "vllm", "env": env}]}}}}
    code, status = send(api_server, "PATCH", f"{DEPLOYMENTS}/{DEPLOY}", patch,
                        "application/strategic-merge-patch+json")
    assert_status(code, status, 422, "Invalid", "request is too large")
    after = send(api_server, "GET", f"{DEPLOYMENTS}/{DEPLOY}", b"")[1]
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]


def test_annotations_over_256_kib_are_422(api_server: ApiServer) -> None:
    body = deployment("annotated")
    body["metadata"]["annotations"] = {"big": "x" * (256 * 1024)}
    code, status = send(api_server, "POST", DEPLOYMENTS, body)
    assert_status(code, status, 422, "Invalid", "metadata.annotations: Too long: must have at most 262144 bytes")


def test_configmap_data_over_1_mib_is_422(api_server: ApiServer) -> None:
    path = f"/api/v1/namespaces/{NS}/configmaps"
    code, status = send(api_server, "POST", path, {"metadata": {"name": "cm"}, "data": {"a": "x" * (MiB + 1)}})
    assert_status(code, status, 422, "Invalid", "Too long: must have at most 1048576 bytes")
    code, made = send(api_server, "POST", path, {"metadata": {"name": "cm"}, "data": {"a": "x" * 1000}})
    assert code == 201, made
