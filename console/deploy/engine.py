"""The first-deployment engine: explicit steps that ``llmctl deploy`` runs in a row and a wizard drives one
at a time (showing each result, going back, resuming later).

Steps (:data:`STEPS`), each a method of :class:`DeployEngine` returning a frozen report:

1. ``preflight(values)`` → :class:`PreflightReport`: the cluster answers and is ≥ 1.25; the user may create
   and patch every kind to be applied (SelfSubjectAccessReview); every kind is served (the Prometheus
   Operator's CRDs for the monitoring objects); GPU nodes accept the pods and enough GPUs are free; the
   NVIDIA device plugin DaemonSet is ready; the image is compatible with those nodes' drivers and GPUs.
2. ``render(values)`` → :class:`~console.deploy.render.Rendered` (no I/O).
3. ``diff(rendered)`` → :class:`DeployPlan`: per object new / changed (with a unified diff of the fields
   we set) / unchanged (/ kept, for an existing claim whose spec cannot change).
4. ``dry_run(plan)`` → :class:`ApplyReport`: every change sent with ``dryRun=All``; changes nothing.
5. ``apply(plan)`` → :class:`ApplyReport`: server-side apply, field manager ``llmctl`` (the objects'
   ``managedFields`` say which fields llmctl owns; ``kubectl apply --server-side --field-manager=llmctl`` of
   the written files is the same operation). A new namespace is created first (a server dry-run of objects in a
   namespace that does not exist cannot pass admission), then *every* change is dry-run, and only if all
   pass are they applied, in dependency order (Namespace, PVC, Service, Deployment, HPA, monitoring).
   If an apply still fails, or the step is cancelled (quitting midway), the objects this run created are
   deleted again. Every dry-run, apply, refusal and rollback is audited.
6. ``watch(rendered)`` → :class:`RolloutReport`: kubectl's rollout verdict per Deployment, the pods with
   their status, FailedScheduling reasons and cold-start times (creation to Ready).
7. ``verify(rendered)`` → :class:`VerifyReport`: pods Ready, metrics arriving (Prometheus or the sandbox's
   source), the alert rule groups loaded in Prometheus.

Idempotent: a deployment that matches its values diffs as unchanged and ``apply`` sends nothing.
:class:`~console.deploy.progress.ProgressStore` keeps a resumable progress file (the values, the
steps done) per context/namespace/name under the state dir, for the wizard.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from console.actions.reads import ClusterReads
from console.actions.validate import EXIT_FAILED, EXIT_USAGE
from console.audit import AuditError, AuditLog
from console.compat.resolve import read_local_registry
from console.deploy import diff as dd
from console.deploy.checks import (
    Check,
    Status,
    cluster_checks,
    compat_checks,
    gpu_checks,
    node_facts,
    read_cluster_facts,
)
from console.deploy.progress import STEPS, DeployProgress, ProgressStore
from console.deploy.render import CONTAINER, Rendered, RenderedObject, render
from console.deploy.reports import (
    ApplyReport,
    DeployError,
    DeployPlan,
    ObjectPlan,
    ObjectResult,
    PodReport,
    PreflightReport,
    RolloutReport,
    VerifyReport,
    exit_code,
)
from console.deploy.values.derived import ClusterFacts
from console.deploy.values.nodes import NodeFacts
from console.deploy.values.schema import Values
from console.deploy.watch import RolloutSteps
from console.kube.errors import KubeError, KubeTarget
from console.kube.transport import KubeTransport, connect_target

FIELD_MANAGER = "llmctl"
# What the engine's apply is, as a kubectl command line (printed and audited as the equivalent).
KUBECTL_APPLY = f"kubectl apply --server-side --field-manager={FIELD_MANAGER} --force-conflicts"

__all__ = [
    "STEPS", "ApplyReport", "Check", "DeployEngine", "DeployError", "DeployPlan", "DeployProgress", "ObjectPlan",
    "ObjectResult", "PodReport", "PreflightReport", "ProgressStore", "RolloutReport", "Status", "VerifyReport",
    "exit_code",
]

# ---- the engine -----------------------------------------------------------------------------------------
MetricsReader = Callable[[str], Any]  # namespace → MetricsResult[tuple[ServingStats, ...]]
RulesReader = Callable[[], Mapping[str, Any]]  # → Prometheus /api/v1/rules answer


class DeployEngine(RolloutSteps, ClusterReads):
    """The deploy steps for one kube context (see the module docstring)."""

    def __init__(self, transport: KubeTransport, target: KubeTarget, audit: AuditLog, *, readonly: bool = False,
                 metrics: Any = None, rules: RulesReader | None = None, manifest_dir: str | Path | None = None
                 ) -> None:
        super().__init__(transport, target)
        self.audit = audit
        self.readonly = readonly
        self.metrics = metrics  # a console.metrics.service.MetricsService, or None
        self.rules = rules
        self.manifest_dir = Path(manifest_dir) if manifest_dir else None
        self._fresh: dict[str, dict[str, Any]] = {}  # ref → the live object re-read after a 409
        self.cluster: ClusterFacts | None = None  # what the last preflight read that changes the manifests

    @classmethod
    async def connect(cls, kubeconfig: str | None, context: str | None, audit: AuditLog, **kwargs: Any
                      ) -> DeployEngine:
        """Load the kubeconfig (no request is sent yet)."""
        try:
            target, transport = await connect_target(kubeconfig, context)
        except KubeError as exc:
            raise DeployError(EXIT_FAILED, exc.message) from None
        return cls(transport, target, audit, **kwargs)

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.transport.close()

    def render(self, values: Values) -> Rendered:
        """The manifests, with what the last preflight read of the cluster (StorageClass, kinds served)."""
        return render(values, self.cluster)

    # ---- preflight ------------------------------------------------------------------------------------
    async def preflight(self, values: Values, rendered: Rendered | None = None) -> PreflightReport:
        try:
            version = await self.transport.get("/version")
        except KubeError as exc:
            why = exc.message if exc.unreachable else f"{exc.code} {exc.message}"
            return PreflightReport((Check("cluster", Status.FAIL, f"cannot reach the API server "
                                          f"{self.target.server or ''}: {why}".replace("  ", " "),
                                          "check the kubeconfig, context and network"),))
        checks = [Check("cluster", Status.OK, f"{self.target.server or 'API server'} answers "
                        f"({version.get('gitVersion', '?')}), context {self.target.context}, user "
                        f"{self.target.user or '?'}")]
        try:
            self.cluster = await read_cluster_facts(self.transport, values)
            checks += cluster_checks(values, self.cluster)
        except KubeError as exc:
            checks.append(Check("cluster-facts", Status.WARN, f"could not be read: {exc.message}"))
        rendered = rendered or render(values, self.cluster)
        checks += await self._served_checks(rendered)
        checks += await self._permission_checks(rendered)
        nodes = await self._try_list("/api/v1/nodes", "nodes", checks)
        pods = await self._try_list("/api/v1/pods", "pods", checks, [("fieldSelector",
                                                                    "status.phase!=Succeeded,status.phase!=Failed")])
        facts = NodeFacts()
        if nodes is not None:
            facts = node_facts(values, nodes)
            if pods is not None:
                checks += gpu_checks(values, nodes, pods)
            else:
                checks += [c for c in gpu_checks(values, nodes, []) if c.name != "gpu-capacity"]
        registry = await read_local_registry(self.transport)
        deployment = rendered.by_kind("Deployment")[0].body
        try:
            checks += await compat_checks(self.transport, values, deployment, CONTAINER, registry)
        except KubeError as exc:
            checks.append(Check("image-compatibility", Status.WARN, f"could not be checked: {exc.message}"))
        if not values.storage.create:
            checks.append(await self._claim_check(values))
        return PreflightReport(tuple(checks), facts, registry.host if registry else None)

    async def _try_list(self, path: str, what: str, checks: list[Check],
                        query: list[tuple[str, Any]] | None = None) -> list[dict[str, Any]] | None:
        try:
            return await self._list(path, query)
        except KubeError as exc:
            reason = f"no permission to list {what} cluster-wide" if exc.code == 403 else exc.message
            checks.append(Check(f"{what}-readable", Status.WARN, f"{reason}: GPU checks for {what} skipped"))
            return None

    async def _served_checks(self, rendered: Rendered) -> list[Check]:
        """Every kind to apply is served (discovery): the monitoring CRDs are the usual gap."""
        out, missing = [], []
        for api in sorted({o.info.api_version for o in rendered.objects}):
            path = f"/apis/{api}" if "/" in api else f"/api/{api}"
            try:
                doc = await self.transport.get(path)
                served = {r.get("name") for r in doc.get("resources") or []}
            except KubeError as exc:
                if exc.code != 404:
                    out.append(Check("api-resources", Status.WARN, f"could not read {path}: {exc.message}"))
                    continue
                served = set()
            missing += [o for o in rendered.objects if o.info.api_version == api and o.info.plural not in served]
        kinds = sorted({f"{o.kind} ({o.info.api_version})" for o in missing})
        if kinds:
            monitoring = any(o.group == "monitoring.coreos.com" for o in missing)
            fix = ("install the Prometheus Operator (its CRDs), or set monitoring.serviceMonitor and "
                   "monitoring.prometheusRule to false" if monitoring else "")
            out.append(Check("api-resources", Status.FAIL, f"the cluster does not serve {', '.join(kinds)}", fix))
        else:
            out.append(Check("api-resources", Status.OK, "every kind to apply is served"))
        return out

    async def _permission_checks(self, rendered: Rendered) -> list[Check]:
        """SelfSubjectAccessReview: create (and patch) for every kind to apply in the namespace."""
        ns = rendered.values.namespace
        denied: list[str] = []
        try:
            ns_exists = await self._exists(f"/api/v1/namespaces/{ns}")
            questions: list[tuple[str, str, str, str]] = []
            for o in rendered.objects:
                if o.kind == "Namespace":
                    if not ns_exists:
                        questions.append(("create", "namespaces", "", ""))
                    continue
                questions += [("create", o.info.plural, ns, o.group), ("patch", o.info.plural, ns, o.group)]
            for verb, resource, namespace, group in dict.fromkeys(questions):
                if not await self.can_i(verb, resource, namespace, group):
                    word = f"{resource}.{group}" if group else resource
                    denied.append(f"{verb} {word}")
        except Exception as exc:  # ActionError from can_i (unreachable), KubeError from _exists
            return [Check("permissions", Status.WARN, f"could not be checked: {getattr(exc, 'message', exc)}")]
        if denied:
            where = f'in namespace "{ns}"'
            return [Check("permissions", Status.FAIL, f"user {self.target.user or '?'} may not "
                          f"{', '.join(denied)} {where}", "ask for a Role that allows them (kubectl auth can-i "
                          f"--list -n {ns}), or use another context")]
        return [Check("permissions", Status.OK, f"may create and patch every kind to apply in namespace {ns}")]

    async def _exists(self, path: str) -> bool:
        try:
            await self.transport.get(path)
            return True
        except KubeError as exc:
            if exc.code == 404:
                return False
            if exc.code == 403:
                return True  # cannot tell; do not ask to create it
            raise

    async def _claim_check(self, values: Values) -> Check:
        claim = values.storage.claim_name
        try:
            live = await self.transport.get(f"/api/v1/namespaces/{values.namespace}/persistentvolumeclaims/{claim}")
        except KubeError as exc:
            if exc.code == 404:
                return Check("model-volume", Status.FAIL, f'storage.claimName "{claim}" does not exist in namespace '
                             f'"{values.namespace}" (storage.create is false)', "create the claim, or set "
                             "storage.create: true")
            return Check("model-volume", Status.WARN, f"could not read claim {claim}: {exc.message}")
        phase = (live.get("status") or {}).get("phase", "?")
        return Check("model-volume", Status.OK if phase == "Bound" else Status.WARN, f"claim {claim} is {phase}")

    # ---- diff -----------------------------------------------------------------------------------------
    @staticmethod
    def ignored_fields(obj: RenderedObject, values: Values) -> tuple[tuple[str, ...], ...]:
        """Fields another controller owns once the object exists: replicas of an HPA-managed Deployment."""
        if obj.kind == "Deployment" and values.autoscaling.enabled and obj.name != f"{values.name}-router":
            return (("spec", "replicas"),)
        return ()

    async def diff(self, rendered: Rendered) -> DeployPlan:
        self._fresh.clear()
        plans = []
        for obj in rendered.objects:
            try:
                live = await self.transport.get(obj.path())
            except KubeError as exc:
                if exc.code == 403:  # e.g. a ServiceMonitor a `view` user may not read: the dry-run will say more
                    plans.append(ObjectPlan(obj, "new", dd.unified_diff(None, obj.body, obj.ref),
                                            note=f"cannot read {obj.ref} (forbidden): planned as new"))
                    continue
                if exc.code != 404:
                    raise self._deploy_error(exc, "get", obj) from None
                live = None
            plans.append(self._compare(obj, live, rendered.values))
        return DeployPlan(rendered.values.namespace, tuple(plans))

    def _compare(self, obj: RenderedObject, live: dict[str, Any] | None, values: Values) -> ObjectPlan:
        if live is None:
            return ObjectPlan(obj, "new", dd.unified_diff(None, obj.body, obj.ref))
        ignored = self.ignored_fields(obj, values)
        if dd.is_unchanged(live, obj.body, ignored):
            return ObjectPlan(obj, "unchanged", live=live, ignored=ignored)
        want = dd.comparable(obj.body, ignored)
        changed = tuple(dd.changed_paths(dd.comparable(dd.project(live, want), ignored), want))
        diff = dd.unified_diff(live, obj.body, obj.ref, ignored)
        if obj.kind == "PersistentVolumeClaim":
            return ObjectPlan(obj, "kept", diff, changed, f"claim {obj.name} exists with other settings "
                              f"({', '.join(changed)}): left as it is — a claim's spec cannot change after it is "
                              "created", live=live, ignored=ignored)
        labels = (live.get("metadata") or {}).get("labels") or {}
        note = "" if labels.get("app.kubernetes.io/managed-by") == "llmctl" else \
            f"{obj.ref} exists and was not created by llmctl: applying takes it over"
        return ObjectPlan(obj, "changed", diff, changed, note, live=live, ignored=ignored)

    # ---- dry-run and apply ----------------------------------------------------------------------------
    async def _send(self, op: ObjectPlan, dry_run: bool) -> dict[str, Any]:
        """Server-side apply as field manager ``llmctl``, taking over fields another manager set (the plan
        showed them; confirming it is the intent). A changed object's apply carries the resourceVersion the
        diff saw: a concurrent write answers 409 Conflict instead of being overwritten."""
        query = [("fieldManager", FIELD_MANAGER), ("force", "true")] + ([("dryRun", "All")] if dry_run else [])
        if op.state == "new":
            return await self._apply_config(op, query, None)
        live = self._fresh.get(op.ref, op.live)
        assert live is not None
        try:
            return await self._apply_config(op, query, live)
        except KubeError as exc:
            if exc.code != 409:
                raise
        # A controller wrote the object since the diff (an HPA's or a Deployment's status does, often): the
        # apply sets the same fields whatever the live object, so it is sent again on a fresh read, once.
        live = self._fresh[op.ref] = await self.transport.get(op.obj.path())
        return await self._apply_config(op, query, live)

    async def _apply_config(self, op: ObjectPlan, query: list[tuple[str, str]], live: dict[str, Any] | None
                            ) -> dict[str, Any]:
        return await self.transport.request("PATCH", op.obj.path(), query, content_type=dd.APPLY_PATCH,
                                            body=dd.apply_config(op.obj.body, live, op.ignored))

    def _deploy_error(self, exc: KubeError, verb: str, obj: RenderedObject) -> DeployError:
        return DeployError(EXIT_USAGE if exc.code == 422 else EXIT_FAILED, self._reason(exc, verb, obj))

    def _reason(self, exc: KubeError, verb: str, obj: RenderedObject) -> str:
        ns = obj.namespace or obj.name
        if exc.unreachable:
            return exc.message if exc.message.startswith("cannot reach") else f"cannot reach the API server: {exc}"
        if exc.code == 403:
            word = f"{obj.info.plural}.{obj.group}" if obj.group else obj.info.plural
            return f'forbidden: cannot {verb} {word} in namespace "{ns}" (user {self.target.user or "unknown"})'
        if exc.code == 409 and verb == "patch":
            return f"{obj.ref} changed since the diff: run again to see the new diff"
        if exc.code == 422:
            return f"the API server rejected {obj.ref}: {exc.message}"
        return f"{verb} {obj.ref}: {exc.code} {exc.reason}: {exc.message}"

    def _kubectl(self, op: ObjectPlan) -> str:
        file = str(self.manifest_dir / op.obj.info.file) if self.manifest_dir else op.obj.info.file
        ctx = f" --context {self.target.context}" if self.target.context else ""
        return f"{KUBECTL_APPLY} -f {file}{ctx}"

    def _audit(self, op: ObjectPlan, mode: str, result: str, action: str = "deploy") -> None:
        obj = op.obj
        rv = ((op.live or {}).get("metadata") or {}).get("resourceVersion")
        entry = {"context": self.target.context, "user": self.target.user, "server": self.target.server,
                 "action": action, "target": f"{obj.namespace or obj.name}/{obj.kind}/{obj.name}",
                 "before": {"state": op.state, "resourceVersion": rv},
                 "after": {"created": True} if op.state == "new" else {"changed": list(op.changed)},
                 "mode": mode, "result": result,
                 "kubectl": self._kubectl(op) if action == "deploy" else
                 f"kubectl delete {obj.ref}" + (f" -n {obj.namespace}" if obj.namespace else "")}
        try:
            self.audit.append(entry)
        except AuditError as exc:
            raise DeployError(EXIT_FAILED, str(exc)) from None

    async def _send_one(self, op: ObjectPlan, dry_run: bool) -> ObjectResult:
        """Send one change (server dry-run or for real), audit it, and say how it went."""
        mode = "dry-run" if dry_run else "applied"
        try:
            await self._send(op, dry_run=dry_run)
        except KubeError as exc:
            message = self._reason(exc, "create" if op.state == "new" else "patch", op.obj)
            self._audit(op, mode, message)
            return ObjectResult(op.ref, op.state, False, message)
        self._audit(op, mode, "ok")
        if dry_run:
            return ObjectResult(op.ref, op.state, True,
                                f"{op.ref} would be {'created' if op.state == 'new' else 'changed'} (server dry-run)")
        return ObjectResult(op.ref, op.state, True, f"{op.ref} {'created' if op.state == 'new' else 'configured'}")

    async def dry_run(self, plan: DeployPlan) -> ApplyReport:
        """Every change with ``dryRun=All``; nothing changes. In a namespace that does not exist yet only the
        Namespace can be checked by the server (admission refuses the rest until it exists)."""
        results = []
        for op in plan.changes:
            if plan.namespace_new and op.kind != "Namespace":
                results.append(ObjectResult(op.ref, op.state, True, f'{op.ref}: not checked by the server — '
                                            f'namespace "{plan.namespace}" does not exist yet (apply creates it '
                                            "first, then dry-runs every object before applying any)", checked=False))
                continue
            results.append(await self._send_one(op, dry_run=True))
        ok = all(r.ok for r in results)
        message = "nothing to change" if not results else \
            ("server dry-run passed" if ok else f"server dry-run failed for {sum(not r.ok for r in results)} of "
                                                f"{len(results)} objects")
        return ApplyReport("dry-run", ok, tuple(results), message)

    async def apply(self, plan: DeployPlan, on_progress: Callable[[str], None] | None = None) -> ApplyReport:
        """Dry-run every change, then apply them in order; nothing is applied unless all pass (see the module
        docstring). Raises DeployError only for a read-only session; failures come back in the report."""
        say = on_progress or (lambda _m: None)
        changes = plan.changes
        if not changes:
            return ApplyReport("applied", True, (), plan.summary())
        if self.readonly:
            message = "read-only mode: deploy refused (started with --readonly)"
            for op in changes:
                self._audit(op, "refused", message)
            raise DeployError(EXIT_FAILED, message)
        created: list[ObjectPlan] = []
        try:
            return await self._apply_all(plan, created, say)
        except asyncio.CancelledError:
            # Quitting midway (Ctrl-C, a wizard closed) must not leave a half-applied deployment behind.
            await asyncio.shield(self._rollback(created, say))
            raise

    async def _apply_all(self, plan: DeployPlan, created: list[ObjectPlan], say: Callable[[str], None]
                         ) -> ApplyReport:
        changes = plan.changes
        results: list[ObjectResult] = []
        rest = changes
        if plan.namespace_new:
            ns_op = next(o for o in changes if o.kind == "Namespace")
            rest = [o for o in changes if o is not ns_op]
            check = await self._send_one(ns_op, dry_run=True)
            if not check.ok:
                return ApplyReport("applied", False, (check,), f"nothing applied: {check.message}")
            result = await self._send_one(ns_op, dry_run=False)
            results.append(result)
            if not result.ok:
                return ApplyReport("applied", False, tuple(results), f"nothing applied: {result.message}")
            created.append(ns_op)
            say(result.message)
        checks = [await self._send_one(op, dry_run=True) for op in rest]
        failed = [c for c in checks if not c.ok]
        if failed:
            rolled = await self._rollback(created, say)
            return ApplyReport("applied", False, tuple(results + checks),
                               f"nothing applied: the server dry-run failed for {len(failed)} of {len(checks)} "
                               f"objects — {failed[0].message}", rolled)
        for op in rest:
            result = await self._send_one(op, dry_run=False)
            results.append(result)
            if not result.ok:
                rolled = await self._rollback(created, say)
                left = [o.ref for o in rest if o.state == "changed" and o.ref in {r.ref for r in results if r.ok}]
                tail = f"; changed objects stay changed: {', '.join(left)}" if left else ""
                return ApplyReport("applied", False, tuple(results), f"apply failed at {op.ref}: {result.message}; "
                                   f"the objects this run created were deleted again{tail}", rolled)
            if op.state == "new":
                created.append(op)
            say(result.message)
        return ApplyReport("applied", True, tuple(results), f"applied: {plan.summary()}")

    async def _rollback(self, created: list[ObjectPlan], say: Callable[[str], None]) -> tuple[str, ...]:
        """Delete what this run created, newest first (a namespace last)."""
        gone = []
        for op in reversed(created):
            try:
                await self.transport.request("DELETE", op.obj.path(), body={"propagationPolicy": "Background"})
                self._audit(op, "applied", "ok", action="deploy-rollback")
                gone.append(op.ref)
                say(f"{op.ref} deleted (rollback)")
            except KubeError as exc:
                if exc.code != 404:
                    self._audit(op, "applied", self._reason(exc, "delete", op.obj), action="deploy-rollback")
        return tuple(gone)
