"""The sandbox's HTTP face: the Kubernetes REST API (as kubectl and the official clients speak it).

``make_app`` wires routing, authentication, authorization and ``Status`` errors; the verbs live in
api_resources, streams in api_watch, defaulting in api_defaults, validation in api_validate, discovery documents in
api_discovery. Everything runs on the app's loop, the only place the (not thread-safe) store is
touched. Nothing here simulates: controllers change the cluster, the API only reads and writes.

Health and ``/version`` answer without a token (kube's ``system:public-info-viewer``); every other
path needs a bearer token. Tokens are never logged: aiohttp's access log prints no headers.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from . import api_discovery as discovery
from . import api_openapi, api_proxy
from . import api_resources as resources_api
from . import apply as ssa
from .api_decode import (
    MAX_BODY_BYTES,
    check_type_meta,
    decode_patched,
    decode_review,
    entity_too_large,
    read_body,
    too_deep,
)
from .api_identity import self_subject_review, token_request
from .api_resources import Target, handle, json_response, method_not_allowed, read_json, read_object
from .api_watch import STREAMS, close_streams, validate_list_options
from .auth import SANDBOX_GROUP, Authenticator, User, forbidden, unauthorized
from .context import SandboxContext
from .errors import ApiError, bad_request
from .patch import APPLY_PATCH
from .resources import lookup

log = logging.getLogger(__name__)

CTX: web.AppKey[SandboxContext] = web.AppKey("sandbox_ctx", SandboxContext)
AUTH: web.AppKey[Authenticator] = web.AppKey("sandbox_auth", Authenticator)
# Request key of the authenticated User (typed keys exist from aiohttp 3.14; a str key before).
USER: Any = web.RequestKey("sandbox_user", User) if hasattr(web, "RequestKey") else "sandbox_user"
PUBLIC_PATHS = frozenset({"/healthz", "/readyz", "/livez", "/version", "/version/"})
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def not_found_path() -> ApiError:
    return ApiError(404, "NotFound", "the server could not find the requested resource")


def status_response(err: ApiError) -> web.Response:
    return json_response(err.status(), err.code)


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every failure becomes a ``kind: Status`` body with the right code."""
    try:
        return await handler(request)
    except ApiError as e:
        return status_response(e)
    except web.HTTPRequestEntityTooLarge:
        return status_response(entity_too_large())
    except RecursionError:  # only input nested deeper than the limits let through could get here
        log.warning("sandbox API: recursion limit on %s %s", request.method, request.path)
        return status_response(too_deep())
    except web.HTTPNotFound:
        return status_response(not_found_path())
    except web.HTTPMethodNotAllowed:
        return status_response(method_not_allowed())
    except web.HTTPException as e:  # anything else aiohttp itself raises, still as a Status
        return status_response(ApiError(e.status, e.reason.replace(" ", ""), e.text or e.reason))
    except Exception:
        log.exception("sandbox API: unhandled error on %s %s", request.method, request.path)
        return status_response(ApiError(500, "InternalError", "an internal error occurred in the sandbox"))


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Bearer token → user (401 without one); authorization happens per route, knowing the verb."""
    if request.path in PUBLIC_PATHS:
        return await handler(request)
    user = request.app[AUTH].authenticate(request.headers.get("Authorization"))
    if user is None:
        raise unauthorized()
    request[USER] = user
    return await handler(request)


# ---- discovery, health ------------------------------------------------------------------------------
async def health(request: web.Request) -> web.Response:
    return web.Response(text="ok", content_type="text/plain")


async def version(request: web.Request) -> web.Response:
    return json_response(discovery.version())


async def core_versions(request: web.Request) -> web.Response:
    host = request.host or "127.0.0.1"
    return json_response(discovery.api_versions(host))


async def group_list(request: web.Request) -> web.Response:
    return json_response(discovery.api_group_list())


async def openapi_v2(request: web.Request) -> web.Response:
    """JSON, or gnostic protobuf for the clients that ask for it (kubectl ≤ 1.26)."""
    if api_openapi.PROTO_V2 in request.headers.get("Accept", ""):
        return web.Response(body=api_openapi.v2_protobuf(), content_type="application/octet-stream")
    return web.Response(body=api_openapi.v2_json(), content_type="application/json")


async def openapi_v3(request: web.Request) -> web.Response:
    tail = request.match_info.get("tail", "").strip("/")
    if not tail:
        return json_response(api_openapi.v3_root())
    doc = api_openapi.v3(tail)
    if doc is None:
        raise not_found_path()
    return json_response(doc)


# ---- resources --------------------------------------------------------------------------------------
def resolve(group: str, version: str, parts: list[str]) -> Target | None:
    """Map the path segments after ``/api/v1`` or ``/apis/<g>/<v>`` to a resource target."""
    namespace = None
    if len(parts) >= 3 and parts[0] == "namespaces":
        rt = lookup(group, version, parts[2])
        if rt is not None and rt.namespaced:
            namespace, parts = parts[1], parts[2:]
    rt = lookup(group, version, parts[0]) if parts else None
    if rt is None or not rt.stored or len(parts) > 3:
        return None
    name = parts[1] if len(parts) > 1 else None
    sub = parts[2] if len(parts) > 2 else None
    if sub is not None and sub not in rt.subresources:
        return None
    if rt.namespaced and name is not None and namespace is None:
        return None  # a namespaced object needs its namespace in the path
    return Target(rt, namespace, name, sub)


def verb_of(request: web.Request, target: Target) -> str:
    method, watch = request.method, (request.query.get("watch") or "").lower() in ("true", "1")
    if target.name is None:
        verbs = {"GET": "watch" if watch else "list", "POST": "create", "DELETE": "deletecollection"}
    elif target.subresource in ("eviction", "token"):  # create-only subresources
        verbs = {"POST": "create"}
    else:
        verbs = {"GET": "watch" if watch else "get", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}
    verb = verbs.get(method)
    if verb is None:
        raise method_not_allowed()
    return verb


def authorize(request: web.Request, target: Target, verb: str) -> None:
    user: User = request[USER]
    rt = target.rt
    if not request.app[AUTH].allowed(user, verb, rt.plural, target.namespace, target.subresource, rt.group):
        raise forbidden(user, verb, rt.plural, rt.group, target.namespace, target.name, target.subresource)


async def api_path(request: web.Request) -> web.StreamResponse:
    """Everything under ``/api/...`` and ``/apis/...``: discovery documents or resource verbs."""
    segments = [s for s in request.path.split("/") if s]
    if segments[0] == "api":
        if len(segments) < 2 or segments[1] != "v1":
            raise not_found_path()
        group, version_, rest = "", "v1", segments[2:]
    else:
        if len(segments) == 2:
            doc = discovery.api_group(segments[1])
            if doc is None:
                raise not_found_path()
            return json_response(doc)
        group, version_, rest = segments[1], segments[2], segments[3:]
    if not rest:
        doc = discovery.resource_list(group, version_)
        if doc is None:
            raise not_found_path()
        return json_response(doc)
    if group == "authorization.k8s.io" and rest in (["selfsubjectaccessreviews"], ["selfsubjectrulesreviews"]):
        if request.method != "POST":
            raise method_not_allowed()
        if rest[0] == "selfsubjectrulesreviews":
            return await self_subject_rules_review(request)
        return await self_subject_access_review(request)
    if group == "authentication.k8s.io" and rest == ["selfsubjectreviews"]:  # kubectl auth whoami
        if request.method != "POST":
            raise method_not_allowed()
        review, code = self_subject_review(request[USER], await read_json(request))
        return json_response(review, code)
    if api_proxy.is_proxy(group, rest):  # services/NAME:PORT/proxy/... and pods/NAME:PORT/proxy/...
        return await api_proxy.handle(request, request.app[CTX], request.app[AUTH], request[USER])
    target = resolve(group, version_, rest)
    if target is None:
        raise not_found_path()
    verb = verb_of(request, target)
    authorize(request, target, verb)
    if target.subresource == "token":  # TokenRequest: signed by the app's authenticator
        result, code = token_request(request.app[AUTH], request.app[CTX], target.namespace or "", target.name or "",
                                     await read_json(request))
        return json_response(result, code)
    if verb in ("list", "watch"):
        validate_list_options(request.query, verb == "watch")
    if verb == "patch" and (request.content_type or "").lower() == APPLY_PATCH and target.subresource is None:
        return await server_side_apply(request, request.app[CTX], target)
    warnings = await check_fields(request, target, verb)
    response = await handle(request, request.app[CTX], target, verb)
    for warning in warnings:
        response.headers.add("Warning", warning)
    return response


FIELD_VALIDATION = ("Ignore", "Warn", "Strict")
MERGE_PATCHES = ("application/merge-patch+json", "application/strategic-merge-patch+json")


async def server_side_apply(request: web.Request, ctx: SandboxContext, target: Target) -> web.StreamResponse:
    """``PATCH`` with ``application/apply-patch+yaml``: create or merge, owning the configuration's fields."""
    rt, q = target.rt, request.query
    manager = ssa.require_manager(q.get("fieldManager"))
    force = (q.get("force") or "").lower() in ("true", "1")
    config = check_type_meta(ssa.parse_config(await read_body(request)))
    if config.get("apiVersion") != rt.api_version or config.get("kind") != rt.kind:
        raise bad_request(f"the API version in the data ({config.get('apiVersion')}) and kind "
                          f"({config.get('kind')}) do not match the expected {rt.api_version} {rt.kind}")
    meta = config.get("metadata") if isinstance(config.get("metadata"), dict) else {}
    if meta.get("name") and meta["name"] != target.name:
        raise bad_request(f"the name of the object ({meta['name']}) does not match the name on the URL "
                          f"({target.name})")
    directive = q.get("fieldValidation") or "Strict"
    unknown = api_openapi.unknown_fields(rt.api_version, rt.kind, config)
    if unknown and directive == "Strict":
        raise bad_request("strict decoding error: " + ", ".join(f'unknown field "{f}"' for f in unknown))
    live = ctx.store.try_get(rt.plural, target.namespace, target.name or "")
    result = ssa.apply(manager, config, live, force)
    request[ssa.APPLYING] = True
    if live is None:
        return resources_api.create(request, ctx, target, result)
    decoded = decode_patched(rt, result, config)
    if rt.namespaced:
        decoded["metadata"]["namespace"] = live["metadata"]["namespace"]
    return json_response(resources_api._commit_update(request, ctx, target, decoded, live))


async def check_fields(request: web.Request, target: Target, verb: str) -> list[str]:
    """``fieldValidation`` on create, update and merge patches: unknown fields are a 400 (Strict), ``Warning``
    headers (Warn, the default) or nothing (Ignore), as kube-apiserver's strict decoder reports them."""
    directive = request.query.get("fieldValidation") or "Warn"
    if directive not in FIELD_VALIDATION:
        raise bad_request(f"fieldValidation: Unsupported value: {directive!r}: supported values: "
                          '"Ignore", "Warn", "Strict"')
    checked = ("create", "update") if (request.content_type or "").lower() not in MERGE_PATCHES else ("patch",)
    if verb not in checked or target.subresource is not None or directive == "Ignore":
        return []
    body = await read_json(request)
    if not isinstance(body, dict):
        return []  # the decoder's own error comes later
    unknown = api_openapi.unknown_fields(str(body.get("apiVersion") or target.rt.api_version),
                                         str(body.get("kind") or target.rt.kind), body)
    if unknown and directive == "Strict":
        raise bad_request("strict decoding error: " + ", ".join(f'unknown field "{f}"' for f in unknown))
    return [f'299 - "unknown field \\"{f}\\""' for f in unknown]


async def self_subject_access_review(request: web.Request) -> web.Response:
    """Answer "may I?" for the calling user (what ``kubectl auth can-i`` and the console ask)."""
    body = decode_review(await read_json(request))
    spec = body.get("spec") or {}
    auth, user = request.app[AUTH], request[USER]
    attrs = spec.get("resourceAttributes")
    grant = user
    if attrs:
        verb = attrs.get("verb") or ""
        request_attrs = (user, verb, attrs.get("resource") or "", attrs.get("namespace") or None,
                         attrs.get("subresource") or None, attrs.get("group") or "")
        allowed = auth.allowed(*request_attrs)
        grant = auth.binding(*request_attrs) or user  # the binding that allowed it names the reason
    elif spec.get("nonResourceAttributes"):
        verb = spec["nonResourceAttributes"].get("verb") or ""
        allowed = verb in user.verbs
    else:
        raise bad_request("spec.resourceAttributes or spec.nonResourceAttributes is required")
    status = {"allowed": allowed}
    reason = auth.reason(grant, verb, allowed)
    if reason:
        status["reason"] = reason
    return json_response({"kind": "SelfSubjectAccessReview", "apiVersion": "authorization.k8s.io/v1",
                          "metadata": {"creationTimestamp": None}, "spec": spec, "status": status}, 201)


async def self_subject_rules_review(request: web.Request) -> web.Response:
    """What the calling user may do in a namespace (``kubectl auth can-i --list``)."""
    body = decode_review(await read_json(request), rules=True)
    user: User = request[USER]
    namespace = (body.get("spec") or {}).get("namespace") or None
    rules = request.app[AUTH].resource_rules(user, namespace)
    status = {"resourceRules": rules, "nonResourceRules": [{"verbs": ["get"], "nonResourceURLs": ["*"]}],
              "incomplete": False}
    return json_response({"kind": "SelfSubjectRulesReview", "apiVersion": "authorization.k8s.io/v1",
                          "metadata": {"creationTimestamp": None}, "spec": body.get("spec") or {},
                          "status": status}, 201)


# ---- sandbox-only: faults ---------------------------------------------------------------------------
def _authorize_faults(request: web.Request, verb: str) -> None:
    user: User = request[USER]
    if not request.app[AUTH].allowed(user, verb, "faults", None, None, SANDBOX_GROUP):
        raise forbidden(user, verb, "faults", SANDBOX_GROUP, None)


async def faults_get(request: web.Request) -> web.Response:
    _authorize_faults(request, "get")
    return json_response({"active": request.app[CTX].faults.active})


async def faults_post(request: web.Request) -> web.Response:
    _authorize_faults(request, "create")
    body = await read_object(request)
    kind, target = body.get("kind"), body.get("target")
    if not isinstance(kind, str) or not kind or (target is not None and not isinstance(target, str)):
        raise bad_request('expected {"kind": "<fault>", "target": "<name>" or null}')
    from . import faults  # written alongside; imported late so the API works without it

    result = faults.apply_fault(request.app[CTX], kind, target)
    if inspect.isawaitable(result):
        result = await result
    return json_response(result)


async def faults_delete(request: web.Request) -> web.Response:
    _authorize_faults(request, "delete")
    from . import faults

    result = faults.clear_faults(request.app[CTX])
    if inspect.isawaitable(result):
        result = await result
    return json_response(result if result is not None else {"active": request.app[CTX].faults.active})


def make_app(ctx: SandboxContext, auth: Authenticator) -> web.Application:
    """The sandbox API application; serve it with an AppRunner on the loop that owns ``ctx.store``."""
    # aiohttp refuses a body of client_max_size bytes or more; kube-apiserver accepts exactly its limit.
    app = web.Application(middlewares=[errors_middleware, auth_middleware], client_max_size=MAX_BODY_BYTES + 1)
    app[CTX] = ctx
    app[AUTH] = auth
    app[STREAMS] = set()
    app.on_shutdown.append(close_streams)
    for path in ("/healthz", "/readyz", "/livez"):
        app.router.add_get(path, health)
    app.router.add_get("/version", version)
    app.router.add_get("/version/", version)  # the python client's VersionApi asks with the slash
    for slash in ("", "/"):  # the python client asks for /api/ and /apis/
        app.router.add_get("/api" + slash, core_versions)
        app.router.add_get("/apis" + slash, group_list)
    app.router.add_get("/openapi/v2", openapi_v2)
    app.router.add_get("/openapi/v3", openapi_v3)
    app.router.add_get("/openapi/v3/{tail:.*}", openapi_v3)
    app.router.add_route("*", "/api/{tail:.+}", api_path)
    app.router.add_route("*", "/apis/{tail:.+}", api_path)
    app.router.add_get("/sandbox/v1/faults", faults_get)
    app.router.add_post("/sandbox/v1/faults", faults_post)
    app.router.add_delete("/sandbox/v1/faults", faults_delete)
    return app


__all__ = ["AUTH", "CTX", "make_app"]
