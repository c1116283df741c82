"""CUDA toolkit / driver / GPU-architecture rules: pure functions over the data in ``assets/cuda-drivers.yaml``
(reference.md §2) and over the facts gathered in :mod:`console.services.compat_facts`.

Verdicts, per (image, node): OK; WARN minor-version compatibility; WARN forward compatibility (compat package
in the image, data-center GPU); FAIL driver too old (naming the driver needed); FAIL GPU architecture missing
(the "no kernel image is available for execution on the device" case); FAIL CUDA 13 on compute capability
< 7.5; UNKNOWN whenever a fact is missing — never OK by default.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from typing import TYPE_CHECKING

import yaml

from console.paths import asset

if TYPE_CHECKING:
    from .compat_facts import ImageFacts, NodeFacts

_PART = re.compile(r"[0-9]{1,9}")
MAX_PARTS = 4
NO_KERNEL = "CUDA error: no kernel image is available for execution on the device"
DRIVER_INSUFFICIENT = "CUDA driver version is insufficient for CUDA runtime version"


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


def driver_supports(driver: str, cuda: str) -> bool:
    """Whether ``driver`` is at least the table's minimum for toolkit ``cuda`` (full compatibility)."""
    return parse_version(driver) >= parse_version(driver_table().min_driver(cuda))


# ---- verdicts -----------------------------------------------------------------------------------------
class Level(StrEnum):
    OK = "OK"
    WARN = "WARN"
    UNKNOWN = "UNKNOWN"
    FAIL = "FAIL"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {Level.OK: 0, Level.WARN: 1, Level.UNKNOWN: 2, Level.FAIL: 3}


@dataclass(frozen=True)
class Verdict:
    level: Level
    code: str  # ok | minor-version-compat | forward-compat | driver-too-old | arch-missing | cc-unsupported | ...
    reason: str
    fix: str = ""


def worst(levels: Iterable[Level]) -> Level:
    """The most severe level (FAIL > UNKNOWN > WARN > OK); OK for none."""
    return max(levels, key=lambda lv: lv.rank, default=Level.OK)


def _cuda_text(parts: tuple[int, ...] | None) -> str:
    return format_version(parts[:2]) if parts else "none"


def driver_verdict(cuda: str, driver: str, *, compat_package: bool = False, data_center: bool | None = None,
                   product: str = "") -> Verdict:
    """Can this driver run this toolkit? reference.md §2's order: the table row → OK; same major and the
    minor-version floor → WARN; forward-compat package on a data-center GPU → WARN; else FAIL."""
    table = driver_table()
    try:
        have, cuda_parts = parse_version(driver), parse_version(cuda)
    except VersionError as exc:
        return Verdict(Level.UNKNOWN, "bad-version", str(exc), "fix the image's CUDA_VERSION or the node's labels")
    try:
        need = table.min_driver(cuda)
    except VersionError:
        return Verdict(Level.UNKNOWN, "cuda-unknown", f"CUDA {cuda} is not in the driver table ({table.source}): "
                       "which driver it needs is unknown", "check NVIDIA's release notes and add the row to "
                       "assets/cuda-drivers.yaml")
    if have >= parse_version(need):
        return Verdict(Level.OK, "ok", f"driver {driver} ≥ {need}, the minimum for CUDA {cuda}")
    drv_cuda = _cuda_text(table.newest_cuda(driver))
    major = cuda_parts[0]
    floor = table.floor(major)
    upgrade = f"upgrade the nodes' driver to ≥ {need} (GPU Operator: driver.version)"
    if floor is not None and have >= parse_version(floor):
        return Verdict(Level.WARN, "minor-version-compat",
                       f"driver {driver} is older than {need} (CUDA {cuda}) but ≥ the CUDA {major}.x floor {floor}: "
                       f"runs through minor-version compatibility — features newer than CUDA {drv_cuda} are "
                       f"unavailable and PTX built by CUDA {cuda} cannot be JIT-compiled",
                       f"{upgrade} for full compatibility, or build the image on CUDA ≤ {drv_cuda}")
    if compat_package and data_center:
        return Verdict(Level.WARN, "forward-compat",
                       f"driver {driver} supports CUDA ≤ {drv_cuda}; CUDA {cuda} runs through the image's "
                       f"forward-compatibility package on this data-center GPU ({product or 'unknown product'})",
                       f"{upgrade} to stop depending on the compat package")
    if compat_package and data_center is None:
        return Verdict(Level.UNKNOWN, "forward-compat-unknown",
                       f"driver {driver} supports CUDA ≤ {drv_cuda}; the image ships a forward-compatibility "
                       f"package, which works only on data-center GPUs, and GPU product "
                       f"{product or '(no label)'} is not known to be one", f"{upgrade}, or confirm the GPU is "
                       "a data-center model (NVIDIA's CUDA Compatibility guide lists them)")
    why = f"driver {driver} too old for CUDA {cuda}, needs ≥ {need}"
    if floor is not None:
        why += f" (or ≥ {floor} for CUDA {major}.x minor-version compatibility)"
    if compat_package:
        why += f"; the image's forward-compatibility package does not work on {product or 'this GPU'} (not a " \
               "data-center GPU)"
    return Verdict(Level.FAIL, "driver-too-old", f"{why} — pods crash with \"{DRIVER_INSUFFICIENT}\"",
                   f"{upgrade}, or use an image built for CUDA ≤ {drv_cuda}")


def cc_verdict(cuda: str, cc: tuple[int, int], product: str = "") -> Verdict | None:
    """FAIL when the CUDA major dropped this compute capability (CUDA 13: < 7.5); None when no rule applies."""
    try:
        major = parse_version(cuda)[0]
    except VersionError:
        return None
    low = driver_table().min_compute.get(major)
    if low is None or cc >= low:
        return None
    gpu = f" ({product})" if product else ""
    return Verdict(Level.FAIL, "cc-unsupported",
                   f"CUDA {major} supports compute capability ≥ {low[0]}.{low[1]} only (Maxwell, Pascal and Volta "
                   f"were dropped); the node's GPU{gpu} is {cc[0]}.{cc[1]}",
                   f"use a CUDA {major - 1}.x image on these nodes, or schedule the workload on GPUs with compute "
                   f"capability ≥ {low[0]}.{low[1]} (nodeSelector nvidia.com/gpu.product)")


def parse_arch(token: str) -> tuple[str, tuple[int, int], str]:
    """'sm_86' → ('sm', (8, 6), ''); 'compute_90a' → ('compute', (9, 0), 'a'). The last digit is the minor."""
    kind, _, rest = token.partition("_")
    m = re.fullmatch(r"([0-9]{2,3})([af]?)", rest)
    if kind not in ("sm", "compute") or not m:
        raise ValueError(f"not a GPU architecture: {token!r} (expected sm_XY or compute_XY)")
    digits = m.group(1)
    return kind, (int(digits[:-1]), int(digits[-1])), m.group(2)


def arch_runs(arch_list: Iterable[str], cc: tuple[int, int], ptx_jit: bool = True) -> tuple[str, str] | None:
    """How a binary built for ``arch_list`` runs on compute capability ``cc``: ('sass', arch) when it has a
    cubin for it — sm_XY runs on X.Z for Z ≥ Y (same major; 'a' variants only on exactly X.Y, 'f' within the
    family) — else ('ptx', arch) when PTX compute_ZW with ZW ≤ cc can be JIT-compiled; None: no kernel."""
    sass: tuple[tuple[int, int], str] | None = None
    ptx: tuple[tuple[int, int], str] | None = None
    for token in arch_list:
        kind, arch_cc, variant = parse_arch(token)
        if variant == "a":
            fits = arch_cc == cc
        elif kind == "sm" or variant == "f":
            fits = arch_cc[0] == cc[0] and arch_cc[1] <= cc[1]
        else:
            fits = arch_cc <= cc
        if fits and kind == "sm" and (sass is None or arch_cc > sass[0]):
            sass = (arch_cc, token)  # the closest cubin is the one the runtime loads
        elif fits and kind == "compute" and (ptx is None or arch_cc > ptx[0]):
            ptx = (arch_cc, token)
    if sass:
        return "sass", sass[1]
    if ptx and ptx_jit:
        return "ptx", ptx[1]
    return ("ptx-no-jit", ptx[1]) if ptx else None


def arch_verdict(arch_list: tuple[str, ...] | None, cc: tuple[int, int], *, ptx_jit: bool = True, product: str = "",
                 cuda: str = "") -> Verdict:
    sm = f"sm_{cc[0]}{cc[1]}"
    gpu = f"{product + ', ' if product else ''}compute capability {cc[0]}.{cc[1]}"
    if arch_list is None:
        return Verdict(Level.UNKNOWN, "arch-unknown",
                       f"the image declares no GPU architecture list: whether it has kernels for {sm} ({gpu}) is "
                       "unknown", 'declare it when building: LABEL ai.llmctl.cuda.arch-list="sm_80 sm_86 sm_90 '
                                  'compute_90" (or ENV TORCH_CUDA_ARCH_LIST)')
    how = arch_runs(arch_list, cc, ptx_jit)
    built = " ".join(arch_list) or "nothing"
    if how and how[0] == "sass":
        return Verdict(Level.OK, "ok", f"kernels for {sm} ({gpu}): SASS {how[1]}")
    if how and how[0] == "ptx":
        return Verdict(Level.OK, "ok", f"kernels for {sm} ({gpu}) JIT-compiled from PTX {how[1]} (slower first start)")
    fix = (f'rebuild with {sm} in the arch list (e.g. TORCH_CUDA_ARCH_LIST="{cc[0]}.{cc[1]}" or '
           f'"8.0;8.6;9.0+PTX"), or pick a wheel/image built for compute capability {cc[0]}.{cc[1]}')
    if how and how[0] == "ptx-no-jit":
        return Verdict(Level.FAIL, "ptx-too-new",
                       f"no SASS for {sm} ({gpu}); PTX {how[1]} built by CUDA {cuda or '?'} cannot be JIT-compiled by "
                       f"an older driver under minor-version compatibility — \"{NO_KERNEL}\"",
                       f"{fix}; or upgrade the driver")
    return Verdict(Level.FAIL, "arch-missing",
                   f"no kernel for {sm} ({gpu}): the image is built for {built}, with no SASS for {sm} and no PTX "
                   f"≤ compute_{cc[0]}{cc[1]} — pods crash with \"{NO_KERNEL}\"", fix)


def judge(image: ImageFacts, node: NodeFacts) -> tuple[Verdict, ...]:
    """Every verdict for running ``image`` on ``node``, most severe first."""
    if image.error:
        return (Verdict(Level.UNKNOWN, "image-unreadable", f"the image's config could not be read: {image.error}",
                        "check the reference, that the registry is reachable, and its credentials (docker login)"),)
    if not image.cuda:
        return (Verdict(Level.UNKNOWN, "image-no-cuda",
                        "the image declares no CUDA version (no CUDA_VERSION or NVIDIA_REQUIRE_CUDA in its config): "
                        "which driver it needs is unknown",
                        "build FROM an nvidia/cuda base, or set ENV CUDA_VERSION=X.Y.Z in the Dockerfile"),)
    if not node.driver or node.compute is None:
        missing = "driver" if not node.driver else "compute capability"
        return (Verdict(Level.UNKNOWN, "node-unlabelled",
                        f"node {node.name} has no GPU Feature Discovery labels for its {missing} "
                        f"(nvidia.com/cuda.driver.*, nvidia.com/gpu.compute.*)" +
                        (f": {'; '.join(node.problems)}" if node.problems else ""),
                        "deploy GPU Feature Discovery (the GPU Operator, or NFD + GFD)"),)
    product = node.product or ""
    out = [driver_verdict(image.cuda, node.driver, compat_package=image.compat_package, data_center=node.data_center,
                          product=product)]
    cc = cc_verdict(image.cuda, node.compute, product)
    if cc is not None:
        out.append(cc)
    out.append(arch_verdict(image.arch_list, node.compute, ptx_jit=out[0].code != "minor-version-compat",
                            product=product, cuda=image.cuda))
    return tuple(sorted(out, key=lambda v: -v.level.rank))
