"""CUDA versions and the driver table: parsing ``12.2.2`` / ``535.104.05`` / ``sm_86``, and the CUDA toolkit →
minimum driver table in ``assets/cuda-drivers.yaml`` (reference.md §2). No rules here: :mod:`console.compat.rules`
judges with these."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

import yaml

from console.core.paths import asset

_PART = re.compile(r"[0-9]{1,9}")
MAX_PARTS = 4


class VersionError(ValueError):
    """A version string that is not of the form N[.N[.N[.N]]]."""


def parse_version(text: object) -> tuple[int, ...]:
    """Parse '12.2', '12.2.2', '535.104.05' or '570.26' strictly into a tuple of ints. Total: anything
    else (not text, empty, spaces, signs, letters, empty or over-long parts, more than four parts) raises
    VersionError with the reason, never another exception."""
    if not isinstance(text, str):
        raise VersionError(f"not a version number: {text!r} is a {type(text).__name__}, expected text such as "
                           "'12.2'")
    parts = text.split(".")
    why = ""
    if not text:
        why = "empty"
    elif len(parts) > MAX_PARTS:
        why = f"{len(parts)} parts, at most {MAX_PARTS}"
    else:
        bad = next((p for p in parts if not _PART.fullmatch(p)), None)
        if bad == "":
            why = "an empty part (two dots in a row, or a dot at an end)"
        elif bad is not None:
            why = f"part {bad!r} is not 1–9 digits 0-9" if len(bad) < 40 else "a part is not 1–9 digits 0-9"
    if why:
        shown = repr(text) if len(text) <= 40 else repr(text[:40]) + "…"
        raise VersionError(f"not a version number: {shown} ({why}; expected digits separated by dots, e.g. "
                           "12.2 or 535.104.05)")
    return tuple(int(p) for p in parts)


def format_version(parts: Iterable[int]) -> str:
    return ".".join(str(p) for p in parts)


def _token_match(pattern: str, product: str) -> bool:
    """A pattern's dash tokens appear in a row among the product's, each equal or followed only by letters."""
    want, have = pattern.upper().split("-"), product.upper().split("-")
    for start in range(len(have) - len(want) + 1):
        if all(h == w or (h.startswith(w) and h[len(w):].isalpha())
               for w, h in zip(want, have[start:start + len(want)], strict=True)):
            return True
    return False


@dataclass(frozen=True)
class DriverTable:
    source: str
    toolkits: dict[tuple[int, int, int], str]
    floors: dict[int, str]
    min_compute: dict[int, tuple[int, int]]
    data_center_products: tuple[str, ...] = ()
    consumer_products: tuple[str, ...] = ()

    def row(self, cuda: str) -> tuple[tuple[int, int, int], str]:
        """The table row for toolkit ``cuda`` ('12.2' = 12.2.0): the highest update ≤ the one asked, or the
        minor release's first row (CUDA 11.0's GA was numbered 11.0.2)."""
        parts = parse_version(cuda)
        major, minor = parts[0], parts[1] if len(parts) > 1 else 0
        update = parts[2] if len(parts) > 2 else 0
        rows = sorted((k, v) for k, v in self.toolkits.items() if k[:2] == (major, minor))
        if not rows:
            raise VersionError(f"CUDA {cuda} is not in the driver table ({self.source})")
        fitting = [r for r in rows if r[0][2] <= update]
        return fitting[-1] if fitting else rows[0]

    def min_driver(self, cuda: str) -> str:
        """Minimum driver for full compatibility with toolkit ``cuda``."""
        return self.row(cuda)[1]

    def newest_cuda(self, driver: str) -> tuple[int, int, int] | None:
        """The newest toolkit the driver fully supports (what GFD's cuda.runtime labels report), or None."""
        have = parse_version(driver)
        rows = [k for k, v in self.toolkits.items() if parse_version(v) <= have]
        return max(rows) if rows else None

    def floor(self, major: int) -> str | None:
        """The minor-version compatibility floor of a CUDA major, if the table has one."""
        return self.floors.get(major)

    def data_center(self, product: str | None) -> bool | None:
        """Whether forward compatibility works on this GPU product: True (data-center), False (GeForce),
        None (no label, or a product neither list knows)."""
        if not product:
            return None
        if any(_token_match(p, product) for p in self.consumer_products):
            return False
        if any(_token_match(p, product) for p in self.data_center_products):
            return True
        return None


@lru_cache(maxsize=1)
def driver_table() -> DriverTable:
    data = yaml.safe_load(asset("cuda-drivers.yaml").read_text())
    toolkits = {}
    for k, v in data["toolkits"].items():
        a, b, c = parse_version(k)
        parse_version(str(v))
        toolkits[(a, b, c)] = str(v)
    floors = {int(k): str(v) for k, v in data["minor_version_floors"].items()}
    min_cc = {}
    for k, v in data["min_compute_capability"].items():
        cc = parse_version(str(v))
        min_cc[int(k)] = (cc[0], cc[1])
    fwd = data.get("forward_compat_products") or {}
    return DriverTable(data["source"], toolkits, floors, min_cc, tuple(fwd.get("data_center") or ()),
                       tuple(fwd.get("consumer") or ()))


def parse_arch(token: str) -> tuple[str, tuple[int, int], str]:
    """'sm_86' → ('sm', (8, 6), ''); 'compute_90a' → ('compute', (9, 0), 'a'). The last digit is the minor."""
    kind, _, rest = token.partition("_")
    m = re.fullmatch(r"([0-9]{2,3})([af]?)", rest)
    if kind not in ("sm", "compute") or not m:
        raise ValueError(f"not a GPU architecture: {token!r} (expected sm_XY or compute_XY)")
    digits = m.group(1)
    return kind, (int(digits[:-1]), int(digits[-1])), m.group(2)
