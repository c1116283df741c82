"""CUDA toolkit / driver rules as pure functions over the data in ``assets/cuda-drivers.yaml``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import yaml

from console.paths import asset

_VERSION = re.compile(r"^\d+(\.\d+){0,3}$")


class VersionError(ValueError):
    """A version string that is not of the form N[.N[.N]]."""


def parse_version(text: str) -> tuple[int, ...]:
    """Parse '12.2', '12.2.2', '535.104.05' or '570.26' strictly into a tuple of ints."""
    if not isinstance(text, str) or not _VERSION.match(text.strip()):
        raise VersionError(f"not a version number: {text!r} (expected digits separated by dots, e.g. 12.2)")
    return tuple(int(p) for p in text.strip().split("."))


@dataclass(frozen=True)
class DriverTable:
    source: str
    toolkits: dict[tuple[int, int, int], str]
    floors: dict[int, str]
    min_compute: dict[int, tuple[int, int]]

    def min_driver(self, cuda: str) -> str:
        """Minimum driver for full compatibility with toolkit ``cuda`` ('12.2' = 12.2.0)."""
        parts = parse_version(cuda)
        major, minor = parts[0], parts[1] if len(parts) > 1 else 0
        update = parts[2] if len(parts) > 2 else 0
        rows = [(k, v) for k, v in self.toolkits.items() if k[:2] == (major, minor) and k[2] <= update]
        if not rows:
            raise VersionError(f"CUDA {cuda} is not in the driver table ({self.source})")
        return max(rows)[1]


@lru_cache(maxsize=1)
def driver_table() -> DriverTable:
    data = yaml.safe_load(asset("cuda-drivers.yaml").read_text())
    toolkits = {}
    for k, v in data["toolkits"].items():
        a, b, c = parse_version(k)
        toolkits[(a, b, c)] = str(v)
    floors = {int(k): str(v) for k, v in data["minor_version_floors"].items()}
    min_cc = {}
    for k, v in data["min_compute_capability"].items():
        cc = parse_version(str(v))
        min_cc[int(k)] = (cc[0], cc[1])
    return DriverTable(data["source"], toolkits, floors, min_cc)


def driver_supports(driver: str, cuda: str) -> bool:
    """Whether ``driver`` is at least the table's minimum for toolkit ``cuda`` (full compatibility)."""
    return parse_version(driver) >= parse_version(driver_table().min_driver(cuda))
