"""What screens may ask of the console app: its services, the shared state they watch, and navigation.

:class:`console.app.LlmctlApp` is the one implementation; screens never import it (the layers run
cli → app → screens), they reach it through :func:`host`, typed as :class:`ConsoleApp`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from textual.app import App
from textual.dom import DOMNode
from textual.reactive import var

from console.alerts.center import AlertSummary
from console.config import Settings
from console.core.model import ClusterSnapshot

if TYPE_CHECKING:
    from textual.content import Content

    from console.alerts.alertmanager import AlertmanagerClient
    from console.alerts.center import AlertCenter
    from console.alerts.model import Alert, AlertTarget
    from console.builds.model import BuildRecord
    from console.kube.discovery import Catalog
    from console.wiring import Services


class Alerting(Protocol):
    """The app's alerting, as screens use it (:class:`screens.alert_feed.AlertFeed`)."""

    center: AlertCenter

    @property
    def alertmanager(self) -> AlertmanagerClient | None: ...
    def sources_text(self) -> Content: ...
    def poll(self) -> None: ...
    def refresh_summary(self) -> None: ...
    def silence(self, alert: Alert) -> None: ...
    def expire(self, silence_id: str) -> None: ...


class ConsoleApp(App[None]):
    """The console app as screens see it (state here; behaviour in :class:`console.app.LlmctlApp`)."""

    # State the screens watch (``var``: a change calls the watchers, and repaints nothing by itself — a
    # ``reactive`` on the App repainted every line of the screen on each cluster event, #16).
    snapshot: var[ClusterSnapshot] = var(ClusterSnapshot, always_update=True)
    last_build: var[BuildRecord | None] = var(None, always_update=True)  # set by the Builds screen
    alert_summary: var[AlertSummary] = var(AlertSummary, always_update=True)
    silences: var[tuple[list[Any], str | None]] = var(lambda: ([], None), always_update=True)

    services: Services
    alerts: Alerting
    all_namespaces: bool = False  # watching every namespace (the snapshot's namespace is then "")

    @property
    def settings(self) -> Settings:
        return self.services.settings

    @property
    def readonly(self) -> bool:
        return self.services.settings.readonly

    # Navigation and permissions, implemented by the app:
    def refusal(self, kind: str) -> str | None:
        """Why an action may not be taken now (read-only mode, RBAC), or None."""
        raise NotImplementedError

    def refused(self, kind: str, target: str, reason: str | None = None) -> bool:
        """If ``kind`` may not be taken now (or ``reason`` says why not): say why, write the refusal to the audit
        log, and return True."""
        raise NotImplementedError

    async def refused_in(self, kind: str, target: str, namespace: str) -> bool:
        """With every namespace watched: :meth:`refused` for ``kind`` as the API answers it in ``namespace``."""
        raise NotImplementedError

    async def catalog(self) -> Catalog:
        """The resource types the API serves (its discovery documents), read once per context."""
        raise NotImplementedError

    def report_error(self, error: BaseException, where: str) -> None:
        """An unexpected exception the console survives: logged (see :mod:`screens.errorlog`) and shown."""
        raise NotImplementedError

    def action_allowed(self, action: str) -> bool:
        raise NotImplementedError

    def show_deployment(self, name: str, namespace: str | None = None) -> None:
        raise NotImplementedError

    def deployment_named(self, name: str, namespace: str | None = None, doing: str = "showing") -> Any:
        raise NotImplementedError

    def default_namespace(self) -> str:
        """Where a command given no namespace acts (the namespace watched, else the context's)."""
        raise NotImplementedError

    def show_incident(self, deployment: str | None = None, namespace: str | None = None) -> None:
        raise NotImplementedError

    def jump_to_target(self, target: AlertTarget) -> None:
        raise NotImplementedError

    def open_wizard(self, **kwargs: Any) -> None:
        raise NotImplementedError


def host(node: DOMNode) -> ConsoleApp:
    """The console app a screen or widget belongs to."""
    app = node.app
    if not isinstance(app, ConsoleApp):
        raise TypeError(f"{type(node).__name__} runs only inside the llmctl console app")
    return app
