"""The log screen's since (t), wrap (w) and save (ctrl+s / S) keys, against the sandbox's pods/log API."""

from __future__ import annotations

import re
import stat
from pathlib import Path
from typing import Any

from kubernetes import client, config
from textual.widgets import Input, Label, RichLog

from console.config import Settings
from console.kube.cluster import KubeClusterService
from console.sandbox.server import SandboxThread
from screens.help import HelpScreen
from screens.logs import LogsScreen
from screens.widgets.dialogs import FormDialog
from screens.widgets.picker import PickerDialog
from tests.ui.helpers import console_app, wait_for

SIZE = (120, 40)
NS, CONTAINER = "llm", "inference"


def a_pod(sandbox: SandboxThread) -> str:
    api = client.CoreV1Api(config.new_client_from_config(sandbox.info.kubeconfig))
    return sorted(p.metadata.name for p in api.list_namespaced_pod(NS, label_selector="app=claude").items)[0]


def notes(app: Any, text: str) -> list[str]:
    """Every notification shown since the app was made that mentions ``text`` — also those whose time on screen
    is over (on a loaded machine one can expire before the next one comes)."""
    return [m for m in app.__dict__.get("_every_notification", []) if text in m]


def noting(app: Any) -> Any:
    """``app`` with its notifications recorded for :func:`notes`."""
    shown: list[str] = app.__dict__.setdefault("_every_notification", [])
    notify = app.notify

    def keep(message: Any, *args: Any, **kwargs: Any) -> Any:
        shown.append(str(message))
        return notify(message, *args, **kwargs)

    app.notify = keep
    return app


async def open_logs(app: Any, pilot: Any, pod: str, containers: list[str] | None = None) -> LogsScreen:
    await wait_for(pilot, lambda: app.services.cluster.transport is not None, what="connected")
    screen = LogsScreen(NS, pod, containers=containers)
    await app.push_screen(screen)
    await wait_for(pilot, lambda: len(screen.text) > 0, what="log lines")
    return screen


async def test_since_rereads_with_since_seconds_and_wrap_toggles(sandbox: SandboxThread, tmp_path: Path) -> None:
    pod = a_pod(sandbox)
    long_line = " ".join(["token"] * 60)  # 359 characters: wider than the 120-column screen
    sandbox.loop.call_soon_threadsafe(sandbox.ctx.logs.append, NS, pod, CONTAINER, long_line)
    app = noting(console_app(KubeClusterService(sandbox.info.kubeconfig),
                                Settings(audit_log=str(tmp_path / "a.jsonl"))))
    async with app.run_test(size=SIZE) as pilot:
        logs = await open_logs(app, pilot, pod)
        await wait_for(pilot, lambda: long_line in logs.text, what="the long line")
        await pilot.press("question_mark")  # ? lists the new keys with the others
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen), what="help")
        assert {("t", "Since (time window)"), ("w", "Wrap on/off"), ("^s,S", "Save to file")} <= set(app.screen.rows)
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is logs, what="back to the log")
        transport = app.services.cluster.transport
        queries: list[dict[str, Any]] = []
        real = transport.stream_text

        def recording(path: str, query: Any, *args: Any, **kwargs: Any) -> Any:
            if path.endswith(f"/pods/{pod}/log"):
                queries.append(dict(query))
            return real(path, query, *args, **kwargs)

        transport.stream_text = recording
        title = logs.query_one("#logs-title", Label)
        status = logs.query_one("#logs-status", Label)
        for expected, label in ((300, "5m"), (900, "15m"), (3600, "1h"), (21600, "6h")):
            await pilot.press("t")
            await wait_for(pilot, lambda e=expected: queries and queries[-1].get("sinceSeconds") == e,  # type: ignore[misc]
                           what=f"sinceSeconds={expected}")
            await wait_for(pilot, lambda: len(logs.text) > 0, what="lines read again")
            assert logs.since == expected
            assert f"since {label}" in str(title.render()) and f"since {label}" in str(status.render())
            assert queries[-1]["tailLines"] == logs.lines
        await pilot.press("t")  # 6h → all: no sinceSeconds at all
        await wait_for(pilot, lambda: len(queries) == 5 and len(logs.text) > 0, what="read without since")
        assert "sinceSeconds" not in queries[-1] and logs.since is None
        assert "since" not in str(title.render()) and "since" not in str(status.render())

        log = logs.query_one("#log", RichLog)
        assert log.wrap is False and "wrapped" not in str(status.render())
        cut = len(log.lines)
        assert cut == len(logs.text)  # one screen line per log line: the long one is cut
        await pilot.press("w")
        await wait_for(pilot, lambda: len(log.lines) > cut, what="wrapped lines")
        assert log.wrap is True and logs.wrap is True and "wrapped" in str(status.render())
        assert len(log.lines) >= cut + 2  # 360 characters take at least three lines of 120
        await pilot.press("w")
        await wait_for(pilot, lambda: len(log.lines) == cut, what="cut again")
        assert log.wrap is False and "wrapped" not in str(status.render())


def test_default_file_name_is_pod_container_and_time() -> None:
    name = LogsScreen(NS, "vllm-7d9-abc", containers=["vllm", "proxy"]).default_save_path()
    assert re.fullmatch(r"\./vllm-7d9-abc-vllm-\d{8}-\d{6}\.log", name), name
    pods = ["claude-inference-59858-kdxmv", "claude-inference-59858-q2x7p"]
    name = LogsScreen(NS, pods[0], pods=pods).default_save_path()  # a Deployment's: named after the pods' common part
    assert re.fullmatch(r"\./claude-inference-59858-\d{8}-\d{6}\.log", name), name


async def submit_path(app: Any, pilot: Any, key: str, path: str) -> str:
    await pilot.press(key)
    await wait_for(pilot, lambda: isinstance(app.screen, FormDialog), what="save dialog")
    field = app.screen.query_one("#field-path", Input)
    default = field.value
    field.value = path
    await pilot.press("enter")
    return default


async def test_save_writes_every_line_0600_asks_before_overwriting_and_reports_errors(
        sandbox: SandboxThread, tmp_path: Path) -> None:
    pod = a_pod(sandbox)
    for i in range(30):
        sandbox.loop.call_soon_threadsafe(sandbox.ctx.logs.append, NS, pod, CONTAINER, f"request {i} done")
    sandbox.loop.call_soon_threadsafe(sandbox.ctx.logs.append, NS, pod, CONTAINER, "\x1b[31mERROR\x1b[0m red alert")
    app = noting(console_app(KubeClusterService(sandbox.info.kubeconfig),
                                Settings(audit_log=str(tmp_path / "a.jsonl"))))
    async with app.run_test(size=(120, 12)) as pilot:  # a short screen: most lines are off it
        logs = await open_logs(app, pilot, pod, [CONTAINER])
        await wait_for(pilot, lambda: any("red alert" in line for line in logs.text), what="the coloured line")
        assert len(logs.text) > 30 > logs.query_one("#log", RichLog).size.height
        target = tmp_path / "saved.log"
        default = await submit_path(app, pilot, "ctrl+s", str(target))
        assert default.startswith(f"./{pod}-{CONTAINER}-") and default.endswith(".log")
        await wait_for(pilot, lambda: notes(app, "saved "), what="saved")
        expected = [line.replace("\x1b[31m", "").replace("\x1b[0m", "") for line in logs.text]
        assert target.read_text().splitlines() == expected
        assert "ERROR red alert" in expected and "\x1b" not in target.read_text()
        assert stat.S_IMODE(target.stat().st_mode) == 0o600

        # The file is there: asked first; keeping it leaves it as it was.
        target.write_text("mine\n")
        target.chmod(0o644)
        await submit_path(app, pilot, "S", str(target))
        await wait_for(pilot, lambda: isinstance(app.screen, PickerDialog), what="overwrite question")
        await pilot.press(*"keep", "enter")
        await wait_for(pilot, lambda: notes(app, "not saved"), what="not saved")
        assert target.read_text() == "mine\n"
        await submit_path(app, pilot, "S", str(target))
        await wait_for(pilot, lambda: isinstance(app.screen, PickerDialog), what="overwrite question")
        await pilot.press(*"overwrite", "enter")
        await wait_for(pilot, lambda: len(notes(app, "saved ")) == 2, what="overwritten")
        assert target.read_text().splitlines() == expected
        assert stat.S_IMODE(target.stat().st_mode) == 0o600

        # An unwritable path: one notification, the screen stays.
        await submit_path(app, pilot, "ctrl+s", str(tmp_path / "no-such-dir" / "x.log"))
        await wait_for(pilot, lambda: notes(app, "cannot save the log"), what="error said")
        # a path under a file: refused for root too (a permission test would not be, the suite runs as root)
        await submit_path(app, pilot, "ctrl+s", str(target / "x.log"))
        await wait_for(pilot, lambda: len(notes(app, "cannot save the log")) == 2, what="not a directory said")
        assert "Not a directory" in notes(app, "cannot save the log")[-1]
        await pilot.pause(0.2)
        assert len(notes(app, "No such file or directory")) == 1
        assert app.screen is logs and not (tmp_path / "no-such-dir").exists()
