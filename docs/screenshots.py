"""Regenerate the README's screenshots: ``.venv/bin/python docs/screenshots.py``."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from console.app import LlmctlApp  # noqa: E402
from console.sandbox.context import SandboxConfig  # noqa: E402
from console.sandbox.server import SandboxThread  # noqa: E402
from console.services.cluster import KubeClusterService  # noqa: E402


async def main() -> None:
    sandbox = SandboxThread(SandboxConfig(speed=40, seed=7))
    sandbox.start()
    try:
        app = LlmctlApp(KubeClusterService(sandbox.info.kubeconfig, sandbox=True))
        async with app.run_test(size=(140, 32)) as pilot:
            await pilot.pause(3.0)
            app.save_screenshot(str(ROOT / "docs" / "dashboard.svg"))
            await pilot.press("enter")
            await pilot.pause(1.0)
            app.save_screenshot(str(ROOT / "docs" / "deployment.svg"))
    finally:
        sandbox.stop()


if __name__ == "__main__":
    asyncio.run(main())
