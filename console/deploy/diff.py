"""Rendered objects against live ones: what differs in the fields we set, and the patch that changes it.

The comparison looks only at the fields the rendered object sets: the live object is *projected* onto
the rendered one's shape (maps keep only the keys we set; lists are compared item by item), so what the
API server and the controllers add — defaults, ``status``, a Service's ``clusterIP``, the revision
annotation — never counts as a difference. Re-running a deployment that matches therefore shows no
diff and applies nothing.

Updates are JSON merge patches of the rendered fields, plus ``null`` for every field the previous apply
set and this one no longer does (the previous apply is kept, as ``kubectl apply`` keeps it, in the
``kubectl.kubernetes.io/last-applied-configuration`` annotation — so a later ``kubectl apply -f`` of the
rendered files computes its three-way merge correctly too). Fields another controller owns are left out
of comparison and patch: a Deployment's ``spec.replicas`` when an HPA manages it.
"""

from __future__ import annotations

import copy
import difflib
import json
from collections.abc import Iterable, Mapping
from typing import Any

import yaml

Obj = dict[str, Any]
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
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


def last_applied(live: Obj) -> Obj | None:
    """The configuration the previous apply recorded on the live object, or None."""
    text = ((live.get("metadata") or {}).get("annotations") or {}).get(LAST_APPLIED)
    if not text:
        return None
    try:
        doc = json.loads(text)
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None


def _removals(previous: Any, desired: Any) -> Any:
    """Null out what ``previous`` set in maps and ``desired`` no longer does (lists are replaced whole)."""
    if not isinstance(previous, dict) or not isinstance(desired, dict):
        return desired
    out = {}
    for key, value in desired.items():
        out[key] = _removals(previous.get(key), value)
    for key in previous:
        if key not in desired:
            out[key] = None
    return out


def with_last_applied(desired: Obj) -> Obj:
    """``desired`` carrying itself as the last-applied annotation (what the next apply diffs against)."""
    body = copy.deepcopy(desired)
    recorded = without(desired, [("metadata", "annotations", LAST_APPLIED), ("status",)])
    recorded.setdefault("metadata", {}).setdefault("annotations", {})  # kubectl records an empty map too
    record = go_json(recorded)
    body.setdefault("metadata", {}).setdefault("annotations", {})[LAST_APPLIED] = record
    return body


def merge_patch(live: Obj, desired: Obj, ignored: Iterable[Path_] = ()) -> Obj:
    """The JSON merge patch taking ``live`` to ``desired`` in the fields we set, guarded by the live
    resourceVersion (a concurrent change answers 409 Conflict instead of being overwritten)."""
    ignored = list(ignored)
    body = with_last_applied(without(desired, ignored))
    previous = last_applied(live)
    if previous is not None:
        body = _removals(without(previous, ignored), body)
    meta = body.setdefault("metadata", {})
    meta["resourceVersion"] = (live.get("metadata") or {}).get("resourceVersion")
    meta.pop("namespace", None)
    return body


def go_json(obj: Mapping[str, Any]) -> str:
    """JSON as kubectl writes the last-applied annotation (Go's json.Marshal of the manifest: sorted keys,
    compact, HTML characters escaped, a final newline), so ``kubectl apply`` of the same file finds nothing
    to change."""
    text = json.dumps(obj, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026") + "\n"
