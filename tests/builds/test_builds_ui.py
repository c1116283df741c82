"""The Builds screen through Pilot, with a real Docker Engine: a build shown live, layers, lint, the
dashboard's last-build line, cancel from the screen, and an unreachable engine said plainly."""

from __future__ import annotations

import uuid
from pathlib import Path

from textual.widgets import DataTable, Input, RichLog, Static

from console.app import LlmctlApp
from console.builds.engine import DockerBuildService
from screens.builds.screen import BuildsScreen
from tests.builds.conftest import write_context
from tests.infra_docker import Engine, Registry
from tests.ui.helpers import console_app, rows, wait_for
from tests.ui.test_snapshots import AllowAll, StaticCluster

SIZE = (160, 48)


def log_text(app: LlmctlApp) -> str:
    return "\n".join(line.text for line in app.screen.query_one("#build-log", RichLog).lines)


async def open_builds(pilot) -> None:
    await pilot.press("colon", *"builds", "enter")
    await pilot.pause(0.1)


async def test_build_shown_live_then_layers_lint_push_and_dashboard_line(docker_engine: Engine, registry: Registry,
                                                                         tmp_path: Path) -> None:
    ctx = write_context(tmp_path, f"FROM local/busybox:1\nENV RUN_ID={uuid.uuid4().hex}\n"
                                  "RUN echo warming up; sleep 4; echo warmed\nCOPY app.py /app/\n")  # time to look
    app = console_app(StaticCluster(), actions=AllowAll(), builds=DockerBuildService(docker_engine.host))
    async with app.run_test(size=SIZE) as pilot:
        await open_builds(pilot)
        screen = app.screen
        assert isinstance(screen, BuildsScreen)
        status = screen.query_one("#engine-status", Static)
        await wait_for(pilot, lambda: "Docker Engine 20" in str(status.render()), what="engine version shown")

        await pilot.press("b")
        await pilot.pause(0.1)
        form = app.screen
        form.query_one("#field-context", Input).value = str(ctx)
        form.query_one("#field-tag", Input).value = "llmctl-ui/inference:v1"
        form.query_one("#field-args", Input).focus()
        await pilot.press("enter")

        table = screen.query_one("#builds-list", DataTable)
        await wait_for(pilot, lambda: "warming up" in log_text(app), what="RUN output streamed into the log")
        live = rows(table)[0]
        assert live[0] == "#1" and live[6] == "llmctl-ui/inference:v1" and live[1] == "running" and live[2] == "3/4"
        assert "Step 3/4 [0] RUN echo warming up" in log_text(app) and "    warmed" not in log_text(app)

        await wait_for(pilot, lambda: rows(table)[0][1] == "succeeded", what="build succeeded")
        text = log_text(app)
        assert "→ using cache" not in text and "built llmctl-ui/inference:v1" in text
        layers = screen.query_one("#layers", DataTable)
        assert layers.row_count >= 2 and rows(layers)[0][2] == "(base image)"
        assert "MB" in rows(table)[0][5]
        facts = str(screen.query_one("#image-facts", Static).render())
        assert "CUDA_VERSION not set" in facts and "stages 0 (FROM local/busybox:1" in facts
        assert "cuda-unpinned" in str(screen.query_one("#lint", Static).render())

        await pilot.press("b")  # same form again, prefilled: the second build comes from the cache
        await pilot.pause(0.1)
        app.screen.query_one("#field-args", Input).focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: rows(table)[0][0] == "#2" and rows(table)[0][1] == "succeeded",
                       what="second build")
        assert rows(table)[0][4] == "3" and log_text(app).count("→ using cache") == 3

        await pilot.press("p")  # push the selected build under the registry's name, with per-layer progress
        await pilot.pause(0.1)
        ref = f"{registry.address}/llm/inference:v1"
        app.screen.query_one("#field-reference", Input).value = ref
        await pilot.press("enter")
        push = screen.query_one("#push-progress", Static)
        await wait_for(pilot, lambda: f"pushed {ref}" in str(push.render()), what="pushed")
        assert str(push.render()).count("Pushed") + str(push.render()).count("already exists") == 2
        assert "pushed" in rows(table)[0][1]

        await pilot.press("escape")  # back to the dashboard: one line about the last build
        await pilot.pause(0.2)
        line = app.screen.query_one("#last-build", Static)
        assert line.display and "#2 llmctl-ui/inference:v1 succeeded" in str(line.render())
        assert f"pushed {ref}" in str(line.render())


async def test_cancel_from_the_screen(docker_engine: Engine, tmp_path: Path) -> None:
    ctx = write_context(tmp_path, f"FROM local/busybox:1\nRUN echo {uuid.uuid4().hex}; sleep 30\n")
    app = console_app(StaticCluster(), actions=AllowAll(), builds=DockerBuildService(docker_engine.host))
    async with app.run_test(size=SIZE) as pilot:
        await open_builds(pilot)
        screen = app.screen
        assert isinstance(screen, BuildsScreen)
        from console.builds.model import BuildRequest

        screen.begin_build(BuildRequest(str(ctx), tags=("llmctl-ui/slow:v1",)))
        table = screen.query_one("#builds-list", DataTable)
        await wait_for(pilot, lambda: rows(table)[0][2] == "2/2", what="the slow step runs")
        await pilot.pause(0.3)
        await pilot.press("x")
        await wait_for(pilot, lambda: rows(table)[0][1] == "cancelled", timeout=10, what="cancelled")
        assert "cancelled at step 2" in log_text(app)


async def test_unreachable_engine_is_said_with_how_to_point_docker_host(tmp_path: Path) -> None:
    app = console_app(StaticCluster(), actions=AllowAll(), builds=DockerBuildService(f"unix://{tmp_path}/none.sock"))
    async with app.run_test(size=SIZE) as pilot:
        await open_builds(pilot)
        status = app.screen.query_one("#engine-status", Static)
        await wait_for(pilot, lambda: "cannot reach" in str(status.render()), what="unreachable message")
        assert "DOCKER_HOST" in str(status.render())
        await pilot.press("question_mark")
        await pilot.pause(0.1)
        keys = dict(app.screen.rows)  # the help screen's (key, what) rows
        assert keys["b"] == "Build" and keys["x"] == "Cancel build" and keys["p"] == "Push"
        assert ":builds" in keys
