"""The keys every row of every resource table answers: ``d`` describe, ``y`` YAML, ``e`` edit in ``$EDITOR``,
``ctrl+d`` delete, ``l`` logs (pods, and a workload's pods).

Delete and edit go plan → server dry-run → confirm → apply → audit (console.actions.objects), refused (and
audited) in read-only mode or when RBAC says no, like the Deployment action keys (screens.actions_flow).
"""

from __future__ import annotations

import asyncio
import os
import shlex
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from textual import work
from textual.binding import Binding

from screens.actions_flow import flow_open
from screens.host import host
from screens.widgets.dialogs import ConfirmDialog, FormDialog

if TYPE_CHECKING:
    from textual.screen import Screen

    from console.kube.discovery import Resource
    from console.kube.transport import KubeTransport

OBJECT_BINDINGS = [
    Binding("d", "describe", "Describe"),
    Binding("y", "yaml", "YAML"),
    Binding("e", "edit", "Edit"),
    Binding("ctrl+d", "delete", "Delete"),
    Binding("l", "logs", "Logs"),
]
NODE_BINDINGS = [Binding("c", "cordon", "Cordon node"), Binding("U", "uncordon", "Uncordon node"),
                 Binding("x", "drain", "Drain node")]
VERBS = {"delete": "delete", "edit": "update", "cordon": "patch", "uncordon": "patch", "drain": "patch"}  # RBAC
NODE_ACTIONS = ("cordon", "uncordon", "drain")


@dataclass(frozen=True)
class ObjectRef:
    """The object a row shows: its type (a word discovery knows: ``pods``, ``deployments.apps``), where, which."""

    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind}/{self.name}" + (f" in {self.namespace}" if self.namespace else "")


def editor_command() -> list[str]:
    """``$KUBE_EDITOR``, ``$EDITOR`` or vi, as kubectl edit chooses."""
    return shlex.split(os.environ.get("KUBE_EDITOR") or os.environ.get("EDITOR") or "vi")


def _for_editing(obj: dict[str, Any]) -> str:
    shown = {**obj, "metadata": {k: v for k, v in (obj.get("metadata") or {}).items() if k != "managedFields"}}
    shown.pop("status", None)
    return yaml.safe_dump(shown, sort_keys=False, default_flow_style=False)


class ObjectActionsMixin:
    """Mix into a Screen that implements :meth:`selected_object`."""

    _object_flow: str | None = None

    def selected_object(self) -> ObjectRef | None:
        raise NotImplementedError

    def _busy(self, kind: str) -> bool:
        """A change of this screen is between its key and its dialog (or in it): a view opened now would come up
        over the dialog the user is waiting for — said, not opened."""
        app = host(self)  # type: ignore[arg-type]
        return flow_open(app, getattr(self, "_flow", None), kind) or flow_open(app, self._object_flow, kind)

    def _selected(self) -> ObjectRef | None:
        ref = self.selected_object()
        if ref is None:
            host(self).notify("Select a row first.", severity="warning")  # type: ignore[arg-type]
        return ref

    def _transport(self) -> KubeTransport | None:
        """The watches' connection, or None (and said) before the console is connected."""
        transport = host(self).services.cluster.transport  # type: ignore[arg-type]
        if transport is None:
            host(self).notify("not connected to the cluster", severity="error")  # type: ignore[arg-type]
        return transport

    def _show(self, screen: Screen[None]) -> None:
        """Open what was read — unless something else opened over this screen meanwhile (a dialog the keys
        after this one asked for): a view must not cover it."""
        if self.app.screen is self:  # type: ignore[attr-defined]
            self.app.push_screen(screen)  # type: ignore[attr-defined]

    async def _resource(self, ref: ObjectRef) -> Resource:
        catalog = await host(self).catalog()  # type: ignore[arg-type]
        return catalog.find(ref.kind)

    # ---- reading ---------------------------------------------------------------------------------
    def action_describe(self) -> None:
        if not self._busy("describe") and (ref := self._selected()) is not None:
            self._read_view(ref, "describe")

    def action_yaml(self) -> None:
        if not self._busy("YAML") and (ref := self._selected()) is not None:
            self._read_view(ref, "yaml")

    @work(exclusive=True, exit_on_error=False, group="object-view")
    async def _read_view(self, ref: ObjectRef, how: str) -> None:
        from console.kube.describe import describe
        from console.kube.errors import KubeError
        from console.kube.tables import fetch_objects
        from screens.text_view import TextViewScreen

        app = host(self)  # type: ignore[arg-type]
        if (transport := self._transport()) is None:
            return
        try:
            resource = await self._resource(ref)
            ns = ref.namespace or None
            if how == "describe":
                text, language = await describe(transport, resource, ns, ref.name), None
            else:
                obj = (await fetch_objects(transport, resource, ns if resource.namespaced else None, ref.name))[0]
                obj["metadata"] = {k: v for k, v in (obj.get("metadata") or {}).items() if k != "managedFields"}
                text, language = yaml.safe_dump(obj, sort_keys=False, default_flow_style=False), "yaml"
        except KubeError as exc:
            app.notify(exc.message, title=how, severity="error")
            return
        title = f"{'Describe' if how == 'describe' else 'YAML'} — {resource.kind.lower()}/{ref.name}" + (
            f" in {ref.namespace}" if ref.namespace else "")
        self._show(TextViewScreen(title, text, language))

    # ---- changing --------------------------------------------------------------------------------
    def action_delete(self) -> None:
        self._start_change("delete")

    def action_edit(self) -> None:
        self._start_change("edit")

    def action_cordon(self) -> None:
        self._start_change("cordon")

    def action_uncordon(self) -> None:
        self._start_change("uncordon")

    def action_drain(self) -> None:
        self._start_change("drain")

    def _start_change(self, kind: str) -> None:
        app = host(self)  # type: ignore[arg-type]
        ref = self._selected()
        if ref is not None and kind in NODE_ACTIONS and ref.kind != "nodes":
            app.notify(f"{kind} is for nodes: select a node (g on the dashboard, or :nodes)", severity="warning")
            return
        if ref is None or app.refused(kind, f"{ref.namespace}/{ref.kind}/{ref.name}"):
            return
        if self._busy(kind):
            return
        self._object_flow = f"{kind} of {ref}"
        self._change_flow(kind, ref)

    @work(exit_on_error=False, group="object-change")
    async def _change_flow(self, kind: str, ref: ObjectRef) -> None:
        from console.actions.service import ActionError
        from console.kube.errors import KubeError

        app = host(self)  # type: ignore[arg-type]
        try:
            actions = await app.services.actions.get()
            resource = await self._resource(ref)
            verb = VERBS[kind]
            if not await actions.can_i(verb, resource.plural, ref.namespace, group=resource.group):
                reason = f"forbidden: cannot {verb} {resource.plural} in namespace {ref.namespace or '(cluster)'}"
                app.refused(kind, f"{ref.namespace}/{resource.kind}/{ref.name}", reason)
                return
            if kind == "delete":
                plan = await actions.plan_delete(resource, ref.namespace, ref.name)
            elif kind in ("cordon", "uncordon"):
                plan = await actions.plan_cordon(ref.name, kind == "cordon")
            elif kind == "drain":
                app.notify(f"planning the drain of node/{ref.name}: dry-running each eviction…", timeout=4)
                plan = await actions.plan_drain(ref.name)
            else:
                live = await actions.read_object(resource, ref.namespace, ref.name)
                text = await self._edit_in_editor(_for_editing(live), f"{resource.kind.lower()}-{ref.name}")
                if text is None:
                    app.notify("Edit cancelled: no changes made.")
                    return
                plan = await actions.plan_edit(resource, live, text)
            if await app.push_screen_wait(ConfirmDialog(plan)) != "apply":
                app.notify("Cancelled: nothing was changed.")
                return
            if plan.request.get("confirm_name"):
                typed = await app.push_screen_wait(FormDialog(
                    f"Type the name to delete {resource.kind.lower()}/{ref.name}",
                    [("name", f"{plan.request.get('dependents', 0)} dependent objects go with it", "")]))
                if not typed or typed.get("name") != ref.name:
                    app.notify("The name typed does not match: nothing was deleted.", severity="warning")
                    return
            result = await actions.apply(plan)
        except (ActionError, KubeError) as exc:
            app.notify(exc.message, title=f"{kind} refused" if getattr(exc, "code", 1) != 2 else f"{kind}: invalid",
                       severity="error", timeout=10)
            return
        finally:
            self._object_flow = None
        app.notify(result.message, title=kind)

    async def _edit_in_editor(self, text: str, stem: str) -> str | None:
        """Run ``$EDITOR`` on ``text`` with the console suspended; the edited text, or None if unchanged."""
        from textual.app import SuspendNotSupported

        app = host(self)  # type: ignore[arg-type]
        with tempfile.TemporaryDirectory(prefix="llmctl-edit-") as tmp:
            path = Path(tmp) / f"{stem}.yaml"
            path.write_text(text)
            command = [*editor_command(), str(path)]
            try:
                with app.suspend():
                    code = subprocess.call(command)
            except SuspendNotSupported:  # no terminal to give away (a test, a web driver): run it as it is
                code = await asyncio.to_thread(subprocess.call, command, stdin=subprocess.DEVNULL)
            except OSError as exc:
                from console.actions.service import ActionError

                raise ActionError(1, f"cannot run the editor {command[0]!r}: {exc.strerror}") from None
            if code != 0:
                app.notify(f"the editor exited with {code}: nothing was changed", severity="warning")
                return None
            edited = path.read_text()
        return None if edited == text else edited

    # ---- logs ------------------------------------------------------------------------------------
    def action_logs(self) -> None:
        if not self._busy("logs") and (ref := self._selected()) is not None:
            self._open_logs(ref)

    @work(exclusive=True, exit_on_error=False, group="object-view")
    async def _open_logs(self, ref: ObjectRef) -> None:
        from console.kube.errors import KubeError
        from screens.logs import LogsScreen

        app = host(self)  # type: ignore[arg-type]
        if (transport := self._transport()) is None:
            return
        try:
            resource = await self._resource(ref)
            if resource.kind == "Pod":
                pod = await transport.get(resource.item(ref.name, ref.namespace))
                containers = [c["name"] for c in (pod.get("spec") or {}).get("containers") or []]
                self._show(LogsScreen(ref.namespace, ref.name, containers=containers))
                return
            obj = await transport.get(resource.item(ref.name, ref.namespace or None))
            selector = ((obj.get("spec") or {}).get("selector") or {}).get("matchLabels")
            if not selector or not resource.namespaced:
                app.notify(f"{resource.kind} has no pods to show logs of", severity="warning")
                return
            query = [("labelSelector", ",".join(f"{k}={v}" for k, v in selector.items()))]
            pods = await transport.list(f"/api/v1/namespaces/{ref.namespace}/pods", query)
        except KubeError as exc:
            app.notify(exc.message, title="logs", severity="error")
            return
        names = sorted(p["metadata"]["name"] for p in pods)
        if not names:
            app.notify(f"{resource.kind.lower()}/{ref.name} has no pods", severity="warning")
            return
        self._show(LogsScreen(ref.namespace, names[0], pods=names))
