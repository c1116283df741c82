"""Delete and edit any object the API serves (and cordon or uncordon a node), through the same plan → server
dry-run → confirm → apply → audit flow as every other action (:mod:`console.actions.service`).

- ``plan_delete`` reads the object, finds what goes with it (a Deployment's ReplicaSets and pods, a Job's pods,
  a namespace's contents), sends ``DELETE ?dryRun=All`` and asks for the name to be typed when more than one
  object would go (always for a namespace).
- ``plan_edit`` takes the object as the user edited it (``e`` in the console, through ``$EDITOR``), sends
  ``PUT ?dryRun=All`` guarded by the resourceVersion it was read at, and diffs the live object against the
  server's answer. Applying a stale edit is a conflict the user resolves by editing again: never overwritten.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import yaml

from console.actions import plan as ap
from console.actions.reads import ClusterReads
from console.actions.validate import EXIT_FAILED, EXIT_USAGE, ActionError
from console.core.model import ActionPlan
from console.kube.errors import KubeError

if TYPE_CHECKING:
    from console.kube.discovery import Resource

OBJECT_ACTIONS = ("delete", "edit", "cordon", "uncordon")  # applied as planned by ObjectChanges.apply_object
OWNING_KINDS = {"Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job", "CronJob"}
MAX_FIELDS = 20  # changed fields one audit entry names


def changed_leaves(before: Any, after: Any, prefix: str = "") -> dict[str, tuple[Any, Any]]:
    """Every leaf that differs between two objects, by path (``spec.template.spec.containers[0].image``); lists
    of the same length are compared item by item, others whole."""
    out: dict[str, tuple[Any, Any]] = {}
    if isinstance(before, dict) and isinstance(after, dict):
        for key in dict.fromkeys([*before, *after]):
            out.update(changed_leaves(before.get(key), after.get(key), f"{prefix}{key}."))
        return out
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        for index, (old, new) in enumerate(zip(before, after, strict=True)):
            out.update(changed_leaves(old, new, f"{prefix.rstrip('.')}[{index}]."))
        return out
    return {} if before == after else {prefix.rstrip("."): (before, after)}


def _edited_fields(live: dict[str, Any], would: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    leaves = changed_leaves(ap._for_diff(live), ap._for_diff(would))
    names = list(leaves)[:MAX_FIELDS]
    return {n: leaves[n][0] for n in names}, {n: leaves[n][1] for n in names}


def parse_edited(text: str, live: dict[str, Any]) -> dict[str, Any]:
    """The object as edited: YAML of one mapping of the same kind, name and namespace (exit 2 otherwise)."""
    try:
        edited = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ActionError(EXIT_USAGE, f"the edited object is not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(edited, dict):
        raise ActionError(EXIT_USAGE, "the edited object must be one YAML mapping")
    meta, was = edited.get("metadata") or {}, live.get("metadata") or {}
    for key, now, before in (("kind", edited.get("kind"), live.get("kind")), ("name", meta.get("name"),
                             was.get("name")), ("namespace", meta.get("namespace"), was.get("namespace"))):
        if now != before:
            raise ActionError(EXIT_USAGE, f"the {key} cannot be changed by an edit ({before!r} → {now!r})")
    return edited


class ObjectChanges(ClusterReads):
    """Delete and edit for any resource type; mixed into :class:`console.actions.service.Actions`."""

    def _audit(self, plan: ActionPlan, mode: str, result: str, after: Any = None, **extra: Any) -> None:
        raise NotImplementedError

    async def read_object(self, resource: Resource, namespace: str, name: str) -> dict[str, Any]:
        try:
            obj = await self.transport.get(resource.item(name, namespace))
        except KubeError as exc:
            raise self._error(exc, "get", resource.plural, namespace, resource.kind, name) from None
        return {"apiVersion": resource.api_version, "kind": resource.kind, **obj}

    def _kubectl(self, verb: str, resource: Resource, namespace: str, name: str) -> str:
        where = f" -n {namespace}" if resource.namespaced and namespace else ""
        return f"kubectl {verb} {resource.name_prefix}/{name}{where} --context {self.target.context}"

    async def dependents(self, resource: Resource, live: dict[str, Any]) -> list[str]:
        """What goes with ``live`` when it is deleted (``kind/name``): owned objects, transitively; for a
        namespace, its workloads and pods."""
        meta = live.get("metadata") or {}
        if resource.plural == "namespaces" and not resource.group:
            ns = meta.get("name", "")
            found = []
            for path, kind in ((f"/apis/apps/v1/namespaces/{ns}/deployments", "deployment"),
                               (f"/api/v1/namespaces/{ns}/pods", "pod")):
                found += [f"{kind}/{o['metadata']['name']}" for o in await self._list(path)]
            return found
        if resource.kind not in OWNING_KINDS:
            return []
        ns = meta.get("namespace", "")
        candidates = []
        for path, kind in ((f"/apis/apps/v1/namespaces/{ns}/replicasets", "replicaset"),
                           (f"/apis/batch/v1/namespaces/{ns}/jobs", "job"), (f"/api/v1/namespaces/{ns}/pods", "pod")):
            try:
                candidates += [(kind, o) for o in await self._list(path)]
            except KubeError:  # not allowed to list them: the dependents stay unknown, not invented
                continue
        owners, found, grew = {meta.get("uid")}, [], True
        while grew:
            grew = False
            for kind, o in candidates:
                m = o.get("metadata") or {}
                if m.get("uid") not in owners and any(r.get("uid") in owners for r in m.get("ownerReferences") or []):
                    owners.add(m.get("uid"))
                    found.append(f"{kind}/{m.get('name')}")
                    grew = True
        return found

    async def plan_delete(self, resource: Resource, namespace: str, name: str) -> ActionPlan:
        """Read, find the dependents, dry-run the DELETE (background propagation, preconditioned on the
        object read); ``request["confirm_name"]``: the name must be typed to confirm."""
        live = await self.read_object(resource, namespace, name)
        meta = live.get("metadata") or {}
        try:
            going = await self.dependents(resource, live)
        except KubeError as exc:
            raise self._error(exc, "list", "the dependents of", namespace, resource.kind, name) from None
        body = {"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": "Background",
                "preconditions": {"uid": meta.get("uid"), "resourceVersion": meta.get("resourceVersion")}}
        path = resource.item(name, namespace if resource.namespaced else None)
        warnings = []
        if going:
            shown = ", ".join(going[:10]) + (f" and {len(going) - 10} more" if len(going) > 10 else "")
            warnings.append(f"{len(going)} dependent object{'s' if len(going) != 1 else ''} go with it: {shown}")
        confirm_name = resource.plural == "namespaces" or len(going) > 1
        plan = ActionPlan(action="delete", namespace=namespace if resource.namespaced else "", name=name,
                          kind=resource.kind, kubectl=self._kubectl("delete", resource, namespace, name),
                          diff=ap.unified_diff(live, {}, f"{resource.kind.lower()}/{name}"),
                          before={"resourceVersion": meta.get("resourceVersion")}, after={"deleted": True},
                          warnings=tuple(warnings),
                          request={"method": "DELETE", "path": path, "body": body, "resource": resource.plural,
                                   "confirm_name": confirm_name, "dependents": len(going)})
        await self._dry_run(plan)
        return plan

    async def plan_edit(self, resource: Resource, live: dict[str, Any], text: str) -> ActionPlan:
        """The edited text as a change: validated, dry-run with PUT (resourceVersion of ``live``), diffed."""
        edited = parse_edited(text, live)
        meta = live.get("metadata") or {}
        edited.setdefault("metadata", {})["resourceVersion"] = meta.get("resourceVersion")
        namespace, name = meta.get("namespace", ""), meta.get("name", "")
        plan = ActionPlan(action="edit", namespace=namespace, name=name, kind=resource.kind,
                          kubectl=self._kubectl("edit", resource, namespace, name), diff="", before={}, after={},
                          request={"method": "PUT", "path": resource.item(name, namespace or None), "body": edited,
                                   "resource": resource.plural})
        answer = await self._dry_run(plan)
        before, after = _edited_fields(live, answer)
        diff = ap.unified_diff(live, answer, f"{resource.kind.lower()}/{name}") or "(no change)\n"
        return ActionPlan(**{**plan.__dict__, "diff": diff, "before": before, "after": after})

    async def plan_cordon(self, node: str, cordon: bool) -> ActionPlan:
        """Mark a node unschedulable (cordon) or schedulable again, as ``kubectl cordon|uncordon``: a merge
        patch of ``spec.unschedulable`` guarded by the resourceVersion read, dry-run and diffed first."""
        from console.actions.validate import check_name

        check_name(node, "node")
        try:
            live = await self.transport.get(f"/api/v1/nodes/{node}")
        except KubeError as exc:
            raise self._error(exc, "get", "nodes", "", "Node", node) from None
        action = "cordon" if cordon else "uncordon"
        now = bool((live.get("spec") or {}).get("unschedulable"))
        if now == cordon:
            raise ActionError(EXIT_FAILED, f"node/{node} is already {'cordoned' if now else 'schedulable'}: "
                                           "nothing to change")
        body = {"metadata": {"resourceVersion": (live.get("metadata") or {}).get("resourceVersion")},
                "spec": {"unschedulable": True if cordon else None}}
        plan = ActionPlan(action=action, namespace="", name=node, kind="Node",
                          kubectl=f"kubectl {action} {node} --context {self.target.context}", diff="",
                          before={"unschedulable": now}, after={"unschedulable": cordon},
                          warnings=(("pods already running on it keep running; drain moves them",) if cordon else ()),
                          request={"method": "PATCH", "path": f"/api/v1/nodes/{node}", "body": body,
                                   "resource": "nodes", "content_type": "application/merge-patch+json"})
        answer = await self._dry_run(plan)
        diff = ap.unified_diff({"kind": "Node", **live}, {"kind": "Node", **answer}, f"node/{node}") or "(no change)\n"
        return ActionPlan(**{**plan.__dict__, "diff": diff})

    async def _send_object(self, plan: ActionPlan, dry_run: bool) -> dict[str, Any]:
        request = plan.request
        query = [("dryRun", "All")] if dry_run else []
        return await self.transport.request(str(request["method"]), str(request["path"]), query, body=request["body"],
                                            content_type=str(request.get("content_type") or "application/json"))

    async def _dry_run(self, plan: ActionPlan) -> dict[str, Any]:
        verb = {"delete": "delete", "edit": "update"}.get(plan.action, "patch")
        try:
            answer = await self._send_object(plan, dry_run=True)
        except KubeError as exc:
            error = self._object_error(exc, verb, plan)
            self._audit(plan, "dry-run", error.message)
            raise error from None
        self._audit(plan, "dry-run", "ok")
        return answer

    def _object_error(self, exc: KubeError, verb: str, plan: ActionPlan) -> ActionError:
        if exc.code == 409:
            return ActionError(EXIT_FAILED, f"conflict: {plan.kind.lower()}/{plan.name} changed since it was read; "
                                            f"nothing was changed ({'edit' if plan.action == 'edit' else verb} "
                                            "again to work on the current version)")
        return self._error(exc, verb, str(plan.request["resource"]), plan.namespace, plan.kind, plan.name)

    async def apply_object(self, plan: ActionPlan) -> str:
        """Send a planned delete or edit; every outcome audited. Returns what happened, in words."""
        readonly = getattr(self, "readonly", False)
        if readonly:
            message = f"read-only mode: {plan.action} refused (started with --readonly)"
            self._audit(plan, "refused", message, after={})
            raise ActionError(EXIT_FAILED, message)
        try:
            await self._send_object(plan, dry_run=False)
        except KubeError as exc:
            error = self._object_error(exc, {"delete": "delete", "edit": "update"}.get(plan.action, "patch"), plan)
            self._audit(plan, "applied", error.message, after={})
            raise error from None
        self._audit(plan, "applied", "ok")
        word = {"delete": "deleted", "edit": "edited", "cordon": "cordoned", "uncordon": "uncordoned"}[plan.action]
        return f"{plan.kind.lower()} {plan.name!r} {word}"
