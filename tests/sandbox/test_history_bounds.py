"""Bounded memory: the watch history holds at most ``history_limit`` events and ``history_bytes`` of the
objects it keeps alive; deleted objects live on only there; a watcher that falls too far behind is closed
rather than queueing without end. The process-level figures (RSS) are in tests/bench."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client as k8s
from kubernetes import watch

from console.sandbox.context import SandboxConfig
from console.sandbox.store import Store
from console.sandbox.watchers import STOP

from .conftest import NS, ApiServer, seed

KiB = 1024


def configmap(name: str, size: int, ns: str = NS) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": ns}, "data": {"blob": "x" * size}}


def fill(store: Store, count: int, size: int, prefix: str = "cm") -> None:
    for i in range(count):
        store.create("configmaps", configmap(f"{prefix}-{i}", size))


def test_the_history_is_bounded_by_bytes() -> None:
    store = Store(history_limit=100_000, history_bytes=256 * KiB)
    store.create("namespaces", {"metadata": {"name": NS}})
    fill(store, 200, 8 * KiB)
    events, size = store.history_size
    assert size <= 256 * KiB
    assert 20 < events < 40  # about 256 KiB / 8 KiB of them
    assert store.oldest_resource_version > 0
    for i in range(200):  # replaces keep the old object alive too: both count
        obj = json.loads(json.dumps(store.get("configmaps", NS, f"cm-{i}")))
        obj["data"]["blob"] = "y" * 8 * KiB
        store.replace("configmaps", obj)
        assert store.history_size[1] <= 256 * KiB
    assert store.history_size[0] < 20


def test_the_history_is_bounded_by_events() -> None:
    store = Store(history_limit=50, history_bytes=1 << 30)
    store.create("namespaces", {"metadata": {"name": NS}})
    fill(store, 120, 10)
    assert store.history_size[0] == 50


def test_deleted_objects_are_not_kept_beyond_the_history() -> None:
    store = Store(history_limit=100_000, history_bytes=128 * KiB)
    store.create("namespaces", {"metadata": {"name": NS}})
    fill(store, 20, 16 * KiB, prefix="big")
    for i in range(20):
        store.delete("configmaps", NS, f"big-{i}")
    fill(store, 200, 1 * KiB, prefix="small")  # push the deletions out of the window
    kept = {ev.obj["metadata"]["name"] for ev in store._history} | \
        {ev.old["metadata"]["name"] for ev in store._history if ev.old is not None}
    assert not any(name.startswith("big-") for name in kept)
    assert store.released_bytes >= 20 * 16 * KiB


def test_a_watch_from_a_version_pushed_out_is_410() -> None:
    async def scenario() -> None:
        store = Store(history_limit=100_000, history_bytes=64 * KiB)
        store.create("namespaces", {"metadata": {"name": NS}})
        start = store.resource_version
        fill(store, 100, 4 * KiB)
        with pytest.raises(Exception) as err:
            store.watch("configmaps", NS, since=start)
        assert getattr(err.value, "code", None) == 410
        w = store.watch("configmaps", NS, since=store.oldest_resource_version)  # the oldest still resumable
        assert not w.empty()
        store.stop_watch(w)

    asyncio.run(scenario())


def test_a_watcher_that_falls_behind_is_closed_not_queued_without_end() -> None:
    async def scenario() -> None:
        store = Store(history_limit=1000, history_bytes=64 * KiB)
        store.create("namespaces", {"metadata": {"name": NS}})
        w = store.watch("configmaps", NS, since=store.resource_version)
        fill(store, 100, 4 * KiB)  # nobody reads the watcher's queue
        assert w.overflowed and w.closed
        assert w.pending_bytes == 0 and w.get_nowait() is STOP and w.empty()
        keeping_up = store.watch("configmaps", NS, since=store.resource_version)
        for i in range(100):
            store.create("configmaps", configmap(f"next-{i}", 4 * KiB))
            assert keeping_up.get_nowait()["type"] == "ADDED"
        assert not keeping_up.closed and keeping_up.pending_bytes == 0

    asyncio.run(scenario())


@pytest.fixture
def small_history() -> Iterator[ApiServer]:
    srv = ApiServer(SandboxConfig(history_bytes=256 * KiB, bookmark_interval=0.3)).start()
    srv.call(seed, srv.ctx)
    try:
        yield srv
    finally:
        srv.stop()


def test_over_http_a_stalled_watch_is_ended_and_the_history_stays_bounded(small_history: ApiServer) -> None:
    srv = small_history
    port = int(srv.url.rsplit(":", 1)[1])
    stalled = socket.create_connection(("127.0.0.1", port))
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    rv = srv.call(lambda: srv.ctx.store.resource_version)
    stalled.sendall(f"GET /api/v1/namespaces/{NS}/configmaps?watch=true&resourceVersion={rv} HTTP/1.1\r\n"
                    f"Host: x\r\nAuthorization: Bearer {srv.auth.admin_token}\r\n\r\n".encode())
    try:
        time.sleep(0.3)
        assert srv.watcher_count == 1
        with srv.client(srv.auth.admin_token) as api:
            core = k8s.CoreV1Api(api)
            for i in range(150):  # ~10 MB of events the stalled client never reads
                core.create_namespaced_config_map(NS, configmap(f"cm-{i}", 64 * KiB))
            deadline = time.monotonic() + 10
            while srv.watcher_count and time.monotonic() < deadline:
                time.sleep(0.1)
            assert srv.watcher_count == 0, "the stalled watch was not ended"
            events, size = srv.call(lambda: srv.ctx.store.history_size)
            assert size <= 256 * KiB and events >= 1
            # a client that resumes from the version it had gets 410 and lists again, as from a real server
            with pytest.raises(k8s.ApiException) as err:
                for _ in watch.Watch().stream(core.list_namespaced_config_map, NS, resource_version=str(rv),
                                              timeout_seconds=2):
                    pass
            assert err.value.status == 410
    finally:
        stalled.close()
