"""The top bar: context, namespace, SANDBOX mark and the link's state with the data's age."""

from __future__ import annotations

import time

from rich.text import Text
from textual.widgets import Static

from console.alerts.center import AlertSummary
from console.core.model import ClusterSnapshot, ConnState
from console.core.units import clock
from screens.host import host

_STATE_STYLE = {
    ConnState.CONNECTING: ("◌", "yellow"),
    ConnState.CONNECTED: ("●", "green"),
    ConnState.DISCONNECTED: ("✕", "red"),
    ConnState.FORBIDDEN: ("⊘", "red"),
    ConnState.ERROR: ("✕", "red"),
}


def age_text(seconds: float | None) -> str:
    if seconds is None:
        return "no data yet"
    return f"{clock(seconds)} ago"


def render_alerts(summary: AlertSummary | None) -> Text:
    """The header's alert count: only when something is firing (unacknowledged) or a source is failing."""
    text = Text()
    if summary is None:
        return text
    if summary.firing:
        style = "bold white on red" if summary.critical else "bold black on yellow"
        crit = f", {summary.critical} critical" if summary.critical else ""
        text.append(f" ▲ {summary.firing} firing{crit} ", style=style)
        text.append(" ! to see", style="dim")
    if summary.errors:
        text.append(f"  alerts: {len(summary.errors)} source{'s' if len(summary.errors) > 1 else ''} failing",
                    style="red")
    return text


def render_status(snap: ClusterSnapshot, now: float | None = None, readonly: bool = False,
                  alerts: AlertSummary | None = None) -> Text:
    now = time.time() if now is None else now
    text = Text()
    text.append(" llmctl ", style="bold reverse")
    if snap.sandbox:
        text.append(" SANDBOX ", style="bold black on yellow")
    if readonly:
        text.append(" READ-ONLY ", style="bold white on blue")
    text.append("  ctx ", style="dim")
    text.append(snap.context or "?", style="bold")
    text.append("  ns ", style="dim")
    text.append(snap.namespace or "?", style="bold")
    icon, colour = _STATE_STYLE[snap.connection.state]
    text.append(f"  {icon} ", style=colour)
    conn = snap.connection
    if conn.state is ConnState.CONNECTED:
        text.append("connected", style=colour)
    elif conn.state is ConnState.CONNECTING:
        text.append("connecting…", style=colour)
    else:
        last = None if conn.last_ok is None else now - conn.last_ok
        text.append(f"{conn.state.value}: {conn.message}", style=colour)
        text.append(f"  (data {age_text(last)})", style="dim")
    badge = render_alerts(alerts)
    if badge:
        text.append("  ")
        text.append_text(badge)
    return text


class StatusBar(Static):
    """One line at the top of every screen."""

    DEFAULT_CSS = """
    StatusBar { height: 1; width: 100%; background: $panel; }
    """

    def __init__(self) -> None:
        super().__init__("", id="status-bar")
        self._snap: ClusterSnapshot | None = None
        self._readonly = False
        self._alerts: AlertSummary | None = None

    def on_mount(self) -> None:
        app = host(self)
        self._readonly = app.readonly
        self.watch(app, "snapshot", self._on_snapshot)
        self.watch(app, "alert_summary", self._on_alerts)
        # The age of stale data must keep counting while disconnected; once a second is enough.
        self.set_interval(1.0, self._tick)

    def _on_snapshot(self, snap: ClusterSnapshot) -> None:
        self._snap = snap
        self.update(render_status(snap, readonly=self._readonly, alerts=self._alerts))

    def _on_alerts(self, summary: AlertSummary) -> None:
        self._alerts = summary
        if self._snap is not None:
            self.update(render_status(self._snap, readonly=self._readonly, alerts=summary))

    def _tick(self) -> None:
        if self._snap is not None and self._snap.connection.state not in (ConnState.CONNECTED,):
            self.update(render_status(self._snap, readonly=self._readonly, alerts=self._alerts))
