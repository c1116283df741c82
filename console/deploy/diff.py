"""Rendered objects against live ones: what differs in the fields we set, and the patch that changes it.

The comparison looks only at the fields the rendered object sets: the live object is *projected* onto
the rendered one's shape (maps keep only the keys we set; lists are compared item by item), so what the
API server and the controllers add — defaults, ``status``, a Service's ``clusterIP``, the revision
annotation — never counts as a difference. Re-running a deployment that matches therefore shows no
diff and applies nothing.

Changes are sent as server-side apply configurations (field manager ``llmctl``): the API server records
which fields llmctl owns in ``managedFields`` and removes the ones a later apply no longer sets, so no
client-side record (``kubectl.kubernetes.io/last-applied-configuration``) is kept; one left by an older
client is not compared. Fields another controller owns are left out of comparison and apply: a
Deployment's ``spec.replicas`` when an HPA manages it.
"""

from __future__ import annotations

import copy
import difflib
from collections.abc import Iterable
from typing import Any

import yaml

Obj = dict[str, Any]
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
APPLY_PATCH = "application/apply-patch+yaml"
Path_ = tuple[str, ...]


def project(live: Any, desired: Any) -> Any:
    """``live`` restricted to the shape of ``desired`` (see the module docstring)."""
    if isinstance(desired, dict) and isinstance(live, dict):
        return {k: project(live[k], v) for k, v in desired.items() if k in live}
    if isinstance(desired, list) and isinstance(live, list):
        out = [project(live[i], desired[i]) for i in range(min(len(live), len(desired)))]
        return out + copy.deepcopy(live[len(desired):])  # items we no longer set show as removals
    return copy.deepcopy(live)


def without(obj: Obj, paths: Iterable[Path_]) -> Obj:
    """A copy of ``obj`` without the fields at ``paths`` (missing ones are fine)."""
    out = copy.deepcopy(obj)
    for path in paths:
        node: Any = out
        for key in path[:-1]:
            node = node.get(key) if isinstance(node, dict) else None
            if node is None:
                break
        if isinstance(node, dict):
            node.pop(path[-1], None)
    return out


def comparable(obj: Obj, ignored: Iterable[Path_] = ()) -> Obj:
    """The object as compared and shown: without the last-applied annotation and the ignored fields, with
    an annotations map that became empty dropped."""
    out = without(obj, [("metadata", "annotations", LAST_APPLIED), ("status",), *ignored])
    meta = out.get("metadata") or {}
    if "annotations" in meta and not meta["annotations"]:
        del meta["annotations"]
    return out


def to_yaml(obj: Any) -> str:
    return yaml.safe_dump(obj, sort_keys=False, default_flow_style=False, allow_unicode=True, width=100)


def unified_diff(live: Obj | None, desired: Obj, name: str, ignored: Iterable[Path_] = ()) -> str:
    """Unified diff of the YAML of the fields we set: live (projected) → rendered. Empty when equal."""
    want = comparable(desired, ignored)
    have = comparable(project(live, want), ignored) if live is not None else None
    a = to_yaml(have).splitlines(keepends=True) if have is not None else []
    b = to_yaml(want).splitlines(keepends=True)
    return "".join(difflib.unified_diff(a, b, f"{name} (live)" if live is not None else "/dev/null",
                                        f"{name} (rendered)"))


def changed_paths(live: Any, desired: Any, prefix: str = "") -> list[str]:
    """The dotted paths whose values differ (``spec.template.spec.containers[0].image``), at most 20."""
    out: list[str] = []

    def walk(a: Any, b: Any, where: str) -> None:
        if len(out) >= 20:
            return
        if isinstance(a, dict) and isinstance(b, dict):
            for k in list(b) + [k for k in a if k not in b]:
                walk(a.get(k), b.get(k), f"{where}.{k}" if where else str(k))
        elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
            for i, (x, y) in enumerate(zip(a, b, strict=True)):
                walk(x, y, f"{where}[{i}]")
        elif a != b:
            out.append(where or "(object)")

    walk(live, desired, prefix)
    return out


def is_unchanged(live: Obj, desired: Obj, ignored: Iterable[Path_] = ()) -> bool:
    want = comparable(desired, ignored)
    return comparable(project(live, want), ignored) == want


def apply_config(desired: Obj, live: Obj | None = None, ignored: Iterable[Path_] = ()) -> Obj:
    """The server-side apply configuration: the rendered object without the fields another controller owns;
    against an existing object, guarded by its resourceVersion (a concurrent change is a 409 Conflict)."""
    body = without(desired, [("status",), *ignored])
    if live is not None:
        body.setdefault("metadata", {})["resourceVersion"] = (live.get("metadata") or {}).get("resourceVersion")
    return body
