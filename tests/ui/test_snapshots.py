"""SVG snapshots of the main screens, from fixed data (the ClusterService protocol, served statically).

Update after an intended change with: ``.venv/bin/python -m pytest tests/ui/test_snapshots.py --snapshot-update``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from console.alerts.model import Alert
from console.app import LlmctlApp
from console.config import Settings
from console.core.model import (
    ClusterSnapshot,
    Connection,
    ConnState,
    DeploymentDetail,
    DeploymentRow,
    EventRow,
    GpuNode,
    HpaRow,
    PodRow,
    Revision,
    RolloutVerdict,
)
from console.kube.access import KubeAccess
from console.kube.indexes import RowChanges
from tests.ui.helpers import console_app
from tests.ui.static_metrics import StaticMetrics

SIZE = (150, 40)


def ago(seconds: int) -> str:
    return (datetime.now(UTC) - timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def build_data() -> tuple[ClusterSnapshot, DeploymentDetail]:
    """Fixed data, with ages relative to now (built at test time, so collection order cannot age it)."""
    HPA = HpaRow("llm", "claude-hpa", "claude-inference", 2, 8, 3, 3, "cpu 74%/70%, gpu_utilization 58/60", "")
    ROLLING = RolloutVerdict(False, False, 'Waiting for deployment "claude-inference" rollout to finish: '
                                           "1 out of 3 new replicas have been updated...")
    DEPLOYMENTS = (
        DeploymentRow("llm", "claude-inference", 3, 3, 1, 3, "registry.local/llm/claude-inference:v1.1.0", 1, "2",
                      ago(7200), ROLLING, HPA),
        DeploymentRow("llm", "claude-long-queue", 1, 1, 1, 1, "registry.local/llm/claude-inference:v1.0.0", 1, "1",
                      ago(7200), RolloutVerdict(True, False, 'deployment "claude-long-queue" successfully rolled out')),
        DeploymentRow("llm", "claude-short-queue", 1, 0, 1, 0, "registry.local/llm/claude-inference:v1.0.0", 1, "4",
                      ago(600),
                      RolloutVerdict(False, True, 'deployment "claude-short-queue" exceeded its progress deadline'),
                      paused=True),
    )
    NODES = tuple(
        GpuNode(f"gpu-node-{i}", "NVIDIA-A10G", "535.104.05", "12.2", "8.6", 23028, 4, 4 if i < 4 else 0, i != 4)
        for i in range(1, 5)
    )
    SNAPSHOT = ClusterSnapshot(Connection(ConnState.CONNECTED, "", None), "prod-gpu", "oncall", "https://10.0.0.1:6443",
                               "llm", False, NODES, DEPLOYMENTS,
                               frozenset({"nodes", "deployments", "gpu-pods", "pods", "horizontalpodautoscalers"}))
    DETAIL = DeploymentDetail(
        row=DEPLOYMENTS[0], verdict=ROLLING, paused=False, strategy="RollingUpdate maxSurge 1 maxUnavailable 0",
        pods=(
            PodRow("claude-inference-6d9c8-abcde", "Running", "1/1", 0, "gpu-node-1", ago(7000), 34.0, ""),
            PodRow("claude-inference-6d9c8-fghij", "Running", "1/1", 0, "gpu-node-2", ago(7000), 36.0, ""),
            PodRow("claude-inference-7f4b2-klmno", "CrashLoopBackOff", "0/1", 3, "gpu-node-3", ago(300), None,
                   "back-off 40s restarting failed container; last: OOMKilled (exit 137)"),
            PodRow("claude-inference-7f4b2-pqrst", "Pending", "0/1", 0, "", ago(120), None,
                   "0/4 nodes are available: 4 Insufficient nvidia.com/gpu."),
        ),
        revisions=(
            Revision(1, "claude-inference-6d9c8", ("registry.local/llm/claude-inference:v1.0.0",), "initial", ago(7200),
                     2),
            Revision(2, "claude-inference-7f4b2", ("registry.local/llm/claude-inference:v1.1.0",), "bump batch size",
                     ago(300), 2),
        ),
        events=(
            EventRow("2026-11-25 03:12:40Z", "Warning", "FailedScheduling",
                     "Pod/claude-inference-7f4b2-pqrst", "0/4 nodes are available: 4 Insufficient nvidia.com/gpu.", 5),
            EventRow("2026-11-25 03:12:10Z", "Warning", "BackOff", "Pod/claude-inference-7f4b2-klmno",
                     "Back-off restarting failed container inference", 3),
            EventRow("2026-11-25 03:08:10Z", "Normal", "ScalingReplicaSet", "Deployment/claude-inference",
                     "Scaled up replica set claude-inference-7f4b2 from 0 to 1"),
        ),
        hpa=HPA,
    )
    return SNAPSHOT, DETAIL


class StaticCluster:
    """The ClusterService protocol over fixed data."""

    transport = None

    def __init__(self) -> None:
        self.snap, self.detail = build_data()
        self.access = KubeAccess(None, "prod-gpu")

    async def run(self, notify: Callable[[], None]) -> None:
        notify()
        await asyncio.Event().wait()

    def snapshot(self) -> ClusterSnapshot:
        return self.snap

    def deployment_detail(self, name: str, namespace: str | None = None) -> DeploymentDetail | None:
        return self.detail if name == self.detail.row.name else None

    def pods(self) -> tuple[PodRow, ...]:
        return self.detail.pods

    def pod_changes(self, mark: object) -> RowChanges:
        return RowChanges.everything(self.detail.pods)

    def hpas(self) -> tuple[HpaRow, ...]:
        return (self.detail.hpa,) if self.detail.hpa else ()

    def alerts(self) -> list[Alert]:
        return []

    def raw(self, resource: str, namespace: str | None = None) -> list[dict[str, Any]]:
        return []


class AllowAll:
    """The part of the actions service the screens ask before offering keys."""

    async def can_i(self, *args: Any, **kwargs: Any) -> bool:
        return True


def make_app(**parts: Any) -> LlmctlApp:
    return console_app(StaticCluster(), Settings(builtin_rules=False), actions=AllowAll(), metrics=StaticMetrics(),
                       **parts)


def test_dashboard_snapshot(snap_compare: Any) -> None:
    assert snap_compare(make_app(), terminal_size=SIZE, run_before=lambda pilot: pilot.pause(0.4))


def test_deployment_detail_snapshot(snap_compare: Any) -> None:
    async def open_detail(pilot: Any) -> None:
        await pilot.pause(0.3)
        await pilot.press("enter")
        await pilot.pause(0.4)

    assert snap_compare(make_app(), terminal_size=SIZE, run_before=open_detail)
