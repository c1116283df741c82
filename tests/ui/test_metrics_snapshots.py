"""SVG snapshots of the braille chart widget and of the GPU and Latency screens over fixed figures.

Update after an intended change with:
``.venv/bin/python -m pytest tests/ui/test_metrics_snapshots.py --snapshot-update``.
"""

from __future__ import annotations

from typing import Any

from console.app import LlmctlApp
from console.config import Settings
from tests.ui.chart_app import ChartApp
from tests.ui.helpers import console_app
from tests.ui.static_metrics import StaticMetrics
from tests.ui.test_snapshots import SIZE, AllowAll, StaticCluster

END = 4_000_000_000.0


def test_chart_widget_snapshot(snap_compare: Any) -> None:
    """p50/p95/p99/TTFT lines, a spike past the dashed 500 ms line, a scale that made room for it."""
    assert snap_compare(ChartApp(points=1000, end=END), terminal_size=(80, 20),
                        run_before=lambda pilot: pilot.pause(0.2))


def open_mode(mode: str, settle: float) -> Any:
    async def run_before(pilot: Any) -> None:
        await pilot.pause(0.2)
        pilot.app.switch_mode(mode)
        await pilot.pause(settle)

    return run_before


def make_app() -> LlmctlApp:
    return console_app(StaticCluster(), Settings(builtin_rules=False), actions=AllowAll(), metrics=StaticMetrics())


def test_gpu_screen_snapshot(snap_compare: Any) -> None:
    assert snap_compare(make_app(), terminal_size=SIZE, run_before=open_mode("gpu", 0.5))


def test_latency_screen_snapshot(snap_compare: Any) -> None:
    assert snap_compare(make_app(), terminal_size=SIZE, run_before=open_mode("latency", 0.8))
