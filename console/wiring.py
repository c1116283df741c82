"""The composition root: every service built once, from the Settings, for the console and the CLI alike.

Nothing here connects: services that need the network connect on first use (``Lazy``), so building
them costs nothing at start-up and the first frame never waits. With ``--sandbox`` the in-process
sandbox is started the first time anything needs the cluster (:class:`~console.kube.access.KubeAccess`);
this is the only module besides the CLI that knows the sandbox exists (the domain packages never import it).

Tests build the same :class:`Services` with their own parts in place of the real ones (``build(settings,
cluster=..., actions=...)``), so what the App receives is always the same shape.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from console.audit import AuditLog
from console.config import Settings
from console.kube.access import KubeAccess
from console.kube.cluster import ClusterService, KubeClusterService

if TYPE_CHECKING:
    from console.actions.service import ActionsService
    from console.alerts.alertmanager import AlertmanagerClient
    from console.builds.engine import BuildService
    from console.compat.checker import CompatService
    from console.core.metrics import MetricsService
    from console.deploy.engine import DeployEngine
    from console.sandbox.server import SandboxThread

T = TypeVar("T")


class Lazy(Generic[T]):
    """A service that connects on first use and is reused after; ``Lazy.ready(x)`` wraps one that needs
    no connecting (a test's fake, or an already connected client)."""

    def __init__(self, connect: Callable[[], Awaitable[T]],
                 closer: Callable[[T], Awaitable[None]] | None = None) -> None:
        self._connect: Callable[[], Awaitable[T]] | None = connect
        self._closer = closer
        self._value: T | None = None
        self._lock: asyncio.Lock | None = None

    @classmethod
    def ready(cls, value: T) -> Lazy[T]:
        lazy: Lazy[T] = cls(_never)
        lazy._value, lazy._connect = value, None
        return lazy

    @property
    def value(self) -> T | None:
        """The service if it is connected already, else None (never connects)."""
        return self._value

    async def get(self) -> T:
        if self._value is not None:
            return self._value
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._value is None:
                assert self._connect is not None
                self._value = await self._connect()
        return self._value

    async def close(self) -> None:
        """Close what this Lazy connected itself (a ready one belongs to whoever made it)."""
        if self._value is not None and self._closer is not None and self._connect is not None:
            with contextlib.suppress(Exception):
                await self._closer(self._value)
            self._value = None

    async def reset(self) -> None:
        """Forget what this Lazy connected (closing it): the next :meth:`get` connects afresh — after the
        console switched to another context. A ready one is kept (it belongs to whoever made it)."""
        if self._connect is None:
            return
        await self.close()
        self._value = None


async def _never() -> Any:
    raise AssertionError("a ready Lazy never connects")


def sandbox_thread(settings: Settings) -> SandboxThread:
    """An in-process sandbox (not started) for ``--sandbox``: ``.start()`` waits until it serves and returns
    its info (``.kubeconfig``); ``.stop()`` ends it."""
    from console.sandbox.context import SandboxConfig
    from console.sandbox.server import SandboxThread

    return SandboxThread(SandboxConfig(speed=settings.sandbox_speed, scenario=settings.sandbox_scenario))


def metrics_service(settings: Settings, sandbox: SandboxThread | None = None) -> MetricsService | None:
    """Prometheus when a URL is configured (also on the sandbox: then read through the Prometheus that
    scrapes it); else the sandbox's in-process source when on the sandbox; else none."""
    if settings.prometheus_url:
        from console.metrics.service import PrometheusMetrics

        return PrometheusMetrics.from_settings(settings)
    if sandbox is not None:
        from console.sandbox.metrics_source import SandboxMetrics

        return SandboxMetrics(sandbox)
    return None


def prometheus_rules_reader(settings: Settings) -> Callable[[], dict[str, Any]] | None:
    """A function returning Prometheus's ``/api/v1/rules`` (through the Prometheus adapter: credentials only
    in the request headers). It raises PrometheusError (a ValueError) with a message naming the server."""
    if not settings.prometheus_url:
        return None
    from console.metrics.prometheus import prometheus_rules

    def read() -> dict[str, Any]:
        return prometheus_rules(settings)

    return read


@dataclass
class Services:
    """What the console and the headless commands work with, each built once."""

    settings: Settings
    audit: AuditLog
    cluster: ClusterService
    actions: Lazy[ActionsService]
    compat: Lazy[CompatService]
    metrics: MetricsService | None = None
    alertmanager: AlertmanagerClient | None = None
    sandbox: SandboxThread | None = None
    _builds: BuildService | None = field(default=None, repr=False)
    _closers: list[Callable[[], None]] = field(default_factory=list, repr=False)

    @property
    def builds(self) -> BuildService:
        """The Docker Engine adapter, made on first use (it connects on its first call), so a command that
        builds nothing never imports it."""
        if self._builds is None:
            from console.builds.engine import DockerBuildService

            self._builds = DockerBuildService(self.settings.docker_host)
        return self._builds

    @property
    def access(self) -> KubeAccess:
        """The cluster every service talks to (the watches' kubeconfig and context)."""
        return self.cluster.access

    @property
    def readonly(self) -> bool:
        return self.settings.readonly

    async def deploy_engine(self) -> DeployEngine:
        """A deploy engine on this cluster, audited, with the metrics source and Prometheus's rules."""
        from console.deploy.engine import DeployEngine

        kubeconfig = await self.access.resolve()
        return await DeployEngine.connect(kubeconfig, self.access.context, self.audit, readonly=self.readonly,
                                          metrics=self.metrics, rules=prometheus_rules_reader(self.settings))

    async def switch_context(self, context: str | None) -> None:
        """Talk to another kubeconfig context from now on: the services that connected to the old one connect
        again on next use (the caller restarts the watches with ``cluster.retarget``)."""
        self.access.context = context
        await self.actions.reset()
        await self.compat.reset()

    async def aclose(self) -> None:
        """Close the connections made on the way (the App calls this when it ends)."""
        await self.actions.close()

    def close(self) -> None:
        """Stop what :func:`build` started (metrics threads, the in-process sandbox). Blocking."""
        if self.metrics is not None:
            self.metrics.close()
        for closer in self._closers:
            closer()
        if self.sandbox is not None:
            self.sandbox.stop()


def _alertmanager(settings: Settings, audit: AuditLog) -> AlertmanagerClient | None:
    if not settings.alertmanager_url:
        return None
    from console.alerts.alertmanager import AlertmanagerClient

    return AlertmanagerClient.from_settings(settings, audit=audit)


def build(settings: Settings, *, cluster: ClusterService | None = None, actions: ActionsService | None = None,
          compat: CompatService | None = None, builds: BuildService | None = None,
          metrics: MetricsService | None = None, audit: AuditLog | None = None) -> Services:
    """Every service for ``settings``; a part given here is used instead of the real one (tests)."""
    audit = audit if audit is not None else AuditLog(Path(settings.audit_log) if settings.audit_log else None)
    sandbox = None
    if cluster is None:
        if settings.sandbox:
            sandbox = sandbox_thread(settings)
            thread = sandbox

            def prepare() -> str:
                return str(thread.start().kubeconfig)

            cluster = KubeClusterService(None, settings.context, settings.namespace, sandbox=True, prepare=prepare)
        else:
            cluster = KubeClusterService(settings.kubeconfig, settings.context, settings.namespace)
    access = cluster.access
    if metrics is None:
        metrics = metrics_service(settings, sandbox)

    async def connect_actions() -> ActionsService:
        from console.actions.service import Actions

        kubeconfig = await access.resolve()
        return await Actions.connect(kubeconfig, access.context, audit, readonly=settings.readonly)

    async def close_actions(service: ActionsService) -> None:
        await service.close()

    actions_lazy: Lazy[ActionsService] = (Lazy.ready(actions) if actions is not None
                                          else Lazy(connect_actions, close_actions))

    async def connect_compat() -> CompatService:
        from console.compat.checker import CompatChecker

        return CompatChecker((await actions_lazy.get()).transport)

    return Services(settings=settings, audit=audit, cluster=cluster, actions=actions_lazy,
                    compat=Lazy.ready(compat) if compat is not None else Lazy(connect_compat), _builds=builds,
                    metrics=metrics, alertmanager=_alertmanager(settings, audit), sandbox=sandbox)


@contextlib.contextmanager
def session(settings: Settings, **parts: Any) -> Iterator[Services]:
    """:func:`build`, and :meth:`Services.close` on the way out (for the headless commands)."""
    services = build(settings, **parts)
    try:
        yield services
    finally:
        services.close()
