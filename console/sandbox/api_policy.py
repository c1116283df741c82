"""Registry rules of the kinds beyond the workloads: PodDisruptionBudgets (policy/v1), Secrets and
ServiceAccounts (core/v1) — what their strategies default, validate and start the status with.

- A PodDisruptionBudget is created with an empty status (``disruptionsAllowed: 0`` … until the disruption
  controller has looked at it), may set ``minAvailable`` or ``maxUnavailable`` but not both, and
  ``unhealthyPodEvictionPolicy`` is ``IfHealthyBudget`` or ``AlwaysAllow``.
- A Secret's ``stringData`` is merged into ``data`` (base64) and never stored; ``type`` defaults to
  ``Opaque``; ``data`` is at most 1 MiB; its type cannot change.
"""

from __future__ import annotations

import base64
from typing import Any

from .api_validate import FieldError, _int_or_percent_errors, label_errors
from .resources import ResourceType

Obj = dict[str, Any]
PDB_POLICIES = ("IfHealthyBudget", "AlwaysAllow")
MAX_SECRET_BYTES = 1024 * 1024
EMPTY_PDB_STATUS: Obj = {"disruptionsAllowed": 0, "currentHealthy": 0, "desiredHealthy": 0, "expectedPods": 0}


def prepare(rt: ResourceType, obj: Obj, old: Obj | None) -> None:
    """Defaults and conversions of a create (``old`` None) or update, in place."""
    if rt.plural == "secrets":
        string_data = obj.pop("stringData", None) or {}
        if string_data:
            data = obj.setdefault("data", {}) or {}
            obj["data"] = data
            for key, value in string_data.items():
                data[key] = base64.b64encode(value.encode()).decode()
        obj.setdefault("type", "Opaque")
    elif rt.plural == "poddisruptionbudgets" and old is None:
        obj["status"] = dict(EMPTY_PDB_STATUS)


def errors(rt: ResourceType, obj: Obj, old: Obj | None) -> list[FieldError]:
    """Field errors of the kinds this module covers (the caller adds them to the common ones)."""
    if rt.plural == "poddisruptionbudgets":
        return _pdb_errors(obj)
    if rt.plural == "secrets":
        return _secret_errors(obj, old)
    return []


def _pdb_errors(obj: Obj) -> list[FieldError]:
    spec = obj.get("spec") or {}
    out: list[FieldError] = []
    if spec.get("minAvailable") is not None and spec.get("maxUnavailable") is not None:
        out.append(FieldError("spec", "Invalid", "{...}", "minAvailable and maxUnavailable cannot be both set"))
    out += _int_or_percent_errors(spec.get("minAvailable"), "spec.minAvailable", at_most_100=True)
    out += _int_or_percent_errors(spec.get("maxUnavailable"), "spec.maxUnavailable", at_most_100=True)
    policy = spec.get("unhealthyPodEvictionPolicy")
    if policy is not None and policy not in PDB_POLICIES:
        out.append(FieldError("spec.unhealthyPodEvictionPolicy", "NotSupported", policy,
                              'supported values: "AlwaysAllow", "IfHealthyBudget"'))
    out += label_errors((spec.get("selector") or {}).get("matchLabels"), "spec.selector.matchLabels")
    return out


def _secret_errors(obj: Obj, old: Obj | None) -> list[FieldError]:
    out: list[FieldError] = []
    size = 0
    for key, value in (obj.get("data") or {}).items():
        size += len(base64.b64decode(value)) if value else 0
        if not key or len(key) > 253 or not all(c.isalnum() or c in "-._" for c in key):
            out.append(FieldError(f"data[{key}]", "Invalid", key,
                                  "a valid config key must consist of alphanumeric characters, '-', '_' or '.' "
                                  "(e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation "
                                  "is '[-._a-zA-Z0-9]+')"))
    if size > MAX_SECRET_BYTES:
        out.append(FieldError("data", "TooLong", None, f"must have at most {MAX_SECRET_BYTES} bytes"))
    if old is not None and obj.get("type") != old.get("type"):
        out.append(FieldError("type", "Invalid", obj.get("type"), "field is immutable"))
    if old is not None and old.get("immutable") and obj.get("data") != old.get("data"):
        out.append(FieldError("data", "Forbidden", None, "field is immutable when `immutable` is set"))
    return out
