"""Watches as kubernetes.watch.Watch and kubernetes.aio consume them: resume, 410, bookmarks, cleanup."""

from __future__ import annotations

import http.client
import threading
import time
from urllib.parse import urlparse

import pytest
from kubernetes import client as k8s
from kubernetes import watch

from console.sandbox.store import copy_object

from .conftest import DEPLOY, NS, ApiServer


def relabel(server: ApiServer, name: str, value: str) -> None:
    """Change a pod's label on the server loop (what a controller would do)."""
    def change() -> None:
        pod = copy_object(server.ctx.store.get("pods", NS, name))
        pod["metadata"]["labels"]["touched"] = value
        server.ctx.store.replace("pods", pod)
    server.call(change)


def test_watch_from_a_lists_version_sees_nothing_then_modified(api_server: ApiServer,
                                                               k8s_admin: k8s.ApiClient) -> None:
    v1 = k8s.CoreV1Api(k8s_admin)
    rv = v1.list_namespaced_pod(NS).metadata.resource_version
    timer = threading.Timer(0.5, relabel, (api_server, f"{DEPLOY}-a", "yes"))
    timer.start()
    started = time.monotonic()
    w = watch.Watch()
    events = []
    for event in w.stream(v1.list_namespaced_pod, NS, resource_version=rv, timeout_seconds=5):
        events.append((event["type"], event["object"].metadata.name, time.monotonic() - started))
        w.stop()
    timer.join()
    assert [(t, n) for t, n, _ in events] == [("MODIFIED", f"{DEPLOY}-a")]
    assert events[0][2] >= 0.4  # nothing was replayed before the change


def test_watch_from_an_older_version_replays_history(api_server: ApiServer, k8s_admin: k8s.ApiClient) -> None:
    v1 = k8s.CoreV1Api(k8s_admin)
    rv = v1.list_namespaced_pod(NS).metadata.resource_version
    relabel(api_server, f"{DEPLOY}-a", "1")
    relabel(api_server, f"{DEPLOY}-b", "2")
    v1.delete_namespaced_pod(f"{DEPLOY}-c", NS)
    w = watch.Watch()
    seen = []
    for event in w.stream(v1.list_namespaced_pod, NS, resource_version=rv, timeout_seconds=2):
        seen.append((event["type"], event["object"].metadata.name))
        if len(seen) == 3:
            w.stop()
    assert seen == [("MODIFIED", f"{DEPLOY}-a"), ("MODIFIED", f"{DEPLOY}-b"), ("DELETED", f"{DEPLOY}-c")]


def test_watch_without_version_starts_with_synthetic_added(k8s_admin: k8s.ApiClient) -> None:
    v1 = k8s.CoreV1Api(k8s_admin)
    w = watch.Watch()
    names = []
    for event in w.stream(v1.list_namespaced_pod, NS, label_selector=f"app={DEPLOY}",
                          field_selector="status.phase=Running", timeout_seconds=1):
        assert event["type"] == "ADDED"
        names.append(event["object"].metadata.name)
    assert sorted(names) == [f"{DEPLOY}-a", f"{DEPLOY}-b"]


def test_watch_from_a_compacted_version_is_410(api_server: ApiServer, k8s_admin: k8s.ApiClient) -> None:
    v1 = k8s.CoreV1Api(k8s_admin)
    rv = v1.list_namespaced_pod(NS).metadata.resource_version
    relabel(api_server, f"{DEPLOY}-a", "1")
    api_server.call(api_server.ctx.store.compact)
    with pytest.raises(k8s.ApiException) as err:
        for _ in watch.Watch().stream(v1.list_namespaced_pod, NS, resource_version=rv, timeout_seconds=2):
            pass
    assert err.value.status == 410
    assert api_server.watcher_count == 0


def test_bookmarks_arrive_with_the_current_version(api_server: ApiServer, k8s_admin: k8s.ApiClient) -> None:
    v1 = k8s.CoreV1Api(k8s_admin)
    rv = v1.list_namespaced_pod(NS).metadata.resource_version
    w = watch.Watch()
    for event in w.stream(v1.list_namespaced_pod, NS, resource_version=rv, allow_watch_bookmarks=True,
                          timeout_seconds=3):
        assert event["type"] == "BOOKMARK"
        assert event["raw_object"]["kind"] == "Pod"
        assert event["raw_object"]["metadata"]["resourceVersion"] == str(api_server.ctx.store.resource_version)
        w.stop()
        break
    else:
        pytest.fail("no BOOKMARK within the watch")


def test_timeout_seconds_ends_the_stream(api_server: ApiServer, k8s_admin: k8s.ApiClient) -> None:
    v1 = k8s.CoreV1Api(k8s_admin)
    rv = v1.list_namespaced_pod(NS).metadata.resource_version
    started = time.monotonic()
    assert list(watch.Watch().stream(v1.list_namespaced_pod, NS, resource_version=rv, timeout_seconds=1)) == []
    assert 0.9 <= time.monotonic() - started < 3
    assert api_server.watcher_count == 0


def test_a_client_that_goes_away_leaves_no_watcher(api_server: ApiServer) -> None:
    url = urlparse(api_server.url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=5)
    conn.request("GET", f"/api/v1/namespaces/{NS}/pods?watch=true",
                 headers={"Authorization": f"Bearer {api_server.auth.viewer_token}"})
    resp = conn.getresponse()
    assert resp.status == 200 and resp.headers["Content-Type"] == "application/json"
    assert b'"type":"ADDED"' in resp.readline()
    assert api_server.watcher_count == 1
    conn.close()
    deadline = time.monotonic() + 5
    while api_server.watcher_count and time.monotonic() < deadline:
        time.sleep(0.1)
    assert api_server.watcher_count == 0


async def test_aio_client_lists_and_watches(api_server: ApiServer) -> None:
    from kubernetes.aio import client as aclient
    from kubernetes.aio import watch as awatch

    conf = aclient.Configuration(host=api_server.url,
                                 api_key={"authorization": "Bearer " + api_server.auth.admin_token})
    async with aclient.ApiClient(conf) as api:
        apps = aclient.AppsV1Api(api)
        listed = await apps.list_namespaced_deployment(NS)
        assert [d.metadata.name for d in listed.items] == [DEPLOY]
        threading.Timer(0.3, lambda: api_server.call(_scale, api_server, 3)).start()
        w = awatch.Watch()
        async with w.stream(apps.list_namespaced_deployment, NS,
                            resource_version=listed.metadata.resource_version, timeout_seconds=5) as stream:
            async for event in stream:
                assert event["type"] == "MODIFIED" and event["object"].spec.replicas == 3
                break


def _scale(server: ApiServer, replicas: int) -> None:
    dep = copy_object(server.ctx.store.get("deployments", NS, DEPLOY))
    dep["spec"]["replicas"] = replicas
    server.ctx.store.replace("deployments", dep)
