"""The requests, diffs and kubectl commands the actions build (pure, no server)."""

from __future__ import annotations

from typing import Any

import pytest

from console.actions import plan as ap
from console.actions.validate import ActionError


def live(**spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": "web", "namespace": "llm", "resourceVersion": "41", "generation": 3,
                         "annotations": {"deployment.kubernetes.io/revision": "3", "kubernetes.io/change-cause": "v3",
                                         "team": "ml"}},
            "spec": {"replicas": 2, "template": {"metadata": {"labels": {"app": "web"}},
                                                 "spec": {"containers": [{"name": "app", "image": "img:v3"}]}},
                     **spec},
            "status": {"replicas": 2}}


def test_every_write_carries_the_planned_resource_version() -> None:
    scale = ap.build_request({"action": "scale", "replicas": 4}, live())
    assert scale["path"] == "/apis/apps/v1/namespaces/llm/deployments/web/scale"
    assert scale["content_type"] == ap.MERGE_PATCH and scale["resource"] == "deployments/scale"
    assert scale["body"] == {"metadata": {"resourceVersion": "41"}, "spec": {"replicas": 4}}
    pause = ap.build_request({"action": "pause"}, live())
    assert pause["content_type"] == ap.STRATEGIC_MERGE_PATCH
    assert pause["body"] == {"metadata": {"resourceVersion": "41"}, "spec": {"paused": True}}
    image = ap.build_request({"action": "set-image", "container": "app", "image": "img:v4", "surge0": True}, live())
    assert image["body"]["metadata"] == {"resourceVersion": "41", "annotations": {
        "kubernetes.io/change-cause": "llmctl rollout set-image app=img:v4"}}
    assert image["body"]["spec"]["template"]["spec"]["containers"] == [{"name": "app", "image": "img:v4"}]
    assert image["body"]["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 0, "maxUnavailable": 1}


def test_undo_is_kubectls_json_patch_with_a_version_guard() -> None:
    template = {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "app", "image": "img:v1"}]}}
    rs_annotations = {"deployment.kubernetes.io/revision": "1", "kubernetes.io/change-cause": "v1",
                      "deployment.kubernetes.io/desired-replicas": "2"}
    ops = ap.build_request({"action": "undo", "revision": 1, "template": template, "annotations": rs_annotations},
                           live())["body"]
    assert ops[0] == {"op": "replace", "path": "/metadata/resourceVersion", "value": "41"}
    assert ops[1] == {"op": "replace", "path": "/spec/template", "value": template}
    assert ops[2] == {"op": "replace", "path": "/metadata/annotations", "value": {
        "deployment.kubernetes.io/revision": "3", "kubernetes.io/change-cause": "v1"}}
    with pytest.raises(ActionError) as same:
        ap.build_request({"action": "undo", "revision": 3, "template": live()["spec"]["template"]}, live())
    assert same.value.message == "skipped rollback (current template already matches revision 3)"


def test_intents_that_no_longer_fit_the_object() -> None:
    with pytest.raises(ActionError, match="already paused"):
        ap.build_request({"action": "pause"}, live(paused=True))
    with pytest.raises(ActionError, match="is not paused"):
        ap.build_request({"action": "resume"}, live())
    with pytest.raises(ActionError, match="paused"):
        ap.build_request({"action": "restart", "at": "2026-01-01T00:00:00Z"}, live(paused=True))
    with pytest.raises(ActionError, match="already runs img:v3"):
        ap.build_request({"action": "set-image", "container": "app", "image": "img:v3"}, live())


def test_hpa_patch_keeps_other_metrics() -> None:
    hpa = {"metadata": {"name": "h", "namespace": "llm", "resourceVersion": "7"},
           "spec": {"minReplicas": 2, "maxReplicas": 8, "metrics": [
               {"type": "External", "external": {"metric": {"name": "gpu"}, "target": {"type": "AverageValue"}}}]}}
    body = ap.build_request({"action": "hpa", "min": None, "max": 4, "cpu": 75}, hpa)["body"]
    assert body["spec"]["maxReplicas"] == 4 and "minReplicas" not in body["spec"]
    assert body["spec"]["metrics"][0]["type"] == "External"
    assert body["spec"]["metrics"][1] == {"type": "Resource", "resource": {
        "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 75}}}
    assert ap.cpu_target({"spec": body["spec"]}) == 75
    with pytest.raises(ActionError, match=r"minReplicas \(2\) must not exceed maxReplicas \(1\)"):
        ap.build_request({"action": "hpa", "min": None, "max": 1, "cpu": None}, hpa)


def test_diff_leaves_out_bookkeeping_and_kubectl_commands() -> None:
    after = live()
    after["metadata"]["resourceVersion"], after["metadata"]["generation"] = "42", 4
    after["spec"]["replicas"] = 5
    after["status"] = {"replicas": 5}
    diff = ap.unified_diff(live(), after, "deployment/web")
    assert diff.startswith("--- deployment/web (live)\n+++ deployment/web (dry-run)\n")
    assert "-  replicas: 2\n+  replicas: 5\n" in diff
    assert "resourceVersion" not in diff and "generation" not in diff and "status" not in diff
    assert ap.unified_diff(live(), live(), "x") == ""
    assert ap.kubectl_command({"action": "undo", "revision": 2}, "llm", "web", "prod") == \
        "kubectl rollout undo deployment/web --to-revision=2 -n llm --context prod"
    assert ap.kubectl_command({"action": "restart"}, "my ns", "web", "") == \
        "kubectl rollout restart deployment/web -n 'my ns'"
    hpa = ap.kubectl_command({"action": "hpa"}, "llm", "h", "c", {"minReplicas": 3})
    assert hpa == """kubectl patch hpa/h --type merge -p '{"spec":{"minReplicas":3}}' -n llm --context c"""
