"""The sandbox's object store: versioned objects, watch fan-out with a bounded history, cascading delete.

Rules every caller keeps:
- The store runs on ONE asyncio loop (the sandbox's); nothing here is thread-safe.
- Objects handed out by :meth:`Store.get` / :meth:`Store.list` are the stored dicts themselves, for
  speed (10,000-pod lists). Never mutate them: ``copy_object`` first, then ``replace``.
- Every committed change gets the next resourceVersion, goes into the bounded history (a watch from
  a version older than the history answers 410 Gone) and is fanned out to watchers and listeners.

Memory stays bounded: no stored object may exceed etcd's 1.5 MiB (422, as the write would fail there);
the history is bounded by events *and* by the bytes of the objects it keeps alive, which are the only
references left to superseded and deleted objects; a watcher that falls further behind than that
history is closed (kube's cacher terminates such watchers too; the client re-watches and, if its
version is gone by then, gets 410 and lists again).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import secrets
import string
import time
import uuid
from bisect import bisect_left
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .clock import Clock
from .errors import ApiError, already_exists, bad_request, conflict, gone, invalid, not_found
from .limits import HISTORY_BYTES, HISTORY_EVENTS, MAX_OBJECT_BYTES
from .resources import BY_PLURAL, ResourceType
from .selectors import SelectorIndex, parse_field_selector, parse_label_selector

Obj = dict[str, Any]
Key = tuple[str, str]  # (namespace or "", name)
Listener = Callable[[str, str, Obj, Obj | None], None]  # (event type, plural, object, old object)

_NAME_CHARS = string.ascii_lowercase + string.digits
STOP: dict[str, Any] = {"type": "__stop__"}  # what a watcher's queue yields when the watch must end
PAGED_LISTS = 8  # paged LISTs whose snapshot is kept for their next pages (others are rebuilt from the history)
_CONTINUE_EXPIRED = ("The provided continue parameter is too old to display a consistent list result. You can "
                     "start a new list without the continue parameter, or use the continue token in this response "
                     "to retrieve the remainder of the results. Continuing with the provided token results in an "
                     "inconsistent list - objects that were created, modified, or deleted between the time the "
                     "first chunk was returned and now may show up in the list.")


def copy_object(obj: Mapping[str, Any]) -> Obj:
    """A deep copy of a JSON-like object (faster than copy.deepcopy for plain data)."""
    return json.loads(json.dumps(obj))


def _copy_sized(obj: Mapping[str, Any]) -> tuple[Obj, int]:
    """A deep copy and the size of its JSON (bytes: the encoding is ASCII)."""
    text = json.dumps(obj, separators=(",", ":"))
    return json.loads(text), len(text)


def _meta_size(meta: Mapping[str, Any]) -> int:
    return len(json.dumps(meta, separators=(",", ":")))


def too_large(rt: ResourceType, name: str, size: int, limit: int) -> ApiError:
    """What a write of an object over etcd's request limit gets (422, with etcd's words in it)."""
    qualified = f"{rt.kind}.{rt.group}" if rt.group else rt.kind
    text = (f"Too long: must have at most {limit} bytes (etcdserver: request is too large: the object would be "
            f"stored as {size} bytes)")
    return ApiError(422, "Invalid", f'{qualified} "{name}" is invalid: []: {text}', kind=rt.kind, name=name,
                    group=rt.group or None, causes=[{"reason": "FieldValueTooLong", "message": text, "field": "[]"}])


def generation_changed(rule: str, new: Mapping[str, Any], old: Mapping[str, Any]) -> bool:
    """Whether a write bumps ``metadata.generation`` under a kind's rule (see ResourceType.generation); the
    Deployment's annotation rule applies to writes of the main resource only, so the API asks for it
    (``replace(..., bump_generation=True)``): controllers write annotations through ``/status``."""
    if rule == "custom":
        strip = ("metadata", "status", "apiVersion", "kind")
        return {k: v for k, v in new.items() if k not in strip} != {k: v for k, v in old.items() if k not in strip}
    return new.get("spec") != old.get("spec")


def random_suffix(n: int = 5) -> str:
    return "".join(secrets.choice("bcdfghjklmnpqrstvwxz2456789") for _ in range(n))


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


class Store:
    """In-memory API objects keyed by resource plural, then (namespace, name)."""

    def __init__(self, clock: Clock | None = None, history_limit: int = HISTORY_EVENTS,
                 history_bytes: int = HISTORY_BYTES, max_object_bytes: int = MAX_OBJECT_BYTES) -> None:
        self.clock = clock or Clock()
        # Versions start from the wall clock so a sandbox started afresh never reuses an old version:
        # a client resuming a watch across the restart gets 410 Gone and lists again. (A sandbox restored
        # from its state continues its own sequence: see restore.)
        self._rv = int(time.time() * 1000)
        self._data: dict[str, dict[Key, Obj]] = {r.plural: {} for r in BY_PLURAL.values() if r.stored}
        self._sizes: dict[str, dict[Key, int]] = {plural: {} for plural in self._data}
        self._index: dict[str, SelectorIndex] = {plural: SelectorIndex() for plural in self._data}
        # Paged LISTs in progress: (plural, namespace, selectors, rv) → their matching keys and objects at rv.
        self._pages: OrderedDict[tuple[Any, ...], tuple[list[Key], list[Obj]]] = OrderedDict()
        self.history_limit = history_limit
        self.history_bytes = history_bytes
        self.max_object_bytes = max_object_bytes
        self._history: deque[WatchEvent] = deque()
        self._history_size = 0
        self._compacted_rv = self._rv  # events at or below this rv are no longer in the history
        self._watchers: set[Watcher] = set()
        self._listeners: list[Listener] = []
        self.released_bytes = 0  # JSON bytes of objects dropped from the history so far (never decreases)

    # ---- bookkeeping -----------------------------------------------------------------------------
    @property
    def resource_version(self) -> int:
        return self._rv

    def subscribe(self, listener: Listener) -> None:
        """Call ``listener`` synchronously after every committed change (keep it cheap: enqueue only)."""
        self._listeners.append(listener)

    def _type(self, plural: str) -> ResourceType:
        rt = BY_PLURAL.get(plural)
        if rt is None or not rt.stored:
            raise KeyError(plural)
        return rt

    def _key(self, rt: ResourceType, namespace: str | None, name: str) -> Key:
        return ((namespace or "") if rt.namespaced else "", name)

    @property
    def history_size(self) -> tuple[int, int]:
        """(events, JSON bytes) the watch history holds now."""
        return len(self._history), self._history_size

    @property
    def oldest_resource_version(self) -> int:
        """A watch from a version below this one gets 410 Gone."""
        return self._compacted_rv

    def _commit(self, plural: str, type_: str, obj: Obj, old: Obj | None, size: int, old_size: int = 0) -> None:
        self._reindex(plural, type_, obj, old)
        kept_old = old if type_ == "MODIFIED" else None
        ev = WatchEvent(self._rv, plural, type_, obj, kept_old, size, size + (old_size if kept_old else 0))
        self._history.append(ev)
        self._history_size += ev.size
        self._trim_history()
        for w in list(self._watchers):
            w.offer(ev)
            if w.closed:
                self._watchers.discard(w)
        for listener in self._listeners:
            listener(type_, plural, obj, old)

    def _trim_history(self) -> None:
        while self._history and (len(self._history) > self.history_limit or self._history_size > self.history_bytes):
            dropped = self._history.popleft()
            self._history_size -= dropped.size
            self.released_bytes += dropped.size
            self._compacted_rv = dropped.rv

    def _next_rv(self) -> str:
        self._rv += 1
        return str(self._rv)

    # ---- reads ----------------------------------------------------------------------------------
    def get(self, plural: str, namespace: str | None, name: str) -> Obj:
        rt = self._type(plural)
        obj = self._data[plural].get(self._key(rt, namespace, name))
        if obj is None:
            raise not_found(plural, name, rt.group)
        return obj

    def try_get(self, plural: str, namespace: str | None, name: str) -> Obj | None:
        rt = self._type(plural)
        return self._data[plural].get(self._key(rt, namespace, name))

    def list(
        self,
        plural: str,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> list[Obj]:
        """Objects sorted by (namespace, name), filtered by namespace and selectors."""
        self._type(plural)
        return self._select(plural, namespace, label_selector, field_selector, self._data[plural])[1]

    def _key_of(self, plural: str, obj: Obj) -> Key:
        meta = obj["metadata"]
        return self._key(BY_PLURAL[plural], meta.get("namespace"), meta["name"])

    def _reindex(self, plural: str, type_: str, obj: Obj, old: Obj | None) -> None:
        index, key = self._index[plural], self._key_of(plural, obj)
        if type_ == "ADDED":
            index.add(key, obj)
        elif type_ == "DELETED":
            index.remove(key, old or obj)
        elif old is not None:
            index.update(key, obj, old)

    def _select(self, plural: str, namespace: str | None, label_selector: str | None, field_selector: str | None,
                objects: Mapping[Key, Obj], index: SelectorIndex | None = None) -> tuple[list[Key], list[Obj]]:
        """The keys and objects of ``objects`` (the store's, or a past state of them indexed by ``index``)
        that match, in key order: candidates from the index, then the selectors' predicates on those only."""
        labels = parse_label_selector(label_selector) if label_selector else None
        fields = parse_field_selector(field_selector) if field_selector else None
        keys, objs = [], []
        for key in (index or self._index[plural]).candidates(namespace or None, label_selector, field_selector):
            obj = objects.get(key)
            if obj is None or (labels and not labels(obj["metadata"].get("labels") or {})) or \
                    (fields and not fields(obj)):
                continue
            keys.append(key)
            objs.append(obj)
        return keys, objs

    def list_page(self, plural: str, namespace: str | None = None, label_selector: str | None = None,
                  field_selector: str | None = None, *, limit: int = 0, continue_token: str | None = None,
                  resource_version: str = "", match: str = "") -> tuple[list[Obj], Obj]:
        """One page of a LIST and its ListMeta, as etcd serves it: every page of a paged list is read at the
        first page's resourceVersion (the token carries it with the key to resume after), the page is found by
        key in the matching keys (no sort, no scan per page), and a token whose version was compacted away
        is 410 Expired with a token to go on inconsistently. ``resourceVersionMatch=Exact`` reads a past
        version (410 once compacted). Objects are the stored dicts: serialize, never mutate."""
        rt = self._type(plural)
        start: Key | None = None
        if continue_token:
            rv, start = _decode_continue(rt, continue_token)
            if rv == -1:
                rv = self._rv  # the token of an expired list: go on from the key, at the latest version
            elif rv < self._compacted_rv:
                raise _ContinueExpired(_encode_continue(start, -1))
        elif match == "Exact" and resource_version:
            rv = _parse_rv(resource_version)
            if rv < self._compacted_rv:
                raise gone(f"too old resource version: {rv} ({self._compacted_rv + 1})")
        else:
            rv = self._rv
        cached = (plural, namespace or None, label_selector or None, field_selector or None, rv)
        selected = self._pages.get(cached)
        if selected is not None:
            self._pages.move_to_end(cached)
        elif rv == self._rv:
            selected = self._select(plural, namespace, label_selector, field_selector, self._data[plural])
        else:
            objects, index = self._state_at(plural, rv)
            selected = self._select(plural, namespace, label_selector, field_selector, objects, index)
        keys, objs = selected
        first = bisect_left(keys, start) if start is not None else 0
        end = first + limit if limit > 0 else len(keys)
        meta: Obj = {"resourceVersion": str(rv)}
        if end < len(keys):
            meta["continue"] = _encode_continue((keys[end - 1][0], keys[end - 1][1] + "\0"), rv)
            if not label_selector and not field_selector:
                meta["remainingItemCount"] = len(keys) - end  # etcd counts only what a selector-free range holds
            self._pages[cached] = selected
            self._pages.move_to_end(cached)
            while len(self._pages) > PAGED_LISTS:
                self._pages.popitem(last=False)
        for stale in [k for k in self._pages if k[-1] < self._compacted_rv]:
            del self._pages[stale]  # compacted: its continue tokens are 410 now, and it pins old objects
        return objs[first:end], meta

    def _state_at(self, plural: str, rv: int) -> tuple[dict[Key, Obj], SelectorIndex]:
        """A resource's objects as they were at ``rv`` (not older than the history), and their index:
        the objects now, with what the history says changed after ``rv`` undone."""
        if rv > self._rv:
            raise ApiError(504, "Timeout", f"Timeout: Too large resource version: {rv}, current: {self._rv}")
        before: dict[Key, WatchEvent] = {}  # last event at or before rv, per key
        after: dict[Key, WatchEvent] = {}  # first event after rv, per key
        for ev in self._history:
            if ev.plural != plural:
                continue
            key = self._key_of(plural, ev.obj)
            if ev.rv <= rv:
                before[key] = ev
            elif key not in after:
                after[key] = ev
        objects = dict(self._data[plural])
        for key, ev in after.items():
            known = before.get(key)
            if known is not None:
                if known.type == "DELETED":
                    objects.pop(key, None)
                else:
                    objects[key] = known.obj
            elif ev.type == "ADDED":
                objects.pop(key, None)
            elif ev.type == "MODIFIED" and ev.old is not None:
                objects[key] = ev.old
            else:  # deleted after rv, last written before the history began: its version at rv is unknown
                raise gone(f"too old resource version: {rv} ({self._compacted_rv + 1})")
        index = SelectorIndex()
        for key in sorted(objects):
            index.add(key, objects[key])
        return objects, index

    def iter_all(self, plural: str) -> Iterable[Obj]:
        """Every object of a resource, unsorted (cheap; for controllers and exporters)."""
        return self._data[plural].values()

    def owned_by(self, plural: str, owner_uid: str) -> list[Obj]:
        return [
            o for o in self._data[plural].values()
            if any(r.get("uid") == owner_uid for r in o["metadata"].get("ownerReferences") or [])
        ]

    # ---- writes ---------------------------------------------------------------------------------
    def create(self, plural: str, obj: Obj, *, dry_run: bool = False, created: str | None = None) -> Obj:
        """Store a new object; fills name (generateName), uid, timestamps, generation, resourceVersion.

        ``created`` back-dates ``creationTimestamp`` (scenarios build a cluster that has been running a while);
        the API never passes it."""
        rt = self._type(plural)
        obj, size = _copy_sized(obj)
        meta = obj.setdefault("metadata", {})
        size -= _meta_size(meta)
        if not meta.get("name"):
            if not meta.get("generateName"):
                raise invalid(rt.kind, "", "metadata.name", "name or generateName is required")
            meta["name"] = meta["generateName"] + random_suffix()
        name = meta["name"]
        if rt.namespaced:
            meta["namespace"] = meta.get("namespace") or "default"
            if (
                plural != "namespaces"
                and not dry_run
                and ("", meta["namespace"]) not in self._data["namespaces"]
            ):
                raise not_found("namespaces", meta["namespace"])
        else:
            meta.pop("namespace", None)
        key = self._key(rt, meta.get("namespace"), name)
        if key in self._data[plural]:
            raise already_exists(plural, name, rt.group)
        obj["apiVersion"], obj["kind"] = rt.api_version, rt.kind
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = created or self.clock.timestamp()
        if rt.generation:
            meta["generation"] = 1
        else:
            meta.pop("generation", None)  # kinds whose strategy does not use it never carry one
        meta.pop("resourceVersion", None)
        if dry_run:
            meta["resourceVersion"] = str(self._rv)
            return obj
        meta["resourceVersion"] = str(self._rv + 1)
        size += _meta_size(meta)
        if size > self.max_object_bytes:
            raise too_large(rt, name, size, self.max_object_bytes)
        self._next_rv()
        self._data[plural][key] = obj
        self._sizes[plural][key] = size
        self._commit(plural, "ADDED", obj, None, size)
        return obj

    def replace(self, plural: str, obj: Obj, *, dry_run: bool = False, check_version: bool = True,
                bump_generation: bool = False) -> Obj:
        """Replace an object. A ``metadata.resourceVersion`` that is not current answers 409 Conflict.

        Identity (uid, creationTimestamp) is kept; ``generation`` increments when ``spec`` changes.
        """
        rt = self._type(plural)
        obj, size = _copy_sized(obj)
        meta = obj.setdefault("metadata", {})
        size -= _meta_size(meta)
        key = self._key(rt, meta.get("namespace"), meta.get("name", ""))
        old = self._data[plural].get(key)
        if old is None:
            raise not_found(plural, meta.get("name", ""), rt.group)
        given = meta.get("resourceVersion")
        if check_version and given and given != old["metadata"]["resourceVersion"]:
            raise conflict(plural, key[1], rt.group)
        old_meta = old["metadata"]
        obj["apiVersion"], obj["kind"] = rt.api_version, rt.kind
        for fixed in ("uid", "creationTimestamp", "namespace"):
            if fixed in old_meta:
                meta[fixed] = old_meta[fixed]
        if rt.generation and "generation" in old_meta:
            gen = old_meta["generation"]
            meta["generation"] = gen + 1 if bump_generation or generation_changed(rt.generation, obj, old) else gen
        else:
            meta.pop("generation", None)
        meta["resourceVersion"] = old_meta["resourceVersion"]
        if obj == old:
            return old  # no-op update: no new resourceVersion, no event (as the API server does)
        if dry_run:
            return obj
        meta["resourceVersion"] = str(self._rv + 1)
        size += _meta_size(meta)
        if size > self.max_object_bytes:
            raise too_large(rt, key[1], size, self.max_object_bytes)
        self._next_rv()
        self._data[plural][key] = obj
        old_size = self._sizes[plural].get(key, 0)
        self._sizes[plural][key] = size
        self._commit(plural, "MODIFIED", obj, old, size, old_size)
        return obj

    def delete(self, plural: str, namespace: str | None, name: str, *, dry_run: bool = False) -> Obj:
        """Delete an object and, like the garbage collector, everything it owns (recursively)."""
        rt = self._type(plural)
        key = self._key(rt, namespace, name)
        old = self._data[plural].get(key)
        if old is None:
            raise not_found(plural, name, rt.group)
        if dry_run:
            return old
        del self._data[plural][key]
        size = self._sizes[plural].pop(key, 0)
        # The last state with the deletion's version; it shares everything but metadata with ``old`` (stored
        # objects are never mutated), so the history keeps one copy of a deleted object, not two.
        gone_obj = {**old, "metadata": {**old["metadata"], "resourceVersion": self._next_rv()}}
        self._commit(plural, "DELETED", gone_obj, old, size)
        uid = old["metadata"]["uid"]
        for child_plural, children in list(self._data.items()):
            for (cns, cname), child in list(children.items()):
                refs = child["metadata"].get("ownerReferences") or []
                in_ns = plural == "namespaces" and cns == name
                if (in_ns or any(r.get("uid") == uid for r in refs)) and (cns, cname) in children:
                    self.delete(child_plural, cns or None, cname)
        return gone_obj

    # ---- watches --------------------------------------------------------------------------------
    def watch(
        self,
        plural: str,
        namespace: str | None = None,
        since: int | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> Watcher:
        """Open a watch. ``since`` None/0 starts with synthetic ADDED events for what exists now;
        a version still in the history replays what came after it; an older one raises 410 Gone."""
        self._type(plural)
        w = Watcher(plural, namespace, label_selector, field_selector, self.history_limit, self.history_bytes)
        if not since:
            for obj in self.list(plural, namespace, label_selector, field_selector):
                w._put({"type": "ADDED", "object": obj}, 0)  # the live objects: nothing extra kept alive
        else:
            if since < self._compacted_rv:
                raise gone(f"too old resource version: {since} ({self._compacted_rv + 1})")
            for ev in self._history:
                if ev.rv > since:
                    w.offer(ev)
        self._watchers.add(w)
        return w

    def stop_watch(self, w: Watcher) -> None:
        w.close()
        self._watchers.discard(w)

    def compact(self) -> None:
        """Drop all history (tests use this to provoke 410 Gone, as etcd compaction does)."""
        self.released_bytes += self._history_size
        self._history.clear()
        self._history_size = 0
        self._compacted_rv = self._rv

    # ---- persistence (state.py) -----------------------------------------------------------------
    def snapshot(self) -> tuple[int, int, dict[str, list[Obj]], list[WatchEvent]]:
        """(resourceVersion, oldest resumable version, objects by plural, history): references to the
        stored (never mutated) dicts, safe to serialize elsewhere while the store goes on."""
        objects = {plural: list(items.values()) for plural, items in self._data.items() if items}
        return self._rv, self._compacted_rv, objects, list(self._history)

    def restore(self, rv: int, compacted_rv: int, objects: Mapping[str, Iterable[Obj]],
                history: Iterable[WatchEvent]) -> None:
        """Load a snapshot into an empty store, before anyone watches or listens: what an API server
        restarted on the same etcd sees (the same objects, versions and compaction point)."""
        assert not self._watchers and not any(self._data.values()), "restore into a fresh store only"
        for plural, items in objects.items():
            rt = self._type(plural)
            for obj in items:
                key = self._key(rt, obj["metadata"].get("namespace"), obj["metadata"]["name"])
                self._data[plural][key] = obj
                self._sizes[plural][key] = len(json.dumps(obj, separators=(",", ":")))
                self._index[plural].add(key, obj)
        self._history = deque(history)
        self._history_size = sum(ev.size for ev in self._history)
        self._rv = rv
        self._compacted_rv = compacted_rv
        self._trim_history()


# ---- continue tokens (k8s.io/apiserver storage.EncodeContinue / DecodeContinue) ----------------------
class _ContinueExpired(ApiError):
    """410 for a continue token whose version was compacted, carrying a token to go on inconsistently."""

    def __init__(self, token: str) -> None:
        super().__init__(410, "Expired", _CONTINUE_EXPIRED)
        self.token = token

    def status(self) -> dict[str, Any]:
        body = super().status()
        body["metadata"] = {"continue": self.token}
        return body


def _parse_rv(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise bad_request(f"resourceVersion: Invalid value: {text!r}: strconv.ParseUint: parsing {text!r}: "
                          "invalid syntax") from None


def _encode_continue(start: Key, rv: int) -> str:
    """etcd's token: the version the list is read at and the key to start from, ``namespace/name\\0``."""
    key = f"{start[0]}/{start[1]}" if start[0] else start[1]
    body = json.dumps({"v": "meta.k8s.io/v1", "rv": rv, "start": key}, separators=(",", ":"))
    return base64.urlsafe_b64encode(body.encode()).decode().rstrip("=")


def _decode_continue(rt: ResourceType, token: str) -> tuple[int, Key]:
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode() + b"=" * (-len(token) % 4)))
        version, rv, start = data["v"], int(data["rv"]), data["start"]
    except (ValueError, KeyError, TypeError, binascii.Error, RecursionError):
        raise bad_request("continue key is not valid") from None
    if version != "meta.k8s.io/v1":
        raise bad_request("continue key is not valid: incorrect encoded start resourceVersion (version "
                          "meta.k8s.io/v1 required)")
    if not isinstance(start, str) or not start:
        raise bad_request("continue key is not valid: encoded start key empty")
    if rt.namespaced and "/" in start:
        namespace, _, name = start.partition("/")
        return rv, (namespace, name)
    return rv, ("", start)
