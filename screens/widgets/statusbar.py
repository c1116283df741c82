"""The top bar: context, namespace, SANDBOX mark and the link's state with the data's age."""

from __future__ import annotations

import time

from textual.content import Content
from textual.widgets import Static

from console.alerts.center import AlertSummary
from console.core.model import ClusterSnapshot, ConnState
from console.core.units import clock
from screens.host import host
from screens.widgets import tone
from screens.widgets.panel import set_text

_STATE_STYLE = {
    ConnState.CONNECTING: ("◌", tone.WARNING),
    ConnState.CONNECTED: ("●", tone.SUCCESS),
    ConnState.DISCONNECTED: ("✕", tone.ERROR),
    ConnState.FORBIDDEN: ("⊘", tone.ERROR),
    ConnState.ERROR: ("✕", tone.ERROR),
}


def age_text(seconds: float | None) -> str:
    if seconds is None:
        return "no data yet"
    return f"{clock(seconds)} ago"


def render_alerts(summary: AlertSummary | None) -> Content:
    """The header's alert count: only when something is firing (unacknowledged) or a source is failing."""
    parts: list[tuple[str, str]] = []
    if summary is None:
        return Content()
    if summary.firing:
        style = tone.CRITICAL if summary.critical else tone.ALERT
        crit = f", {summary.critical} critical" if summary.critical else ""
        parts.append((f" ▲ {summary.firing} firing{crit} ", style))
        parts.append((" ! to see", tone.MUTED))
    if summary.errors:
        parts.append((f"  alerts: {len(summary.errors)} source{'s' if len(summary.errors) > 1 else ''} failing",
                      tone.ERROR))
    return Content.assemble(*parts)


def render_status(snap: ClusterSnapshot, now: float | None = None, readonly: bool = False,
                  alerts: AlertSummary | None = None, all_namespaces: bool = False) -> Content:
    now = time.time() if now is None else now
    parts: list[str | tuple[str, str] | Content] = [(" llmctl ", "bold reverse")]
    if snap.sandbox:
        parts.append((" SANDBOX ", tone.ALERT))
    if readonly:
        parts.append((" READ-ONLY ", tone.NOTICE))
    parts += [("  ctx ", tone.MUTED), (snap.context or "?", "bold"), ("  ns ", tone.MUTED),
              ("all" if all_namespaces else (snap.namespace or "?"), "bold")]
    icon, colour = _STATE_STYLE[snap.connection.state]
    parts.append((f"  {icon} ", colour))
    conn = snap.connection
    if conn.state is ConnState.CONNECTED:
        parts.append(("connected", colour))
    elif conn.state is ConnState.CONNECTING:
        parts.append(("connecting…", colour))
    else:
        last = None if conn.last_ok is None else now - conn.last_ok
        parts.append((f"{conn.state.value}: {conn.message}", colour))
        parts.append((f"  (data {age_text(last)})", tone.MUTED))
    badge = render_alerts(alerts)
    if badge:
        parts += ["  ", badge]
    return Content.assemble(*parts)


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
        self._draw()

    def _on_alerts(self, summary: AlertSummary) -> None:
        self._alerts = summary
        self._draw()

    def _draw(self) -> None:
        if self._snap is not None:
            set_text(self, render_status(self._snap, readonly=self._readonly, alerts=self._alerts,
                                         all_namespaces=host(self).all_namespaces))

    def _tick(self) -> None:
        if self._snap is not None and self._snap.connection.state not in (ConnState.CONNECTED,):
            self._draw()
