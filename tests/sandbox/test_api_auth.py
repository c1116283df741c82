"""Who may do what: the viewer reads but cannot write, access reviews say so, tokens stay secret."""

from __future__ import annotations

import json
import logging
import stat

import pytest
import yaml
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from console.sandbox.auth import Authenticator
from console.sandbox.kubeconfig import write_kubeconfig

from .conftest import DEPLOY, NS, ApiServer
from .test_api_discovery import raw


def access_review(api: k8s.ApiClient, verb: str, resource: str, subresource: str = "",
                  group: str = "apps", namespace: str = NS) -> k8s.V1SubjectAccessReviewStatus:
    review = {"spec": {"resourceAttributes": {"verb": verb, "resource": resource, "subresource": subresource,
                                              "group": group, "namespace": namespace}}}
    return k8s.AuthorizationV1Api(api).create_self_subject_access_review(review).status


def test_viewer_reads_but_cannot_patch(k8s_viewer: k8s.ApiClient) -> None:
    apps = k8s.AppsV1Api(k8s_viewer)
    assert apps.read_namespaced_deployment(DEPLOY, NS).metadata.name == DEPLOY
    assert len(k8s.CoreV1Api(k8s_viewer).list_pod_for_all_namespaces().items) == 4
    with pytest.raises(k8s.ApiException) as err:
        apps.patch_namespaced_deployment_scale(DEPLOY, NS, {"spec": {"replicas": 3}})
    body = json.loads(err.value.body)
    assert err.value.status == 403 and body["reason"] == "Forbidden"
    assert body["message"] == (f'deployments.apps "{DEPLOY}" is forbidden: User "sandbox-viewer" cannot patch '
                               f'resource "deployments/scale" in API group "apps" in the namespace "{NS}"')
    with pytest.raises(k8s.ApiException) as err:
        k8s.CoreV1Api(k8s_viewer).delete_node("gpu-node-1")
    assert "at the cluster scope" in json.loads(err.value.body)["message"]


def test_access_reviews_answer_for_the_caller(k8s_viewer: k8s.ApiClient, k8s_admin: k8s.ApiClient) -> None:
    assert access_review(k8s_viewer, "patch", "deployments", "scale").allowed is False
    assert access_review(k8s_viewer, "list", "pods", group="").allowed is True
    admin = access_review(k8s_admin, "patch", "deployments", "scale")
    assert admin.allowed is True and "cluster-admin" in admin.reason


def test_the_developer_views_every_namespace_and_changes_its_own(api_server: ApiServer) -> None:
    """view cluster-wide (a ClusterRoleBinding) and edit in llm (a RoleBinding): RBAC allows what either allows."""
    with api_server.client(api_server.auth.token_for("sandbox-llm-developer")) as api:
        core, apps = k8s.CoreV1Api(api), k8s.AppsV1Api(api)
        assert core.list_pod_for_all_namespaces().items and apps.list_deployment_for_all_namespaces().items
        scale = access_review(api, "patch", "deployments", "scale")
        assert scale.allowed is True and 'RoleBinding "sandbox-llm-developer" of ClusterRole "edit"' in scale.reason
        assert access_review(api, "patch", "deployments", "scale", namespace="default").allowed is False
        assert access_review(api, "patch", "deployments", "scale", namespace="").allowed is False  # cluster-wide
        listed = access_review(api, "list", "pods", group="", namespace="default")
        assert listed.allowed is True and 'ClusterRole "view"' in listed.reason
        apps.patch_namespaced_deployment_scale(DEPLOY, NS, {"spec": {"replicas": 1}})
        with pytest.raises(k8s.ApiException) as err:
            core.list_node()  # view has no nodes
        assert err.value.status == 403
        rules = k8s.AuthorizationV1Api(api).create_self_subject_rules_review({"spec": {"namespace": NS}})
        assert any("*" in r.resources and "patch" in r.verbs for r in rules.status.resource_rules)
        elsewhere = k8s.AuthorizationV1Api(api).create_self_subject_rules_review({"spec": {"namespace": "default"}})
        assert not any("patch" in r.verbs for r in elsewhere.status.resource_rules)


def test_kubeconfig_has_four_contexts_and_is_private(api_server: ApiServer, tmp_path) -> None:
    path = write_kubeconfig(tmp_path / "sub" / "kubeconfig", api_server.url, api_server.auth)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    doc = yaml.safe_load(path.read_text())
    assert doc["current-context"] == "sandbox-admin"
    assert {c["name"]: c["context"]["namespace"] for c in doc["contexts"]} == \
        {"sandbox-admin": "llm", "sandbox-viewer": "llm", "sandbox-llm-operator": "llm", "sandbox-llm-developer": "llm"}
    assert [c["name"] for c in doc["clusters"]] == ["sandbox"]
    tokens = {u["name"]: u["user"]["token"] for u in doc["users"]}
    assert tokens == {"sandbox-admin": api_server.auth.admin_token, "sandbox-viewer": api_server.auth.viewer_token,
                      "sandbox-llm-operator": api_server.auth.token_for("sandbox-llm-operator"),
                      "sandbox-llm-developer": api_server.auth.token_for("sandbox-llm-developer")}
    path.chmod(0o644)
    write_kubeconfig(path, api_server.url, api_server.auth)  # rewriting tightens an existing file
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    # the official loader reaches the sandbox as the viewer through the file
    viewer = k8s_config.new_client_from_config(str(path), context="sandbox-viewer")
    with viewer, pytest.raises(k8s.ApiException) as err:
        k8s.AppsV1Api(viewer).delete_namespaced_deployment(DEPLOY, NS)
    assert err.value.status == 403


def test_tokens_are_random_and_never_shown(api_server: ApiServer, caplog: pytest.LogCaptureFixture) -> None:
    other = Authenticator.create()
    assert other.admin_token != api_server.auth.admin_token and len(other.admin_token) >= 32
    assert other.admin_token not in repr(other)
    caplog.set_level(logging.DEBUG)
    token = api_server.auth.admin_token
    raw(api_server, "/api/v1/namespaces/llm/pods", token)
    raw(api_server, "/api/v1/namespaces/llm/pods", token + "x")
    assert token not in caplog.text


def test_fault_endpoints_are_admin_only(api_server: ApiServer) -> None:
    status, ctype, body = raw(api_server, "/sandbox/v1/faults", api_server.auth.admin_token)
    assert status == 200 and ctype.startswith("application/json") and json.loads(body) == {"active": {}}
    assert raw(api_server, "/sandbox/v1/faults")[0] == 401
    status, _, body = raw(api_server, "/sandbox/v1/faults", api_server.auth.viewer_token, method="POST",
                          body=b'{"kind": "node-loss", "target": null}', content_type="application/json")
    assert status == 403 and json.loads(body)["reason"] == "Forbidden"
    status, _, _ = raw(api_server, "/sandbox/v1/faults", api_server.auth.admin_token, method="POST",
                       body=b'{"target": 3}', content_type="application/json")
    assert status == 400
