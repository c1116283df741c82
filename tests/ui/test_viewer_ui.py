"""A user bound to the built-in ``view`` ClusterRole (the sandbox's ``sandbox-viewer``, as on a real cluster):
it reads the namespaces' workloads, pods and events, but not nodes and not secrets. The console degrades per
panel: the node panel says it may not list nodes, the Deployments are there, the write actions are refused
before anything is sent; ``llmctl status`` reports the nodes problem and exits 1, as on a real cluster."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from textual.widgets import DataTable

from console.config import Settings
from console.core.model import ConnState
from console.kube.cluster import KubeClusterService
from console.sandbox.server import SandboxThread
from tests.ui.helpers import console_app, rows, wait_for

VIEWER = "sandbox-viewer"
ROOT = Path(__file__).resolve().parents[2]


async def test_the_viewer_sees_workloads_but_not_nodes(sandbox: SandboxThread) -> None:
    app = console_app(KubeClusterService(sandbox.info.kubeconfig, context=VIEWER), Settings(builtin_rules=False))
    async with app.run_test(size=(160, 45)) as pilot:
        deployments = app.screen.query_one("#deployments", DataTable)
        await wait_for(pilot, lambda: any(r[0] == "claude-inference" for r in rows(deployments)),
                       what="the Deployments (the view role lists them in every namespace)")
        await wait_for(pilot, lambda: app.snapshot.problem("nodes"), what="the nodes problem")
        assert app.snapshot.connection.state is ConnState.CONNECTED
        assert str(app.screen.query_one("#nodes-status").render()) == "no permission to list nodes cluster-wide"
        assert app.screen.query_one("#nodes", DataTable).row_count == 0
        assert app.snapshot.problem("deployments") is None
        await wait_for(pilot, lambda: bool(app.permissions), what="permissions probed")
        assert not app.action_allowed("scale") and not app.action_allowed("hpa_edit")


def test_status_as_viewer_reports_the_nodes_panel_and_exits_1(sandbox: SandboxThread) -> None:
    done = subprocess.run([sys.executable, "-m", "console.cli", "status", "-o", "json", "--kubeconfig",
                           sandbox.info.kubeconfig, "--context", VIEWER], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 1, done.stdout + done.stderr
    snap = json.loads(done.stdout)
    assert snap["problems"] == [{"resource": "nodes", "message": "no permission to list nodes cluster-wide"}]
    assert snap["nodes"] == [] and any(d["name"] == "claude-inference" for d in snap["deployments"])
    admin = subprocess.run([sys.executable, "-m", "console.cli", "status", "-o", "json", "--kubeconfig",
                            sandbox.info.kubeconfig], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert admin.returncode == 0, admin.stdout + admin.stderr
    assert len(json.loads(admin.stdout)["nodes"]) == 4
