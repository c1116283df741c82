"""revision_history, resolve_surge, pods_that_fit and the GPU preflight: pure, over hand-made JSON."""

from __future__ import annotations

from typing import Any

import pytest

from console.core.rollout import (
    equal_ignore_hash,
    pods_that_fit,
    preflight_rollout,
    preflight_scale,
    resolve_surge,
    revision_history,
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
