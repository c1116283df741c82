"""The ``pods/eviction`` subresource, as kube-apiserver's EvictionREST (v1.30) answers it.

POST an ``Eviction`` (policy/v1 or v1beta1) for a pod:

- a pod that is Pending, Succeeded, Failed or already terminating is deleted without asking any budget;
- otherwise the PodDisruptionBudgets selecting it are found: none → delete; more than one → 500 ("This pod
  has more than one PodDisruptionBudget, which the eviction subresource does not support.");
- one budget whose status is older than its spec → 429 ("… is still being processed by the server.");
- an unready pod: deleted without spending the budget if ``unhealthyPodEvictionPolicy: AlwaysAllow``, or
  (``IfHealthyBudget``, the default) when the budget is met (currentHealthy ≥ desiredHealthy > 0);
- else the budget must allow a disruption: none left → 429 TooManyRequests, "Cannot evict pod as it would
  violate the pod's disruption budget." with a ``DisruptionBudget`` cause; one left → disruptionsAllowed is
  decremented, the pod is recorded in ``disruptedPods`` and deleted.

The deletion is graceful (the pod gets a ``DisruptionTarget`` condition, then a deletionTimestamp) and the
answer is ``201`` with a ``Status`` of ``Success``. ``dryRun=All`` checks everything and changes nothing.
"""

from __future__ import annotations

from typing import Any

from . import schema
from .api_decode import check_type_meta, decode_typed
from .context import SandboxContext
from .controllers.base import pod_ready
from .controllers.disruption import pdb_selects, set_allowed_condition
from .errors import ApiError, bad_request
from .store import copy_object

Obj = dict[str, Any]
EVICTION_VERSIONS = ("policy/v1", "policy/v1beta1")
MAX_DISRUPTED_PODS = 2000
SUCCESS: Obj = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}


def too_many_requests(message: str, retry_after: int) -> ApiError:
    err = ApiError(429, "TooManyRequests", "Cannot evict pod as it would violate the pod's disruption budget.",
                   causes=[{"reason": "DisruptionBudget", "message": message}])
    err.details["retryAfterSeconds"] = retry_after
    return err


def decode_eviction(body: Any, name: str) -> Obj:
    check_type_meta(body)
    api_version = body.get("apiVersion") or "policy/v1"
    if api_version not in EVICTION_VERSIONS or (body.get("kind") or "Eviction") != "Eviction":
        raise bad_request(f'{body.get("kind") or "Eviction"} in version "{api_version.rsplit("/", 1)[-1]}" cannot '
                          'be handled as a Eviction: no kind is registered for the version')
    eviction = decode_typed(schema.EVICTION, body, "Eviction", api_version)
    if (eviction.get("metadata") or {}).get("name") != name:
        raise bad_request("name in URL does not match name in Eviction object")
    return eviction


def _forbidden_pdb(name: str, why: str) -> ApiError:
    return ApiError(403, "Forbidden", f'poddisruptionbudgets.policy "{name}" is forbidden: {why}',
                    kind="poddisruptionbudgets", name=name, group="policy")


def _check_and_decrement(ctx: SandboxContext, pdb: Obj, pod_name: str, dry_run: bool) -> None:
    meta, status = pdb["metadata"], pdb.get("status") or {}
    if status.get("observedGeneration", 0) < meta.get("generation", 1):
        raise too_many_requests(f"The disruption budget {meta['name']} is still being processed by the server.", 10)
    allowed = status.get("disruptionsAllowed", 0)
    if allowed < 0:
        raise _forbidden_pdb(meta["name"], "pdb disruptions allowed is negative")
    if len(status.get("disruptedPods") or {}) > MAX_DISRUPTED_PODS:
        raise _forbidden_pdb(meta["name"], "DisruptedPods map too big - too many evictions not confirmed by PDB "
                                           "controller")
    if allowed == 0:
        raise too_many_requests(f"The disruption budget {meta['name']} needs {status.get('desiredHealthy', 0)} "
                                f"healthy pods and has {status.get('currentHealthy', 0)} currently", 0)
    if dry_run:
        return
    updated = copy_object(pdb)
    new_status = updated.setdefault("status", {})
    new_status["disruptionsAllowed"] = allowed - 1
    if allowed - 1 == 0:
        set_allowed_condition(new_status, ctx.clock.timestamp())
    new_status.setdefault("disruptedPods", {})[pod_name] = ctx.clock.timestamp()
    ctx.store.replace("poddisruptionbudgets", updated)


def _mark_disruption_target(ctx: SandboxContext, pod: Obj) -> Obj:
    updated = copy_object(pod)
    conditions = updated.setdefault("status", {}).setdefault("conditions", [])
    conditions[:] = [c for c in conditions if c.get("type") != "DisruptionTarget"]
    conditions.append({"type": "DisruptionTarget", "status": "True", "lastProbeTime": None,
                       "lastTransitionTime": ctx.clock.timestamp(), "reason": "EvictionByEvictionAPI",
                       "message": "Eviction API: evicting"})
    return ctx.store.replace("pods", updated, check_version=False)


def _delete_pod(ctx: SandboxContext, pod: Obj, options: Obj, dry_run: bool) -> None:
    from .controllers.pods import graceful_delete

    pre = options.get("preconditions") or {}
    for field in ("uid", "resourceVersion"):
        if pre.get(field) and pre[field] != pod["metadata"].get(field):
            label = "UID" if field == "uid" else "ResourceVersion"
            raise ApiError(409, "Conflict", f'Operation cannot be fulfilled on pods "{pod["metadata"]["name"]}": '
                           f"the {label} in the precondition ({pre[field]}) does not match the {label} in record "
                           f"({pod['metadata'].get(field)}). The object might have been modified",
                           kind="pods", name=pod["metadata"]["name"])
    if dry_run:
        return
    terminal = (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")
    if not pod["metadata"].get("deletionTimestamp") and not terminal:
        pod = _mark_disruption_target(ctx, pod)
    grace = options.get("gracePeriodSeconds")
    if grace == 0 or not (pod.get("spec") or {}).get("nodeName"):
        ctx.store.delete("pods", pod["metadata"].get("namespace"), pod["metadata"]["name"])
    else:
        graceful_delete(ctx, pod)


def evict(ctx: SandboxContext, namespace: str, name: str, body: Any, dry_run: bool) -> tuple[Obj, int]:
    """Run an eviction: the Status a real server answers, and its HTTP code (201 on success)."""
    eviction = decode_eviction(body, name)
    options = eviction.get("deleteOptions") or {}
    if options.get("dryRun"):
        dry_run = True
    pod = ctx.store.get("pods", namespace, name)
    phase = (pod.get("status") or {}).get("phase")
    if phase in ("Pending", "Succeeded", "Failed") or pod["metadata"].get("deletionTimestamp"):
        _delete_pod(ctx, pod, options, dry_run)
        return SUCCESS, 201
    pdbs = [p for p in ctx.store.list("poddisruptionbudgets", namespace) if pdb_selects(p, pod)]
    if len(pdbs) > 1:
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": "This pod has more than one PodDisruptionBudget, which the eviction subresource does not "
                           "support.", "code": 500}, 500
    if pdbs:
        pdb = pdbs[0]
        spec, status = pdb.get("spec") or {}, pdb.get("status") or {}
        # An unready pod does not count towards the budget: AlwaysAllow deletes it at once, IfHealthyBudget
        # (the default) when the application is not disrupted at the moment.
        unhealthy_ok = not pod_ready(pod) and (
            spec.get("unhealthyPodEvictionPolicy") == "AlwaysAllow"
            or status.get("currentHealthy", 0) >= status.get("desiredHealthy", 0) > 0)
        if not unhealthy_ok:
            _check_and_decrement(ctx, pdb, name, dry_run)
    _delete_pod(ctx, pod, options, dry_run)
    return SUCCESS, 201
