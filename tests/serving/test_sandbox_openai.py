"""The sandbox's model pods, reached through the API server's service proxy with the official ``openai`` client:
the OpenAI-compatible API as vLLM serves it, the article's length router, RBAC on ``services/proxy`` and the
errors a real cluster gives (no endpoints, a pod not Ready yet)."""

from __future__ import annotations

import time

import openai
import pytest

from console.sandbox.server import SandboxThread
from tests.serving.conftest import Cluster

SERVICE = "claude-inference"


def client(cluster: Cluster, service: str = SERVICE, port: int | str = 8000, user: str = "sandbox-admin",
           **kw: object) -> openai.OpenAI:
    return openai.OpenAI(base_url=cluster.proxy_url(service, port) + "/v1", api_key=cluster.tokens[user],
                         http_client=openai.DefaultHttpxClient(verify=cluster.ssl_context()), max_retries=0, **kw)


def wait_serving(thread: SandboxThread, deployment: str = SERVICE, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        figs = thread.call(lambda: thread.ctx.sim.deployment("llm", deployment))
        if figs is not None and figs.p50_s is not None:
            return
        time.sleep(0.05)
    raise AssertionError(f"{deployment} never served")


@pytest.fixture(scope="module")
def ready(serving_sandbox: tuple[SandboxThread, Cluster]) -> tuple[SandboxThread, Cluster]:
    thread, cluster = serving_sandbox
    for dep in (SERVICE, "claude-short-queue", "claude-long-queue"):
        wait_serving(thread, dep)
    return thread, cluster


def test_models_lists_the_deployment(ready: tuple[SandboxThread, Cluster]) -> None:
    models = client(ready[1]).models.list()
    assert [m.id for m in models.data] == [SERVICE]
    assert models.data[0].owned_by == "vllm"


def test_chat_completion_answers_with_usage_and_names_the_pod(ready: tuple[SandboxThread, Cluster]) -> None:
    thread, cluster = ready
    raw = client(cluster).chat.completions.with_raw_response.create(
        model=SERVICE, messages=[{"role": "user", "content": "Is the model up?"}], max_tokens=16)
    chat = raw.parse()
    assert chat.object == "chat.completion" and chat.model == SERVICE
    assert chat.choices[0].message.role == "assistant" and chat.choices[0].message.content
    assert chat.choices[0].finish_reason == "stop"
    assert chat.usage.prompt_tokens == 4 and chat.usage.completion_tokens >= 1
    assert chat.usage.total_tokens == chat.usage.prompt_tokens + chat.usage.completion_tokens
    pod = raw.headers["x-served-by"]
    names = thread.call(lambda: [p["metadata"]["name"] for p in thread.ctx.store.list("pods", "llm", "app=claude")])
    assert pod in names


def test_completion_honours_max_tokens(ready: tuple[SandboxThread, Cluster]) -> None:
    done = client(ready[1]).completions.create(model=SERVICE, prompt="Kubernetes is", max_tokens=2)
    assert done.object == "text_completion"
    assert done.usage.completion_tokens == 2 and len(done.choices[0].text.split()) == 2


def test_streaming_chat_sends_tokens_one_by_one_then_usage(ready: tuple[SandboxThread, Cluster]) -> None:
    started = time.perf_counter()
    stream = client(ready[1]).chat.completions.create(
        model=SERVICE, messages=[{"role": "user", "content": "stream please"}], stream=True,
        stream_options={"include_usage": True})
    arrivals, pieces, usage, roles, finish = [], [], None, [], []
    for chunk in stream:
        assert chunk.object == "chat.completion.chunk"
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            if choice.delta.role:
                roles.append(choice.delta.role)
            if choice.delta.content:
                pieces.append(choice.delta.content)
                arrivals.append(time.perf_counter() - started)
            if choice.finish_reason:
                finish.append(choice.finish_reason)
    assert roles == ["assistant"] and finish == ["stop"]
    assert usage is not None and usage.completion_tokens == len(pieces) >= 2
    ttft, total = arrivals[0], arrivals[-1]
    assert 0.02 < ttft < total  # the model's TTFT (tens of ms), then the decode steps after it
    assert arrivals == sorted(arrivals) and total - ttft > 0.01


def test_streaming_completion(ready: tuple[SandboxThread, Cluster]) -> None:
    stream = client(ready[1]).completions.create(model=SERVICE, prompt="hello", stream=True, max_tokens=3)
    texts = [c.choices[0].text for c in stream if c.choices]
    assert len(texts) == 3 and all(texts)


def test_router_sends_short_and_long_prompts_to_their_pools(ready: tuple[SandboxThread, Cluster]) -> None:
    router = client(ready[1], "claude-router", 80)
    short = router.chat.completions.with_raw_response.create(
        model="claude-router", messages=[{"role": "user", "content": "x" * 255}])
    long = router.chat.completions.with_raw_response.create(
        model="claude-router", messages=[{"role": "user", "content": "x" * 256}])
    assert short.headers["x-routed-to"] == "claude-short-queue" and short.parse().model == "claude-short-queue"
    assert long.headers["x-routed-to"] == "claude-long-queue" and long.parse().model == "claude-long-queue"
    assert long.headers["x-served-by"].startswith("claude-long-queue-")
    assert {m.id for m in router.models.list().data} == {"claude-short-queue", "claude-long-queue"}


def test_unknown_model_and_bad_request_are_vllm_errors(ready: tuple[SandboxThread, Cluster]) -> None:
    c = client(ready[1])
    with pytest.raises(openai.NotFoundError, match="The model `gpt-4` does not exist"):
        c.chat.completions.create(model="gpt-4", messages=[{"role": "user", "content": "hi"}])
    with pytest.raises(openai.BadRequestError, match="max_tokens"):
        c.completions.create(model=SERVICE, prompt="hi", max_tokens=0)


def test_rbac_on_services_proxy(ready: tuple[SandboxThread, Cluster]) -> None:
    cluster = ready[1]
    with pytest.raises(openai.PermissionDeniedError, match='cannot create resource "services/proxy"'):
        client(cluster, user="sandbox-viewer").chat.completions.create(
            model=SERVICE, messages=[{"role": "user", "content": "hi"}])
    with pytest.raises(openai.PermissionDeniedError, match='cannot get resource "services/proxy"'):
        client(cluster, user="sandbox-viewer").models.list()  # the view role has no proxy rule at all
    assert client(cluster, user="sandbox-llm-operator").models.list().data  # edit in llm: allowed
    bad = openai.OpenAI(base_url=cluster.proxy_url(SERVICE, 8000) + "/v1", api_key="nope", max_retries=0,
                        http_client=openai.DefaultHttpxClient(verify=cluster.ssl_context()))
    with pytest.raises(openai.AuthenticationError):
        bad.models.list()


def test_a_service_without_ready_endpoints_is_503(ready: tuple[SandboxThread, Cluster]) -> None:
    thread, cluster = ready
    thread.call(lambda: thread.ctx.store.create("services", {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "nobody", "namespace": "llm"},
        "spec": {"selector": {"app": "nobody"}, "ports": [{"name": "http", "port": 8000, "targetPort": 8000}]}}))
    with pytest.raises(openai.InternalServerError, match='no endpoints available for service "nobody:8000"'):
        client(cluster, "nobody").models.list()
    with pytest.raises(openai.NotFoundError, match='services "missing" not found'):
        client(cluster, "missing").models.list()


def test_a_pod_that_is_not_ready_yet_refuses_and_the_service_skips_it(ready: tuple[SandboxThread, Cluster]) -> None:
    thread, cluster = ready
    before = set(thread.call(
        lambda: [p["metadata"]["name"] for p in thread.ctx.store.list("pods", "llm", "app=claude")]))

    def scale() -> None:
        dep = thread.ctx.store.get("deployments", "llm", SERVICE)
        dep = {**dep, "spec": {**dep["spec"], "replicas": 3}}
        thread.ctx.store.replace("deployments", dep)

    thread.call(scale)
    new: list[str] = []
    deadline = time.monotonic() + 5
    while not new and time.monotonic() < deadline:
        pods = thread.call(lambda: thread.ctx.store.list("pods", "llm", "app=claude"))
        new = [p["metadata"]["name"] for p in pods if p["metadata"]["name"] not in before
               and (p.get("status") or {}).get("podIP")]
        time.sleep(0.02)
    assert new, "the scaled Deployment made no new pod"
    pod = openai.OpenAI(base_url=cluster.proxy_url(new[0], 8000, kind="pods") + "/v1", max_retries=0,
                        api_key=cluster.tokens["sandbox-admin"],
                        http_client=openai.DefaultHttpxClient(verify=cluster.ssl_context()))
    with pytest.raises(openai.InternalServerError, match="connect: connection refused"):
        pod.models.list()
    served = {client(cluster).models.with_raw_response.list().headers["x-served-by"] for _ in range(12)}
    assert served and new[0] not in served
