"""The three PATCH kinds the API server accepts: JSON merge patch, JSON patch and strategic merge patch.

Strategic merge patch is what kubectl (``set image``, ``rollout pause/restart``) and the python
client (any dict body) send. It differs from a merge patch in lists: lists of containers, env,
ports, volumes... are merged element by element on a merge key instead of being replaced, and a
few ``$`` directives steer the merge. Only the fields that workloads, HPAs and pods use are known
here; every other list is replaced, as for a list without a patch strategy in the real API.
"""

from __future__ import annotations

import copy
from typing import Any

import jsonpatch
import jsonpointer

from .errors import ApiError, bad_request

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
def json_patch(original: dict[str, Any], ops: Any) -> dict[str, Any]:
    """RFC 6902 operations; a failing operation answers 422 as the API server does."""
    if not isinstance(ops, list):
        raise bad_request("a JSON patch must be a list of operations")
    try:
        result: Any = copy.deepcopy(original)
        for op in ops:
            try:
                result = jsonpatch.apply_patch(result, [op], in_place=True)
            except jsonpatch.JsonPatchConflict:
                # kube-apiserver's json-patch (evanphx v4) lets "replace" create a missing object key;
                # kubectl rollout undo relies on it for /metadata/annotations.
                if not (isinstance(op, dict) and op.get("op") == "replace"):
                    raise
                result = jsonpatch.apply_patch(result, [{**op, "op": "add"}], in_place=True)
    except jsonpatch.InvalidJsonPatch as e:
        raise bad_request(f"invalid JSON patch: {e}") from None
    except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException, KeyError, IndexError,
            TypeError) as e:
        raise ApiError(422, "Invalid", f"the server rejected our request due to an error in our request: {e}"
                       ) from None
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
                result[field] = [v for v in result[field] if v not in value]
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


def _merge_list(original: Any, patch: list[Any], field: str, path: tuple[str, ...]) -> list[Any]:
    if field in _MERGED_SCALAR_LISTS and isinstance(original, list):
        return original + [v for v in patch if v not in original]
    key = _merge_key(field, path)
    if key is None or not isinstance(original, list) or not all(isinstance(p, dict) for p in patch):
        return _strip_directives(patch)
    if any(p.get("$patch") == "replace" for p in patch):
        return _strip_directives([p for p in patch if p.get("$patch") != "replace"])
    result = copy.deepcopy(original)
    for item in patch:
        idx = next((i for i, o in enumerate(result) if isinstance(o, dict) and key in item
                    and o.get(key) == item[key]), None)
        if item.get("$patch") == "delete":
            if idx is not None:
                del result[idx]
        elif idx is None:
            result.append(_strip_directives(item))
        else:
            merged = _merge_map(result[idx], item, path)
            if merged is _DELETE:
                del result[idx]
            else:
                result[idx] = merged
    return result


def _reorder(items: list[Any], order: list[Any], key: str | None) -> list[Any]:
    """Apply a ``$setElementOrder`` list: listed items first in that order, the rest after."""
    def ident(item: Any) -> Any:
        return item.get(key) if key and isinstance(item, dict) else item

    wanted = [ident(o) for o in order]
    ranked = [(wanted.index(ident(i)) if ident(i) in wanted else len(wanted), n, i) for n, i in enumerate(items)]
    return [i for _, _, i in sorted(ranked, key=lambda t: (t[0], t[1]))]
