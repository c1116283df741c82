"""The :pods view's change feed (indexes.SortedRows.since, #16): a reader that applies what ``since`` says changed to
the rows it read last has exactly the view's rows, in order, through any sequence of adds, changes and deletions;
``moved`` says when the order must be read again; a reader the view cannot catch up (first read, re-list, another
watch run, a log trimmed) is told to read the rows whole."""

from __future__ import annotations

import random
from typing import Any

import pytest

from console.kube import indexes
from console.kube.indexes import RowChanges, SortedRows


def view() -> SortedRows:
    # rows are (namespace, name, version); ordered by namespace then name, as the :pods view is
    return SortedRows(lambda obj: (obj["ns"], obj["name"], obj["v"]), lambda row: (row[0], row[1]))


def obj(ns: str, name: str, v: int) -> dict[str, Any]:
    return {"ns": ns, "name": name, "v": v}


class Reader:
    """What the :pods screen keeps: rows by key, and their order (taken again only when told it moved)."""

    def __init__(self) -> None:
        self.mark: object = None
        self.by_key: dict[str, Any] = {}
        self.order: list[str] = []
        self.whole_reads = 0

    def read(self, rows: SortedRows) -> RowChanges:
        changes = rows.since(self.mark)
        if changes.changed is None:
            self.whole_reads += 1
            self.by_key = {f"{r[0]}/{r[1]}": r for r in changes.rows}
        else:
            for key, row in changes.changed.items():
                if row is None:
                    self.by_key.pop(key, None)
                else:
                    self.by_key[key] = row
        if changes.moved or changes.changed is None:
            self.order = [f"{r[0]}/{r[1]}" for r in changes.rows]
        self.mark = changes.mark
        return changes

    def rows(self) -> list[Any]:
        return [self.by_key[key] for key in self.order]


@pytest.mark.parametrize("seed", range(8))
def test_a_reader_applying_the_changes_has_the_views_rows(seed: int) -> None:
    rng = random.Random(seed)
    rows = view()
    items = {f"ns{i % 3}/pod-{i:03d}": obj(f"ns{i % 3}", f"pod-{i:03d}", 0) for i in range(40)}
    rows.reset(items)
    reader = Reader()
    reader.read(rows)
    assert reader.whole_reads == 1
    for _ in range(300):
        for _ in range(rng.randint(0, 4)):  # a few events between two redraws (or none)
            key = rng.choice([*items, f"ns{rng.randrange(3)}/pod-{rng.randrange(60):03d}"])
            old = items.get(key)
            ns, name = key.split("/")
            if old is not None and rng.random() < 0.3:
                del items[key]
                rows.update(key, old, None)
            else:
                new = obj(ns, name, (old or {"v": 0})["v"] + 1)
                items[key] = new
                rows.update(key, old, new)
        before = list(reader.order)
        changes = reader.read(rows)
        assert reader.rows() == list(rows.rows()), "the reader's rows are the view's"
        if not changes.moved:  # (moved may also be said of a pod deleted and made again in its old place)
            assert reader.order == before, "the order holds when the view says nothing moved"
    assert reader.whole_reads == 1, "every later read was caught up by the changes alone"


def test_an_unchanged_view_reports_nothing_and_an_update_in_place_does_not_move() -> None:
    rows = view()
    rows.reset({"a/x": obj("a", "x", 0), "a/y": obj("a", "y", 0)})
    first = rows.since(None)
    assert first.changed is None and first.moved
    same = rows.since(first.mark)
    assert same.changed == {} and not same.moved and same.rows is first.rows
    rows.update("a/x", obj("a", "x", 0), obj("a", "x", 1))
    changed = rows.since(same.mark)
    assert changed.changed == {"a/x": ("a", "x", 1)} and not changed.moved


def test_readers_the_view_cannot_catch_up_read_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    rows = view()
    rows.reset({"a/x": obj("a", "x", 0)})
    mark = rows.since(None).mark
    rows.reset({"a/x": obj("a", "x", 1)})  # a re-list: no events say what changed
    assert rows.since(mark).changed is None
    other = view()
    other.reset({"a/x": obj("a", "x", 1)})
    assert other.since(rows.since(None).mark).changed is None, "a mark of another view (an earlier watch run)"
    monkeypatch.setattr(indexes, "LOG_MAX", 5)
    mark = rows.since(None).mark
    for v in range(2, 12):  # more changes than the log keeps beyond the rows: trimmed
        rows.update("a/x", obj("a", "x", v - 1), obj("a", "x", v))
    assert rows.since(mark).changed is None
    assert rows.since(None).rows == (("a", "x", 11),)


@pytest.mark.parametrize("live", [True, False], ids=["the reflector's own store", "a copy"])
def test_rows_are_made_when_first_read_with_the_changes_since_the_list(live: bool) -> None:
    """A view nobody reads costs nothing at a (re-)list (#16: ``:pods`` before it is opened, 10,000 pods ~0.2 s):
    its rows are made on the first read, from the list and every change after it, whether the reflector's store was
    changed in place (as Reflector does) or not."""
    made = []
    rows = SortedRows(lambda o: made.append(o) or (o["ns"], o["name"], o["v"]), lambda row: (row[0], row[1]))
    items = {f"a/p{i}": obj("a", f"p{i}", 0) for i in range(50)}
    rows.reset(items if live else dict(items))
    for i in range(0, 50, 5):  # changed, deleted and new pods before anyone read
        key, new = f"a/p{i}", obj("a", f"p{i}", 1)
        rows.update(key, items[key], new)
        items[key] = new
    for i in range(1, 50, 7):
        rows.update(f"a/p{i}", items.pop(f"a/p{i}"), None)
    items["a/new"] = obj("a", "new", 0)
    rows.update("a/new", None, items["a/new"])
    assert made == [], "no row is made before the view is read"
    first = rows.since(None)
    assert first.changed is None
    assert first.rows == tuple(sorted((o["ns"], o["name"], o["v"]) for o in items.values()))
    assert len(made) == len(items), "each row made once"
    items["a/p0"], old = obj("a", "p0", 2), items["a/p0"]
    rows.update("a/p0", old, items["a/p0"])  # read once: changes are kept per event again
    assert rows.since(first.mark).changed == {"a/p0": ("a", "p0", 2)}


def test_a_view_never_read_keeps_no_more_changes_than_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pods come and go for days with ``:pods`` never opened: the changes kept for its first read stay bounded (by
    the rows' count); past that the rows are made, as they would have been at the list."""
    monkeypatch.setattr(indexes, "PENDING_MIN", 8)
    rows = view()
    items = {f"a/p{i}": obj("a", f"p{i}", 0) for i in range(4)}
    rows.reset(items)
    for n in range(100):  # new pod names each time, as a ReplicaSet's pods have
        key = f"a/churn-{n}"
        items[key] = obj("a", f"churn-{n}", 0)
        rows.update(key, None, items[key])
        rows.update(key, items.pop(key), None)
        assert rows._pending is None or len(rows._pending[1]) <= 8
    assert rows.rows() == tuple(sorted((o["ns"], o["name"], o["v"]) for o in items.values()))
