"""Protobuf request bodies (``application/vnd.kubernetes.protobuf``), decoded into the JSON a client would
have sent — what kube-apiserver's protobuf serializer does before the same typed decoding.

kubectl ≥ 1.32 sends create and update bodies as protobuf, and does not fall back to JSON when a server
answers 415, so the sandbox decodes them. The message definitions are Kubernetes' own ``generated.proto``
files (kubernetes/api and kubernetes/apimachinery v0.30.9, comments stripped) under ``proto/``; they are
parsed once, on the first protobuf body.

The envelope is kube's: the magic ``k8s\\x00`` then a ``runtime.Unknown`` whose ``typeMeta`` names the
apiVersion and kind and whose ``raw`` is the object's message. The mapping to JSON follows the Go types:
``Time``/``MicroTime`` → RFC 3339, ``Quantity`` → its string, ``IntOrString`` → int or string, ``bytes`` →
base64, ``RawExtension``/``FieldsV1`` → the embedded JSON, ``ExtraValue``/``Verbs`` → a list. Go's protobuf
marshaller writes every non-pointer field, so zero values are dropped as ``omitempty`` would when the
server re-encodes the Go struct — except the fields listed in ``proto/keep-zero.txt`` (pointers such as
``replicas``, and fields without ``omitempty``), taken from the Go struct tags of the same release.
"""

from __future__ import annotations

import base64
import json
import re
import struct
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from .errors import bad_request

PROTOBUF = "application/vnd.kubernetes.protobuf"
MAGIC = b"k8s\x00"
PROTO_DIR = Path(__file__).with_name("proto")
META = "k8s.io.apimachinery.pkg.apis.meta.v1."
_FIELD = re.compile(r"^\s*(optional|repeated)?\s*(map<\s*([\w.]+)\s*,\s*([\w.]+)\s*>|[\w.]+)\s+(\w+)\s*=\s*(\d+)\s*;")
_SCALARS = {"string", "bytes", "bool", "int32", "int64", "uint32", "uint64", "sint32", "sint64", "double", "float",
            "fixed32", "fixed64", "sfixed32", "sfixed64"}
_LIST_MESSAGES = {"ExtraValue", "Verbs"}  # Go slice types wrapped in a message: JSON is the list


class Field:
    __slots__ = ("key", "name", "repeated", "type", "value")

    def __init__(self, name: str, type_: str, repeated: bool, key: str | None = None, value: str | None = None):
        self.name, self.type, self.repeated, self.key, self.value = name, type_, repeated, key, value


@cache
def messages() -> dict[str, dict[int, Field]]:
    """Every message of the vendored ``.proto`` files: full name → field number → field."""
    out: dict[str, dict[int, Field]] = {}
    for path in sorted(PROTO_DIR.glob("*.proto")):
        package, current = "", None
        for line in path.read_text().splitlines():
            line = line.strip()
            if line.startswith("package "):
                package = line.split()[1].rstrip(";")
            elif line.startswith("message "):
                current = out.setdefault(f"{package}.{line.split()[1]}", {})
            elif current is not None and (m := _FIELD.match(line)):
                label, type_, key, value, name, number = m.groups()
                if key is not None:
                    current[int(number)] = Field(name, "map", True, _qualify(package, key),
                                                 _qualify(package, value or ""))
                else:
                    current[int(number)] = Field(name, _qualify(package, type_), label == "repeated")
    return out


def _qualify(package: str, type_: str) -> str:
    return type_ if type_ in _SCALARS or "." in type_ else f"{package}.{type_}"


def message_for(api_version: str, kind: str) -> str:
    """``apps/v1``, ``Deployment`` → ``k8s.io.api.apps.v1.Deployment`` (``v1`` is the core group)."""
    group, _, version = api_version.rpartition("/")
    if kind in ("DeleteOptions", "Status") and group in ("", "meta.k8s.io"):
        return META + kind
    return f"k8s.io.api.{(group or 'core').split('.')[0]}.{version}.{kind}"


# ---- the wire format --------------------------------------------------------------------------------
def _varint(data: bytes, i: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        if i >= len(data) or shift > 63:
            raise ValueError("truncated varint")
        b = data[i]
        i += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, i
        shift += 7


def fields_of(data: bytes) -> list[tuple[int, int, Any]]:
    """(field number, wire type, raw value) for each field of a message, in order."""
    out: list[tuple[int, int, Any]] = []
    i = 0
    while i < len(data):
        tag, i = _varint(data, i)
        number, wire = tag >> 3, tag & 7
        if wire == 0:
            value, i = _varint(data, i)
        elif wire == 1:
            value, i = data[i:i + 8], i + 8
        elif wire == 2:
            size, i = _varint(data, i)
            value, i = data[i:i + size], i + size
        elif wire == 5:
            value, i = data[i:i + 4], i + 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
        if i > len(data):
            raise ValueError("truncated field")
        out.append((number, wire, value))
    return out


def _signed(value: int, bits: int) -> int:
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


def _scalar(type_: str, wire: int, raw: Any) -> Any:
    if type_ == "string":
        return bytes(raw).decode("utf-8", "replace")
    if type_ == "bytes":
        return base64.b64encode(bytes(raw)).decode()
    if type_ == "bool":
        return bool(raw)
    if type_ in ("int32", "int64"):
        return _signed(raw, 64)
    if type_ in ("uint32", "uint64"):
        return raw
    if type_ in ("sint32", "sint64"):
        return (raw >> 1) ^ -(raw & 1)
    if type_ == "double":
        return struct.unpack("<d", raw)[0]
    if type_ == "float":
        return struct.unpack("<f", raw)[0]
    return int.from_bytes(raw, "little", signed=type_.startswith("s"))


def _time(msg: dict[str, Any], micro: bool) -> str | None:
    seconds, nanos = msg.get("seconds", 0), msg.get("nanos", 0)
    if not seconds and not nanos:
        return None  # the zero time: JSON null, dropped
    t = datetime.fromtimestamp(seconds, UTC)
    if micro:
        return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{nanos // 1000:06d}Z"
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _go_duration(ns: int) -> str:
    if ns == 0:
        return "0s"
    sign, ns = ("-", -ns) if ns < 0 else ("", ns)
    h, rest = divmod(ns, 3600 * 10**9)
    m, rest = divmod(rest, 60 * 10**9)
    s = f"{rest / 1e9:.9f}".rstrip("0").rstrip(".")
    return sign + (f"{h}h" if h else "") + (f"{m}m" if h or m else "") + f"{s}s"


def _special(name: str, data: bytes) -> tuple[bool, Any]:
    """Messages whose JSON form is not an object."""
    short = name.rsplit(".", 1)[-1]
    if name == "k8s.io.apimachinery.pkg.api.resource.Quantity":
        return True, decode_message(name, data).get("string", "0")
    if name == "k8s.io.apimachinery.pkg.util.intstr.IntOrString":
        raw = {n: v for n, _, v in fields_of(data)}
        if raw.get(1, 0) == 1:
            return True, bytes(raw.get(3, b"")).decode("utf-8", "replace")
        return True, _signed(raw.get(2, 0), 32)
    if name in (META + "Time", META + "MicroTime"):
        raw = {n: v for n, _, v in fields_of(data)}
        return True, _time({"seconds": _signed(raw.get(1, 0), 64), "nanos": raw.get(2, 0)}, short == "MicroTime")
    if name == META + "Duration":
        return True, _go_duration(_signed(dict((n, v) for n, _, v in fields_of(data)).get(1, 0), 64))
    if name in ("k8s.io.apimachinery.pkg.runtime.RawExtension", META + "FieldsV1"):
        raw = bytes(dict((n, v) for n, _, v in fields_of(data)).get(1, b""))
        return True, json.loads(raw) if raw.strip() else None
    if short in _LIST_MESSAGES:
        return True, [bytes(v).decode("utf-8", "replace") for n, _, v in fields_of(data) if n == 1]
    return False, None


def _value(type_: str, wire: int, raw: Any) -> Any:
    if type_ in _SCALARS:
        return _scalar(type_, wire, raw)
    done, value = _special(type_, bytes(raw))
    return value if done else decode_message(type_, bytes(raw))


def _packed(type_: str, data: bytes) -> list[Any]:
    out, i = [], 0
    while i < len(data):
        if type_ in ("double", "fixed64", "sfixed64"):
            out.append(_scalar(type_, 1, data[i:i + 8]))
            i += 8
        elif type_ in ("float", "fixed32", "sfixed32"):
            out.append(_scalar(type_, 5, data[i:i + 4]))
            i += 4
        else:
            v, i = _varint(data, i)
            out.append(_scalar(type_, 0, v))
    return out


def decode_message(name: str, data: bytes) -> dict[str, Any]:
    """One message as the JSON object Go's encoding/json would write for its struct."""
    spec = messages().get(name)
    if spec is None:
        raise ValueError(f"unknown message {name}")
    out: dict[str, Any] = {}
    for number, wire, raw in fields_of(data):
        f = spec.get(number)
        if f is None:
            continue  # an unknown field: proto ignores it
        if f.type == "map":
            entry = {n: v for n, _, v in fields_of(bytes(raw))}
            key = _scalar(f.key or "string", 2, entry.get(1, b""))
            out.setdefault(f.name, {})[key] = _value(f.value or "string", 2, entry.get(2, b""))
        elif f.repeated:
            items = out.setdefault(f.name, [])
            if wire == 2 and f.type in _SCALARS and f.type not in ("string", "bytes"):
                items.extend(_packed(f.type, bytes(raw)))
            else:
                items.append(_value(f.type, wire, raw))
        else:
            out[f.name] = _value(f.type, wire, raw)
    keep = kept_zero()
    return {k: v for k, v in out.items() if v is not None and (not _is_zero(v) or f"{name}.{k}" in keep)}


def _is_zero(value: Any) -> bool:
    return value is False or value == "" or (type(value) in (int, float) and value == 0)


@cache
def kept_zero() -> frozenset[str]:
    """``message.field`` names whose zero value stays (a pointer, or a field without ``omitempty``)."""
    lines = (PROTO_DIR / "keep-zero.txt").read_text().splitlines()
    return frozenset(line.strip() for line in lines if line.strip() and not line.startswith("#"))


def decode_body(raw: bytes) -> dict[str, Any]:
    """A protobuf request body as the JSON object it stands for, with apiVersion and kind; a body that is
    not kube's protobuf envelope is the 400 the real serializer answers."""
    if not raw.startswith(MAGIC):
        raise bad_request("provided data does not appear to be a protobuf message, expected prefix "
                          "[107 56 115 0]")
    try:
        unknown = decode_message("k8s.io.apimachinery.pkg.runtime.Unknown", raw[len(MAGIC):])
        meta = unknown.get("typeMeta") or {}
        api_version, kind = meta.get("apiVersion", ""), meta.get("kind", "")
        if unknown.get("contentEncoding"):
            raise bad_request(f"unsupported content encoding {unknown['contentEncoding']!r}")
        name = message_for(api_version, kind)
        if name not in messages():
            raise bad_request(f'no kind "{kind}" is registered for version "{api_version}" in scheme '
                              '"pkg/api/legacyscheme/scheme.go:30"')
        body = decode_message(name, base64.b64decode(unknown.get("raw", "")))
    except (ValueError, struct.error, RecursionError) as e:
        raise bad_request(f"unable to decode the protobuf body: {e}") from None
    return {"kind": kind, "apiVersion": api_version, **body} if kind else body
