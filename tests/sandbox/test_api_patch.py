"""The patch kinds (through the API and as pure functions) and the scale subresource."""

from __future__ import annotations

import json

import pytest
from kubernetes import client as k8s

from console.sandbox.patch import merge_patch, strategic_merge_patch

from .conftest import DEPLOY, NS


def apps(api: k8s.ApiClient) -> k8s.AppsV1Api:
    return k8s.AppsV1Api(api)


# ---- through the API --------------------------------------------------------------------------------
def test_strategic_merge_of_one_image_keeps_the_other_containers_and_env(k8s_admin: k8s.ApiClient) -> None:
    patch = {"spec": {"template": {"spec": {"containers": [
        {"name": "vllm", "image": "registry.local/llm/claude-inference:v2"}]}}}}
    out = apps(k8s_admin).patch_namespaced_deployment(DEPLOY, NS, patch)  # dict body → strategic merge
    containers = {c.name: c for c in out.spec.template.spec.containers}
    assert containers["vllm"].image.endswith(":v2")
    assert containers["sidecar"].image.endswith("metrics-sidecar:v3")
    assert [(e.name, e.value) for e in containers["vllm"].env] == [("MODEL", "claude"), ("TP", "1")]
    assert out.metadata.generation == 2


def test_strategic_merge_env_by_name_and_delete_directive(k8s_admin: k8s.ApiClient) -> None:
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "vllm", "env": [
        {"name": "TP", "value": "2"}, {"name": "MODEL", "$patch": "delete"}, {"name": "NEW", "value": "x"}]}]}}}}
    out = apps(k8s_admin).patch_namespaced_deployment(DEPLOY, NS, patch)
    env = [(e.name, e.value) for e in out.spec.template.spec.containers[0].env]
    assert env == [("TP", "2"), ("NEW", "x")]


def test_json_patch_replaces_the_template_like_rollout_undo(k8s_admin: k8s.ApiClient) -> None:
    api = apps(k8s_admin)
    template = api.read_namespaced_deployment(DEPLOY, NS).to_dict(serialize=True)["spec"]["template"]
    template["spec"]["containers"] = [template["spec"]["containers"][0] | {"image": "registry.local/llm/x:v0"}]
    ops = [{"op": "replace", "path": "/spec/template", "value": template},
           {"op": "replace", "path": "/metadata/annotations", "value": {"deployment.kubernetes.io/revision": "1"}}]
    out = api.patch_namespaced_deployment(DEPLOY, NS, ops)  # list body → JSON patch
    assert [c.image for c in out.spec.template.spec.containers] == ["registry.local/llm/x:v0"]
    assert out.metadata.annotations == {"deployment.kubernetes.io/revision": "1"}
    with pytest.raises(k8s.ApiException) as err:
        api.patch_namespaced_deployment(DEPLOY, NS, [{"op": "test", "path": "/spec/replicas", "value": 9}])
    assert err.value.status == 422


def test_merge_patch_pause_then_resume_reads_back_without_paused(k8s_admin: k8s.ApiClient) -> None:
    api = apps(k8s_admin)
    paused = api.patch_namespaced_deployment(DEPLOY, NS, {"spec": {"paused": True}},
                                             _content_type="application/merge-patch+json")
    assert paused.spec.paused is True
    resumed = api.patch_namespaced_deployment(DEPLOY, NS, {"spec": {"paused": False}},
                                              _content_type="application/merge-patch+json")
    assert not resumed.spec.paused
    raw = api.read_namespaced_deployment(DEPLOY, NS, _preload_content=False)
    assert "paused" not in json.loads(raw.data)["spec"]
    assert resumed.metadata.generation == 3


def test_scale_subresource_get_patch_replace(k8s_admin: k8s.ApiClient) -> None:
    api = apps(k8s_admin)
    scale = api.read_namespaced_deployment_scale(DEPLOY, NS)
    assert (scale.kind, scale.api_version, scale.spec.replicas) == ("Scale", "autoscaling/v1", 2)
    assert scale.status.selector == f"app={DEPLOY}"
    assert api.patch_namespaced_deployment_scale(DEPLOY, NS, {"spec": {"replicas": 4}}).spec.replicas == 4
    scale = api.read_namespaced_deployment_scale(DEPLOY, NS)
    scale.spec.replicas = 6
    assert api.replace_namespaced_deployment_scale(DEPLOY, NS, scale).spec.replicas == 6
    dep = api.read_namespaced_deployment(DEPLOY, NS)
    assert dep.spec.replicas == 6 and dep.metadata.generation == 3  # every scale is a spec change
    scale.spec.replicas = 1  # stale resourceVersion
    with pytest.raises(k8s.ApiException) as err:
        api.replace_namespaced_deployment_scale(DEPLOY, NS, scale)
    assert err.value.status == 409
    rs = api.patch_namespaced_replica_set_scale(f"{DEPLOY}-5d4f8", NS, {"spec": {"replicas": 3}})
    assert rs.spec.replicas == 3


def test_scale_dry_run_answers_the_would_be_value_and_changes_nothing(k8s_admin: k8s.ApiClient) -> None:
    api = apps(k8s_admin)
    before = api.read_namespaced_deployment(DEPLOY, NS).metadata.resource_version
    out = api.patch_namespaced_deployment_scale(DEPLOY, NS, {"spec": {"replicas": 5}}, dry_run="All")
    assert out.spec.replicas == 5
    now = api.read_namespaced_deployment(DEPLOY, NS)
    assert now.spec.replicas == 2 and now.metadata.resource_version == before


def test_scale_to_minus_one_is_422_with_kind_scale(k8s_admin: k8s.ApiClient) -> None:
    with pytest.raises(k8s.ApiException) as err:
        apps(k8s_admin).patch_namespaced_deployment_scale(DEPLOY, NS, {"spec": {"replicas": -1}})
    body = json.loads(err.value.body)
    assert err.value.status == 422 and body["reason"] == "Invalid"
    assert body["details"]["kind"] == "Scale" and body["details"]["group"] == "autoscaling"
    assert body["details"]["causes"][0]["field"] == "spec.replicas"
    assert body["message"] == (f'Scale.autoscaling "{DEPLOY}" is invalid: spec.replicas: Invalid value: -1: '
                               "must be greater than or equal to 0")


# ---- the patch functions ----------------------------------------------------------------------------
def test_merge_patch_follows_rfc_7386() -> None:
    doc = {"a": "b", "c": {"d": "e", "f": "g"}, "l": [1, 2]}
    assert merge_patch(doc, {"a": "z", "c": {"f": None}, "l": [3]}) == {"a": "z", "c": {"d": "e"}, "l": [3]}
    assert doc["c"] == {"d": "e", "f": "g"}  # the original is untouched


def test_strategic_merge_lists_by_key_and_others_replaced() -> None:
    spec = {"containers": [{"name": "a", "image": "a:1", "ports": [{"containerPort": 80, "name": "http"}],
                            "volumeMounts": [{"mountPath": "/m", "name": "v"}]},
                           {"name": "b", "image": "b:1"}],
            "tolerations": [{"key": "x"}], "volumes": [{"name": "v", "emptyDir": {}}]}
    patch = {"containers": [{"name": "a", "ports": [{"containerPort": 81}],
                             "volumeMounts": [{"mountPath": "/m", "readOnly": True}]}],
             "tolerations": [{"key": "y"}], "volumes": [{"name": "w", "emptyDir": {}}]}
    out = strategic_merge_patch(spec, patch)
    assert [c["name"] for c in out["containers"]] == ["a", "b"]
    assert out["containers"][0]["ports"] == [{"containerPort": 80, "name": "http"}, {"containerPort": 81}]
    assert out["containers"][0]["volumeMounts"] == [{"mountPath": "/m", "name": "v", "readOnly": True}]
    assert out["tolerations"] == [{"key": "y"}]
    assert [v["name"] for v in out["volumes"]] == ["v", "w"]


def test_strategic_merge_directives() -> None:
    doc = {"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}},
                    "containers": [{"name": "a"}, {"name": "b"}], "x": {"y": 1, "z": 2}}}
    out = strategic_merge_patch(doc, {"spec": {
        "strategy": {"$retainKeys": ["type"], "type": "Recreate"},
        "$setElementOrder/containers": [{"name": "b"}, {"name": "a"}],
        "containers": [{"name": "a", "image": "i"}],
        "x": {"$patch": "replace", "y": 5},
        "$unknownDirective": 1,
    }})
    assert out["spec"]["strategy"] == {"type": "Recreate"}
    assert out["spec"]["containers"] == [{"name": "b"}, {"name": "a", "image": "i"}]
    assert out["spec"]["x"] == {"y": 5}
    assert "$unknownDirective" not in out["spec"]
    gone = strategic_merge_patch(doc, {"spec": {"x": {"$patch": "delete"}, "containers": [{"$patch": "replace"},
                                                                                          {"name": "c"}]}})
    assert "x" not in gone["spec"] and gone["spec"]["containers"] == [{"name": "c"}]
    assert strategic_merge_patch({"metadata": {"finalizers": ["a"]}}, {"metadata": {"finalizers": ["b", "a"]}}) \
        == {"metadata": {"finalizers": ["a", "b"]}}
