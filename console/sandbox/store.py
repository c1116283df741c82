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

A LIST's pages are cut in console/sandbox/paging.py, a watch stream's queue is a watchers.Watcher.
"""

from __future__ import annotations

import json
import secrets
import string
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from . import paging
from .clock import Clock
from .errors import ApiError, already_exists, conflict, gone, invalid, not_found
from .limits import HISTORY_BYTES, HISTORY_EVENTS, MAX_OBJECT_BYTES
from .resources import BY_PLURAL, ResourceType
from .selectors import SelectorIndex
from .watchers import Watcher, WatchEvent

Obj = dict[str, Any]
Key = tuple[str, str]  # (namespace or "", name)
Listener = Callable[[str, str, Obj, Obj | None], None]  # (event type, plural, object, old object)

_NAME_CHARS = string.ascii_lowercase + string.digits


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
        self._pages = paging.PagedLists()  # paged LISTs in progress, for their next pages
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
        return paging.select(self._data[plural], self._index[plural], namespace, label_selector, field_selector)[1]

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

    def list_page(self, plural: str, namespace: str | None = None, label_selector: str | None = None,
                  field_selector: str | None = None, *, limit: int = 0, continue_token: str | None = None,
                  resource_version: str = "", match: str = "") -> tuple[list[Obj], Obj]:
        """One page of a LIST and its ListMeta, as etcd serves it (console/sandbox/paging.py): every page of a
        paged list is read at the first page's resourceVersion, a token whose version was compacted away is
        410 Expired, ``resourceVersionMatch=Exact`` reads a past version. Objects are the stored dicts:
        serialize, never mutate."""
        rt = self._type(plural)
        rv, start = paging.read_position(rt, continue_token, resource_version, match, self._rv, self._compacted_rv)
        cached = (plural, namespace or None, label_selector or None, field_selector or None, rv)
        selected = self._pages.get(cached)
        if selected is None:
            objects, index = (self._data[plural], self._index[plural]) if rv == self._rv else \
                paging.state_at(plural, rv, self._history, self._data[plural], self._key_of, self._rv,
                                self._compacted_rv)
            selected = paging.select(objects, index, namespace, label_selector, field_selector)
        items, meta = paging.page(selected, start, limit, rv, counted=not label_selector and not field_selector)
        if "continue" in meta:
            self._pages.keep(cached, selected)
        self._pages.forget_before(self._compacted_rv)  # their continue tokens are 410 now; they pin old objects
        return items, meta

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
