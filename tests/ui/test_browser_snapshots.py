"""SVG snapshots of the resource browser, describe and YAML views, from fixed data.

Update after an intended change with: ``.venv/bin/python -m pytest tests/ui/test_browser_snapshots.py
--snapshot-update``.
"""

from __future__ import annotations

from typing import Any

import yaml

from console.kube.describe import render
from console.kube.discovery import Resource
from console.kube.tables import Column, ResourceTable, Row
from screens.browser import BrowserScreen
from screens.text_view import TextViewScreen
from tests.ui.test_snapshots import SIZE, ago, make_app

REPLICASETS = Resource("apps", "v1", "replicasets", "replicaset", "ReplicaSet", True, ("get", "list"), ("rs",))
POD = {
    "apiVersion": "v1", "kind": "Pod",
    "metadata": {"name": "claude-inference-7f4b2-klmno", "namespace": "llm", "uid": "u-1",
                 "creationTimestamp": "2026-11-25T03:00:00Z", "labels": {"app": "claude", "pod-template-hash": "7f4b2"},
                 "ownerReferences": [{"kind": "ReplicaSet", "name": "claude-inference-7f4b2", "uid": "rs-1"}]},
    "spec": {"nodeName": "gpu-node-3", "containers": [{
        "name": "inference", "image": "registry.local/llm/claude-inference:v1.1.0",
        "resources": {"requests": {"memory": "12Gi", "nvidia.com/gpu": "1"},
                      "limits": {"memory": "14Gi", "nvidia.com/gpu": "1"}}}]},
    "status": {"phase": "Running", "conditions": [
        {"type": "Ready", "status": "False", "reason": "ContainersNotReady",
         "message": "containers with unready status: [inference]"},
        {"type": "PodScheduled", "status": "True"}],
        "containerStatuses": [{"name": "inference", "restartCount": 3, "ready": False,
                               "lastState": {"terminated": {"reason": "OOMKilled", "exitCode": 137}}}]},
}
def recent_events() -> list[dict[str, Any]]:
    """Events 5 and 1 minutes old as of now (built when asked: the module may be imported minutes earlier)."""
    return [
        {"type": "Normal", "reason": "Scheduled", "lastTimestamp": ago(300),
         "source": {"component": "default-scheduler"},
         "message": "Successfully assigned llm/claude-inference-7f4b2-klmno to gpu-node-3"},
        {"type": "Warning", "reason": "BackOff", "lastTimestamp": ago(60), "source": {"component": "kubelet"},
         "message": "Back-off restarting failed container inference"},
    ]


class FixedBrowser(BrowserScreen):
    """The browser with a fixed server Table instead of reading the API."""

    def poll(self) -> None:  # type: ignore[override]
        cols = [Column("Name"), Column("Desired", "integer"), Column("Current", "integer"), Column("Ready", "integer"),
                Column("Age"), Column("Containers", priority=1)]
        rows = [Row(("claude-inference-6d9c8", 0, 0, 0, "2h", "inference"), "llm", "claude-inference-6d9c8", "a"),
                Row(("claude-inference-7f4b2", 3, 3, 2, "5m", "inference"), "llm", "claude-inference-7f4b2", "b"),
                Row(("claude-long-queue-5c8d", 1, 1, 1, "2h", "inference"), "llm", "claude-long-queue-5c8d", "c")]
        self.table_data = ResourceTable(REPLICASETS, cols, rows)
        self.draw()


def test_browser_snapshot(snap_compare: Any) -> None:
    async def open_browser(pilot: Any) -> None:
        await pilot.pause(0.3)
        pilot.app.push_screen(FixedBrowser("rs"))
        await pilot.pause(0.3)
        await pilot.press("O")  # sorted by name, reversed
        await pilot.pause(0.2)

    assert snap_compare(make_app(), terminal_size=SIZE, run_before=open_browser)


def test_describe_snapshot(snap_compare: Any) -> None:
    async def open_describe(pilot: Any) -> None:
        await pilot.pause(0.3)
        text = render(POD, recent_events())
        pilot.app.push_screen(TextViewScreen("Describe — pod/claude-inference-7f4b2-klmno in llm", text))
        await pilot.pause(0.3)

    assert snap_compare(make_app(), terminal_size=SIZE, run_before=open_describe)


def test_yaml_snapshot(snap_compare: Any) -> None:
    async def open_yaml(pilot: Any) -> None:
        await pilot.pause(0.3)
        text = yaml.safe_dump(POD, sort_keys=False)
        pilot.app.push_screen(TextViewScreen("YAML — pod/claude-inference-7f4b2-klmno in llm", text, "yaml"))
        await pilot.pause(0.3)

    assert snap_compare(make_app(), terminal_size=SIZE, run_before=open_yaml)


def test_describe_text_reads_like_kubectl() -> None:
    text = render(POD, recent_events())
    assert text.startswith("Name:         claude-inference-7f4b2-klmno\nNamespace:    llm\n")
    assert "Labels:       app=claude\n              pod-template-hash=7f4b2" in text
    assert "Controlled By:  ReplicaSet/claude-inference-7f4b2" in text
    assert "Node Name:  gpu-node-3" in text and "Restart Count:  3" in text and "nvidia.com/gpu:  1" in text
    lines = text.splitlines()
    conditions = lines.index("Conditions:")
    assert lines[conditions + 1].split() == ["Type", "Status", "Reason", "Message"]
    assert lines[conditions + 3].split()[:3] == ["Ready", "False", "ContainersNotReady"]
    events = lines.index("Events:")
    assert lines[events + 3].split()[:4] == ["Normal", "Scheduled", "5m", "default-scheduler"]
    assert lines[-1].split()[:2] == ["Warning", "BackOff"]
    assert render({"kind": "X", "metadata": {"name": "x"}}, None).endswith("Events:       <could not be read>\n")


async def test_help_lists_every_key_and_command_of_the_browser() -> None:
    from screens.help import HelpScreen
    from tests.ui.helpers import wait_for

    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.3)
        app.push_screen(FixedBrowser("rs"))
        await pilot.pause(0.3)
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen), what="help")
        listed = dict(app.screen.rows)
        for key, what in (("d", "Describe"), ("y", "YAML"), ("e", "Edit"), ("^d", "Delete"), ("l", "Logs"),
                          ("/", "Filter"), ("o", "Sort column"), ("0", "All namespaces")):
            assert listed.get(key) == what, (key, listed)
        assert {":ctx", ":ns", ":KIND", ":pods"} <= set(listed)
