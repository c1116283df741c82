"""How each action turns into a request, a diff and a kubectl command: pure functions, no I/O.

An action is kept as an *intent* (plain JSON: ``{"action": "scale", "replicas": 5}``) and built into
a request against a live object by :func:`build_request`. The same function builds the dry-run,
the real apply and, after a 409 Conflict, the retry on a freshly read object — so the retry is the
same intent, never a stale copy of the old patch.

Optimistic concurrency: merge and strategic-merge patches carry ``metadata.resourceVersion``; the
JSON patch of an undo *replaces* ``/metadata/resourceVersion`` with the version it was planned
against. Either way the API server's update precondition fails with 409 Conflict when someone else
changed the object in between. (A JSON-patch ``test`` op would fail with 422 Invalid instead: the
API server reports a failed patch operation as a bad request, not as a conflict.)
"""

from __future__ import annotations

import copy
import difflib
import json
import shlex
from collections.abc import Mapping
from typing import Any

import yaml

from console.actions.validate import EXIT_FAILED, EXIT_USAGE, ActionError, check_hpa_range, pick_container
from console.core.gpus import gpus_of_pod_spec
from console.core.rollout import CHANGE_CAUSE, REVISION, equal_ignore_hash

Obj = dict[str, Any]
JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
# Deployment annotations an undo keeps rather than taking the ReplicaSet's (kubectl's annotationsToSkip).
UNDO_KEEP = frozenset({
    "kubectl.kubernetes.io/last-applied-configuration", REVISION, "deployment.kubernetes.io/revision-history",
    "deployment.kubernetes.io/desired-replicas", "deployment.kubernetes.io/max-replicas",
    "deprecated.deployment.rollback.to",
})
SURGE_ZERO = {"maxSurge": 0, "maxUnavailable": 1}


def deployment_path(namespace: str, name: str = "") -> str:
    base = f"/apis/apps/v1/namespaces/{namespace}/deployments"
    return f"{base}/{name}" if name else base


def hpa_path(namespace: str, name: str = "") -> str:
    base = f"/apis/autoscaling/v2/namespaces/{namespace}/horizontalpodautoscalers"
    return f"{base}/{name}" if name else base


def _meta(obj: Mapping[str, Any]) -> Obj:
    return obj.get("metadata") or {}


def _spec(obj: Mapping[str, Any]) -> Obj:
    return obj.get("spec") or {}


def replicas_of(deployment: Mapping[str, Any]) -> int:
    """spec.replicas (the API server defaults an absent one to 1)."""
    value = _spec(deployment).get("replicas")
    return 1 if value is None else int(value)


def gpus_per_replica(deployment: Mapping[str, Any]) -> int:
    return gpus_of_pod_spec(_template(deployment).get("spec") or {})


def with_surge_zero(deployment: Mapping[str, Any]) -> Obj:
    """A copy of the Deployment as the surge-0 alternative would make it (for its preflight)."""
    out = copy.deepcopy(dict(deployment))
    out.setdefault("spec", {})["strategy"] = {"type": "RollingUpdate", "rollingUpdate": dict(SURGE_ZERO)}
    return out


def with_template(deployment: Mapping[str, Any], template: Mapping[str, Any]) -> Obj:
    """A copy of the Deployment with another pod template (an undo's, for its preflight)."""
    out = copy.deepcopy(dict(deployment))
    out.setdefault("spec", {})["template"] = copy.deepcopy(dict(template))
    return out


def _template(obj: Mapping[str, Any]) -> Obj:
    return _spec(obj).get("template") or {}


def container_names(deployment: Mapping[str, Any]) -> list[str]:
    return [c.get("name", "") for c in (_template(deployment).get("spec") or {}).get("containers") or []]


def _guard(live: Mapping[str, Any]) -> Obj:
    return {"resourceVersion": _meta(live).get("resourceVersion")}


# ---- requests ---------------------------------------------------------------------------------------
def build_request(intent: Mapping[str, Any], live: Mapping[str, Any]) -> Obj:
    """The PATCH that carries out ``intent`` on ``live`` (a Deployment, or the HPA for "hpa"):
    ``{"path", "content_type", "body", "verb", "resource"}``. Raises ActionError when the intent no
    longer makes sense for this object (already paused, template already matches the revision...)."""
    ns, name = _meta(live).get("namespace", ""), _meta(live).get("name", "")
    action = intent["action"]
    path = hpa_path(ns, name) if action == "hpa" else deployment_path(ns, name)
    resource = "horizontalpodautoscalers" if action == "hpa" else "deployments"
    if action == "scale":
        path, resource = f"{path}/scale", "deployments/scale"
        content_type, body = MERGE_PATCH, {"metadata": _guard(live), "spec": {"replicas": intent["replicas"]}}
    elif action == "hpa":
        content_type, body = MERGE_PATCH, {"metadata": _guard(live), "spec": hpa_spec_patch(intent, live)}
    elif action == "undo":
        content_type, body = JSON_PATCH, undo_patch(intent, live)
    else:
        patch = _deployment_patch(intent, live)
        patch["metadata"] = {**patch.get("metadata", {}), **_guard(live)}
        if intent.get("surge0") and action in ("restart", "resume"):
            patch.setdefault("spec", {})["strategy"] = {"type": "RollingUpdate", "rollingUpdate": dict(SURGE_ZERO)}
        content_type, body = STRATEGIC_MERGE_PATCH, patch
    return {"path": path, "content_type": content_type, "body": body, "verb": "patch", "resource": resource}


def _deployment_patch(intent: Mapping[str, Any], live: Mapping[str, Any]) -> Obj:
    action, name, spec = intent["action"], _meta(live).get("name", ""), _spec(live)
    if action == "pause":
        if spec.get("paused"):
            raise ActionError(EXIT_FAILED, f'deployment "{name}" is already paused')
        return {"spec": {"paused": True}}
    if action == "resume":
        if not spec.get("paused"):
            raise ActionError(EXIT_FAILED, f'deployment "{name}" is not paused')
        return {"spec": {"paused": False}}
    if action == "restart":
        if spec.get("paused"):
            raise ActionError(EXIT_FAILED, f'cannot restart paused deployment "{name}" (run rollout resume first)')
        return {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: intent["at"]}}}}}
    if action == "set-image":
        return set_image_patch(intent, live)
    if action == "resources":
        return {"spec": {"template": {"spec": {"containers": [{"name": intent["container"],
                                                               "resources": intent["resources"]}]}}}}
    raise ValueError(f"unknown action {action!r}")


def set_image_patch(intent: Mapping[str, Any], live: Mapping[str, Any]) -> Obj:
    """Strategic merge: the container's image (merged by name), a change-cause saying so, and with
    the surge-0 alternative the rolling-update fenceposts."""
    image = intent["image"]
    container = pick_container(container_names(live), intent["container"], _meta(live).get("name", ""))
    current = {c.get("name"): c.get("image") for c in (_template(live).get("spec") or {}).get("containers") or []}
    strategy = _spec(live).get("strategy") or {}
    wants_surge0 = intent.get("surge0") and (strategy.get("rollingUpdate") or {}) != SURGE_ZERO
    if current[container] == image and not wants_surge0:
        raise ActionError(EXIT_USAGE, f'container "{container}" already runs {image}: nothing to change')
    patch: Obj = {"metadata": {"annotations": {CHANGE_CAUSE: change_cause(intent)}},
                  "spec": {"template": {"spec": {"containers": [{"name": container, "image": image}]}}}}
    if intent.get("surge0"):
        patch["spec"]["strategy"] = {"type": "RollingUpdate", "rollingUpdate": dict(SURGE_ZERO)}
    return patch


def change_cause(intent: Mapping[str, Any]) -> str:
    return f"llmctl rollout set-image {intent['container']}={intent['image']}"


def undo_patch(intent: Mapping[str, Any], live: Mapping[str, Any]) -> list[Obj]:
    """kubectl rollout undo's JSON patch: the revision's template (hash label removed) and the
    ReplicaSet's annotations over the Deployment's own bookkeeping ones."""
    name, revision = _meta(live).get("name", ""), intent["revision"]
    if _spec(live).get("paused"):
        raise ActionError(EXIT_FAILED, f'you cannot rollback a paused deployment "{name}"; resume it first '
                                       "with 'rollout resume' and try again")
    if equal_ignore_hash(intent["template"], _template(live)):
        raise ActionError(EXIT_FAILED, f"skipped rollback (current template already matches revision {revision})")
    live_ann = _meta(live).get("annotations") or {}
    annotations = {k: v for k, v in live_ann.items() if k in UNDO_KEEP}
    annotations.update({k: v for k, v in (intent.get("annotations") or {}).items() if k not in UNDO_KEEP})
    return [
        {"op": "replace", "path": "/metadata/resourceVersion", "value": _meta(live).get("resourceVersion")},
        {"op": "replace", "path": "/spec/template", "value": copy.deepcopy(intent["template"])},
        {"op": "replace", "path": "/metadata/annotations", "value": annotations},
        *([{"op": "add", "path": "/spec/strategy", "value": {"type": "RollingUpdate",
                                                              "rollingUpdate": dict(SURGE_ZERO)}}]
          if intent.get("surge0") else []),
    ]


def cpu_target(hpa: Mapping[str, Any]) -> int | None:
    """The averageUtilization of the HPA's Resource cpu metric, or None."""
    for m in _spec(hpa).get("metrics") or []:
        res = m.get("resource") or {}
        if m.get("type") == "Resource" and res.get("name") == "cpu":
            return (res.get("target") or {}).get("averageUtilization")
    return None


def hpa_spec_patch(intent: Mapping[str, Any], live: Mapping[str, Any]) -> Obj:
    """minReplicas/maxReplicas as asked; a CPU target rewrites the metrics list (a merge patch
    replaces lists whole) with the cpu metric's averageUtilization changed or the metric added."""
    spec: Obj = {}
    if intent.get("min") is not None:
        spec["minReplicas"] = intent["min"]
    if intent.get("max") is not None:
        spec["maxReplicas"] = intent["max"]
    low = intent["min"] if intent.get("min") is not None else _spec(live).get("minReplicas", 1)
    high = intent["max"] if intent.get("max") is not None else _spec(live).get("maxReplicas", 1)
    check_hpa_range(low, high)
    if intent.get("cpu") is not None:
        metrics = copy.deepcopy(_spec(live).get("metrics") or [])
        target = {"type": "Utilization", "averageUtilization": intent["cpu"]}
        cpu = next((m for m in metrics if m.get("type") == "Resource"
                    and (m.get("resource") or {}).get("name") == "cpu"), None)
        if cpu is None:
            metrics.append({"type": "Resource", "resource": {"name": "cpu", "target": target}})
        else:
            cpu["resource"]["target"] = target
        spec["metrics"] = metrics
    return spec


# ---- what changes -----------------------------------------------------------------------------------
def changed_fields(action: str, obj: Mapping[str, Any]) -> Obj:
    """The fields an action changes, read from a Deployment, a Scale or an HPA (for before/after)."""
    spec = _spec(obj)
    if action == "scale":
        return {"replicas": spec.get("replicas", 1)}
    if action in ("pause", "resume"):
        return {"paused": bool(spec.get("paused"))}
    if action == "restart":
        return {"restartedAt": ((_template(obj).get("metadata") or {}).get("annotations") or {}).get(RESTARTED_AT)}
    if action == "hpa":
        return {"minReplicas": spec.get("minReplicas", 1), "maxReplicas": spec.get("maxReplicas"),
                "cpuTarget": cpu_target(obj)}
    containers = (_template(obj).get("spec") or {}).get("containers") or []
    if action == "resources":
        return {"resources": {c.get("name", ""): c.get("resources") or {} for c in containers}}
    out: Obj = {"images": {c.get("name", ""): c.get("image", "") for c in containers},
                "change-cause": (_meta(obj).get("annotations") or {}).get(CHANGE_CAUSE, "")}
    if action == "set-image":
        out["rollingUpdate"] = (spec.get("strategy") or {}).get("rollingUpdate")
    return out


def fields_after(intent: Mapping[str, Any], obj: Mapping[str, Any]) -> Obj:
    """:func:`changed_fields` of the changed object; an undo also names the revision it brings back
    (the object's own revision annotation only moves when the controller picks the change up)."""
    out = changed_fields(intent["action"], obj)
    if intent["action"] == "undo":
        out["revision"] = intent["revision"]
    return out


def would_be(action: str, live: Mapping[str, Any], answer: Mapping[str, Any]) -> Obj:
    """The object as it would be: the dry-run answer, or for a scale (whose answer is a Scale) the
    live Deployment with the answer's replicas."""
    if action != "scale":
        return dict(answer)
    out = copy.deepcopy(dict(live))
    out.setdefault("spec", {})["replicas"] = _spec(answer).get("replicas")
    return out


def _for_diff(obj: Mapping[str, Any]) -> Obj:
    out = copy.deepcopy({k: v for k, v in obj.items() if k != "status"})
    meta = out.get("metadata") or {}
    for key in ("resourceVersion", "generation", "managedFields"):
        meta.pop(key, None)
    return out


def unified_diff(live: Mapping[str, Any], after: Mapping[str, Any], name: str) -> str:
    """Unified diff of the YAML of both objects, without the fields every write changes
    (resourceVersion, generation, managedFields) and without status."""
    a = yaml.safe_dump(_for_diff(live), sort_keys=True, default_flow_style=False).splitlines(keepends=True)
    b = yaml.safe_dump(_for_diff(after), sort_keys=True, default_flow_style=False).splitlines(keepends=True)
    return "".join(difflib.unified_diff(a, b, f"{name} (live)", f"{name} (dry-run)"))


# ---- the kubectl equivalent --------------------------------------------------------------------------
def kubectl_command(intent: Mapping[str, Any], namespace: str, name: str, context: str,
                    hpa_spec: Mapping[str, Any] | None = None) -> str:
    """The kubectl command line(s) doing the same change, to learn from or to paste elsewhere
    (``hpa_spec``: the spec part of the HPA merge patch, which kubectl has no verb for)."""
    where = f"-n {shlex.quote(namespace)}" + (f" --context {shlex.quote(context)}" if context else "")
    action, dep = intent["action"], f"deployment/{name}"
    if intent.get("surge0") and action in ("restart", "resume", "undo"):
        surge = json.dumps({"spec": {"strategy": {"rollingUpdate": SURGE_ZERO}}}, separators=(",", ":"))
        return (f"kubectl patch {dep} -p {shlex.quote(surge)} {where} && "
                + kubectl_command({**intent, "surge0": False}, namespace, name, context, hpa_spec))
    if action == "scale":
        return f"kubectl scale {dep} --replicas={intent['replicas']} {where}"
    if action in ("pause", "resume", "restart"):
        return f"kubectl rollout {action} {dep} {where}"
    if action == "undo":
        return f"kubectl rollout undo {dep} --to-revision={intent['revision']} {where}"
    if action == "hpa":
        text = json.dumps({"spec": (hpa_spec or {})}, separators=(",", ":"), ensure_ascii=False)
        return f"kubectl patch hpa/{name} --type merge -p {shlex.quote(text)} {where}"
    if action == "resources":
        parts = [f"--{part}={','.join(f'{k}={v}' for k, v in sorted(values.items()))}"
                 for part, values in intent["resources"].items() if values]
        return f"kubectl set resources {dep} -c {shlex.quote(intent['container'])} {' '.join(parts)} {where}"
    steps = []
    if intent.get("surge0"):
        surge = json.dumps({"spec": {"strategy": {"rollingUpdate": SURGE_ZERO}}}, separators=(",", ":"))
        steps.append(f"kubectl patch {dep} -p {shlex.quote(surge)} {where}")
    steps.append(f"kubectl annotate {dep} {CHANGE_CAUSE}={shlex.quote(change_cause(intent))} --overwrite {where}")
    steps.append(f"kubectl set image {dep} {intent['container']}={shlex.quote(intent['image'])} {where}")
    return " && ".join(steps)


def success_message(action: str, name: str, intent: Mapping[str, Any]) -> str:
    """kubectl's words for a done change ("deployment.apps/x scaled")."""
    if action == "hpa":
        return f"horizontalpodautoscaler.autoscaling/{name} patched"
    word = {"scale": f"scaled to {intent.get('replicas')}", "set-image": "image updated",
            "undo": f"rolled back to revision {intent.get('revision')}", "pause": "paused", "resume": "resumed",
            "restart": "restarted", "resources": "resource requirements updated"}[action]
    return f"deployment.apps/{name} {word}"

