"""Regenerate the README's screenshots: ``.venv/bin/python docs/screenshots.py``."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from console.config import Settings  # noqa: E402
from console.kube.cluster import KubeClusterService  # noqa: E402
from console.sandbox.context import SandboxConfig  # noqa: E402
from console.sandbox.faultcli import send_fault  # noqa: E402
from console.sandbox.metrics_source import SandboxMetrics  # noqa: E402
from console.sandbox.server import SandboxThread  # noqa: E402
from tests.ui.helpers import console_app  # noqa: E402


async def main() -> None:
    sandbox = SandboxThread(SandboxConfig(speed=40, seed=7))
    sandbox.start()
    try:
        # The direct metrics source runs on simulated time: at speed 40 the charts' 15 minutes pass in ~23 s.
        metrics = SandboxMetrics(sandbox, interval_s=5.0)
        app = console_app(KubeClusterService(sandbox.info.kubeconfig, sandbox=True),
                          Settings(gpu_refresh=1.0, latency_refresh=1.0), metrics=metrics)
        async with app.run_test(size=(140, 32)) as pilot:
            await pilot.pause(3.0)
            app.save_screenshot(str(ROOT / "docs" / "dashboard.svg"))
            await pilot.press("enter")
            await pilot.pause(1.0)
            app.save_screenshot(str(ROOT / "docs" / "deployment.svg"))
            await pilot.press("escape")
            await pilot.pause(14.0)
            send_fault("latency-spike", "claude-inference", sandbox.info.kubeconfig)
            await pilot.pause(3.0)
            send_fault("clear", None, sandbox.info.kubeconfig)
            send_fault("gpu-memory-leak", "claude-long-queue", sandbox.info.kubeconfig)
            await pilot.pause(5.0)
            app.switch_mode("gpu")
            await pilot.pause(1.5)
            app.save_screenshot(str(ROOT / "docs" / "gpu.svg"))
            app.switch_mode("latency")
            await pilot.pause(1.5)
            app.save_screenshot(str(ROOT / "docs" / "latency.svg"))
        metrics.close()
    finally:
        sandbox.stop()


if __name__ == "__main__":
    asyncio.run(main())
