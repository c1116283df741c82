"""Contract tests, with the official Python client, of the API surface a v1.30 server offers beyond the
workloads: autoscaling/v1 HPAs converted from the v2 storage (round-trip annotations), the HPA create
response, ``metadata.generation`` per kind, SelfSubjectReview, TokenRequest and ServiceAccounts, Secrets,
events.k8s.io/v1 Events, and the ``view`` ClusterRole's rules for sandbox-viewer."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from typing import Any

import pytest
from kubernetes import client as k8s
from kubernetes import config

from console.sandbox.controllers.index import StoreIndex
from console.sandbox.controllers.serviceaccounts import ServiceAccountController
from console.sandbox.server import SandboxThread

from .conftest import DEPLOY, NS, ApiServer
from .test_api_discovery import raw

V2_EXTRA = {"type": "Pods", "pods": {"metric": {"name": "vllm:num_requests_waiting"},
                                     "target": {"type": "AverageValue", "averageValue": "5"}}}


def get_json(server: ApiServer, path: str) -> Any:
    status, _, body = raw(server, path, server.auth.admin_token)
    assert status == 200
    return json.loads(body)


# ---- HorizontalPodAutoscaler: v2 storage, v1 served ------------------------------------------------------
def test_hpa_create_answers_the_empty_v2_status(api_server: ApiServer, k8s_admin: k8s.ApiClient) -> None:
    hpa = k8s.V2HorizontalPodAutoscaler(
        metadata=k8s.V1ObjectMeta(name="fresh"),
        spec=k8s.V2HorizontalPodAutoscalerSpec(
            max_replicas=4, scale_target_ref=k8s.V2CrossVersionObjectReference(kind="Deployment", name=DEPLOY,
                                                                               api_version="apps/v1")))
    made = k8s.AutoscalingV2Api(k8s_admin).create_namespaced_horizontal_pod_autoscaler(NS, hpa)
    assert made.status.desired_replicas == 0 and made.status.current_metrics is None
    body = get_json(api_server, f"/apis/autoscaling/v2/namespaces/{NS}/horizontalpodautoscalers/fresh")
    assert body["status"] == {"desiredReplicas": 0, "currentMetrics": None}
    as_v1 = get_json(api_server, f"/apis/autoscaling/v1/namespaces/{NS}/horizontalpodautoscalers/fresh")
    assert as_v1["status"] == {"currentReplicas": 0, "desiredReplicas": 0}


def test_hpa_v1_reads_the_v2_object_and_round_trips_what_v1_cannot_say(k8s_admin: k8s.ApiClient) -> None:
    v1, v2 = k8s.AutoscalingV1Api(k8s_admin), k8s.AutoscalingV2Api(k8s_admin)
    seeded = v1.read_namespaced_horizontal_pod_autoscaler(DEPLOY, NS)
    assert seeded.api_version == "autoscaling/v1" and seeded.spec.target_cpu_utilization_percentage == 60
    assert (seeded.spec.min_replicas, seeded.spec.max_replicas) == (2, 8)
    assert seeded.status.current_replicas == 0 and seeded.status.desired_replicas == 0
    assert not (seeded.metadata.annotations or {})  # nothing that v1 cannot say yet

    behavior = {"scaleDown": {"stabilizationWindowSeconds": 60}}
    v2.patch_namespaced_horizontal_pod_autoscaler(DEPLOY, NS, [
        {"op": "add", "path": "/spec/metrics/-", "value": V2_EXTRA},
        {"op": "add", "path": "/spec/behavior", "value": behavior}])
    as_v1 = v1.read_namespaced_horizontal_pod_autoscaler(DEPLOY, NS)
    annotations = as_v1.metadata.annotations
    assert json.loads(annotations["autoscaling.alpha.kubernetes.io/metrics"]) == [
        {"type": "Pods", "pods": {"metricName": "vllm:num_requests_waiting", "targetAverageValue": "5"}}]
    assert json.loads(annotations["autoscaling.alpha.kubernetes.io/behavior"])["scaleDown"][
        "stabilizationWindowSeconds"] == 60
    # A v1 client writes back what it read, with a new CPU target: the v2-only fields survive.
    as_v1.spec.target_cpu_utilization_percentage = 70
    v1.replace_namespaced_horizontal_pod_autoscaler(DEPLOY, NS, as_v1)
    stored = v2.read_namespaced_horizontal_pod_autoscaler(DEPLOY, NS)
    kinds = [(m.type, m.resource.target.average_utilization if m.resource else m.pods.metric.name)
             for m in stored.spec.metrics]
    assert kinds == [("Pods", "vllm:num_requests_waiting"), ("Resource", 70)]
    assert stored.spec.behavior.scale_down.stabilization_window_seconds == 60
    assert "autoscaling.alpha.kubernetes.io/metrics" not in (stored.metadata.annotations or {})
    # A v1 merge patch works on the v1 shape.
    v1.patch_namespaced_horizontal_pod_autoscaler(DEPLOY, NS, {"spec": {"targetCPUUtilizationPercentage": 55}})
    assert v2.read_namespaced_horizontal_pod_autoscaler(DEPLOY, NS).spec.metrics[-1].resource.target \
        .average_utilization == 55


def test_hpa_v1_create_defaults_the_cpu_target_and_lists(k8s_admin: k8s.ApiClient) -> None:
    v1, v2 = k8s.AutoscalingV1Api(k8s_admin), k8s.AutoscalingV2Api(k8s_admin)
    body = k8s.V1HorizontalPodAutoscaler(
        metadata=k8s.V1ObjectMeta(name="plain"),
        spec=k8s.V1HorizontalPodAutoscalerSpec(max_replicas=3, scale_target_ref=k8s.V1CrossVersionObjectReference(
            kind="Deployment", name=DEPLOY, api_version="apps/v1")))
    made = v1.create_namespaced_horizontal_pod_autoscaler(NS, body)
    assert made.api_version == "autoscaling/v1" and made.status.desired_replicas == 0
    stored = v2.read_namespaced_horizontal_pod_autoscaler("plain", NS)
    assert stored.spec.min_replicas == 1
    assert [(m.type, m.resource.name, m.resource.target.average_utilization) for m in stored.spec.metrics] == \
        [("Resource", "cpu", 80)]
    listed = v1.list_namespaced_horizontal_pod_autoscaler(NS)
    assert listed.api_version == "autoscaling/v1"
    assert sorted(h.metadata.name for h in listed.items) == [DEPLOY, "plain"]
    with pytest.raises(k8s.ApiException) as err:
        v1.create_namespaced_horizontal_pod_autoscaler(NS, k8s.V1HorizontalPodAutoscaler(
            metadata=k8s.V1ObjectMeta(name="bad"), spec=k8s.V1HorizontalPodAutoscalerSpec(
                max_replicas=1, min_replicas=3, scale_target_ref=k8s.V1CrossVersionObjectReference(
                    kind="Deployment", name=DEPLOY))))
    assert err.value.status == 422 and "spec.maxReplicas" in err.value.body


def test_autoscaling_discovery_prefers_v2_and_serves_v1(k8s_admin: k8s.ApiClient) -> None:
    groups = {g.name: g for g in k8s.ApisApi(k8s_admin).get_api_versions().groups}
    assert [v.version for v in groups["autoscaling"].versions] == ["v2", "v1"]
    assert groups["autoscaling"].preferred_version.version == "v2"
    assert groups["policy"].preferred_version.group_version == "policy/v1"
    assert groups["events.k8s.io"].preferred_version.group_version == "events.k8s.io/v1"
    v1 = {r.name: r for r in k8s.AutoscalingV1Api(k8s_admin).get_api_resources().resources}
    assert v1["horizontalpodautoscalers"].short_names == ["hpa"]
    core = {r.name: r for r in k8s.CoreV1Api(k8s_admin).get_api_resources().resources}
    assert (core["pods/eviction"].group, core["pods/eviction"].kind, core["pods/eviction"].verbs) == \
        ("policy", "Eviction", ["create"])
    assert core["serviceaccounts/token"].kind == "TokenRequest" and "secrets" in core


# ---- generation -------------------------------------------------------------------------------------
def test_generation_only_where_the_strategy_uses_it(k8s_admin: k8s.ApiClient) -> None:
    core, apps = k8s.CoreV1Api(k8s_admin), k8s.AppsV1Api(k8s_admin)
    d = apps.read_namespaced_deployment(DEPLOY, NS)
    gen = d.metadata.generation
    apps.patch_namespaced_deployment(DEPLOY, NS, {"metadata": {"annotations": {"note": "annotation only"}}})
    assert apps.read_namespaced_deployment(DEPLOY, NS).metadata.generation == gen + 1
    apps.patch_namespaced_deployment(DEPLOY, NS, {"metadata": {"labels": {"tier": "x"}}})
    assert apps.read_namespaced_deployment(DEPLOY, NS).metadata.generation == gen + 1  # labels do not count
    rs = apps.list_namespaced_replica_set(NS).items[0]
    apps.patch_namespaced_replica_set(rs.metadata.name, NS, {"metadata": {"annotations": {"n": "1"}}})
    assert apps.read_namespaced_replica_set(rs.metadata.name, NS).metadata.generation == rs.metadata.generation
    made = [
        core.create_namespaced_config_map(NS, k8s.V1ConfigMap(metadata=k8s.V1ObjectMeta(name="cm"), data={"a": "b"})),
        core.create_namespaced_service(NS, k8s.V1Service(metadata=k8s.V1ObjectMeta(name="svc"), spec=k8s.V1ServiceSpec(
            ports=[k8s.V1ServicePort(port=80)]))),
        core.create_namespaced_persistent_volume_claim(NS, k8s.V1PersistentVolumeClaim(
            metadata=k8s.V1ObjectMeta(name="pvc"), spec=k8s.V1PersistentVolumeClaimSpec(
                access_modes=["ReadWriteOnce"],
                resources=k8s.V1VolumeResourceRequirements(requests={"storage": "1Gi"})))),
        core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name="gen-test"))),
        core.read_namespaced_pod(f"{DEPLOY}-a", NS),
    ]
    assert [m.metadata.generation for m in made] == [None] * len(made)
    core.patch_namespaced_service("svc", NS, {"spec": {"ports": [{"port": 81}]}})
    assert core.read_namespaced_service("svc", NS).metadata.generation is None


# ---- who am I, service accounts and their tokens ----------------------------------------------------------
def test_self_subject_review_names_the_caller(api_server: ApiServer, k8s_admin: k8s.ApiClient,
                                              k8s_viewer: k8s.ApiClient) -> None:
    review = k8s.V1SelfSubjectReview(api_version="authentication.k8s.io/v1", kind="SelfSubjectReview")
    me = k8s.AuthenticationV1Api(k8s_admin).create_self_subject_review(review)
    assert me.status.user_info.username == "sandbox-admin"
    assert "system:masters" in me.status.user_info.groups
    viewer = k8s.AuthenticationV1Api(k8s_viewer).create_self_subject_review(review)
    assert viewer.status.user_info.username == "sandbox-viewer"
    assert viewer.status.user_info.groups == ["system:authenticated"]


def test_token_request_issues_a_service_account_token(api_server: ApiServer, k8s_admin: k8s.ApiClient) -> None:
    core = k8s.CoreV1Api(k8s_admin)
    core.create_namespaced_service_account(NS, k8s.V1ServiceAccount(metadata=k8s.V1ObjectMeta(name="robot")))
    req = k8s.AuthenticationV1TokenRequest(spec=k8s.V1TokenRequestSpec(audiences=[], expiration_seconds=900))
    issued = core.create_namespaced_service_account_token("robot", NS, req)
    assert issued.spec.expiration_seconds == 900
    assert issued.spec.audiences == ["https://kubernetes.default.svc.cluster.local"]
    assert issued.status.token.count(".") == 2 and issued.status.expiration_timestamp is not None
    with api_server.client(issued.status.token) as robot:
        who = k8s.AuthenticationV1Api(robot).create_self_subject_review(k8s.V1SelfSubjectReview())
        assert who.status.user_info.username == f"system:serviceaccount:{NS}:robot"
        assert f"system:serviceaccounts:{NS}" in who.status.user_info.groups
        with pytest.raises(k8s.ApiException) as err:
            k8s.CoreV1Api(robot).list_namespaced_pod(NS)
        assert err.value.status == 403
    with pytest.raises(k8s.ApiException) as err:
        core.create_namespaced_service_account_token("nobody", NS, req)
    assert err.value.status == 404
    short = k8s.AuthenticationV1TokenRequest(spec=k8s.V1TokenRequestSpec(audiences=[], expiration_seconds=60))
    with pytest.raises(k8s.ApiException) as err:
        core.create_namespaced_service_account_token("robot", NS, short)
    assert err.value.status == 422 and "may not specify a duration less than 10 minutes" in err.value.body


def test_every_namespace_gets_a_default_service_account(api_server: ApiServer) -> None:
    ctx = api_server.ctx

    async def run() -> list[tuple[str, str]]:
        controller = ServiceAccountController(ctx, StoreIndex(ctx.store))
        controller.start()
        ctx.store.subscribe(controller.on_change)
        ctx.store.create("namespaces", {"metadata": {"name": "fresh"}})
        for _ in range(50):
            if ctx.store.try_get("serviceaccounts", "fresh", "default"):
                break
            await asyncio.sleep(0.01)
        ctx.store.delete("serviceaccounts", NS, "default")
        for _ in range(50):
            if ctx.store.try_get("serviceaccounts", NS, "default"):
                break
            await asyncio.sleep(0.01)
        await controller.stop()
        return sorted((s["metadata"]["namespace"], s["metadata"]["name"])
                      for s in ctx.store.list("serviceaccounts"))

    assert api_server.run(run()) == [("default", "default"), ("fresh", "default"), ("kube-system", "default"),
                                     (NS, "default")]


# ---- secrets and the view role ----------------------------------------------------------------------------
def test_secrets_are_served_and_the_view_role_cannot_read_them(k8s_admin: k8s.ApiClient,
                                                               k8s_viewer: k8s.ApiClient) -> None:
    core = k8s.CoreV1Api(k8s_admin)
    made = core.create_namespaced_secret(NS, k8s.V1Secret(metadata=k8s.V1ObjectMeta(name="hf-token"),
                                                          string_data={"token": "hf_abc"}))
    assert made.type == "Opaque" and made.string_data is None
    assert base64.b64decode(made.data["token"]) == b"hf_abc"
    assert [s.metadata.name for s in core.list_namespaced_secret(NS).items] == ["hf-token"]
    viewer = k8s.CoreV1Api(k8s_viewer)
    for call in (lambda: viewer.read_namespaced_secret("hf-token", NS), lambda: viewer.list_namespaced_secret(NS),
                 lambda: viewer.list_node()):
        with pytest.raises(k8s.ApiException) as err:
            call()
        assert err.value.status == 403
    body = json.loads(err.value.body)
    assert body["message"] == 'nodes is forbidden: User "sandbox-viewer" cannot list resource "nodes" in API ' \
                              'group "" at the cluster scope'
    # What the view role does allow: namespaces, pods and their logs, workloads, HPAs, budgets, events.
    assert NS in [n.metadata.name for n in viewer.list_namespace().items]
    assert viewer.list_namespaced_pod(NS).items
    assert k8s.AppsV1Api(k8s_viewer).list_namespaced_deployment(NS).items
    assert k8s.AutoscalingV1Api(k8s_viewer).list_namespaced_horizontal_pod_autoscaler(NS).items
    assert k8s.PolicyV1Api(k8s_viewer).list_namespaced_pod_disruption_budget(NS).items == []
    assert viewer.list_namespaced_event(NS).items


@pytest.mark.parametrize(("verb", "resource", "group", "allowed"), [
    ("list", "pods", "", True), ("get", "pods/log", "", True), ("list", "nodes", "", False),
    ("get", "secrets", "", False), ("list", "namespaces", "", True), ("patch", "deployments", "apps", False),
    ("list", "servicemonitors", "monitoring.coreos.com", False), ("create", "pods/eviction", "", False),
    ("create", "serviceaccounts/token", "", False), ("get", "poddisruptionbudgets", "policy", True),
])
def test_viewer_access_reviews_follow_the_view_role(k8s_viewer: k8s.ApiClient, verb: str, resource: str,
                                                    group: str, allowed: bool) -> None:
    name, _, sub = resource.partition("/")
    review = k8s.V1SelfSubjectAccessReview(spec=k8s.V1SelfSubjectAccessReviewSpec(
        resource_attributes=k8s.V1ResourceAttributes(verb=verb, resource=name, subresource=sub or None, group=group,
                                                     namespace=None if name in ("nodes", "namespaces") else NS)))
    answer = k8s.AuthorizationV1Api(k8s_viewer).create_self_subject_access_review(review)
    assert answer.status.allowed is allowed


# ---- events.k8s.io/v1 ----------------------------------------------------------------------------------
def test_events_v1_are_the_core_events_converted(api_server: ApiServer, k8s_admin: k8s.ApiClient) -> None:
    # A core/v1 event has no eventTime: events.k8s.io/v1 shows it as null (which the Python client's
    # EventsV1Event model refuses, so this reads the JSON), the rest under the new names.
    listed = get_json(api_server, f"/apis/events.k8s.io/v1/namespaces/{NS}/events")
    assert (listed["kind"], listed["apiVersion"]) == ("EventList", "events.k8s.io/v1")
    ev = listed["items"][0]
    assert (ev["kind"], ev["apiVersion"], ev["eventTime"]) == ("Event", "events.k8s.io/v1", None)
    assert ev["note"] == f"Scaled up replica set {DEPLOY}-5d4f8 to 2" and "message" not in ev
    assert (ev["regarding"]["kind"], ev["regarding"]["name"]) == ("Deployment", DEPLOY)
    assert ev["deprecatedCount"] == 1 and ev["deprecatedSource"] == {"component": "deployment-controller"}
    by_field = get_json(api_server, f"/apis/events.k8s.io/v1/namespaces/{NS}/events?fieldSelector="
                                    f"regarding.name%3D{DEPLOY}")
    assert [e["metadata"]["name"] for e in by_field["items"]] == [ev["metadata"]["name"]]
    made = k8s.EventsV1Api(k8s_admin).create_namespaced_event(NS, k8s.EventsV1Event(
        metadata=k8s.V1ObjectMeta(name="new-ev"), event_time="2024-01-01T00:00:00.000000Z", action="Binding",
        reason="Scheduled", note="assigned", reporting_controller="default-scheduler",
        reporting_instance="default-scheduler-x", type="Normal",
        regarding=k8s.V1ObjectReference(kind="Pod", name=f"{DEPLOY}-a", namespace=NS)))
    assert made.note == "assigned" and made.regarding.name == f"{DEPLOY}-a"
    core = k8s.CoreV1Api(k8s_admin).read_namespaced_event("new-ev", NS)
    assert (core.message, core.involved_object.name, core.reporting_component, core.action) == \
        ("assigned", f"{DEPLOY}-a", "default-scheduler", "Binding")


def test_observed_generation_follows_an_annotation_only_change(sb: SandboxThread) -> None:
    apps = k8s.AppsV1Api(config.new_client_from_config(sb.info.kubeconfig))
    before = apps.read_namespaced_deployment("claude-inference", NS)
    apps.patch_namespaced_deployment("claude-inference", NS, {"metadata": {"annotations": {"team": "infra"}}})
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        d = apps.read_namespaced_deployment("claude-inference", NS)
        if d.status.observed_generation == d.metadata.generation:
            break
        time.sleep(0.05)
    assert d.metadata.generation == before.metadata.generation + 1
    assert d.status.observed_generation == d.metadata.generation
    # The controller's own revision annotations (written through /status) leave generation alone.
    assert d.metadata.annotations["deployment.kubernetes.io/revision"] == \
        before.metadata.annotations["deployment.kubernetes.io/revision"]


def test_watches_of_another_version_stream_that_version(api_server: ApiServer) -> None:
    for path, check in (
        (f"/apis/events.k8s.io/v1/namespaces/{NS}/events?watch=1&timeoutSeconds=1",
         lambda o: (o["apiVersion"], o["note"], "message" in o) == ("events.k8s.io/v1", f"Scaled up replica set "
                                                                    f"{DEPLOY}-5d4f8 to 2", False)),
        (f"/apis/autoscaling/v1/namespaces/{NS}/horizontalpodautoscalers?watch=1&timeoutSeconds=1",
         lambda o: (o["apiVersion"], o["spec"]["targetCPUUtilizationPercentage"]) == ("autoscaling/v1", 60)),
    ):
        status, _, body = raw(api_server, path, api_server.auth.admin_token)
        assert status == 200
        events = [json.loads(line) for line in body.splitlines() if line.strip()]
        assert [e["type"] for e in events] == ["ADDED"] and check(events[0]["object"]), events
