"""The sandbox's object store: versioned objects, watch fan-out with a bounded history, cascading delete.

Rules every caller keeps:
- The store runs on ONE asyncio loop (the sandbox's); nothing here is thread-safe.
- Objects handed out by :meth:`Store.get` / :meth:`Store.list` are the stored dicts themselves, for
  speed (10,000-pod lists). Never mutate them: ``copy_object`` first, then ``replace``.
- Every committed change gets the next resourceVersion, goes into the bounded history (a watch from
  a version older than the history answers 410 Gone) and is fanned out to watchers and listeners.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import string
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .clock import Clock
from .errors import already_exists, conflict, gone, invalid, not_found
from .resources import BY_PLURAL, ResourceType
from .selectors import parse_field_selector, parse_label_selector

Obj = dict[str, Any]
Key = tuple[str, str]  # (namespace or "", name)
Listener = Callable[[str, str, Obj, Obj | None], None]  # (event type, plural, object, old object)

_NAME_CHARS = string.ascii_lowercase + string.digits


def copy_object(obj: Mapping[str, Any]) -> Obj:
    """A deep copy of a JSON-like object (faster than copy.deepcopy for plain data)."""
    return json.loads(json.dumps(obj))


def random_suffix(n: int = 5) -> str:
    return "".join(secrets.choice("bcdfghjklmnpqrstvwxz2456789") for _ in range(n))


@dataclass
class WatchEvent:
    rv: int
    plural: str
    type: str  # ADDED / MODIFIED / DELETED
    obj: Obj
    old: Obj | None


@dataclass(eq=False)  # identity equality: watchers live in a set
class Watcher:
    """One watch stream: events already filtered to its resource, namespace and selectors."""

    plural: str
    namespace: str | None
    label_selector: str | None = None
    field_selector: str | None = None
    queue: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)
    closed: bool = False

    def __post_init__(self) -> None:
        self._labels = parse_label_selector(self.label_selector)
        self._fields = parse_field_selector(self.field_selector)

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
        if ev.type == "MODIFIED":
            if now and before:
                self.queue.put_nowait({"type": "MODIFIED", "object": ev.obj})
            elif now:
                self.queue.put_nowait({"type": "ADDED", "object": ev.obj})
            elif before:
                self.queue.put_nowait({"type": "DELETED", "object": ev.obj})
        elif now:
            self.queue.put_nowait({"type": ev.type, "object": ev.obj})

    def close(self) -> None:
        self.closed = True


class Store:
    """In-memory API objects keyed by resource plural, then (namespace, name)."""

    def __init__(self, clock: Clock | None = None, history_limit: int = 20000) -> None:
        self.clock = clock or Clock()
        # Versions start from the wall clock so a restarted sandbox never reuses an old version:
        # a client resuming a watch across the restart gets 410 Gone and lists again.
        self._rv = int(time.time() * 1000)
        self._data: dict[str, dict[Key, Obj]] = {r.plural: {} for r in BY_PLURAL.values() if r.stored}
        self._history: deque[WatchEvent] = deque(maxlen=history_limit)
        self._compacted_rv = self._rv  # events at or below this rv are no longer in the history
        self._watchers: set[Watcher] = set()
        self._listeners: list[Listener] = []

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

    def _commit(self, plural: str, type_: str, obj: Obj, old: Obj | None) -> None:
        if len(self._history) == self._history.maxlen:
            self._compacted_rv = self._history[0].rv
        ev = WatchEvent(self._rv, plural, type_, obj, old)
        self._history.append(ev)
        for w in list(self._watchers):
            w.offer(ev)
        for listener in self._listeners:
            listener(type_, plural, obj, old)

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
        labels = parse_label_selector(label_selector)
        fields = parse_field_selector(field_selector)
        out = []
        for (ns, _), obj in sorted(self._data[plural].items(), key=lambda kv: kv[0]):
            if namespace and ns != namespace:
                continue
            if label_selector and not labels(obj["metadata"].get("labels") or {}):
                continue
            if field_selector and not fields(obj):
                continue
            out.append(obj)
        return out

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
        obj = copy_object(obj)
        meta = obj.setdefault("metadata", {})
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
        if "spec" in obj:
            meta["generation"] = 1
        meta.pop("resourceVersion", None)
        if dry_run:
            meta["resourceVersion"] = str(self._rv)
            return obj
        meta["resourceVersion"] = self._next_rv()
        self._data[plural][key] = obj
        self._commit(plural, "ADDED", obj, None)
        return obj

    def replace(self, plural: str, obj: Obj, *, dry_run: bool = False, check_version: bool = True) -> Obj:
        """Replace an object. A ``metadata.resourceVersion`` that is not current answers 409 Conflict.

        Identity (uid, creationTimestamp) is kept; ``generation`` increments when ``spec`` changes.
        """
        rt = self._type(plural)
        obj = copy_object(obj)
        meta = obj.setdefault("metadata", {})
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
        if "generation" in old_meta:
            gen = old_meta["generation"]
            meta["generation"] = gen + 1 if obj.get("spec") != old.get("spec") else gen
        meta["resourceVersion"] = old_meta["resourceVersion"]
        if obj == old:
            return old  # no-op update: no new resourceVersion, no event (as the API server does)
        if dry_run:
            return obj
        meta["resourceVersion"] = self._next_rv()
        self._data[plural][key] = obj
        self._commit(plural, "MODIFIED", obj, old)
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
        gone_obj = copy_object(old)
        gone_obj["metadata"]["resourceVersion"] = self._next_rv()
        self._commit(plural, "DELETED", gone_obj, old)
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
        w = Watcher(plural, namespace, label_selector, field_selector)
        if not since:
            for obj in self.list(plural, namespace, label_selector, field_selector):
                w.queue.put_nowait({"type": "ADDED", "object": obj})
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
        self._history.clear()
        self._compacted_rv = self._rv
