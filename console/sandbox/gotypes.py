"""Go's types as kube-apiserver's typed decoder sees them, and the values with a syntax of their own.

The vocabulary (:class:`Struct`, :class:`ListOf`, :class:`MapOf`, scalars, ints of a width, the types with
their own ``UnmarshalJSON``) that console/sandbox/schema.py declares each kind's fields in, the basic types
every declaration shares (``S``, ``I32``, ``Q`` ...), and the parsing of quantities and RFC 3339 times and
Go's names for JSON values, which the decoding walk (schema.decode) and validation (api_validate) use.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any


# ---- the type vocabulary ----------------------------------------------------------------------------
class GoType:
    """A Go type: ``go`` its name in decoder errors, ``openapi`` its OpenAPI type ("" for anything)."""

    go: str
    openapi: str

    def zero(self) -> Any:
        return None


@dataclass(frozen=True, eq=False)
class Scalar(GoType):
    go: str
    openapi: str

    def zero(self) -> Any:
        return {"string": "", "boolean": False}.get(self.openapi, 0)


@dataclass(frozen=True, eq=False)
class Int(GoType):
    go: str  # "int32" | "int64"
    bits: int
    openapi: str = "integer"

    @property
    def bounds(self) -> tuple[int, int]:
        """The smallest and the largest value of this width."""
        return -(2 ** (self.bits - 1)), 2 ** (self.bits - 1) - 1

    def zero(self) -> Any:
        return 0


@dataclass(frozen=True, eq=False)
class Special(GoType):
    """Types with their own UnmarshalJSON: quantities, int-or-string, times, base64 bytes."""

    go: str
    what: str  # "quantity" | "intorstr" | "time" | "microtime" | "bytes"
    openapi: str = ""

    def zero(self) -> Any:
        return {"quantity": "0", "intorstr": 0, "bytes": ""}.get(self.what)


@dataclass(frozen=True, eq=False)
class Raw(GoType):
    """Anything (``interface{}``, ``runtime.RawExtension``) or, with ``go`` set, a struct not modelled
    field by field here: it must be a JSON object, its contents are not checked."""

    go: str = "interface {}"
    object: bool = False

    @property
    def openapi(self) -> str:  # type: ignore[override]
        return "object" if self.object else ""

    def zero(self) -> Any:
        return {} if self.object else None


@dataclass(frozen=True, eq=False)
class Struct(GoType):
    go: str
    fields: dict[str, GoType] = field(default_factory=dict)
    openapi: str = "object"

    @property
    def short(self) -> str:
        return self.go.rsplit(".", 1)[-1]

    def zero(self) -> Any:
        return {}


@dataclass(frozen=True, eq=False)
class ListOf(GoType):
    item: GoType
    openapi: str = "array"

    @property
    def go(self) -> str:  # type: ignore[override]
        return "[]" + self.item.go

    def zero(self) -> Any:
        return []


@dataclass(frozen=True, eq=False)
class MapOf(GoType):
    value: GoType
    key_go: str = "string"
    openapi: str = "object"

    @property
    def go(self) -> str:  # type: ignore[override]
        return f"map[{self.key_go}]{self.value.go}"

    def zero(self) -> Any:
        return {}


def struct(go: str, **fields: GoType) -> Struct:
    return Struct(go, fields)


def obj(go: str) -> Raw:
    return Raw(go, object=True)


S = Scalar("string", "string")
B = Scalar("bool", "boolean")
I32 = Int("int32", 32)
I64 = Int("int64", 64)
Q = Special("resource.Quantity", "quantity")
IOS = Special("intstr.IntOrString", "intorstr", "integer,string")
TIME = Special("v1.Time", "time", "string")
MICRO = Special("v1.MicroTime", "microtime", "string")
BYTES = Special("[]uint8", "bytes", "string")
ANY = Raw()
STRS = ListOf(S)
STRMAP = MapOf(S)
QMAP = MapOf(Q, "v1.ResourceName")


# ---- values: quantities, times, JSON type names ---------------------------------------------------
QUANTITY_RE = re.compile(r"^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+|Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE])?$")
QUANTITY_MSG = "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
_RFC3339 = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?(?:([Zz])|([+-])(\d{2}):(\d{2}))$")


_QUANTITY_PARTS = re.compile(r"^([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))(.*)$")
_MULTIPLIERS: dict[str, Decimal] = {
    "": Decimal(1), "n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "k": Decimal(10) ** 3,
    "M": Decimal(10) ** 6, "G": Decimal(10) ** 9, "T": Decimal(10) ** 12, "P": Decimal(10) ** 15,
    "E": Decimal(10) ** 18,
    **{s: Decimal(2) ** (10 * i) for i, s in enumerate(("Ki", "Mi", "Gi", "Ti", "Pi", "Ei"), 1)},
}


def parse_quantity_exact(value: Any) -> Decimal | None:
    """A quantity's exact value; None when it is not one or is beyond what a Quantity holds (2^63)."""
    m = _QUANTITY_PARTS.match(str(value))
    if not m or not QUANTITY_RE.match(str(value)):
        return None
    number, suffix = Decimal(m.group(1)), m.group(2)
    if suffix[:1] in ("e", "E") and suffix != "E":
        exponent = int(suffix[1:])
        if exponent > 30:
            return None if number else Decimal(0)
        exact = number * Decimal(10) ** max(exponent, -30)
    else:
        exact = number * _MULTIPLIERS[suffix]
    return exact if abs(exact) < 2**63 else None


def json_type(value: Any) -> str:
    """How Go's decoder names a JSON value in an UnmarshalTypeError."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    return "number"


def openapi_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "integer" if value.is_integer() else "number"
    return {"object": "object", "array": "array", "string": "string"}.get(json_type(value), "null")


def parse_time(value: str, micro: bool = False) -> str:
    """An RFC 3339 time re-written as the API server serializes it (UTC, seconds or microseconds)."""
    m = _RFC3339.match(value)
    if not m:
        raise ValueError
    y, mo, d, h, mi, s = (int(m.group(i)) for i in range(1, 7))
    frac = int(((m.group(7) or ".0")[1:] + "000000")[:6])
    tz = UTC
    if m.group(9):
        offset = timedelta(hours=int(m.group(10)), minutes=int(m.group(11)))
        tz = timezone(offset if m.group(9) == "+" else -offset)
    t = datetime(y, mo, d, h, mi, s, frac, tzinfo=tz).astimezone(UTC)
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ" if micro else "%Y-%m-%dT%H:%M:%SZ")
