"""Paged LISTs, pipelined (KubeTransport.pages, #16): the next page is asked for before the current one is decoded
and handed out, with the continue token read from the head of the answer; what comes out is exactly what plain
paging gives, and a head that is not in the API server's form falls back to plain paging. Against a real
sandbox, over real HTTPS."""

from __future__ import annotations

import asyncio
import gc
import json
from typing import Any

from console.kube import transport as transport_module
from console.kube.reflector import Reflector
from console.kube.transport import KubeTransport, _head_continue
from console.sandbox.server import SandboxThread


class Counting(KubeTransport):
    """The transport with a count of the requests it has started (its own method, wrapped in a subclass)."""

    started = 0

    async def _read(self, *args: Any, **kwargs: Any) -> bytes:
        self.started += 1
        return await super()._read(*args, **kwargs)


async def connect(sandbox: SandboxThread) -> Counting:
    plain = await KubeTransport.connect(sandbox.info.kubeconfig, None)
    return Counting(plain._client, plain.credentials)


def names(items: list[dict[str, Any]]) -> list[str]:
    return [f"{i['metadata'].get('namespace')}/{i['metadata']['name']}" for i in items]


async def test_pages_ask_ahead_and_give_what_plain_paging_gives(sandbox: SandboxThread) -> None:
    t = await connect(sandbox)
    try:
        whole = (await t.get("/api/v1/pods"))["items"]
        assert len(whole) >= 7, "the default sandbox has pods enough for several pages"
        plain: list[dict[str, Any]] = []
        token = ""
        while True:  # plain paging: one request after another, the token read from the decoded page
            answer = await t.get("/api/v1/pods", [("limit", 3), *([("continue", token)] if token else [])])
            plain += answer["items"]
            token = answer["metadata"].get("continue", "")
            if not token:
                break
        t.started = 0
        got: list[dict[str, Any]] = []
        ahead: list[int] = []
        async for page in t.pages("/api/v1/pods", None, page=3):
            ahead.append(t.started - len(ahead) - 1)  # requests started beyond the pages handed out so far
            got += page["items"]
        assert names(got) == names(plain) == names(whole)
        assert got == plain
        assert ahead[:-1] == [1] * (len(ahead) - 1), f"each page but the last came with the next asked ({ahead})"
        assert ahead[-1] == 0 and t.started == len(ahead), "nothing asked after the last page"
        # A consumer that stops early leaves no request behind once the pages are closed (the one asked ahead is
        # cancelled and awaited).
        before = len(asyncio.all_tasks())
        pages = t.pages("/api/v1/pods", None, page=3)
        async for _page in pages:
            assert len(asyncio.all_tasks()) == before + 1, "the next page is being asked for"
            break
        await pages.aclose()
        assert len(asyncio.all_tasks()) == before, "nothing left running"
        # The same through list() and with a selector.
        selected = await t.list("/api/v1/pods", [("fieldSelector", "status.phase=Running")], page=2)
        assert names(selected) == names([p for p in whole if p["status"].get("phase") == "Running"])
    finally:
        await t.close()


async def test_a_head_not_in_the_servers_form_falls_back_to_plain_paging(sandbox: SandboxThread,
                                                                         monkeypatch: Any) -> None:
    t = await connect(sandbox)
    try:
        raw = await t._read("GET", "/api/v1/pods", [("limit", 2)])
        token = json.loads(raw)["metadata"]["continue"]
        assert _head_continue(raw) == token, "the sandbox writes ListMeta before the items, as the API server does"
        items_first = json.dumps({"items": [], **{k: v for k, v in json.loads(raw).items() if k != "items"}})
        assert _head_continue(items_first.encode()) == ""
        escaped = b'{"kind":"PodList","apiVersion":"v1","metadata":{"continue":"a\\u003db"},"items":[]}'
        assert _head_continue(escaped) == "", "a token with an escape is left to the decoded page"
        whole = (await t.get("/api/v1/pods"))["items"]
        monkeypatch.setattr(transport_module, "_head_continue", lambda raw: "")  # never found: plain paging
        t.started = 0
        got = [item async for page in t.pages("/api/v1/pods", None, page=3) for item in page["items"]]
        assert names(got) == names(whole)
        assert t.started == -(-len(whole) // 3)
        monkeypatch.setattr(transport_module, "_head_continue", lambda raw: "bm90LWEtdG9rZW4")  # a wrong token
        got = [item async for page in t.pages("/api/v1/pods", None, page=3) for item in page["items"]]
        assert names(got) == names(whole), "a head token that is not the page's own is not followed"
    finally:
        await t.close()


async def test_the_cyclic_collector_rests_while_pages_are_read(sandbox: SandboxThread) -> None:
    """A LIST's pages are decoded and handed over with Python's cyclic garbage collector off (at 20,000 pods it cost
    as much CPU as json.loads, on objects most of which are dropped once their page is handled): no collection
    runs while they are read, the collector is on again once the last LIST under way has ended, also one left
    early, and it stays off where it was off before."""
    collections: list[int] = []

    def count(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            collections.append(info["generation"])

    t = await connect(sandbox)
    gc.callbacks.append(count)
    try:
        assert gc.isenabled()
        gc.collect()
        collections.clear()
        kept: list[Any] = []
        during: list[int] = []
        async for page in t.pages("/api/v1/pods", None, page=2):
            assert not gc.isenabled()
            kept += [json.loads(json.dumps(page)) for _ in range(20)]  # the consumer's objects count too
            during = list(collections)
        assert len(kept) > 100 and during == [], f"collections while the pages were read: {during}"
        assert gc.isenabled(), "on again after the LIST"

        async def read(pause_after: int) -> int:
            n = 0
            async for page in t.pages("/api/v1/pods", None, page=2):
                n += len(page["items"])
                await asyncio.sleep(0.01 * pause_after)
            return n

        first = asyncio.ensure_future(read(1))
        second = asyncio.ensure_future(read(5))
        await first
        assert not gc.isenabled(), "still off while another LIST is under way"
        await second
        assert gc.isenabled()

        pages = t.pages("/api/v1/pods", None, page=2)
        async for _page in pages:
            break
        await pages.aclose()
        assert gc.isenabled(), "on again after a LIST left early"

        gc.disable()
        try:
            await t.list("/api/v1/pods", None, page=2)
            assert not gc.isenabled(), "a collector turned off by the program stays off"
        finally:
            gc.enable()
    finally:
        gc.callbacks.remove(count)
        gc.enable()
        await t.close()


async def test_a_reflectors_list_builds_its_derived_views_with_the_collector_paused(sandbox: SandboxThread) -> None:
    """A reflector's derived views (its indexes) are built from the LIST's objects right after the last page, and they
    are as acyclic: built with the collector on, at 10,000 pods with every namespace watched its collections there
    walked every pod (~0.3 s before the GPU columns could fill). The collector is on again after the list."""
    seen: list[bool] = []

    class Recording:
        def reset(self, items: dict[str, Any]) -> None:
            seen.append(gc.isenabled())

        def update(self, key: str, old: Any, new: Any) -> None:
            pass

    t = await connect(sandbox)
    try:
        assert gc.isenabled()
        reflector = Reflector(t, "/api/v1/pods", "pods", lambda _r: None, indexes=(Recording(),))
        await reflector.list()
        assert reflector.items and seen == [False], "the views were built with the collector on"
        assert gc.isenabled()
    finally:
        gc.enable()
        await t.close()
