"""Paged LISTs as etcd serves them, over the store's objects and their index (selectors.SelectorIndex: the
keys in order, and the namespace, label and field indexes that give a selector's candidates).

Every page of a paged list is read at the first page's resourceVersion: the continue token carries that
version with the key to resume after (k8s.io/apiserver storage.EncodeContinue), and the page is found by key
in the matching keys (no sort, no scan per page). The matching keys of the last few paged lists are kept for
their next pages (:class:`PagedLists`); other lists at a past version are rebuilt from the watch history
(:func:`state_at`). A token whose version was compacted away is 410 Expired, with a token to go on
inconsistently from the same key.
"""

from __future__ import annotations

import base64
import binascii
import json
from bisect import bisect_left
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from .errors import ApiError, bad_request, gone
from .resources import ResourceType
from .selectors import SelectorIndex, parse_field_selector, parse_label_selector
from .watchers import WatchEvent

Obj = dict[str, Any]
Key = tuple[str, str]  # (namespace or "", name)
Selected = tuple[list[Key], list[Obj]]  # the matching keys, in order, and their objects

PAGED_LISTS = 8  # paged LISTs whose snapshot is kept for their next pages (others are rebuilt from the history)
_CONTINUE_EXPIRED = ("The provided continue parameter is too old to display a consistent list result. You can "
                     "start a new list without the continue parameter, or use the continue token in this response "
                     "to retrieve the remainder of the results. Continuing with the provided token results in an "
                     "inconsistent list - objects that were created, modified, or deleted between the time the "
                     "first chunk was returned and now may show up in the list.")


def select(objects: Mapping[Key, Obj], index: SelectorIndex, namespace: str | None, label_selector: str | None,
           field_selector: str | None) -> Selected:
    """The keys and objects of ``objects`` (the store's, or a past state of them indexed by ``index``)
    that match, in key order: candidates from the index, then the selectors' predicates on those only."""
    labels = parse_label_selector(label_selector) if label_selector else None
    fields = parse_field_selector(field_selector) if field_selector else None
    keys, objs = [], []
    for key in index.candidates(namespace or None, label_selector, field_selector):
        obj = objects.get(key)
        if obj is None or (labels and not labels(obj["metadata"].get("labels") or {})) or \
                (fields and not fields(obj)):
            continue
        keys.append(key)
        objs.append(obj)
    return keys, objs


def read_position(rt: ResourceType, continue_token: str | None, resource_version: str, match: str,
                  current_rv: int, compacted_rv: int) -> tuple[int, Key | None]:
    """The version a LIST reads at and the key it starts from (None: the first): the token's, or
    ``resourceVersionMatch=Exact``'s version (410 once compacted), or the current one."""
    if continue_token:
        rv, start = decode_continue(rt, continue_token)
        if rv == -1:
            return current_rv, start  # the token of an expired list: go on from the key, at the latest version
        if rv < compacted_rv:
            raise ContinueExpired(encode_continue(start, -1))
        return rv, start
    if match == "Exact" and resource_version:
        rv = parse_rv(resource_version)
        if rv < compacted_rv:
            raise gone(f"too old resource version: {rv} ({compacted_rv + 1})")
        return rv, None
    return current_rv, None


def page(selected: Selected, start: Key | None, limit: int, rv: int, *, counted: bool) -> tuple[list[Obj], Obj]:
    """The page of ``selected`` from ``start`` (``limit`` 0: all of it) and its ListMeta: a continue token when
    more follow, and ``remainingItemCount`` when ``counted`` (etcd counts only what a selector-free range holds)."""
    keys, objs = selected
    first = bisect_left(keys, start) if start is not None else 0
    end = first + limit if limit > 0 else len(keys)
    meta: Obj = {"resourceVersion": str(rv)}
    if end < len(keys):
        meta["continue"] = encode_continue((keys[end - 1][0], keys[end - 1][1] + "\0"), rv)
        if counted:
            meta["remainingItemCount"] = len(keys) - end
    return objs[first:end], meta


def state_at(plural: str, rv: int, history: Iterable[WatchEvent], objects_now: Mapping[Key, Obj],
             key_of: Callable[[str, Obj], Key], current_rv: int, compacted_rv: int) -> tuple[dict[Key, Obj],
                                                                                             SelectorIndex]:
    """A resource's objects as they were at ``rv`` (not older than the history), and their index:
    the objects now, with what the history says changed after ``rv`` undone."""
    if rv > current_rv:
        raise ApiError(504, "Timeout", f"Timeout: Too large resource version: {rv}, current: {current_rv}")
    before: dict[Key, WatchEvent] = {}  # last event at or before rv, per key
    after: dict[Key, WatchEvent] = {}  # first event after rv, per key
    for ev in history:
        if ev.plural != plural:
            continue
        key = key_of(plural, ev.obj)
        if ev.rv <= rv:
            before[key] = ev
        elif key not in after:
            after[key] = ev
    objects = dict(objects_now)
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
            raise gone(f"too old resource version: {rv} ({compacted_rv + 1})")
    index = SelectorIndex()
    for key in sorted(objects):
        index.add(key, objects[key])
    return objects, index


class PagedLists:
    """The matching keys and objects of the last :data:`PAGED_LISTS` paged lists, by (plural, namespace,
    selectors, version), so their next pages are found without selecting again."""

    def __init__(self, keep: int = PAGED_LISTS) -> None:
        self.keep_at_most = keep
        self._lists: OrderedDict[tuple[Any, ...], Selected] = OrderedDict()

    def get(self, key: tuple[Any, ...]) -> Selected | None:
        selected = self._lists.get(key)
        if selected is not None:
            self._lists.move_to_end(key)
        return selected

    def keep(self, key: tuple[Any, ...], selected: Selected) -> None:
        self._lists[key] = selected
        self._lists.move_to_end(key)
        while len(self._lists) > self.keep_at_most:
            self._lists.popitem(last=False)

    def forget_before(self, rv: int) -> None:
        """Drop the lists read at a version below ``rv`` (the key's last item)."""
        for stale in [k for k in self._lists if k[-1] < rv]:
            del self._lists[stale]


# ---- continue tokens (k8s.io/apiserver storage.EncodeContinue / DecodeContinue) ----------------------
class ContinueExpired(ApiError):
    """410 for a continue token whose version was compacted, carrying a token to go on inconsistently."""

    def __init__(self, token: str) -> None:
        super().__init__(410, "Expired", _CONTINUE_EXPIRED)
        self.token = token

    def status(self) -> dict[str, Any]:
        body = super().status()
        body["metadata"] = {"continue": self.token}
        return body


def parse_rv(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise bad_request(f"resourceVersion: Invalid value: {text!r}: strconv.ParseUint: parsing {text!r}: "
                          "invalid syntax") from None


def encode_continue(start: Key, rv: int) -> str:
    """etcd's token: the version the list is read at and the key to start from, ``namespace/name\\0``."""
    key = f"{start[0]}/{start[1]}" if start[0] else start[1]
    body = json.dumps({"v": "meta.k8s.io/v1", "rv": rv, "start": key}, separators=(",", ":"))
    return base64.urlsafe_b64encode(body.encode()).decode().rstrip("=")


def decode_continue(rt: ResourceType, token: str) -> tuple[int, Key]:
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
