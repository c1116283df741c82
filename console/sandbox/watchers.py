"""The sandbox's watch fan-out: the events the store commits, and one bounded queue per watch stream.

A :class:`WatchEvent` is what the store's history keeps of a committed change; a :class:`Watcher` turns
those into what one stream sees (its namespace and selectors; an object that moves in or out of a selector
becomes ADDED or DELETED) and closes itself when it falls further behind than the history's bounds.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .selectors import parse_field_selector, parse_label_selector

Obj = dict[str, Any]
STOP: dict[str, Any] = {"type": "__stop__"}  # what a watcher's queue yields when the watch must end


@dataclass(slots=True)
class WatchEvent:
    rv: int
    plural: str
    type: str  # ADDED / MODIFIED / DELETED
    obj: Obj
    old: Obj | None  # the object before a MODIFIED (selector moves); None otherwise
    obj_size: int = 0  # JSON bytes of obj
    size: int = 0  # JSON bytes this event keeps alive: obj, and old when kept


@dataclass(eq=False)  # identity equality: watchers live in a set
class Watcher:
    """One watch stream: events already filtered to its resource, namespace and selectors.

    Events wait in ``queue`` until the stream writes them; at most ``max_events`` of them and
    ``max_bytes`` of their objects (0: no bound). Past that the watcher is closed and yields :data:`STOP`.
    """

    plural: str
    namespace: str | None
    label_selector: str | None = None
    field_selector: str | None = None
    max_events: int = 0
    max_bytes: int = 0
    queue: asyncio.Queue[tuple[dict[str, Any], int]] = field(default_factory=asyncio.Queue)
    closed: bool = False
    overflowed: bool = False  # closed because it fell too far behind
    pending_events: int = 0  # live events queued (the initial ADDED of existing objects do not count)
    pending_bytes: int = 0
    on_overflow: Callable[[], None] | None = None  # the stream's hook: end now, even mid-write

    def __post_init__(self) -> None:
        self._labels = parse_label_selector(self.label_selector)
        self._fields = parse_field_selector(self.field_selector)

    def _put(self, event: dict[str, Any], size: int) -> None:
        if self.closed:
            return
        self.queue.put_nowait((event, size))
        if size:
            self.pending_events += 1
            self.pending_bytes += size
            if (self.max_events and self.pending_events > self.max_events) or \
                    (self.max_bytes and self.pending_bytes > self.max_bytes):
                self._overflow()

    def _overflow(self) -> None:
        self.overflowed = True
        self.close()
        while not self.queue.empty():
            self.queue.get_nowait()
        self.pending_events = self.pending_bytes = 0
        self.queue.put_nowait((STOP, 0))
        if self.on_overflow is not None:
            self.on_overflow()

    def _taken(self, item: tuple[dict[str, Any], int]) -> dict[str, Any]:
        event, size = item
        if size:
            self.pending_events -= 1
            self.pending_bytes -= size
        return event

    def empty(self) -> bool:
        return self.queue.empty()

    def get_nowait(self) -> dict[str, Any]:
        """The next event ({"type", "object"}) or :data:`STOP`; raises asyncio.QueueEmpty."""
        return self._taken(self.queue.get_nowait())

    async def get(self) -> dict[str, Any]:
        return self._taken(await self.queue.get())

    def stop(self) -> None:
        """End the stream (server shutdown): the reader gets :data:`STOP` next."""
        self.queue.put_nowait((STOP, 0))

    def _matches(self, obj: Obj | None) -> bool:
        if obj is None:
            return False
        meta = obj.get("metadata", {})
        if self.namespace and meta.get("namespace") != self.namespace:
            return False
        return self._labels(meta.get("labels") or {}) and self._fields(obj)

    def offer(self, ev: WatchEvent) -> None:
        """Translate a store event into what this watcher sees (selector moves become ADDED/DELETED)."""
        if self.closed or ev.plural != self.plural:
            return
        now, before = self._matches(ev.obj), self._matches(ev.old)
        size = max(ev.obj_size, 1)
        if ev.type == "MODIFIED":
            if now and before:
                self._put({"type": "MODIFIED", "object": ev.obj}, size)
            elif now:
                self._put({"type": "ADDED", "object": ev.obj}, size)
            elif before:
                self._put({"type": "DELETED", "object": ev.obj}, size)
        elif now:
            self._put({"type": ev.type, "object": ev.obj}, size)

    def close(self) -> None:
        self.closed = True
