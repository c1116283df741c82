"""Helpers for Pilot tests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from textual.widgets import DataTable


async def wait_for(pilot: Any, predicate: Callable[[], object], timeout: float = 20.0, what: str = "") -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"condition not met in time: {what}")
        await pilot.pause(0.05)


def rows(table: DataTable) -> list[list[str]]:
    return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


def console_app(cluster: Any, settings: Any = None, **parts: Any) -> Any:
    """The console app as ``llmctl`` builds it (console.wiring), with the test's own parts in place."""
    from console import wiring
    from console.app import LlmctlApp
    from console.config import Settings

    return LlmctlApp(wiring.build(settings or Settings(), cluster=cluster, **parts))
