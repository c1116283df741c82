"""Rollout arithmetic over raw Kubernetes JSON: pure functions, no I/O.

- :func:`rollout_verdict` is kubectl's ``DeploymentStatusViewer`` (kubectl/pkg/polymorphichelpers/
  rollout_status.go) word for word, so the console and ``kubectl rollout status`` never disagree.
- :func:`revision_history` is ``kubectl rollout history``'s view of a Deployment's ReplicaSets.
- :func:`resolve_surge` is the deployment controller's ``ResolveFenceposts``.
- The GPU preflight (:func:`pods_that_fit`, :func:`preflight_rollout`, :func:`preflight_scale`)
  predicts the classic GPU rolling-update deadlock (reference.md §4) before anything is sent: with
  maxSurge 1 / maxUnavailable 0 and no free GPU, the surge pod stays Pending until the progress
  deadline.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from console.core.gpus import GPU, gpus_of_pod_spec, node_ready, project_gpu_pod
from console.core.model import Preflight, Revision, RolloutVerdict
from console.core.units import as_int

REVISION = "deployment.kubernetes.io/revision"
CHANGE_CAUSE = "kubernetes.io/change-cause"
HASH_LABEL = "pod-template-hash"
TIMED_OUT = "ProgressDeadlineExceeded"

Obj = Mapping[str, Any]


# ---- kubectl rollout status -----------------------------------------------------------------------
def rollout_verdict(deployment: Obj) -> RolloutVerdict:
    """What ``kubectl rollout status`` prints for this Deployment (without the trailing newline).

    The order matters and is kubectl's: nothing is judged until the controller has observed the
    current generation; a ProgressDeadlineExceeded condition then beats every counter.
    """
    meta, spec, status = deployment.get("metadata") or {}, deployment.get("spec") or {}, deployment.get("status") or {}
    name = meta.get("name", "")
    if as_int(meta.get("generation")) > as_int(status.get("observedGeneration")):
        return RolloutVerdict(False, False, "Waiting for deployment spec update to be observed...")
    progressing = next((c for c in status.get("conditions") or [] if c.get("type") == "Progressing"), None)
    if progressing is not None and progressing.get("reason") == TIMED_OUT:
        return RolloutVerdict(False, True, f'deployment "{name}" exceeded its progress deadline')
    updated, replicas = as_int(status.get("updatedReplicas")), as_int(status.get("replicas"))
    available = as_int(status.get("availableReplicas"))
    waiting = f'Waiting for deployment "{name}" rollout to finish: '
    if spec.get("replicas") is not None and updated < as_int(spec["replicas"]):
        return RolloutVerdict(False, False, f"{waiting}{updated} out of {as_int(spec['replicas'])} new replicas "
                                            "have been updated...")
    if replicas > updated:
        return RolloutVerdict(False, False, f"{waiting}{replicas - updated} old replicas are pending termination...")
    if available < updated:
        return RolloutVerdict(False, False, f"{waiting}{available} of {updated} updated replicas are available...")
    return RolloutVerdict(True, False, f'deployment "{name}" successfully rolled out')


# ---- kubectl rollout history ----------------------------------------------------------------------
def owned_replicasets(deployment: Obj, replicasets: Iterable[Obj]) -> list[Obj]:
    """The ReplicaSets whose owner reference points at this Deployment's uid (names can be reused)."""
    uid = (deployment.get("metadata") or {}).get("uid")
    return [rs for rs in replicasets
            if uid and any(ref.get("uid") == uid for ref in (rs.get("metadata") or {}).get("ownerReferences") or [])]


def revision_of(obj: Obj) -> int | None:
    """The ``deployment.kubernetes.io/revision`` annotation, or None when absent or not a number."""
    value = ((obj.get("metadata") or {}).get("annotations") or {}).get(REVISION)
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def template_images(template: Obj) -> tuple[str, ...]:
    return tuple(c.get("image", "") for c in ((template.get("spec") or {}).get("containers") or []))


def revision_history(deployment: Obj, replicasets: Iterable[Obj]) -> list[Revision]:
    """The Deployment's revisions, oldest first: one per owned ReplicaSet that carries a revision."""
    out = []
    for rs in owned_replicasets(deployment, replicasets):
        number = revision_of(rs)
        if number is None:
            continue
        meta, spec = rs.get("metadata") or {}, rs.get("spec") or {}
        out.append(Revision(
            number=number,
            replicaset=meta.get("name", ""),
            images=template_images(spec.get("template") or {}),
            change_cause=(meta.get("annotations") or {}).get(CHANGE_CAUSE, ""),
            created=meta.get("creationTimestamp", ""),
            replicas=as_int(spec.get("replicas", 1)),
        ))
    return sorted(out, key=lambda r: r.number)


def template_without_hash(template: Obj) -> dict[str, Any]:
    """A pod template without the ``pod-template-hash`` label the controller adds to ReplicaSet
    templates (an empty label map disappears, as in Go's omitempty). A shallow copy: the sandbox's
    controller compares templates on every sync, so deep-copy the result before changing it."""
    t = dict(template)
    meta = dict(t.get("metadata") or {})
    labels = {k: v for k, v in (meta.get("labels") or {}).items() if k != HASH_LABEL}
    meta["labels"] = labels
    if not labels:
        meta.pop("labels")
    t["metadata"] = meta
    return t


def equal_ignore_hash(a: Obj, b: Obj) -> bool:
    """Whether two pod templates are the same but for the hash label (deployment/util EqualIgnoreHash)."""
    return template_without_hash(a) == template_without_hash(b)


# ---- fenceposts -----------------------------------------------------------------------------------
def _scaled(value: Any, total: int, round_up: bool) -> int:
    """GetScaledValueFromIntOrPercent: an int, or "N%" of ``total`` rounded up or down."""
    if value is None:
        return 0
    if isinstance(value, str):
        text = value.strip()
        if text.endswith("%"):
            percent = int(text[:-1])
            return -(-percent * total // 100) if round_up else percent * total // 100
        return int(text)
    return int(value)


def resolve_surge(strategy: Obj | None, replicas: int) -> tuple[int, int]:
    """(maxSurge, maxUnavailable) as the deployment controller resolves them for ``replicas``.

    Percentages: surge rounds up, unavailable rounds down; both zero makes unavailable 1 so a
    rollout can always progress. Defaults are 25 % / 25 %. A Recreate strategy has neither.
    """
    strategy = strategy or {}
    if strategy.get("type", "RollingUpdate") == "Recreate":
        return 0, 0
    ru = strategy.get("rollingUpdate") or {}
    surge = _scaled(ru.get("maxSurge", "25%"), replicas, True)
    unavailable = _scaled(ru.get("maxUnavailable", "25%"), replicas, False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


# ---- GPU preflight --------------------------------------------------------------------------------
def tolerated(taint: Obj, tolerations: Sequence[Obj]) -> bool:
    """Whether one of the pod's tolerations tolerates the node's taint (key, value or Exists, effect)."""
    for tol in tolerations:
        if tol.get("effect") and tol.get("effect") != taint.get("effect"):
            continue
        if tol.get("operator") == "Exists" and (not tol.get("key") or tol.get("key") == taint.get("key")):
            return True
        if tol.get("key") == taint.get("key") and tol.get("value", "") == taint.get("value", ""):
            return True
    return False


def node_accepts(node: Obj, node_selector: Mapping[str, str] | None,
                 tolerations: Sequence[Obj] | None = None) -> bool:
    """Whether the scheduler could place a new pod here: Ready, schedulable, labels match the
    nodeSelector, and (when ``tolerations`` is given) every NoSchedule/NoExecute taint tolerated."""
    labels = (node.get("metadata") or {}).get("labels") or {}
    if not node_ready(node) or (node.get("spec") or {}).get("unschedulable"):
        return False
    if any(labels.get(k) != v for k, v in (node_selector or {}).items()):
        return False
    if tolerations is None:
        return True
    return all(t.get("effect") not in ("NoSchedule", "NoExecute") or tolerated(t, tolerations)
               for t in (node.get("spec") or {}).get("taints") or [])


def free_gpus_by_node(nodes: Iterable[Obj], pods: Iterable[Obj], node_selector: Mapping[str, str] | None,
                      tolerations: Sequence[Obj] | None = None) -> dict[str, int]:
    """Free ``nvidia.com/gpu`` per node that accepts the pod: allocatable minus the GPUs of the
    non-terminated pods bound there (Terminating pods still hold theirs, as for the scheduler)."""
    used: dict[str, int] = {}
    for pod in pods:
        held = project_gpu_pod(dict(pod))
        if held is not None:
            used[held[0]] = used.get(held[0], 0) + held[1]
    free = {}
    for node in nodes:
        if node_accepts(node, node_selector, tolerations):
            name = (node.get("metadata") or {}).get("name", "")
            allocatable = as_int(((node.get("status") or {}).get("allocatable") or {}).get(GPU))
            free[name] = max(allocatable - used.get(name, 0), 0)
    return free


def pods_that_fit(nodes: Iterable[Obj], pods: Iterable[Obj], gpus_per_pod: int,
                  node_selector: Mapping[str, str] | None, tolerations: Sequence[Obj] | None = None) -> int:
    """How many more pods asking ``gpus_per_pod`` GPUs each the cluster can place: the sum over
    accepting nodes of floor(free / gpus_per_pod) (a pod's GPUs all come from one node)."""
    if gpus_per_pod <= 0:
        raise ValueError("gpus_per_pod must be at least 1")
    return sum(free // gpus_per_pod for free in free_gpus_by_node(nodes, pods, node_selector, tolerations).values())


def _gpus(n: int) -> str:
    return f"{n} GPU" if n == 1 else f"{n} GPUs"


def _pods(n: int, what: str = "pod") -> str:
    return f"{n} {what}" if n == 1 else f"{n} {what}s"


def _placement(deployment: Obj) -> tuple[int, Mapping[str, str], Sequence[Obj]]:
    """GPUs per pod, nodeSelector and tolerations of the Deployment's pod template."""
    pod_spec = ((deployment.get("spec") or {}).get("template") or {}).get("spec") or {}
    return gpus_of_pod_spec(pod_spec), pod_spec.get("nodeSelector") or {}, pod_spec.get("tolerations") or []


def surge_alternative(replicas: int) -> str:
    """The maxSurge 0 / maxUnavailable 1 offer, with its availability cost in words."""
    return (f"maxSurge 0 / maxUnavailable 1: replaces pods one at a time in place; 1 of {replicas} "
            f"replicas is not serving during the rollout")


def preflight_rollout(deployment: Obj, nodes: Iterable[Obj], pods: Iterable[Obj]) -> Preflight:
    """Can a rolling update of this Deployment start? Its surge pods need GPUs that are free now."""
    spec = deployment.get("spec") or {}
    replicas = as_int(spec.get("replicas", 1))
    gpus, selector, tolerations = _placement(deployment)
    free_map = free_gpus_by_node(nodes, pods, selector, tolerations)
    free = sum(free_map.values())
    if (spec.get("strategy") or {}).get("type") == "Recreate":
        return Preflight(0, free, True, "Recreate strategy: all old pods stop before the new ones start; "
                                        "no extra GPU is needed (the Deployment serves nothing meanwhile)")
    if gpus == 0 or replicas == 0:
        return Preflight(0, free, True, "the rollout needs no extra GPU" +
                         (" (its pods ask for none)" if gpus == 0 else " (0 replicas)"))
    surge, unavailable = resolve_surge(spec.get("strategy"), replicas)
    needed = surge * gpus
    if surge == 0:
        return Preflight(0, free, True, f"maxSurge 0: pods are replaced in place, {unavailable} at a time; "
                                        "no extra GPU is needed")
    fit = sum(f // gpus for f in free_map.values())
    head = f"the rollout needs {needed} more {'GPU' if needed == 1 else 'GPUs'} for its surge " \
           f"{'pod' if surge == 1 else 'pods'} (maxSurge {surge} × {_gpus(gpus)})"
    if fit >= surge:
        return Preflight(needed, free, True, f"{head}; {free} free on schedulable nodes: fits")
    if fit > 0:
        return Preflight(needed, free, True, f"{head}; only {fit} of them fit now ({free} free): the rollout "
                                             "goes slower but progresses")
    where = "a free GPU" if gpus == 1 else f"{gpus} free GPUs"
    if unavailable > 0:
        return Preflight(needed, free, True, f"{head} but no node has {where}: the controller first stops up to "
                                             f"{_pods(unavailable, 'old pod')} (maxUnavailable {unavailable}) "
                                             "to make room")
    return Preflight(needed, free, False, f"{head} but no node has {where}: the new pod would stay Pending "
                                          f"(Insufficient {GPU}) until ProgressDeadlineExceeded",
                     alternative=surge_alternative(replicas))


def preflight_scale(deployment: Obj, new_replicas: int, nodes: Iterable[Obj], pods: Iterable[Obj]) -> Preflight:
    """Can the added replicas be placed? Each needs its GPUs free on one accepting node."""
    current = as_int((deployment.get("spec") or {}).get("replicas", 1))
    gpus, selector, tolerations = _placement(deployment)
    free_map = free_gpus_by_node(nodes, pods, selector, tolerations)
    free = sum(free_map.values())
    added = new_replicas - current
    if added <= 0:
        freed = -added * gpus
        return Preflight(0, free, True, f"scaling down frees {_gpus(freed)}" if freed else "no new pods needed")
    if gpus == 0:
        return Preflight(0, free, True, "the new pods ask for no GPU")
    needed = added * gpus
    fit = sum(f // gpus for f in free_map.values())
    verb = "needs" if added == 1 else "need"
    head = (f"{_pods(added, 'new replica')} {verb} {_gpus(needed)} ({_gpus(gpus)} each); "
            f"{free} free on schedulable nodes")
    if fit >= added:
        return Preflight(needed, free, True, f"{head}: {'it' if added == 1 else f'all {added}'} can be placed")
    return Preflight(needed, free, False, f"{head}: only {fit} of the {added} new replicas can be placed; the "
                                          f"other {added - fit} would stay Pending (Insufficient {GPU})")
