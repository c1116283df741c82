"""Pod and node rows are built once per version of the object (#16): every redraw asks for every one in view."""

from __future__ import annotations

import copy

from console.kube.rows import pod_row


def _pod(rv: str, phase: str = "Running", waiting: str | None = None) -> dict:
    state = {"waiting": {"reason": waiting}} if waiting else {"running": {"startedAt": "2026-01-01T00:00:00Z"}}
    return {"metadata": {"name": "model-a", "namespace": "llm", "uid": "u-1", "resourceVersion": rv,
                         "creationTimestamp": "2026-01-01T00:00:00Z"},
            "spec": {"nodeName": "gpu-1", "containers": [{"name": "c", "image": "x"}]},
            "status": {"phase": phase, "containerStatuses": [{"name": "c", "ready": not waiting, "restartCount": 0,
                                                              "state": state}]}}


def test_one_row_per_version_and_a_new_version_is_seen() -> None:
    first = pod_row(_pod("10"))
    assert pod_row(copy.deepcopy(_pod("10"))) is first  # the same version: the row already built
    crashed = pod_row(_pod("11", waiting="CrashLoopBackOff"))
    assert crashed is not first and crashed.status == "CrashLoopBackOff" and first.status == "Running"
    unversioned = _pod("")
    assert pod_row(unversioned) is not pod_row(unversioned)  # no version: nothing to key a cache on


def test_node_rows_per_version_and_allocation() -> None:
    from console.kube.rows import node_row

    node = {"metadata": {"name": "gpu-1", "uid": "n-1", "resourceVersion": "5"},
            "status": {"allocatable": {"nvidia.com/gpu": "8"}, "conditions": [{"type": "Ready", "status": "True"}]}}
    first = node_row(node, 3)
    assert node_row(copy.deepcopy(node), 3) is first
    assert node_row(node, 4).allocated == 4 and node_row(node, None).allocated is None and first.allocated == 3
    cordoned = {**node, "metadata": {**node["metadata"], "resourceVersion": "6"}, "spec": {"unschedulable": True}}
    assert node_row(cordoned, 3).unschedulable and not first.unschedulable
