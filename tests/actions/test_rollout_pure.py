"""revision_history, resolve_surge, pods_that_fit and the GPU preflight: pure, over hand-made JSON."""

from __future__ import annotations

from typing import Any

import pytest

from console.core.rollout import (
    NOT_READY,
    UNREACHABLE,
    UNSCHEDULABLE,
    equal_ignore_hash,
    free_gpus_for,
    node_accepts,
    node_taints,
    pod_can_run_on,
    pods_that_fit,
    preflight_rollout,
    preflight_scale,
    resolve_surge,
    revision_history,
    schedulable_nodes,
)

UID = "dep-uid"
GPU_SELECTOR = {"nvidia.com/gpu.present": "true"}
GPU_TOLERATION = [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]


# ---- revision history --------------------------------------------------------------------------------
def rs(name: str, revision: str | None, image: str, owner: str = UID, cause: str | None = None,
       replicas: int = 0) -> dict[str, Any]:
    ann = {} if revision is None else {"deployment.kubernetes.io/revision": revision}
    if cause:
        ann["kubernetes.io/change-cause"] = cause
    return {"metadata": {"name": name, "annotations": ann, "creationTimestamp": f"2026-01-0{len(name) % 9}T00:00:00Z",
                         "ownerReferences": [{"kind": "Deployment", "name": "d", "uid": owner, "controller": True}]},
            "spec": {"replicas": replicas, "template": {"metadata": {"labels": {"app": "a", "pod-template-hash": name}},
                                                        "spec": {"containers": [{"name": "c", "image": image}]}}}}


def test_revision_history_owned_sorted_with_causes() -> None:
    deployment = {"metadata": {"name": "d", "uid": UID}}
    rss = [rs("d-3", "10", "img:v3", cause="third", replicas=2), rs("d-1", "2", "img:v1", cause="first"),
           rs("other", "5", "img:x", owner="someone-else"), rs("d-none", None, "img:n"), rs("d-bad", "x", "img:b"),
           rs("d-9", "9", "img:v2")]
    history = revision_history(deployment, rss)
    assert [r.number for r in history] == [2, 9, 10], "sorted numerically, only owned RSs with a revision"
    assert history[0].replicaset == "d-1" and history[0].images == ("img:v1",) and history[0].change_cause == "first"
    assert history[1].change_cause == "" and history[2].replicas == 2
    assert history[0].created.startswith("2026-01-0")


def test_revision_history_empty_without_uid() -> None:
    assert revision_history({"metadata": {"name": "d"}}, [rs("d-1", "1", "i")]) == []


def test_equal_ignore_hash() -> None:
    a = rs("a", "1", "img")["spec"]["template"]
    b = rs("b", "1", "img")["spec"]["template"]
    assert equal_ignore_hash(a, b)
    assert not equal_ignore_hash(a, rs("a", "1", "other")["spec"]["template"])
    bare = {"metadata": {}, "spec": a["spec"]}
    only_hash = {"metadata": {"labels": {"pod-template-hash": "x"}}, "spec": a["spec"]}
    assert equal_ignore_hash(bare, only_hash), "an emptied label map equals no label map"
    assert a["metadata"]["labels"]["pod-template-hash"] == "a", "the input is not changed"


# ---- fenceposts ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(("strategy", "replicas", "expected"), [
    ({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}, 2, (1, 0)),
    (None, 4, (1, 1)),  # defaults 25 % / 25 %
    (None, 1, (1, 0)),  # 25 % of 1: surge rounds up to 1, unavailable down to 0
    (None, 10, (3, 2)),  # 2.5 → 3 up, 2 down
    ({"rollingUpdate": {"maxSurge": "0%", "maxUnavailable": "0%"}}, 5, (0, 1)),  # both zero → unavailable 1
    ({"rollingUpdate": {"maxSurge": 0, "maxUnavailable": 0}}, 3, (0, 1)),
    ({"rollingUpdate": {"maxSurge": "50%", "maxUnavailable": "50%"}}, 3, (2, 1)),
    ({"rollingUpdate": {"maxSurge": "33%", "maxUnavailable": "33%"}}, 100, (33, 33)),
    ({"rollingUpdate": {"maxSurge": "29%", "maxUnavailable": "29%"}}, 100, (29, 29)),  # exact, no float creep
    ({"rollingUpdate": {"maxSurge": "1%", "maxUnavailable": "99%"}}, 7, (1, 6)),
    ({"rollingUpdate": {"maxSurge": "100%"}}, 0, (0, 1)),
    ({"rollingUpdate": {"maxSurge": 2}}, 8, (2, 2)),
    ({"type": "Recreate"}, 4, (0, 0)),
])
def test_resolve_surge(strategy: dict[str, Any] | None, replicas: int, expected: tuple[int, int]) -> None:
    assert resolve_surge(strategy, replicas) == expected


# ---- pods that fit ------------------------------------------------------------------------------------
def node(name: str, gpus: int, ready: str = "True", unschedulable: bool = False, gpu_label: bool = True,
         taints: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    labels = {"nvidia.com/gpu.present": "true"} if gpu_label else {}
    spec: dict[str, Any] = {"unschedulable": unschedulable} if unschedulable else {}
    if taints:
        spec["taints"] = taints
    return {"metadata": {"name": name, "labels": labels}, "spec": spec,
            "status": {"allocatable": {"nvidia.com/gpu": str(gpus)},
                       "conditions": [{"type": "Ready", "status": ready}]}}


def pod(node_name: str | None, gpus: int, phase: str = "Running") -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": "c", "resources": {"limits": {"nvidia.com/gpu": str(gpus)}}}]}
    if node_name:
        spec["nodeName"] = node_name
    return {"spec": spec, "status": {"phase": phase}}


def test_pods_that_fit_counts_whole_pods_per_node() -> None:
    nodes = [node("a", 4), node("b", 4), node("c", 8)]
    pods = [pod("a", 1), pod("a", 2), pod("b", 3), pod("c", 1)]
    # free: a 1, b 1, c 7
    assert pods_that_fit(nodes, pods, 1, GPU_SELECTOR) == 9
    assert pods_that_fit(nodes, pods, 2, GPU_SELECTOR) == 3, "GPUs of one pod come from one node"
    assert pods_that_fit(nodes, pods, 8, GPU_SELECTOR) == 0


def test_pods_that_fit_skips_unusable_nodes_and_finished_pods() -> None:
    nodes = [node("ready", 2), node("notready", 4, ready="False"), node("unknown", 4, ready="Unknown"),
             node("cordoned", 4, unschedulable=True), node("cpu", 4, gpu_label=False)]
    pods = [pod("ready", 1, "Succeeded"), pod("ready", 1, "Failed"), pod(None, 1, "Pending"), pod("ready", 1)]
    assert pods_that_fit(nodes, pods, 1, GPU_SELECTOR) == 1
    assert pods_that_fit(nodes, pods, 1, {}) == 5, "no nodeSelector: the unlabelled node counts too"
    assert pods_that_fit([node("over", 1)], [pod("over", 1), pod("over", 1)], 1, None) == 0, "never negative"
    with pytest.raises(ValueError):
        pods_that_fit(nodes, pods, 0, None)


def test_pods_that_fit_taints_when_tolerations_given() -> None:
    tainted = node("t", 4, taints=[{"key": "nvidia.com/gpu", "effect": "NoSchedule"}])
    dedicated = node("d", 4, taints=[{"key": "team", "value": "x", "effect": "NoSchedule"}])
    soft = node("s", 4, taints=[{"key": "team", "value": "x", "effect": "PreferNoSchedule"}])
    assert pods_that_fit([tainted, dedicated, soft], [], 1, None) == 12, "tolerations None: taints not checked"
    assert pods_that_fit([tainted, dedicated, soft], [], 1, None, GPU_TOLERATION) == 8
    assert pods_that_fit([tainted, dedicated, soft], [], 1, None, []) == 4
    team = [{"key": "team", "operator": "Equal", "value": "x", "effect": "NoSchedule"}]
    assert pods_that_fit([dedicated], [], 1, None, team) == 4


# ---- preflight ----------------------------------------------------------------------------------------
def deployment(replicas: int = 2, surge: Any = 1, unavailable: Any = 0, gpus: int = 1,
               strategy_type: str = "RollingUpdate") -> dict[str, Any]:
    container = {"name": "inference", "resources": {"limits": {"nvidia.com/gpu": str(gpus)}}} if gpus else {
        "name": "inference"}
    return {"metadata": {"name": "claude-inference"},
            "spec": {"replicas": replicas,
                     "strategy": {"type": strategy_type,
                                  "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable}},
                     "template": {"spec": {"containers": [container], "nodeSelector": GPU_SELECTOR,
                                           "tolerations": GPU_TOLERATION}}}}


FULL = ([node("n1", 4, taints=[{"key": "nvidia.com/gpu", "effect": "NoSchedule"}])], [pod("n1", 1)] * 4)


def test_preflight_rollout_full_cluster_deadlock() -> None:
    pf = preflight_rollout(deployment(), *FULL)
    assert not pf.ok and pf.gpus_needed == 1 and pf.gpus_free == 0
    assert pf.message == ("the rollout needs 1 more GPU for its surge pod (maxSurge 1 × 1 GPU) but no node has a "
                          "free GPU: the new pod would stay Pending (Insufficient nvidia.com/gpu) until "
                          "ProgressDeadlineExceeded")
    assert pf.alternative == ("maxSurge 0 / maxUnavailable 1: replaces pods one at a time in place; 1 of 2 "
                              "replicas is not serving during the rollout")


def test_preflight_rollout_ok_cases() -> None:
    nodes, pods = [node("n1", 4)], [pod("n1", 1)] * 2
    pf = preflight_rollout(deployment(), nodes, pods)
    assert pf.ok and pf.gpus_needed == 1 and pf.gpus_free == 2 and pf.alternative is None
    assert preflight_rollout(deployment(surge=0, unavailable=1), *FULL).ok
    assert preflight_rollout(deployment(surge=0, unavailable=1), *FULL).gpus_needed == 0
    partial = preflight_rollout(deployment(replicas=4, surge=3), nodes, pods)
    assert partial.ok and "only 2 of them fit" in partial.message
    room = preflight_rollout(deployment(surge=1, unavailable=1), *FULL)
    assert room.ok and "stops up to 1 old pod (maxUnavailable 1)" in room.message
    assert preflight_rollout(deployment(gpus=0), *FULL).ok
    assert preflight_rollout(deployment(strategy_type="Recreate"), *FULL).ok


def test_preflight_rollout_multi_gpu_pods_need_one_node() -> None:
    nodes = [node("a", 4), node("b", 4)]
    pods = [pod("a", 3), pod("b", 3)]  # 2 free GPUs, but 1 per node
    pf = preflight_rollout(deployment(gpus=2), nodes, pods)
    assert not pf.ok and pf.gpus_free == 2 and pf.gpus_needed == 2
    assert "(maxSurge 1 × 2 GPUs) but no node has 2 free GPUs" in pf.message


def test_preflight_scale() -> None:
    nodes, pods = [node("n1", 4), node("n2", 4)], [pod("n1", 1)] * 4 + [pod("n2", 1)] * 2
    pf = preflight_scale(deployment(), 6, nodes, pods)
    assert not pf.ok and pf.gpus_needed == 4 and pf.gpus_free == 2
    assert pf.message == ("4 new replicas need 4 GPUs (1 GPU each); 2 free on schedulable nodes: only 2 of the 4 "
                          "new replicas can be placed; the other 2 would stay Pending (Insufficient nvidia.com/gpu)")
    one = preflight_scale(deployment(), 3, nodes, pods)
    assert one.ok
    assert one.message == "1 new replica needs 1 GPU (1 GPU each); 2 free on schedulable nodes: it can be placed"
    down = preflight_scale(deployment(), 1, nodes, pods)
    assert down.ok and down.gpus_needed == 0 and down.message == "scaling down frees 1 GPU"
    assert preflight_scale(deployment(gpus=0), 9, nodes, pods).ok


# ---- one notion of the nodes pods can run on (issue 13) ------------------------------------------------------
def gfd_node(name: str, driver: str, gpus: int = 4, **kw: Any) -> dict[str, Any]:
    """An A10G node with GPU Feature Discovery labels (the compat gate reads the driver from them)."""
    n = node(name, gpus, **kw)
    major, minor, rev = driver.split(".")
    n["metadata"]["labels"].update({
        "nvidia.com/gpu.product": "NVIDIA-A10G", "nvidia.com/gpu.compute.major": "8",
        "nvidia.com/gpu.compute.minor": "6", "nvidia.com/cuda.driver.major": major,
        "nvidia.com/cuda.driver.minor": minor, "nvidia.com/cuda.driver.rev": rev})
    return n


def test_pod_can_run_on_counts_node_state_like_kube_scheduler() -> None:
    spec = deployment()["spec"]["template"]["spec"]
    assert pod_can_run_on(spec, node("ok", 4))
    assert not pod_can_run_on(spec, node("nr", 4, ready="False")), "NotReady, before its taint is written"
    assert not pod_can_run_on(spec, node("lost", 4, ready="Unknown")), "unreachable"
    assert not pod_can_run_on(spec, node("cordoned", 4, unschedulable=True))
    no_conditions = node("new", 4)
    no_conditions["status"].pop("conditions")
    assert not pod_can_run_on(spec, no_conditions), "a node that never reported Ready"
    tainted = node("t", 4, ready="Unknown", taints=[{"key": UNREACHABLE, "effect": "NoSchedule"},
                                                    {"key": UNREACHABLE, "effect": "NoExecute"}])
    assert not pod_can_run_on(spec, tainted)
    # The default 300 s NoExecute tolerations do not cover the NoSchedule taints; tolerating them does.
    assert pod_can_run_on({**spec, "tolerations": [{"operator": "Exists"}]}, tainted)
    tolerates_cordon = {**spec, "tolerations": [*GPU_TOLERATION, {"key": UNSCHEDULABLE, "operator": "Exists",
                                                                  "effect": "NoSchedule"}]}
    assert pod_can_run_on(tolerates_cordon, node("cordoned", 4, unschedulable=True))
    ready_but_stale = node("s", 4, taints=[{"key": NOT_READY, "effect": "NoExecute"}])
    assert pod_can_run_on(spec, ready_but_stale), "DefaultTolerationSeconds tolerates the NoExecute taint"
    pressure = node("p", 4, taints=[{"key": "node.kubernetes.io/memory-pressure", "effect": "NoSchedule"}])
    assert not pod_can_run_on(spec, pressure), "every node.kubernetes.io taint counts, not only three"
    assert [t["key"] for t in node_taints(node("c", 4, ready="False", unschedulable=True))] == [UNSCHEDULABLE,
                                                                                               NOT_READY]
    assert node_accepts(node("c", 4, unschedulable=True), None, None) is False, "no tolerations given: still counts"


def test_pod_can_run_on_placement() -> None:
    spec = deployment()["spec"]["template"]["spec"]
    assert not pod_can_run_on(spec, node("cpu", 4, gpu_label=False)), "nodeSelector"
    assert not pod_can_run_on({**spec, "nodeSelector": {}}, node("none", 0)), "a GPU pod needs a GPU node"
    assert pod_can_run_on({**spec, "nodeSelector": {}, "containers": []}, node("none", 0))
    h100 = {"matchExpressions": [{"key": "nvidia.com/gpu.product", "operator": "In", "values": ["NVIDIA-H100"]}]}
    by_name = {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["b"]}]}
    affine = {**spec, "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [h100, by_name]}}}}
    assert not pod_can_run_on(affine, gfd_node("a", "535.104.05")) and pod_can_run_on(affine, node("b", 4))
    empty = {**spec, "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{}]}}}}
    assert not pod_can_run_on(empty, node("a", 4)), "an empty term selects no node"


def test_preflight_and_compat_gate_count_the_same_nodes() -> None:
    """A NotReady and a cordoned node with an old driver: the preflight never counted them, and now the gate
    does not either (it blocked set-image on them)."""
    from console.compat.facts import image_facts_from_config
    from console.compat.matrix import gate
    from console.compat.rules import Level

    nodes = [gfd_node("new-1", "580.82.07"), gfd_node("new-2", "580.82.07"),
             gfd_node("old-lost", "535.104.05", ready="Unknown"),
             gfd_node("old-cordoned", "535.104.05", unschedulable=True)]
    dep = deployment()
    spec = dep["spec"]["template"]["spec"]
    spec["containers"][0]["resources"]["limits"]["memory"] = "14Gi"
    free = free_gpus_for(spec, nodes, [pod("new-1", 1)])
    assert free == {"new-1": 3, "new-2": 4}
    assert [n["metadata"]["name"] for n in schedulable_nodes(spec, nodes)] == list(free)
    assert preflight_rollout(dep, nodes, [pod("new-1", 1)]).gpus_free == 7
    cuda13 = image_facts_from_config("r/llm:cuda13", {"config": {"Env": ["CUDA_VERSION=13.0.0"], "Labels": {
        "ai.llmctl.cuda.arch-list": "sm_86"}}}, "t")
    verdict = gate(dep, "inference", "r/llm:cuda13", nodes, cuda13)
    assert verdict.level is Level.OK and not verdict.blocked, verdict.summary
    assert [label for label, _ in verdict.cells] == ["NVIDIA-A10G · 580.82.07 · CC 8.6 (2 nodes)"]
    only_old = gate(dep, "inference", "r/llm:cuda13", nodes[2:], cuda13)
    assert only_old.level is Level.UNKNOWN and not only_old.blocked
    assert only_old.summary.endswith("; 2 matching GPU nodes are NotReady or cordoned"), only_old.summary
    everything = gate(dep, "inference", "r/llm:cuda13", [gfd_node("old", "535.104.05")], cuda13)
    assert everything.blocked, "a schedulable node with an old driver still blocks"


def test_preflight_honours_required_node_affinity() -> None:
    """The preflight used only nodeSelector and tolerations; required node affinity counts now too."""
    dep = deployment()
    dep["spec"]["template"]["spec"]["affinity"] = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution":
                                                   {"nodeSelectorTerms": [{"matchExpressions": [
                                                       {"key": "pool", "operator": "In", "values": ["big"]}]}]}}}
    big = node("big", 8)
    big["metadata"]["labels"]["pool"] = "big"
    pf = preflight_rollout(dep, [big, node("small", 4)], [])
    assert pf.ok and pf.gpus_free == 8
