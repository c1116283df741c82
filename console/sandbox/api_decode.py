"""Request bodies in: size limit, JSON parsing with a depth limit, then typed decoding — as kube-apiserver
decodes them, so every malformed body is a 400 (or 422) ``Status`` and never a 500.

The limits, and why:

- ``MAX_BODY_BYTES`` (3 MiB): kube-apiserver's ``maxRequestBodyBytes``; above it a write is a 413
  ``Request entity too large: limit is 3145728``. A declared ``Content-Length`` above it is refused before
  the body is read.
- ``MAX_OBJECT_BYTES`` (1.5 MiB): etcd's default ``--max-request-bytes``; a real server cannot store an
  object bigger than that (etcd answers "request is too large"). The store checks the object's JSON (a
  real server stores protobuf, a little smaller, so the sandbox errs on the strict side).
- ``MAX_DEPTH`` (100 levels): Go's decoder stops at 10,000 levels; Python's recursion limit (1,000 frames,
  and ``copy.deepcopy`` takes two or three a level) does not allow that, and no Kubernetes object comes
  near 100 (a Deployment's deepest field is about 12 levels down). The parser itself is protected too:
  a RecursionError inside ``json.loads`` is the same 400.
- ``MAX_JSON_PATCH_OPS`` (10,000): kube-apiserver's cap on JSON patch operations (413 above it).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from aiohttp import web

from . import api_proto, schema
from .api_validate import FieldError, invalid_error
from .errors import ApiError, bad_request
from .limits import MAX_BODY_BYTES, MAX_DEPTH
from .limits import MAX_JSON_PATCH_OPS as MAX_JSON_PATCH_OPS
from .limits import MAX_OBJECT_BYTES as MAX_OBJECT_BYTES
from .resources import RESOURCES, ResourceType

PARSE_ERROR = "couldn't get version/kind; json parse error: "
_TYPE_META = 'struct { APIVersion string "json:\\"apiVersion,omitempty\\""; Kind string "json:\\"kind,omitempty\\"" }'
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")

# (apiVersion, kind) pairs a real 1.30 server knows: the sandbox's resources, and the built-in kinds it
# does not serve (so a Secret sent to /deployments is "the API version in the data ... does not match",
# not "no kind is registered").
KNOWN_KINDS = {(r.api_version, r.kind) for r in RESOURCES} | {
    ("v1", k) for k in ("Secret", "ServiceAccount", "Endpoints", "PersistentVolume", "ReplicationController",
                        "LimitRange", "ResourceQuota", "PodTemplate", "Binding", "DeleteOptions", "Status")
} | {("apps/v1", k) for k in ("StatefulSet", "ControllerRevision")} | {
    ("batch/v1", "Job"), ("batch/v1", "CronJob"), ("autoscaling/v1", "Scale"),
    ("autoscaling/v1", "HorizontalPodAutoscaler"), ("networking.k8s.io/v1", "Ingress"),
    ("policy/v1", "PodDisruptionBudget"), ("events.k8s.io/v1", "Event"),
    ("authorization.k8s.io/v1", "SelfSubjectRulesReview"), ("meta.k8s.io/v1", "DeleteOptions"),
}


def entity_too_large(what: str | None = None) -> ApiError:
    return ApiError(413, "RequestEntityTooLarge", f"Request entity too large: {what or f'limit is {MAX_BODY_BYTES}'}")


async def read_body(request: web.Request) -> bytes:
    """The request body, refused (413) above :data:`MAX_BODY_BYTES` — before reading it when declared."""
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise entity_too_large()
    try:
        return await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise entity_too_large() from None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"invalid character '{name[0]}' looking for beginning of value")


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"json: cannot unmarshal number {text} into Go value of type float64")
    return value


def too_deep() -> ApiError:
    return bad_request(f"{PARSE_ERROR}exceeded max depth (the sandbox accepts JSON nested {MAX_DEPTH} levels deep)")


def depth_of(value: Any, limit: int = MAX_DEPTH) -> int:
    """Nesting depth of a JSON value (a scalar 0, ``{}`` 1), counted without recursion; stops past ``limit``."""
    deepest = 0
    stack = [(value, 1)] if isinstance(value, dict | list) else []
    while stack:
        v, d = stack.pop()
        deepest = max(deepest, d)
        if d > limit:
            return d
        children = v.values() if isinstance(v, dict) else v
        stack.extend((c, d + 1) for c in children if isinstance(c, dict | list))
    return deepest


def _replace_surrogates(value: Any) -> Any:
    """Lone UTF-16 surrogates (``"\\ud800"``) become U+FFFD, as Go's decoder makes them."""
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {_SURROGATE.sub("\ufffd", k): _replace_surrogates(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace_surrogates(v) for v in value]
    return value


def parse_json(raw: bytes) -> Any:
    """Decode a body as Go's encoding/json would accept it (no NaN, no BOM, invalid UTF-8 replaced); an
    empty body is None. Every failure is a 400."""
    if not raw.strip():
        return None
    text = raw.decode("utf-8", "replace")
    try:
        value = json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)
    except RecursionError:
        raise too_deep() from None
    except ValueError as e:
        raise bad_request(f"{PARSE_ERROR}{e}") from None
    if depth_of(value) > MAX_DEPTH:
        raise too_deep()
    if _SURROGATE_ESCAPE.search(raw):
        value = _replace_surrogates(value)
    return value


async def read_json(request: web.Request) -> Any:
    """The body as JSON; a protobuf body (what kubectl ≥ 1.32 sends) is decoded into the same JSON."""
    raw = await read_body(request)
    if (request.content_type or "").lower() == api_proto.PROTOBUF and raw:
        value = api_proto.decode_body(raw)
        if depth_of(value) > MAX_DEPTH:
            raise too_deep()
        return value
    return parse_json(raw)


# ---- typed decoding ---------------------------------------------------------------------------------
def check_type_meta(body: Any) -> dict[str, Any]:
    """What the serializer's first pass (apiVersion and kind only) refuses."""
    if not isinstance(body, dict):
        raise bad_request(f"{PARSE_ERROR}json: cannot unmarshal {schema.json_type(body)} into Go value of type "
                          f"{_TYPE_META}")
    for key in ("apiVersion", "kind"):
        value = body.get(key)
        if value is not None and not isinstance(value, str):
            raise bad_request(f"{PARSE_ERROR}json: cannot unmarshal {schema.json_type(value)} into Go struct field "
                              f".{key} of type string")
    return body


def _version(api_version: str) -> str:
    return api_version.rsplit("/", 1)[-1]


def decode_typed(t: schema.Struct, body: dict[str, Any], kind: str, api_version: str, *,
                 openapi: bool = False, group: str = "") -> dict[str, Any]:
    """``body`` decoded as ``t``; a misfit is the 400 kube-apiserver answers (422 for custom resources)."""
    try:
        return schema.decode(t, body, openapi=openapi)
    except schema.TypeMismatch as e:
        if openapi:
            raise openapi_invalid(kind, group, str((body.get("metadata") or {}).get("name") or ""), e) from None
        body_kind = body.get("kind") or kind
        body_version = _version(body.get("apiVersion") or api_version)
        raise bad_request(f'{body_kind} in version "{body_version}" cannot be handled as a {kind}: {e.message}'
                          ) from None


def openapi_invalid(kind: str, group: str, name: str, e: schema.TypeMismatch) -> ApiError:
    """A custom resource's schema error, as apiextensions words it."""
    path = e.openapi_path or "<root>"
    detail = f'{path} in body must be of type {e.expected}: "{e.actual}"'
    return invalid_error(kind, group, name, [FieldError(path, "Invalid", e.actual, detail)])


def decode_object(rt: ResourceType, body: Any) -> dict[str, Any]:
    """A create/update body for ``rt``: type meta, the group/version/kind it names, then every known field."""
    check_type_meta(body)
    api_version, kind = body.get("apiVersion") or rt.api_version, body.get("kind") or rt.kind
    if (api_version, kind) not in KNOWN_KINDS:
        raise bad_request(f'{kind} in version "{_version(api_version)}" cannot be handled as a {rt.kind}: no kind '
                          f'"{kind}" is registered for version "{api_version}" in scheme '
                          '"pkg/api/legacyscheme/scheme.go:30"')
    if api_version != rt.api_version:
        raise bad_request(f"the API version in the data ({api_version}) does not match the expected API version "
                          f"({rt.api_version})")
    if kind != rt.kind:
        raise bad_request(f"the kind in the data ({kind}) does not match the expected kind ({rt.kind})")
    return decode_typed(schema.KINDS[rt.plural], body, rt.kind, rt.api_version,
                        openapi=rt.plural in schema.OPENAPI_KINDS, group=rt.group)


def decode_patched(rt: ResourceType, patched: dict[str, Any], patch_body: Any, *, kind: str | None = None,
                   t: schema.Struct | None = None) -> dict[str, Any]:
    """The result of applying a patch, decoded; a misfit is kube's 422 on the field ``patch``."""
    if depth_of(patched) > MAX_DEPTH:
        raise patch_invalid(patch_body, f"exceeded max depth ({MAX_DEPTH} levels)")
    openapi = t is None and rt.plural in schema.OPENAPI_KINDS
    try:
        return schema.decode(t or schema.KINDS[rt.plural], patched, openapi=openapi)
    except schema.TypeMismatch as e:
        if openapi:
            raise openapi_invalid(kind or rt.kind, rt.group, str(patched["metadata"].get("name") or ""), e) from None
        raise patch_invalid(patch_body, e.message) from None


def patch_invalid(patch_body: Any, message: str) -> ApiError:
    """422 ``"" is invalid: patch: Invalid value: "<patch>": <decoder error>`` (kube's patch handler)."""
    shown = json.dumps(patch_body, separators=(",", ":"))
    if len(shown) > 256:
        shown = shown[:256] + "..."
    text = f"Invalid value: {json.dumps(shown)}: {message}"
    return ApiError(422, "Invalid", f' "" is invalid: patch: {text}',
                    causes=[{"reason": "FieldValueInvalid", "message": text, "field": "patch"}])


def decode_options(body: Any) -> dict[str, Any] | None:
    """A DELETE body (DeleteOptions, in whichever group version the client names it)."""
    if body is None:
        return None
    check_type_meta(body)
    return decode_typed(schema.DELETE_OPTIONS, body, "DeleteOptions", "v1")


def decode_review(body: Any, rules: bool = False) -> dict[str, Any]:
    """A SelfSubjectAccessReview (or, with ``rules``, SelfSubjectRulesReview) body."""
    kind = "SelfSubjectRulesReview" if rules else "SelfSubjectAccessReview"
    check_type_meta(body)
    return decode_typed(schema.RULES_REVIEW if rules else schema.ACCESS_REVIEW, body, kind,
                        "authorization.k8s.io/v1")


def decode_scale(body: Any) -> dict[str, Any]:
    check_type_meta(body)
    return decode_typed(schema.SCALE, body, "Scale", "autoscaling/v1")
