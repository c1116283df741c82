"""Rollout arithmetic over raw Kubernetes JSON: pure functions, no I/O.

- :func:`rollout_verdict` is kubectl's ``DeploymentStatusViewer`` (kubectl/pkg/polymorphichelpers/
  rollout_status.go) word for word, so the console and ``kubectl rollout status`` never disagree.
- :func:`revision_history` is ``kubectl rollout history``'s view of a Deployment's ReplicaSets.
- :func:`resolve_surge` is the deployment controller's ``ResolveFenceposts``.
- :func:`pod_can_run_on` is the one notion of "a node the pods can run on", kube-scheduler's filters
  bar resource amounts: shared by the GPU preflight here, the deploy preflight and the compatibility
  gate (console/compat/matrix.py).
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
from console.core.units import as_int, quantity_or_none

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


# ---- where pods can run ---------------------------------------------------------------------------
NOT_READY = "node.kubernetes.io/not-ready"
UNREACHABLE = "node.kubernetes.io/unreachable"
UNSCHEDULABLE = "node.kubernetes.io/unschedulable"
# What the DefaultTolerationSeconds admission plugin adds to every pod that has neither (300 s each).
DEFAULT_TOLERATIONS: tuple[Obj, ...] = (
    {"key": NOT_READY, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
    {"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
)


def tolerated(taint: Obj, tolerations: Sequence[Obj]) -> bool:
    """Whether one of the pod's tolerations tolerates the node's taint (key, value or Exists, effect)."""
    for tol in tolerations:
        if tol.get("effect") and tol.get("effect") != taint.get("effect"):
            continue
        if tol.get("operator") == "Exists":
            if not tol.get("key") or tol.get("key") == taint.get("key"):
                return True
            continue
        if tol.get("key") == taint.get("key") and (tol.get("value") or "") == (taint.get("value") or ""):
            return True
    return False


def node_taints(node: Obj) -> list[Obj]:
    """The node's taints as kube-scheduler filters on them: ``spec.taints``, plus what the control plane
    puts there for the node's state when it has not been written yet — ``node.kubernetes.io/unschedulable``
    for a cordoned node (the NodeUnschedulable filter), ``node.kubernetes.io/not-ready`` (Ready False or
    missing) or ``node.kubernetes.io/unreachable`` (Ready Unknown) NoSchedule for a node that is not Ready
    (the node lifecycle controller's TaintNodesByCondition)."""
    spec = node.get("spec") or {}
    taints = [dict(t) for t in spec.get("taints") or []]
    have = {(t.get("key"), t.get("effect")) for t in taints}
    if spec.get("unschedulable") and (UNSCHEDULABLE, "NoSchedule") not in have:
        taints.append({"key": UNSCHEDULABLE, "effect": "NoSchedule"})
    if not node_ready(dict(node)):
        ready = next((c for c in (node.get("status") or {}).get("conditions") or [] if c.get("type") == "Ready"), {})
        key = UNREACHABLE if ready.get("status") == "Unknown" else NOT_READY
        if not any(k in (NOT_READY, UNREACHABLE) and effect == "NoSchedule" for k, effect in have):
            taints.append({"key": key, "effect": "NoSchedule"})
    return taints


def _expression_ok(values_of: Mapping[str, str], expr: Obj) -> bool:
    key, op, values = expr.get("key", ""), expr.get("operator", ""), [str(v) for v in expr.get("values") or []]
    if op == "In":
        return values_of.get(key) in values
    if op == "NotIn":
        return values_of.get(key) not in values
    if op == "Exists":
        return key in values_of
    if op == "DoesNotExist":
        return key not in values_of
    if op in ("Gt", "Lt") and values:
        try:
            have, limit = int(values_of.get(key, "")), int(values[0])
        except ValueError:
            return False
        return have > limit if op == "Gt" else have < limit
    return False


def _term_ok(term: Obj, labels: Mapping[str, str], name: str) -> bool:
    expressions, fields = term.get("matchExpressions") or [], term.get("matchFields") or []
    if not expressions and not fields:
        return False  # an empty term selects no node
    return all(_expression_ok(labels, e) for e in expressions) and \
        all(_expression_ok({"metadata.name": name}, f) for f in fields)


def node_affinity_matches(pod_spec: Obj, node: Obj) -> bool:
    """nodeSelector and required node affinity (terms ORed, expressions and fields ANDed)."""
    meta = node.get("metadata") or {}
    labels = meta.get("labels") or {}
    if any(labels.get(k) != v for k, v in (pod_spec.get("nodeSelector") or {}).items()):
        return False
    required = (((pod_spec.get("affinity") or {}).get("nodeAffinity") or {})
                .get("requiredDuringSchedulingIgnoredDuringExecution") or {})
    terms = required.get("nodeSelectorTerms") or []
    return not terms or any(_term_ok(t, labels, meta.get("name", "")) for t in terms)


def pod_can_run_on(pod_spec: Obj, node: Obj, *, check_taints: bool = True) -> bool:
    """Whether kube-scheduler could place a new pod with this spec on the node — the one notion shared by
    the GPU preflight, the deploy preflight and the compatibility gate:

    - the node is Ready and not cordoned — as the scheduler sees it, through the ``node.kubernetes.io/``
      not-ready, unreachable and unschedulable taints (:func:`node_taints`), which a pod may tolerate;
    - every other NoSchedule/NoExecute taint is tolerated (the pod's tolerations, plus the
      DefaultTolerationSeconds ones) — only checked with ``check_taints`` (without, only the
      ``node.kubernetes.io/`` ones count, against no toleration);
    - nodeSelector and required node affinity match;
    - a pod that asks for ``nvidia.com/gpu`` needs a node that has some allocatable (how many are free is
      the preflight's arithmetic, not placement)."""
    tolerations = list(pod_spec.get("tolerations") or []) if check_taints else []
    tolerations += [d for d in DEFAULT_TOLERATIONS
                    if not any(t.get("key") == d["key"] for t in tolerations)] if check_taints else []
    for taint in node_taints(node):
        if taint.get("effect") not in ("NoSchedule", "NoExecute"):
            continue
        if not check_taints and not str(taint.get("key", "")).startswith("node.kubernetes.io/"):
            continue
        if not tolerated(taint, tolerations):
            return False
    if not node_affinity_matches(pod_spec, node):
        return False
    if gpus_of_pod_spec(dict(pod_spec)) > 0:
        return (quantity_or_none(((node.get("status") or {}).get("allocatable") or {}).get(GPU)) or 0) > 0
    return True


def schedulable_nodes(pod_spec: Obj, nodes: Iterable[Obj]) -> list[Obj]:
    """The nodes :func:`pod_can_run_on` admits."""
    return [n for n in nodes if pod_can_run_on(pod_spec, n)]


# ---- GPU preflight --------------------------------------------------------------------------------
def node_accepts(node: Obj, node_selector: Mapping[str, str] | None,
                 tolerations: Sequence[Obj] | None = None) -> bool:
    """:func:`pod_can_run_on` for a pod with this nodeSelector and these tolerations: Ready, schedulable,
    labels match the nodeSelector, and (when ``tolerations`` is given) every NoSchedule/NoExecute taint
    tolerated."""
    spec = {"nodeSelector": dict(node_selector or {}), "tolerations": list(tolerations or [])}
    return pod_can_run_on(spec, node, check_taints=tolerations is not None)


def free_gpus_for(pod_spec: Obj, nodes: Iterable[Obj], pods: Iterable[Obj], *, check_taints: bool = True
                  ) -> dict[str, int]:
    """Free ``nvidia.com/gpu`` per node a pod with this spec can run on (:func:`pod_can_run_on`):
    allocatable minus the GPUs of the non-terminated pods bound there (Terminating pods still hold theirs,
    as for the scheduler)."""
    used: dict[str, int] = {}
    for pod in pods:
        held = project_gpu_pod(dict(pod))
        if held is not None:
            used[held[0]] = used.get(held[0], 0) + held[1]
    free = {}
    for node in nodes:
        if pod_can_run_on(pod_spec, node, check_taints=check_taints):
            name = (node.get("metadata") or {}).get("name", "")
            allocatable = as_int(((node.get("status") or {}).get("allocatable") or {}).get(GPU))
            free[name] = max(allocatable - used.get(name, 0), 0)
    return free


def free_gpus_by_node(nodes: Iterable[Obj], pods: Iterable[Obj], node_selector: Mapping[str, str] | None,
                      tolerations: Sequence[Obj] | None = None) -> dict[str, int]:
    """:func:`free_gpus_for` a pod with this nodeSelector and these tolerations (None: taints other than
    ``node.kubernetes.io/`` ones not checked)."""
    spec = {"nodeSelector": dict(node_selector or {}), "tolerations": list(tolerations or [])}
    return free_gpus_for(spec, nodes, pods, check_taints=tolerations is not None)


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


def _placement(deployment: Obj) -> tuple[int, Obj]:
    """GPUs per pod and the pod spec of the Deployment's template."""
    pod_spec = ((deployment.get("spec") or {}).get("template") or {}).get("spec") or {}
    return gpus_of_pod_spec(pod_spec), pod_spec


def surge_alternative(replicas: int) -> str:
    """The maxSurge 0 / maxUnavailable 1 offer, with its availability cost in words."""
    return (f"maxSurge 0 / maxUnavailable 1: replaces pods one at a time in place; 1 of {replicas} "
            f"replicas is not serving during the rollout")


def preflight_rollout(deployment: Obj, nodes: Iterable[Obj], pods: Iterable[Obj]) -> Preflight:
    """Can a rolling update of this Deployment start? Its surge pods need GPUs that are free now."""
    spec = deployment.get("spec") or {}
    replicas = as_int(spec.get("replicas", 1))
    gpus, pod_spec = _placement(deployment)
    free_map = free_gpus_for(pod_spec, nodes, pods)
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
    gpus, pod_spec = _placement(deployment)
    free_map = free_gpus_for(pod_spec, nodes, pods)
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
