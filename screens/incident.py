"""The incident view (``:incident [[NAMESPACE/]DEPLOYMENT]``, ``I`` from the Alerts or Deployment screen): one
timeline of the last N minutes for the namespace or one Deployment — alerts starting and ending, Warning events,
restarts and OOMKills, rollouts (old → new image), scale changes (manual and HPA) and audit-log entries.

Built from the watch store, the alert center and the audit log (no API call of its own), rebuilt as they
change. From here: ``enter`` jumps to what an entry is about, ``l`` tails the logs of the pod involved,
``u`` rolls the Deployment back, ``s`` scales it, ``[``/``]`` narrow or widen the window.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.screen import Screen
from textual.widgets import DataTable, Label, Static

from console.audit import AuditLog
from console.core.model import DeploymentRow
from console.core.units import human_duration
from console.incident.service import TimelineEntry, build_timeline
from console.kube.cluster import REPLACED_PODS
from screens.actions_flow import ActionsMixin
from screens.alerts import SEVERITY_STYLE
from screens.host import host
from screens.widgets import tone
from screens.widgets.filling import fill_table
from screens.widgets.footer import KeyFooter
from screens.widgets.panel import set_text
from screens.widgets.statusbar import StatusBar
from screens.widgets.table import ResourceTable

WINDOWS = (15, 30, 60, 120, 240, 720)
COLUMNS = ("TIME (UTC)", "AGO", "KIND", "SEVERITY", "TARGET", "WHAT HAPPENED")
KIND_STYLE = {"alert-start": tone.bold(tone.ERROR), "alert-end": tone.SUCCESS, "event": tone.WARNING,
              "restart": tone.bold(tone.WARNING), "oomkill": tone.bold(tone.ERROR), "rollout": tone.bold(tone.INFO),
              "scale": tone.INFO, "audit": tone.ACCENT}


class AuditCache:
    """The audit log's entries, re-read only when the file changes."""

    def __init__(self, log: AuditLog) -> None:
        self.log = log
        self._stamp: tuple[float, int] | None = None
        self._entries: list[dict[str, Any]] = []
        self.error: str | None = None

    def entries(self) -> list[dict[str, Any]]:
        try:
            st = os.stat(self.log.path)
        except FileNotFoundError:
            return []
        except OSError as exc:
            self.error = f"audit log {self.log.path}: {exc.strerror or exc}"
            return self._entries
        stamp = (st.st_mtime, st.st_size)
        if stamp != self._stamp:
            try:
                self._entries = self.log.entries()
                self.error = None
            except (OSError, ValueError) as exc:
                self.error = f"audit log {self.log.path} unreadable: {exc}"
            self._stamp = stamp
        return self._entries


def ago(seconds: float) -> str:
    """How long ago, as the AGO column says it: ``-5m``; ``now`` under a second — and for an entry stamped a moment
    in the future (another machine's clock runs ahead), which has not happened "minus ten seconds ago"."""
    return "now" if seconds < 1 else f"-{human_duration(seconds)}"


def entry_cells(e: TimelineEntry, now: datetime) -> tuple[object, ...]:
    return (e.time.astimezone(UTC).strftime("%H:%M:%S"), ago((now - e.time).total_seconds()),
            Content.styled(e.kind, KIND_STYLE.get(e.kind, "")),
            Content.styled(e.severity, SEVERITY_STYLE.get(e.severity, "")),
            _target(e), e.summary)


def _target(e: TimelineEntry) -> str:
    """Compact: the pod or Deployment (the namespace is the screen's), else the node or alert."""
    t = e.target
    return t.pod or t.deployment or (f"node {t.node}" if t.node else "") or str(t)


class IncidentScreen(ActionsMixin, Screen[None]):
    BINDINGS = [
        Binding("enter", "jump", "Go to"),
        Binding("l", "logs", "Logs of pod"),
        Binding("u", "undo", "Roll back"),
        Binding("s", "scale", "Scale"),
        Binding("left_square_bracket", "window(-1)", "Window −"),
        Binding("right_square_bracket", "window(1)", "Window +"),
        Binding("escape", "app.pop_screen", "Back"),
    ]

    def __init__(self, deployment: str | None = None, minutes: int = 60, now: datetime | None = None,
                 namespace: str | None = None) -> None:
        super().__init__()
        self.deployment = deployment
        self._namespace = namespace  # the timeline's (None: the namespace shown; needed when every one is shown)
        self.minutes = minutes
        self.frozen_now = now  # tests and screenshots: a fixed "now"; None: live
        self.entries: list[TimelineEntry] = []
        self._audit: AuditCache | None = None

    def compose(self) -> ComposeResult:
        yield StatusBar()
        with Vertical(id="incident"):
            with Vertical(classes="panel", id="timeline-panel"):
                yield Label("Incident timeline", classes="panel-title", id="incident-title")
                yield Label("", id="incident-status", classes="panel-status")
                yield ResourceTable(id="timeline", cursor_type="row", zebra_stripes=True)
            yield Static("", id="entry-detail")
        yield KeyFooter()

    def on_mount(self) -> None:
        app = host(self)
        self._audit = AuditCache(app.services.audit)
        self.query_one("#timeline", DataTable).add_columns(*COLUMNS)
        self.watch(app, "snapshot", lambda _s: self.rebuild())
        self.watch(app, "alert_summary", lambda _s: self.rebuild())
        self.query_one("#timeline", DataTable).focus()
        self._ticker = self.set_interval(10.0, self.rebuild, pause=self.frozen_now is not None)
        # (the window slides and ages count even when nothing happens; paused while another screen is on top)

    def on_screen_suspend(self) -> None:
        self._ticker.pause()

    def on_screen_resume(self) -> None:
        if self.frozen_now is None:
            self._ticker.resume()
        self.rebuild()

    # ---- data -----------------------------------------------------------------------------------
    def now(self) -> datetime:
        return self.frozen_now or datetime.now(UTC)

    def rebuild(self) -> None:
        app = host(self)
        if not self.is_current and self.entries:
            return
        namespace = self.namespace()

        def raw(resource: str) -> list[dict[str, Any]]:
            if app.snapshot.namespace:
                return app.services.cluster.raw(resource)  # the watches' own namespace
            return app.services.cluster.raw(resource, namespace)  # every namespace watched: from the index
        center = app.alerts.center
        assert self._audit is not None
        self.entries = build_timeline(
            namespace=namespace, deployment=self.deployment, now=self.now(), minutes=self.minutes,
            server=app.snapshot.server or None, replaced_pods=raw(REPLACED_PODS),
            events=raw("events"), pods=raw("pods"), replicasets=raw("replicasets"), deployments=raw("deployments"),
            hpas=raw("horizontalpodautoscalers"), audit=self._audit.entries(), alerts=center.current(),
            resolved_alerts=[(a, at) for a, _, at in center.resolved()])
        self.show()

    def show(self) -> None:
        app = host(self)
        now = self.now()
        newest_first = list(reversed(self.entries))
        fill_table(self.query_one("#timeline", DataTable),
                   [(str(i), entry_cells(e, now)) for i, e in enumerate(newest_first)])
        self._shown = newest_first
        scope = f"deployment/{self.deployment}" if self.deployment else "every Deployment"
        set_text(self.query_one("#incident-title", Label),
            f"Incident timeline — {scope} in namespace {self.namespace()}, last {self.minutes} min "
            f"(newest first)")
        counts: dict[str, int] = {}
        for e in self.entries:
            counts[e.kind] = counts.get(e.kind, 0) + 1
        status = Content.styled(f"{len(self.entries)} entries" + (": " + ", ".join(f"{n} {k}" for k, n in sorted(
            counts.items())) if counts else " — nothing happened in this window"), tone.MUTED)
        assert self._audit is not None
        if self._audit.error:
            status += Content.styled(f"  {self._audit.error}", tone.bold(tone.ERROR))
        problem = app.snapshot.problem("events")
        if problem:
            status += Content.styled(f"  events: {problem}", tone.bold(tone.ERROR))
        set_text(self.query_one("#incident-status", Label), status)
        self.show_detail()

    def selected(self) -> TimelineEntry | None:
        table = self.query_one("#timeline", DataTable)
        if not table.row_count or not getattr(self, "_shown", None):
            return None
        row = table.cursor_row
        return self._shown[row] if 0 <= row < len(self._shown) else None

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.show_detail()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_jump()

    def show_detail(self) -> None:
        entry = self.selected()
        box = self.query_one("#entry-detail", Static)
        if entry is None:
            box.update(Content.styled("no entry selected", tone.MUTED))
            return
        parts: list[str | tuple[str, str]] = [
            (f"{entry.time.astimezone(UTC).strftime('%Y-%m-%d %H:%M:%S')}Z  ", tone.MUTED),
            (f"{entry.kind} ", KIND_STYLE.get(entry.kind, "bold")), f"{entry.target}\n", entry.summary]
        for key, value in entry.detail.items():
            if value in (None, "", [], {}):
                continue
            shown = ", ".join(map(str, value)) if isinstance(value, list | tuple) else str(value)
            parts += [(f"\n{key}: ", tone.MUTED), shown[:300]]
        box.update(Content.assemble(*parts))

    # ---- keys -----------------------------------------------------------------------------------
    def action_window(self, step: int) -> None:
        index = min(range(len(WINDOWS)), key=lambda i: abs(WINDOWS[i] - self.minutes))
        self.minutes = WINDOWS[max(0, min(len(WINDOWS) - 1, index + step))]
        self.rebuild()

    def _pod_of(self, entry: TimelineEntry | None) -> str | None:
        if entry is not None:
            if entry.ref[:1] == ("pod",):
                return entry.ref[-1]
            if entry.target.pod:
                return entry.target.pod
        app = host(self)
        pods = [p for p in app.services.cluster.pods() if p.namespace == self.namespace()
                and (self.deployment is None or p.name.startswith(f"{self.deployment}-"))]
        pods.sort(key=lambda p: (-p.restarts, p.name))
        return pods[0].name if pods else None

    def action_logs(self) -> None:
        from screens.logs import LogsScreen

        pod = self._pod_of(self.selected())
        if pod is None:
            self.app.notify("no pod involved in this entry", severity="warning")
            return
        self.app.push_screen(LogsScreen(self.namespace(), pod))

    def action_jump(self) -> None:
        entry = self.selected()
        if entry is None:
            return
        app = host(self)
        kind = entry.ref[0] if entry.ref else ""
        if kind == "alert":
            app.switch_mode("alerts")
        elif kind == "hpa":
            app.switch_mode("hpa")
        elif kind == "node":
            app.jump_to_target(entry.target)
        elif kind == "pod":
            self.action_logs()
        else:
            app.jump_to_target(entry.target)

    def selected_deployment(self) -> DeploymentRow | None:
        """What ``u``/``s`` act on: the scoped Deployment, else the selected entry's."""
        app = host(self)
        entry = self.selected()
        name = self.deployment or (entry.target.deployment if entry is not None else None)
        return next((d for d in app.snapshot.deployments if d.name == name and d.namespace == self.namespace()),
                    None)

    def namespace(self) -> str:
        """The namespace whose timeline this is."""
        return self._namespace or host(self).snapshot.namespace
