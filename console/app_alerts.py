"""The App's side of alerting: feeding the alert center, the header count, notifications, silences, jumps.

Cluster-derived alerts are recomputed from the watch store on each (throttled) redraw — no extra API
call. Prometheus (``/api/v1/alerts``), Alertmanager (``/api/v2/alerts`` and silences) and the built-in
rules (from the metrics service) have no watch API: they are read in a worker thread every
``alerts_refresh`` seconds, and only those that are configured.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import work
from textual.reactive import reactive

from console.services.alert_center import AlertCenter, AlertSummary
from console.services.alerts import Alert, AlertTarget

_MATCHER_SPLIT = re.compile(r',(?=(?:[^"]*"[^"]*")*[^"]*$)')  # commas outside double quotes
NOTIFY_AT_ONCE = 3  # more newly firing alerts than this at once: one summary notification instead


class AlertsAppMixin:
    """Mixed into :class:`console.app.LlmctlApp`."""

    alert_summary: reactive[AlertSummary] = reactive(AlertSummary, always_update=True)
    silences: reactive[tuple[list[Any], str | None]] = reactive(lambda: ([], None), always_update=True)

    def init_alerts(self) -> None:
        self.alert_center = AlertCenter()
        self._alertmanager: Any = None
        self._builtin_state: Any = None
        self._alerts_started = False
        self.prometheus_rules: set[str] | str | None = None  # Prometheus's alert rule names (or the read error)

    # ---- sources --------------------------------------------------------------------------------
    def settings_alertmanager(self) -> str | None:
        return getattr(self.settings, "alertmanager_url", None)  # type: ignore[attr-defined]

    def remote_alert_sources(self) -> list[str]:
        app: Any = self
        out = []
        if app.settings.prometheus_url:
            out.append("prometheus")
        if self.settings_alertmanager():
            out.append("alertmanager")
        if app.metrics is not None and app.settings.builtin_rules:
            out.append("builtin")
        return out

    def start_alert_polling(self) -> None:
        app: Any = self
        if self._alerts_started or not self.remote_alert_sources():
            return
        self._alerts_started = True
        app.set_interval(float(getattr(app.settings, "alerts_refresh", 15.0)), self.poll_alert_sources)
        self.poll_alert_sources()

    def update_cluster_alerts(self) -> None:
        app: Any = self
        source = getattr(app.cluster, "alerts", None)
        if source is None:
            return
        self._feed("cluster", source())

    def _feed(self, group: str, alerts: list[Alert]) -> None:
        app: Any = self
        fresh = self.alert_center.update(group, alerts)
        self.refresh_alert_summary()
        if not fresh:
            return
        if len(fresh) > NOTIFY_AT_ONCE:
            critical = sum(1 for a in fresh if a.severity == "critical")
            app.notify(f"{len(fresh)} alerts started firing ({critical} critical) — press ! to see them",
                       title="alerts", severity="error" if critical else "warning", timeout=8)
            return
        for alert in fresh:
            app.notify(f"{alert.summary or alert.name}", title=f"{alert.severity}: {alert.name} ({alert.source})",
                       severity="error" if alert.severity == "critical" else "warning", timeout=8)

    def refresh_alert_summary(self) -> None:
        self.alert_summary = self.alert_center.summary()

    def get_alertmanager(self) -> Any:
        """The Alertmanager client for --alertmanager (audited, read-only with --readonly), or None."""
        app: Any = self
        if not self.settings_alertmanager():
            return None
        if self._alertmanager is None:
            from console.services.alertmanager import AlertmanagerClient
            from console.services.audit import AuditLog

            audit = AuditLog(Path(app.settings.audit_log) if app.settings.audit_log else None)
            self._alertmanager = AlertmanagerClient.from_settings(app.settings, audit=audit)
            self._alertmanager.readonly = bool(app.readonly)
        return self._alertmanager

    @work(thread=True, exclusive=True, exit_on_error=False, group="alerts")
    def poll_alert_sources(self) -> None:
        """Read every configured remote source once (worker thread); results go to the UI thread."""
        app: Any = self
        from console.services import builtin_rules as rules

        results: list[tuple[str, list[Alert] | None, str | None]] = []
        defined: set[str] | str = set()  # the alert rules Prometheus defines, or why they could not be read
        if app.settings.prometheus_url:
            results.append(("prometheus", *self._read_prometheus()))
            try:
                defined = rules.covered_by_prometheus(app.settings)
            except ValueError as exc:
                defined = str(exc)
            self.prometheus_rules = defined
        manager = self.get_alertmanager()
        silences: tuple[list[Any], str | None] | None = None
        if manager is not None:
            try:
                results.append(("alertmanager", manager.alerts(), None))
                silences = (manager.silences(), None)
            except Exception as exc:
                results.append(("alertmanager", None, str(exc)))
                silences = ([], str(exc))
        if app.metrics is not None and app.settings.builtin_rules:
            results.append(("builtin", *self._read_builtin(defined)))
        app.call_from_thread(self._apply_polled, results, silences)

    def _read_prometheus(self) -> tuple[list[Alert] | None, str | None]:
        from console.services.alerts import parse_prometheus_alerts
        from console.services.metrics import public_url
        from console.services.prom_http import settings_get

        app: Any = self
        try:
            return parse_prometheus_alerts(settings_get(app.settings, "/api/v1/alerts")), None
        except Exception as exc:
            reason = getattr(exc, "reason", None) or exc
            return None, f"Prometheus unreachable at {public_url(app.settings.prometheus_url)}: {reason}"

    def _read_builtin(self, covered: set[str] | str) -> tuple[list[Alert] | None, str | None]:
        from console.services import builtin_rules as rules
        from console.services.metrics import ErrorKind

        app: Any = self
        s = app.settings
        if self._builtin_state is None:
            self._builtin_state = rules.BuiltinRuleState()
        if isinstance(covered, str):  # unknown coverage: say so rather than double-report
            return None, f"built-in rules: {covered}"
        wanted = set(rules.RULES) - covered
        if not wanted:
            return [], None
        namespace = app.snapshot.namespace or None
        gpus = app.metrics.gpus() if rules.FB_HIGH in wanted else None
        serving = app.metrics.serving(namespace) if wanted - {rules.FB_HIGH} else None
        for result in (gpus, serving):
            if result is not None and result.error is not None and result.error.kind is not ErrorKind.NO_METRIC:
                return None, f"built-in rules: {result.error.message}"
        found = rules.evaluate(gpus.value if gpus else None, serving.value if serving else None,
                               rules.Thresholds.from_settings(s), covered, namespace=namespace)
        return self._builtin_state.update(found), None

    def _apply_polled(self, results: list[tuple[str, list[Alert] | None, str | None]],
                      silences: tuple[list[Any], str | None] | None) -> None:
        for group, alerts, error in results:
            if error is not None:
                self.alert_center.set_error(group, error)
                self.refresh_alert_summary()
            else:
                self._feed(group, alerts or [])
        if silences is not None:
            self.silences = silences

    def alert_sources_text(self) -> Text:
        """One line: each source's state (read when, or its error, or not configured)."""
        from datetime import UTC, datetime

        text = Text()
        now = datetime.now(UTC)
        configured = {"cluster", *self.remote_alert_sources()}
        names = {"cluster": "cluster", "prometheus": "Prometheus", "alertmanager": "Alertmanager",
                 "builtin": "built-in rules"}
        for i, (group, name) in enumerate(names.items()):
            if i:
                text.append(" · ", style="dim")
            if group not in configured:
                text.append(f"{name}: not configured", style="dim")
                continue
            updated, error = self.alert_center.status(group)
            if error:
                text.append(f"{name}: {error}", style="bold red")
            elif updated is None:
                text.append(f"{name}: reading…", style="yellow")
            elif group == "cluster":
                text.append(f"{name} ✓ (live, from the watches)", style="green")
            elif group == "prometheus" and isinstance(self.prometheus_rules, set):
                text.append(f"{name} ✓ {int((now - updated).total_seconds())}s ago "
                            f"({len(self.prometheus_rules)} alert rules defined)", style="green")
            else:
                text.append(f"{name} ✓ {int((now - updated).total_seconds())}s ago", style="green")
        return text

    # ---- silences -------------------------------------------------------------------------------
    def silence_alert(self, alert: Alert) -> None:
        from screens.widgets.dialogs import FormDialog

        app: Any = self
        manager = self.get_alertmanager()
        if manager is None:
            app.notify("no Alertmanager configured: start llmctl with --alertmanager URL to silence alerts",
                       severity="error", timeout=8)
            return
        if app.readonly:
            app.notify("read-only mode: silence refused (started with --readonly)", severity="error")
            return
        from console.services.alertmanager import matchers_for

        matchers = ", ".join(str(m) for m in matchers_for(alert))
        form = FormDialog(f"Silence {alert.name} ({alert.target}) in Alertmanager",
                          [("matchers", "Matchers (comma-separated: name=value, name=~regex, !=, !~)", matchers),
                           ("duration", "Duration (e.g. 30m, 2h, 1d)", "2h"),
                           ("comment", "Comment (required: why, and who is on it)", "")],
                          hint="Enter moves on; the last Enter creates the silence (audited). Esc cancels.")

        def done(values: dict[str, str] | None) -> None:
            if values is not None:
                self._create_silence(values)

        app.push_screen(form, done)

    @work(thread=True, exit_on_error=False, group="silence")
    def _create_silence(self, values: dict[str, str]) -> None:
        import getpass

        app: Any = self
        manager = self.get_alertmanager()
        matchers = [m.strip() for m in _MATCHER_SPLIT.split(values["matchers"]) if m.strip()]
        try:
            silence_id = manager.create_silence(matchers, values["duration"], values["comment"],
                                                created_by=f"{getpass.getuser()} (llmctl)")
        except Exception as exc:
            app.call_from_thread(app.notify, str(exc), title="silence refused", severity="error", timeout=10)
            return
        app.call_from_thread(app.notify, f"silence {silence_id} created for {values['duration']}", title="silence")
        self.poll_alert_sources()

    def expire_silence(self, silence_id: str) -> None:
        app: Any = self
        if app.readonly:
            app.notify("read-only mode: expiring a silence refused (started with --readonly)", severity="error")
            return
        self._expire_silence(silence_id)

    @work(thread=True, exit_on_error=False, group="silence")
    def _expire_silence(self, silence_id: str) -> None:
        app: Any = self
        try:
            self.get_alertmanager().expire_silence(silence_id)
        except Exception as exc:
            app.call_from_thread(app.notify, str(exc), title="expire refused", severity="error", timeout=10)
            return
        app.call_from_thread(app.notify, f"silence {silence_id} expired", title="silence")
        self.poll_alert_sources()

    # ---- incident view ------------------------------------------------------------------------
    def show_incident(self, deployment: str | None = None) -> None:
        """Open the incident timeline of a Deployment (None: the whole namespace)."""
        from screens.incident import IncidentScreen

        app: Any = self
        if deployment and not any(d.name == deployment for d in app.snapshot.deployments):
            app.notify(f"no Deployment {deployment} in namespace {app.snapshot.namespace}; showing the namespace",
                       severity="warning")
            deployment = None
        app.push_screen(IncidentScreen(deployment))

    # ---- jumps ----------------------------------------------------------------------------------
    def jump_to_target(self, target: AlertTarget) -> None:
        """Open what an alert is about: its Deployment (or pod's Deployment), node, or the GPU chart."""
        app: Any = self
        here = app.snapshot.namespace
        if target.namespace and here and target.namespace != here:
            app.notify(f"{target} is in namespace {target.namespace}; this console watches {here} "
                       f"(restart with -n {target.namespace})", severity="warning", timeout=8)
            return
        deployment = target.deployment or self._deployment_of_pod(target.pod)
        if target.gpu is not None:
            app.switch_mode("gpu")
            app.call_after_refresh(lambda: app.screen.select_gpu(target.node, target.gpu))
        elif deployment and any(d.name == deployment for d in app.snapshot.deployments):
            app.show_deployment(deployment)
        elif target.node:
            app.switch_mode("dashboard")
            app.call_after_refresh(lambda: app.screen.focus_node(target.node))
        elif target.pod:
            app.switch_mode("pods")
        else:
            app.notify(f"nothing to open for {target}", severity="warning")

    def _deployment_of_pod(self, pod: str | None) -> str | None:
        """The Deployment whose ``<name>-<hash>-<suffix>`` a pod name carries (longest match)."""
        if not pod:
            return None
        app: Any = self
        names = [d.name for d in app.snapshot.deployments if pod.startswith(d.name + "-")]
        return max(names, key=len) if names else None
