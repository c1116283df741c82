"""With every namespace shown, two Deployments may share a name: Enter on either opens that one (its pods, its HPA,
its namespace's incident timeline and load test), not the first of that name, and each dashboard row carries its
own namespace's HPA. Real sandbox, real console, Deployment and HPA made with the official client."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kubernetes import client, config
from textual.widgets import DataTable

from console.alerts.model import AlertTarget
from console.config import Settings
from console.kube.cluster import KubeClusterService
from console.sandbox.server import SandboxThread
from screens.deployment import DeploymentScreen
from screens.incident import IncidentScreen
from screens.loadtest import LoadTestScreen
from tests.ui.helpers import console_app, rows, wait_for

NAME, HOME, OTHER = "claude-inference", "llm", "team-b"


def copy_to_other_namespace(sb: SandboxThread) -> None:
    api = config.new_client_from_config(sb.info.kubeconfig)
    core, apps, scaling = client.CoreV1Api(api), client.AppsV1Api(api), client.AutoscalingV2Api(api)
    core.create_namespace({"metadata": {"name": OTHER}})
    dep = api.sanitize_for_serialization(apps.read_namespaced_deployment(NAME, HOME))
    apps.create_namespaced_deployment(OTHER, {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": NAME, "namespace": OTHER, "labels": dep["metadata"].get("labels") or {}},
        "spec": {"replicas": 1, "selector": dep["spec"]["selector"], "template": dep["spec"]["template"]}})
    scaling.create_namespaced_horizontal_pod_autoscaler(OTHER, {
        "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": NAME, "namespace": OTHER},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": NAME},
                 "minReplicas": 1, "maxReplicas": 7,
                 "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {
                     "type": "Utilization", "averageUtilization": 80}}}]}})


async def test_enter_opens_the_deployment_of_the_rows_namespace(sb: SandboxThread, tmp_path: Path) -> None:
    copy_to_other_namespace(sb)
    service = KubeClusterService(sb.info.kubeconfig)
    app = console_app(service, Settings(audit_log=str(tmp_path / "audit.jsonl")))
    async with app.run_test(size=(180, 50)) as pilot:
        table = app.screen.query_one("#deployments", DataTable)
        await wait_for(pilot, lambda: any(r[0] == NAME for r in rows(table)), what="llm's Deployments")
        await pilot.press("0")
        keys = [f"{ns}/{NAME}" for ns in (HOME, OTHER)]

        def shown() -> list[str]:
            return [str(table.coordinate_to_cell_key((i, 0)).row_key.value) for i in range(table.row_count)]
        await wait_for(pilot, lambda: set(keys) <= set(shown()), what="both Deployments of that name")
        hpas = {(d.namespace, d.name): d.hpa for d in app.snapshot.deployments if d.name == NAME}
        assert hpas[(OTHER, NAME)] is not None and hpas[(OTHER, NAME)].max_replicas == 7, hpas
        assert hpas[(HOME, NAME)] is None or hpas[(HOME, NAME)].max_replicas != 7, "each row has its own HPA"
        for namespace in (OTHER, HOME):  # the second of that name first: a lookup by name alone finds the other
            table.focus()
            table.move_cursor(row=shown().index(f"{namespace}/{NAME}"))
            await pilot.press("enter")
            await wait_for(pilot, lambda: isinstance(app.screen, DeploymentScreen), what="the Deployment screen")
            screen: Any = app.screen
            await wait_for(pilot, lambda s=screen: s.selected_deployment() is not None, what="its detail")
            detail = screen._detail
            assert (detail.row.namespace, detail.row.name) == (namespace, NAME)
            own = {p["metadata"]["name"] for p in service.raw("pods") if p["metadata"]["namespace"] == namespace}
            assert detail.pods and {p.name for p in detail.pods} <= own, "its own namespace's pods"
            assert (detail.hpa is not None and detail.hpa.max_replicas == 7) == (namespace == OTHER)
            # Its incident timeline is of its own namespace (a timeline of namespace "" held nothing).
            await pilot.press("I")
            await wait_for(pilot, lambda: isinstance(app.screen, IncidentScreen), what="the incident view")
            incident: Any = app.screen
            if namespace == OTHER:  # made just now: its scaling events are in the window (llm has none in it)
                await wait_for(pilot, lambda i=incident: bool(i.entries), what="the Deployment's timeline")
            assert incident.namespace() == namespace
            assert {e.ref[1] for e in incident.entries if len(e.ref) == 3} <= {namespace}, incident.entries
            assert incident.selected_deployment().namespace == namespace
            await pilot.press("escape")
            await wait_for(pilot, lambda: isinstance(app.screen, DeploymentScreen), what="the Deployment again")
            await pilot.press("L")  # the load test aims at the Service of the Deployment's own namespace
            await wait_for(pilot, lambda: isinstance(app.screen, LoadTestScreen), what="the load test")
            assert app.screen.namespace == namespace  # type: ignore[attr-defined]
            await pilot.press("escape", "escape")
            await wait_for(pilot, lambda: not isinstance(app.screen, DeploymentScreen | LoadTestScreen), what="back")
        # An alert's target opens the Deployment of the alert's namespace (enter on the Alerts panel), also from
        # the screen of the same name in another namespace.
        app.show_deployment(NAME)  # no namespace: the first of that name (llm's)
        await wait_for(pilot, lambda: isinstance(app.screen, DeploymentScreen) and app.screen._detail is not None,
                       what="the first Deployment of that name")
        assert app.screen._detail.row.namespace == HOME  # type: ignore[attr-defined]
        app.jump_to_target(AlertTarget(namespace=OTHER, deployment=NAME))
        await wait_for(pilot, lambda: isinstance(app.screen, DeploymentScreen) and app.screen._detail is not None,
                       what="the alert's Deployment")
        assert app.screen._detail.row.namespace == OTHER  # type: ignore[attr-defined]
        await pilot.press("escape", "escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, DeploymentScreen), what="back")
        # Commands name the namespace as NAMESPACE/NAME.
        for line, screen_type in ((f"incident {OTHER}/{NAME}", IncidentScreen), (f"loadtest {OTHER}/{NAME}",
                                                                                 LoadTestScreen)):
            await pilot.press("colon", *line, "enter")
            await wait_for(pilot, lambda t=screen_type: isinstance(app.screen, t), what=line)
            opened: Any = app.screen
            assert (opened.namespace() if screen_type is IncidentScreen else opened.namespace) == OTHER, line
            await pilot.press("escape")
            await wait_for(pilot, lambda t=screen_type: not isinstance(app.screen, t), what="back")
        # A name alone, in two namespaces: the first, and the others named.
        for word, screen_type in (("loadtest", LoadTestScreen), ("incident", IncidentScreen)):
            app.clear_notifications()
            await pilot.press("colon", *f"{word} {NAME}", "enter")
            await wait_for(pilot, lambda t=screen_type: isinstance(app.screen, t), what=f":{word} NAME")
            opened = app.screen
            assert (opened.namespace() if screen_type is IncidentScreen else opened.namespace) == HOME, word
            assert any(f"also in {OTHER}" in str(n.message) for n in app._notifications), word
            await pilot.press("escape")
            await wait_for(pilot, lambda t=screen_type: not isinstance(app.screen, t), what="back")
        # A namespace that is no namespace's name goes into no request path: said, nothing opened.
        for line in ("loadtest Team_B/x", "incident /x", "probe ../x"):
            app.clear_notifications()
            await pilot.press("colon", *line, "enter")
            await wait_for(pilot, lambda: any("invalid namespace" in str(n.message) for n in app._notifications),
                           what=line)
            assert not isinstance(app.screen, IncidentScreen | LoadTestScreen), line
        # With every namespace shown, a namespace's timeline needs a namespace: said, nothing opened.
        app.show_incident()
        await pilot.pause()
        assert not isinstance(app.screen, IncidentScreen)
        assert any("one namespace" in str(n.message) for n in app._notifications), "told why"


async def test_hpas_of_one_name_in_two_namespaces(sandbox: SandboxThread, tmp_path: Path) -> None:
    """`:hpa` with every namespace shown: an HPA named as its Deployment (the usual way) in two namespaces is two
    rows, NAMESPACE/NAME — the table refused the second row of that name and the screen failed."""
    api = config.new_client_from_config(sandbox.info.kubeconfig)
    core, scaling = client.CoreV1Api(api), client.AutoscalingV2Api(api)
    for namespace in (HOME, "team-d"):
        if namespace != HOME:
            core.create_namespace({"metadata": {"name": namespace}})
        scaling.create_namespaced_horizontal_pod_autoscaler(namespace, {
            "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "same-name", "namespace": namespace},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": NAME},
                     "minReplicas": 1, "maxReplicas": 3 if namespace == HOME else 4}})
    app = console_app(KubeClusterService(sandbox.info.kubeconfig), Settings(audit_log=str(tmp_path / "a.jsonl")))
    async with app.run_test(size=(180, 50)) as pilot:
        await wait_for(pilot, lambda: app.snapshot.deployments, what="llm's Deployments")
        await pilot.press("0")
        await wait_for(pilot, lambda: app.all_namespaces, what="every namespace")
        await pilot.press("colon", *"hpa", "enter")
        await wait_for(pilot, lambda: app.current_mode == "hpa", what=":hpa")
        table = app.screen.query_one("#all-hpa", DataTable)
        await wait_for(pilot, lambda: {f"{HOME}/same-name", "team-d/same-name"} <= {r[0] for r in rows(table)},
                       what=lambda: f"both HPAs: {rows(table)}")
        by_name = {r[0]: r for r in rows(table)}
        assert by_name[f"{HOME}/same-name"][3] == "3" and by_name["team-d/same-name"][3] == "4"
        await pilot.press("0")  # shown again with one namespace: its HPAs by name, as before
        await pilot.press("colon", *"ns llm", "enter")
        await wait_for(pilot, lambda: app.snapshot.namespace == HOME and not app.all_namespaces, what="llm")
        await wait_for(pilot, lambda: "same-name" in {r[0] for r in rows(table)}, what="llm's HPA by its name")


async def test_commands_without_a_namespace_use_the_contexts(sandbox: SandboxThread, tmp_path: Path) -> None:
    """With every namespace shown, `:probe SERVICE` and the load test of a Deployment without a namespace aimed at
    "default"; as kubectl does without -n, they use the context's namespace (the sandbox's contexts: llm)."""
    app = console_app(KubeClusterService(sandbox.info.kubeconfig), Settings(audit_log=str(tmp_path / "a.jsonl")))
    async with app.run_test(size=(180, 50)) as pilot:
        await wait_for(pilot, lambda: app.snapshot.deployments, what="llm's Deployments")
        await pilot.press("0")
        await wait_for(pilot, lambda: app.all_namespaces and app.snapshot.deployments, what="every namespace")
        assert app.default_namespace() == HOME
        app.clear_notifications()
        await pilot.press("colon", *"probe claude-inference", "enter")
        await wait_for(pilot, lambda: any("probing" in str(n.message) for n in app._notifications), what="probing")
        said = [str(n.message) for n in app._notifications if "probing" in str(n.message)]
        assert any(f"{HOME}/claude-inference" in m for m in said), said
        app.push_screen(LoadTestScreen(NAME))
        await wait_for(pilot, lambda: isinstance(app.screen, LoadTestScreen) and app.screen.query("#loadtest-head"),
                       what="the load test")
        assert app.screen.namespace == HOME  # type: ignore[attr-defined]
        assert f"namespace {HOME}" in str(app.screen.query_one("#loadtest-head").render())
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, LoadTestScreen), what="back")
