"""Paged LISTs as etcd serves them (#16): every page is read at the first page's resourceVersion, pages
resume by key, selectors go through indexes and still mean what they mean, a compacted continue token is
410 Expired with a token to go on, and ``resourceVersionMatch=Exact`` reads a past version.
Everything through the official client against the real API server."""

from __future__ import annotations

import json

import pytest
from kubernetes import client as k8s

from console.sandbox import store as store_module
from console.sandbox.paging import PAGED_LISTS

from .conftest import ApiServer, pod

NS = "paging"
OTHER = "paging-b"


def _seed(server: ApiServer, count: int = 40) -> None:
    def seed() -> None:
        store = server.ctx.store
        for ns in (NS, OTHER):
            store.create("namespaces", {"metadata": {"name": ns}, "status": {"phase": "Active"}})
        for i in range(count):
            p = pod(f"p-{i:03d}", phase="Running" if i % 3 else "Pending", node=f"node-{i % 4}",
                    labels={"app": f"app-{i % 5}", "tier": "gpu" if i % 2 else "cpu"})
            p["metadata"]["namespace"] = NS if i % 4 else OTHER
            store.create("pods", p)
    server.call(seed)


@pytest.fixture
def paging() -> ApiServer:
    server = ApiServer().start()
    _seed(server)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def v1(paging: ApiServer) -> k8s.CoreV1Api:
    with paging.client(paging.auth.admin_token) as api:
        yield k8s.CoreV1Api(api)


def _state(items: list[k8s.V1Pod]) -> list[tuple[str, str, str]]:
    return [(p.metadata.namespace, p.metadata.name, p.metadata.resource_version) for p in items]


def _pages(v1: k8s.CoreV1Api, limit: int, first: k8s.V1PodList | None = None, **kw: object) -> list[k8s.V1PodList]:
    pages = [first or v1.list_pod_for_all_namespaces(limit=limit, **kw)]
    while pages[-1].metadata._continue:
        pages.append(v1.list_pod_for_all_namespaces(limit=limit, _continue=pages[-1].metadata._continue, **kw))
    return pages


def _write_behind_the_pager(server: ApiServer) -> None:
    """Writes that an offset or current-state pager would show: deletes, creates and changes of objects
    the pager has not reached yet, and a create before where it stands."""
    def write() -> None:
        store = server.ctx.store
        for name in ("p-033", "p-037"):
            store.delete("pods", NS, name)
        for name in ("p-000a", "p-030a", "p-999"):
            store.create("pods", {**pod(name), "metadata": {"name": name, "namespace": NS}})
        changed = store_module.copy_object(store.get("pods", NS, "p-035"))
        changed["metadata"]["labels"]["app"] = "moved"
        store.replace("pods", changed)
    server.call(write)


def test_pages_are_one_consistent_snapshot_under_concurrent_writes(paging: ApiServer, v1: k8s.CoreV1Api) -> None:
    before = v1.list_pod_for_all_namespaces()
    first = v1.list_pod_for_all_namespaces(limit=7)
    assert first.metadata.resource_version == before.metadata.resource_version
    _write_behind_the_pager(paging)
    pages = _pages(v1, 7, first)
    assert len(pages) == 6 and all(len(p.items) == 7 for p in pages[:-1])
    assert {p.metadata.resource_version for p in pages} == {before.metadata.resource_version}
    assert _state([i for p in pages for i in p.items]) == _state(before.items)
    after = v1.list_pod_for_all_namespaces()  # a new list sees the writes
    names = [p.metadata.name for p in after.items]
    assert "p-033" not in names and "p-999" in names and len(names) == 41
    assert int(after.metadata.resource_version) > int(before.metadata.resource_version)


def test_a_snapshot_evicted_from_the_cache_is_rebuilt_from_the_history(paging: ApiServer,
                                                                       v1: k8s.CoreV1Api) -> None:
    before = v1.list_pod_for_all_namespaces()
    first = v1.list_pod_for_all_namespaces(limit=9)
    _write_behind_the_pager(paging)
    for i in range(PAGED_LISTS + 2):  # other paged lists push the first one's snapshot out
        v1.list_namespaced_pod(NS, limit=1 + i)
    assert _state([i for p in _pages(v1, 9, first) for i in p.items]) == _state(before.items)


def test_selectors_through_indexes_match_their_meaning_paged_or_not(paging: ApiServer, v1: k8s.CoreV1Api) -> None:
    everything = v1.list_pod_for_all_namespaces().items
    cases = [
        ({"field_selector": "spec.nodeName=node-1"}, lambda p: p.spec.node_name == "node-1"),
        ({"field_selector": "status.phase=Pending"}, lambda p: p.status.phase == "Pending"),
        ({"field_selector": f"metadata.namespace={OTHER}"}, lambda p: p.metadata.namespace == OTHER),
        ({"field_selector": "metadata.name=p-013"}, lambda p: p.metadata.name == "p-013"),
        ({"field_selector": "status.phase=Running,spec.nodeName!=node-2"},
         lambda p: p.status.phase == "Running" and p.spec.node_name != "node-2"),
        ({"label_selector": "app=app-3"}, lambda p: p.metadata.labels["app"] == "app-3"),
        ({"label_selector": "app in (app-1),tier=gpu"},
         lambda p: p.metadata.labels["app"] == "app-1" and p.metadata.labels["tier"] == "gpu"),
        ({"label_selector": "app notin (app-1,app-2),tier"}, lambda p: p.metadata.labels["app"] not in
         ("app-1", "app-2")),
        ({"label_selector": "app=app-2", "field_selector": "spec.nodeName=node-3"},
         lambda p: p.metadata.labels["app"] == "app-2" and p.spec.node_name == "node-3"),
        ({"label_selector": "app=nothing"}, lambda p: False),
    ]
    for query, wanted in cases:
        expected = [(p.metadata.namespace, p.metadata.name) for p in everything if wanted(p)]
        unpaged = v1.list_pod_for_all_namespaces(**query)
        assert [(p.metadata.namespace, p.metadata.name) for p in unpaged.items] == expected, query
        paged = _pages(v1, 3, **query)
        assert [(p.metadata.namespace, p.metadata.name) for pg in paged for p in pg.items] == expected, query
        assert all(pg.metadata.remaining_item_count is None for pg in paged)  # etcd counts only without selectors
    in_ns = v1.list_namespaced_pod(NS, field_selector="spec.nodeName=node-1").items
    assert [p.metadata.name for p in in_ns] == [p.metadata.name for p in everything
                                                 if p.metadata.namespace == NS and p.spec.node_name == "node-1"]
    assert v1.list_namespaced_pod(NS, field_selector=f"metadata.namespace={OTHER}").items == []


def test_indexes_follow_writes(paging: ApiServer, v1: k8s.CoreV1Api) -> None:
    def move() -> None:
        store = paging.ctx.store
        changed = store_module.copy_object(store.get("pods", NS, "p-001"))
        changed["metadata"]["labels"] = {"app": "fresh"}
        changed["spec"]["nodeName"] = "node-9"
        changed["status"]["phase"] = "Failed"
        store.replace("pods", changed)
        store.delete("pods", NS, "p-002")
    paging.call(move)
    only = lambda **kw: [p.metadata.name for p in v1.list_pod_for_all_namespaces(**kw).items]  # noqa: E731
    assert only(label_selector="app=fresh") == only(field_selector="spec.nodeName=node-9") == ["p-001"]
    assert only(field_selector="status.phase=Failed") == ["p-001"]
    assert "p-001" not in only(label_selector="app=app-1") + only(field_selector="spec.nodeName=node-1")
    assert "p-002" not in only(label_selector="app=app-2") + only(field_selector="status.phase=Running")


def test_limit_remaining_count_and_the_last_page(v1: k8s.CoreV1Api) -> None:
    first = v1.list_namespaced_pod(NS, limit=10)
    assert len(first.items) == 10 and first.metadata.remaining_item_count == 20
    whole = v1.list_namespaced_pod(NS, limit=30)
    assert len(whole.items) == 30 and not whole.metadata._continue
    token = json.loads(__import__("base64").urlsafe_b64decode(first.metadata._continue + "=="))
    assert token == {"v": "meta.k8s.io/v1", "rv": int(first.metadata.resource_version),
                     "start": f"{NS}/{first.items[-1].metadata.name}\0"}


def test_a_compacted_continue_token_is_410_with_a_token_to_go_on(paging: ApiServer, v1: k8s.CoreV1Api) -> None:
    first = v1.list_pod_for_all_namespaces(limit=15)
    _write_behind_the_pager(paging)
    paging.call(paging.ctx.store.compact)
    with pytest.raises(k8s.ApiException) as err:
        v1.list_pod_for_all_namespaces(limit=15, _continue=first.metadata._continue)
    status = json.loads(err.value.body)
    assert err.value.status == 410 and status["reason"] == "Expired"
    assert "continue parameter is too old" in status["message"]
    rest = _pages(v1, 15, v1.list_pod_for_all_namespaces(limit=15, _continue=status["metadata"]["continue"]))
    names = [p.metadata.name for p in first.items] + [p.metadata.name for pg in rest for p in pg.items]
    assert len(names) == len(set(names))  # inconsistent, as kube says, but no page repeats an object
    assert "p-999" in names and "p-037" not in names  # the rest is read at the latest version
    assert int(rest[0].metadata.resource_version) > int(first.metadata.resource_version)


def test_bad_continue_tokens_are_400(v1: k8s.CoreV1Api) -> None:
    import base64
    bad_version = base64.urlsafe_b64encode(b'{"v":"x","rv":1,"start":"a"}').decode()
    for token in ("%%%", "bm90IGpzb24", bad_version):
        with pytest.raises(k8s.ApiException) as err:
            v1.list_pod_for_all_namespaces(limit=2, _continue=token)
        assert err.value.status == 400, token


def test_resource_version_match_exact_reads_a_past_version(paging: ApiServer, v1: k8s.CoreV1Api) -> None:
    before = v1.list_namespaced_pod(NS)
    _write_behind_the_pager(paging)
    past = v1.list_namespaced_pod(NS, resource_version=before.metadata.resource_version,
                                  resource_version_match="Exact")
    assert past.metadata.resource_version == before.metadata.resource_version
    assert _state(past.items) == _state(before.items)
    paged = v1.list_namespaced_pod(NS, resource_version=before.metadata.resource_version,
                                   resource_version_match="Exact", limit=4)
    rest = v1.list_namespaced_pod(NS, limit=100, _continue=paged.metadata._continue)
    assert _state(paged.items + rest.items) == _state(before.items)
    paging.call(paging.ctx.store.compact)
    with pytest.raises(k8s.ApiException) as err:
        v1.list_namespaced_pod(NS, resource_version=before.metadata.resource_version,
                               resource_version_match="Exact")
    assert err.value.status == 410
