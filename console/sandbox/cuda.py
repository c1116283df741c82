"""The sandbox's own model of an NVIDIA driver loading a CUDA application: does the driver accept the
CUDA runtime the image ships, and is there a kernel the GPU can run.

Written apart from the console's compatibility checker on purpose: the sandbox is the witness the
checker's predictions are tested against, so it reads NVIDIA's data (assets/cuda-drivers.yaml) itself
and decides with its own code. A wrong rule in one of them then shows up as a disagreement.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

import yaml

from console.core.paths import asset

Version = tuple[int, ...]
_VERSION = re.compile(r"[0-9]+(?:\.[0-9]+){0,3}")
_ARCH = re.compile(r"(sm|compute)_([0-9]+)([0-9])([af]?)")


def version(text: object) -> Version | None:
    """``535.104.05`` → (535, 104, 5); None for anything that is not dot-separated digits."""
    s = str(text).strip()
    return tuple(int(p) for p in s.split(".")) if _VERSION.fullmatch(s) else None


class Support(StrEnum):
    """How a driver takes a CUDA runtime (NVIDIA's CUDA Compatibility guide)."""

    FULL = "full"  # driver ≥ the toolkit's minimum in the release notes' table
    MINOR = "minor-version-compat"  # same major, driver ≥ the major's floor: runs, but no JIT of newer PTX
    TOO_OLD = "too-old"  # cudaErrorInsufficientDriver at the first CUDA call
    UNKNOWN = "unknown"  # a toolkit or driver the table cannot place: the sandbox does not judge it


@dataclass(frozen=True)
class DriverTable:
    """NVIDIA's toolkit → minimum driver rows (driver kept as written, e.g. "580.65.06") and the
    minor-version compatibility floor of each CUDA major."""

    rows: tuple[tuple[Version, Version, str], ...]  # (toolkit X.Y.U, driver, driver as written), ascending
    floors: Mapping[int, Version]

    def minimum(self, cuda: str) -> str | None:
        """The driver toolkit ``cuda`` needs for full support: the row of its update, else the nearest
        earlier update of the same minor release, else the release's first row (CUDA 11.0 GA is 11.0.2)."""
        wanted = version(cuda)
        if wanted is None:
            return None
        padded = (*wanted, 0, 0)[:3]
        same_minor = [r for r in self.rows if r[0][:2] == padded[:2]]
        if not same_minor:
            return None
        earlier = [r for r in same_minor if r[0] <= padded]
        return (earlier[-1] if earlier else same_minor[0])[2]

    def driver_cuda(self, driver: str) -> tuple[int, int] | None:
        """The CUDA version a driver reports (cuDriverGetVersion): the newest minor release with a row
        it meets. This is what GPU Feature Discovery publishes as nvidia.com/cuda.runtime.*."""
        have = version(driver)
        met = [r[0][:2] for r in self.rows if have is not None and r[1] <= have]
        return (met[-1][0], met[-1][1]) if met else None

    def support(self, cuda: str, driver: str) -> Support:
        """How ``driver`` takes the CUDA runtime ``cuda``: the toolkit's row, then its major's floor."""
        need, have, runtime = self.minimum(cuda), version(driver), version(cuda)
        if need is None or have is None or runtime is None:
            return Support.UNKNOWN
        if have >= (version(need) or ()):
            return Support.FULL
        floor = self.floors.get(runtime[0])
        return Support.MINOR if floor is not None and have >= floor else Support.TOO_OLD

    def can_jit(self, cuda: str, driver: str) -> bool:
        """Whether the driver's JIT compiler reads PTX that toolkit ``cuda`` emitted: its own CUDA version
        must be at least the toolkit's (a newer PTX ISA fails with "unsupported toolchain")."""
        runtime, reports = version(cuda), self.driver_cuda(driver)
        if runtime is None or self.minimum(cuda) is None:
            return True  # outside the table: not judged
        return reports is not None and reports >= (*runtime, 0)[:2]


@lru_cache(maxsize=1)
def driver_table() -> DriverTable:
    """The table in assets/cuda-drivers.yaml (rows that do not parse are skipped, not guessed)."""
    data = yaml.safe_load(asset("cuda-drivers.yaml").read_text()) or {}
    rows = []
    for toolkit, driver in (data.get("toolkits") or {}).items():
        t, d = version(toolkit), version(driver)
        if t is not None and d is not None:
            rows.append(((*t, 0, 0)[:3], d, str(driver)))
    floors = {int(major): v for major, text in (data.get("minor_version_floors") or {}).items()
              if (v := version(text)) is not None}
    return DriverTable(tuple(sorted(rows)), floors)


# ---- GPU architectures ------------------------------------------------------------------------------
class Kernel(StrEnum):
    """Where the kernel for the device comes from when the CUDA runtime loads the fat binary."""

    CUBIN = "cubin"  # SASS built for this GPU (or an earlier minor of its major)
    PTX = "ptx"  # only PTX fits: the driver JIT-compiles it at load
    NONE = "none"  # "no kernel image is available for execution on the device"
    UNREAD = "unread"  # an arch list the sandbox cannot read: not judged


def _arch_fits(kind: str, major: int, minor: int, variant: str, cc: tuple[int, int]) -> bool:
    if variant == "a":  # arch-specific features (sm_90a): that exact GPU only, SASS or PTX alike
        return (major, minor) == cc
    if kind == "sm" or variant == "f":  # SASS is binary-compatible forward within its major only
        return major == cc[0] and minor <= cc[1]
    return (major, minor) <= cc  # plain PTX JIT-compiles for any later GPU


def kernel_for(arch_list: Iterable[str], cc: tuple[int, int]) -> Kernel:
    """Which code a binary built for ``arch_list`` (sm_XY / compute_XY tokens) runs on compute
    capability ``cc``; a cubin that fits wins over PTX, as the runtime prefers it."""
    found = Kernel.NONE
    for token in arch_list:
        m = _ARCH.fullmatch(token.strip())
        if m is None:
            return Kernel.UNREAD
        kind, major, minor, variant = m.group(1), int(m.group(2)), int(m.group(3)), m.group(4)
        if _arch_fits(kind, major, minor, variant, cc):
            if kind == "sm":
                found = Kernel.CUBIN
            elif found is Kernel.NONE:
                found = Kernel.PTX
    return found
