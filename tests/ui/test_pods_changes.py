""":pods redraws what changed (#16): after its first draw, the screen patches the rows of the pods the cluster view
says changed and the rows whose age is due, and never walks every row again while the view can say what changed.
What it shows is always what a full walk of every pod shows: through a scale out and in, a pod deleted, a bad
image rolled out and back (real sandbox, real console, Pilot), and through hours of ages on a clock the test
moves."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from console.config import Settings
from console.core.model import PodRow
from console.core.units import age
from console.kube.cluster import KubeClusterService
from console.kube.indexes import RowChanges, SortedRows
from console.sandbox.server import SandboxThread
from screens import resources
from screens.deployment import DeploymentScreen, status_text
from screens.resources import PodsScreen
from screens.widgets.table import ResourceTable
from tests.ui.helpers import console_app, edit_deployment, rows, wait_for
from tests.ui.test_snapshots import AllowAll, StaticCluster, StaticMetrics

DEP = "claude-long-queue"


def change(sb: SandboxThread, edit: Any) -> None:
    edit_deployment(sb, DEP, edit)


def delete_pod(sb: SandboxThread, name: str) -> None:
    def write() -> None:
        store = sb.ctx.store
        pod = next(p for p in store.iter_all("pods") if p["metadata"]["name"] == name)
        store.delete("pods", pod["metadata"]["namespace"], name)
    sb.call(write)


def walked(service: KubeClusterService, now: float) -> list[list[str]]:
    """What a full walk of every pod shows (the columns :pods draws), independent of the screen's bookkeeping."""
    out = []
    at = datetime.fromtimestamp(now, UTC)
    for p in service.pods():
        out.append([p.name, str(status_text(p.status, p.ready)), p.ready, str(p.restarts), p.node or "-",
                    f"{p.cold_start_s:.0f}s" if p.cold_start_s is not None else "-", age(p.created, at), p.why])
    return out


class Clock:
    """The screen's clock (screens.resources.time), moved by the test; the rest of the console keeps real time."""

    def __init__(self) -> None:
        self.now = time.time()

    def time(self) -> float:
        return self.now


async def test_pods_patches_what_changed_and_shows_what_a_full_walk_shows(
        sb: SandboxThread, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock()
    monkeypatch.setattr(resources, "time", clock)
    fills: list[int] = []
    original = PodsScreen._fill

    def counting(self: PodsScreen, *args: Any) -> None:
        fills.append(len(args[1]))
        original(self, *args)
    monkeypatch.setattr(PodsScreen, "_fill", counting)
    service = KubeClusterService(sb.info.kubeconfig)
    app = console_app(service, Settings(audit_log=str(tmp_path / "audit.jsonl")))
    async with app.run_test(size=(180, 50)) as pilot:
        await app.switch_mode("pods")
        table = app.screen.query_one("#all-pods", ResourceTable)

        async def settled(what: str) -> None:
            def same() -> bool:
                app.screen.show_snapshot(app.snapshot)  # what a redraw now shows (the app redraws on its own too)
                return rows(table) == walked(service, clock.now)
            await wait_for(pilot, same, what=what, timeout=30)

        await wait_for(pilot, lambda: isinstance(app.screen, PodsScreen) and table.row_count > 0, what="pods")
        await settled("first draw")
        first = len(fills)

        def dep_pods() -> list[str]:
            return [r[0] for r in rows(table) if r[0].startswith(DEP + "-")]
        before = len(dep_pods())
        change(sb, lambda d: d["spec"].__setitem__("replicas", before + 3))
        await wait_for(pilot, lambda: len(dep_pods()) == before + 3, what="scaled out")
        await settled("scaled out")
        table.move_cursor(row=table.get_row_index(dep_pods()[-1]))
        victim = dep_pods()[0]
        delete_pod(sb, victim)
        await wait_for(pilot, lambda: victim not in dep_pods(), what="pod deleted")
        await settled("pod deleted")
        change(sb, lambda d: d["spec"]["template"]["spec"]["containers"][0].__setitem__("image",
                                                                                         "registry.invalid/nope:1"))
        await wait_for(pilot, lambda: any("ErrImagePull" in " ".join(r) or "ImagePullBackOff" in " ".join(r)
                                          for r in rows(table)), what="a bad image's pods")
        await settled("bad image")
        change(sb, lambda d: d["spec"].__setitem__("replicas", before))
        await settled("scaled in")
        cursor = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        # Ages: an hour, then two days later every age reads anew, row by row as each is due.
        for hours in (1, 49):
            clock.now += hours * 3600
            await settled(f"{hours} h later")
        assert len(fills) == first, f"no full walk after the first draw ({fills})"
        if cursor in [r[0] for r in rows(table)]:
            assert table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value == cursor


class QuietCluster(StaticCluster):
    """Fixed pods in a real pod view (SortedRows), and no cluster event after the first: nothing but the screen's
    own timer can move an AGE."""

    def __init__(self, pods: list[PodRow]) -> None:
        super().__init__()
        self.view = SortedRows(lambda p: p, lambda r: (r.namespace, r.name))
        self.view.reset({f"{p.namespace}/{p.name}": p for p in pods})
        self.detail = replace(self.detail, pods=tuple(pods))  # the Deployment screen shows the same young pods

    def pods(self) -> tuple[PodRow, ...]:
        return self.view.rows()

    def pod_changes(self, mark: object) -> RowChanges:
        return self.view.since(mark)


async def test_ages_move_on_a_quiet_cluster() -> None:
    """An AGE of "3s" must not stay "3s" because no watch event came: :pods and the Deployment screen wake themselves
    when their next age is due, only while shown (a screen shown again catches up at once)."""
    made = datetime.fromtimestamp(time.time() - 3, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    pods = [PodRow(f"model-{i}", "Running", "1/1", 0, "gpu-node-1", made, 30.0, "", namespace="llm")
            for i in range(3)]
    app: Any = console_app(QuietCluster(pods), Settings(builtin_rules=False), actions=AllowAll(),
                           metrics=StaticMetrics())
    async with app.run_test(size=(160, 40)) as pilot:
        await app.switch_mode("pods")
        table = app.screen.query_one("#all-pods", ResourceTable)
        await wait_for(pilot, lambda: table.row_count == 3, what="the pods")

        def ages() -> set[str]:
            return {r[6] for r in rows(table)}
        first = ages()
        await wait_for(pilot, lambda: ages() != first, timeout=5, what=f"the ages move on from {first}")
        assert len(ages()) == 1
        assert ages() <= now_or_a_second_ago(made)
        await app.switch_mode("dashboard")
        await pilot.pause(2.5)  # hidden: no redraw of its own; shown again: caught up at once
        await app.switch_mode("pods")
        await pilot.pause(0.2)
        assert ages() <= now_or_a_second_ago(made), ages()
        # The Deployment screen's ages too.
        app.show_deployment(app.snapshot.deployments[0].name)
        await wait_for(pilot, lambda: isinstance(app.screen, DeploymentScreen) and app.screen.query("#pods"),
                       what="the Deployment screen")
        pods_table = app.screen.query_one("#pods", ResourceTable)
        await wait_for(pilot, lambda: pods_table.row_count == 3, what="its pods")
        first = {r[6] for r in rows(pods_table)}
        await wait_for(pilot, lambda: {r[6] for r in rows(pods_table)} != first, timeout=5,
                       what=f"its ages move on from {first}")
        assert {r[6] for r in rows(pods_table)} <= now_or_a_second_ago(made)


def now_or_a_second_ago(made: str) -> set[str]:
    """The AGE of ``made`` now, or a second ago (a second may end between a redraw and the check)."""
    return {age(made, datetime.fromtimestamp(time.time() - back, UTC)) for back in (0, 1)}
