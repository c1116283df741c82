"""Derived views of a reflector's objects, kept up to date per watch event (client-go's indexers).

A reflector calls each of its indexes with every change: ``update(key, old, new)`` for one object (``old``
None when it is new, ``new`` None when it is gone) and ``reset(items)`` after a (re-)list. So a view such as
"the pods of this ReplicaSet" or "GPUs allocated on this node" costs work in proportion to what changed,
not to the size of the cluster, and reading it costs what it returns.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from itertools import count
from typing import Any, Protocol


class Index(Protocol):
    def reset(self, items: dict[str, Any]) -> None:
        """Forget everything and index ``items`` (key → object)."""

    def update(self, key: str, old: Any, new: Any) -> None:
        """One object changed: ``old`` None when it is new, ``new`` None when it is gone."""


class MultiIndex:
    """Objects by the values ``values(obj)`` gives for them (owner UIDs, involved objects, …): client-go's
    ``cache.Indexer`` for one index function. ``keys(value)`` is the set of object keys holding ``value``."""

    def __init__(self, values: Callable[[Any], Iterable[Hashable]]) -> None:
        self._values = values
        self._keys: dict[Hashable, set[str]] = {}

    def reset(self, items: dict[str, Any]) -> None:
        self._keys = {}
        for key, obj in items.items():
            self._add(key, obj)

    def update(self, key: str, old: Any, new: Any) -> None:
        if old is not None:
            for value in self._values(old):
                keys = self._keys.get(value)
                if keys is not None:
                    keys.discard(key)
                    if not keys:
                        del self._keys[value]
        if new is not None:
            self._add(key, new)

    def _add(self, key: str, obj: Any) -> None:
        for value in self._values(obj):
            self._keys.setdefault(value, set()).add(key)

    def keys(self, value: Hashable) -> frozenset[str]:
        return frozenset(self._keys.get(value, ()))


class Subset:
    """The keys of the objects for which ``predicate(obj)`` holds (e.g. the pods that may raise an alert)."""

    def __init__(self, predicate: Callable[[Any], bool]) -> None:
        self._predicate = predicate
        self.members: set[str] = set()

    def reset(self, items: dict[str, Any]) -> None:
        self.members = {key for key, obj in items.items() if self._predicate(obj)}

    def update(self, key: str, old: Any, new: Any) -> None:
        if new is not None and self._predicate(new):
            self.members.add(key)
        else:
            self.members.discard(key)


class Totals:
    """Sums per group of projected ``(group, amount)`` entries (None: counts for nothing): the GPUs allocated
    on each node from the cluster-wide GPU pod projections. ``version`` changes whenever a total does."""

    def __init__(self) -> None:
        self.by_group: dict[str, int] = {}
        self.version = 0

    def reset(self, items: dict[str, Any]) -> None:
        totals: dict[str, int] = {}
        for entry in items.values():
            if entry is not None:
                totals[entry[0]] = totals.get(entry[0], 0) + entry[1]
        self.by_group = totals
        self.version += 1

    def update(self, key: str, old: Any, new: Any) -> None:
        if old == new:
            return
        if old is not None:
            left = self.by_group.get(old[0], 0) - old[1]
            if left:
                self.by_group[old[0]] = left
            else:
                self.by_group.pop(old[0], None)
        if new is not None:
            self.by_group[new[0]] = self.by_group.get(new[0], 0) + new[1]
        self.version += 1


class Projected:
    """Another index kept from a projection of each object (``project(obj)``), as a reflector with that projection
    would keep it: the GPU allocation index fed by the pods watch itself when every namespace is watched."""

    def __init__(self, index: Index, project: Callable[[Any], Any]) -> None:
        self._index = index
        self._project = project

    def reset(self, items: dict[str, Any]) -> None:
        project = self._project
        self._index.reset({key: project(obj) for key, obj in items.items()})

    def update(self, key: str, old: Any, new: Any) -> None:
        project = self._project
        self._index.update(key, None if old is None else project(old), None if new is None else project(new))


@dataclass(frozen=True)
class RowChanges:
    """What a reader of a :class:`SortedRows` view needs to catch up since its last read (:meth:`SortedRows.since`).

    ``rows``: every row in order. ``changed``: key → its row now (None: gone) for each object that changed since
    the reader's mark, or None when the reader must read ``rows`` whole (its first read, a re-list, or a mark too
    old). ``moved``: rows came, went or changed place, so the order must be taken from ``rows`` again. ``mark``:
    what to pass to the next read."""

    mark: object
    rows: tuple[Any, ...]
    changed: dict[str, Any] | None
    moved: bool

    @staticmethod
    def everything(rows: tuple[Any, ...]) -> RowChanges:
        """A view that keeps no change log (fixed data): always read whole."""
        return RowChanges(None, rows, None, True)


_VIEWS = count(1)
LOG_MAX = 4096  # keys logged beyond the rows' count: readers that far behind read the rows whole
PENDING_MIN = 1024  # changes kept for a view not read yet before its rows are made anyway (see SortedRows.update)


class SortedRows:
    """A row per object (``row(obj)``), kept in the order of ``order(row)`` (the ``:pods`` view): a change costs
    a binary search and a list insertion, not a sort of every row. ``rows()`` is the rows in order, the same
    tuple until something changes. ``since(mark)`` tells a reader which keys changed since its last read, so it
    can redraw what changed instead of walking every row (#16)."""

    def __init__(self, row: Callable[[Any], Any], order: Callable[[Any], Any]) -> None:
        self._row = row
        self._order = order
        self._by_key: dict[str, Any] = {}
        self._positions: list[tuple[Any, str]] = []  # (order(row), key), sorted
        self._rows: list[Any] = []  # the rows, in the same order
        self._tuple: tuple[Any, ...] | None = ()
        self._view = next(_VIEWS)  # a mark is good for this view only (a new watch run makes a new view)
        self._epoch = 0  # a re-list or a trimmed log starts a new epoch: older marks read the rows whole
        self._log: list[tuple[str, bool]] = []  # (key, whether the order changed) per change in this epoch
        # Rows are made when first read, not at each (re-)list: until then, the listed objects and the changes since.
        self._pending: tuple[dict[str, Any], dict[str, Any]] | None = None

    def reset(self, items: dict[str, Any]) -> None:
        """Take a (re-)list. Its rows are made on the first read after it (``rows``/``since``): a view nobody is
        showing (``:pods`` before it is opened) costs nothing at start-up — 10,000 pod rows are ~0.2 s."""
        self._by_key, self._positions, self._rows, self._tuple = {}, [], [], None
        self._pending = (items, {})
        self._new_epoch()

    def _materialize(self) -> None:
        if self._pending is None:
            return
        items, since = self._pending
        self._pending = None
        if since:  # changed after the list (``items`` may be the reflector's own store, already changed too)
            items = dict(items)
            for key, obj in since.items():
                if obj is None:
                    items.pop(key, None)
                else:
                    items[key] = obj
        self._by_key = {key: self._row(obj) for key, obj in items.items()}
        self._positions = sorted((self._order(row), key) for key, row in self._by_key.items())
        self._rows = [self._by_key[key] for _, key in self._positions]
        self._tuple = None

    def _new_epoch(self) -> None:
        self._epoch += 1
        self._log = []

    def update(self, key: str, old: Any, new: Any) -> None:
        if self._pending is not None:  # no rows made yet: nobody can be told what changed
            items, since = self._pending
            since[key] = new
            if len(since) <= max(PENDING_MIN, len(items)):
                return
            self._materialize()  # never read, and as many changes as rows: make them (O(1) per change, amortised)
            return
        before = self._by_key.pop(key, None)
        index = None
        if before is not None:
            index = bisect_left(self._positions, (self._order(before), key))
            del self._positions[index], self._rows[index]
        moved = True  # a row went, came (``index`` None) or changed place
        if new is not None:
            row = self._by_key[key] = self._row(new)
            position = (self._order(row), key)
            at = bisect_left(self._positions, position)
            self._positions.insert(at, position)
            self._rows.insert(at, row)
            moved = at != index
        self._tuple = None
        if len(self._log) > LOG_MAX + len(self._rows):
            self._new_epoch()
        self._log.append((key, moved))

    def rows(self) -> tuple[Any, ...]:
        self._materialize()
        if self._tuple is None:
            self._tuple = tuple(self._rows)
        return self._tuple

    def since(self, mark: object) -> RowChanges:
        """The rows and what changed since ``mark`` (None, or the mark of an earlier read of any view)."""
        self._materialize()
        now = (self._view, self._epoch, len(self._log))
        if not (isinstance(mark, tuple) and mark[:2] == now[:2]):
            return RowChanges(now, self.rows(), None, True)
        logged = self._log[mark[2]:]
        by_key = self._by_key
        return RowChanges(now, self.rows(), {key: by_key.get(key) for key, _ in logged},
                          any(moved for _, moved in logged))


def owner_uids(obj: dict[str, Any]) -> list[str]:
    """The UIDs of an object's owners (a pod's ReplicaSet, a ReplicaSet's Deployment)."""
    return [o["uid"] for o in (obj.get("metadata") or {}).get("ownerReferences") or [] if o.get("uid")]


def involved_object(event: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(namespace, kind, name) of the object a core/v1 Event is about."""
    obj = event.get("involvedObject") or {}
    namespace = obj.get("namespace") or (event.get("metadata") or {}).get("namespace") or ""
    return [(namespace, obj.get("kind") or "", obj.get("name") or "")]
