"""Create, read, list, update, delete — and the Status errors a real API server answers."""

from __future__ import annotations

import json

import pytest
from kubernetes import client as k8s

from .conftest import DEPLOY, NS, ApiServer, deployment
from .test_api_discovery import raw


def apps(api: k8s.ApiClient) -> k8s.AppsV1Api:
    return k8s.AppsV1Api(api)


def core(api: k8s.ApiClient) -> k8s.CoreV1Api:
    return k8s.CoreV1Api(api)


def status_of(err: pytest.ExceptionInfo[k8s.ApiException]) -> dict:
    return json.loads(err.value.body)


def test_create_defaults_like_the_api_server(k8s_admin: k8s.ApiClient) -> None:
    body = deployment("fresh")
    del body["spec"]["strategy"], body["spec"]["replicas"]
    made = apps(k8s_admin).create_namespaced_deployment(NS, body)
    assert made.spec.strategy.type == "RollingUpdate"
    assert (made.spec.strategy.rolling_update.max_surge, made.spec.strategy.rolling_update.max_unavailable) == \
        ("25%", "25%")
    assert (made.spec.replicas, made.spec.revision_history_limit, made.spec.progress_deadline_seconds) == (1, 10, 600)
    assert made.spec.template.spec.restart_policy == "Always"
    assert made.metadata.generation == 1 and made.metadata.uid and made.metadata.resource_version
    assert made.status is None or made.status.replicas is None  # controllers write status later
    assert apps(k8s_admin).read_namespaced_deployment("fresh", NS).metadata.uid == made.metadata.uid


def test_duplicate_create_is_409_already_exists(k8s_admin: k8s.ApiClient) -> None:
    with pytest.raises(k8s.ApiException) as err:
        apps(k8s_admin).create_namespaced_deployment(NS, deployment())
    assert err.value.status == 409
    body = status_of(err)
    assert body["reason"] == "AlreadyExists" and body["details"]["kind"] == "deployments"


def test_missing_object_is_404_with_the_resource_as_kind(k8s_admin: k8s.ApiClient) -> None:
    with pytest.raises(k8s.ApiException) as err:
        apps(k8s_admin).read_namespaced_deployment("nope", NS)
    body = status_of(err)
    assert err.value.status == 404 and body["reason"] == "NotFound"
    assert body["details"] == {"name": "nope", "group": "apps", "kind": "deployments"}
    assert body["message"] == 'deployments.apps "nope" not found'
    with pytest.raises(k8s.ApiException) as err:
        apps(k8s_admin).read_namespaced_deployment_scale("nope", NS)
    assert status_of(err)["details"]["kind"] == "deployments/scale"


def test_create_in_a_missing_namespace_is_404_namespaces(k8s_admin: k8s.ApiClient) -> None:
    body = deployment()
    body["metadata"]["namespace"] = "ghost"
    with pytest.raises(k8s.ApiException) as err:
        apps(k8s_admin).create_namespaced_deployment("ghost", body)
    assert err.value.status == 404 and status_of(err)["details"]["kind"] == "namespaces"


def test_invalid_deployments_are_422_with_field_causes(k8s_admin: k8s.ApiClient) -> None:
    body = deployment("broken")
    body["spec"]["template"]["spec"]["containers"][0]["image"] = ""
    with pytest.raises(k8s.ApiException) as err:
        apps(k8s_admin).create_namespaced_deployment(NS, body)
    status = status_of(err)
    assert err.value.status == 422 and status["reason"] == "Invalid"
    assert status["details"]["kind"] == "Deployment"
    assert "spec.template.spec.containers[0].image: Required value" in status["message"]
    body = deployment("negative", replicas=-1)
    with pytest.raises(k8s.ApiException) as err:
        apps(k8s_admin).create_namespaced_deployment(NS, body)
    assert [c["field"] for c in status_of(err)["details"]["causes"]] == ["spec.replicas"]


def test_hpa_bounds_are_validated(k8s_admin: k8s.ApiClient) -> None:
    hpa = k8s.AutoscalingV2Api(k8s_admin)
    body = {"metadata": {"name": "bad"}, "spec": {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": DEPLOY},
        "minReplicas": 5, "maxReplicas": 2}}
    with pytest.raises(k8s.ApiException) as err:
        hpa.create_namespaced_horizontal_pod_autoscaler(NS, body)
    status = status_of(err)
    assert err.value.status == 422 and status["details"]["causes"][0]["field"] == "spec.maxReplicas"
    assert status["message"].startswith('HorizontalPodAutoscaler.autoscaling "bad" is invalid: spec.maxReplicas')
    body["spec"].update(minReplicas=0, maxReplicas=3)
    with pytest.raises(k8s.ApiException) as err:
        hpa.create_namespaced_horizontal_pod_autoscaler(NS, body)
    assert status_of(err)["details"]["causes"][0]["field"] == "spec.minReplicas"
    with pytest.raises(k8s.ApiException) as err:
        hpa.patch_namespaced_horizontal_pod_autoscaler(DEPLOY, NS, {"spec": {"minReplicas": 9}})
    assert err.value.status == 422
    assert hpa.read_namespaced_horizontal_pod_autoscaler(DEPLOY, NS).spec.min_replicas == 2


def test_put_with_a_stale_resource_version_is_409_conflict(k8s_admin: k8s.ApiClient) -> None:
    api = apps(k8s_admin)
    first = api.read_namespaced_deployment(DEPLOY, NS)
    first.spec.replicas = 3
    api.replace_namespaced_deployment(DEPLOY, NS, first)
    first.spec.replicas = 4  # still carries the old resourceVersion
    with pytest.raises(k8s.ApiException) as err:
        api.replace_namespaced_deployment(DEPLOY, NS, first)
    assert err.value.status == 409 and status_of(err)["reason"] == "Conflict"
    now = api.read_namespaced_deployment(DEPLOY, NS)
    assert now.spec.replicas == 3 and now.metadata.generation == 2


def test_main_resource_writes_ignore_status_and_status_writes_ignore_spec(k8s_admin: k8s.ApiClient) -> None:
    api = apps(k8s_admin)
    api.patch_namespaced_deployment(DEPLOY, NS, {"spec": {"replicas": 5}, "status": {"replicas": 99}})
    after = api.read_namespaced_deployment(DEPLOY, NS)
    assert after.spec.replicas == 5
    assert (after.status.replicas if after.status else None) != 99
    api.patch_namespaced_deployment_status(DEPLOY, NS, {"spec": {"replicas": 1}, "status": {"readyReplicas": 2}})
    after = api.read_namespaced_deployment(DEPLOY, NS)
    assert after.spec.replicas == 5 and after.status.ready_replicas == 2
    assert after.metadata.generation == 2  # a status write is not a spec change


def test_delete_cascades_to_owned_objects(k8s_admin: k8s.ApiClient) -> None:
    assert len(core(k8s_admin).list_namespaced_pod(NS).items) == 3
    result = apps(k8s_admin).delete_namespaced_deployment(DEPLOY, NS)
    assert result["status"] == "Success" and result["details"]["name"] == DEPLOY
    assert apps(k8s_admin).list_namespaced_replica_set(NS).items == []
    assert core(k8s_admin).list_namespaced_pod(NS).items == []
    gone = core(k8s_admin).delete_namespaced_pod("loner", "default")  # pods answer with the object
    assert gone.metadata.name == "loner"


def test_dry_run_writes_change_nothing(k8s_admin: k8s.ApiClient) -> None:
    api = apps(k8s_admin)
    before = api.read_namespaced_deployment(DEPLOY, NS).metadata.resource_version
    made = api.create_namespaced_deployment(NS, deployment("ghost"), dry_run="All")
    assert made.metadata.name == "ghost"
    patched = api.patch_namespaced_deployment(DEPLOY, NS, {"spec": {"replicas": 7}}, dry_run="All")
    assert patched.spec.replicas == 7
    api.delete_namespaced_deployment(DEPLOY, NS, dry_run="All")
    assert [d.metadata.name for d in api.list_namespaced_deployment(NS).items] == [DEPLOY]
    now = api.read_namespaced_deployment(DEPLOY, NS)
    assert now.spec.replicas == 2 and now.metadata.resource_version == before
    with pytest.raises(k8s.ApiException) as err:
        api.patch_namespaced_deployment(DEPLOY, NS, {"spec": {"replicas": 7}}, dry_run="Some")
    assert err.value.status == 400


def test_list_selectors(k8s_admin: k8s.ApiClient) -> None:
    v1 = core(k8s_admin)
    names = lambda pods: sorted(p.metadata.name for p in pods.items)  # noqa: E731
    assert names(v1.list_namespaced_pod(NS, field_selector="status.phase=Pending")) == [f"{DEPLOY}-c"]
    assert names(v1.list_pod_for_all_namespaces(field_selector="spec.nodeName=gpu-node-2")) == ["loner"]
    assert names(v1.list_namespaced_pod(NS, field_selector=f"metadata.name={DEPLOY}-b")) == [f"{DEPLOY}-b"]
    assert len(v1.list_namespaced_pod(NS, label_selector=f"app={DEPLOY}").items) == 3
    assert v1.list_namespaced_pod(NS, label_selector="app in (other)").items == []
    everywhere = v1.list_pod_for_all_namespaces()
    assert len(everywhere.items) == 4 and everywhere.kind == "PodList" and everywhere.api_version == "v1"
    assert int(everywhere.metadata.resource_version) > 0
    assert len(apps(k8s_admin).list_deployment_for_all_namespaces().items) == 1
    with pytest.raises(k8s.ApiException) as err:
        v1.list_namespaced_pod(NS, label_selector="a in (b")
    assert err.value.status == 400


def test_limit_and_continue_page_through_a_list(k8s_admin: k8s.ApiClient) -> None:
    v1 = core(k8s_admin)
    first = v1.list_pod_for_all_namespaces(limit=3)
    assert len(first.items) == 3 and first.metadata._continue and first.metadata.remaining_item_count == 1
    rest = v1.list_pod_for_all_namespaces(limit=3, _continue=first.metadata._continue)
    assert len(rest.items) == 1 and not rest.metadata._continue
    assert rest.metadata.resource_version == first.metadata.resource_version
    seen = [p.metadata.name for p in first.items + rest.items]
    assert len(set(seen)) == 4


def test_malformed_bodies_and_wrong_patch_types(api_server: ApiServer) -> None:
    token, path = api_server.auth.admin_token, f"/apis/apps/v1/namespaces/{NS}/deployments"
    status, ctype, body = raw(api_server, path, token, method="POST", body=b"{nope",
                              content_type="application/json")
    assert status == 400 and ctype.startswith("application/json") and json.loads(body)["kind"] == "Status"
    status, _, body = raw(api_server, f"{path}/{DEPLOY}", token, method="PATCH", body=b"{}",
                          content_type="text/plain")
    assert status == 415 and json.loads(body)["reason"] == "UnsupportedMediaType"
    status, _, _ = raw(api_server, f"{path}/{DEPLOY}", token, method="PATCH", body=b"[1",
                       content_type="application/json-patch+json")
    assert status == 400


def test_delete_collection_by_label(k8s_admin: k8s.ApiClient) -> None:
    v1 = core(k8s_admin)
    v1.delete_collection_namespaced_pod(NS, field_selector="status.phase=Pending")
    assert sorted(p.metadata.name for p in v1.list_namespaced_pod(NS).items) == [f"{DEPLOY}-a", f"{DEPLOY}-b"]
    v1.delete_collection_namespaced_pod(NS, label_selector=f"app={DEPLOY}", dry_run="All")
    assert len(v1.list_namespaced_pod(NS).items) == 2


def test_methods_a_path_does_not_serve_are_405(api_server: ApiServer) -> None:
    token = api_server.auth.admin_token
    status, _, body = raw(api_server, f"/apis/apps/v1/namespaces/{NS}/deployments/{DEPLOY}", token, method="POST",
                          body=b"{}", content_type="application/json")
    assert status == 405 and json.loads(body)["reason"] == "MethodNotAllowed"
    status, _, body = raw(api_server, "/nowhere", token)
    assert status == 404 and json.loads(body)["kind"] == "Status"


def test_updates_do_not_add_defaults_to_store_written_templates(k8s_admin: k8s.ApiClient) -> None:
    """A pause patch must not change the pod template of a deployment the scenario wrote (no new revision)."""
    api = apps(k8s_admin)
    before = api.read_namespaced_deployment(DEPLOY, NS).spec.template
    after = api.patch_namespaced_deployment(DEPLOY, NS, {"spec": {"paused": True}}).spec.template
    assert after == before and after.spec.restart_policy is None
    made = api.create_namespaced_deployment(NS, deployment("via-api"))
    bare = deployment("via-api")
    bare["metadata"]["resourceVersion"] = made.metadata.resource_version
    replaced = api.replace_namespaced_deployment("via-api", NS, bare)  # hand-built body, defaults re-applied
    assert replaced.spec.template == made.spec.template and replaced.metadata.generation == 1
