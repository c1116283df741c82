"""``P`` probes a model Service from the console, against the sandbox: on the Deployment screen and the
dashboard (the Service in front of the Deployment), on a Service row of ``:svc``, and ``:probe [SERVICE]``.
The answer comes as a notification with the pod that gave it; a viewer gets the one-line 403; a probe is
not an audited change and runs in read-only mode; one runs at a time."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kubernetes import client, config
from textual.widgets import DataTable

from console.config import Settings
from console.kube.cluster import KubeClusterService
from console.sandbox.server import SandboxThread
from screens.browser import BrowserScreen
from screens.deployment import DeploymentScreen
from tests.ui.helpers import burst, console_app, rows, wait_for

SIZE = (170, 45)
VIEWER = "sandbox-viewer"


def notes(app: Any) -> list[tuple[str, str, str]]:
    return [(n.title or "", str(n.message), n.severity) for n in app._notifications]


def note(app: Any, title_part: str) -> tuple[str, str, str] | None:
    return next((n for n in notes(app) if title_part in n[0]), None)


async def ready(app: Any, pilot: Any, name: str) -> None:
    await wait_for(pilot, lambda: any(d.name == name and d.desired and d.ready >= d.desired
                                      for d in app.snapshot.deployments), timeout=30, what=f"{name} ready")


async def cursor_to(pilot: Any, table: DataTable, name: str) -> None:
    await wait_for(pilot, lambda: any(r[0] == name for r in rows(table)), what=f"row {name}")
    table.move_cursor(row=next(i for i, r in enumerate(rows(table)) if r[0] == name))
    await pilot.pause(0.05)


async def type_command(pilot: Any, line: str) -> None:
    await pilot.press("colon")
    await pilot.pause(0.1)
    await pilot.press(*("space" if c == " " else c for c in line), "enter")


async def test_P_on_the_deployment_screen_answers_with_the_pod_read_only_and_unaudited(
        sandbox: SandboxThread, tmp_path: Path) -> None:
    audit = tmp_path / "audit.jsonl"
    app = console_app(KubeClusterService(sandbox.info.kubeconfig), Settings(audit_log=str(audit), readonly=True))
    async with app.run_test(size=SIZE) as pilot:
        await ready(app, pilot, "claude-inference")
        await cursor_to(pilot, app.screen.query_one("#deployments", DataTable), "claude-inference")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, DeploymentScreen), what="deployment screen")
        assert app.active_bindings["P"].binding.description == "Probe"  # in the footer and ?
        burst(app, "P", "P")  # the second while the first runs
        await wait_for(pilot, lambda: note(app, "Probe llm/claude-inference:8000"), timeout=30,
                       what=f"the probe's answer: {notes(app)}")
        title, message, severity = note(app, "Probe llm/claude-inference:8000") or ("", "", "")
        assert severity == "information" and "model " in title, (title, message)
        answer, pod, figures = message.splitlines()
        assert answer and len(answer) <= 200
        assert pod.startswith("pod claude-inference-"), pod
        assert "TTFT " in figures and " ms · latency " in figures and "tokens/s" in figures, figures
        assert sum("a probe is already running" in m for _, m, _ in notes(app)) == 1, notes(app)
        assert isinstance(app.screen, DeploymentScreen)  # the answer does not take the screen away
        # Done: the next P runs again (the running guard is released).
        app.clear_notifications()
        await pilot.press("P")
        await wait_for(pilot, lambda: note(app, "Probe llm/claude-inference:8000"), timeout=30, what="2nd probe")
        assert not any("already running" in m for _, m, _ in notes(app))
        await pilot.press("question_mark")
        await pilot.pause(0.1)
        text = " ".join(f"{k} {d}" for k, d in app.screen.rows)
        assert "P Probe" in text and ":probe ask a model Service one question" in text, text
    assert not audit.exists() or audit.read_text() == ""  # not an audited change, not refused read-only


async def test_P_on_a_service_row_and_the_probe_command(sandbox: SandboxThread) -> None:
    app = console_app(KubeClusterService(sandbox.info.kubeconfig), Settings())
    async with app.run_test(size=SIZE) as pilot:
        await ready(app, pilot, "claude-router")
        await ready(app, pilot, "claude-short-queue")
        await type_command(pilot, "svc")
        await wait_for(pilot, lambda: isinstance(app.screen, BrowserScreen) and app.screen.table_data is not None,
                       what=":svc")
        screen = app.screen
        assert screen.check_action("probe", ()) is True and "P" in app.active_bindings
        await cursor_to(pilot, screen.query_one("#browser", DataTable), "claude-router")
        await pilot.press("P")
        await wait_for(pilot, lambda: note(app, "Probe llm/claude-router:80"), timeout=30,
                       what=f"the router's answer: {notes(app)}")
        _, message, severity = note(app, "Probe llm/claude-router:80") or ("", "", "")
        assert severity == "information"
        pod = message.splitlines()[1]
        assert pod.startswith("pod claude-") and "(routed to " in pod, pod  # the router names where it sent it

        await pilot.press("escape")  # P is for Services only in the browser
        await wait_for(pilot, lambda: not isinstance(app.screen, BrowserScreen), what="back")
        await type_command(pilot, "cm")
        await wait_for(pilot, lambda: isinstance(app.screen, BrowserScreen) and app.screen.word == "configmaps",
                       what=":cm")
        assert not app.screen.check_action("probe", ())

        app.clear_notifications()
        await type_command(pilot, "probe claude-inference:8000")
        await wait_for(pilot, lambda: note(app, "Probe llm/claude-inference:8000"), timeout=30, what=":probe")
        assert note(app, "Probe llm/claude-inference:8000")[1].splitlines()[1].startswith("pod claude-inference-")
        app.clear_notifications()  # NAMESPACE/SERVICE: another namespace's (none of that name there)
        await type_command(pilot, "probe kube-system/claude-inference:8000")
        await wait_for(pilot, lambda: note(app, "kube-system/claude-inference"), timeout=30, what=f"{notes(app)}")
        assert "failed" in " ".join(map(str, note(app, "kube-system/claude-inference"))), notes(app)
        app.clear_notifications()
        await type_command(pilot, "probe claude-inference:9999")
        await wait_for(pilot, lambda: note(app, "failed"), timeout=30, what="no such port")
        assert "has no port 9999 (ports: 8000)" in note(app, "failed")[1]
        await type_command(pilot, "probe Bad_Name")
        await wait_for(pilot, lambda: any("not a Service name" in m for _, m, _ in notes(app)), what="bad name")


async def test_the_viewer_gets_one_forbidden_line_and_no_service_is_said(sandbox: SandboxThread) -> None:
    viewer = console_app(KubeClusterService(sandbox.info.kubeconfig, context=VIEWER), Settings(builtin_rules=False))
    async with viewer.run_test(size=SIZE) as pilot:
        await ready(viewer, pilot, "claude-inference")
        await cursor_to(pilot, viewer.screen.query_one("#deployments", DataTable), "claude-inference")
        await pilot.press("P")  # on the dashboard's Deployment table
        await wait_for(pilot, lambda: note(viewer, "failed"), timeout=30, what=f"the 403: {notes(viewer)}")
        title, message, severity = note(viewer, "failed") or ("", "", "")
        assert title == "Probe llm/claude-inference failed" and severity == "error"
        assert message.startswith("forbidden: cannot get services/proxy in namespace llm"), message
        assert "\n" not in message

    # A Deployment no Service selects: said so, nothing sent.
    apps = client.AppsV1Api(config.new_client_from_config(sandbox.info.kubeconfig))
    labels = {"app": "lonely"}
    apps.create_namespaced_deployment("llm", {
        "metadata": {"name": "lonely", "labels": labels},
        "spec": {"replicas": 1, "selector": {"matchLabels": labels}, "template": {
            "metadata": {"labels": labels},
            "spec": {"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.9"}]}}}})
    app = console_app(KubeClusterService(sandbox.info.kubeconfig), Settings())
    async with app.run_test(size=SIZE) as pilot:
        await cursor_to(pilot, app.screen.query_one("#deployments", DataTable), "lonely")
        await pilot.press("P")
        await wait_for(pilot, lambda: note(app, "failed"), timeout=30, what="no Service")
        assert note(app, "failed")[1] == "no Service in namespace llm selects the pods of deployment lonely"
