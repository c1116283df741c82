"""Server-side apply and ``metadata.managedFields``, as kube-apiserver's fieldmanager does them.

Every write records which manager owns which fields (``FieldsV1``: ``f:name`` for a field, ``k:{...}``
for an item of a list keyed by ``x-kubernetes-list-map-keys``, ``v:value`` for a set item, ``.`` for the
item itself). An apply (``PATCH`` with ``application/apply-patch+yaml``) owns exactly the fields of its
configuration: fields another manager owns with a different value are a 409 listing them, unless
``force=true`` takes them over; fields the manager applied before and no longer does are removed when
nobody else owns them. Any other write (create, update, patch) by a manager takes the fields it changed,
as operation ``Update``. The list and map semantics come from the published OpenAPI schemas.
"""

from __future__ import annotations

import json
from typing import Any

import yaml
from aiohttp import web

from . import api_openapi
from .api_validate import FieldError, invalid_error
from .clock import Clock
from .errors import ApiError, bad_request

Obj = dict[str, Any]
Path = tuple[str, ...]
# Key fields the API server defaults before it merges (a port's protocol), so {"containerPort": 80} applied
# is the item {"containerPort": 80, "protocol": "TCP"} it stored.
KEY_DEFAULTS = {"protocol": "TCP"}
SKIPPED_META = ("managedFields", "resourceVersion", "uid", "generation", "creationTimestamp", "selfLink",
                "deletionTimestamp", "deletionGracePeriodSeconds")


# ---- the schema's list and map semantics ------------------------------------------------------------
def _schema_for(api_version: str, kind: str) -> dict[str, Any] | None:
    name = api_openapi.definition_for(api_version, kind)
    return api_openapi.json_schemas()[name] if name else None


def _resolve(s: dict[str, Any] | None) -> dict[str, Any]:
    return api_openapi._resolve(s) if s else {}


def _child(schema: dict[str, Any], key: str) -> dict[str, Any] | None:
    props = schema.get("properties")
    if props is not None and key in props:
        return dict(props[key])
    extra = schema.get("additionalProperties")
    return dict(extra) if isinstance(extra, dict) else None


def _item_key(schema: dict[str, Any], item: Any) -> str | None:
    """The path element of a list item: ``k:{...}`` (map list), ``v:...`` (set), None (atomic list)."""
    kind = schema.get("x-kubernetes-list-type")
    if kind == "map" and isinstance(item, dict):
        keys = schema.get("x-kubernetes-list-map-keys") or []
        values = {k: item[k] if k in item else KEY_DEFAULTS.get(k) for k in keys if k in item or k in KEY_DEFAULTS}
        return "k:" + json.dumps(values, separators=(",", ":"), sort_keys=True)
    if kind == "set":
        return "v:" + json.dumps(item, separators=(",", ":"))
    if "x-kubernetes-patch-merge-key" in schema and isinstance(item, dict):  # strategic-merge keyed lists
        key = schema["x-kubernetes-patch-merge-key"]
        return "k:" + json.dumps({key: item.get(key)}, separators=(",", ":"))
    return None


def leaves(obj: Any, schema: dict[str, Any] | None, prefix: Path = ()) -> dict[Path, Any]:
    """Every owned path of ``obj`` → its value (leaves; keyed items also as ``(..., key, '.')``)."""
    out: dict[Path, Any] = {}
    s = _resolve(schema)
    if isinstance(obj, dict) and s.get("x-kubernetes-map-type") != "atomic" and obj:
        for k, v in obj.items():
            if not prefix and k in ("apiVersion", "kind", "status"):
                continue
            if prefix == ("f:metadata",) and k in (*SKIPPED_META, "name", "namespace"):
                continue
            sub = _child(s, k) if s else None
            out.update(leaves(v, sub, (*prefix, f"f:{k}")))
        return out
    if isinstance(obj, list) and obj:
        items = s.get("items") if isinstance(s.get("items"), dict) else None
        keys = [_item_key(s, item) for item in obj]
        if all(keys):
            for key, item in zip(keys, obj, strict=True):
                out[(*prefix, str(key), ".")] = None
                if str(key).startswith("k:"):
                    out.update(leaves(item, items, (*prefix, str(key))))
            return out
    out[prefix] = obj
    return out


def to_fields_v1(paths: set[Path] | list[Path]) -> Obj:
    root: Obj = {}
    for path in paths:
        node = root
        for part in path:
            node = node.setdefault(part, {})
    return root


def from_fields_v1(tree: Obj, prefix: Path = ()) -> set[Path]:
    out: set[Path] = set()
    for k, v in (tree or {}).items():
        if isinstance(v, dict) and v:
            out |= from_fields_v1(v, (*prefix, k))
        else:
            out.add((*prefix, k))
    return out


def _get(obj: Any, path: Path) -> Any:
    """The value at ``path`` in ``obj`` (a sentinel when absent)."""
    node = obj
    for part in path:
        if part == ".":
            return node
        if part.startswith("f:") and isinstance(node, dict):
            if part[2:] not in node:
                return _MISSING
            node = node[part[2:]]
        elif part.startswith(("k:", "v:")) and isinstance(node, list):
            want = json.loads(part[2:])
            match = [i for i in node if (part[0] == "v" and i == want) or
                     (part[0] == "k" and isinstance(i, dict) and all(i.get(k) == v for k, v in want.items()))]
            if not match:
                return _MISSING
            node = match[0]
        else:
            return _MISSING
    return node


_MISSING = object()


def _path_text(path: Path) -> str:
    text = ""
    for part in path:
        if part == ".":
            continue
        text += "." + part[2:] if part.startswith("f:") else f"[{part[2:]}]" if part.startswith("v:") else \
            "[" + ",".join(f"{k}={json.dumps(v)}" for k, v in json.loads(part[2:]).items()) + "]"
    return text


# ---- managedFields bookkeeping ----------------------------------------------------------------------
def _now() -> str:
    return Clock.timestamp()


def _entries(obj: Obj) -> list[Obj]:
    return [dict(e) for e in (obj.get("metadata") or {}).get("managedFields") or [] if isinstance(e, dict)]


def _set_entries(obj: Obj, entries: list[Obj]) -> None:
    kept = [e for e in entries if e.get("fieldsV1")]
    if kept:
        obj.setdefault("metadata", {})["managedFields"] = kept
    else:
        obj.get("metadata", {}).pop("managedFields", None)


def _entry(manager: str, operation: str, api_version: str, paths: set[Path], subresource: str | None) -> Obj:
    e: Obj = {"manager": manager, "operation": operation, "apiVersion": api_version, "time": _now(),
              "fieldsType": "FieldsV1", "fieldsV1": to_fields_v1(paths)}
    if subresource:
        e["subresource"] = subresource
    return e


def _strip(entries: list[Obj], paths: set[Path], keep: tuple[str, str] | None = None) -> list[Obj]:
    """Take ``paths`` away from every entry (but the one matching (manager, operation) ``keep``)."""
    out = []
    for e in entries:
        if keep and (e.get("manager"), e.get("operation")) == keep:
            out.append(e)
            continue
        owned = from_fields_v1(e.get("fieldsV1") or {})
        left = {p for p in owned if not any(p[:len(q)] == q or q[:len(p)] == p for q in paths)}
        if left != owned:
            e = {**e, "fieldsV1": to_fields_v1(left)}
        out.append(e)
    return out


def default_manager(user_agent: str | None) -> str:
    """Without ``fieldManager``, a write's manager is its User-Agent up to the first ``/`` (kube's rule)."""
    return (user_agent or "unknown").split("/", 1)[0][:128] or "unknown"


def track_update(manager: str, api_version: str, kind: str, new: Obj, old: Obj | None,
                 subresource: str | None = None) -> None:
    """Record a non-apply write in ``new``'s managedFields: the changed fields go to ``manager``."""
    schema = _schema_for(api_version, kind)
    entries = _entries(old) if old is not None else []
    before = leaves(old, schema) if old is not None else {}
    after = leaves(new, schema)
    changed = {p for p, v in after.items() if p not in before or before[p] != v}
    removed = set(before) - set(after)
    entries = _strip(entries, changed | removed)
    if changed:
        mine = [e for e in entries if (e.get("manager"), e.get("operation"), e.get("subresource")) ==
                (manager, "Update", subresource)]
        owned = from_fields_v1(mine[0]["fieldsV1"]) if mine else set()
        entries = [e for e in entries if e not in mine]  # an update's entry moves to the end, with its time
        entries.append(_entry(manager, "Update", api_version, owned | changed, subresource))
    _set_entries(new, entries)


# ---- apply ------------------------------------------------------------------------------------------
def parse_config(raw: bytes) -> Obj:
    """An apply body: YAML (or JSON) of one object."""
    try:
        value = yaml.safe_load(raw.decode("utf-8", "replace")) if raw.strip() else None
    except yaml.YAMLError as e:
        raise bad_request(f"error decoding YAML: {e}") from None
    if not isinstance(value, dict):
        raise bad_request("couldn't get version/kind; json parse error: the apply configuration must be an object")
    return value


def require_manager(manager: str | None) -> str:
    if not manager:
        raise invalid_error("PatchOptions", "meta.k8s.io", "",
                            [FieldError("fieldManager", "Required", None, "is required for apply patch")])
    return manager


def _merge(live: Any, config: Any, schema: dict[str, Any] | None) -> Any:
    s = _resolve(schema)
    if isinstance(live, dict) and isinstance(config, dict) and s.get("x-kubernetes-map-type") != "atomic":
        out = dict(live)
        for k, v in config.items():
            out[k] = _merge(live.get(k), v, _child(s, k) if s else None)
        return out
    if isinstance(live, list) and isinstance(config, list):
        keys_live = [_item_key(s, i) for i in live]
        keys_cfg = [_item_key(s, i) for i in config]
        if all(keys_live) and all(keys_cfg):
            items = s.get("items") if isinstance(s.get("items"), dict) else None
            by_key = dict(zip(keys_live, live, strict=True))
            merged = [_merge(by_key.get(k), item, items) for k, item in zip(keys_cfg, config, strict=True)]
            rest = [i for k, i in zip(keys_live, live, strict=True) if k not in keys_cfg]
            return merged + rest
    return config


def _remove(obj: Obj, path: Path) -> None:
    """Delete the field or keyed item at ``path`` (and a parent left empty by it)."""
    if not path:
        return
    parent = _get(obj, path[:-1]) if len(path) > 1 else obj
    last = path[-1]
    if last == ".":
        _remove(obj, path[:-1])
        return
    if last.startswith("f:") and isinstance(parent, dict):
        parent.pop(last[2:], None)
    elif last.startswith(("k:", "v:")) and isinstance(parent, list):
        want = json.loads(last[2:])
        parent[:] = [i for i in parent if not ((last[0] == "v" and i == want) or (
            last[0] == "k" and isinstance(i, dict) and all(i.get(k) == v for k, v in want.items())))]


def conflict_error(conflicts: list[tuple[str, str, Path]]) -> ApiError:
    """409 as the fieldmanager words it: ``Apply failed with 1 conflict: conflict with "m" using v: .f``."""
    n = len(conflicts)
    if n == 1:
        manager, version, path = conflicts[0]
        message = f'Apply failed with 1 conflict: conflict with "{manager}" using {version}: {_path_text(path)}'
    else:
        lines = [f'conflict with "{m}" using {v}: {_path_text(p)}' for m, v, p in conflicts]
        message = f"Apply failed with {n} conflicts: " + "\n".join(lines)
    causes = [{"reason": "FieldManagerConflict", "message": f'conflict with "{m}" using {v}', "field": _path_text(p)}
              for m, v, p in conflicts]
    return ApiError(409, "Conflict", message, causes=causes)


def apply(manager: str, config: Obj, live: Obj | None, force: bool) -> Obj:
    """The object after ``manager`` applies ``config`` to ``live`` (None: it does not exist yet)."""
    api_version, kind = str(config.get("apiVersion") or ""), str(config.get("kind") or "")
    schema = _schema_for(api_version, kind)
    applied = leaves(config, schema)
    if live is None:
        result = json.loads(json.dumps(config))
        _set_entries(result, [_entry(manager, "Apply", api_version, set(applied), None)])
        return result
    entries = _entries(live)
    conflicts: list[tuple[str, str, Path]] = []
    taken: set[Path] = set()
    for e in entries:
        if (e.get("manager"), e.get("operation")) == (manager, "Apply") or e.get("subresource"):
            continue
        for path in from_fields_v1(e.get("fieldsV1") or {}):
            if path in applied and path[-1] != "." and _get(live, path) != applied[path]:
                conflicts.append((str(e.get("manager")), str(e.get("apiVersion") or api_version), path))
                taken.add(path)
    if conflicts and not force:
        raise conflict_error(sorted(conflicts, key=lambda c: (c[0], _path_text(c[2]))))
    previous = [e for e in entries if (e.get("manager"), e.get("operation")) == (manager, "Apply")]
    before = from_fields_v1(previous[0]["fieldsV1"]) if previous else set()
    others = set().union(*(from_fields_v1(e.get("fieldsV1") or {}) for e in entries
                           if (e.get("manager"), e.get("operation")) != (manager, "Apply")))
    result = json.loads(json.dumps(live))
    for path in sorted(before - set(applied) - others, key=len, reverse=True):
        _remove(result, path)
    meta = result.get("metadata") or {}
    merged = _merge({k: v for k, v in result.items()}, config, schema)
    merged["metadata"] = {**merged.get("metadata", {}), **{k: meta[k] for k in SKIPPED_META if k in meta}}
    wanted_rv = (config.get("metadata") or {}).get("resourceVersion")
    if wanted_rv:  # a precondition, as in an update: a stale one is the store's 409 Conflict
        merged["metadata"]["resourceVersion"] = wanted_rv
    entries = _strip(entries, taken) if force else entries
    _set_entries(merged, _put(entries, _entry(manager, "Apply", api_version, set(applied), None)))
    return merged


def _put(entries: list[Obj], entry: Obj) -> list[Obj]:
    """``entries`` with ``entry`` in place of the same manager's (same operation and subresource); a
    fieldset that did not change keeps its time, so a no-op write leaves managedFields as they were."""
    key = (entry["manager"], entry["operation"], entry.get("subresource"))
    out, placed = [], False
    for e in entries:
        if (e.get("manager"), e.get("operation"), e.get("subresource")) == key:
            if e.get("fieldsV1") == entry["fieldsV1"] and e.get("apiVersion") == entry["apiVersion"]:
                entry = {**entry, "time": e.get("time", entry["time"])}
            if not placed:
                out.append(entry)
                placed = True
            continue
        out.append(e)
    if not placed:
        out.append(entry)
    return out


# Request key: this write is a server-side apply (its managedFields entry is made already).
APPLYING: Any = web.RequestKey("sandbox_applying", bool) if hasattr(web, "RequestKey") else "sandbox_applying"


def record_write(request: Any, api_version: str, kind: str, new: Obj, old: Obj | None,
                 subresource: str | None = None) -> None:
    """The API's hook before a create or update is stored: ownership of what this request changed."""
    if request.get(APPLYING):
        return
    manager = request.query.get("fieldManager") or default_manager(request.headers.get("User-Agent"))
    track_update(manager, api_version, kind, new, old, subresource)
