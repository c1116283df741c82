"""How a pod is doing, in the words kubectl and an on-call engineer use.

``pod_status`` is kubectl's STATUS column (shared with the sandbox's Table output); ``pod_detail``
adds the real reason behind Pending / CrashLoopBackOff / OOMKilled and the cold-start time.
"""

from __future__ import annotations

from typing import Any

Obj = dict[str, Any]


def _meta(obj: Obj) -> Obj:
    return obj.get("metadata") or {}


def _spec(obj: Obj) -> Obj:
    return obj.get("spec") or {}


def _status(obj: Obj) -> Obj:
    return obj.get("status") or {}


def pod_status(pod: Obj) -> tuple[str, int, int, str | None]:
    """kubectl's STATUS for a pod, plus (ready containers, restarts, last restart timestamp)."""
    status, spec = _status(pod), _spec(pod)
    reason = status.get("reason") or status.get("phase") or "Pending"
    restarts, ready, last_restart = 0, 0, None
    initializing = False
    init_specs = spec.get("initContainers") or []
    for i, cs in enumerate(status.get("initContainerStatuses") or []):
        restarts += cs.get("restartCount") or 0
        state = cs.get("state") or {}
        term, wait = state.get("terminated"), state.get("waiting")
        if term and term.get("exitCode") == 0:
            continue
        initializing = True
        if term:
            reason = "Init:" + (term.get("reason") or f"ExitCode:{term.get('exitCode')}")
        elif wait and wait.get("reason") and wait.get("reason") != "PodInitializing":
            reason = "Init:" + wait["reason"]
        else:
            reason = f"Init:{i}/{len(init_specs)}"
        break
    conditions = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
    if not initializing or conditions.get("Initialized") == "True":
        restarts, has_running = 0, False
        for cs in reversed(status.get("containerStatuses") or []):
            restarts += cs.get("restartCount") or 0
            finished = ((cs.get("lastState") or {}).get("terminated") or {}).get("finishedAt")
            if finished and (last_restart is None or finished > last_restart):
                last_restart = finished
            state = cs.get("state") or {}
            wait, term = state.get("waiting") or {}, state.get("terminated")
            if wait.get("reason"):
                reason = wait["reason"]
            elif term and term.get("reason"):
                reason = term["reason"]
            elif term:
                reason = f"Signal:{term['signal']}" if term.get("signal") else f"ExitCode:{term.get('exitCode')}"
            elif cs.get("ready") and "running" in state:
                has_running = True
                ready += 1
        if reason == "Completed" and has_running:
            reason = "Running" if conditions.get("Ready") == "True" else "NotReady"
    deleting = _meta(pod).get("deletionTimestamp")
    if deleting and status.get("reason") == "NodeLost":
        reason = "Unknown"
    elif deleting and status.get("phase") not in ("Succeeded", "Failed"):
        reason = "Terminating"
    return reason, ready, restarts, last_restart


def _ready_condition(pod: Obj) -> Obj | None:
    return next((c for c in _status(pod).get("conditions") or [] if c.get("type") == "Ready"), None)


def cold_start_seconds(pod: Obj) -> float | None:
    """Seconds from the pod's start to Ready (model load included), once it is Ready. A pod whose container
    restarted is measured from that container's latest start, not from the pod's creation hours ago."""
    from console.core.units import parse_time

    ready = _ready_condition(pod)
    if not ready or ready.get("status") != "True":
        return None
    became_ready = parse_time(ready.get("lastTransitionTime"))
    start = parse_time(_meta(pod).get("creationTimestamp"))
    statuses = _status(pod).get("containerStatuses") or []
    if any(int(cs.get("restartCount") or 0) > 0 for cs in statuses):
        started = [t for cs in statuses if (t := parse_time(((cs.get("state") or {}).get("running") or {})
                                                             .get("startedAt"))) is not None]
        start = max(started) if started else None
    if became_ready is None or start is None or became_ready < start:
        return None
    return (became_ready - start).total_seconds()


def pod_why(pod: Obj) -> str:
    """The real reason behind a pod's status: the scheduler's message, a waiting message, the last crash."""
    status = _status(pod)
    for cond in status.get("conditions") or []:
        if cond.get("type") == "PodScheduled" and cond.get("status") == "False":
            return cond.get("message") or cond.get("reason") or "not scheduled"
    parts = []
    for cs in status.get("containerStatuses") or []:
        waiting = (cs.get("state") or {}).get("waiting") or {}
        if waiting.get("message") and waiting.get("reason") not in ("ContainerCreating",):
            parts.append(waiting["message"])
        last = (cs.get("lastState") or {}).get("terminated")
        if last:
            parts.append(f"last: {last.get('reason') or 'Error'} (exit {last.get('exitCode')})")
    return "; ".join(parts)


def _failed(cs: Obj) -> bool:
    for state in ((cs.get("lastState") or {}).get("terminated"), (cs.get("state") or {}).get("terminated")):
        if state and (state.get("reason") == "OOMKilled" or (state.get("exitCode") or 0) != 0):
            return True
    return False


def pod_tombstone(pod: Obj) -> Obj | None:
    """What is worth keeping of a pod about to be replaced: its containers that were OOMKilled or exited with
    an error (last or current termination, restart count), with the pod's name, owner, labels and node —
    a pod object the incident timeline reads like a live one. None when no container failed."""
    status = _status(pod)
    failed = [{k: cs.get(k) for k in ("name", "image", "restartCount", "state", "lastState")}
              for cs in [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or [])]
              if _failed(cs)]
    if not failed:
        return None
    meta = _meta(pod)
    return {"metadata": {k: meta.get(k) for k in ("name", "namespace", "labels", "ownerReferences", "uid")},
            "spec": {"nodeName": _spec(pod).get("nodeName")},
            "status": {"phase": status.get("phase"), "containerStatuses": failed}}
