"""Helpers for Pilot tests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from textual.widgets import DataTable


async def wait_for(pilot: Any, predicate: Callable[[], object], timeout: float = 20.0,
                   what: str | Callable[[], str] = "") -> None:
    """Wait until ``predicate()``; ``what`` names it in the failure (a callable: asked at the failure, to show the
    state then)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"condition not met in time: {what() if callable(what) else what}")
        await pilot.pause(0.05)


def rows(table: DataTable) -> list[list[str]]:
    return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


def edit_deployment(sb: Any, name: str, edit: Callable[[dict[str, Any]], object]) -> None:
    """Change a Deployment of a sandbox (any namespace) the way a controller would: ``edit`` its copy, store it."""
    from console.sandbox.store import copy_object

    def write() -> None:
        store = sb.ctx.store
        ns = next(d["metadata"]["namespace"] for d in store.iter_all("deployments") if d["metadata"]["name"] == name)
        dep = copy_object(store.get("deployments", ns, name))
        edit(dep)
        store.replace("deployments", dep)
    sb.call(write)


def console_app(cluster: Any, settings: Any = None, **parts: Any) -> Any:
    """The console app as ``llmctl`` builds it (console.wiring), with the test's own parts in place."""
    from console import wiring
    from console.app import LlmctlApp
    from console.config import Settings

    return LlmctlApp(wiring.build(settings or Settings(), cluster=cluster, **parts))


def key_event(key: str) -> Any:
    """The Key event a terminal read of ``key`` gives (as ``pilot.press`` builds it)."""
    import unicodedata

    from textual import events
    from textual.keys import REPLACED_KEYS, _character_to_key, _get_unicode_name_from_key

    if len(key) == 1 and not key.isalnum():
        key = _character_to_key(key)
    original = REPLACED_KEYS.get(key, key)
    try:
        char: str | None = unicodedata.lookup(_get_unicode_name_from_key(original))
    except KeyError:
        char = key if len(key) == 1 else None
    return events.Key(key, char)


def burst(app: Any, *keys: str) -> None:
    """Deliver ``keys`` as one terminal read does: all queued at once, before the app handles the first."""
    for key in keys:
        event = key_event(key)
        event.set_sender(app)
        app.post_message(event)
