"""Secondary indexes over the store (children by controller uid, pods by node), kept in step with
every change. They make a reconcile cost O(children) instead of O(all pods): with 10,000 pods a
full scan per ReplicaSet sync would turn the large scenario's start into seconds of CPU.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator

from ..store import Obj, Store
from .keys import Key, controller_ref, key_of

_OWNED = ("pods", "replicasets")


class StoreIndex:
    """Children by their controller's uid (pods, ReplicaSets) and pods by node name."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._by_owner: dict[str, dict[str, set[Key]]] = {p: defaultdict(set) for p in _OWNED}
        self._pods_by_node: dict[str, set[Key]] = defaultdict(set)
        for plural in _OWNED:
            for obj in store.iter_all(plural):
                self._add(plural, obj)

    def _add(self, plural: str, obj: Obj) -> None:
        ref = controller_ref(obj)
        if ref:
            self._by_owner[plural][ref["uid"]].add(key_of(obj))
        if plural == "pods":
            node = obj.get("spec", {}).get("nodeName")
            if node:
                self._pods_by_node[node].add(key_of(obj))

    def _remove(self, plural: str, obj: Obj) -> None:
        ref = controller_ref(obj)
        if ref:
            keys = self._by_owner[plural].get(ref["uid"])
            if keys is not None:
                keys.discard(key_of(obj))
                if not keys:
                    del self._by_owner[plural][ref["uid"]]
        if plural == "pods":
            node = obj.get("spec", {}).get("nodeName")
            keys = self._pods_by_node.get(node or "")
            if keys is not None:
                keys.discard(key_of(obj))
                if not keys:
                    del self._pods_by_node[node]

    def on_change(self, type_: str, plural: str, obj: Obj, old: Obj | None) -> None:
        if plural not in _OWNED:
            return
        if old is not None:
            self._remove(plural, old)
        if type_ != "DELETED":
            self._add(plural, obj)

    def _objects(self, plural: str, keys: set[Key] | None) -> Iterator[Obj]:
        for ns, name in sorted(keys or ()):
            obj = self.store.try_get(plural, ns, name)
            if obj is not None:
                yield obj

    def owned(self, plural: str, owner_uid: str) -> list[Obj]:
        """Objects of ``plural`` whose controller reference points at ``owner_uid``, sorted by key."""
        return list(self._objects(plural, self._by_owner[plural].get(owner_uid)))

    def pod_keys_on(self, node: str) -> list[Key]:
        return sorted(self._pods_by_node.get(node, ()))

    def pods_on(self, node: str) -> list[Obj]:
        return list(self._objects("pods", self._pods_by_node.get(node)))
