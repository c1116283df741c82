"""The production-grade manifests against a real sandbox over real sockets: what the preflight reads of the
cluster (the kinds it serves, the StorageClass) shapes them, every object passes the server's dry-run, and
``llmctl deploy -f`` creates the disruption budget and the hardened pods."""

from __future__ import annotations

from pathlib import Path

import pytest
from kubernetes import client, config

from console.deploy.checks import cluster_checks, read_cluster_facts
from console.deploy.render import render
from console.kube.transport import connect_target
from console.sandbox.server import SandboxThread

from .conftest import ADMIN, NS, ROOT, llmctl_cli, run
from .value_sets import VALUE_SETS, values

# Budgets only where a Deployment never runs fewer than 2 pods (the pools' floors are 1), and where wanted.
EXPECTED_BUDGETS = {"defaults": ["claude-inference-pdb"], "pools": [], "no-hpa": ["claude-inference-pdb"],
                    "queue": ["claude-inference-pdb"], "shared-storage": ["claude-inference-pdb"],
                    "big-model": ["claude-inference-pdb"], "relaxed": []}


@pytest.mark.parametrize("name", list(VALUE_SETS))
def test_manifests_rendered_with_the_clusters_facts_pass_the_server_dry_run(shared_sandbox: SandboxThread,
                                                                           name: str) -> None:
    v = values(name)

    async def go() -> list[str]:
        _, transport = await connect_target(shared_sandbox.info.kubeconfig, ADMIN)
        try:
            facts = await read_cluster_facts(transport, v)
            rendered = render(v, facts)
            checks = {c.name: c for c in cluster_checks(v, facts)}
            # The sandbox serves policy/v1 (drains honour budgets there): nothing is left out.
            assert facts.unserved == frozenset() and "optional-kinds" not in checks
            assert [o.name for o in rendered.by_kind("PodDisruptionBudget")] == EXPECTED_BUDGETS[name]
            sent = []
            for obj in rendered.objects:
                if obj.kind == "Namespace":
                    continue
                answer = await transport.request("POST", obj.path(with_name=False), [("dryRun", "All")],
                                                 body=obj.body)
                # The server kept what we sent: nothing pruned as unknown, nothing defaulted away.
                spec = obj.body.get("spec")
                if obj.kind == "Deployment":
                    pod = answer["spec"]["template"]["spec"]
                    assert pod["securityContext"] == spec["template"]["spec"]["securityContext"]
                    assert pod["containers"][0]["securityContext"] == \
                        spec["template"]["spec"]["containers"][0]["securityContext"]
                    assert pod.get("topologySpreadConstraints") == spec["template"]["spec"].get(
                        "topologySpreadConstraints")
                elif obj.kind == "HorizontalPodAutoscaler":
                    assert answer["spec"]["behavior"] == spec["behavior"]
                elif obj.kind == "PodDisruptionBudget":
                    assert answer["spec"]["minAvailable"] == spec["minAvailable"]
                sent.append(obj.ref)
            return sent
        finally:
            await transport.close()

    sent = run(go())
    assert sent and all(not r.startswith("namespace/") for r in sent)
    # A dry run stores nothing.
    apps = client.AppsV1Api(config.new_client_from_config(shared_sandbox.info.kubeconfig, context=ADMIN))
    assert apps.list_namespaced_deployment(NS).items == []


def test_the_sandbox_serves_no_storage_classes_so_auto_is_read_write_once_with_the_reason(
        shared_sandbox: SandboxThread) -> None:
    v = values("defaults")

    async def go() -> tuple[object, list]:
        _, transport = await connect_target(shared_sandbox.info.kubeconfig, ADMIN)
        try:
            facts = await read_cluster_facts(transport, v)
            return facts, cluster_checks(v, facts)
        finally:
            await transport.close()

    facts, checks = run(go())
    assert facts.storage_class is None  # type: ignore[attr-defined]
    (access,) = [c for c in checks if c.name == "volume-access"]
    assert access.status.value == "warn"
    assert access.message.startswith("storage.accessMode auto → ReadWriteOnce (the cluster serves no "
                                     "storage.k8s.io/v1 StorageClasses; every provisioner binds ReadWriteOnce)")
    assert "Multi-Attach" in access.message
    (pvc,) = render(v, facts).by_kind("PersistentVolumeClaim")  # type: ignore[arg-type]
    assert pvc.body["spec"]["accessModes"] == ["ReadWriteOnce"]
    named = values("defaults", storage={"storageClassName": "fast-nfs"})

    async def read_named() -> object:
        _, transport = await connect_target(shared_sandbox.info.kubeconfig, ADMIN)
        try:
            return await read_cluster_facts(transport, named)
        finally:
            await transport.close()

    assert run(read_named()).storage_class_note == "the cluster serves no storage.k8s.io/v1 StorageClasses"  # type: ignore[attr-defined]


def test_deploy_f_creates_the_budget_and_hardened_spread_pods(sb: SandboxThread, tmp_path: Path) -> None:
    done = llmctl_cli(sb, tmp_path, "deploy", "-f", str(ROOT / "manifests" / "values.example.yaml"), "--yes",
                  "--timeout", "60", "--out", str(tmp_path / "m"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "poddisruptionbudget.policy/claude-inference-pdb created" in done.stdout, done.stdout
    assert "WARN volume-access: storage.accessMode auto → ReadWriteOnce" in done.stdout
    assert (tmp_path / "m" / "15-poddisruptionbudget.yaml").is_file()
    api = config.new_client_from_config(sb.info.kubeconfig, context=ADMIN)
    pdb = client.PolicyV1Api(api).read_namespaced_pod_disruption_budget("claude-inference-pdb", NS)
    assert pdb.spec.min_available == 1 and pdb.spec.selector.match_labels["app"] == "claude"
    pods = client.CoreV1Api(api).list_namespaced_pod(NS, label_selector="app.kubernetes.io/name=claude-inference")
    running = [p for p in pods.items if p.status.phase == "Running"]
    assert len(running) == 2
    for p in running:
        (c,) = p.spec.containers
        assert p.spec.security_context.run_as_non_root and p.spec.security_context.run_as_user == 10001
        assert c.security_context.read_only_root_filesystem and c.security_context.capabilities.drop == ["ALL"]
        assert c.resources.limits["memory"] == "15Gi" and c.resources.requests["memory"] == "13Gi"
        assert p.spec.termination_grace_period_seconds == 320
        shm = next(vol for vol in p.spec.volumes if vol.name == "dshm")
        assert shm.empty_dir.medium == "Memory" and shm.empty_dir.size_limit == "2Gi"
    pdb = client.PolicyV1Api(api).read_namespaced_pod_disruption_budget("claude-inference-pdb", NS)
    assert pdb.status.current_healthy == 2 and pdb.status.disruptions_allowed == 1
    # A drain evicts: the first pod may go, the second not while the first is not back (minAvailable 1).
    first, second = (p.metadata.name for p in running)
    evict = client.CoreV1Api(api).create_namespaced_pod_eviction
    evict(first, NS, {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": first, "namespace": NS}})
    with pytest.raises(client.ApiException) as refused:
        evict(second, NS, {"apiVersion": "policy/v1", "kind": "Eviction",
                           "metadata": {"name": second, "namespace": NS}})
    assert refused.value.status == 429 and "disruption budget" in (refused.value.body or "")
