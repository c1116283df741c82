"""``:alerts`` (key ``!``): every source's alerts in one list, most severe and longest-standing first.

Filter (``/``), acknowledge locally (``a``), silence through Alertmanager (``s``; silences listed below,
``x`` expires the selected one), jump to the target (``enter``: Deployment, pod, node or GPU chart),
open the incident timeline of the target (``I``), show or hide resolved alerts (``v``).
"""

from __future__ import annotations

from datetime import UTC, datetime

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Label, Static

from console.alerts.center import AlertRow, compile_filter
from console.core.units import human_duration
from screens.host import host
from screens.widgets import tone
from screens.widgets.statusbar import StatusBar
from screens.widgets.table import fill_table

COLUMNS = ("SEVERITY", "STATE", "SOURCE", "ALERT", "TARGET", "SINCE", "ACK", "SUMMARY")
SILENCE_COLUMNS = ("ID", "STATE", "MATCHERS", "ENDS", "BY", "COMMENT")
SEVERITY_STYLE = {"critical": tone.CRITICAL, "error": tone.bold(tone.ERROR), "warning": tone.bold(tone.WARNING),
                  "info": tone.INFO}


def alert_cells(row: AlertRow, now: datetime) -> tuple[object, ...]:
    a = row.alert
    muted = row.acknowledged or bool(getattr(a, "silenced_by", ()))
    sev = Content.styled(f" {a.severity} ", SEVERITY_STYLE.get(a.severity, tone.MUTED))
    state_style = {"firing": tone.bold(tone.ERROR), "pending": tone.WARNING, "resolved": tone.SUCCESS}.get(a.state, "")
    state = Content.styled(a.state, state_style)
    if getattr(a, "silenced_by", ()):
        state = Content.styled("silenced", tone.MUTED)
    since = f"{human_duration((now - row.since).total_seconds())} ago"
    if row.resolved_at is not None:
        since = f"resolved {human_duration((now - row.resolved_at).total_seconds())} ago"
    style = tone.MUTED if muted or a.state == "resolved" else ""
    return (sev, state, a.source, Content.styled(a.name, style or "bold"), Content.styled(str(a.target), style),
            since, "✓" if row.acknowledged else "", Content.styled(a.summary, style))


class AlertsScreen(Screen[None]):
    BINDINGS = [
        Binding("enter", "jump", "Go to target"),
        Binding("a", "acknowledge", "Ack"),
        Binding("s", "silence", "Silence"),
        Binding("x", "expire", "Expire silence"),
        Binding("I", "incident", "Incident view"),
        Binding("slash", "filter", "Filter"),
        Binding("v", "toggle_resolved", "Resolved on/off"),
        Binding("ctrl+r", "refresh_now", "Refresh now"),
        Binding("escape", "back", "Back"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.filter_text = ""
        self.show_resolved = True
        self._rows: dict[str, AlertRow] = {}

    def compose(self) -> ComposeResult:
        yield StatusBar()
        with Vertical(id="alerts"):
            with Vertical(classes="panel", id="alerts-panel"):
                yield Label("Alerts", classes="panel-title", id="alerts-title")
                yield Label("", id="alerts-status", classes="panel-status")
                yield DataTable(id="alerts-table", cursor_type="row", zebra_stripes=True)
                yield Static("", id="alert-detail")
            with Vertical(classes="panel", id="silences-panel"):
                yield Label("Silences (Alertmanager)", classes="panel-title")
                yield Label("", id="silences-status", classes="panel-status")
                yield DataTable(id="silences", cursor_type="row", zebra_stripes=True)
        yield Input(placeholder="filter: text or /regex/ over severity, name, target, summary (esc clears)",
                    id="alerts-filter")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#alerts-table", DataTable).add_columns(*COLUMNS)
        self.query_one("#silences", DataTable).add_columns(*SILENCE_COLUMNS)
        self.query_one("#alerts-filter", Input).display = False
        self.watch(self.app, "alert_summary", lambda _s: self.show_alerts())
        self.watch(self.app, "silences", lambda _s: self.show_silences())
        self.query_one("#alerts-table", DataTable).focus()
        self._ticker = self.set_interval(5.0, self.show_alerts)  # "since" keeps counting, while shown

    def on_screen_suspend(self) -> None:
        self._ticker.pause()

    def on_screen_resume(self) -> None:
        self._ticker.resume()
        self.show_alerts()

    # ---- display --------------------------------------------------------------------------------
    def show_alerts(self) -> None:
        app = host(self)
        try:
            pattern = compile_filter(self.filter_text)
        except ValueError as exc:
            self.query_one("#alerts-status", Label).update(Content.styled(str(exc), tone.bold(tone.ERROR)))
            return
        rows = app.alerts.center.rows(pattern, resolved=self.show_resolved)
        now = datetime.now(UTC)
        self._rows = {r.key: r for r in rows}
        fill_table(self.query_one("#alerts-table", DataTable), [(r.key, alert_cells(r, now)) for r in rows])
        summary = app.alert_summary
        title = f"Alerts — {summary.firing} firing" + (f" ({summary.critical} critical)" if summary.critical else "")
        if summary.muted:
            title += f", {summary.muted} acknowledged or silenced"
        if self.filter_text:
            title += f"  [filter: {self.filter_text}]"
        self.query_one("#alerts-title", Label).update(title)
        self.query_one("#alerts-status", Label).update(app.alerts.sources_text())
        self.show_detail()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table.id == "alerts-table":
            self.show_detail()

    def show_detail(self) -> None:
        """The selected alert in full: summary, target, source, labels, silences."""
        row = self._selected()
        detail = self.query_one("#alert-detail", Static)
        if row is None:
            detail.update(Content.styled("no alerts" if not self.filter_text else "no alert matches the filter",
                                         tone.MUTED))
            return
        a = row.alert
        parts: list[str | tuple[str, str]] = [(f"{a.name} ", "bold"),
                                              (f"({a.severity}, {a.state}, from {a.source}) ", tone.MUTED),
                                              f"on {a.target}\n", a.summary or "-"]
        labels = dict(getattr(a, "labels", ()) or ())
        if labels:
            parts += [("\nlabels: ", tone.MUTED),
                      (", ".join(f"{k}={v}" for k, v in sorted(labels.items())), tone.MUTED)]
        if getattr(a, "silenced_by", ()):
            parts.append((f"\nsilenced by {', '.join(a.silenced_by)}", tone.WARNING))
        parts.append(("\nenter: go to target · I: incident timeline · a: acknowledge · s: silence", tone.MUTED))
        detail.update(Content.assemble(*parts))

    def show_silences(self) -> None:
        app = host(self)
        table = self.query_one("#silences", DataTable)
        status = self.query_one("#silences-status", Label)
        if app.services.alertmanager is None:
            status.update(Content.styled("no Alertmanager configured (start with --alertmanager URL to list and "
                                         "create silences)", tone.MUTED))
            table.clear()
            return
        silences, error = app.silences
        if error:
            status.update(Content.styled(error, tone.bold(tone.ERROR)))
        else:
            status.update(Content.styled(f"{len(silences)} shown", tone.MUTED))
        fill_table(table, [(s.id, (s.id[:8], s.state, ", ".join(str(m) for m in s.matchers),
                                   s.ends_at.strftime("%Y-%m-%d %H:%M") if s.ends_at else "-",
                                   s.created_by, s.comment)) for s in silences])

    def _selected(self) -> AlertRow | None:
        table = self.query_one("#alerts-table", DataTable)
        if not table.row_count:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return self._rows.get(str(key))

    # ---- keys -----------------------------------------------------------------------------------
    def action_back(self) -> None:
        if self.query_one("#alerts-filter", Input).display:
            self._close_filter(clear=True)
            return
        self.app.switch_mode("dashboard")

    def action_filter(self) -> None:
        box = self.query_one("#alerts-filter", Input)
        box.display = True
        box.value = self.filter_text
        box.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "alerts-filter":
            self.filter_text = event.value
            self.show_alerts()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "alerts-filter":
            self._close_filter(clear=False)

    def _close_filter(self, clear: bool) -> None:
        box = self.query_one("#alerts-filter", Input)
        if clear:
            self.filter_text = ""
        box.display = False
        self.query_one("#alerts-table", DataTable).focus()
        self.show_alerts()

    def action_toggle_resolved(self) -> None:
        self.show_resolved = not self.show_resolved
        self.show_alerts()

    def action_refresh_now(self) -> None:
        app = host(self)
        app.alerts.poll()

    def action_acknowledge(self) -> None:
        row = self._selected()
        if row is None:
            return
        if row.resolved_at is not None:
            self.notify("a resolved alert needs no acknowledgement", severity="warning")
            return
        app = host(self)
        acked = app.alerts.center.acknowledge(row.key)
        app.alerts.refresh_summary()
        self.notify(f"{'acknowledged' if acked else 'no longer acknowledged'}: {row.alert.name} {row.alert.target}"
                    " (local to this console)")

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.data_table.id == "alerts-table":
            event.stop()
            self.action_jump()

    def action_jump(self) -> None:
        row = self._selected()
        if row is not None:
            app = host(self)
            app.jump_to_target(row.alert.target)

    def action_incident(self) -> None:
        row = self._selected()
        app = host(self)
        target = row.alert.target if row is not None else None
        app.show_incident(target.deployment if target else None)

    def action_silence(self) -> None:
        row = self._selected()
        app = host(self)
        if row is None:
            self.notify("no alert selected", severity="warning")
            return
        app.alerts.silence(row.alert)

    def action_expire(self) -> None:
        table = self.query_one("#silences", DataTable)
        app = host(self)
        if not table.row_count:
            self.notify("no silence to expire", severity="warning")
            return
        silence_id = str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)
        app.alerts.expire(silence_id)
