"""CUDA toolkit / driver / GPU-architecture rules: pure functions over the data in ``assets/cuda-drivers.yaml``
(reference.md §2) and over the facts gathered in :mod:`console.compat.facts`.

Verdicts, per (image, node): OK; WARN minor-version compatibility; WARN forward compatibility (compat package
in the image, data-center GPU); FAIL driver too old (naming the driver needed); FAIL GPU architecture missing
(the "no kernel image is available for execution on the device" case); FAIL CUDA 13 on compute capability
< 7.5; UNKNOWN whenever a fact is missing — never OK by default.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from console.compat.versions import VersionError, driver_table, format_version, parse_arch, parse_version

if TYPE_CHECKING:
    from console.compat.facts import ImageFacts, NodeFacts

NO_KERNEL = "CUDA error: no kernel image is available for execution on the device"
DRIVER_INSUFFICIENT = "CUDA driver version is insufficient for CUDA runtime version"


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
