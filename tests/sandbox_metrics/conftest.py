"""Fixtures for the simulation, exporter and registry tests: a fresh sandbox context and a loopback server."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiohttp import web

from console.sandbox.context import SandboxContext

from .builders import make_context


@pytest.fixture
def ctx() -> SandboxContext:
    return make_context()


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[web.Application], Awaitable[str]]]:
    """Start an app on 127.0.0.1, port 0; returns its base URL. Stopped after the test."""
    runners: list[web.AppRunner] = []

    async def start(app: web.Application) -> str:
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        runners.append(runner)
        return f"http://127.0.0.1:{runner.addresses[0][1]}"

    yield start
    for runner in runners:
        await runner.cleanup()
