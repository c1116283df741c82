"""PersistentVolumeClaim binding: what the PV controller and a dynamic provisioner do for a new claim.

A Pending claim with a storage class is provisioned after a few simulated seconds: it gets a volume
(``pvc-<uid>``), ``phase: Bound``, its capacity and access modes, and the binding annotations, and a
``ProvisioningSucceeded`` event. A claim with ``storageClassName: ""`` asks for a pre-created volume,
which the sandbox has none of: it stays Pending with the PV controller's ``FailedBinding`` event.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from ..store import Obj, copy_object
from .base import Controller
from .events import record_event
from .keys import Key, key_of

COMPONENT = "persistentvolume-controller"
PROVISION_SECONDS = 3.0


class VolumeBinder(Controller):
    name = "volumes"
    plurals = ("persistentvolumeclaims",)

    def on_change(self, type_: str, plural: str, obj: Obj, old: Obj | None) -> None:
        if type_ != "DELETED" and (obj.get("status") or {}).get("phase", "Pending") == "Pending":
            self.enqueue_after(PROVISION_SECONDS, key_of(obj), ("bind", key_of(obj)))

    def initial_keys(self) -> list[Key]:
        return [key_of(c) for c in self.store.iter_all("persistentvolumeclaims")
                if (c.get("status") or {}).get("phase", "Pending") == "Pending"]

    def reconcile(self, key: Hashable) -> None:
        ns, name = key  # type: ignore[misc]
        claim = self.store.try_get("persistentvolumeclaims", ns, name)
        if claim is None or (claim.get("status") or {}).get("phase", "Pending") != "Pending":
            return
        spec: dict[str, Any] = claim.get("spec") or {}
        if not spec.get("storageClassName"):
            record_event(self.ctx, claim, "FailedBinding", "no persistent volumes available for this claim and no "
                         "storage class is set", "Normal", COMPONENT)
            return
        bound = copy_object(claim)
        volume = f"pvc-{claim['metadata']['uid']}"
        bound["spec"]["volumeName"] = volume
        annotations = bound["metadata"].setdefault("annotations", {})
        annotations.update({"pv.kubernetes.io/bind-completed": "yes", "pv.kubernetes.io/bound-by-controller": "yes",
                            "volume.kubernetes.io/storage-provisioner": "sandbox.llmctl.dev/provisioner"})
        requested = ((spec.get("resources") or {}).get("requests") or {}).get("storage", "1Gi")
        bound["status"] = {"phase": "Bound", "accessModes": list(spec.get("accessModes") or ["ReadWriteOnce"]),
                           "capacity": {"storage": requested}}
        stored = self.store.replace("persistentvolumeclaims", bound, check_version=False)
        record_event(self.ctx, stored, "ProvisioningSucceeded",
                     f"Successfully provisioned volume {volume} (storage class {spec['storageClassName']})",
                     "Normal", "sandbox.llmctl.dev/provisioner")
