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


# ---- WatchList (sendInitialEvents), as a v1.30 server with the feature on ---------------------------
def _raw_get(server: ApiServer, path: str, lines: int | None = None) -> tuple[int, list[dict]]:
    """GET ``path`` over a plain socket; the status and the first ``lines`` JSON lines (all when None)."""
    import json

    url = urlparse(server.url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=5)
    conn.request("GET", path, headers={"Authorization": f"Bearer {server.auth.admin_token}"})
    resp = conn.getresponse()
    out = []
    while lines is None or len(out) < lines:
        line = resp.readline()
        if not line:
            break
        out.append(json.loads(line))
    conn.close()
    return resp.status, out


WATCHLIST = "watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true"


def test_watchlist_sends_the_objects_then_the_initial_events_end_bookmark(api_server: ApiServer,
                                                                          k8s_admin: k8s.ApiClient) -> None:
    v1 = k8s.CoreV1Api(k8s_admin)
    listed = v1.list_namespaced_pod(NS)
    names = sorted(p.metadata.name for p in listed.items)
    status, events = _raw_get(api_server, f"/api/v1/namespaces/{NS}/pods?{WATCHLIST}", len(names) + 1)
    assert status == 200
    assert sorted(e["object"]["metadata"]["name"] for e in events[:-1]) == names
    assert {e["type"] for e in events[:-1]} == {"ADDED"}
    end = events[-1]
    assert end["type"] == "BOOKMARK"
    assert end["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}
    assert end["object"]["metadata"]["resourceVersion"] == listed.metadata.resource_version
    # then live events, as any watch
    timer = threading.Timer(0.3, relabel, (api_server, f"{DEPLOY}-a", "live"))
    timer.start()
    status, later = _raw_get(api_server, f"/api/v1/namespaces/{NS}/pods?{WATCHLIST}&timeoutSeconds=2")
    timer.join()
    live = [e for e in later[len(names) + 1:] if e["type"] != "BOOKMARK"]  # periodic bookmarks come too
    assert [(e["type"], e["object"]["metadata"]["labels"].get("touched")) for e in live] == [("MODIFIED", "live")]


def test_watchlist_of_an_empty_collection_is_just_the_bookmark(api_server: ApiServer) -> None:
    status, events = _raw_get(api_server, f"/api/v1/namespaces/default/services?{WATCHLIST}", 1)
    assert status == 200 and events[0]["type"] == "BOOKMARK"
    assert events[0]["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"] == "true"


def test_send_initial_events_false_starts_from_now(api_server: ApiServer) -> None:
    status, events = _raw_get(api_server, f"/api/v1/namespaces/{NS}/pods?watch=1&sendInitialEvents=false"
                                          "&resourceVersionMatch=NotOlderThan&timeoutSeconds=1")
    assert status == 200 and events == []


@pytest.mark.parametrize(("query", "message"), [
    ("watch=1&sendInitialEvents=true", "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan"),
    ("watch=1&resourceVersionMatch=NotOlderThan",
     "resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided"),
    ("watch=1&sendInitialEvents=true&resourceVersionMatch=Exact", 'Unsupported value: "Exact"'),
    ("resourceVersionMatch=NotOlderThan", "resourceVersionMatch is forbidden unless resourceVersion is provided"),
    ("resourceVersion=0&resourceVersionMatch=Exact",
     'resourceVersionMatch "exact" is forbidden for resourceVersion "0"'),
    ("resourceVersion=1&resourceVersionMatch=Newest", 'supported values: "Exact", "NotOlderThan", ""'),
    ("sendInitialEvents=true", "sendInitialEvents is forbidden for list"),
])
def test_invalid_list_option_combinations_are_422(api_server: ApiServer, query: str, message: str) -> None:
    status, body = _raw_get(api_server, f"/api/v1/namespaces/{NS}/pods?{query}")
    assert status == 422
    assert body[0]["reason"] == "Invalid" and body[0]["details"]["kind"] == "ListOptions"
    assert message in body[0]["message"]
    assert body[0]["message"].startswith('ListOptions.meta.k8s.io "" is invalid: ')


def test_list_with_resource_version_match_is_accepted(api_server: ApiServer) -> None:
    status, body = _raw_get(api_server, f"/api/v1/namespaces/{NS}/pods?resourceVersion=0"
                                        "&resourceVersionMatch=NotOlderThan")
    assert status == 200 and body[0]["kind"] == "PodList"


def test_watchlist_for_a_future_version_is_a_timeout(api_server: ApiServer) -> None:
    status, body = _raw_get(api_server, f"/api/v1/namespaces/{NS}/pods?{WATCHLIST}&resourceVersion=99999999999999")
    assert status == 504
    assert body[0]["reason"] == "Timeout" and "Too large resource version" in body[0]["message"]


def test_watchlist_with_the_official_client(api_server: ApiServer, k8s_admin: k8s.ApiClient) -> None:
    """kubernetes.watch streams a WatchList like an informer: ADDED for each pod, then the end bookmark."""
    v1 = k8s.CoreV1Api(k8s_admin)
    expected = {p.metadata.name for p in v1.list_namespaced_pod(NS).items}
    w = watch.Watch()
    added: set[str] = set()
    end = None
    for event in w.stream(v1.list_namespaced_pod, NS, send_initial_events=True,
                          resource_version_match="NotOlderThan", allow_watch_bookmarks=True, timeout_seconds=5):
        if event["type"] == "ADDED":
            added.add(event["object"].metadata.name)
        elif event["type"] == "BOOKMARK":
            end = event["raw_object"]
            w.stop()
    assert added == expected
    assert end is not None and end["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}
