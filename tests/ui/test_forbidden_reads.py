"""A user bound to one namespace (the sandbox's ``sandbox-llm-operator``): the node panel says it may not
list nodes, GPU allocation is unknown rather than zero, and the namespace's Deployments, pods and actions
work — the console degrades per panel, not as a whole."""

from __future__ import annotations

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from textual.widgets import DataTable

from console.config import Settings
from console.core.model import ConnState
from console.kube.cluster import KubeClusterService
from console.sandbox.server import SandboxThread
from tests.ui.helpers import console_app, rows, wait_for

OPERATOR = "sandbox-llm-operator"


def test_the_operator_is_bound_to_its_namespace(sandbox: SandboxThread) -> None:
    api = config.new_client_from_config(sandbox.info.kubeconfig, context=OPERATOR)
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    assert apps.list_namespaced_deployment("llm").items
    for forbidden in (core.list_node, core.list_pod_for_all_namespaces, lambda: core.list_namespaced_pod("default")):
        try:
            forbidden()
        except ApiException as exc:
            assert exc.status == 403 and f'User \\"{OPERATOR}\\"' in exc.body
        else:
            raise AssertionError("a namespace-bound user read outside its namespace")
    review = client.AuthorizationV1Api(api).create_self_subject_access_review(client.V1SelfSubjectAccessReview(
        spec=client.V1SelfSubjectAccessReviewSpec(resource_attributes=client.V1ResourceAttributes(
            verb="patch", resource="deployments", subresource="scale", group="apps", namespace="llm"))))
    assert review.status.allowed and "RoleBinding" in review.status.reason
    api.close()


async def test_panels_degrade_one_by_one(sandbox: SandboxThread) -> None:
    app = console_app(KubeClusterService(sandbox.info.kubeconfig, context=OPERATOR), Settings(builtin_rules=False))
    async with app.run_test(size=(160, 45)) as pilot:
        deployments = app.screen.query_one("#deployments", DataTable)
        await wait_for(pilot, lambda: any(r[0] == "claude-inference" for r in rows(deployments)),
                       what="the namespace's Deployments")
        await wait_for(pilot, lambda: app.snapshot.problem("nodes"), what="the nodes problem")
        assert app.snapshot.connection.state is ConnState.CONNECTED
        status = str(app.screen.query_one("#nodes-status").render())
        assert status == "no permission to list nodes cluster-wide"
        await wait_for(pilot, lambda: bool(app.permissions), what="permissions probed")
        assert app.action_allowed("scale") and app.action_allowed("hpa_edit")
        await pilot.press("colon")
        for key in "pods":
            await pilot.press(key)
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.current_mode == "pods", what="pods screen")
        table = app.screen.query_one("#all-pods", DataTable)
        await wait_for(pilot, lambda: table.row_count > 0, what="the namespace's pods")
