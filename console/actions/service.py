"""Safe, audited changes to Deployments and HPAs: the one implementation behind the TUI keys and the
headless ``llmctl scale / rollout / hpa`` commands.

Every action goes plan → confirm → apply:

1. ``plan_*`` validates the input first (nothing is sent on bad input), reads the target, runs the
   GPU preflight where it matters, sends the change with ``dryRun=All``, and returns an
   :class:`ActionPlan` with the diff of the live object against the server's dry-run answer, the
   equivalent kubectl command, warnings and alternatives. The dry-run is audited.
2. :meth:`Actions.apply` sends the same change guarded by the resourceVersion it was planned on; a
   409 Conflict is retried once, rebuilt from a fresh read. Every outcome is audited.
3. :meth:`Actions.follow` watches the rollout until kubectl would call it done or failed.

Errors are :class:`ActionError` (code 2 invalid input, 1 refused/forbidden/failed, 3 rollout failed).
Credentials stay inside the kubernetes client: nothing here logs or prints a token.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Protocol

from console.actions import plan as ap
from console.actions.drain import NodeDrain
from console.actions.objects import OBJECT_ACTIONS, ObjectChanges
from console.actions.reads import KIND_WORD
from console.actions.resources import parse_resources
from console.actions.validate import (
    EXIT_FAILED,
    EXIT_USAGE,
    ActionError,
    parse_hpa,
    parse_replicas,
    parse_revision,
    pick_container,
    split_image_spec,
)
from console.audit import AuditError, AuditLog, rfc3339_now
from console.compat.checker import CompatChecker
from console.compat.matrix import CompatGate
from console.core.model import ActionPlan, ActionResult, Preflight, Revision, RolloutVerdict, ScaleHold
from console.core.rollout import (
    equal_ignore_hash,
    preflight_rollout,
    preflight_scale,
    resolve_surge,
    revision_of,
    surge_alternative,
    template_without_hash,
)
from console.kube.errors import KubeError, KubeTarget
from console.kube.pods import pod_tombstone
from console.kube.transport import KubeTransport, connect_target

if TYPE_CHECKING:
    from console.kube.discovery import Resource

REPLACES_PODS = ("restart", "set-image", "undo", "scale", "resources")  # changes after which pods may be gone
MAX_REPLACED = 20  # pods whose failures one audit entry keeps


class ActionsService(Protocol):
    """What the console asks of the actions service (implemented by :class:`Actions`)."""

    transport: KubeTransport  # the connection (the compatibility check reads through it too)
    target: KubeTarget  # which cluster, user and default namespace

    async def status(self, namespace: str, name: str) -> RolloutVerdict: ...
    async def history(self, namespace: str, name: str) -> list[Revision]: ...
    async def scale_held(self, namespace: str, name: str, wanted: int) -> ScaleHold: ...
    def refuse_if_blocked(self, plan: ActionPlan, force: bool = False) -> None: ...

    async def can_i(self, verb: str, resource: str, namespace: str, group: str = "",
                    subresource: str = "") -> bool: ...
    async def plan_scale(self, namespace: str, name: str, replicas: int | str) -> ActionPlan: ...
    async def plan_set_image(self, namespace: str, name: str, image_spec: str, *,
                             alternative: str | None = None) -> ActionPlan: ...
    async def plan_undo(self, namespace: str, name: str, to_revision: int | str | None = None) -> ActionPlan: ...
    async def plan_pause(self, namespace: str, name: str) -> ActionPlan: ...
    async def plan_resources(self, namespace: str, name: str, container: str | None,
                             values: dict[str, str]) -> ActionPlan: ...
    async def plan_resume(self, namespace: str, name: str) -> ActionPlan: ...
    async def plan_restart(self, namespace: str, name: str) -> ActionPlan: ...
    async def plan_hpa(self, namespace: str, name: str, min_replicas: int | str | None,
                       max_replicas: int | str | None, cpu_percent: int | str | None = None) -> ActionPlan: ...
    async def plan_alternative(self, plan: ActionPlan, alternative_id: str) -> ActionPlan: ...
    async def read_object(self, resource: Resource, namespace: str, name: str) -> dict[str, Any]: ...
    async def plan_delete(self, resource: Resource, namespace: str, name: str) -> ActionPlan: ...
    async def plan_edit(self, resource: Resource, live: dict[str, Any], text: str) -> ActionPlan: ...
    async def plan_cordon(self, node: str, cordon: bool) -> ActionPlan: ...
    async def plan_drain(self, node: str) -> ActionPlan: ...
    async def apply(self, plan: ActionPlan, force: bool = False) -> ActionResult: ...
    async def follow(self, namespace: str, name: str, timeout: float,
                     on_update: Callable[[RolloutVerdict], None] | None = None) -> RolloutVerdict: ...
    async def close(self) -> None: ...


class Actions(ObjectChanges, NodeDrain):
    """Plans, applies and follows changes for one kube context (see the module docstring)."""

    def __init__(self, transport: KubeTransport, target: KubeTarget, audit: AuditLog, readonly: bool = False) -> None:
        super().__init__(transport, target)
        self.audit = audit
        self.readonly = readonly
        self.images: Any = None  # image facts source for the set-image compat gate (None: registry HTTP API v2)

    @classmethod
    async def connect(cls, kubeconfig: str | None, context: str | None, audit: AuditLog,
                      readonly: bool = False) -> Actions:
        """Load the kubeconfig (no request is sent yet)."""
        try:
            target, transport = await connect_target(kubeconfig, context)
        except KubeError as exc:
            raise ActionError(EXIT_FAILED, exc.message) from None
        return cls(transport, target, audit, readonly)

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.transport.close()

    # ---- audit ----------------------------------------------------------------------------------------
    def _audit(self, plan: ActionPlan, mode: str, result: str, after: Mapping[str, Any] | None = None,
               **extra: Any) -> None:
        entry = {"context": self.target.context, "user": self.target.user, "server": self.target.server,
                 "action": plan.action, "target": f"{plan.namespace}/{plan.kind}/{plan.name}",
                 "before": plan.before, "after": plan.after if after is None else after,
                 "mode": mode, "result": result, "kubectl": plan.kubectl, **extra}
        try:
            self.audit.append(entry)
        except AuditError as exc:
            raise ActionError(EXIT_FAILED, str(exc)) from None

    # ---- planning -----------------------------------------------------------------------------------
    async def _send(self, request: Mapping[str, Any], dry_run: bool) -> dict[str, Any]:
        query = [("dryRun", "All")] if dry_run else []
        return await self.transport.request("PATCH", request["path"], query, body=request["body"],
                                            content_type=request["content_type"])

    async def _plan(self, intent: dict[str, Any], live: dict[str, Any], kind: str, *, warnings: tuple[str, ...] = (),
                    preflight: Preflight | None = None, alternatives: tuple[tuple[str, str], ...] = (),
                    extra: Mapping[str, Any] | None = None, compat: CompatGate | None = None,
                    fresh: bool = False) -> ActionPlan:
        """Build the request, dry-run it, and return the audited plan. A 409 on the dry-run (a controller wrote
        the object since it was read, as the HPA controller does to its status) is planned once more on a fresh
        read, as :meth:`apply` does."""
        ns, name, action = live["metadata"].get("namespace", ""), live["metadata"]["name"], intent["action"]
        request = ap.build_request(intent, live)
        hpa_spec = request["body"].get("spec") if action == "hpa" else None
        before = ap.changed_fields(action, live)
        if action == "undo":
            before["revision"] = revision_of(live)  # the revision whose template is live now
        plan = ActionPlan(action=action, namespace=ns, name=name, kind=kind,
                          kubectl=ap.kubectl_command(intent, ns, name, self.target.context, hpa_spec),
                          diff="", before=before, after={}, warnings=warnings, preflight=preflight,
                          alternatives=alternatives, request={**request, "intent": intent, **(extra or {})},
                          compat=compat)
        try:
            answer = await self._send(request, dry_run=True)
        except KubeError as exc:
            if exc.code == 409 and not fresh:
                return await self._plan(intent, await self._read(kind, ns, name), kind, warnings=warnings,
                                        preflight=preflight, alternatives=alternatives, extra=extra, compat=compat,
                                        fresh=True)
            error = self._error(exc, "patch", request["resource"], ns, kind, name)
            self._audit(plan, "dry-run", error.message)
            raise error from None
        would = ap.would_be(action, live, answer)
        after = ap.fields_after(intent, would)
        diff = ap.unified_diff(live, would, f"{kind.lower()}/{name}") or "(no change)\n"
        plan = replace(plan, diff=diff, after=after)
        self._audit(plan, "dry-run", "ok")
        return plan

    async def plan_scale(self, namespace: str, name: str, replicas: int | str) -> ActionPlan:
        """Scale through the scale subresource; warn when an HPA owns the replica count."""
        count = parse_replicas(replicas)
        live = await self._read("Deployment", namespace, name)
        warnings, alternatives, extra = [], [], {}
        hpa = await self._hpa_for(namespace, name, warnings)
        if hpa is not None:
            spec = hpa.get("spec") or {}
            hpa_name, low, high = hpa["metadata"]["name"], spec.get("minReplicas", 1), spec.get("maxReplicas")
            warnings.append(f"HorizontalPodAutoscaler {hpa_name} manages this Deployment (min {low}, max {high}): "
                            "it will override a manual scale")
            if count >= 1:
                also = f" (and maxReplicas to {count})" if high is not None and count > high else ""
                alternatives.append(("hpa-min", f"Set {hpa_name}'s minReplicas to {count}{also} instead"))
            extra = {"hpa": hpa_name, "hpa_max": high}
        preflight = await self._preflight(lambda nodes, pods: preflight_scale(live, count, nodes, pods),
                                          max(count - ap.replicas_of(live), 0) * ap.gpus_per_replica(live))
        return await self._plan({"action": "scale", "replicas": count}, live, "Deployment",
                                warnings=tuple(warnings), preflight=preflight, alternatives=tuple(alternatives),
                                extra=extra)

    async def _hpa_for(self, namespace: str, name: str, warnings: list[str]) -> dict[str, Any] | None:
        """The HPA whose scaleTargetRef is this Deployment, if any (a forbidden list becomes a warning)."""
        try:
            return next(iter(await self.hpas_of(namespace, name)), None)
        except KubeError as exc:
            if exc.code == 403:
                warnings.append(f"could not check for a HorizontalPodAutoscaler: no permission to list "
                                f"horizontalpodautoscalers in {namespace}")
            elif exc.code != 404:
                warnings.append(f"could not check for a HorizontalPodAutoscaler: {exc.message}")
            return None

    async def plan_set_image(self, namespace: str, name: str, image_spec: str, *,
                             alternative: str | None = None) -> ActionPlan:
        """A rolling update to a new image, with the GPU preflight for its surge pods."""
        wanted, image = split_image_spec(image_spec)
        if alternative not in (None, "surge-0"):
            raise ActionError(EXIT_USAGE, f"unknown alternative {alternative!r} for set-image (offered: surge-0)")
        live = await self._read("Deployment", namespace, name)
        container = pick_container(ap.container_names(live), wanted, name)
        # Driver/architecture compatibility of the new image on the nodes the pods can land on: FAIL blocks apply.
        compat = await CompatChecker(self.transport, self.images).gate(live, container, image)
        intent = {"action": "set-image", "container": container, "image": image, "surge0": alternative == "surge-0"}
        return await self._plan_rolling(intent, live, live, compat=compat)

    async def _plan_rolling(self, intent: dict[str, Any], live: dict[str, Any], rolled: dict[str, Any], *,
                            compat: CompatGate | None = None) -> ActionPlan:
        """Plan a change that starts a rolling update to ``rolled`` (the Deployment as it will be): the GPU
        preflight for its surge pods, and the surge-0 alternative when they cannot be placed."""
        surge0 = bool(intent.get("surge0"))
        checked = ap.with_surge_zero(rolled) if surge0 else rolled
        replicas = ap.replicas_of(live)
        surge = resolve_surge((checked.get("spec") or {}).get("strategy"), replicas)[0]
        preflight = await self._preflight(lambda nodes, pods: preflight_rollout(checked, nodes, pods),
                                          surge * ap.gpus_per_replica(checked))
        alternatives: tuple[tuple[str, str], ...] = ()
        if not preflight.ok:
            alternatives = (("surge-0", preflight.alternative or surge_alternative(replicas)),)
        warnings: tuple[str, ...] = ()
        if surge0:
            was = resolve_surge((live.get("spec") or {}).get("strategy"), replicas)
            warnings = (f"the Deployment keeps maxSurge 0 / maxUnavailable 1 after this rollout (was maxSurge "
                        f"{was[0]} / maxUnavailable {was[1]}); 1 of {replicas} replicas is not serving while "
                        "each pod is replaced",)
        if compat is not None:
            warnings = (*warnings, *(line for line in compat.lines() if not line.startswith("FAIL")))
        return await self._plan(intent, live, "Deployment", warnings=warnings, preflight=preflight,
                                alternatives=alternatives, compat=compat)

    async def plan_undo(self, namespace: str, name: str, to_revision: int | str | None = None) -> ActionPlan:
        """Put an older revision's pod template back (kubectl rollout undo); None: the previous one."""
        wanted = parse_revision(to_revision)
        live = await self._read("Deployment", namespace, name)
        rss = await self._replicasets(live)
        by_rev = {rev: rs for rs in rss if (rev := revision_of(rs)) is not None}
        if wanted is None:
            older = sorted(by_rev)[:-1]
            if not older:
                raise ActionError(EXIT_FAILED, f'no rollout history found for deployment "{name}"')
            wanted = older[-1]
        if wanted not in by_rev:
            known = ", ".join(str(r) for r in sorted(by_rev)) or "none"
            raise ActionError(EXIT_USAGE, f"revision {wanted} not found; revisions: {known}")
        rs = by_rev[wanted]
        intent = {"action": "undo", "revision": wanted,
                  "template": template_without_hash((rs.get("spec") or {}).get("template") or {}),
                  "annotations": (rs.get("metadata") or {}).get("annotations") or {}}
        return await self._plan_rolling(intent, live, ap.with_template(live, intent["template"]))

    async def plan_resources(self, namespace: str, name: str, container: str | None,
                             values: dict[str, str]) -> ActionPlan:
        """Requests and limits of one container (memory, CPU, GPUs): validated (memory limit ≥ request + 2Gi),
        then a rolling update with the GPU preflight of the pods as they will be."""
        live = await self._read("Deployment", namespace, name)
        chosen = pick_container(ap.container_names(live), container, name)
        spec = ((live.get("spec") or {}).get("template") or {}).get("spec") or {}
        current = next((c.get("resources") or {} for c in spec.get("containers") or [] if c.get("name") == chosen), {})
        wanted = parse_resources(values, current)
        if wanted == {"requests": dict(current.get("requests") or {}), "limits": dict(current.get("limits") or {})}:
            raise ActionError(EXIT_USAGE, f'container "{chosen}" already has these resources: nothing to change')
        intent = {"action": "resources", "container": chosen, "resources": wanted}
        rolled = copy.deepcopy(live)
        for c in rolled["spec"]["template"]["spec"]["containers"]:
            if c.get("name") == chosen:
                c["resources"] = wanted
        return await self._plan_rolling(intent, live, rolled)

    async def plan_pause(self, namespace: str, name: str) -> ActionPlan:
        return await self._plan({"action": "pause"}, await self._read("Deployment", namespace, name), "Deployment")

    async def plan_resume(self, namespace: str, name: str) -> ActionPlan:
        """Resume a paused rollout: when the template changed while paused, a rolling update starts (with
        its GPU preflight); otherwise nothing new is scheduled."""
        live = await self._read("Deployment", namespace, name)
        if await self._template_pending(live):
            return await self._plan_rolling({"action": "resume"}, live, live)
        idle = Preflight(0, None, True, "resuming starts no rollout: the template did not change while paused")
        return await self._plan({"action": "resume"}, live, "Deployment", preflight=idle)

    async def _template_pending(self, live: dict[str, Any]) -> bool:
        """Whether the Deployment's template differs from its newest ReplicaSet's (a rollout is due)."""
        rss = sorted(await self._replicasets(live), key=lambda rs: revision_of(rs) or 0)
        newest = ((rss[-1].get("spec") or {}).get("template") or {}) if rss else None
        return newest is None or not equal_ignore_hash(newest, (live.get("spec") or {}).get("template") or {})

    async def plan_restart(self, namespace: str, name: str) -> ActionPlan:
        """Restart every pod by a rolling update (template annotation restartedAt = now), GPU preflight first."""
        live = await self._read("Deployment", namespace, name)
        return await self._plan_rolling({"action": "restart", "at": rfc3339_now()}, live, live)

    async def plan_hpa(self, namespace: str, name: str, min_replicas: int | str | None,
                       max_replicas: int | str | None, cpu_target: int | str | None = None) -> ActionPlan:
        """Edit an autoscaling/v2 HPA: min/max replicas (None keeps), CPU target percent."""
        low, high, cpu = parse_hpa(min_replicas, max_replicas, cpu_target)
        live = await self._read("HorizontalPodAutoscaler", namespace, name)
        intent = {"action": "hpa", "min": low, "max": high, "cpu": cpu}
        return await self._plan(intent, live, "HorizontalPodAutoscaler", preflight=await self._hpa_preflight(live, low))

    async def _hpa_preflight(self, hpa: dict[str, Any], low: int | None) -> Preflight | None:
        """A minReplicas above the target's replicas makes the HPA scale it up at once: the scale's preflight."""
        ref = (hpa.get("spec") or {}).get("scaleTargetRef") or {}
        if low is None or ref.get("kind") != "Deployment":
            return None
        target = await self._read("Deployment", hpa["metadata"].get("namespace", ""), ref.get("name", ""))
        if low <= ap.replicas_of(target):
            return None
        return await self._preflight(lambda nodes, pods: preflight_scale(target, low, nodes, pods),
                                     (low - ap.replicas_of(target)) * ap.gpus_per_replica(target))

    async def plan_alternative(self, plan: ActionPlan, alternative_id: str) -> ActionPlan:
        """The plan for an alternative the first plan offered ("hpa-min" or "surge-0")."""
        offered = [a for a, _ in plan.alternatives]
        if alternative_id not in offered:
            raise ActionError(EXIT_USAGE, f"alternative {alternative_id!r} is not offered for this {plan.action}"
                                          f" (offered: {', '.join(offered) or 'none'})")
        intent = plan.request["intent"]
        assert isinstance(intent, dict)
        if alternative_id == "hpa-min":
            count, high = intent["replicas"], plan.request.get("hpa_max")
            raise_max = count if isinstance(high, int) and count > high else None
            return await self.plan_hpa(plan.namespace, str(plan.request["hpa"]), count, raise_max)
        if plan.action == "set-image":
            return await self.plan_set_image(plan.namespace, plan.name, f"{intent['container']}={intent['image']}",
                                             alternative="surge-0")
        live = await self._read("Deployment", plan.namespace, plan.name)  # restart, undo, resume
        rolled = ap.with_template(live, intent["template"]) if plan.action == "undo" else live
        return await self._plan_rolling({**intent, "surge0": True}, live, rolled)

    # ---- applying -----------------------------------------------------------------------------------
    def refuse_if_blocked(self, plan: ActionPlan, force: bool = False) -> None:
        """A set-image whose compat gate FAILs is refused (audited) unless ``force``."""
        gate = plan.compat
        if isinstance(gate, CompatGate) and gate.blocked and not force:
            message = (f"refused: {gate.image} cannot run on the nodes deployment/{plan.name} schedules on — "
                       f"{gate.summary}; nothing was changed (rerun with --force to roll out anyway)")
            self._audit(plan, "refused", message, after={}, compat=gate.summary)
            raise ActionError(EXIT_FAILED, message)

    async def apply(self, plan: ActionPlan, force: bool = False) -> ActionResult:
        """Send the planned change (guarded by its resourceVersion); retry a 409 once on a fresh read.
        A set-image the compat gate FAILs is refused unless ``force``. A delete or an edit
        (:mod:`console.actions.objects`) is sent as planned: a conflict there is the user's to resolve."""
        if plan.action == "drain":
            return ActionResult(plan, True, await self.apply_drain(plan))
        if plan.action in OBJECT_ACTIONS:
            return ActionResult(plan, True, await self.apply_object(plan))
        self.refuse_if_blocked(plan, force)
        if self.readonly:
            message = f"read-only mode: {plan.action} refused (started with --readonly)"
            self._audit(plan, "refused", message, after={})
            raise ActionError(EXIT_FAILED, message)
        request, retried = dict(plan.request), False
        replaced = await self._failed_pods(plan) if plan.action in REPLACES_PODS else []
        try:
            answer = await self._send(request, dry_run=False)
        except KubeError as exc:
            if exc.code != 409:
                raise self._fail(plan, exc, request) from None
            retried = True
            answer = await self._retry(plan)
        message = ap.success_message(plan.action, plan.name, plan.request["intent"])  # type: ignore[arg-type]
        after = ap.fields_after(plan.request["intent"], answer)  # type: ignore[arg-type]
        forced = {"forced": plan.compat.summary} if isinstance(plan.compat, CompatGate) and plan.compat.blocked else {}
        kept = {"replaced": replaced} if replaced else {}
        self._audit(plan, "applied", "ok", after=after, retried=retried, **forced, **kept)
        return ActionResult(plan, True, message, retried)

    async def _failed_pods(self, plan: ActionPlan) -> list[dict[str, Any]]:
        """The Deployment's pods with an OOMKilled or failed container, kept in the audit entry of a change
        that replaces them: once they are gone it is the only record of what was wrong (the incident view
        and snapshot read it). Best effort: an unreadable list keeps nothing."""
        try:
            live = await self._read(plan.kind, plan.namespace, plan.name)
            pods = await self._deployment_pods(live)
        except (ActionError, KubeError):
            return []
        return [t for p in pods if (t := pod_tombstone(p)) is not None][:MAX_REPLACED]

    def _fail(self, plan: ActionPlan, exc: KubeError, request: Mapping[str, Any], retried: bool = False
              ) -> ActionError:
        error = self._error(exc, "patch", str(request["resource"]), plan.namespace, plan.kind, plan.name)
        self._audit(plan, "applied", error.message, after={}, retried=retried)
        return error

    async def _retry(self, plan: ActionPlan) -> dict[str, Any]:
        """After a 409: re-read, rebuild the same intent on the fresh object, send once more."""
        try:
            fresh = await self._read(plan.kind, plan.namespace, plan.name)
            request = ap.build_request(plan.request["intent"], fresh)  # type: ignore[arg-type]
        except ActionError as exc:
            self._audit(plan, "applied", exc.message, after={}, retried=True)
            raise
        try:
            return await self._send(request, dry_run=False)
        except KubeError as exc:
            if exc.code == 409:
                message = (f'conflict: {KIND_WORD.get(plan.kind, plan.kind)} "{plan.name}" changed twice while '
                           "applying; nothing applied, try again")
                self._audit(plan, "applied", message, after={}, retried=True)
                raise ActionError(EXIT_FAILED, message) from None
            raise self._fail(plan, exc, request, retried=True) from None

