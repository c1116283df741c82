"""The service-account controller: every namespace gets a ServiceAccount ``default`` (re-created if deleted),
as kube-controller-manager's ``serviceaccount`` controller does. Since v1.24 no token Secret goes with it:
tokens come from the TokenRequest API (``kubectl create token``)."""

from __future__ import annotations

from typing import Any

from ..errors import ApiError
from ..store import Obj
from .base import Controller
from .keys import Key

DEFAULT_NAME = "default"


class ServiceAccountController(Controller):
    name = "serviceaccount"
    plurals = ("namespaces", "serviceaccounts")

    def on_change(self, type_: str, plural: str, obj: Obj, old: Obj | None) -> None:
        meta = obj["metadata"]
        if plural == "namespaces" and type_ != "DELETED":
            self.enqueue(("", meta["name"]))
        elif plural == "serviceaccounts" and type_ == "DELETED" and meta["name"] == DEFAULT_NAME:
            self.enqueue(("", meta.get("namespace") or ""))

    def initial_keys(self) -> list[Key]:
        return [("", ns["metadata"]["name"]) for ns in self.store.iter_all("namespaces")]

    def reconcile(self, key: Any) -> None:
        namespace = key[1]
        ns = self.store.try_get("namespaces", None, namespace)
        if ns is None or ns["metadata"].get("deletionTimestamp") or (ns.get("status") or {}).get("phase") == \
                "Terminating":
            return
        if self.store.try_get("serviceaccounts", namespace, DEFAULT_NAME) is not None:
            return
        try:
            self.store.create("serviceaccounts", {"metadata": {"name": DEFAULT_NAME, "namespace": namespace}})
        except ApiError:  # the namespace went away meanwhile, or someone created it first
            pass
