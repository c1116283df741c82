"""The Textual App: modes, bindings and the cluster worker. Services come in as arguments."""

from __future__ import annotations

import time

from textual import work
from textual.app import App
from textual.binding import Binding
from textual.message import Message
from textual.reactive import reactive

from console import __version__
from console.config import Settings
from console.model import ClusterSnapshot
from console.paths import asset
from console.services.cluster import ClusterService
from screens.dashboard import DashboardScreen
from screens.help import HelpScreen

REDRAW_INTERVAL = 0.2  # at most five redraws a second from cluster events (Argo Rollouts' figure)


class ClusterChanged(Message):
    """Something in the cluster store changed. Bursts collapse into one message."""

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, ClusterChanged)


class LlmctlApp(App[None]):
    TITLE = "llmctl"
    SUB_TITLE = __version__
    CSS_PATH = str(asset("llmctl.tcss"))
    MODES = {"dashboard": DashboardScreen}
    DEFAULT_MODE = "dashboard"
    BINDINGS = [
        Binding("question_mark", "help", "Help"),
        Binding("q", "quit", "Quit"),
    ]

    snapshot: reactive[ClusterSnapshot] = reactive(ClusterSnapshot, always_update=True)

    def __init__(self, cluster: ClusterService, settings: Settings | None = None) -> None:
        super().__init__()
        self.cluster = cluster
        self.settings = settings or Settings()
        self.readonly = self.settings.readonly
        self._last_redraw = 0.0
        self._redraw_pending = False

    def on_mount(self) -> None:
        self.snapshot = self.cluster.snapshot()
        self.watch_cluster()

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
        self.snapshot = self.cluster.snapshot()

    def action_help(self) -> None:
        rows: list[tuple[str, str]] = []
        seen = set()
        for binding in [*self.screen.BINDINGS, *self.BINDINGS]:
            b = binding if isinstance(binding, Binding) else Binding(*binding)
            if b.key not in seen:
                seen.add(b.key)
                rows.append((self.get_key_display(b), b.description or b.action))
        self.push_screen(HelpScreen(rows))
