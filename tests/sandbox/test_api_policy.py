"""policy/v1 PodDisruptionBudgets and the ``pods/eviction`` subresource, through the official Python client
against a running sandbox (its controllers compute the budget's status as kube-controller-manager does).

The default scenario runs ``claude-inference`` in ``llm`` with 2 ready replicas (a Deployment: the disruption
controller takes expectedPods from its replicas)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any, TypeVar

import pytest
from kubernetes import client as k8s
from kubernetes import config

from console.sandbox.server import SandboxThread

from .conftest import DEPLOY, ApiServer

NS = "llm"
APP = {"app": "claude"}
T = TypeVar("T")


def wait_for(fn: Callable[[], T | None], what: str, timeout: float = 15.0) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def api(sb: SandboxThread, context: str = "sandbox-admin") -> k8s.ApiClient:
    return config.new_client_from_config(sb.info.kubeconfig, context=context)


def pdb_body(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": name},
            "spec": {"selector": {"matchLabels": APP}, **spec}}


def ready_pods(core: k8s.CoreV1Api) -> list[k8s.V1Pod]:
    pods = core.list_namespaced_pod(NS, label_selector="app=claude").items
    return [p for p in pods if not p.metadata.deletion_timestamp
            and any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or [])]


def evict(core: k8s.CoreV1Api, name: str, **kwargs: Any) -> dict[str, Any]:
    """POST an Eviction; the raw answer (a Status, which the client's V1Eviction model cannot hold)."""
    body = k8s.V1Eviction(metadata=k8s.V1ObjectMeta(name=name, namespace=NS), **kwargs)
    resp = core.create_namespaced_pod_eviction(name, NS, body, _preload_content=False)
    assert resp.status == 201
    return json.loads(resp.data)


def synced_status(policy: k8s.PolicyV1Api, name: str) -> k8s.V1PodDisruptionBudgetStatus:
    def check() -> k8s.V1PodDisruptionBudgetStatus | None:
        pdb = policy.read_namespaced_pod_disruption_budget(name, NS)
        st = pdb.status
        return st if st.observed_generation == pdb.metadata.generation and st.expected_pods else None
    return wait_for(check, f"pdb {name} status")


def test_pdb_status_and_eviction_429_then_allowed(sandbox: SandboxThread) -> None:
    admin = api(sandbox)
    core, policy = k8s.CoreV1Api(admin), k8s.PolicyV1Api(admin)
    wait_for(lambda: len(ready_pods(core)) == 2, "2 ready pods")
    made = policy.create_namespaced_pod_disruption_budget(NS, pdb_body("strict", minAvailable=2))
    # What the registry answers on create: generation 1 and an empty status the controller has not filled yet.
    assert made.metadata.generation == 1
    assert (made.status.disruptions_allowed, made.status.current_healthy, made.status.expected_pods) == (0, 0, 0)
    st = synced_status(policy, "strict")
    assert (st.current_healthy, st.desired_healthy, st.expected_pods, st.disruptions_allowed) == (2, 2, 2, 0)
    cond = {c.type: c for c in st.conditions}["DisruptionAllowed"]
    assert (cond.status, cond.reason, cond.observed_generation) == ("False", "InsufficientPods", 1)

    victim = ready_pods(core)[0].metadata.name
    with pytest.raises(k8s.ApiException) as err:
        evict(core, victim)
    assert err.value.status == 429
    body = json.loads(err.value.body)
    assert body["reason"] == "TooManyRequests"
    assert body["message"] == "Cannot evict pod as it would violate the pod's disruption budget."
    assert body["details"]["causes"] == [{"reason": "DisruptionBudget",
                                          "message": "The disruption budget strict needs 2 healthy pods and has 2 "
                                                     "currently"}]
    assert core.read_namespaced_pod(victim, NS).metadata.deletion_timestamp is None

    # maxUnavailable 1 of the Deployment's 2 replicas: one disruption allowed; the eviction spends it.
    policy.delete_namespaced_pod_disruption_budget("strict", NS)
    policy.create_namespaced_pod_disruption_budget(NS, pdb_body("one-down", maxUnavailable=1))
    st = synced_status(policy, "one-down")
    assert (st.current_healthy, st.desired_healthy, st.expected_pods, st.disruptions_allowed) == (2, 1, 2, 1)
    assert {c.type: c.reason for c in st.conditions}["DisruptionAllowed"] == "SufficientPods"
    dry = evict(core, victim, delete_options=k8s.V1DeleteOptions(dry_run=["All"]))
    assert dry["status"] == "Success" and core.read_namespaced_pod(victim, NS).metadata.deletion_timestamp is None
    answer = evict(core, victim)
    assert answer == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}
    pod = core.read_namespaced_pod(victim, NS)
    assert pod.metadata.deletion_timestamp is not None  # graceful: terminating, then gone
    assert any(c.type == "DisruptionTarget" and c.reason == "EvictionByEvictionAPI" for c in pod.status.conditions)
    after = policy.read_namespaced_pod_disruption_budget("one-down", NS).status
    assert after.disruptions_allowed == 0
    others = [p.metadata.name for p in ready_pods(core) if p.metadata.name != victim]
    with pytest.raises(k8s.ApiException) as err:
        evict(core, others[0])
    assert err.value.status == 429
    policy.delete_namespaced_pod_disruption_budget("one-down", NS)


def test_eviction_with_two_budgets_a_wrong_name_or_no_pod(sandbox: SandboxThread) -> None:
    admin = api(sandbox)
    core, policy = k8s.CoreV1Api(admin), k8s.PolicyV1Api(admin)
    wait_for(lambda: len(ready_pods(core)) == 2, "2 ready pods")
    policy.create_namespaced_pod_disruption_budget(NS, pdb_body("a", minAvailable=1))
    policy.create_namespaced_pod_disruption_budget(NS, pdb_body("b", minAvailable=1))
    synced_status(policy, "a")
    victim = ready_pods(core)[0].metadata.name
    with pytest.raises(k8s.ApiException) as err:
        evict(core, victim)
    assert err.value.status == 500
    assert "more than one PodDisruptionBudget" in json.loads(err.value.body)["message"]
    policy.delete_namespaced_pod_disruption_budget("b", NS)

    # A name in the body that differs from the URL's is a 400.
    with pytest.raises(k8s.ApiException) as err:
        core.create_namespaced_pod_eviction(victim, NS, k8s.V1Eviction(metadata=k8s.V1ObjectMeta(name="other")))
    assert err.value.status == 400
    assert json.loads(err.value.body)["message"] == "name in URL does not match name in Eviction object"
    with pytest.raises(k8s.ApiException) as err:
        evict(core, "no-such-pod")
    assert err.value.status == 404

    policy.delete_namespaced_pod_disruption_budget("a", NS)


def _seed_budget(server: ApiServer, status: dict[str, Any], **spec: Any) -> None:
    """A budget over the seeded (Running, unready) pods with the status a disruption controller wrote."""
    def write() -> None:
        server.ctx.store.create("poddisruptionbudgets", {
            "metadata": {"name": "budget", "namespace": NS},
            "spec": {"selector": {"matchLabels": {"app": DEPLOY}}, **spec},
            "status": {"observedGeneration": 1, "disruptedPods": {}, **status}})
    server.call(write)


@pytest.mark.parametrize(("policy", "status", "code"), [
    # IfHealthyBudget (the default): an unready pod goes when the budget is met, without spending it…
    (None, {"currentHealthy": 2, "desiredHealthy": 2, "disruptionsAllowed": 0, "expectedPods": 3}, 201),
    # …and not when the application is already short of healthy pods.
    ("IfHealthyBudget", {"currentHealthy": 1, "desiredHealthy": 2, "disruptionsAllowed": 0, "expectedPods": 3}, 429),
    # AlwaysAllow: an unready pod may always go.
    ("AlwaysAllow", {"currentHealthy": 0, "desiredHealthy": 2, "disruptionsAllowed": 0, "expectedPods": 3}, 201),
])
def test_unhealthy_pod_eviction_policy(api_server: ApiServer, k8s_admin: k8s.ApiClient, policy: str | None,
                                       status: dict[str, Any], code: int) -> None:
    spec: dict[str, Any] = {"minAvailable": 2}
    if policy:
        spec["unhealthyPodEvictionPolicy"] = policy
    _seed_budget(api_server, status, **spec)
    core = k8s.CoreV1Api(k8s_admin)
    name = f"{DEPLOY}-a"  # Running, no Ready condition: unhealthy
    body = k8s.V1Eviction(metadata=k8s.V1ObjectMeta(name=name, namespace=NS))
    if code == 429:
        with pytest.raises(k8s.ApiException) as err:
            core.create_namespaced_pod_eviction(name, NS, body)
        assert err.value.status == 429
        assert core.read_namespaced_pod(name, NS).metadata.deletion_timestamp is None
    else:
        resp = core.create_namespaced_pod_eviction(name, NS, body, _preload_content=False)
        assert resp.status == 201 and json.loads(resp.data)["status"] == "Success"
        assert core.read_namespaced_pod(name, NS).metadata.deletion_timestamp is not None
    # The budget was not spent for the unready pod.
    after = k8s.PolicyV1Api(k8s_admin).read_namespaced_pod_disruption_budget("budget", NS).status
    assert after.disruptions_allowed == 0 and not after.disrupted_pods


def test_eviction_of_a_pending_pod_ignores_the_budget(api_server: ApiServer, k8s_admin: k8s.ApiClient) -> None:
    _seed_budget(api_server, {"currentHealthy": 0, "desiredHealthy": 2, "disruptionsAllowed": 0, "expectedPods": 3},
                 minAvailable=2)
    core = k8s.CoreV1Api(k8s_admin)
    name = f"{DEPLOY}-c"  # Pending (unscheduled): deleted at once
    resp = core.create_namespaced_pod_eviction(name, NS, k8s.V1Eviction(metadata=k8s.V1ObjectMeta(name=name)),
                                               _preload_content=False)
    assert resp.status == 201
    with pytest.raises(k8s.ApiException) as err:
        core.read_namespaced_pod(name, NS)
    assert err.value.status == 404


def test_a_budget_not_yet_observed_answers_429(api_server: ApiServer, k8s_admin: k8s.ApiClient) -> None:
    _seed_budget(api_server, {"observedGeneration": 0, "currentHealthy": 5, "desiredHealthy": 1,
                              "disruptionsAllowed": 4, "expectedPods": 5}, maxUnavailable=1)
    api_server.call(lambda: api_server.ctx.store.replace("pods", {
        **api_server.ctx.store.get("pods", NS, f"{DEPLOY}-a"),
        "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}}))
    with pytest.raises(k8s.ApiException) as err:
        k8s.CoreV1Api(k8s_admin).create_namespaced_pod_eviction(
            f"{DEPLOY}-a", NS, k8s.V1Eviction(metadata=k8s.V1ObjectMeta(name=f"{DEPLOY}-a")))
    assert err.value.status == 429
    assert json.loads(err.value.body)["details"]["causes"][0]["message"] == \
        "The disruption budget budget is still being processed by the server."


def test_pdb_validation_and_viewer_rights(sandbox: SandboxThread) -> None:
    admin, viewer = api(sandbox), api(sandbox, "sandbox-viewer")
    policy = k8s.PolicyV1Api(admin)
    with pytest.raises(k8s.ApiException) as err:
        policy.create_namespaced_pod_disruption_budget(NS, pdb_body("both", minAvailable=1, maxUnavailable=1))
    assert err.value.status == 422
    assert "minAvailable and maxUnavailable cannot be both set" in json.loads(err.value.body)["message"]
    with pytest.raises(k8s.ApiException) as err:
        policy.create_namespaced_pod_disruption_budget(NS, pdb_body("pol", minAvailable=1,
                                                                    unhealthyPodEvictionPolicy="Sometimes"))
    assert err.value.status == 422 and "spec.unhealthyPodEvictionPolicy" in err.value.body
    policy.create_namespaced_pod_disruption_budget(NS, pdb_body("seen", minAvailable="50%"))
    st = synced_status(policy, "seen")
    assert (st.expected_pods, st.desired_healthy) == (2, 1)  # a percentage: of the controller's scale
    # The view role reads budgets, but may not evict.
    assert [p.metadata.name for p in k8s.PolicyV1Api(viewer).list_namespaced_pod_disruption_budget(NS).items] \
        == ["seen"]
    pod = k8s.CoreV1Api(admin).list_namespaced_pod(NS, label_selector="app=claude").items[0]
    with pytest.raises(k8s.ApiException) as err:
        evict(k8s.CoreV1Api(viewer), pod.metadata.name)
    assert err.value.status == 403
    assert 'cannot create resource "pods/eviction" in API group ""' in json.loads(err.value.body)["message"]
    policy.delete_namespaced_pod_disruption_budget("seen", NS)


def test_a_budget_over_daemonset_pods_with_max_unavailable_fails_sync(sandbox: SandboxThread) -> None:
    """A DaemonSet has no scale: the controller cannot count expected pods, so nothing may be disrupted."""
    policy = k8s.PolicyV1Api(api(sandbox))
    body = {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "dcgm"},
            "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {"app": "nvidia-dcgm-exporter"}}}}
    policy.create_namespaced_pod_disruption_budget("gpu-operator", body)

    def failed() -> k8s.V1Condition | None:
        st = policy.read_namespaced_pod_disruption_budget("dcgm", "gpu-operator").status
        return next((c for c in st.conditions or [] if c.reason == "SyncFailed"), None)
    cond = wait_for(failed, "the SyncFailed condition")
    assert cond.status == "False" and cond.type == "DisruptionAllowed"
    assert cond.message.startswith('found no controllers for pod "nvidia-dcgm-exporter-')
    assert policy.read_namespaced_pod_disruption_budget("dcgm", "gpu-operator").status.disruptions_allowed == 0
    events = k8s.CoreV1Api(api(sandbox)).list_namespaced_event(
        "gpu-operator", field_selector="involvedObject.name=dcgm").items
    assert any(e.reason == "CalculateExpectedPodCountFailed" and e.type == "Warning" for e in events)
    policy.delete_namespaced_pod_disruption_budget("dcgm", "gpu-operator")
