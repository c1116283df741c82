"""The Textual App: modes, bindings, command mode, navigation and the cluster worker.

Services come in from the composition root (:mod:`console.wiring`) as one :class:`~console.wiring.Services`;
the app builds none of its own. Alerting is a collaborator (:class:`screens.alert_feed.AlertFeed`), the
commands one registry (:mod:`console.app.commands`) shared by ``:``, the palette and the help.
"""

from __future__ import annotations

import asyncio
import gc
import time
from typing import TYPE_CHECKING, Any

from textual import events, work
from textual.binding import Binding
from textual.command import CommandPalette
from textual.message import Message
from textual.screen import ModalScreen

from console import __version__
from console.app import commands
from console.app.navigation import Navigation, screen_class, screen_from
from console.app.target import ALL, RecentNamespaces, context_exists, pick_context, pick_namespace
from console.core.paths import asset
from console.kube.discovery import Catalog
from console.wiring import Services
from screens.actions_flow import ACTION_PERMISSIONS
from screens.alert_feed import AlertFeed
from screens.dashboard import DashboardScreen
from screens.errorlog import ErrorLog, ReportingWorkers, one_line
from screens.host import ConsoleApp
from screens.keyqueue import KeyQueue
from screens.widgets.dialogs import AsksOnce, CommandPrompt, Palette

if TYPE_CHECKING:
    from screens.wizard.screen import WizardScreen

# Redraws from cluster events: at once when none was made for a while, else after a pause that keeps their share of
# a core near REDRAW_SHARE — the redraws' recent time ÷ the share, between one frame (a small namespace: a change
# shows in the next frame; a 50 ms floor made a pod's first event wait out the redraw of the previous pod's last one,
# 67–71 ms p50 at 500 pods) and 200 ms (at most five a second, Argo Rollouts' figure, on a big one).
REDRAW_MIN, REDRAW_MAX, REDRAW_SHARE = 1 / 60, 0.2, 0.2


class ClusterChanged(Message):
    """Something in the cluster store changed. Bursts collapse into one message."""

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, ClusterChanged)


def permission_key(kind: str) -> str:
    """The ACTION_PERMISSIONS key of an action kind ("set-image" → "set_image", "pause" → "pause_resume")."""
    return {"set-image": "set_image", "pause": "pause_resume", "resume": "pause_resume", "hpa": "hpa_edit"}.get(
        kind, kind)


def api_group(resource: str) -> str:
    return {"horizontalpodautoscalers": "autoscaling", "nodes": ""}.get(resource, "apps")


def forbidden(key: str, namespace: str) -> str:
    verb, resource, sub = ACTION_PERMISSIONS[key]
    what = f"{resource}/{sub}" if sub else resource
    return f"forbidden: cannot {verb} {what} in namespace {namespace}"


class LlmctlApp(Navigation):
    TITLE = "llmctl"
    SUB_TITLE = __version__
    CSS_PATH = str(asset("llmctl.tcss"))
    # The first frame needs the dashboard only: every other screen's module is imported when it is first shown.
    MODES = {"dashboard": DashboardScreen,
             "pods": screen_from("screens.resources", "PodsScreen"),
             "hpa": screen_from("screens.resources", "HpaScreen"),
             "builds": screen_from("screens.builds.screen", "BuildsScreen"),
             "gpu": screen_from("screens.gpu", "GpuScreen"),
             "latency": screen_from("screens.latency", "LatencyScreen"),
             "alerts": screen_from("screens.alerts", "AlertsScreen"),
             "compat": screen_from("screens.compat", "CompatScreen")}
    DEFAULT_MODE = "dashboard"
    COMMANDS = ConsoleApp.COMMANDS | {commands.LlmctlCommands}
    BINDINGS = [
        Binding("question_mark", "help", "Help"),
        Binding("colon", "command", "Command"),
        Binding("exclamation_mark", "switch_mode('alerts')", "Alerts"),
        Binding("0", "all_namespaces", "All namespaces", show=False),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(self, services: Services, wizard_at_start: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.services = services
        self.alerts = AlertFeed(self)
        self.wizard_at_start = wizard_at_start  # `llmctl deploy --guided`: open the wizard with these arguments
        self.permissions: dict[str, bool] = {}  # action → allowed (SelfSubjectAccessReview); unknown = allowed
        self._permissions_in: dict[str, dict[str, bool]] = {}  # every namespace watched: asked per namespace
        self._wizard_open: tuple[str, WizardScreen] | None = None
        self._last_redraw = 0.0
        self._redraw_took = REDRAW_MAX * REDRAW_SHARE  # the redraws' time, smoothed (a full pause until timed)
        self._redraw_pending = False
        self.keys = KeyQueue(self, chores=(ClusterChanged,))
        self.error_log = ErrorLog()
        self.crash: BaseException | None = None  # the exception that stopped the console (llmctl exits 1)
        self.crash_log: str | None = None  # where it was written, if it could be
        self._workers = ReportingWorkers(self)  # Textual's, also reporting workers started with exit_on_error=False
        self.recent_namespaces = RecentNamespaces()
        self._catalog: Catalog | None = None  # what the API serves, read once per context
        self.completion_words: dict[str, list[str]] = {}  # for `:` completion (gather_words)

    def on_mount(self) -> None:
        asyncio.get_running_loop().set_exception_handler(self._loop_exception)
        self.snapshot = self.services.cluster.snapshot()
        self.call_after_refresh(self.watch_cluster)  # the first frame first: the client's import competes for the CPU
        self.alerts.start()
        if self.wizard_at_start is not None:
            kwargs = dict(self.wizard_at_start)
            self.call_after_refresh(lambda: self.open_wizard(**kwargs))

    async def on_unmount(self) -> None:
        asyncio.get_running_loop().set_exception_handler(None)
        await self.services.aclose()

    # ---- keys in order --------------------------------------------------------------------------
    async def on_event(self, event: events.Event) -> None:
        """Keys and pastes one at a time, each once the one before it has had its effect (screens.keyqueue)."""
        if not KeyQueue.wants(event):
            if (isinstance(event, events.Key) and event.is_forwarded and isinstance(self.screen, AsksOnce)
                    and self.screen.typed_ahead(event.time)):
                # Routed to a widget before the confirmation was shown, taken by none, and bubbled up to the app's
                # bindings only now — the dialog's: typed before it was shown, it answers nothing.
                return
            await super().on_event(event)
            return
        if not self.keys.admit(event):  # type: ignore[arg-type]
            return
        if isinstance(event, events.Key) and isinstance(self.screen, AsksOnce) and self.screen.typed_ahead(event.time):
            self.keys.routed()  # typed before the confirmation was shown: it answers nothing
            return
        try:
            await super().on_event(event)
        finally:
            self.keys.routed()

    # ---- unexpected errors ----------------------------------------------------------------------
    def report_error(self, error: BaseException, where: str) -> None:
        path = self.error_log.write(error, where)
        detail = f"details in {path}" if path else f"the log {self.error_log.path} could not be written"
        self.notify(f"{where}: {one_line(error)} — {detail}", title="unexpected error", severity="error", timeout=15)

    def _loop_exception(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        """A task or callback outside any handler or worker failed: reported, not printed over the screen."""
        error = context.get("exception")
        if isinstance(error, Exception):
            self.report_error(error, "background task")
        else:
            loop.default_exception_handler(context)

    def _handle_exception(self, error: Exception) -> None:
        """An exception that stops the console: written to the error log; `llmctl` then exits 1 with one line
        pointing at it (console.cli.tui) instead of a traceback over the terminal."""
        if self.crash is None:
            cause = getattr(error, "error", None)  # WorkerFailed wraps the worker's exception
            self.crash = cause if isinstance(cause, BaseException) else error
            path = self.error_log.write(self.crash, "the console stopped")
            self.crash_log = str(path) if path else None
        super()._handle_exception(error)

    def _print_error_renderables(self) -> None:
        if self.crash is not None:  # logged; the traceback (with local variables) stays off the terminal
            self._exit_renderables.clear()
        super()._print_error_renderables()

    # ---- cluster state --------------------------------------------------------------------------
    @work(exclusive=True, exit_on_error=False, group="cluster")
    async def watch_cluster(self) -> None:
        cluster = self.services.cluster
        await cluster.run(lambda: self.post_message(ClusterChanged()))
        self.snapshot = cluster.snapshot()

    # ---- switching context and namespace ---------------------------------------------------------
    @work(exclusive=True, exit_on_error=False, group="target")
    async def switch_namespace(self, name: str | None = None) -> None:
        """``:ns [NAME]`` (``all`` or ``0``: every namespace): the watches restart on it."""
        if name is None:
            name = await pick_namespace(self)
            if not name:
                return
        cluster = self.services.cluster
        if not hasattr(cluster, "retarget"):
            self.notify("this cluster service cannot switch namespaces", severity="error")
            return
        everything = name == ALL
        if not everything and (name == self.snapshot.namespace and not self.all_namespaces):
            return
        context = self.snapshot.context  # the context as the kubeconfig names it (before the watches restart)
        self._retarget(self.services.access.context, None if everything else name, everything)
        if not everything and context:
            self.recent_namespaces.remember(context, name)
        self.notify(f"watching {'every namespace' if everything else 'namespace ' + name}", title="namespace")

    @work(exclusive=True, exit_on_error=False, group="target")
    async def switch_context(self, name: str | None = None) -> None:
        """``:ctx [NAME]``: every service reconnects to the context, the watches restart in its namespace."""
        if name is None:
            name = await pick_context(self)
            if not name:
                return
        problem = await context_exists(self, name)
        if problem is not None:
            self.notify(problem, title="context", severity="error")
            return
        if not hasattr(self.services.cluster, "retarget"):
            self.notify("this cluster service cannot switch contexts", severity="error")
            return
        await self.services.switch_context(name)
        self.permissions = {}
        self._catalog = None
        self._retarget(name, None, False)
        self.notify(f"switched to context {name}", title="context")

    def _retarget(self, context: str | None, namespace: str | None, everything: bool) -> None:
        self.services.cluster.retarget(context, namespace, everything)  # type: ignore[attr-defined]
        gc.unfreeze()  # the old target's objects back in the collector's sight (its watches' tasks hold cycles)
        self.all_namespaces = everything
        self._permissions_in = {}
        for screen in reversed(self.screen_stack[1:]):  # a Deployment or a log of the old target: closed
            screen.dismiss(None)
        self.snapshot = self.services.cluster.snapshot()
        self.watch_cluster()  # exclusive: the old watches are cancelled

    async def catalog(self) -> Catalog:
        """The resource types the API serves (discovery), read once per context. Raises KubeError."""
        from console.kube.discovery import discover
        from console.kube.errors import KubeError

        if self._catalog is None:
            transport = self.services.cluster.transport
            if transport is None:
                raise KubeError(0, "NotConnected", "not connected to the cluster yet")
            self._catalog = await discover(transport)
        return self._catalog

    def action_all_namespaces(self) -> None:
        self.switch_namespace(ALL)

    def on_cluster_changed(self, _message: ClusterChanged) -> None:
        if self._redraw_pending:
            return
        interval = min(REDRAW_MAX, max(REDRAW_MIN, self._redraw_took / REDRAW_SHARE))
        wait = interval - (time.monotonic() - self._last_redraw)
        if wait <= 0:
            self._redraw()
        else:
            self._redraw_pending = True
            self.set_timer(wait, self._redraw)

    def _redraw(self) -> None:
        self._redraw_pending = False
        self._last_redraw = started = time.monotonic()
        snap = self.services.cluster.snapshot()
        first_contact = self.snapshot.connection.state.value != "connected"
        if snap.synced - self.snapshot.synced:
            # A watch's list came in (at start, or on a new target): what it holds lives as long as the watch, so
            # it leaves the cyclic collector's sight. A full collection over 10,000 pods' objects took ~0.3 s, a
            # stall every few events (#16). Parsed JSON has no cycles: refcounting frees what the stores drop.
            gc.freeze()
        self.snapshot = snap  # the visible screen's tables follow (screens/widgets/visible.py)
        self.alerts.update_cluster_alerts()
        # Smoothed, so one slow redraw (a GC pause) does not set the next pauses.
        self._redraw_took = 0.7 * self._redraw_took + 0.3 * (time.monotonic() - started)
        if first_contact and snap.connection.state.value == "connected" and not self.readonly:
            self.probe_permissions()

    # ---- permissions ----------------------------------------------------------------------------
    @work(exclusive=True, exit_on_error=False, group="permissions")
    async def probe_permissions(self) -> None:
        """Ask the API (SelfSubjectAccessReview) which actions this user may take; disable the others."""
        from console.actions.service import ActionError

        ns = self.snapshot.namespace  # "" (every namespace): asked cluster-wide
        allowed: dict[str, bool] = {}
        try:
            actions = await self.services.actions.get()
            for action, (verb, resource, sub) in ACTION_PERMISSIONS.items():
                allowed[action] = await actions.can_i(verb, resource, ns, group=api_group(resource), subresource=sub)
        except ActionError as exc:
            self.notify(f"could not ask the API which actions you may take ({exc.message}); the action keys stay "
                        "enabled and the server decides", severity="warning", timeout=10)
            return
        self.permissions = allowed
        self.screen.refresh_bindings()

    def _permission(self, key: str) -> bool | None:
        """What the probe found for action ``key`` (None: unknown). With every namespace watched it asked
        cluster-wide, and its no leaves each namespace unknown: a RoleBinding may allow the action there (asked
        of the API when it is taken, :meth:`refused_in`)."""
        allowed = self.permissions.get(key)
        return None if allowed is False and self.all_namespaces else allowed

    def action_allowed(self, action: str) -> bool:
        return not self.readonly and self._permission(action) is not False

    def refusal(self, kind: str) -> str | None:
        """Why an action may not be taken now, or None."""
        if self.readonly:
            return f"read-only mode: {kind} refused (started with --readonly)"
        key = permission_key(kind)
        if self._permission(key) is False:
            return forbidden(key, self.snapshot.namespace)
        return None

    async def refused_in(self, kind: str, target: str, namespace: str) -> bool:
        """With every namespace watched: may ``kind`` be taken on an object of ``namespace``? Asked of the API
        for that namespace (once per namespace and action) unless allowed cluster-wide; a no is said and audited
        as :meth:`refused` does, and True returned. False when allowed, when the API cannot say (the server
        decides), or when one namespace is watched (the probe answered for it)."""
        from console.actions.service import ActionError

        key = permission_key(kind)
        if not self.all_namespaces or not namespace or key not in ACTION_PERMISSIONS or self.permissions.get(key):
            return False
        known = self._permissions_in.setdefault(namespace, {})
        if key not in known:
            verb, resource, sub = ACTION_PERMISSIONS[key]
            try:
                actions = await self.services.actions.get()
                known[key] = await actions.can_i(verb, resource, namespace, group=api_group(resource),
                                                 subresource=sub)
            except ActionError:
                return False
        return not known[key] and self.refused(kind, target, forbidden(key, namespace))

    def refused(self, kind: str, target: str, reason: str | None = None) -> bool:
        """If ``kind`` may not be taken now (or ``reason`` says why not): say why, audit the refusal (mode
        ``refused``, as the headless commands do), and return True."""
        from console.audit import AuditError

        reason = reason or self.refusal(kind)
        if reason is None:
            return False
        self.notify(reason, title=f"{kind} refused", severity="error")
        snap = self.snapshot
        entry = {"context": snap.context, "user": snap.user, "server": snap.server, "action": kind, "target": target,
                 "before": {}, "after": {}, "mode": "refused", "result": reason}
        try:
            self.services.audit.append(entry)
        except AuditError as exc:
            self.notify(str(exc), severity="error")
        return True

    def on_key(self, event: events.Key) -> None:
        """An action key shown disabled (read-only mode, RBAC) still answers: the action says why it is refused
        (and audits it) instead of the key doing nothing."""
        active = self.screen.active_bindings.get(event.key)
        if active is None or active.enabled or active.binding.action not in ACTION_PERMISSIONS:
            return
        method = getattr(active.node, f"action_{active.binding.action}", None)
        if callable(method):
            method()

    # ---- keys -----------------------------------------------------------------------------------
    def action_command(self) -> None:
        if isinstance(self.screen, ModalScreen):  # a dialog, the palette, the help or the prompt is open: not over it
            return
        self.push_screen(CommandPrompt(lambda line: commands.complete(line, self.completion_words)), self.run_command)
        self.gather_words()

    @work(exclusive=True, exit_on_error=False, group="completion")
    async def gather_words(self) -> None:
        """What ``:`` completes besides commands: resource types, namespaces, contexts, Deployments (each best
        effort: a list that cannot be read is simply not offered)."""
        from console.app.target import list_namespaces
        from console.kube.errors import KubeError
        from console.kube.kubeconfig import context_names

        words = self.completion_words
        words["deployments"] = sorted({d.name for d in self.snapshot.deployments})
        words["namespaces"] = self.recent_namespaces.recent(self.snapshot.context)
        try:
            words["contexts"] = (await asyncio.to_thread(context_names, self.services.access.kubeconfig))[0]
        except KubeError:
            pass
        try:
            words["kinds"] = (await self.catalog()).words()
        except KubeError:
            pass
        listed = await list_namespaces(self)
        if isinstance(listed, list):
            words["namespaces"] = list(dict.fromkeys([*words["namespaces"], *listed]))

    def action_command_palette(self) -> None:
        """ctrl+p: the palette — not a second one (a dialog can open over the first), nor over a dialog."""
        if isinstance(self.screen, ModalScreen) or any(isinstance(s, CommandPalette) for s in self.screen_stack):
            return
        if self.use_command_palette:
            self.push_screen(Palette(id="--command-palette"))

    async def action_pop_screen(self) -> None:
        """``esc`` on a pushed screen; nothing when there is nothing under it (a second esc read with the first)."""
        if len(self.screen_stack) > 1:
            self.screen.dismiss(None)

    def run_command(self, line: str | None) -> None:
        """Run a ``:`` command line (an alias, and an argument where the command takes one)."""
        if not line:
            return
        command, word, argument = commands.find(line)
        if command is None:
            self.browse(word)  # any resource type discovery lists (:rs, :svc, :crd, a CRD's plural)
            return
        command.run(self, argument)

    @work(exclusive=True, exit_on_error=False, group="browse")
    async def browse(self, word: str) -> None:
        """Open the resource browser on the type ``word`` names (or say it names no command and no type)."""
        from console.kube.errors import KubeError

        try:
            resource = (await self.catalog()).find(word)
        except KubeError as exc:
            message = commands.unknown_message(word) + ("" if exc.code == 404 else f" — resource types: {exc.message}")
            self.notify(message, severity="error")
            return
        for screen in reversed(self.screen_stack[1:]):
            screen.dismiss(None)
        self.push_screen(screen_class("screens.browser", "BrowserScreen")(resource.qualified))

    def action_help(self) -> None:
        rows: list[tuple[str, str]] = []
        seen = set()
        for binding in [*self.screen.BINDINGS, *self.BINDINGS]:
            b = binding if isinstance(binding, Binding) else Binding(*binding)
            if b.key not in seen:
                seen.add(b.key)
                rows.append((self.get_key_display(b), b.description or b.action))
        self.push_screen(screen_class("screens.help", "HelpScreen")(rows + commands.help_rows()))
