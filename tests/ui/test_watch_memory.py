"""What the watches list lives as long as the watch: the console moves it out of the cyclic garbage collector's sight
once it is in (gc.freeze), so full collections do not walk 10,000 pods' objects every few events (#16). A switch to
another target gives the old one's objects back to the collector (its watches' tasks hold reference cycles)."""

from __future__ import annotations

import gc
from pathlib import Path

from console.config import Settings
from console.kube.cluster import KubeClusterService
from console.sandbox.server import SandboxThread
from tests.ui.helpers import console_app, wait_for


async def test_listed_objects_leave_the_cyclic_collector(sandbox: SandboxThread, tmp_path: Path) -> None:
    gc.unfreeze()  # this process's earlier tests may have frozen objects of their own
    assert gc.get_freeze_count() == 0
    app = console_app(KubeClusterService(str(sandbox.info.kubeconfig)), Settings(audit_log=str(tmp_path / "a")))
    async with app.run_test() as pilot:
        await wait_for(pilot, lambda: {"pods", "nodes", "deployments"} <= app.snapshot.synced, what="listed")
        pods = app.services.cluster.raw("pods")
        assert pods and gc.get_freeze_count() >= len(pods), "the listed pods are still in the collector's sight"
        app._retarget(app.services.access.context, "kube-system", False)  # what `:ns kube-system` comes to
        assert gc.get_freeze_count() == 0, "the old target's objects are back in the collector's sight"
        await wait_for(pilot, lambda: app.snapshot.namespace == "kube-system" and "pods" in app.snapshot.synced,
                       what="the other namespace listed")
        assert gc.get_freeze_count() > 0, "the new target's lists are frozen in their turn"
    gc.unfreeze()
