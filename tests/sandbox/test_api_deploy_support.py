"""What a first deployment needs from the sandbox, as a real cluster provides it: the Prometheus Operator's
kinds in discovery (validated, dry-run honoured), Service cluster IPs, the default StorageClass and claim
binding, Docker Hub short names through the sandbox registry, and the KEP-1755 local-registry ConfigMap."""

from __future__ import annotations

import time

import pytest
from kubernetes import client as k8s
from kubernetes import config

from console.sandbox.server import SandboxThread

from .conftest import NS, ApiServer


def test_monitoring_kinds_are_discovered_validated_and_dry_run(api_server: ApiServer,
                                                               k8s_admin: k8s.ApiClient) -> None:
    groups = {g.name: g for g in k8s.ApisApi(k8s_admin).get_api_versions().groups}
    assert groups["monitoring.coreos.com"].preferred_version.group_version == "monitoring.coreos.com/v1"
    custom = k8s.CustomObjectsApi(k8s_admin)
    resources = {r.name: r for r in custom.get_api_resources("monitoring.coreos.com", "v1").resources}
    assert resources["servicemonitors"].short_names == ["smon"]
    assert resources["prometheusrules"].kind == "PrometheusRule"
    assert resources["servicemonitors"].categories == ["prometheus-operator"]
    monitor = {"apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor", "metadata": {"name": "m"},
               "spec": {"endpoints": [{"port": "http"}]}}
    with pytest.raises(k8s.ApiException) as err:
        custom.create_namespaced_custom_object("monitoring.coreos.com", "v1", NS, "servicemonitors", monitor)
    assert err.value.status == 422 and "spec.selector: Required value" in err.value.body
    monitor["spec"]["selector"] = {"matchLabels": {"app": "x"}}
    made = custom.create_namespaced_custom_object("monitoring.coreos.com", "v1", NS, "servicemonitors", monitor,
                                                  dry_run="All")
    assert made["metadata"]["name"] == "m"
    assert custom.list_namespaced_custom_object("monitoring.coreos.com", "v1", NS, "servicemonitors")["items"] == []


def test_services_get_a_cluster_ip_and_claims_the_default_class(k8s_admin: k8s.ApiClient) -> None:
    core = k8s.CoreV1Api(k8s_admin)
    svc = core.create_namespaced_service(NS, {"metadata": {"name": "web"}, "spec": {
        "selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]}})
    assert svc.spec.cluster_ip.startswith("10.96.") and svc.spec.cluster_ips == [svc.spec.cluster_ip]
    headless = core.create_namespaced_service(NS, {"metadata": {"name": "h"}, "spec": {"clusterIP": "None"}})
    assert headless.spec.cluster_ip == "None"
    claim = core.create_namespaced_persistent_volume_claim(NS, {"metadata": {"name": "weights"}, "spec": {
        "accessModes": ["ReadOnlyMany"], "resources": {"requests": {"storage": "10Gi"}}}})
    assert claim.spec.storage_class_name == "standard" and claim.status.phase == "Pending"


def test_claims_are_bound_and_short_names_pull_from_the_sandbox_registry(sb: SandboxThread) -> None:
    api = config.new_client_from_config(sb.info.kubeconfig)
    core = k8s.CoreV1Api(api)
    for name, klass in (("weights", None), ("static", "")):
        spec = {"accessModes": ["ReadOnlyMany"], "resources": {"requests": {"storage": "10Gi"}}}
        if klass is not None:
            spec["storageClassName"] = klass
        core.create_namespaced_persistent_volume_claim("llm", {"metadata": {"name": name}, "spec": spec})
    deadline = time.monotonic() + 10
    while core.read_namespaced_persistent_volume_claim("weights", "llm").status.phase != "Bound":
        assert time.monotonic() < deadline, "the claim was never bound"
        time.sleep(0.05)
    bound = core.read_namespaced_persistent_volume_claim("weights", "llm")
    assert bound.spec.volume_name.startswith("pvc-") and bound.status.capacity == {"storage": "10Gi"}
    assert core.read_namespaced_persistent_volume_claim("static", "llm").status.phase == "Pending"
    events = core.list_namespaced_event("llm", field_selector="involvedObject.name=static").items
    assert [e.reason for e in events] == ["FailedBinding"]
    registry = core.read_namespaced_config_map("local-registry-hosting", "kube-public")
    assert f'host: "{sb.ctx.catalog.registry_host}"' in registry.data["localRegistryHosting.v1"]
    catalog = sb.ctx.catalog
    assert catalog.resolve("llm/claude-inference:v1.1.0") is catalog.resolve("docker.io/llm/claude-inference:v1.1.0")
    assert catalog.resolve("llm/claude-inference:v1.1.0") is not None
    assert catalog.resolve("registry.example.com/llm/claude-inference:v1.1.0") is None
