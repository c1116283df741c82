"""How a pod is doing (console.kube.pods): cold start of a first start and of a restarted container."""

from __future__ import annotations

from typing import Any

from console.kube.pods import cold_start_seconds


def pod(created: str, ready_at: str, restarts: int = 0, started: str | None = None) -> dict[str, Any]:
    running = {"startedAt": started} if started else {}
    return {"metadata": {"name": "p", "creationTimestamp": created},
            "status": {"conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": ready_at}],
                       "containerStatuses": [{"name": "c", "restartCount": restarts, "state": {"running": running}}]}}


def test_a_first_start_is_measured_from_creation() -> None:
    assert cold_start_seconds(pod("2026-12-01T10:00:00Z", "2026-12-01T10:00:35Z")) == 35


def test_a_restarted_container_is_measured_from_its_latest_start() -> None:
    """Measured from the pod's creation, a pod restarted two hours in showed a 7,458 s cold start."""
    restarted = pod("2026-12-01T08:00:00Z", "2026-12-01T10:04:18Z", restarts=3, started="2026-12-01T10:03:40Z")
    assert cold_start_seconds(restarted) == 38
    stale = pod("2026-12-01T08:00:00Z", "2026-12-01T08:00:30Z", restarts=1, started="2026-12-01T10:03:40Z")
    assert cold_start_seconds(stale) is None, "Ready from before the restart: not measurable yet"
