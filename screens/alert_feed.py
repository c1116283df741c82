"""The console's alerting: feeding the alert center, the header count, notifications, silences.

A collaborator of the app (``app.alerts``), not a screen: every screen reads its state. Cluster-derived
alerts are recomputed from the watch store on each (throttled) redraw — no extra API call. Prometheus
(``/api/v1/alerts``), Alertmanager (``/api/v2/alerts`` and silences) and the built-in rules (from the
metrics service) have no watch API: they are read in a worker thread every ``alerts_refresh`` seconds,
and only those that are configured.
"""

from __future__ import annotations

import getpass
import re
from datetime import UTC, datetime

from textual.content import Content

from console.alerts import builtin as rules
from console.alerts.alertmanager import AlertmanagerClient, Silence, audit_entry, matchers_for
from console.alerts.center import AlertCenter
from console.alerts.model import Alert, parse_prometheus_alerts
from console.audit import AuditError
from console.core.metrics import ErrorKind
from console.http import public_url
from console.metrics.prometheus import PrometheusError, prometheus_alerts
from screens.actions_flow import ACTION_PERMISSIONS
from screens.alerts import ExpireSilenceDialog
from screens.host import ConsoleApp
from screens.widgets import tone
from screens.widgets.dialogs import FormDialog

_MATCHER_SPLIT = re.compile(r',(?=(?:[^"]*"[^"]*")*[^"]*$)')  # commas outside double quotes
NOTIFY_AT_ONCE = 3  # more newly firing alerts than this at once: one summary notification instead
SOURCE_NAMES = {"cluster": "cluster", "prometheus": "Prometheus", "alertmanager": "Alertmanager",
                "builtin": "built-in rules"}
Polled = list[tuple[str, list[Alert] | None, str | None]]


class AlertFeed:
    """Alert sources → :class:`AlertCenter` → ``app.alert_summary`` / ``app.silences`` and notifications."""

    def __init__(self, app: ConsoleApp) -> None:
        self.app = app
        self.center = AlertCenter()
        self._builtin_state = rules.BuiltinRuleState()
        self._started = False
        self.prometheus_rules: set[str] | str | None = None  # Prometheus's alert rule names (or the read error)

    @property
    def alertmanager(self) -> AlertmanagerClient | None:
        """The Alertmanager client for --alertmanager (audited, read-only with --readonly), or None."""
        return self.app.services.alertmanager

    # ---- sources --------------------------------------------------------------------------------
    def remote_sources(self) -> list[str]:
        services = self.app.services
        out = []
        if services.settings.prometheus_url:
            out.append("prometheus")
        if services.alertmanager is not None:
            out.append("alertmanager")
        if services.metrics is not None and services.settings.builtin_rules:
            out.append("builtin")
        return out

    def start(self) -> None:
        """Poll the remote sources every ``alerts_refresh`` seconds (once; only if any is configured)."""
        if self._started or not self.remote_sources():
            return
        self._started = True
        self.app.set_interval(self.app.settings.alerts_refresh, self.poll)
        self.poll()

    def update_cluster_alerts(self) -> None:
        self._feed("cluster", self.app.services.cluster.alerts())

    def _feed(self, group: str, alerts: list[Alert]) -> None:
        app = self.app
        fresh = self.center.update(group, alerts)
        self.refresh_summary()
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

    def refresh_summary(self) -> None:
        self.app.alert_summary = self.center.summary()

    def poll(self) -> None:
        """Read every configured remote source once, in a worker thread; results go to the UI thread."""
        self.app.run_worker(self._poll, thread=True, exclusive=True, exit_on_error=False, group="alerts")

    def _poll(self) -> None:
        settings = self.app.settings
        results: Polled = []
        defined: set[str] | str = set()  # the alert rules Prometheus defines, or why they could not be read
        if settings.prometheus_url:
            results.append(("prometheus", *self._read_prometheus()))
            try:
                defined = rules.covered_by_prometheus(settings)
            except ValueError as exc:
                defined = str(exc)
            self.prometheus_rules = defined
        manager = self.alertmanager
        silences: tuple[list[Silence], str | None] | None = None
        if manager is not None:
            try:
                results.append(("alertmanager", manager.alerts(), None))
                silences = (manager.silences(), None)
            except Exception as exc:
                results.append(("alertmanager", None, str(exc)))
                silences = ([], str(exc))
        if self.app.services.metrics is not None and settings.builtin_rules:
            results.append(("builtin", *self._read_builtin(defined)))
        self.app.call_from_thread(self._apply_polled, results, silences)

    def _read_prometheus(self) -> tuple[list[Alert] | None, str | None]:
        settings = self.app.settings
        try:
            return parse_prometheus_alerts(prometheus_alerts(settings)), None
        except PrometheusError as exc:  # "Prometheus unreachable at URL: ...", "Prometheus at URL answered ..."
            return None, str(exc)
        except Exception as exc:  # an answer of the wrong shape
            return None, f"unexpected answer from Prometheus at {public_url(settings.prometheus_url or '')}: {exc}"

    def _read_builtin(self, covered: set[str] | str) -> tuple[list[Alert] | None, str | None]:
        metrics = self.app.services.metrics
        assert metrics is not None
        if isinstance(covered, str):  # unknown coverage: say so rather than double-report
            return None, f"built-in rules: {covered}"
        wanted = set(rules.RULES) - covered
        if not wanted:
            return [], None
        namespace = self.app.snapshot.namespace or None
        gpus = metrics.gpus() if rules.FB_HIGH in wanted else None
        serving = metrics.serving(namespace) if wanted - {rules.FB_HIGH} else None
        for result in (gpus, serving):
            if result is not None and result.error is not None and result.error.kind is not ErrorKind.NO_METRIC:
                return None, f"built-in rules: {result.error.message}"
        found = rules.readings(gpus.value if gpus else None, serving.value if serving else None,
                               rules.Thresholds.from_settings(self.app.settings), covered, namespace=namespace)
        # The holds run on the source's clock (the sandbox's simulated time at --speed), else the wall clock.
        times = [r.at for r in (gpus, serving) if r is not None and r.at is not None]
        now = datetime.fromtimestamp(max(times), UTC) if times else None
        return self._builtin_state.update(found, now), None

    def _apply_polled(self, results: Polled, silences: tuple[list[Silence], str | None] | None) -> None:
        for group, alerts, error in results:
            if error is not None:
                self.center.set_error(group, error)
                self.refresh_summary()
            else:
                self._feed(group, alerts or [])
        if silences is not None:
            self.app.silences = silences

    def sources_text(self) -> Content:
        """One line: each source's state (read when, or its error, or not configured)."""
        parts: list[tuple[str, str]] = []
        now = datetime.now(UTC)
        configured = {"cluster", *self.remote_sources()}
        for i, (group, name) in enumerate(SOURCE_NAMES.items()):
            if i:
                parts.append((" · ", tone.MUTED))
            if group not in configured:
                parts.append((f"{name}: not configured", tone.MUTED))
                continue
            updated, error = self.center.status(group)
            if error:
                parts.append((f"{name}: {error}", tone.bold(tone.ERROR)))
            elif updated is None:
                parts.append((f"{name}: reading…", tone.WARNING))
            elif group == "cluster":
                parts.append((f"{name} ✓ (live, from the watches)", tone.SUCCESS))
            elif group == "prometheus" and isinstance(self.prometheus_rules, set):
                parts.append((f"{name} ✓ {int((now - updated).total_seconds())}s ago "
                              f"({len(self.prometheus_rules)} alert rules defined)", tone.SUCCESS))
            else:
                parts.append((f"{name} ✓ {int((now - updated).total_seconds())}s ago", tone.SUCCESS))
        return Content.assemble(*parts)

    # ---- silences -------------------------------------------------------------------------------
    def change_refusal(self, what: str) -> str | None:
        """Why this console may not change silences now: read-only mode, or a context RBAC lets change nothing
        in the cluster (a viewer: every action of the console refused) — the console is read-only for it too."""
        app = self.app
        if app.readonly:
            return f"read-only mode: {what} refused (started with --readonly)"
        if not any(app.action_allowed(action) for action in ACTION_PERMISSIONS):
            snap = app.snapshot
            return (f"forbidden: context {snap.context or '(current)'} may change nothing in namespace "
                    f"{snap.namespace or '(all)'} (RBAC, a viewer): {what} refused")
        return None

    def _audit_refusal(self, entry: dict[str, object], reason: str) -> None:
        """Write a change this console refused itself to the audit log, as the Alertmanager client writes its own."""
        app, manager = self.app, self.alertmanager
        try:
            app.services.audit.append(audit_entry({"user": _user(), **entry}, "refused", reason,
                                                  server=manager.where if manager else None,
                                                  context=app.snapshot.context or None))
        except AuditError as exc:
            app.notify(str(exc), title="audit log", severity="error", timeout=10)

    def silence(self, alert: Alert) -> None:
        """Ask for matchers, duration and comment; then create the silence in Alertmanager (audited)."""
        app = self.app
        if self.alertmanager is None:
            app.notify("no Alertmanager configured: start llmctl with --alertmanager URL to silence alerts",
                       severity="error", timeout=8)
            return
        matchers = ", ".join(str(m) for m in matchers_for(alert))
        refusal = self.change_refusal("silencing an alert")
        if refusal:
            self._audit_refusal({"action": "silence-create", "target": "silence (new)", "before": None,
                                 "after": {"matchers": [str(m) for m in matchers_for(alert)], "alert": alert.name}},
                                refusal)
            app.notify(refusal, title="silence refused", severity="error", timeout=8)
            return
        form = FormDialog(f"Silence {alert.name} ({alert.target}) in Alertmanager",
                          [("matchers", "Matchers (comma-separated: name=value, name=~regex, !=, !~)", matchers),
                           ("duration", "Duration (e.g. 30m, 2h, 1d)", "2h"),
                           ("comment", "Comment (required: why, and who is on it)", "")],
                          hint="Enter moves on; the last Enter creates the silence (audited). Esc cancels.")

        def done(values: dict[str, str] | None) -> None:
            if values is not None:
                app.run_worker(lambda: self._create_silence(values), thread=True, exit_on_error=False,
                               group="silence")

        app.push_screen(form, done)

    def _create_silence(self, values: dict[str, str]) -> None:
        app, manager = self.app, self.alertmanager
        assert manager is not None
        matchers = [m.strip() for m in _MATCHER_SPLIT.split(values["matchers"]) if m.strip()]
        try:
            silence_id = manager.create_silence(matchers, values["duration"], values["comment"],
                                                created_by=f"{getpass.getuser()} (llmctl)")
        except Exception as exc:
            app.call_from_thread(app.notify, str(exc), title="silence refused", severity="error", timeout=10)
            return
        app.call_from_thread(app.notify, f"silence {silence_id} created for {values['duration']}", title="silence")
        app.call_from_thread(self.poll)

    def expire(self, silence_id: str) -> None:
        """Expire a silence after asking (a dialog naming it: id, matchers, comment); refused, and audited, in
        read-only mode and for a viewer context. Alertmanager's own refusals (401/403, unknown or already
        expired) are audited by the client."""
        app, manager = self.app, self.alertmanager
        if manager is None:
            app.notify("no Alertmanager configured: start llmctl with --alertmanager URL to manage silences",
                       severity="error", timeout=8)
            return
        silence = next((s for s in app.silences[0] if isinstance(s, Silence) and s.id == silence_id), None)
        refusal = self.change_refusal("expiring a silence")
        if refusal:
            self._audit_refusal({"action": "silence-expire", "target": f"silence/{silence_id}",
                                 "before": silence.to_json() if silence else None, "after": {"state": "expired"}},
                                refusal)
            app.notify(refusal, title="expire refused", severity="error", timeout=8)
            return

        def done(confirmed: bool | None) -> None:
            if confirmed:
                app.run_worker(lambda: self._expire(silence_id), thread=True, exit_on_error=False, group="silence")
            else:
                app.notify(f"silence {silence_id[:8]} kept", title="silence")

        app.push_screen(ExpireSilenceDialog(silence_id, silence), done)

    def _expire(self, silence_id: str) -> None:
        app, manager = self.app, self.alertmanager
        assert manager is not None
        try:
            manager.expire_silence(silence_id, expired_by=_user())
        except Exception as exc:
            app.call_from_thread(app.notify, str(exc), title="expire refused", severity="error", timeout=10)
            return
        app.call_from_thread(app.notify, f"silence {silence_id} expired", title="silence")
        app.call_from_thread(self.poll)


def _user() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "unknown"
