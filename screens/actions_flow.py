"""The action keys (s, i, u, r, p, h) shared by every screen that has a selected Deployment.

Flow: permission check → input form → plan (validate, preflight, server dry-run) → confirm dialog
with diff and kubectl equivalent → apply (409 retried once by the service) → follow the rollout.
All I/O happens in the actions service, called from a worker; nothing here talks to a client library.
"""

from __future__ import annotations

from typing import Any

from textual import work
from textual.binding import Binding

from console.core.model import ActionPlan, DeploymentRow
from screens.host import host
from screens.widgets.dialogs import ConfirmDialog, FormDialog

ACTION_BINDINGS = [
    Binding("s", "scale", "Scale"),
    Binding("i", "set_image", "Set image"),
    Binding("u", "undo", "Undo"),
    Binding("r", "restart", "Restart"),
    Binding("p", "pause_resume", "Pause/resume"),
    Binding("h", "hpa_edit", "HPA"),
    Binding("m", "resources", "Resources"),
]
# Which permission each key needs: (verb, resource, subresource).
ACTION_PERMISSIONS = {
    "scale": ("patch", "deployments", "scale"),
    "set_image": ("patch", "deployments", ""),
    "undo": ("patch", "deployments", ""),
    "restart": ("patch", "deployments", ""),
    "pause_resume": ("patch", "deployments", ""),
    "hpa_edit": ("patch", "horizontalpodautoscalers", ""),
    "resources": ("patch", "deployments", ""),
}
ROLLOUT_ACTIONS = {"set-image", "undo", "restart", "resume", "scale", "resources"}


def flow_open(app: Any, open_flow: str | None, kind: str) -> bool:
    """One change at a time per screen: a second key read while the first's form or dialog opens must not start
    a second change. Says so, and returns True, while ``open_flow`` (what is open, in words) is not None."""
    if open_flow is None:
        return False
    app.notify(f"{open_flow} is still open: answer its dialog (esc cancels) before starting {kind}.",
               title=f"{kind} not started", severity="warning")
    return True


class ActionsMixin:
    """Mix into a Screen that implements :meth:`selected_deployment`."""

    _flow: str | None = None  # the action whose form or dialog is open on this screen, as the user would say it

    def selected_deployment(self) -> DeploymentRow | None:
        raise NotImplementedError

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ACTION_PERMISSIONS:
            return True if host(self).action_allowed(action) else None  # None: shown disabled  # type: ignore[arg-type]
        return True

    def action_scale(self) -> None:
        self.run_action("scale")

    def action_set_image(self) -> None:
        self.run_action("set-image")

    def action_undo(self) -> None:
        self.run_action("undo")

    def action_restart(self) -> None:
        self.run_action("restart")

    def action_pause_resume(self) -> None:
        self.run_action("pause-resume")

    def action_hpa_edit(self) -> None:
        self.run_action("hpa")

    def action_resources(self) -> None:
        self.run_action("resources")

    def _resources_form(self, row: DeploymentRow) -> FormDialog:
        """Requests and limits of the first container, as they are now (from the watch)."""
        deployment = next((d for d in host(self).services.cluster.raw(  # type: ignore[arg-type]
                               "deployments", row.namespace) if d["metadata"]["name"] == row.name), {})
        containers = (((deployment.get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers") or []
        first = containers[0] if containers else {}
        now = first.get("resources") or {}
        req, lim = now.get("requests") or {}, now.get("limits") or {}
        return FormDialog(f"Resources of deployment/{row.name}", [
            ("container", f"Container ({', '.join(c.get('name', '') for c in containers) or '?'})",
             first.get("name", "")),
            ("memory_request", "Memory request", str(req.get("memory", ""))),
            ("memory_limit", "Memory limit (≥ request + 2Gi)", str(lim.get("memory", ""))),
            ("cpu_request", "CPU request", str(req.get("cpu", ""))),
            ("cpu_limit", "CPU limit (empty: none)", str(lim.get("cpu", ""))),
            ("gpus", "GPUs (nvidia.com/gpu, request = limit)", str(lim.get("nvidia.com/gpu", "")))],
            hint="A rolling update starts; the GPU preflight checks the new pods fit on the free GPUs.")

    def _form(self, kind: str, row: DeploymentRow) -> FormDialog | None:
        if kind == "scale":
            return FormDialog(f"Scale deployment/{row.name}", [("replicas", "Replicas (0–1000)", str(row.desired))])
        if kind == "set-image":
            return FormDialog(f"Set image of deployment/{row.name}", [("image", "[container=]image", row.image)],
                              hint="A rolling update starts; the GPU preflight checks the surge fits and the "
                                   "compatibility check that the image's CUDA runs on the nodes.")
        if kind == "undo":
            previous = str(int(row.revision) - 1) if row.revision.isdigit() and int(row.revision) > 1 else ""
            return FormDialog(f"Undo deployment/{row.name} (now at revision {row.revision or '?'})",
                              [("revision", "Roll back to revision (empty: the previous one)", previous)])
        if kind == "resources":
            return self._resources_form(row)
        if kind == "hpa" and row.hpa is not None:
            h = row.hpa
            return FormDialog(f"Edit HPA {h.name} (scales {h.target})",
                              [("min", "minReplicas", str(h.min_replicas)), ("max", "maxReplicas", str(h.max_replicas)),
                               ("cpu", "CPU target % (empty: keep)", "")])
        return None

    async def _plan(self, actions: Any, kind: str, row: DeploymentRow, values: dict[str, str]) -> ActionPlan:
        ns, name = row.namespace, row.name
        if kind == "scale":
            return await actions.plan_scale(ns, name, values["replicas"])
        if kind == "set-image":
            return await actions.plan_set_image(ns, name, values["image"])
        if kind == "undo":
            from console.actions.service import ActionError

            rev = values["revision"]
            if rev and not rev.isdigit():
                raise ActionError(2, f"revision must be a whole number, not {rev!r}")
            return await actions.plan_undo(ns, name, int(rev) if rev else None)
        if kind == "restart":
            return await actions.plan_restart(ns, name)
        if kind == "resources":
            return await actions.plan_resources(ns, name, values.pop("container", "") or None, values)
        if kind == "pause":
            return await actions.plan_pause(ns, name)
        if kind == "resume":
            return await actions.plan_resume(ns, name)
        assert row.hpa is not None
        cpu = values.get("cpu") or None
        return await actions.plan_hpa(ns, row.hpa.name, values["min"], values["max"], cpu)

    def run_action(self, kind: str) -> None:
        """Start ``kind`` on the selected Deployment — unless it is refused (said and audited), or another action's
        form or dialog is still open on this screen (one at a time: a second ``s`` read while the first scale's
        form opens must not start a second scale)."""
        app = host(self)  # type: ignore[arg-type]
        row = self.selected_deployment()
        if row is None:
            app.notify("Select a Deployment first.", severity="warning")
            return
        if kind == "pause-resume":
            kind = "resume" if row.paused else "pause"
        if kind == "hpa" and row.hpa is None:
            app.notify(f"No HorizontalPodAutoscaler targets deployment/{row.name}.", severity="warning")
            return
        target = (f"{row.namespace}/HorizontalPodAutoscaler/{row.hpa.name}" if kind == "hpa" and row.hpa
                  else f"{row.namespace}/Deployment/{row.name}")
        if app.refused(kind, target):
            return
        if flow_open(app, self._flow, kind):
            return
        self._flow = f"{kind} of deployment/{row.name}"
        self._action_flow(kind, row, target)

    @work(exit_on_error=False, group="action")
    async def _action_flow(self, kind: str, row: DeploymentRow, target: str) -> None:
        try:
            # every namespace watched: the API says whether this namespace allows it (a RoleBinding may)
            if not await host(self).refused_in(kind, target, row.namespace):  # type: ignore[arg-type]
                await self._ask_and_apply(kind, row)
        finally:
            self._flow = None

    async def _ask_and_apply(self, kind: str, row: DeploymentRow) -> None:
        """Form → plan → confirm → apply; then the rollout is followed (in its own worker: a new action may start)."""
        from console.actions.service import ActionError

        app = host(self)  # type: ignore[arg-type]
        values: dict[str, str] | None = {}
        form = self._form(kind, row)
        if form is not None:
            values = await app.push_screen_wait(form)
            if values is None:
                return
        try:
            actions = await app.services.actions.get()
            plan = await self._plan(actions, kind, row, values)
            while True:
                choice = await app.push_screen_wait(ConfirmDialog(plan))
                if choice is None:
                    app.notify("Cancelled: nothing was changed.")
                    return
                if choice in ("apply", "force"):  # "force": the user overrode a compat FAIL explicitly
                    break
                plan = await actions.plan_alternative(plan, choice)
            result = await actions.apply(plan, force=choice == "force")
        except ActionError as exc:
            app.notify(exc.message, title=f"{kind} refused" if exc.code == 1 else f"{kind}: invalid input",
                       severity="error", timeout=10)
            return
        app.notify(result.message + (" (retried after a conflict)" if result.retried else ""), title=kind)
        if plan.action in ROLLOUT_ACTIONS and plan.kind == "Deployment":
            app.show_deployment(row.name, row.namespace)
            self._follow(plan, row)

    @work(exclusive=True, exit_on_error=False, group="follow")
    async def _follow(self, plan: ActionPlan, row: DeploymentRow) -> None:
        """Follow the rollout an action started until it completes or fails (a newer action's replaces it)."""
        from console.actions.service import ActionError

        app = host(self)  # type: ignore[arg-type]
        try:
            actions = await app.services.actions.get()
            verdict = await actions.follow(row.namespace, row.name, timeout=900)
            held = None
            if plan.action == "scale" and verdict.done:
                held = await actions.scale_held(row.namespace, row.name, int(plan.after["replicas"]))
        except ActionError as exc:
            app.notify(exc.message, title="rollout", severity="error", timeout=10)
            return
        app.notify(verdict.message, severity="error" if verdict.failed else "information", title="rollout", timeout=10)
        if held is not None and not held.held:
            app.notify(held.reason, title=f"scale to {held.wanted} did not hold", severity="error", timeout=15)
