"""Which context and namespace the console watches, switched without restarting it (``:ctx``, ``:ns``, ``0``).

Switching a context makes every service connect again (:meth:`console.wiring.Services.switch_context`);
switching either restarts the watches on the new target. The namespaces used last are remembered per context
(k9s's favourites) in ``$XDG_STATE_HOME/llmctl/namespaces.json`` and offered first by ``:ns``.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

from console.config import state_dir
from console.kube.errors import KubeError
from screens.widgets.picker import PickerDialog

if TYPE_CHECKING:
    from console.app import LlmctlApp

ALL = "all"  # `:ns all` and `0`: every namespace
RECENT_MAX = 8


class RecentNamespaces:
    """The namespaces used last, per context, newest first (a small JSON file; unreadable means none)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or state_dir() / "namespaces.json"

    def _read(self) -> dict[str, list[str]]:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        return {str(k): [str(n) for n in v] for k, v in data.items() if isinstance(v, list)} \
            if isinstance(data, dict) else {}

    def recent(self, context: str) -> list[str]:
        return self._read().get(context, [])

    def remember(self, context: str, namespace: str) -> None:
        """Put ``namespace`` first for ``context``; a file that cannot be written is not worth an error."""
        data = self._read()
        data[context] = [namespace, *(n for n in data.get(context, []) if n != namespace)][:RECENT_MAX]
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(data, indent=1))
            os.replace(tmp, self.path)
        except OSError:
            pass


async def list_namespaces(app: LlmctlApp) -> list[str] | str:
    """The namespaces the API lists, or why they cannot be listed (forbidden, not connected)."""
    transport = app.services.cluster.transport
    if transport is None:
        return "not connected to the cluster"
    try:
        items = await transport.list("/api/v1/namespaces")
    except KubeError as exc:
        return "no permission to list namespaces" if exc.code == 403 else exc.message
    return sorted(str((n.get("metadata") or {}).get("name") or "") for n in items)


async def pick_namespace(app: LlmctlApp) -> str | None:
    """``:ns``: recent ones first, then what the API lists; typed by hand when it cannot list them."""
    context = app.snapshot.context
    recent = app.recent_namespaces.recent(context)
    listed = await list_namespaces(app)
    names = listed if isinstance(listed, list) else []
    choices = [(ALL, "all — every namespace (0)")]
    choices += [(n, f"{n}  (recent)") for n in recent]
    choices += [(n, n) for n in names if n not in recent]
    hint = f"{listed}: type the namespace" if isinstance(listed, str) else ""
    return await app.push_screen_wait(PickerDialog(f"Namespace (context {context or '?'})", choices, hint,
                                                   typed=True))


async def pick_context(app: LlmctlApp) -> str | None:
    """``:ctx``: the contexts of the merged kubeconfig, the current one marked."""
    from console.kube.kubeconfig import context_names

    try:
        names, current = await asyncio.to_thread(context_names, app.services.access.kubeconfig)
    except KubeError as exc:
        app.notify(exc.message, title="contexts", severity="error")
        return None
    here = app.snapshot.context or current
    choices = [(n, f"{n}  (current)" if n == here else n) for n in names]
    return await app.push_screen_wait(PickerDialog("Context", choices))


async def context_exists(app: LlmctlApp, name: str) -> str | None:
    """None if ``name`` is a context of the kubeconfig, else why not."""
    from console.kube.kubeconfig import context_names

    try:
        names, _ = await asyncio.to_thread(context_names, app.services.access.kubeconfig)
    except KubeError as exc:
        return exc.message
    return None if name in names else f"no context {name!r} in the kubeconfig (contexts: {', '.join(names)})"
