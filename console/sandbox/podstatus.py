"""The READY, STATUS and RESTARTS cells of ``kubectl get pods``, as kube-apiserver's pod printer
(pkg/printers/internalversion ``printPod``) computes them.

The sandbox's own copy, not the console's: the console reads what the sandbox serves, so sharing the
code would make a wrong STATUS look right on both sides.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

Obj = Mapping[str, Any]
NODE_LOST = "NodeLost"  # the reason the node lifecycle controller gives pods of an unreachable node


@dataclass(frozen=True)
class PodCells:
    status: str
    ready: int
    total: int  # app containers plus sidecars (restartable init containers)
    restarts: int
    last_restart: str | None  # finishedAt of the newest lastState.terminated among the counted containers


def _section(obj: Obj, name: str) -> Obj:
    return obj.get(name) or {}


def _sidecar(container: Obj | None) -> bool:
    """A restartable init container (``restartPolicy: Always``): a sidecar, counted like an app container."""
    return container is not None and container.get("restartPolicy") == "Always"


def _terminated_text(term: Obj, prefix: str = "") -> str:
    """A terminated state's reason, else ``Signal:N`` / ``ExitCode:N`` as kubectl prints them."""
    if term.get("reason"):
        return prefix + str(term["reason"])
    if term.get("signal"):
        return f"{prefix}Signal:{term['signal']}"
    return f"{prefix}ExitCode:{term.get('exitCode', 0)}"


@dataclass
class _Restarts:
    """A running restart count and the newest last-termination time seen with it."""

    count: int = 0
    last: str | None = None

    def add(self, cs: Obj) -> None:
        self.count += int(cs.get("restartCount") or 0)
        finished = _section(_section(cs, "lastState"), "terminated").get("finishedAt")
        if finished and (self.last is None or str(finished) > self.last):  # RFC 3339 UTC sorts as text
            self.last = str(finished)


def pod_cells(pod: Obj) -> PodCells:
    """READY, STATUS and RESTARTS for one pod."""
    meta, spec, status = _section(pod, "metadata"), _section(pod, "spec"), _section(pod, "status")
    phase = status.get("phase") or "Pending"  # the phase the API server gives every new pod
    reason = str(status.get("reason") or phase)
    conditions = status.get("conditions") or []
    if any(c.get("type") == "PodScheduled" and c.get("reason") == "SchedulingGated" for c in conditions):
        reason = "SchedulingGated"
    init_specs = spec.get("initContainers") or []
    inits = {c.get("name"): c for c in init_specs}
    total = len(spec.get("containers") or []) + sum(_sidecar(c) for c in init_specs)
    ready = 0
    every, sidecars = _Restarts(), _Restarts()

    initializing = False
    for i, cs in enumerate(status.get("initContainerStatuses") or []):
        every.add(cs)
        is_sidecar = _sidecar(inits.get(cs.get("name")))
        if is_sidecar:
            sidecars.add(cs)
        state = _section(cs, "state")
        term, wait = state.get("terminated"), _section(state, "waiting")
        if term is not None and not term.get("exitCode"):
            continue
        if is_sidecar and cs.get("started"):
            ready += bool(cs.get("ready"))
            continue
        initializing = True
        if term is not None:
            reason = _terminated_text(term, "Init:")
        elif wait.get("reason") and wait["reason"] != "PodInitializing":
            reason = f"Init:{wait['reason']}"
        else:
            reason = f"Init:{i}/{len(init_specs)}"
        break

    counted = every
    initialized = any(c.get("type") == "Initialized" and c.get("status") == "True" for c in conditions)
    if not initializing or initialized:
        counted, running = sidecars, False
        for cs in reversed(status.get("containerStatuses") or []):  # the first container's state wins
            counted.add(cs)
            state = _section(cs, "state")
            wait, term = _section(state, "waiting"), state.get("terminated")
            if wait.get("reason"):
                reason = str(wait["reason"])
            elif term is not None:
                reason = _terminated_text(term)
            elif cs.get("ready") and state.get("running") is not None:
                running = True
                ready += 1
        if reason == "Completed" and running:
            pod_ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
            reason = "Running" if pod_ready else "NotReady"

    if meta.get("deletionTimestamp") and status.get("reason") == NODE_LOST:
        reason = "Unknown"
    elif meta.get("deletionTimestamp") and phase not in ("Succeeded", "Failed"):
        reason = "Terminating"
    return PodCells(reason, ready, total, counted.count, counted.last)


def pod_status_reason(pod: Obj) -> tuple[str, int, int, str | None]:
    """(STATUS, ready containers, restarts, last restart time) for one pod."""
    cells = pod_cells(pod)
    return cells.status, cells.ready, cells.restarts, cells.last_restart
