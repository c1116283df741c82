"""List-then-watch of one resource, kept in memory: what client-go calls a reflector.

List once (paged), then watch from the list's resourceVersion with bookmarks; resume from the last
seen version when the stream ends or breaks; re-list on 410 Gone; back off while the server is
unreachable and report every state change, so panels can say "disconnected (12s)" instead of freezing.

Credentials are the transport's business: every request (a re-list, a watch resumed after a break)
goes out with a current token, and a 401 has already been answered once by renewing the credential
(running the exec plugin again, reading the token file again). A 401 that reaches the reflector is
therefore not a stale token: it keeps the transport's message (``unauthorized: the token from exec
plugin aws was rejected``) for the panels and tries again only after a growing pause.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from console.core.collector import collector_paused
from console.kube.errors import KubeError
from console.kube.indexes import Index
from console.kube.transport import KubeTransport

WATCH_SECONDS = 290  # server-side timeoutSeconds of one watch request (client-go uses 5–10 min)
IDLE_TIMEOUT = 330.0  # a silent stream longer than this is treated as broken
BACKOFF = (0.5, 1.0, 2.0, 4.0, 8.0)
FORBIDDEN_RETRY = 30.0  # RBAC may be granted meanwhile
UNAUTHORIZED_RETRY = (60.0, 120.0, 300.0)  # each try renews the credential first (e.g. after a new SSO login)


def _whole(obj: dict[str, Any]) -> dict[str, Any]:
    return obj


class Reflector:
    """Keeps ``items`` (key → projected object) in step with the API server."""

    def __init__(
        self,
        transport: KubeTransport,
        path: str,
        resource: str,
        on_change: Callable[[Reflector], None],
        project: Callable[[dict[str, Any]], Any] = _whole,
        field_selector: str | None = None,
        on_delete: Callable[[Any], None] | None = None,
        indexes: tuple[Index, ...] = (),
    ) -> None:
        self.transport = transport
        self.path = path
        self.resource = resource
        self.on_change = on_change
        self.project = project
        self.field_selector = field_selector
        self.on_delete = on_delete  # sees each object as it was last known when it goes (watch or re-list)
        self.indexes = indexes  # derived views, told of every change (console.kube.indexes)
        self.items: dict[str, Any] = {}
        self.version = 0  # counts the changes of ``items``: what was derived from an unchanged version still holds
        self.resource_version = ""
        self.synced = False
        self.error: KubeError | None = None
        self.last_ok: float | None = None
        self.relists = 0

    @staticmethod
    def key(obj: dict[str, Any]) -> str:
        meta = obj.get("metadata", {})
        return f"{meta.get('namespace', '')}/{meta.get('name', '')}"

    def _query(self) -> list[tuple[str, Any]]:
        return [("fieldSelector", self.field_selector)] if self.field_selector else []

    async def list(self) -> None:
        with collector_paused():  # the pages and the derived views built from them: acyclic, as the pages are
            await self._list()

    async def _list(self) -> None:
        items: dict[str, Any] = {}
        key_of, project = self.key, self.project
        version = ""
        async for page in self.transport.pages(self.path, self._query()):  # the transport's page size (kubectl's)
            for obj in page.get("items") or []:
                items[key_of(obj)] = project(obj)
            version = (page.get("metadata") or {}).get("resourceVersion", "")  # every page's: the first page's
        self.resource_version = version
        if self.on_delete is not None and self.synced:  # gone while the watch was down: no DELETED event came
            for key in self.items.keys() - items.keys():
                self.on_delete(self.items[key])
        self.items = items
        for index in self.indexes:
            index.reset(items)
        self.synced = True
        self.relists += 1
        self.version += 1
        self._ok()

    def _ok(self) -> None:
        self.error = None
        self.last_ok = time.time()
        self.on_change(self)

    async def watch_once(self) -> None:
        query = [*self._query(), ("watch", "true"), ("allowWatchBookmarks", "true"),
                 ("resourceVersion", self.resource_version), ("timeoutSeconds", WATCH_SECONDS)]
        async for event in self.transport.stream(self.path, query, IDLE_TIMEOUT):
            kind, obj = event.get("type"), event.get("object") or {}
            if kind == "ERROR":
                raise KubeError(obj.get("code", 500), obj.get("reason", ""), obj.get("message", ""))
            self.resource_version = (obj.get("metadata") or {}).get("resourceVersion", self.resource_version)
            if kind == "BOOKMARK":
                self.last_ok = time.time()
                continue
            key = self.key(obj)
            old = self.items.get(key)
            if kind == "DELETED":
                new = None
                self.items.pop(key, None)
                if self.on_delete is not None:  # the event carries the object's last state
                    self.on_delete(self.project(obj))
            else:
                new = self.project(obj)
                if self.project is not _whole and key in self.items and new == old:
                    self.last_ok = time.time()  # what is kept of it did not change (a pod's status, for the GPU
                    continue                    # index): nothing to derive again, nothing to redraw
                self.items[key] = new
            for index in self.indexes:
                index.update(key, old, new)
            self.version += 1
            self._ok()

    async def run(self) -> None:
        """Run until cancelled."""
        failures = unauthorized = 0
        need_list = True
        while True:
            try:
                if need_list:
                    await self.list()
                    need_list = False
                await self.watch_once()
                failures = unauthorized = 0
                self.last_ok = time.time()
            except KubeError as exc:
                if exc.code == 410:
                    need_list = True  # our resourceVersion was compacted away: list again
                    continue
                self.error = exc
                self.on_change(self)
                if exc.code == 401:
                    await asyncio.sleep(UNAUTHORIZED_RETRY[min(unauthorized, len(UNAUTHORIZED_RETRY) - 1)])
                    unauthorized += 1
                    need_list = True
                    continue
                if exc.code == 403:
                    await asyncio.sleep(FORBIDDEN_RETRY)
                    need_list = True
                    continue
                await asyncio.sleep(BACKOFF[min(failures, len(BACKOFF) - 1)])
                failures += 1
                # After a break, resume the watch from the last version; if the server restarted
                # and lost it, it answers 410 and we list again.
