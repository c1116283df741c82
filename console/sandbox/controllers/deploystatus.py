"""Deployment status and conditions, ported from the deployment controller's sync and progress code:
the counters summed over ReplicaSets, Available, and the Progressing condition's life cycle
(NewReplicaSetCreated → ReplicaSetUpdated → NewReplicaSetAvailable, or ProgressDeadlineExceeded).
Pure functions; deployment.py decides when to call them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..store import copy_object
from .base import get_condition
from .rollout import max_unavailable, replicas, rs_replicas, rs_status

# Reasons of the Progressing / Available conditions (deployment/util/deployment_util.go).
NEW_RS_CREATED = "NewReplicaSetCreated"
FOUND_NEW_RS = "FoundNewReplicaSet"
RS_UPDATED = "ReplicaSetUpdated"
NEW_RS_AVAILABLE = "NewReplicaSetAvailable"
TIMED_OUT = "ProgressDeadlineExceeded"
PAUSED = "DeploymentPaused"
RESUMED = "DeploymentResumed"
MIN_AVAILABLE = "MinimumReplicasAvailable"
MIN_UNAVAILABLE = "MinimumReplicasUnavailable"


# ---- status ---------------------------------------------------------------------------------------
def new_condition(type_: str, status: str, reason: str, message: str, now: str) -> dict[str, Any]:
    return {"type": type_, "status": status, "lastUpdateTime": now, "lastTransitionTime": now,
            "reason": reason, "message": message}


def set_condition(status: dict[str, Any], cond: dict[str, Any]) -> bool:
    """SetDeploymentCondition: same status and reason → unchanged; same status keeps its transition
    time; the condition moves to the end of the list. Returns whether anything changed."""
    conds = status.setdefault("conditions", [])
    current = get_condition(status, cond["type"])
    if current and current["status"] == cond["status"] and current.get("reason") == cond["reason"]:
        return False
    if current and current["status"] == cond["status"]:
        cond["lastTransitionTime"] = current["lastTransitionTime"]
    status["conditions"] = [c for c in conds if c.get("type") != cond["type"]] + [cond]
    return True


def remove_condition(status: dict[str, Any], type_: str) -> None:
    status["conditions"] = [c for c in status.get("conditions") or [] if c.get("type") != type_]


def calculate_status(all_rss: Sequence[Mapping[str, Any]], new_rs: Mapping[str, Any] | None,
                     d: Mapping[str, Any], now: str) -> dict[str, Any]:
    """calculateStatus: counts summed over the ReplicaSets, plus the Available condition."""
    available = sum(rs_status(rs, "availableReplicas") for rs in all_rss)
    total = sum(rs_replicas(rs) for rs in all_rss)
    old = d.get("status") or {}
    status: dict[str, Any] = {
        "observedGeneration": d["metadata"].get("generation", 1),
        "replicas": sum(rs_status(rs, "replicas") for rs in all_rss),
        "updatedReplicas": rs_status(new_rs, "replicas") if new_rs else 0,
        "readyReplicas": sum(rs_status(rs, "readyReplicas") for rs in all_rss),
        "availableReplicas": available,
        "unavailableReplicas": max(0, total - available),
        "conditions": copy_object(old.get("conditions") or []),
    }
    if old.get("collisionCount"):
        status["collisionCount"] = old["collisionCount"]
    if available >= replicas(d) - max_unavailable(d):
        cond = new_condition("Available", "True", MIN_AVAILABLE, "Deployment has minimum availability.", now)
    else:
        cond = new_condition("Available", "False", MIN_UNAVAILABLE,
                             "Deployment does not have minimum availability.", now)
    set_condition(status, cond)
    return status


def count(status: Mapping[str, Any], field: str) -> int:
    return int(status.get(field) or 0)


def compact_status(status: dict[str, Any]) -> dict[str, Any]:
    """Drop zero counters and empty lists, as the API server's omitempty JSON does."""
    return {k: v for k, v in status.items() if v not in (0, None, [])}


def deployment_complete(d: Mapping[str, Any], status: Mapping[str, Any]) -> bool:
    want = replicas(d)
    return (count(status, "updatedReplicas") == want and count(status, "replicas") == want
            and count(status, "availableReplicas") == want
            and count(status, "observedGeneration") >= d["metadata"].get("generation", 1))


def deployment_progressing(d: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    old = d.get("status") or {}
    old_old = count(old, "replicas") - count(old, "updatedReplicas")
    new_old = count(new, "replicas") - count(new, "updatedReplicas")
    return (count(new, "updatedReplicas") > count(old, "updatedReplicas") or new_old < old_old
            or count(new, "readyReplicas") > count(old, "readyReplicas")
            or count(new, "availableReplicas") > count(old, "availableReplicas"))


def rollout_status(
    d: Mapping[str, Any], all_rss: Sequence[Mapping[str, Any]], new_rs: Mapping[str, Any] | None, now: str,
    deadline: int | None, timed_out: Callable[[dict[str, Any]], bool],
) -> tuple[dict[str, Any], bool]:
    """syncRolloutStatus: the new status, and whether progress was recorded (Progressing updated)."""
    status = calculate_status(all_rss, new_rs, d, now)
    if deadline is None:
        remove_condition(status, "Progressing")
    current = get_condition(d.get("status"), "Progressing")
    complete = (count(status, "replicas") == count(status, "updatedReplicas")
                and current is not None and current.get("reason") == NEW_RS_AVAILABLE)
    subject = f'ReplicaSet "{new_rs["metadata"]["name"]}"' if new_rs else f'Deployment "{d["metadata"]["name"]}"'
    progressed = False
    if deadline is not None and not complete:
        if deployment_complete(d, status):
            progressed = set_condition(status, new_condition("Progressing", "True", NEW_RS_AVAILABLE,
                                                             f"{subject} has successfully progressed.", now))
        elif deployment_progressing(d, status):
            cond = new_condition("Progressing", "True", RS_UPDATED, f"{subject} is progressing.", now)
            if current is not None:
                if current.get("status") == "True":
                    cond["lastTransitionTime"] = current["lastTransitionTime"]
                remove_condition(status, "Progressing")
            set_condition(status, cond)
            progressed = True
        elif timed_out(status):
            set_condition(status, new_condition("Progressing", "False", TIMED_OUT,
                                                f"{subject} has timed out progressing.", now))
    remove_condition(status, "ReplicaFailure")
    return compact_status(status), progressed
