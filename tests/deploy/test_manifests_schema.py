"""Every rendered manifest is valid Kubernetes v1.30 (the maintained ``kubernetes-validate`` schemas, strict:
an unknown or misspelt field fails), and the production-grade parts say what they should: the budget,
the spread, /dev/shm, the restricted securityContext, the drain, the HPA's behavior, the access mode, the
memory. The Prometheus Operator's custom resources have no schema in kubernetes-validate: the sandbox's
server dry-run checks them (test_manifests_sandbox.py) and promtool checks the alert rules (test_alert_scope.py)."""

from __future__ import annotations

import copy

import kubernetes_validate
import pytest

from console.deploy.checks import cluster_checks, default_storage_class
from console.deploy.render import OPTIONAL_KINDS, render
from console.deploy.values.derived import ClusterFacts, StorageClassFacts

from .value_sets import VALUE_SETS, values

K8S = "1.30.0"


def validate(body: dict) -> None:
    kubernetes_validate.validate(body, K8S, strict=True)


@pytest.mark.parametrize("name", list(VALUE_SETS))
def test_every_rendered_object_is_valid_kubernetes_1_30(name: str) -> None:
    rendered = render(values(name))
    checked = []
    for obj in rendered.objects:
        if obj.group == "monitoring.coreos.com":
            continue  # custom resources: no schema here (the server dry-run checks them)
        validate(obj.body)
        checked.append(obj.kind)
    assert {"Namespace", "Service", "Deployment"} <= set(checked)


def test_the_validator_catches_a_misspelt_or_mistyped_field() -> None:
    (dep,) = render(values("defaults")).by_kind("Deployment")
    typo = copy.deepcopy(dep.body)
    typo["spec"]["template"]["spec"]["containers"][0]["securityContext"]["readOnlyRootFileSystem"] = True
    with pytest.raises(kubernetes_validate.ValidationError, match="readOnlyRootFileSystem"):
        validate(typo)
    wrong = copy.deepcopy(dep.body)
    wrong["spec"]["template"]["spec"]["topologySpreadConstraints"][0]["maxSkew"] = "1"
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(wrong)


def pod_spec(name: str, **overrides: object) -> dict:
    (dep,) = render(values(name, **overrides)).by_kind("Deployment")
    return dep.body["spec"]["template"]["spec"]


def test_the_pods_follow_the_restricted_pod_security_standard() -> None:
    spec = pod_spec("defaults")
    (c,) = spec["containers"]
    assert spec["securityContext"] == {"runAsNonRoot": True, "runAsUser": 10001, "runAsGroup": 10001,
                                       "seccompProfile": {"type": "RuntimeDefault"}}
    assert c["securityContext"] == {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
                                    "readOnlyRootFilesystem": True}
    # A read-only root needs writable places: /tmp and $HOME on emptyDirs, /dev/shm in memory.
    mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert volumes[mounts["/dev/shm"]]["emptyDir"] == {"medium": "Memory", "sizeLimit": "2Gi"}
    assert volumes[mounts["/tmp"]]["emptyDir"] == {"sizeLimit": "4Gi"}
    assert volumes[mounts["/home/llm"]]["emptyDir"] == {"sizeLimit": "4Gi"}
    assert {"name": "HOME", "value": "/home/llm"} in c["env"]
    # The uid is the Dockerfile template's (llmctl build --init): the image and the pod agree.
    from console.core.paths import asset
    template = asset("Dockerfile.template").read_text()
    assert "--uid 10001" in template and "USER 10001" in template
    relaxed = pod_spec("relaxed")
    assert relaxed["containers"][0]["securityContext"]["readOnlyRootFilesystem"] is False
    assert "lifecycle" not in relaxed["containers"][0] and "topologySpreadConstraints" not in relaxed


def test_shm_grows_with_the_gpus_and_can_be_set() -> None:
    assert {v["name"]: v for v in pod_spec("big-model")["volumes"]}["dshm"]["emptyDir"]["sizeLimit"] == "4Gi"
    assert {v["name"]: v for v in pod_spec("shared-storage")["volumes"]}["dshm"]["emptyDir"]["sizeLimit"] == "8Gi"


def test_spread_across_nodes_per_revision() -> None:
    (spread,) = pod_spec("defaults")["topologySpreadConstraints"]
    assert spread == {"maxSkew": 1, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "ScheduleAnyway",
                      "labelSelector": {"matchLabels": {"app": "claude", "app.kubernetes.io/name": "claude-inference",
                                                        "app.kubernetes.io/component": "inference"}},
                      "matchLabelKeys": ["pod-template-hash"]}
    assert pod_spec("shared-storage")["topologySpreadConstraints"][0]["whenUnsatisfiable"] == "DoNotSchedule"


def test_draining_outlasts_the_longest_request() -> None:
    spec = pod_spec("defaults", serving={"maxRequestSeconds": 900, "drainSeconds": 15})
    assert spec["containers"][0]["lifecycle"] == {"preStop": {"exec": {"command": ["sleep", "15"]}}}
    assert spec["terminationGracePeriodSeconds"] == 15 + 900 + 10 > 900


def test_hpa_scales_up_fast_and_down_slowly() -> None:
    (hpa,) = render(values("defaults")).by_kind("HorizontalPodAutoscaler")
    behavior = hpa.body["spec"]["behavior"]
    assert behavior["scaleUp"]["stabilizationWindowSeconds"] == 0
    assert {p["type"]: p["value"] for p in behavior["scaleUp"]["policies"]} == {"Percent": 100, "Pods": 4}
    assert behavior["scaleDown"]["stabilizationWindowSeconds"] == 300
    assert behavior["scaleDown"]["policies"] == [{"type": "Pods", "value": 1, "periodSeconds": 60}]
    (slow,) = render(values("shared-storage")).by_kind("HorizontalPodAutoscaler")
    assert slow.body["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 600


@pytest.mark.parametrize(("name", "overrides", "expected"), [
    ("defaults", {}, {"claude-inference-pdb": 1}),  # HPA minimum 2: one pod of the floor may go
    ("big-model", {}, {"claude-inference-pdb": 2}),  # no HPA, 3 replicas
    ("no-hpa", {"replicas": 1}, {}),  # one replica: a budget would block every drain
    ("pools", {}, {}),  # each pool's floor is 1
    ("pools", {"pools": {"enabled": True, "short": {"replicas": 3, "minReplicas": 3, "maxReplicas": 4}}},
     {"claude-inference-short-queue-pdb": 2}),
    ("relaxed", {}, {}),  # availability.podDisruptionBudget: false
])
def test_disruption_budget_from_the_replica_floor(name: str, overrides: dict, expected: dict) -> None:
    rendered = render(values(name, **overrides))
    budgets = {b.name: b.body["spec"] for b in rendered.by_kind("PodDisruptionBudget")}
    assert {n: s["minAvailable"] for n, s in budgets.items()} == expected
    deployments = {d.name: d.body for d in rendered.by_kind("Deployment")}
    for bname, spec in budgets.items():
        target = deployments[bname.removesuffix("-pdb")]
        assert spec["selector"]["matchLabels"] == target["spec"]["selector"]["matchLabels"]
        assert spec["unhealthyPodEvictionPolicy"] == "AlwaysAllow"


def test_a_kind_the_cluster_does_not_serve_is_left_out_with_a_warning() -> None:
    v = values("defaults")
    facts = ClusterFacts(unserved=frozenset({"PodDisruptionBudget"}))
    assert render(v, facts).by_kind("PodDisruptionBudget") == []
    assert len(render(v).by_kind("PodDisruptionBudget")) == 1
    (left_out,) = [c for c in cluster_checks(v, facts) if c.name == "optional-kinds"]
    assert left_out.status.value == "warn"
    assert left_out.message == ("the cluster does not serve PodDisruptionBudget (policy/v1): left out of the "
                                f"manifests — {OPTIONAL_KINDS['PodDisruptionBudget']}")


@pytest.mark.parametrize(("provisioner", "mode"), [
    ("efs.csi.aws.com", "ReadOnlyMany"), ("nfs.csi.k8s.io", "ReadOnlyMany"),
    ("cluster.local/nfs-subdir-external-provisioner", "ReadOnlyMany"), ("cephfs.csi.ceph.com", "ReadOnlyMany"),
    ("filestore.csi.storage.gke.io", "ReadOnlyMany"), ("file.csi.azure.com", "ReadOnlyMany"),
    ("ebs.csi.aws.com", "ReadWriteOnce"), ("pd.csi.storage.gke.io", "ReadWriteOnce"),
    ("rancher.io/local-path", "ReadWriteOnce"), ("rbd.csi.ceph.com", "ReadWriteOnce"),
])
def test_auto_access_mode_follows_the_storage_class(provisioner: str, mode: str) -> None:
    v = values("defaults")
    facts = ClusterFacts(StorageClassFacts("fast", provisioner))
    (pvc,) = render(v, facts).by_kind("PersistentVolumeClaim")
    assert pvc.body["spec"]["accessModes"] == [mode]
    (check,) = [c for c in cluster_checks(v, facts) if c.name == "volume-access"]
    assert check.message.startswith(f"storage.accessMode auto → {mode} (StorageClass fast: {provisioner}")
    # ReadWriteOnce with up to 8 pods spread across nodes: the Multi-Attach warning; shared: all good.
    assert (check.status.value, "Multi-Attach" in check.message) == \
        (("ok", False) if mode == "ReadOnlyMany" else ("warn", True))


def test_an_explicit_access_mode_is_kept_and_one_pod_needs_no_warning() -> None:
    v = values("defaults", storage={"accessMode": "ReadWriteMany"})
    facts = ClusterFacts(StorageClassFacts("ebs", "ebs.csi.aws.com"))
    (pvc,) = render(v, facts).by_kind("PersistentVolumeClaim")
    assert pvc.body["spec"]["accessModes"] == ["ReadWriteMany"]
    single = values("no-hpa", replicas=1)
    assert not any("Multi-Attach" in w for w in single.warnings)
    (check,) = cluster_checks(single, ClusterFacts(StorageClassFacts("ebs", "ebs.csi.aws.com")))
    assert check.status.value == "ok"


def test_the_default_storage_class_is_the_newest_annotated_one() -> None:
    def sc(name: str, created: str, default: str | None) -> dict:
        ann = {"storageclass.kubernetes.io/is-default-class": default} if default else {}
        return {"metadata": {"name": name, "creationTimestamp": created, "annotations": ann}, "provisioner": "x"}
    classes = [sc("old", "2024-01-01T00:00:00Z", "true"), sc("new", "2025-01-01T00:00:00Z", "true"),
               sc("plain", "2026-01-01T00:00:00Z", None), sc("off", "2026-02-01T00:00:00Z", "false")]
    assert default_storage_class(classes)["metadata"]["name"] == "new"  # type: ignore[index]
    assert default_storage_class(classes[2:]) is None


def test_a_named_storage_class_that_does_not_exist_is_a_warning_even_for_one_pod() -> None:
    single = values("no-hpa", replicas=1, storage={"storageClassName": "fast"})
    (check,) = cluster_checks(single, ClusterFacts(None, "StorageClass fast does not exist (the claim would stay "
                                                         "Pending)"))
    assert check.status.value == "warn" and "StorageClass fast does not exist" in check.message
