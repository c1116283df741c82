"""Where the console goes: top-level views, a Deployment's screen, its incident timeline, the wizard, and what an
alert is about. Screens other than the dashboard are imported when first shown (:func:`screen_class`)."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from console.alerts.model import AlertTarget
from screens.host import ConsoleApp


def screen_class(module: str, name: str) -> Any:
    """The screen class ``name`` of ``module``, imported now (and once)."""
    return getattr(importlib.import_module(module), name)


def screen_from(module: str, name: str) -> Callable[[], Any]:
    """A mode's screen factory that imports its module only when the mode is first shown."""
    return lambda: screen_class(module, name)()


class Navigation(ConsoleApp):
    """The console app's navigation (mixed into :class:`console.app.LlmctlApp`, which holds the state it reads:
    ``snapshot``, ``settings`` and the wizard left open)."""

    _wizard_open: tuple[str, Any] | None

    def go_to(self, mode: str, focus: str | None = None) -> None:
        """Switch to a top-level view (closing anything pushed over the current one), focusing a widget."""
        for screen in reversed(self.screen_stack[1:]):
            screen.dismiss(None)  # not just popped: a flow waiting on a dialog hears "cancelled"
        self.switch_mode(mode)
        if focus:
            self.call_after_refresh(self._focus_on, focus)

    def _focus_on(self, widget_id: str) -> None:
        """Focus ``#widget_id`` on the current screen, if it has one (a key read with the one that switched views
        may already have opened another screen)."""
        found = self.screen.query(f"#{widget_id}")
        if found:
            found.first().focus()

    def show_deployment(self, name: str, namespace: str | None = None) -> None:
        """Open (or stay on) the detail screen of a Deployment (of ``namespace`` when every namespace is shown:
        the same name may be in several)."""
        deployment_screen = screen_class("screens.deployment", "DeploymentScreen")
        screen = self.screen
        if isinstance(screen, deployment_screen) and screen.deployment_name == name:
            shown = screen.selected_deployment()  # the Deployment it shows (None: not found yet)
            if namespace is None or (shown.namespace if shown else screen.deployment_namespace) == namespace:
                return
        self.push_screen(deployment_screen(name, namespace))

    def default_namespace(self) -> str:
        """Where a command given no namespace acts: the namespace watched; with every namespace watched, the
        context's own (as kubectl without -n), "default" before the kubeconfig was read."""
        home = getattr(self.services.cluster, "home_namespace", None)
        return self.snapshot.namespace or home or "default"

    def deployment_named(self, name: str, namespace: str | None = None, doing: str = "showing") -> Any:
        """The Deployment row of that name (of ``namespace`` when given), or None. With every namespace shown and no
        namespace given, the first of that name, saying which other namespaces have one (``NAMESPACE/NAME``
        chooses)."""
        found = [d for d in self.snapshot.deployments if d.name == name and namespace in (None, d.namespace)]
        if len(found) > 1:
            self.notify(f"Deployment {name} is also in {', '.join(d.namespace for d in found[1:])}; {doing} "
                        f"{found[0].namespace} (NAMESPACE/{name} chooses)", severity="warning")
        return found[0] if found else None

    def show_incident(self, deployment: str | None = None, namespace: str | None = None) -> None:
        """Open the incident timeline of a Deployment (None: the whole namespace). A timeline is of one namespace:
        with every namespace shown, the Deployment's (``namespace``, else the namespace of the one of that name)."""
        here = self.snapshot.namespace
        if here:
            namespace = None  # the watched namespace's timeline (it follows a switch of namespace)
        row = self.deployment_named(deployment, namespace) if deployment else None
        if deployment and row is None:
            self.notify(f"no Deployment {deployment} in namespace {namespace or here or 'any'}"
                        + ("; showing the namespace" if here or namespace else ""), severity="warning")
            deployment = None
        if not here:  # every namespace shown: the Deployment's namespace, or the one given
            namespace = row.namespace if row is not None else namespace
            if not namespace:
                self.notify("The incident timeline is of one namespace: open it from a Deployment, or choose a "
                            "namespace first (:ns NAME)", severity="warning")
                return
        self.push_screen(screen_class("screens.incident", "IncidentScreen")(deployment, namespace=namespace))

    def open_wizard(self, **kwargs: Any) -> None:
        """Open the guided deployment on top of the current screen (or go back to the one left open)."""
        wizard_screen = screen_class("screens.wizard.screen", "WizardScreen")
        if isinstance(self.screen, wizard_screen):
            return
        if self._wizard_open is not None:
            mode, screen = self._wizard_open
            if screen in self._screen_stacks.get(mode, ()) and not screen.closing:
                if mode != self.current_mode:
                    self.switch_mode(mode)  # back to the wizard left open under another mode (e.g. after :builds)
                return
        if "namespace" not in kwargs and self.settings.namespace:
            kwargs["namespace"] = self.settings.namespace
        screen = wizard_screen(**kwargs)
        self._wizard_open = (self.current_mode, screen)
        self.push_screen(screen)

    def action_deploy_wizard(self) -> None:
        self.open_wizard()

    def jump_to_target(self, target: AlertTarget) -> None:
        """Open what an alert is about: its Deployment (or pod's Deployment), node, or the GPU chart."""
        here = self.snapshot.namespace
        if target.namespace and here and target.namespace != here:
            self.notify(f"{target} is in namespace {target.namespace}; this console watches {here} "
                        f"(:ns {target.namespace} switches)", severity="warning", timeout=8)
            return
        deployment = target.deployment or self._deployment_of_pod(target.pod)
        if target.gpu is not None:
            self.switch_mode("gpu")
            screen_gpu = target.node, target.gpu
            self.call_after_refresh(lambda: self.screen.select_gpu(*screen_gpu))  # type: ignore[attr-defined]
        elif deployment and any(d.name == deployment for d in self.snapshot.deployments):
            self.show_deployment(deployment, target.namespace)  # every namespace shown: the alert's own
        elif target.node:
            self.switch_mode("dashboard")
            node = target.node
            self.call_after_refresh(lambda: self.screen.focus_node(node))  # type: ignore[attr-defined]
        elif target.pod:
            self.switch_mode("pods")
        else:
            self.notify(f"nothing to open for {target}", severity="warning")

    def _deployment_of_pod(self, pod: str | None) -> str | None:
        """The Deployment whose ``<name>-<hash>-<suffix>`` a pod name carries (longest match)."""
        if not pod:
            return None
        names = [d.name for d in self.snapshot.deployments if pod.startswith(d.name + "-")]
        return max(names, key=len) if names else None
