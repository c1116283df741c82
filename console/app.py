"""The Textual App: modes, bindings, command mode and the cluster worker. Services come in as arguments."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from textual import work
from textual.app import App
from textual.binding import Binding
from textual.message import Message
from textual.reactive import reactive

from console import __version__
from console.app_alerts import AlertsAppMixin
from console.app_wizard import WIZARD_COMMANDS, WizardAppMixin
from console.config import Settings
from console.model import ClusterSnapshot, ConnState
from console.paths import asset
from console.services.cluster import ClusterService
from console.services.metrics import MetricsService
from screens.actions_flow import ACTION_PERMISSIONS
from screens.alerts import AlertsScreen
from screens.builds import BuildsScreen
from screens.compat import CompatScreen
from screens.dashboard import DashboardScreen
from screens.deployment import DeploymentScreen
from screens.gpu import GpuScreen
from screens.help import HelpScreen
from screens.latency import LatencyScreen
from screens.resources import HpaScreen, PodsScreen
from screens.widgets.dialogs import CommandPrompt

REDRAW_INTERVAL = 0.2  # at most five redraws a second from cluster events (Argo Rollouts' figure)
# ":" aliases, k9s style: alias → (mode, focus)
COMMANDS = {
    "deploy": ("dashboard", "deployments"), "deployments": ("dashboard", "deployments"),
    "dp": ("dashboard", "deployments"), "nodes": ("dashboard", "nodes"), "no": ("dashboard", "nodes"),
    "node": ("dashboard", "nodes"), "pods": ("pods", None), "po": ("pods", None), "pod": ("pods", None),
    "hpa": ("hpa", None), "horizontalpodautoscalers": ("hpa", None),
    "builds": ("builds", None), "build": ("builds", None), "images": ("builds", None),
    "gpu": ("gpu", None), "gpus": ("gpu", None), "latency": ("latency", None), "lat": ("latency", None),
    "alerts": ("alerts", None), "alert": ("alerts", None), "silences": ("alerts", "silences"),
    "compat": ("compat", None), "compatibility": ("compat", None), "drivers": ("compat", None),
}


class ClusterChanged(Message):
    """Something in the cluster store changed. Bursts collapse into one message."""

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, ClusterChanged)


class LlmctlApp(AlertsAppMixin, WizardAppMixin, App[None]):
    TITLE = "llmctl"
    SUB_TITLE = __version__
    CSS_PATH = str(asset("llmctl.tcss"))
    MODES = {"dashboard": DashboardScreen, "pods": PodsScreen, "hpa": HpaScreen, "builds": BuildsScreen,
             "gpu": GpuScreen, "latency": LatencyScreen, "alerts": AlertsScreen,
             "compat": CompatScreen}
    DEFAULT_MODE = "dashboard"
    BINDINGS = [
        Binding("question_mark", "help", "Help"),
        Binding("colon", "command", "Command"),
        Binding("exclamation_mark", "switch_mode('alerts')", "Alerts"),
        Binding("q", "quit", "Quit"),
    ]

    snapshot: reactive[ClusterSnapshot] = reactive(ClusterSnapshot, always_update=True)
    last_build: reactive[Any] = reactive(None, always_update=True)  # BuildRecord of the Builds screen

    def __init__(self, cluster: ClusterService, settings: Settings | None = None, actions: Any = None,
                 builds: Any = None, metrics: MetricsService | None = None) -> None:
        super().__init__()
        self.cluster = cluster
        self.settings = settings or Settings()
        self.readonly = self.settings.readonly
        self._actions = actions  # console.services.actions.Actions, connected on first use if None
        self.metrics = metrics  # GPU and serving metrics (Prometheus or the sandbox's direct source); None: off
        self._builds = builds  # console.services.builds.BuildService; the Docker adapter on first use if None
        self.compat: Any = None  # CompatChecker (or anything with async report()); built on first use if None
        self.permissions: dict[str, bool] = {}  # action → allowed (SelfSubjectAccessReview); unknown = allowed
        self._last_redraw = 0.0
        self._redraw_pending = False
        self.init_alerts()

    def on_mount(self) -> None:
        self.snapshot = self.cluster.snapshot()
        self.watch_cluster()
        self.start_alert_polling()

    async def on_unmount(self) -> None:
        if self._actions is not None and hasattr(self._actions, "close"):
            await self._actions.close()

    # ---- cluster state --------------------------------------------------------------------------
    @work(exclusive=True, exit_on_error=False, group="cluster")
    async def watch_cluster(self) -> None:
        await self.cluster.run(lambda: self.post_message(ClusterChanged()))
        self.snapshot = self.cluster.snapshot()

    def on_cluster_changed(self, _message: ClusterChanged) -> None:
        if self._redraw_pending:
            return
        wait = REDRAW_INTERVAL - (time.monotonic() - self._last_redraw)
        if wait <= 0:
            self._redraw()
        else:
            self._redraw_pending = True
            self.set_timer(wait, self._redraw)

    def _redraw(self) -> None:
        self._redraw_pending = False
        self._last_redraw = time.monotonic()
        snap = self.cluster.snapshot()
        first_contact = self.snapshot.connection.state is not ConnState.CONNECTED
        self.snapshot = snap
        self.update_cluster_alerts()
        if first_contact and snap.connection.state is ConnState.CONNECTED and not self.readonly:
            self.probe_permissions()

    # ---- actions --------------------------------------------------------------------------------
    async def get_actions(self) -> Any:
        """The actions service, connected with the same kubeconfig and context as the cluster service."""
        if self._actions is None:
            from console.services.actions import Actions
            from console.services.audit import AuditLog

            cluster: Any = self.cluster
            self._actions = await Actions.connect(
                cluster.kubeconfig, cluster.context,
                AuditLog(Path(self.settings.audit_log) if self.settings.audit_log else None),
                readonly=self.readonly)
        return self._actions

    async def get_compat(self) -> Any:
        """The compatibility checker, on the actions service's connection (image configs from registries)."""
        if self.compat is None:
            from console.services.compat_check import CompatChecker

            self.compat = CompatChecker((await self.get_actions()).transport)
        return self.compat

    def get_builds(self) -> Any:
        """The build service: the one given, else the Docker Engine adapter for --docker-host / DOCKER_HOST."""
        if self._builds is None:
            from console.services.builds import DockerBuildService

            self._builds = DockerBuildService(self.settings.docker_host)
        return self._builds

    @work(exclusive=True, exit_on_error=False, group="permissions")
    async def probe_permissions(self) -> None:
        """Ask the API (SelfSubjectAccessReview) which actions this user may take; disable the others."""
        actions = await self.get_actions()
        ns = self.snapshot.namespace
        allowed: dict[str, bool] = {}
        for action, (verb, resource, sub) in ACTION_PERMISSIONS.items():
            group = "autoscaling" if resource == "horizontalpodautoscalers" else "apps"
            allowed[action] = await actions.can_i(verb, resource, ns, group=group, subresource=sub)
        self.permissions = allowed
        self.screen.refresh_bindings()

    def action_allowed(self, action: str) -> bool:
        return not self.readonly and self.permissions.get(action, True)

    def refusal(self, kind: str) -> str | None:
        """Why an action may not be taken now, or None."""
        if self.readonly:
            return f"read-only mode: {kind} refused (started with --readonly)"
        key = {"set-image": "set_image", "pause": "pause_resume", "resume": "pause_resume", "hpa": "hpa_edit"}.get(
            kind, kind)
        if not self.permissions.get(key, True):
            verb, resource, sub = ACTION_PERMISSIONS[key]
            what = f"{resource}/{sub}" if sub else resource
            return f"forbidden: cannot {verb} {what} in namespace {self.snapshot.namespace}"
        return None

    def show_deployment(self, name: str) -> None:
        """Open (or stay on) the detail screen of a Deployment."""
        if isinstance(self.screen, DeploymentScreen) and self.screen.deployment_name == name:
            return
        self.push_screen(DeploymentScreen(name))

    # ---- keys -----------------------------------------------------------------------------------
    def action_command(self) -> None:
        self.push_screen(CommandPrompt(), self._run_command)

    def _run_command(self, command: str | None) -> None:
        if not command:
            return
        word = command.split()[0].lower()
        if word in ("q", "quit", "q!"):
            self.exit()
        elif word in ("help", "?"):
            self.action_help()
        elif word in WIZARD_COMMANDS:
            self.open_wizard()
        elif word in ("incident", "inc", "timeline"):
            args = command.split()[1:]
            self.show_incident(args[0] if args else None)
        elif word in COMMANDS:
            mode, focus = COMMANDS[word]
            while len(self.screen_stack) > 1:
                self.pop_screen()
            self.switch_mode(mode)
            if focus:
                self.call_after_refresh(lambda: self.screen.query_one(f"#{focus}").focus())
        else:
            self.notify(f"unknown command :{word} (try :deploy, :deploy-new, :pods, :nodes, :hpa, :builds, :gpu, "
                        ":latency, :alerts, :incident [DEPLOYMENT], :compat, :help, :quit)", severity="error")

    def action_help(self) -> None:
        rows: list[tuple[str, str]] = []
        seen = set()
        for binding in [*self.screen.BINDINGS, *self.BINDINGS]:
            b = binding if isinstance(binding, Binding) else Binding(*binding)
            if b.key not in seen:
                seen.add(b.key)
                rows.append((self.get_key_display(b), b.description or b.action))
        rows += [(f":{alias}", f"go to {mode}" + (f" ({focus})" if focus else ""))
                 for alias, (mode, focus) in COMMANDS.items()
                 if alias in ("deploy", "pods", "nodes", "hpa", "builds", "gpu", "latency", "alerts", "compat")]
        rows.append((":deploy-new, :wizard", "guided deployment of a new model (wizard)"))
        self.push_screen(HelpScreen(rows))
