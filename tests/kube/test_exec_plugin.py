"""Exec-plugin users (what EKS, GKE and AKS kubeconfigs hold) against a sandbox whose tokens expire: the
console keeps working across several expiries, a 401 re-runs the plugin once and retries, a token that is
refused again is a clear error, a failing plugin says which command failed and why, and the watches show
it instead of retrying blindly."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client, config

from console.config import Settings
from console.core.model import ConnState
from console.kube import reflector
from console.kube.cluster import KubeClusterService
from console.kube.errors import KubeError
from console.kube.transport import connect_target
from console.sandbox.server import SandboxThread
from tests.conftest import start_sandbox
from tests.kube.conftest import V1, exec_user, kubectl, kubectls, one_context, whoami
from tests.ui.helpers import console_app, wait_for

TTL = 2  # seconds an issued token lives (the sandbox's default is EKS's 15 minutes)
PLUGIN_CMD = sys.executable
FAILED = f"exec plugin {PLUGIN_CMD} failed (exit 1): error: the SSO session for profile 'gpu-admins' has expired"
REJECTED = f"unauthorized: the token from exec plugin {PLUGIN_CMD} was rejected"


@pytest.fixture(scope="module")
def short() -> Iterator[SandboxThread]:
    thread = start_sandbox(exec_token_ttl=TTL)
    try:
        yield thread
    finally:
        thread.stop()


@pytest.fixture(scope="module")
def long() -> Iterator[SandboxThread]:
    thread = start_sandbox(exec_token_ttl=900)
    try:
        yield thread
    finally:
        thread.stop()


def runs(count: Path) -> int:
    return count.read_text().count("run") if count.exists() else 0


async def until(predicate: object, timeout: float = 20.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met in time: {what}")
        await asyncio.sleep(0.05)


async def test_the_console_keeps_working_across_token_expiries(
        short: SandboxThread, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reflector, "WATCH_SECONDS", 1)  # every watch reconnects each second, with the token of then
    count = tmp_path / "runs"
    kubeconfig = one_context(short, tmp_path / "kc", exec_user(short, "--count", str(count)))
    service = KubeClusterService(str(kubeconfig))
    task = asyncio.create_task(service.run(lambda: None))
    try:
        await until(lambda: {"nodes", "deployments", "gpu-pods"} <= service.snapshot().synced, what="synced")
        start, seen = time.monotonic(), set()
        while time.monotonic() - start < 4 * TTL:  # several lifetimes of a token
            snap = service.snapshot()
            seen.add((snap.connection.state, snap.problems))
            await asyncio.sleep(0.1)
        assert seen == {(ConnState.CONNECTED, ())}, "never a 401 shown, never a lost watch"
        apps = client.AppsV1Api(config.new_client_from_config(short.info.kubeconfig))
        await asyncio.to_thread(apps.patch_namespaced_deployment_scale, "claude-long-queue", "llm",
                                {"spec": {"replicas": 3}})
        await until(lambda: any(d.name == "claude-long-queue" and d.desired == 3
                                for d in service.snapshot().deployments), what="a change seen after the expiries")
        assert service.transport is not None and await whoami(service.transport) == "sandbox-admin"
        elapsed = time.monotonic() - start
        assert 3 <= runs(count) <= elapsed + 3, "the plugin ran once per token lifetime, not per request"
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_a_401_runs_the_plugin_again_and_retries_once(long: SandboxThread, tmp_path: Path) -> None:
    count = tmp_path / "runs"
    kubeconfig = one_context(long, tmp_path / "kc", exec_user(long, "--count", str(count), user="sandbox-viewer"))
    _, transport = await connect_target(str(kubeconfig), None)
    try:
        assert runs(count) == 0, "connecting runs no plugin: the first request does"
        assert await whoami(transport) == "sandbox-viewer" and runs(count) == 1
        await transport.get("/api/v1/namespaces/llm/pods")
        assert runs(count) == 1, "a valid token is reused"
        long.sandbox.rotate_token_issuer()  # the token is still within its expiry, but the server now refuses it
        assert len((await transport.get("/api/v1/namespaces/llm/pods"))["items"]) > 0
        assert runs(count) == 2
    finally:
        await transport.close()


async def test_a_token_refused_again_is_a_clear_error_not_a_loop(long: SandboxThread, tmp_path: Path) -> None:
    count = tmp_path / "runs"
    kubeconfig = one_context(long, tmp_path / "kc", exec_user(long, "--count", str(count), user="nobody"))
    _, transport = await connect_target(str(kubeconfig), None)
    try:
        for _ in range(3):
            with pytest.raises(KubeError) as err:
                await transport.get("/api/v1/namespaces/llm/pods")
            assert (err.value.code, err.value.message) == (401, REJECTED)
        assert runs(count) == 2, "once for the first request, once for its 401; then no more"
    finally:
        await transport.close()


@pytest.mark.parametrize(("flags", "extra", "message"), [
    (("--fail",), {}, FAILED),
    (("--bad-json",), {}, f"exec plugin {PLUGIN_CMD} printed no ExecCredential JSON: "),
    ((), {"command": "/nonexistent/aws", "installHint": "the AWS CLI v2 is needed: see the EKS user guide\nmore"},
     "exec plugin /nonexistent/aws not found: the AWS CLI v2 is needed: see the EKS user guide"),
])
async def test_a_failing_plugin_says_which_and_why(long: SandboxThread, tmp_path: Path, flags: tuple[str, ...],
                                                   extra: dict[str, str], message: str) -> None:
    kubeconfig = one_context(long, tmp_path / "kc", exec_user(long, *flags, **extra))
    _, transport = await connect_target(str(kubeconfig), None)
    try:
        with pytest.raises(KubeError) as err:
            await transport.get("/api/v1/nodes")
        assert err.value.code == 401 and err.value.message.startswith(message)
        assert "Traceback" not in err.value.message
    finally:
        await transport.close()


@pytest.mark.parametrize(("flags", "user", "message"), [(("--fail",), "sandbox-admin", FAILED),
                                                       ((), "nobody", REJECTED)])
async def test_the_watches_show_it_and_do_not_retry_blindly(
        long: SandboxThread, tmp_path: Path, flags: tuple[str, ...], user: str, message: str) -> None:
    count = tmp_path / "runs"
    kubeconfig = one_context(long, tmp_path / "kc", exec_user(long, "--count", str(count), *flags, user=user))
    service = KubeClusterService(str(kubeconfig))
    task = asyncio.create_task(service.run(lambda: None))
    try:
        await until(lambda: service.snapshot().connection.state is ConnState.ERROR, what="the error state")
        # The first watch to fail sets the state; the others' failures follow (each watch reports its own).
        await until(lambda: {"deployments", "nodes"} <= set(dict(service.snapshot().problems)),
                    what="each watch's problem")
        snap = service.snapshot()
        assert snap.connection.message == message
        assert dict(snap.problems)["deployments"] == message and dict(snap.problems)["nodes"] == message
        before = runs(count)
        await asyncio.sleep(3)
        assert runs(count) == before <= 3, "seven watches failing together ran the plugin once or twice, then waited"
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_the_panels_show_the_plugin_failure(long: SandboxThread, tmp_path: Path) -> None:
    kubeconfig = one_context(long, tmp_path / "kc", exec_user(long, "--fail"))
    app = console_app(KubeClusterService(str(kubeconfig)), Settings(builtin_rules=False))
    async with app.run_test(size=(160, 45)) as pilot:
        status = app.screen.query_one("#deployments-status")
        await wait_for(pilot, lambda: FAILED in str(status.render()), what="the plugin's failure on the panel")


async def test_v1_plugin_with_a_client_certificate(long: SandboxThread, tmp_path: Path) -> None:
    cert = long.sandbox.client_certificate("carol", ("system:masters",), tmp_path / "certs")
    kubeconfig = one_context(long, tmp_path / "kc", exec_user(
        long, "--cert", str(cert.cert_path), "--key", str(cert.key_path), api_version=V1))
    _, transport = await connect_target(str(kubeconfig), None)
    try:
        assert await whoami(transport) == "carol"
    finally:
        await transport.close()


def test_both_kubectls_use_the_sandbox_exec_user(long: SandboxThread, tmp_path: Path) -> None:
    """The sandbox's exec user is a real one: kubectl runs the plugin and is let in with its token."""
    kubeconfig = one_context(long, tmp_path / "kc", exec_user(long, user="sandbox-viewer"))
    for binary in kubectls():
        out = kubectl(binary, "--kubeconfig", str(kubeconfig), "get", "deployments", "-o", "name")
        assert out.returncode == 0 and "deployment.apps/claude-inference" in out.stdout, (binary, out.stderr)
        denied = kubectl(binary, "--kubeconfig", str(kubeconfig), "scale", "deployment/claude-inference",
                         "--replicas", "3")
        assert denied.returncode != 0 and 'User "sandbox-viewer" cannot' in denied.stderr, (binary, denied.stderr)


async def test_transports_of_one_process_share_the_plugins_token(long: SandboxThread, tmp_path: Path) -> None:
    """The console's watches, its actions and the deploy engine each have a transport; one plugin run serves
    them all while the token is valid (client-go caches exec credentials the same way)."""
    count = tmp_path / "runs"
    kubeconfig = one_context(long, tmp_path / "kc", exec_user(long, "--count", str(count)))
    transports = [(await connect_target(str(kubeconfig), None))[1] for _ in range(3)]
    try:
        for transport in transports:
            assert await whoami(transport) == "sandbox-admin"
        assert runs(count) == 1
    finally:
        for transport in transports:
            await transport.close()
