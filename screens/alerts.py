"""``:alerts`` (key ``!``): every source's alerts in one list, most severe and longest-standing first.

Alerts of one Deployment (two or more) are gathered under a group row (``▾ claude-inference``, the worst
severity, the count per alert name) followed by its alerts (``├``/``└``); ``enter`` on the group opens the
Deployment, ``a`` acknowledges all of them, ``I`` opens the Deployment's incident timeline.

Filter (``/``), acknowledge locally (``a``), silence through Alertmanager (``s``; silences listed below,
``x`` expires the one selected in that list — once that list has the focus, after a confirmation that names
it), jump to the target (``enter``: Deployment, pod, node or GPU chart), open the incident timeline of the
target (``I``), show or hide resolved alerts (``v``).
"""

from __future__ import annotations

from datetime import UTC, datetime

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, DataTable, Input, Label, Static

from console.alerts.alertmanager import Silence
from console.alerts.center import AlertGroup, AlertRow, compile_filter, deployment_of, group_rows
from console.core.units import human_duration
from screens.host import host
from screens.widgets import tone
from screens.widgets.dialogs import AsksOnce
from screens.widgets.filling import fill_table
from screens.widgets.footer import KeyFooter
from screens.widgets.statusbar import StatusBar
from screens.widgets.table import ResourceTable

COLUMNS = ("SEVERITY", "STATE", "SOURCE", "ALERT", "TARGET", "SINCE", "ACK", "SUMMARY")
SILENCE_COLUMNS = ("ID", "STATE", "MATCHERS", "ENDS", "BY", "COMMENT")
SEVERITY_STYLE = {"critical": tone.CRITICAL, "error": tone.bold(tone.ERROR), "warning": tone.bold(tone.WARNING),
                  "info": tone.INFO}


STATE_STYLE = {"firing": tone.bold(tone.ERROR), "pending": tone.WARNING, "resolved": tone.SUCCESS}


def alert_cells(row: AlertRow, now: datetime, branch: str = "") -> tuple[object, ...]:
    """One alert's cells; ``branch``: its tree mark under a group row (``├ ``, ``└ ``)."""
    a = row.alert
    muted = row.acknowledged or bool(getattr(a, "silenced_by", ()))
    sev = Content.styled(f" {a.severity} ", SEVERITY_STYLE.get(a.severity, tone.MUTED))
    state = Content.styled(a.state, STATE_STYLE.get(a.state, ""))
    if getattr(a, "silenced_by", ()):
        state = Content.styled("silenced", tone.MUTED)
    since = f"{human_duration((now - row.since).total_seconds())} ago"
    if row.resolved_at is not None:
        since = f"resolved {human_duration((now - row.resolved_at).total_seconds())} ago"
    style = tone.MUTED if muted or a.state == "resolved" else ""
    name = Content.assemble((branch, tone.MUTED), (a.name, style or "bold"))
    return (sev, state, a.source, name, Content.styled(str(a.target), style),
            since, "✓" if row.acknowledged else "", Content.styled(a.summary, style))


def group_cells(group: AlertGroup, now: datetime) -> tuple[object, ...]:
    """A group row: the worst severity, firing if any is, the count, the Deployment, the oldest start."""
    style = tone.MUTED if group.acknowledged else "bold"
    sources = sorted({r.alert.source for r in group.rows})
    return (Content.styled(f" {group.severity} ", SEVERITY_STYLE.get(group.severity, tone.MUTED)),
            Content.styled(group.state, STATE_STYLE.get(group.state, "")),
            sources[0] if len(sources) == 1 else "mixed",
            Content.styled(f"▾ {len(group.rows)} alerts", style), Content.styled(str(group.target), style),
            f"{human_duration((now - group.since).total_seconds())} ago", "✓" if group.acknowledged else "",
            Content.styled(group.summary, tone.MUTED if group.acknowledged else ""))


class ExpireSilenceDialog(AsksOnce, ModalScreen[bool]):
    """Asks before expiring a silence, naming it: id, matchers, comment, author, end. ``y`` expires, ``esc``
    (or ``n``) keeps it."""

    DEFAULT_CSS = """
    ExpireSilenceDialog { align: center middle; }
    ExpireSilenceDialog > Vertical { width: 96; height: auto; border: thick $warning; background: $surface;
                                     padding: 1 2; }
    ExpireSilenceDialog .confirm-title { text-style: bold; margin-bottom: 1; }
    ExpireSilenceDialog Horizontal { height: auto; padding: 1 0 0 0; }
    ExpireSilenceDialog Button { margin-right: 2; }
    """
    BINDINGS = [Binding("escape,n", "cancel", "Keep it"), Binding("y", "expire", "Expire")]

    def __init__(self, silence_id: str, silence: Silence | None = None) -> None:
        super().__init__()
        self.silence_id = silence_id
        self.silence = silence

    def compose(self) -> ComposeResult:
        s = self.silence
        lines: list[Content] = [Content.assemble(("id: ", tone.MUTED), self.silence_id)]
        if s is not None:
            ends = s.ends_at.strftime("%Y-%m-%d %H:%M UTC") if s.ends_at else "-"
            lines += [Content.assemble(("matchers: ", tone.MUTED), ", ".join(str(m) for m in s.matchers) or "-"),
                      Content.assemble(("comment: ", tone.MUTED), s.comment or "-"),
                      Content.assemble(("created by: ", tone.MUTED), s.created_by or "-",
                                       ("  state: ", tone.MUTED), s.state, ("  ends: ", tone.MUTED), ends)]
        lines.append(Content.styled("The alerts it mutes notify again. Alertmanager has no undo; the expiry is "
                                    "audited.", tone.WARNING))
        with Vertical():
            yield Label(f"Expire silence {self.silence_id[:8]} in Alertmanager?", classes="confirm-title")
            yield Static(Content("\n").join(lines), id="silence-detail")
            with Horizontal():
                yield Button("Expire (y)", variant="error", id="expire")
                yield Button("Keep it (esc)", id="cancel")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "expire")

    def action_expire(self) -> None:
        self.dismiss(True)

    def action_cancel(self) -> None:
        self.dismiss(False)


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
        self._groups: dict[str, AlertGroup] = {}

    def compose(self) -> ComposeResult:
        yield StatusBar()
        with Vertical(id="alerts"):
            with Vertical(classes="panel", id="alerts-panel"):
                yield Label("Alerts", classes="panel-title", id="alerts-title")
                yield Label("", id="alerts-status", classes="panel-status")
                yield ResourceTable(id="alerts-table", cursor_type="row", zebra_stripes=True)
                yield Static("", id="alert-detail")
            with Vertical(classes="panel", id="silences-panel"):
                yield Label("Silences (Alertmanager)", classes="panel-title")
                yield Label("", id="silences-status", classes="panel-status")
                yield ResourceTable(id="silences", cursor_type="row", zebra_stripes=True)
        yield Input(placeholder="filter: text or /regex/ over severity, name, target, summary (esc clears)",
                    id="alerts-filter")
        yield KeyFooter()

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
        entries = group_rows(rows, deployments=[d.name for d in app.snapshot.deployments])
        self._groups = {e.key: e for e in entries if isinstance(e, AlertGroup)}
        cells: list[tuple[str, tuple[object, ...]]] = []
        for entry in entries:
            if isinstance(entry, AlertGroup):
                cells.append((entry.key, group_cells(entry, now)))
                last = len(entry.rows) - 1
                cells += [(r.key, alert_cells(r, now, "└ " if i == last else "├ ")) for i, r in enumerate(entry.rows)]
            else:
                cells.append((entry.key, alert_cells(entry, now)))
        fill_table(self.query_one("#alerts-table", DataTable), cells)
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
        """The selected alert in full: summary, target, source, labels, silences (or the group's alerts)."""
        row = self._selected()
        detail = self.query_one("#alert-detail", Static)
        group = self._selected_group()
        if group is not None:
            parts: list[str | tuple[str, str]] = [(f"{group.deployment} ", "bold"),
                                                  (f"({group.severity}, {group.state}) ", tone.MUTED),
                                                  f"{group.summary}\n"]
            parts += [f"  {r.alert.name} on {r.alert.target}{' (acknowledged)' if r.acknowledged else ''}\n"
                      for r in group.rows[:3]]
            if len(group.rows) > 3:
                parts.append((f"  … {len(group.rows) - 3} more below\n", tone.MUTED))
            parts.append(("enter: go to the Deployment · I: its incident timeline · a: acknowledge all · "
                          "s: select one alert to silence it", tone.MUTED))
            detail.update(Content.assemble(*parts))
            return
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

    def _selected_key(self) -> str | None:
        table = self.query_one("#alerts-table", DataTable)
        if not table.row_count or not table.is_valid_row_index(table.cursor_row):
            return None
        return str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)

    def _selected(self) -> AlertRow | None:
        """The alert under the cursor (None on a group row)."""
        key = self._selected_key()
        return self._rows.get(key) if key is not None else None

    def _selected_group(self) -> AlertGroup | None:
        key = self._selected_key()
        return self._groups.get(key) if key is not None else None

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
        group = self._selected_group()
        if group is not None:
            app = host(self)
            acked = app.alerts.center.acknowledge_all(r.key for r in group.rows)
            app.alerts.refresh_summary()
            self.notify(f"{'acknowledged' if acked else 'no longer acknowledged'}: the {len(group.rows)} alerts of "
                        f"{group.target} (local to this console)")
            return
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
        group, row = self._selected_group(), self._selected()
        target = group.target if group is not None else row.alert.target if row is not None else None
        if target is not None:
            host(self).jump_to_target(target)

    def action_incident(self) -> None:
        group, row = self._selected_group(), self._selected()
        app = host(self)
        if group is not None:
            app.show_incident(group.deployment, group.target.namespace)
            return
        known = [d.name for d in app.snapshot.deployments]
        app.show_incident(deployment_of(row.alert, known) if row is not None else None,
                          row.alert.target.namespace if row is not None else None)

    def action_silence(self) -> None:
        row = self._selected()
        app = host(self)
        if self._selected_group() is not None:
            self.notify("a group row: select one of its alerts to silence it", severity="warning")
            return
        if row is None:
            self.notify("no alert selected", severity="warning")
            return
        app.alerts.silence(row.alert)

    def action_expire(self) -> None:
        """Expire the silence selected in the Silences list — only when that list has the focus (tab to it): a
        stray ``x`` over the alerts does nothing. The app asks before expiring (app.alerts.expire)."""
        table = self.query_one("#silences", DataTable)
        if not table.has_focus:
            self.notify("x expires the silence selected in the Silences list: move there first (tab)",
                        severity="warning")
            return
        if not table.row_count or not table.is_valid_row_index(table.cursor_row):
            self.notify("no silence selected", severity="warning")
            return
        silence_id = str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)
        host(self).alerts.expire(silence_id)
