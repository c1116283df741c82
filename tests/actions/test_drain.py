"""Which pods a drain moves, and whether the GPU pods fit elsewhere (pure, no server)."""

from __future__ import annotations

from typing import Any

from console.actions.drain import movable, placement


def node(name: str, gpus: int, unschedulable: bool = False) -> dict[str, Any]:
    return {"metadata": {"name": name}, "spec": {"unschedulable": unschedulable},
            "status": {"allocatable": {"nvidia.com/gpu": str(gpus)},
                       "conditions": [{"type": "Ready", "status": "True"}]}}


def pod(name: str, on: str, gpus: int = 0, owner: str = "ReplicaSet") -> dict[str, Any]:
    resources = {"limits": {"nvidia.com/gpu": str(gpus)}} if gpus else {}
    return {"metadata": {"name": name, "namespace": "llm", "ownerReferences": [{"kind": owner, "controller": True}]},
            "spec": {"nodeName": on, "containers": [{"name": "c", "resources": resources}]},
            "status": {"phase": "Running"}}


def test_daemonset_and_finished_pods_stay() -> None:
    done = {**pod("done", "a"), "status": {"phase": "Succeeded"}}
    moving, kept = movable([pod("web", "a"), pod("plugin", "a", owner="DaemonSet"), done])
    assert [p["metadata"]["name"] for p in moving] == ["web"]
    assert kept == ["llm/plugin (DaemonSet)"]


def test_gpu_pods_fit_whole_on_one_node_or_are_named() -> None:
    nodes = [node("a", 4), node("b", 4), node("c", 4, unschedulable=True)]
    running = [pod("x", "b", 2)]
    fits = placement([pod("m1", "a", 2)], "a", nodes, running)
    assert fits.ok and fits.gpus_needed == 2 and fits.gpus_free == 2
    # 2 + 2 GPUs free on b? only 2: the second pod stays Pending; the cordoned node c does not count.
    both = placement([pod("m1", "a", 2), pod("m2", "a", 2)], "a", nodes, running)
    assert not both.ok and "llm/m" in both.message and "1 GPU pod(s) would stay Pending" in both.message
    assert placement([pod("web", "a")], "a", nodes, running).ok
