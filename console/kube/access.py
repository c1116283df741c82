"""Where the cluster is, as kubectl finds it: a kubeconfig and a context, resolved once.

Every service that talks to the API (the watches, actions, the compatibility check, the deploy engine,
the incident snapshot, pod logs) shares one :class:`KubeAccess`, so they all reach the same cluster as
the same user. With ``--sandbox`` the kubeconfig does not exist until the in-process sandbox serves:
``prepare`` starts it (blocking, so it runs in a thread) the first time anything needs the cluster,
never at start-up, so the first frame does not wait for it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

from console.kube.transport import KubeTarget, KubeTransport, connect_target


class KubeAccess:
    """A kubeconfig path (None: ``$KUBECONFIG`` or ``~/.kube/config``) and a context (None: current)."""

    def __init__(self, kubeconfig: str | None = None, context: str | None = None,
                 prepare: Callable[[], str] | None = None) -> None:
        self._kubeconfig = kubeconfig
        self.context = context
        self._prepare = prepare  # blocking; returns the kubeconfig to use (e.g. waits for the sandbox)
        self._lock = threading.Lock()

    @property
    def kubeconfig(self) -> str | None:
        """The kubeconfig as known now (before :meth:`resolve` with a pending ``prepare``: None)."""
        return self._kubeconfig

    @property
    def pending(self) -> bool:
        """True until a ``prepare`` step (the in-process sandbox) has run."""
        return self._prepare is not None

    def resolve_blocking(self) -> str | None:
        """Run ``prepare`` once (whoever asks first), then return the kubeconfig."""
        with self._lock:
            if self._prepare is not None:
                self._kubeconfig = self._prepare()
                self._prepare = None
            return self._kubeconfig

    async def resolve(self) -> str | None:
        return await asyncio.to_thread(self.resolve_blocking)

    async def connect(self) -> tuple[KubeTarget, KubeTransport]:
        """The kubeconfig's target and a new transport to it (:func:`connect_target`'s errors)."""
        kubeconfig = await self.resolve()
        return await connect_target(kubeconfig, self.context)
