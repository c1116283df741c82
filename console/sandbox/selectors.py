"""Label and field selectors, parsed the way the API server parses them.

Label selectors support equality (``a=b``, ``a==b``, ``a!=b``) and set-based terms
(``a in (x,y)``, ``a notin (x)``, ``a``, ``!a``). Field selectors support ``=``, ``==`` and ``!=``
over dotted paths (``metadata.name``, ``spec.nodeName``, ``status.phase``, ``involvedObject.uid``...).

:class:`SelectorIndex` keeps one resource's keys sorted and inverted indexes over the fields and labels
selectors name most (``spec.nodeName``, ``status.phase``, ``metadata.name``, every ``label=value``), so a
LIST narrows by index instead of testing every object, and a page resumes by key (paging.py).
"""

from __future__ import annotations

import re
from bisect import bisect_left, insort
from collections.abc import Callable, Mapping
from typing import Any

from .errors import bad_request

Predicate = Callable[[Mapping[str, str]], bool]

_SET_TERM = re.compile(r"^\s*(!?)\s*([A-Za-z0-9_./-]+)\s*(?:(in|notin)\s*\(([^)]*)\))?\s*$")
_EQ_TERM = re.compile(r"^\s*([A-Za-z0-9_./-]+)\s*(==|=|!=)\s*([A-Za-z0-9_.-]*)\s*$")
_FIELD_TERM = re.compile(r"^\s*([A-Za-z0-9_.]+)\s*(==|=|!=)\s*(.*?)\s*$")


def _split_terms(selector: str) -> list[str]:
    """Split on commas that are not inside parentheses."""
    terms, depth, cur = [], 0, []
    for ch in selector:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            terms.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    terms.append("".join(cur))
    return [t for t in (t.strip() for t in terms) if t]


def parse_label_selector(selector: str | None) -> Predicate:
    """A predicate over a labels mapping; raises a 400 ApiError for a malformed selector."""
    if not selector:
        return lambda labels: True
    checks: list[Predicate] = []
    for term in _split_terms(selector):
        m = _EQ_TERM.match(term)
        if m:
            key, op, value = m.groups()
            if op == "!=":
                checks.append(lambda lb, k=key, v=value: lb.get(k) != v)
            else:
                checks.append(lambda lb, k=key, v=value: lb.get(k) == v)
            continue
        m = _SET_TERM.match(term)
        if not m:
            raise bad_request(f"unable to parse requirement: invalid label selector {selector!r}")
        neg, key, op, values = m.groups()
        if op:
            vals = {v.strip() for v in values.split(",") if v.strip()}
            if op == "in":
                checks.append(lambda lb, k=key, vs=vals: lb.get(k) in vs)
            else:
                checks.append(lambda lb, k=key, vs=vals: lb.get(k) not in vs)
        elif neg:
            checks.append(lambda lb, k=key: k not in lb)
        else:
            checks.append(lambda lb, k=key: k in lb)
    return lambda labels: all(c(labels) for c in checks)


def get_path(obj: Mapping[str, Any], path: str) -> Any:
    cur: Any = obj
    for part in path.split("."):
        if not isinstance(cur, Mapping):
            return None
        cur = cur.get(part)
    return cur


def parse_field_selector(selector: str | None) -> Callable[[Mapping[str, Any]], bool]:
    """A predicate over a whole object; raises a 400 ApiError for a malformed selector."""
    if not selector:
        return lambda obj: True
    checks: list[Callable[[Mapping[str, Any]], bool]] = []
    for term in _split_terms(selector):
        m = _FIELD_TERM.match(term)
        if not m:
            raise bad_request(f"invalid field selector: {selector!r}")
        path, op, value = m.groups()

        def check(obj: Mapping[str, Any], p: str = path, o: str = op, v: str = value) -> bool:
            actual = get_path(obj, p)
            actual_s = "" if actual is None else str(actual)
            return actual_s != v if o == "!=" else actual_s == v

        checks.append(check)
    return lambda obj: all(c(obj) for c in checks)


def selector_matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str] | None) -> bool:
    """Whether a ``LabelSelector`` object (matchLabels / matchExpressions) selects these labels.

    An empty or missing selector selects nothing, as for workload controllers.
    """
    if not selector:
        return False
    labels = labels or {}
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), set(expr.get("values") or [])
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and labels.get(key) in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return bool(selector.get("matchLabels") or selector.get("matchExpressions"))


def selector_to_string(selector: Mapping[str, Any] | None) -> str:
    """Render a LabelSelector object as a query string (``status.selector`` of a scale)."""
    if not selector:
        return ""
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expr in selector.get("matchExpressions") or []:
        op, key, values = expr.get("operator"), expr.get("key"), expr.get("values") or []
        if op == "In":
            parts.append(f"{key} in ({','.join(values)})")
        elif op == "NotIn":
            parts.append(f"{key} notin ({','.join(values)})")
        elif op == "Exists":
            parts.append(key)
        elif op == "DoesNotExist":
            parts.append(f"!{key}")
    return ",".join(parts)


# ---- indexes ---------------------------------------------------------------------------------------
IndexKey = tuple[str, str]  # (namespace or "", name), as the store keys objects
INDEXED_FIELDS = ("metadata.name", "spec.nodeName", "status.phase")
_NONE: frozenset[IndexKey] = frozenset()


def equality_terms(label_selector: str | None, field_selector: str | None) -> tuple[
        list[tuple[str, str]], list[tuple[str, str]]]:
    """The ``key=value`` requirements of a label and a field selector (``in`` with one value counts),
    the ones an index can answer; the selectors' other terms are left to the predicates."""
    labels: list[tuple[str, str]] = []
    fields: list[tuple[str, str]] = []
    for term in _split_terms(label_selector or ""):
        m = _EQ_TERM.match(term)
        if m and m.group(2) != "!=":
            labels.append((m.group(1), m.group(3)))
            continue
        m = _SET_TERM.match(term)
        if m and m.group(3) == "in" and not m.group(1):
            values = {v.strip() for v in m.group(4).split(",") if v.strip()}
            if len(values) == 1:
                labels.append((m.group(2), values.pop()))
    for term in _split_terms(field_selector or ""):
        m = _FIELD_TERM.match(term)
        if m and m.group(2) != "!=":
            fields.append((m.group(1), m.group(3)))
    return labels, fields


def _field_text(obj: Mapping[str, Any], path: str) -> str:
    value = get_path(obj, path)
    return "" if value is None else str(value)  # what a field selector compares against


class SelectorIndex:
    """One resource's keys in (namespace, name) order, and who has which indexed field value and label.

    Kept up to date per write (:meth:`add`, :meth:`update`, :meth:`remove`: O(log N) plus the labels that
    changed, and one list insertion per create/delete), so a LIST never sorts and a selective selector
    never tests every object."""

    __slots__ = ("fields", "keys", "labels")

    def __init__(self) -> None:
        self.keys: list[IndexKey] = []
        self.fields: dict[str, dict[str, set[IndexKey]]] = {path: {} for path in INDEXED_FIELDS}
        self.labels: dict[tuple[str, str], set[IndexKey]] = {}

    def __len__(self) -> int:
        return len(self.keys)

    @staticmethod
    def _put(index: dict[Any, set[IndexKey]], value: Any, key: IndexKey) -> None:
        index.setdefault(value, set()).add(key)

    @staticmethod
    def _drop(index: dict[Any, set[IndexKey]], value: Any, key: IndexKey) -> None:
        keys = index.get(value)
        if keys is not None:
            keys.discard(key)
            if not keys:
                del index[value]

    def add(self, key: IndexKey, obj: Mapping[str, Any]) -> None:
        i = bisect_left(self.keys, key)
        if i == len(self.keys) or self.keys[i] != key:
            insort(self.keys, key)
        for path, index in self.fields.items():
            self._put(index, _field_text(obj, path), key)
        for pair in ((obj.get("metadata") or {}).get("labels") or {}).items():
            self._put(self.labels, pair, key)

    def remove(self, key: IndexKey, obj: Mapping[str, Any]) -> None:
        i = bisect_left(self.keys, key)
        if i < len(self.keys) and self.keys[i] == key:
            del self.keys[i]
        for path, index in self.fields.items():
            self._drop(index, _field_text(obj, path), key)
        for pair in ((obj.get("metadata") or {}).get("labels") or {}).items():
            self._drop(self.labels, pair, key)

    def update(self, key: IndexKey, new: Mapping[str, Any], old: Mapping[str, Any]) -> None:
        for path, index in self.fields.items():
            before, after = _field_text(old, path), _field_text(new, path)
            if before != after:
                self._drop(index, before, key)
                self._put(index, after, key)
        old_labels = (old.get("metadata") or {}).get("labels") or {}
        new_labels = (new.get("metadata") or {}).get("labels") or {}
        if old_labels != new_labels:
            for pair in old_labels.items():
                if new_labels.get(pair[0], _NONE) != pair[1]:
                    self._drop(self.labels, pair, key)
            for pair in new_labels.items():
                self._put(self.labels, pair, key)

    def namespace_range(self, namespace: str | None) -> tuple[int, int]:
        """The slice of :attr:`keys` in one namespace (all of them for None)."""
        if namespace is None:
            return 0, len(self.keys)
        return bisect_left(self.keys, (namespace,)), bisect_left(self.keys, (namespace + "\0",))

    def candidates(self, namespace: str | None, label_selector: str | None,
                   field_selector: str | None) -> list[IndexKey]:
        """Keys in order that may match (a superset: the caller still tests the selectors' predicates),
        narrowed by namespace and by the most selective indexed ``=`` requirement."""
        labels, fields = equality_terms(label_selector, field_selector)
        for path, value in fields:
            if path == "metadata.namespace":
                if namespace is not None and namespace != value:
                    return []
                namespace = value
        lo, hi = self.namespace_range(namespace)
        sets = [self.fields[path].get(value, _NONE) for path, value in fields if path in self.fields]
        sets += [self.labels.get(pair, _NONE) for pair in labels]
        if sets:
            sets.sort(key=len)
            smallest, others = sets[0], sets[1:]
            if len(smallest) * 4 < hi - lo:  # selective: sort the few matches rather than walk the range
                return sorted(k for k in smallest
                              if (namespace is None or k[0] == namespace) and all(k in s for s in others))
        return self.keys[lo:hi]
