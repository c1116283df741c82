"""Discovery and health, as the official client and kubectl read them."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
from kubernetes import client as k8s

from .conftest import ApiServer


def raw(server: ApiServer, path: str, token: str | None = None, accept: str = "application/json",
        method: str = "GET", body: bytes | None = None, content_type: str | None = None,
        ) -> tuple[int, str, bytes]:
    """One plain HTTP request: (status, content type, body)."""
    req = urllib.request.Request(server.url + path, method=method, data=body, headers={"Accept": accept})
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    if content_type:
        req.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, resp.headers.get("Content-Type", ""), resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), e.read()


def test_version_says_1_30(k8s_admin: k8s.ApiClient) -> None:
    info = k8s.VersionApi(k8s_admin).get_code()
    assert (info.major, info.minor) == ("1", "30")
    assert info.git_version.startswith("v1.30.")


def test_core_and_group_discovery(k8s_admin: k8s.ApiClient) -> None:
    assert k8s.CoreApi(k8s_admin).get_api_versions().versions == ["v1"]
    groups = {g.name: g for g in k8s.ApisApi(k8s_admin).get_api_versions().groups}
    assert groups["apps"].preferred_version.group_version == "apps/v1"
    assert groups["autoscaling"].preferred_version.version == "v2"
    assert "authorization.k8s.io" in groups


def test_resource_lists_carry_subresources(k8s_admin: k8s.ApiClient) -> None:
    apps = {r.name: r for r in k8s.AppsV1Api(k8s_admin).get_api_resources().resources}
    deploy = apps["deployments"]
    assert (deploy.kind, deploy.namespaced, deploy.singular_name) == ("Deployment", True, "deployment")
    assert deploy.short_names == ["deploy"] and "patch" in deploy.verbs
    scale = apps["deployments/scale"]
    assert (scale.group, scale.version, scale.kind) == ("autoscaling", "v1", "Scale")
    assert "deployments/status" in apps
    core = {r.name: r for r in k8s.CoreV1Api(k8s_admin).get_api_resources().resources}
    assert core["pods/log"].verbs == ["get"]
    assert core["nodes"].namespaced is False


def test_health_is_public_and_api_needs_a_token(api_server: ApiServer) -> None:
    for path in ("/healthz", "/readyz", "/livez"):
        assert raw(api_server, path)[0] == 200
    status, ctype, body = raw(api_server, "/api/v1/namespaces/llm/pods")
    assert status == 401 and ctype.startswith("application/json")
    assert json.loads(body)["kind"] == "Status"
    assert raw(api_server, "/api/v1/pods", token="not-a-token")[0] == 401


def test_bad_token_through_the_client_is_401(api_server: ApiServer) -> None:
    with api_server.client("wrong") as api, pytest.raises(k8s.ApiException) as err:
        k8s.CoreV1Api(api).list_namespaced_pod("llm")
    assert err.value.status == 401


def test_unknown_paths_are_404_status(api_server: ApiServer) -> None:
    token = api_server.auth.admin_token
    for path in ("/apis/batch/v1", "/api/v1/widgets", "/apis/apps/v1/namespaces/llm/deployments/x/y/z",
                 "/openapi/v3/apis/batch/v1"):
        status, ctype, body = raw(api_server, path, token)
        assert status == 404, path
        assert ctype.startswith("application/json") and json.loads(body)["reason"] == "NotFound"


def test_aggregated_discovery_accept_gets_plain_documents(api_server: ApiServer) -> None:
    """kubectl 1.32 asks for APIGroupDiscoveryList first; plain documents make it fall back."""
    accept = ("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
              "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json")
    status, ctype, body = raw(api_server, "/apis", api_server.auth.viewer_token, accept=accept)
    assert status == 200 and ctype == "application/json"
    assert json.loads(body)["kind"] == "APIGroupList"
