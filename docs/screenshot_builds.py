"""Regenerate the README's Builds screenshot from a real build: ``.venv/bin/python docs/screenshot_builds.py``.

Needs root, dockerd, docker-registry and busybox (``./dev setup`` installs them): it starts a private
Docker Engine and registry exactly as the tests do, builds a three-stage image and pushes it.
"""

from __future__ import annotations

import asyncio
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from console.builds.engine import DockerBuildService  # noqa: E402
from console.builds.model import BuildRequest  # noqa: E402
from tests.builds.conftest import write_context  # noqa: E402
from tests.infra_docker import (  # noqa: E402
    make_base_image,
    start_engine,
    start_registry,
    stop_engine,
    stop_registry,
)
from tests.ui.helpers import console_app, rows, wait_for  # noqa: E402
from tests.ui.test_snapshots import AllowAll, StaticCluster  # noqa: E402


async def shoot(host: str, registry: str, context: Path) -> None:
    app = console_app(StaticCluster(), actions=AllowAll(), builds=DockerBuildService(host))
    async with app.run_test(size=(150, 44)) as pilot:
        app.switch_mode("builds")
        await pilot.pause(0.5)
        screen = app.screen
        table = screen.query_one("#builds-list")
        ref = f"{registry}/llm/inference:v1.0.0"
        screen.begin_build(BuildRequest(str(context), tags=(ref,)))
        await wait_for(pilot, lambda: rows(table)[0][1] == "succeeded", what="build")
        screen._push_form_done("b:1", {"reference": ref})
        await wait_for(pilot, lambda: "pushed" in rows(table)[0][1], what="push")
        await pilot.pause(0.5)
        app.save_screenshot(str(ROOT / "docs" / "builds.svg"))


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="llmctl-shot-"))
    engine = start_engine(work / "engine")
    registry = None
    try:
        make_base_image(engine.host, shutil.which("busybox") or "/bin/busybox")
        registry = start_registry(work / "registry")
        asyncio.run(shoot(engine.host, registry.address, write_context(work / "project", dockerignore=None)))
    finally:
        if registry is not None:
            stop_registry(registry)
        stop_engine(engine)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
