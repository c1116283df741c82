"""The resource verbs: get, list, create, update, patch, delete(collection), and the subresources
``status``, ``scale``, ``log``, ``eviction`` (pods) and ``token`` (service accounts) — request in, store
call, kube-shaped answer out. A resource served in a version other than its storage version
(autoscaling/v1 HPAs, events.k8s.io/v1 Events) is converted on the way in and out (conversion.py).

Every write follows kube-apiserver's order: decode → default → admission (namespace exists) →
validate → store (AlreadyExists / Conflict), and honours ``dryRun=All`` by asking the store to
compute the result without committing it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from . import api_policy, schema
from .admission import admit_create
from .api_decode import (
    check_type_meta,
    decode_object,
    decode_options,
    decode_patched,
    decode_scale,
    decode_typed,
    patch_invalid,
)
from .api_decode import read_json as read_json
from .api_defaults import apply_defaults, default_update, initial_status
from .api_eviction import evict
from .api_validate import invalid_error, replicas_errors, validate
from .api_watch import serve_logs, serve_watch
from .apply import record_write
from .context import SandboxContext
from .conversion import field_selector, served_schema, to_served, to_storage
from .errors import ApiError, bad_request, not_found
from .patch import APPLY_PATCH, PATCH_TYPES, apply_patch, unsupported_media_type
from .resources import ResourceType, storage_of
from .selectors import selector_to_string
from .store import copy_object, random_suffix
from .table import table, wants_table

Obj = dict[str, Any]
# kube-apiserver answers DELETE with the object for these (ReturnDeletedObject), a Status otherwise.
RETURNS_DELETED_OBJECT = frozenset({"pods", "services", "persistentvolumeclaims"})


@dataclass(frozen=True)
class Target:
    """What a resource URL names: a collection, one object, or one object's subresource."""

    rt: ResourceType
    namespace: str | None
    name: str | None = None
    subresource: str | None = None


def json_response(body: Any, status: int = 200) -> web.Response:
    return web.Response(body=json.dumps(body, separators=(",", ":")).encode(), status=status,
                        content_type="application/json")


async def read_object(request: web.Request) -> Obj:
    """A body that must be a JSON object (anything else is the serializer's 400)."""
    return check_type_meta(await read_json(request))


def is_dry_run(request: web.Request, body: Obj | None = None) -> bool:
    """``dryRun=All`` (query, or a DeleteOptions body); any other value is a 400."""
    values = list(request.query.getall("dryRun", []))
    if body and isinstance(body.get("dryRun"), list):
        values += body["dryRun"]
    bad = [v for v in values if v != "All"]
    if bad:
        raise bad_request(f'dryRun: Unsupported value: "{bad[0]}": supported values: "All"')
    return bool(values)


def _table_include(request: web.Request) -> str | None:
    if not wants_table(request.headers.get("Accept")):
        return None
    include = request.query.get("includeObject") or "Metadata"
    if include not in ("None", "Metadata", "Object"):
        raise bad_request(f"includeObject: Unsupported value: {include!r}")
    return include


def served_table(rt: ResourceType, objects: list[Obj], meta: Obj, include: str) -> Obj:
    """A Table of stored objects (the printers read the storage version), embedded objects as served."""
    body = table(rt.plural, objects, meta, include)
    if rt.is_view and include == "Object":
        for row in body["rows"]:
            row["object"] = to_served(rt, row["object"])
    return body


def _object_response(request: web.Request, rt: ResourceType, obj: Obj, status: int = 200) -> web.Response:
    include = _table_include(request)
    if include is not None:
        meta = {"resourceVersion": obj["metadata"].get("resourceVersion")}
        return json_response(served_table(rt, [obj], meta, include), status)
    return json_response(to_served(rt, obj), status)


# ---- reads ------------------------------------------------------------------------------------------
def list_objects(request: web.Request, ctx: SandboxContext, target: Target) -> web.Response:
    """A page of a list (``limit``/``continue``: Store.list_page), serialized once over the stored dicts."""
    rt, q = target.rt, request.query
    try:
        limit = int(q.get("limit") or 0)
    except ValueError:
        raise bad_request("limit must be an integer") from None
    page, meta = ctx.store.list_page(rt.plural, target.namespace, q.get("labelSelector"),
                                     field_selector(rt, q.get("fieldSelector")), limit=limit,
                                     continue_token=q.get("continue"), resource_version=q.get("resourceVersion") or "",
                                     match=q.get("resourceVersionMatch") or "")
    include = _table_include(request)
    if include is not None:
        return json_response(served_table(rt, page, meta, include))
    if rt.is_view:
        page = [to_served(rt, obj) for obj in page]
    head = json.dumps({"kind": f"{rt.kind}List", "apiVersion": rt.api_version, "metadata": meta},
                      separators=(",", ":"))
    body = head[:-1] + ',"items":' + json.dumps(page, separators=(",", ":")) + "}"
    return web.Response(body=body.encode(), content_type="application/json")


# ---- writes -----------------------------------------------------------------------------------------
def _check_identity(rt: ResourceType, body: Obj, target: Target) -> None:
    """Namespace and name of a decoded body against the URL (kind and version were checked decoding it)."""
    meta = body.setdefault("metadata", {})
    if rt.namespaced:
        if meta.get("namespace") and meta["namespace"] != target.namespace:
            raise bad_request("the namespace of the provided object does not match the namespace sent on the "
                              "request")
        meta["namespace"] = target.namespace
    if target.name is not None and meta.get("name") and meta["name"] != target.name:
        raise bad_request(f"the name of the object ({meta['name']}) does not match the name on the URL "
                          f"({target.name})")
    if target.name is not None:
        meta["name"] = target.name


def decode_served(rt: ResourceType, body: Obj) -> Obj:
    """A create/update body for ``rt``, decoded; a view's body is decoded as its version, then converted."""
    if not rt.is_view:
        return decode_object(rt, body)
    check_type_meta(body)
    api_version, kind = body.get("apiVersion") or rt.api_version, body.get("kind") or rt.kind
    if api_version != rt.api_version:
        raise bad_request(f"the API version in the data ({api_version}) does not match the expected API version "
                          f"({rt.api_version})")
    if kind != rt.kind:
        raise bad_request(f"the kind in the data ({kind}) does not match the expected kind ({rt.kind})")
    served = decode_typed(served_schema(rt), body, rt.kind, rt.api_version)
    return decode_object(storage_of(rt), to_storage(rt, served))


def create(request: web.Request, ctx: SandboxContext, target: Target, body: Obj) -> web.Response:
    rt = target.rt
    dry_run = is_dry_run(request)
    body = decode_served(rt, body)
    _check_identity(rt, body, target)
    meta = body["metadata"]
    if not meta.get("name") and meta.get("generateName"):
        meta["name"] = meta["generateName"][:58] + random_suffix()  # named before validation, as the registry does
    apply_defaults(rt.plural, body)
    if "status" in rt.subresources:
        status = initial_status(rt.plural, body)
        if status is not None:
            body["status"] = status
    if rt.plural == "horizontalpodautoscalers":
        body["status"] = {"desiredReplicas": 0, "currentMetrics": None}  # what the v2 strategy leaves
    api_policy.prepare(rt, body, None)
    if rt.namespaced and ctx.store.try_get("namespaces", None, body["metadata"]["namespace"]) is None:
        raise not_found("namespaces", body["metadata"]["namespace"])
    validate(rt, body, None)
    _validate_more(rt, body, None)
    admit_create(ctx, rt.plural, body)
    record_write(request, rt.api_version, rt.kind, body, None)
    return _object_response(request, rt, ctx.store.create(rt.plural, body, dry_run=dry_run), 201)


def _commit_update(request: web.Request, ctx: SandboxContext, target: Target, new: Obj, old: Obj) -> Obj:
    """Store an updated object (main resource or ``status``) after the API server's rules."""
    rt = target.rt
    dry_run = is_dry_run(request)
    if target.subresource == "status":
        status = new.get("status")
        rv = new["metadata"].get("resourceVersion")
        new = copy_object(old)  # a status write changes only .status
        new["status"] = status if isinstance(status, dict) else {}
        if rv:
            new["metadata"]["resourceVersion"] = rv
    else:
        if "status" in rt.subresources:
            new.pop("status", None)  # a main-resource write leaves .status as it is
            if "status" in old:
                new["status"] = old["status"]
        default_update(rt.plural, new, old)
        api_policy.prepare(rt, new, old)
        validate(rt, new, old)
        _validate_more(rt, new, old)
    record_write(request, rt.api_version, rt.kind, new, old, target.subresource)
    # The Deployment strategy bumps generation for annotation changes too (a write of the main resource;
    # the deployment controller writes its revision annotations through /status, which does not).
    annotations_changed = (new.get("metadata") or {}).get("annotations") != old["metadata"].get("annotations")
    bump = target.subresource is None and rt.generation == "spec+annotations" and annotations_changed
    return ctx.store.replace(rt.plural, new, dry_run=dry_run, bump_generation=bump)


def _validate_more(rt: ResourceType, obj: Obj, old: Obj | None) -> None:
    errors = api_policy.errors(rt, obj, old)
    if errors:
        raise invalid_error(rt.kind, rt.group, (obj.get("metadata") or {}).get("name") or "", errors)


def replace(request: web.Request, ctx: SandboxContext, target: Target, body: Obj) -> web.Response:
    body = decode_served(target.rt, body)
    _check_identity(target.rt, body, target)
    old = ctx.store.get(target.rt.plural, target.namespace, target.name or "")
    return _object_response(request, target.rt, _commit_update(request, ctx, target, body, old))


def patch_content_type(request: web.Request) -> str:
    media = (request.content_type or "").lower()
    if media not in PATCH_TYPES:
        if media == APPLY_PATCH:
            raise ApiError(415, "UnsupportedMediaType", "server-side apply is not supported by the sandbox")
        raise unsupported_media_type(media)
    return media


def patch(request: web.Request, ctx: SandboxContext, target: Target, body: Any, media: str) -> web.Response:
    rt = target.rt
    old = ctx.store.get(rt.plural, target.namespace, target.name or "")
    if rt.is_view:
        applied = apply_patch(media, copy_object(to_served(rt, old)), body)
        try:
            patched = to_storage(rt, decode_typed(served_schema(rt), applied, rt.kind, rt.api_version))
        except ApiError as e:
            raise patch_invalid(body, e.message) from None
        patched = decode_patched(storage_of(rt), patched, body)
    else:
        patched = decode_patched(rt, apply_patch(media, copy_object(old), body), body)
    meta = patched.get("metadata")
    if not isinstance(meta, dict) or meta.get("name") != old["metadata"]["name"]:
        raise bad_request("a patch may not change metadata.name")
    if rt.namespaced:
        meta["namespace"] = old["metadata"]["namespace"]
    return _object_response(request, rt, _commit_update(request, ctx, target, patched, old))


def _delete_status(rt: ResourceType, obj: Obj) -> Obj:
    details = {"name": obj["metadata"]["name"], "kind": rt.plural, "uid": obj["metadata"].get("uid")}
    if rt.group:
        details["group"] = rt.group
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details}


def delete(request: web.Request, ctx: SandboxContext, target: Target, options: Obj | None) -> web.Response:
    """Delete (cascading, as the garbage collector would); answers a ``Status`` of kind Success, or the
    deleted object for the resources whose real storage returns it (the python client expects a V1Pod)."""
    rt = target.rt
    dry_run = is_dry_run(request, options)
    old = ctx.store.get(rt.plural, target.namespace, target.name or "")
    pre = (options or {}).get("preconditions") or {}
    for field, label in (("uid", "UID"), ("resourceVersion", "ResourceVersion")):
        have = old["metadata"].get(field)
        if pre.get(field) and pre[field] != have:
            qualified = f"{rt.plural}.{rt.group}" if rt.group else rt.plural
            raise ApiError(409, "Conflict", f'Operation cannot be fulfilled on {qualified} "{target.name}": '
                           f"Precondition failed: {label} in precondition: {pre[field]}, {label} in object "
                           f"meta: {have}", kind=rt.plural, name=target.name, group=rt.group or None)
    grace = request.query.get("gracePeriodSeconds", (options or {}).get("gracePeriodSeconds"))
    if rt.plural == "pods" and not dry_run and str(grace) != "0" and (old.get("spec") or {}).get("nodeName"):
        # A bound pod terminates first (Terminating, deletionTimestamp); the kubelet removes it.
        from .controllers.pods import graceful_delete

        graceful_delete(ctx, old)
        return json_response(ctx.store.get("pods", target.namespace, target.name or ""))
    gone_obj = ctx.store.delete(rt.plural, target.namespace, target.name or "", dry_run=dry_run)
    if rt.plural in RETURNS_DELETED_OBJECT:
        return json_response(gone_obj)
    return json_response(_delete_status(rt, gone_obj))


def delete_collection(request: web.Request, ctx: SandboxContext, target: Target, options: Obj | None
                      ) -> web.Response:
    rt, q = target.rt, request.query
    dry_run = is_dry_run(request, options)
    doomed = ctx.store.list(rt.plural, target.namespace, q.get("labelSelector"),
                            field_selector(rt, q.get("fieldSelector")))
    for obj in doomed:
        meta = obj["metadata"]
        if ctx.store.try_get(rt.plural, meta.get("namespace"), meta["name"]) is not None:  # not cascaded away
            ctx.store.delete(rt.plural, meta.get("namespace"), meta["name"], dry_run=dry_run)
    return json_response({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"})


# ---- scale ------------------------------------------------------------------------------------------
def to_scale(obj: Obj) -> Obj:
    """The ``autoscaling/v1 Scale`` view of a Deployment or ReplicaSet."""
    meta = obj["metadata"]
    return {
        "kind": "Scale", "apiVersion": "autoscaling/v1",
        "metadata": {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
                     if k in meta},
        "spec": {"replicas": (obj.get("spec") or {}).get("replicas", 0)},
        "status": {"replicas": (obj.get("status") or {}).get("replicas", 0),
                   "selector": selector_to_string((obj.get("spec") or {}).get("selector"))},
    }


def _scale_parent(ctx: SandboxContext, target: Target) -> Obj:
    rt = target.rt
    obj = ctx.store.try_get(rt.plural, target.namespace, target.name or "")
    if obj is None:
        raise not_found(f"{rt.plural}/scale", target.name or "", rt.group)
    return obj


def _apply_scale(request: web.Request, ctx: SandboxContext, target: Target, scale: Obj, old: Obj
                 ) -> web.Response:
    name = target.name or ""
    meta = scale.get("metadata") or {}
    if meta.get("name") and meta["name"] != name:
        raise bad_request(f"the name of the object ({meta['name']}) does not match the name on the URL ({name})")
    replicas = (scale.get("spec") or {}).get("replicas", 0)
    errors = replicas_errors(replicas)
    if errors:
        raise invalid_error("Scale", "autoscaling", name, errors)
    new = copy_object(old)
    new.setdefault("spec", {})["replicas"] = replicas
    new["metadata"]["resourceVersion"] = meta.get("resourceVersion") or old["metadata"]["resourceVersion"]
    record_write(request, target.rt.api_version, target.rt.kind, new, old, "scale")
    result = ctx.store.replace(target.rt.plural, new, dry_run=is_dry_run(request))
    return json_response(to_scale(result))


async def handle_scale(request: web.Request, ctx: SandboxContext, target: Target) -> web.Response:
    old = _scale_parent(ctx, target)
    if request.method == "GET":
        return json_response(to_scale(old))
    if request.method == "PUT":
        return _apply_scale(request, ctx, target, decode_scale(await read_json(request)), old)
    if request.method == "PATCH":
        media = patch_content_type(request)
        body = await read_json(request)
        patched = decode_patched(target.rt, apply_patch(media, to_scale(old), body), body, kind="Scale",
                                 t=schema.SCALE)
        return _apply_scale(request, ctx, target, patched, old)
    raise method_not_allowed()


def method_not_allowed() -> ApiError:
    return ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")


# ---- dispatch ---------------------------------------------------------------------------------------
async def handle(request: web.Request, ctx: SandboxContext, target: Target, verb: str) -> web.StreamResponse:
    """Run ``verb`` (already authorized) on ``target``."""
    rt, method = target.rt, request.method
    if target.subresource == "scale":
        return await handle_scale(request, ctx, target)
    if target.subresource == "log":
        if method != "GET":
            raise method_not_allowed()
        return await serve_logs(request, ctx, target.namespace or "", target.name or "")
    if target.subresource == "eviction":
        if method != "POST":
            raise method_not_allowed()
        result, code = evict(ctx, target.namespace or "", target.name or "", await read_json(request),
                             is_dry_run(request))
        return json_response(result, code)
    if verb == "watch":
        return await serve_watch(request, ctx, rt, target.namespace, _table_include(request))
    if verb == "list":
        return list_objects(request, ctx, target)
    if verb == "get":
        return _object_response(request, rt, ctx.store.get(rt.plural, target.namespace, target.name or ""))
    if verb == "create":
        return create(request, ctx, target, await read_object(request))
    if verb == "update":
        return replace(request, ctx, target, await read_object(request))
    if verb == "patch":
        media = patch_content_type(request)
        return patch(request, ctx, target, await read_json(request), media)
    if verb in ("delete", "deletecollection"):
        options = decode_options(await read_json(request))
        if verb == "delete":
            return delete(request, ctx, target, options)
        return delete_collection(request, ctx, target, options)
    raise method_not_allowed()
