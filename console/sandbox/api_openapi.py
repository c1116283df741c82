"""``/openapi/v2`` and ``/openapi/v3``: the schemas of the kinds the sandbox serves, as kube-apiserver
publishes them — what ``kubectl apply``/``create -f`` validate against, what ``kubectl explain`` renders
and how kubectl learns that a PATCH accepts ``dryRun`` and ``fieldValidation``.

Generated, not written: the definitions come from the ``kubernetes-validate`` package's JSON Schema of
Kubernetes v1.30 (itself generated from the upstream OpenAPI document) and are turned back into the
OpenAPI forms (``$ref`` to ``#/definitions/`` or ``#/components/schemas/``, one type, int-or-string and
quantity formats). Only the definitions reachable from a served kind are published, as a real server
publishes only the groups it serves. The paths carry the operations kubectl inspects (PATCH with its
query parameters and ``x-kubernetes-group-version-kind``), not every verb.

kubectl ≤ 1.26 asks for the v2 document as protobuf (``application/com.github.proto-openapi.spec.v2@v1.0
+protobuf``, gnostic's ``openapi_v2.Document``) and cannot read JSON; :func:`v2_protobuf` encodes it. The
custom resources (the Prometheus Operator's) are not published (kubectl skips validating kinds it has no
schema for).
"""

from __future__ import annotations

import hashlib
import json
import struct
from functools import cache
from importlib import resources as importlib_resources
from typing import Any

from .resources import RESOURCES, ResourceType

SCHEMA_VERSION = "v1.30.0-local"
PROTO_V2 = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"
# Kinds that are not resources but appear in every group's document (errors, options, lists' metadata).
COMMON = ("io.k8s.apimachinery.pkg.apis.meta.v1.Status", "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions",
          "io.k8s.apimachinery.pkg.apis.meta.v1.Patch", "io.k8s.apimachinery.pkg.apis.meta.v1.WatchEvent")
EXTRA_KINDS = {("autoscaling", "v1", "Scale")}  # the scale subresource's kind
PATCH_PARAMS = ("dryRun", "fieldManager", "fieldValidation", "force", "pretty")
WRITE_PARAMS = ("dryRun", "fieldManager", "fieldValidation", "pretty")


@cache
def json_schemas() -> dict[str, Any]:
    """The package's definitions (JSON Schema draft form), by OpenAPI name."""
    root = importlib_resources.files("kubernetes_validate") / "kubernetes-json-schema" / SCHEMA_VERSION
    return dict(json.loads((root / "_definitions.json").read_text())["$defs"])


def _gvk_list(d: dict[str, Any]) -> list[dict[str, str]]:
    return list(d.get("x-kubernetes-group-version-kind") or [])


@cache
def served_definitions() -> dict[str, str]:
    """(group/version/kind as "g/v/Kind") → definition name, for the served built-in kinds."""
    wanted = {(r.group, r.version, r.kind) for r in RESOURCES} | EXTRA_KINDS
    out: dict[str, str] = {}
    for name, d in json_schemas().items():
        for g in _gvk_list(d):
            key = (g.get("group", ""), g.get("version", ""), g.get("kind", ""))
            if key in wanted and len(_gvk_list(d)) == 1:
                out["/".join(key)] = name
    return out


def _refs(value: Any, found: set[str]) -> None:
    if isinstance(value, dict):
        ref = value.get("$ref")
        if isinstance(ref, str):
            found.add(ref.rsplit("/", 1)[-1])
        for v in value.values():
            _refs(v, found)
    elif isinstance(value, list):
        for v in value:
            _refs(v, found)


def closure(names: list[str]) -> list[str]:
    """``names`` and every definition they reference, sorted."""
    defs, seen, todo = json_schemas(), set(), list(names)
    while todo:
        name = todo.pop()
        if name in seen or name not in defs:
            continue
        seen.add(name)
        found: set[str] = set()
        _refs(defs[name], found)
        todo.extend(found - seen)
    return sorted(seen)


# ---- JSON Schema → OpenAPI --------------------------------------------------------------------------
def _convert(value: Any, ref_prefix: str, v3: bool, prop: str = "") -> Any:
    if isinstance(value, list):
        return [_convert(v, ref_prefix, v3) for v in value]
    if not isinstance(value, dict):
        return value
    if "oneOf" in value and {"type"} >= {k for o in value["oneOf"] for k in o}:  # int-or-string, quantity
        types = {t for o in value["oneOf"] for t in (o["type"] if isinstance(o["type"], list) else [o["type"]])}
        fmt = "int-or-string" if "integer" in types else "quantity" if "number" in types else ""
        out: dict[str, Any] = {k: v for k, v in value.items() if k != "oneOf"}
        out["type"] = "string"
        if fmt:
            out["format"] = fmt
        return out
    out = {}
    for key, v in value.items():
        if key == "$ref":
            out[key] = ref_prefix + v.rsplit("/", 1)[-1]
        elif key == "type" and isinstance(v, list):
            kinds = [t for t in v if t != "null"]
            if kinds:
                out[key] = kinds[0]
        elif key == "enum" and prop in ("apiVersion", "kind"):
            continue  # added by the JSON Schema generation; the OpenAPI document has none
        elif key == "properties":
            out[key] = {name: _convert(p, ref_prefix, v3, name) for name, p in v.items()}
        elif key in ("$schema", "$id"):
            continue
        else:
            out[key] = _convert(v, ref_prefix, v3)
    if v3 and "$ref" in out and len(out) > 1:  # v3 documents wrap a $ref with siblings in allOf
        ref = out.pop("$ref")
        out["allOf"] = [{"$ref": ref}]
    return out


def _param(name: str, v3: bool) -> dict[str, Any]:
    if name == "force":
        return ({"name": name, "in": "query", "schema": {"type": "boolean", "uniqueItems": True}} if v3
                else {"name": name, "in": "query", "type": "boolean", "uniqueItems": True})
    return ({"name": name, "in": "query", "schema": {"type": "string", "uniqueItems": True}} if v3
            else {"name": name, "in": "query", "type": "string", "uniqueItems": True})


def _paths(rts: list[ResourceType], v3: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for rt in rts:
        base = f"/api/{rt.version}" if not rt.group else f"/apis/{rt.group}/{rt.version}"
        scope = "/namespaces/{namespace}" if rt.namespaced else ""
        gvk = {"group": rt.group, "version": rt.version, "kind": rt.kind}
        op = {"x-kubernetes-group-version-kind": gvk}
        if not rt.stored:
            out[f"{base}/{rt.plural}"] = {"post": {**op, "x-kubernetes-action": "post",
                                                    "parameters": [_param(p, v3) for p in WRITE_PARAMS],
                                                    "operationId": f"create{rt.kind}"}}
            continue
        out[f"{base}{scope}/{rt.plural}"] = {
            "get": {**op, "x-kubernetes-action": "list", "operationId": f"list{rt.kind}"},
            "post": {**op, "x-kubernetes-action": "post", "operationId": f"create{rt.kind}",
                     "parameters": [_param(p, v3) for p in WRITE_PARAMS]},
        }
        out[f"{base}{scope}/{rt.plural}/{{name}}"] = {
            "get": {**op, "x-kubernetes-action": "get", "operationId": f"read{rt.kind}"},
            "put": {**op, "x-kubernetes-action": "put", "operationId": f"replace{rt.kind}",
                    "parameters": [_param(p, v3) for p in WRITE_PARAMS]},
            "patch": {**op, "x-kubernetes-action": "patch", "operationId": f"patch{rt.kind}",
                      "parameters": [_param(p, v3) for p in PATCH_PARAMS]},
            "delete": {**op, "x-kubernetes-action": "delete", "operationId": f"delete{rt.kind}",
                       "parameters": [_param("dryRun", v3)]},
        }
    return out


def _builtin(rts: list[ResourceType]) -> list[ResourceType]:
    return [rt for rt in rts if f"{rt.group}/{rt.version}/{rt.kind}" in served_definitions()]


@cache
def v2() -> dict[str, Any]:
    """The whole ``/openapi/v2`` document."""
    rts = _builtin(list(RESOURCES))
    defs = json_schemas()
    names = closure([served_definitions()[f"{rt.group}/{rt.version}/{rt.kind}"] for rt in rts]
                    + [served_definitions()[f"{g}/{v}/{k}"] for g, v, k in EXTRA_KINDS] + list(COMMON))
    return {"swagger": "2.0", "info": {"title": "Kubernetes", "version": "v1.30.4"},
            "paths": _paths(rts, v3=False),
            "definitions": {n: _convert(defs[n], "#/definitions/", v3=False) for n in names}}


def v3_group_versions() -> list[str]:
    """The ``/openapi/v3`` path keys: ``api/v1``, ``apis/apps/v1``..."""
    out = []
    for rt in _builtin(list(RESOURCES)):
        key = f"api/{rt.version}" if not rt.group else f"apis/{rt.group}/{rt.version}"
        if key not in out:
            out.append(key)
    return out


@cache
def v3(group_version: str) -> dict[str, Any] | None:
    """``/openapi/v3/<api/v1 | apis/group/version>``, or None when not served."""
    if group_version not in v3_group_versions():
        return None
    parts = group_version.split("/")
    group, version = ("", parts[1]) if parts[0] == "api" else (parts[1], parts[2])
    rts = [rt for rt in _builtin(list(RESOURCES)) if rt.group == group and rt.version == version]
    kinds = [served_definitions()[f"{rt.group}/{rt.version}/{rt.kind}"] for rt in rts]
    if group == "apps" or (group == "" and version == "v1"):  # the scale subresource
        kinds.append(served_definitions()["autoscaling/v1/Scale"])
    defs = json_schemas()
    names = closure(kinds + list(COMMON))
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "v1.30.4"},
            "paths": _paths(rts, v3=True),
            "components": {"schemas": {n: _convert(defs[n], "#/components/schemas/", v3=True) for n in names}}}


def etag(doc: Any) -> str:
    return hashlib.sha512(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:128].upper()


def v3_root() -> dict[str, Any]:
    """``/openapi/v3``: each group version and the URL of its document (with its hash, as a real server)."""
    return {"paths": {gv: {"serverRelativeURL": f"/openapi/v3/{gv}?hash={etag(v3(gv))}"}
                      for gv in v3_group_versions()}}


# ---- gnostic's openapi_v2.Document, as protobuf ------------------------------------------------------
def _key(number: int, wire: int) -> bytes:
    return _uvarint(number << 3 | wire)


def _uvarint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _bytes(number: int, payload: bytes) -> bytes:
    return _key(number, 2) + _uvarint(len(payload)) + payload


def _str(number: int, text: str) -> bytes:
    return _bytes(number, text.encode()) if text else b""


def _int(number: int, n: int) -> bytes:
    return _key(number, 0) + _uvarint(n & (2**64 - 1)) if n else b""


def _double(number: int, x: float) -> bytes:
    return _key(number, 1) + struct.pack("<d", x)


def _any(value: Any) -> bytes:
    """gnostic ``Any``: the value as YAML (JSON is YAML)."""
    return _str(2, json.dumps(value) + "\n")


def _extensions(number: int, d: dict[str, Any]) -> bytes:
    return b"".join(_bytes(number, _str(1, k) + _bytes(2, _any(v))) for k, v in d.items() if k.startswith("x-"))


_SCHEMA_INTS = {"maxLength": 11, "minLength": 12, "maxItems": 14, "minItems": 15, "maxProperties": 17,
                "minProperties": 18}
_SCHEMA_DOUBLES = {"multipleOf": 6, "maximum": 7, "minimum": 9}
_SCHEMA_BOOLS = {"exclusiveMaximum": 8, "exclusiveMinimum": 10, "uniqueItems": 16, "readOnly": 27}


def _schema(s: dict[str, Any]) -> bytes:
    out = [_str(1, s.get("$ref", "")), _str(2, s.get("format", "")), _str(3, s.get("title", "")),
           _str(4, s.get("description", ""))]
    if "default" in s:
        out.append(_bytes(5, _any(s["default"])))
    out += [_double(n, float(s[k])) for k, n in _SCHEMA_DOUBLES.items() if k in s]
    out += [_int(n, 1) for k, n in _SCHEMA_BOOLS.items() if s.get(k)]
    out += [_int(n, int(s[k])) for k, n in _SCHEMA_INTS.items() if k in s]
    out.append(_str(13, s.get("pattern", "")))
    out += [_str(19, r) for r in s.get("required", [])]
    out += [_bytes(20, _any(e)) for e in s.get("enum", [])]
    extra = s.get("additionalProperties")
    if isinstance(extra, dict):
        out.append(_bytes(21, _bytes(1, _schema(extra))))
    elif isinstance(extra, bool):
        out.append(_bytes(21, _key(2, 0) + _uvarint(int(extra))))
    if "type" in s:
        out.append(_bytes(22, _str(1, s["type"])))
    if isinstance(s.get("items"), dict):
        out.append(_bytes(23, _bytes(1, _schema(s["items"]))))
    out += [_bytes(24, _schema(a)) for a in s.get("allOf", [])]
    if s.get("properties"):
        out.append(_bytes(25, b"".join(_bytes(1, _str(1, k) + _bytes(2, _schema(v)))
                                       for k, v in s["properties"].items())))
    out.append(_extensions(31, s))
    return b"".join(out)


def _operation(op: dict[str, Any]) -> bytes:
    out = [_str(5, op.get("operationId", ""))]
    for p in op.get("parameters", []):
        query = _int(1, int(bool(p.get("required")))) + _str(2, "query") + _str(4, p["name"]) + \
            _str(6, p.get("type", "")) + _int(20, int(bool(p.get("uniqueItems"))))
        out.append(_bytes(8, _bytes(1, _bytes(2, _bytes(3, query)))))
    out.append(_extensions(13, op))
    return b"".join(out)


_VERBS = {"get": 2, "put": 3, "post": 4, "delete": 5, "patch": 8}


@cache
def v2_protobuf() -> bytes:
    """The v2 document as gnostic's ``openapi_v2.Document`` protobuf (what kubectl ≤ 1.26 reads)."""
    doc = v2()
    info = _str(1, doc["info"]["title"]) + _str(2, doc["info"]["version"])
    paths = b"".join(_bytes(2, _str(1, path) + _bytes(2, b"".join(_bytes(_VERBS[verb], _operation(op))
                                                                    for verb, op in item.items())))
                     for path, item in doc["paths"].items())
    definitions = b"".join(_bytes(1, _str(1, name) + _bytes(2, _schema(s)))
                           for name, s in doc["definitions"].items())
    return _str(1, "2.0") + _bytes(2, info) + _bytes(8, paths) + _bytes(9, definitions)


@cache
def v2_json() -> bytes:
    return json.dumps(v2(), separators=(",", ":")).encode()


# ---- fieldValidation ---------------------------------------------------------------------------------
def definition_for(api_version: str, kind: str) -> str | None:
    group, _, version = api_version.rpartition("/")
    return served_definitions().get(f"{group}/{version}/{kind}")


def _resolve(s: dict[str, Any]) -> dict[str, Any]:
    while isinstance(s.get("$ref"), str):
        s = json_schemas().get(s["$ref"].rsplit("/", 1)[-1], {})
    return s


def unknown_fields(api_version: str, kind: str, obj: Any) -> list[str]:
    """The fields of ``obj`` its kind's schema does not declare (``spec.bogus``, ``spec.ports[0].x``), in
    the order a strict decoder meets them; [] for kinds without a published schema."""
    name = definition_for(api_version, kind)
    out: list[str] = []
    if name is None:
        return out
    stack: list[tuple[dict[str, Any], Any, str]] = [(json_schemas()[name], obj, "")]
    while stack:
        schema, value, path = stack.pop(0)
        schema = _resolve(schema)
        if isinstance(value, dict):
            props = schema.get("properties")
            extra = schema.get("additionalProperties")
            for key, v in value.items():
                if key.startswith("$"):
                    continue  # a strategic merge patch's directive ($patch, $setElementOrder/...)
                sub = f"{path}.{key}" if path else key
                if props is not None and key in props:
                    stack.append((props[key], v, sub))
                elif isinstance(extra, dict):
                    stack.append((extra, v, sub))
                elif props is not None and extra is None:
                    out.append(sub)
        elif isinstance(value, list) and isinstance(schema.get("items"), dict):
            stack.extend((schema["items"], v, f"{path}[{i}]") for i, v in enumerate(value))
    return out
