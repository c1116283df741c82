"""The three PATCH kinds the API server accepts: JSON merge patch, JSON patch and strategic merge patch.

Strategic merge patch is what kubectl (``set image``, ``rollout pause/restart``) and the python
client (any dict body) send. It differs from a merge patch in lists: lists of containers, env,
ports, volumes... are merged element by element on a merge key instead of being replaced, and a
few ``$`` directives steer the merge. Only the fields that workloads, HPAs and pods use are known
here; every other list is replaced, as for a list without a patch strategy in the real API.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import jsonpatch
import jsonpointer

from .api_decode import depth_of, entity_too_large
from .errors import ApiError, bad_request
from .limits import MAX_BODY_BYTES, MAX_DEPTH, MAX_JSON_PATCH_OPS

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
PATCH_TYPES = (JSON_PATCH, MERGE_PATCH, STRATEGIC_MERGE_PATCH)

# Field name → merge key, for lists merged element by element (Kubernetes' patchMergeKey tags).
_MERGE_KEYS: dict[str, str] = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "imagePullSecrets": "name",
    "hostAliases": "ip",
    "conditions": "type",
    "ownerReferences": "uid",
    "resourceClaims": "name",
    "topologySpreadConstraints": "topologyKey",
    "ports": "containerPort",  # a Service's ports merge on "port": see _merge_key
}
# Lists of scalars merged as sets (patchStrategy "merge" on a primitive list).
_MERGED_SCALAR_LISTS = frozenset({"finalizers"})


def unsupported_media_type(content_type: str) -> ApiError:
    return ApiError(
        415, "UnsupportedMediaType",
        f"the body of the request was in an unknown format - accepted media types include: "
        f"{', '.join(PATCH_TYPES)} (got {content_type or 'none'})",
    )


def apply_patch(content_type: str, original: dict[str, Any], patch: Any) -> dict[str, Any]:
    """Apply a decoded patch body of the given media type to a copy of ``original``."""
    media = content_type.split(";", 1)[0].strip().lower()
    if media == JSON_PATCH:
        return json_patch(original, patch)
    if media == MERGE_PATCH:
        if not isinstance(patch, dict):
            raise bad_request("a merge patch must be a JSON object")
        return merge_patch(original, patch)
    if media == STRATEGIC_MERGE_PATCH:
        if not isinstance(patch, dict):
            raise bad_request("a strategic merge patch must be a JSON object")
        return strategic_merge_patch(original, patch)
    raise unsupported_media_type(media)


# ---- RFC 7386 JSON merge patch ----------------------------------------------------------------------
def merge_patch(original: Any, patch: Any) -> Any:
    """RFC 7386: objects merge recursively, null deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(original) if isinstance(original, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


# ---- RFC 6902 JSON patch ----------------------------------------------------------------------------
_OPERATIONS = ("add", "remove", "replace", "move", "copy", "test")


def _rejected(message: str) -> ApiError:
    """kube-apiserver's answer to a JSON patch that does not apply (422, GenericServerResponse)."""
    return ApiError(422, "Invalid", f"the server rejected our request due to an error in our request: {message}")


def _pointer_depth(path: str) -> int:
    return path.count("/")


def _check_operation(op: Any) -> dict[str, Any]:
    """One operation's shape, checked before it runs (evanphx/json-patch's errors, as kube sends them)."""
    if not isinstance(op, dict):
        raise bad_request(f"json: cannot unmarshal {_json_word(op)} into Go value of type jsonpatch.Operation")
    kind = op.get("op")
    if kind not in _OPERATIONS:
        raise _rejected(f"Unexpected kind: {kind if isinstance(kind, str) else json.dumps(kind)}")
    if not isinstance(op.get("path"), str):
        raise _rejected(f"{kind} operation: missing or invalid path")
    if kind in ("move", "copy") and not isinstance(op.get("from"), str):
        raise _rejected(f"{kind} operation: missing or invalid from")
    if kind in ("add", "replace", "test") and "value" not in op:
        raise _rejected(f"{kind} operation does not apply: missing value")
    return op


def _json_word(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    return {dict: "object", list: "array", str: "string"}.get(type(value), "number")


def json_patch(original: dict[str, Any], ops: Any) -> dict[str, Any]:
    """RFC 6902 operations; a failing operation answers 422 as the API server does.

    Limits as kube-apiserver's: at most 10,000 operations (413), ``copy`` may not copy more than 3 MiB in
    all (evanphx/json-patch's AccumulatedCopySizeLimit, which kube sets), and no operation may nest the
    document deeper than the parser would have accepted (a self-copy doubles the depth each time)."""
    if not isinstance(ops, list):
        raise bad_request(f"json: cannot unmarshal {_json_word(ops)} into Go value of type jsonpatch.Patch")
    if len(ops) > MAX_JSON_PATCH_OPS:
        raise entity_too_large(f"The allowed maximum operations in a JSON patch is {MAX_JSON_PATCH_OPS}, "
                               f"got {len(ops)}")
    checked = [_check_operation(op) for op in ops]
    copied = 0
    try:
        result: Any = copy.deepcopy(original)
        for op in checked:
            if op["op"] in ("copy", "move"):
                moved = jsonpointer.resolve_pointer(result, op["from"])
                if op["op"] == "copy":
                    copied += len(json.dumps(moved))
                    if copied > MAX_BODY_BYTES:
                        raise _rejected(f"Unable to copy {op['from']} to {op['path']}: would exceed the accumulated "
                                        f"copy size limit {MAX_BODY_BYTES}")
                if _pointer_depth(op["path"]) + depth_of(moved) > MAX_DEPTH:
                    raise _rejected(f"{op['op']} to {op['path']} would nest the object deeper than {MAX_DEPTH} levels")
            elif op["op"] in ("add", "replace") and _pointer_depth(op["path"]) + depth_of(op["value"]) > MAX_DEPTH:
                raise _rejected(f"{op['op']} at {op['path']} would nest the object deeper than {MAX_DEPTH} levels")
            try:
                result = jsonpatch.apply_patch(result, [op], in_place=True)
            except jsonpatch.JsonPatchConflict:
                # kube-apiserver's json-patch (evanphx v4) lets "replace" create a missing object key;
                # kubectl rollout undo relies on it for /metadata/annotations.
                if op["op"] != "replace":
                    raise
                result = jsonpatch.apply_patch(result, [{**op, "op": "add"}], in_place=True)
    except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException, KeyError, IndexError,
            TypeError, ValueError) as e:
        raise _rejected(str(e)) from None
    if not isinstance(result, dict):
        raise ApiError(422, "Invalid", "the patched document is not an object")
    return result


# ---- strategic merge patch --------------------------------------------------------------------------
def strategic_merge_patch(original: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """Kubernetes' strategic merge patch for the fields workloads use (see the module docstring)."""
    result = _merge_map(original, patch, ())
    return result if isinstance(result, dict) else {}


_DELETE = object()  # a map patched with {"$patch": "delete"}


def _merge_key(field: str, path: tuple[str, ...]) -> str | None:
    if field == "ports" and "containers" not in path and "initContainers" not in path:
        return "port"  # a Service's ports
    return _MERGE_KEYS.get(field)


def _strip_directives(value: Any) -> Any:
    """A patch value that lands where nothing was before: drop the $-directives it carries."""
    if isinstance(value, dict):
        return {k: _strip_directives(v) for k, v in value.items()
                if not k.startswith("$") and v is not None}
    if isinstance(value, list):
        return [_strip_directives(v) for v in value
                if not (isinstance(v, dict) and v.get("$patch") == "delete")]
    return value


def _merge_map(original: Any, patch: dict[str, Any], path: tuple[str, ...]) -> Any:
    directive = patch.get("$patch")
    if directive == "delete":
        return _DELETE
    if directive == "replace":
        return _strip_directives({k: v for k, v in patch.items() if k != "$patch"})
    if directive not in (None, "merge"):
        raise bad_request(f"unknown patch type {directive!r} in $patch directive")
    result: dict[str, Any] = copy.deepcopy(original) if isinstance(original, dict) else {}
    orders: dict[str, list[Any]] = {}
    for key, value in patch.items():
        if key.startswith("$setElementOrder/"):
            if isinstance(value, list):
                orders[key.split("/", 1)[1]] = value
            continue
        if key.startswith("$deleteFromPrimitiveList/"):
            field = key.split("/", 1)[1]
            if isinstance(result.get(field), list) and isinstance(value, list):
                result[field] = _without(result[field], value)
            continue
        if key.startswith("$"):
            continue  # $patch, $retainKeys handled around the loop; unknown directives ignored
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict):
            merged = _merge_map(result.get(key), value, (*path, key))
            if merged is _DELETE:
                result.pop(key, None)
            else:
                result[key] = merged
        elif isinstance(value, list):
            result[key] = _merge_list(result.get(key), value, key, (*path, key))
        else:
            result[key] = copy.deepcopy(value)
    for field, order in orders.items():
        if isinstance(result.get(field), list):
            result[field] = _reorder(result[field], order, _merge_key(field, (*path, field)))
    retain = patch.get("$retainKeys")
    if isinstance(retain, list):
        result = {k: v for k, v in result.items() if k in retain}
    return result


def _ident(value: Any) -> Any:
    """A hashable stand-in for a JSON value (list lookups in O(1), not O(n) per item)."""
    try:
        hash(value)
    except TypeError:
        return ("json", json.dumps(value, sort_keys=True))
    return (type(value).__name__, value)  # 1, 1.0 and True stay apart, as they are in JSON


def _without(items: list[Any], doomed: list[Any]) -> list[Any]:
    gone = {_ident(v) for v in doomed}
    return [v for v in items if _ident(v) not in gone]


def _merge_list(original: Any, patch: list[Any], field: str, path: tuple[str, ...]) -> list[Any]:
    if field in _MERGED_SCALAR_LISTS and isinstance(original, list):
        return original + _without(patch, original)
    key = _merge_key(field, path)
    if key is None or not isinstance(original, list) or not all(isinstance(p, dict) for p in patch):
        return _strip_directives(patch)
    if any(p.get("$patch") == "replace" for p in patch):
        return _strip_directives([p for p in patch if p.get("$patch") != "replace"])
    result: list[Any] = copy.deepcopy(original)
    where: dict[Any, int] = {}  # merge key → index of the first element carrying it
    for i, o in enumerate(result):
        if isinstance(o, dict) and key in o:
            where.setdefault(_ident(o[key]), i)
    for item in patch:
        ident = _ident(item[key]) if key in item else None
        idx = where.get(ident) if ident is not None else None
        if item.get("$patch") == "delete":
            if idx is not None:
                result[idx] = _DELETE
                del where[ident]
        elif idx is None:
            result.append(_strip_directives(item))
            if ident is not None:
                where[ident] = len(result) - 1
        else:
            merged = _merge_map(result[idx], item, path)
            result[idx] = merged
            if merged is _DELETE:
                del where[ident]
    return [o for o in result if o is not _DELETE]


def _reorder(items: list[Any], order: list[Any], key: str | None) -> list[Any]:
    """Apply a ``$setElementOrder`` list: listed items first in that order, the rest after."""
    def ident(item: Any) -> Any:
        return _ident(item.get(key) if key and isinstance(item, dict) else item)

    wanted: dict[Any, int] = {}
    for n, o in enumerate(order):
        wanted.setdefault(ident(o), n)
    ranked = [(wanted.get(ident(i), len(order)), n, i) for n, i in enumerate(items)]
    return [i for _, _, i in sorted(ranked, key=lambda t: (t[0], t[1]))]
