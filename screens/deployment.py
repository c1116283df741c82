"""One Deployment: kubectl's rollout verdict, pods with the real reason, revisions, events, HPA."""

from __future__ import annotations

import math
import time

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import Screen
from textual.widgets import DataTable, Label, Static

from console.core.model import ClusterSnapshot, DeploymentDetail, DeploymentRow
from console.core.units import age_until
from screens.actions_flow import ACTION_BINDINGS, ActionsMixin
from screens.format import image_ref, verdict_text
from screens.host import host
from screens.object_actions import OBJECT_BINDINGS, ObjectActionsMixin, ObjectRef
from screens.widgets import tone
from screens.widgets.footer import KeyFooter
from screens.widgets.panel import set_text
from screens.widgets.statusbar import StatusBar
from screens.widgets.table import ResourceTable
from screens.widgets.visible import WakeAt, watch_snapshot

POD_COLUMNS = ("POD", "STATUS", "READY", "RESTARTS", "NODE", "COLD START", "AGE", "WHY")
# The image third, after two narrow columns, so a whole reference fits the panel (the ReplicaSet's long name last).
REVISION_COLUMNS = ("REV", "PODS", "IMAGE", "AGE", "CHANGE-CAUSE", "REPLICASET")
EVENT_COLUMNS = ("LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE")

_STATUS_STYLE = {"Running": tone.SUCCESS, "Completed": tone.MUTED, "Pending": tone.WARNING,
                 "ContainerCreating": tone.WARNING, "Terminating": tone.MUTED}


def status_text(status: str, ready: str) -> Content:
    style = _STATUS_STYLE.get(status, tone.bold(tone.ERROR))
    have, _, want = ready.partition("/")
    if status == "Running" and have != want:
        style = tone.WARNING  # running, model still loading
    return Content.styled(status, style)


class DeploymentScreen(ActionsMixin, ObjectActionsMixin, Screen[None]):
    """Pushed from the dashboard with Enter; Esc goes back."""

    BINDINGS = [Binding("escape", "app.pop_screen", "Back"), Binding("I", "incident", "Incident view"),
                Binding("L", "loadtest", "Load test"), Binding("P", "probe", "Probe"),
                *ACTION_BINDINGS, *OBJECT_BINDINGS]

    def selected_object(self) -> ObjectRef | None:
        row = self.selected_deployment()
        return ObjectRef("deployments.apps", row.namespace, row.name) if row else None

    def action_incident(self) -> None:
        row = self.selected_deployment()
        self.app.show_incident(self.deployment_name, row.namespace if row else self.deployment_namespace)

    def action_loadtest(self) -> None:
        from screens.loadtest import LoadTestScreen

        row = self.selected_deployment()
        self.app.push_screen(LoadTestScreen(self.deployment_name,
                                            namespace=row.namespace if row else self.deployment_namespace))

    def action_probe(self) -> None:
        from screens.probe import probe_deployment

        probe_deployment(self.app, self.selected_deployment())

    def __init__(self, name: str, namespace: str | None = None) -> None:
        super().__init__()
        self.deployment_name = name
        self.deployment_namespace = namespace  # whose, when every namespace is shown (None: the namespace shown)
        self._detail: DeploymentDetail | None = None

    def compose(self) -> ComposeResult:
        yield StatusBar()
        with Vertical(id="deployment"):
            yield Static("", id="deployment-head")
            with Vertical(classes="panel", id="pods-panel"):
                yield Label("Pods", classes="panel-title")
                yield ResourceTable(id="pods", cursor_type="row", zebra_stripes=True)
            with Horizontal(id="lower"):
                with Vertical(classes="panel", id="revisions-panel"):
                    yield Label("Revisions", classes="panel-title")
                    yield ResourceTable(id="revisions", cursor_type="row")
                with Vertical(classes="panel", id="events-panel"):
                    yield Label("Events", classes="panel-title")
                    yield ResourceTable(id="events", cursor_type="row")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one("#pods", DataTable).add_columns(*POD_COLUMNS)
        self.query_one("#revisions", DataTable).add_columns(*REVISION_COLUMNS)
        self.query_one("#events", DataTable).add_columns(*EVENT_COLUMNS)
        self._ages = WakeAt(self, lambda: self.show_snapshot(host(self).snapshot))  # ages move on a quiet cluster
        watch_snapshot(self, self.show_snapshot)  # hidden: stale until shown again (#16)

    def selected_deployment(self) -> DeploymentRow | None:
        return self._detail.row if self._detail else None

    def show_snapshot(self, snap: ClusterSnapshot) -> None:
        detail = host(self).services.cluster.deployment_detail(self.deployment_name, self.deployment_namespace)
        self._detail = detail
        head = self.query_one("#deployment-head", Static)
        if detail is None:
            namespace = self.deployment_namespace or snap.namespace
            where = f"namespace {namespace}" if namespace else "any namespace"
            head.update(Content.styled(f"deployment/{self.deployment_name}: not found in {where} "
                                       "(deleted, or not listed yet)", tone.bold(tone.ERROR)))
            return
        head.update(self._head(detail))
        now, due = time.time(), [math.inf]

        def age(created: str) -> str:  # and when the first AGE shown changes
            text, until = age_until(created, now)
            due[0] = min(due[0], until)
            return text
        self._fill("#pods", [(p.name, (p.name, status_text(p.status, p.ready), p.ready, str(p.restarts),
                                       p.node or "-", f"{p.cold_start_s:.0f}s" if p.cold_start_s is not None else "-",
                                       age(p.created), p.why)) for p in detail.pods])
        self._fill("#revisions", [(str(r.number), (str(r.number), str(r.replicas), ", ".join(map(image_ref, r.images)),
                                                   age(r.created), r.change_cause, r.replicaset))
                                  for r in reversed(detail.revisions)])
        self._ages.at(due[0], now)
        self._fill("#events", [(f"{i}", (e.last_seen[11:19] or "-", Content.styled(e.type, tone.bold(tone.ERROR) if
                                         e.type == "Warning" else ""), e.reason, e.obj,
                                         e.message + (f" (×{e.count})" if e.count > 1 else "")))
                               for i, e in enumerate(detail.events)])
        problem = snap.problem("pods")
        set_text(self.query_one("#pods-panel .panel-title", Label),
            f"Pods — {len(detail.pods)}" + (f"  ({problem})" if problem else ""))

    @staticmethod
    def _head(d: DeploymentDetail) -> Content:
        row = d.row
        parts: list[str | tuple[str, str] | Content] = [
            (f"deployment/{row.name}", "bold"), (f"  revision {row.revision or '?'}  {d.strategy}", tone.MUTED),
            (f"  {row.gpus_per_replica} GPU/replica, {row.gpus_total} total", tone.MUTED)]
        if d.paused:
            parts.append(("  PAUSED", tone.ALERT))
        parts += ["\n", f"ready {row.ready}/{row.desired}  up-to-date {row.updated}  available {row.available}  ",
                  verdict_text(d.verdict), "\n"]
        if d.hpa is not None:
            h = d.hpa
            parts.append((f"HPA {h.name}: min {h.min_replicas} max {h.max_replicas} current {h.current} "
                          f"desired {h.desired}  {h.metrics}", tone.INFO))
            if h.conditions:
                parts.append((f"  {h.conditions}", tone.WARNING))
        else:
            parts.append(("no HPA", tone.MUTED))
        return Content.assemble(*parts)

    def _fill(self, selector: str, rows: list[tuple[str, tuple[object, ...]]]) -> None:
        from screens.widgets.filling import fill_table

        fill_table(self.query_one(selector, DataTable), rows)
