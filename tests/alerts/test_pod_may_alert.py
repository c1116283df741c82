"""pod_may_alert (#16): the console skips pods that cannot alert; it must never skip one that can, at any time."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from console.alerts.model import RECOVERY_HOLD_S, cluster_alerts, pod_may_alert
from console.kube.rows import pod_may_alert as cached

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _ts(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def variants() -> list[dict]:
    waits = [None, "CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull", "ContainerCreating"]
    lasts = [None, {"reason": "OOMKilled", "exitCode": 137}, {"reason": "Error", "exitCode": 1},
             {"reason": "Completed", "exitCode": 0}, {"reason": "Completed"}, {"reason": "Error"}]
    runs = [None, (True, 0), (False, 0), (True, -2 * RECOVERY_HOLD_S)]
    scheds = [None, {"type": "PodScheduled", "status": "True"},
              {"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
               "message": "0/4 nodes are available: Insufficient nvidia.com/gpu"}]
    out = []
    for i, (wait, last, run, sched, init) in enumerate(itertools.product(waits, lasts, runs, scheds, (False, True))):
        cs: dict = {"name": "c", "image": "x", "restartCount": 3, "ready": bool(run and run[0])}
        if wait:
            cs["state"] = {"waiting": {"reason": wait}}
        elif run:
            cs["state"] = {"running": {"startedAt": _ts(run[1])}}
        if last:
            cs["lastState"] = {"terminated": {**last, "startedAt": _ts(-100), "finishedAt": _ts(-50)}}
        status: dict = {"phase": "Running", "startTime": _ts(-200),
                        "initContainerStatuses" if init else "containerStatuses": [cs]}
        if sched:
            status["conditions"] = [sched]
        out.append({"metadata": {"name": f"p{i}", "namespace": "llm", "uid": f"u{i}", "resourceVersion": "1"},
                    "spec": {"nodeName": "n"}, "status": status})
    return out


def test_a_pod_that_cannot_alert_never_does_and_the_others_are_kept() -> None:
    pods = variants()
    alerting = set()
    for at in (0, RECOVERY_HOLD_S / 2, 3 * RECOVERY_HOLD_S):
        for pod in pods:
            if cluster_alerts([pod], [], [], now=T0 + timedelta(seconds=at)):
                alerting.add(pod["metadata"]["name"])
                assert pod_may_alert(pod), pod
    quiet = [p for p in pods if not pod_may_alert(p)]
    assert alerting and quiet  # both kinds are among the variants: the check above means something
    assert all(cached(p) == pod_may_alert(p) for p in pods)
