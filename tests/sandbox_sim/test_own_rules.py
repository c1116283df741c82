"""The sandbox's own rules, checked against what a real NVIDIA driver / CUDA runtime and the real
deployment controller do — not against the console's checker, which they are there to witness."""

from __future__ import annotations

import random
import subprocess
import sys
from dataclasses import replace
from typing import Any

import pytest

from console.sandbox.controllers import containers as ct
from console.sandbox.controllers import rollout as ro
from console.sandbox.controllers.nodes import PRESETS, make_node
from console.sandbox.cuda import Kernel, Support, driver_table, kernel_for, version
from console.sandbox.images import CatalogImage

NOW = "2026-01-01T00:00:00Z"
ALL = ("sm_80", "sm_86", "sm_90")


def node(preset: str = "A10G", driver: str | None = None) -> dict[str, Any]:
    product = PRESETS[preset] if driver is None else replace(PRESETS[preset], driver=driver)
    return make_node("gpu-node-1", 1, product, 1, now=NOW)


def image(cuda: str | None = "12.2.2", arch: tuple[str, ...] = ALL) -> CatalogImage:
    return CatalogImage("llm/test", "v1", cuda, arch, 1000, ())


def start(img: CatalogImage, n: dict[str, Any]) -> ct.Outcome:
    return ct.start_outcome(img, n, True, random.Random(0))


# ---- the driver table -----------------------------------------------------------------------------
def test_driver_table_rows_and_the_version_a_driver_reports() -> None:
    table = driver_table()
    assert table.minimum("13.0.0") == "580.65.06", "kept as NVIDIA writes it (not 580.65.6)"
    assert table.minimum("12.2.2") == "535.104.05" and table.minimum("12.2") == "535.54.03"
    assert table.minimum("12.2.9") == "535.104.05", "an update past the table: its latest row"
    assert table.minimum("11.0") == "450.51.05", "CUDA 11.0's GA was 11.0.2"
    assert table.minimum("12.7") is None and table.minimum("twelve") is None
    assert table.driver_cuda("535.104.05") == (12, 2) and table.driver_cuda("550.90.07") == (12, 4)
    assert table.driver_cuda("535.54.03") == (12, 2), "any update's row of a minor release counts"
    assert table.driver_cuda("300.1") is None
    assert version("535.104.05") == (535, 104, 5) and version("12.2-rc") is None


@pytest.mark.parametrize(("cuda", "driver", "expected"), [
    ("12.2.2", "535.104.05", Support.FULL),
    ("12.2.2", "550.90.07", Support.FULL),  # a newer driver runs older toolkits
    ("11.8.0", "535.104.05", Support.FULL),
    ("12.4.1", "535.104.05", Support.MINOR),  # same major, ≥ the 12.x floor 525
    ("12.8.0", "525.60.13", Support.MINOR),
    ("11.8.0", "450.80.02", Support.MINOR),  # the 11.x floor itself
    ("11.8.0", "450.51.06", Support.TOO_OLD),  # below the 11.x floor
    ("13.0.0", "535.104.05", Support.TOO_OLD),  # a newer major: below the 13.x floor 580
    ("13.2.0", "580.65.06", Support.MINOR),
    ("12.2.2", "470.82.01", Support.TOO_OLD),
    ("10.2.0", "418.39", Support.TOO_OLD),  # no minor-version compatibility before CUDA 11
    ("12.7", "535.104.05", Support.UNKNOWN),  # not in the table: not judged
    ("12.2.2", "r535", Support.UNKNOWN),
])
def test_driver_support(cuda: str, driver: str, expected: Support) -> None:
    assert driver_table().support(cuda, driver) is expected


# ---- GPU architectures ----------------------------------------------------------------------------
@pytest.mark.parametrize(("arch", "cc", "expected"), [
    (("sm_90",), (8, 6), Kernel.NONE),  # Hopper-only on an A10G
    (("sm_90",), (9, 0), Kernel.CUBIN),
    (("sm_80",), (8, 6), Kernel.CUBIN),  # SASS runs on later minors of its major
    (("sm_86",), (8, 0), Kernel.NONE),  # ... never on earlier ones
    (("sm_80",), (9, 0), Kernel.NONE),  # ... nor on another major
    (("compute_80",), (9, 0), Kernel.PTX),  # PTX JIT-compiles for any later GPU
    (("compute_90",), (8, 6), Kernel.NONE),
    (("sm_80", "compute_80"), (8, 6), Kernel.CUBIN),  # a cubin wins over PTX
    (("sm_90a",), (9, 0), Kernel.CUBIN),
    (("sm_90a", "compute_90a"), (10, 0), Kernel.NONE),  # arch-specific: that GPU only
    (("sm_100f",), (10, 3), Kernel.CUBIN),  # family-specific: later minors of the family
    (("sm_120",), (12, 0), Kernel.CUBIN),
    (("8.6", "9.0+PTX"), (8, 6), Kernel.UNREAD),  # not sm_/compute_ tokens: not judged
])
def test_kernel_for(arch: tuple[str, ...], cc: tuple[int, int], expected: Kernel) -> None:
    assert kernel_for(arch, cc) is expected


# ---- container starts -----------------------------------------------------------------------------
def test_a_driver_below_the_minimum_crashes_with_the_driver_message() -> None:
    for img, n in ((image("13.0.0"), node()), (image("12.2.2"), node(driver="470.82.01"))):
        out = start(img, n)
        assert out.kind == "crash" and 1.5 <= out.delay <= 2.5
        assert out.log[-1] == ct.CUDA_DRIVER_ERROR == \
            "RuntimeError: CUDA error: CUDA driver version is insufficient for CUDA runtime version"


def test_an_sm90_only_image_crashes_on_an_a10g_with_no_kernel_image() -> None:
    a10g = node()
    assert a10g["metadata"]["labels"]["nvidia.com/gpu.compute.minor"] == "6"
    out = start(image(arch=("sm_90",)), a10g)
    assert out.kind == "crash" and ct.NO_KERNEL_ERROR in out.log
    assert "no kernel image is available for execution on the device" in ct.NO_KERNEL_ERROR
    assert start(image(arch=("sm_90",)), node("H100-80GB-HBM3")).kind == "ready"


def test_minor_version_compatibility_runs_but_cannot_jit_newer_ptx() -> None:
    old = node(driver="535.104.05")  # reports CUDA 12.2
    assert start(image("12.4.1", ALL), old).kind == "ready", "cubins for sm_86: runs under minor-version compat"
    ptx_only = start(image("12.4.1", ("sm_80", "compute_80")), node("L4", "535.104.05"))  # L4 is 8.9: sm_80 fits
    assert ptx_only.kind == "ready"
    hopper_ptx = start(image("12.4.1", ("sm_80", "compute_80")), node("H100-80GB-HBM3", "535.104.05"))
    assert hopper_ptx.kind == "crash" and ct.PTX_TOOLCHAIN_ERROR in hopper_ptx.log
    full = start(image("12.2.2", ("sm_80", "compute_80")), node("H100-80GB-HBM3", "535.104.05"))
    assert full.kind == "ready", "PTX from a toolkit the driver fully supports JIT-compiles"


def test_what_the_sandbox_does_not_judge_runs() -> None:
    assert start(image("12.7"), node()).kind == "ready", "a toolkit outside the table"
    assert start(image(arch=()), node()).kind == "ready", "no declared arch list"
    unlabelled = node()
    unlabelled["metadata"]["labels"] = {}
    assert start(image("13.0.0", ("sm_90",)), unlabelled).kind == "ready", "no GFD labels"
    assert start(image(None), node()).kind == "ready" and start(image(), node()).log == ()


def test_node_labels_report_the_drivers_cuda_version() -> None:
    labels = node("H100-80GB-HBM3")["metadata"]["labels"]
    assert (labels["nvidia.com/cuda.runtime.major"], labels["nvidia.com/cuda.runtime.minor"]) == ("12", "4")
    assert (labels["nvidia.com/cuda.driver.major"], labels["nvidia.com/cuda.driver.rev"]) == ("550", "07")


# ---- deployment arithmetic ------------------------------------------------------------------------
def deployment(replicas: int, rolling: dict[str, Any] | None = None, kind: str = "RollingUpdate") -> dict[str, Any]:
    strategy: dict[str, Any] = {"type": kind}
    if rolling is not None:
        strategy["rollingUpdate"] = rolling
    return {"spec": {"replicas": replicas, "strategy": strategy}}


@pytest.mark.parametrize(("replicas", "rolling", "expected"), [
    (10, None, (3, 2)),  # 25 % of 10 = 2.5: surge rounds up, unavailable down
    (4, None, (1, 1)),
    (1, None, (1, 0)),
    (3, {"maxSurge": "50%", "maxUnavailable": "50%"}, (2, 1)),
    (7, {"maxSurge": "1%", "maxUnavailable": "99%"}, (1, 6)),
    (100, {"maxSurge": "29%", "maxUnavailable": "33%"}, (29, 33)),  # exact, no float creep
    (5, {"maxSurge": "0%", "maxUnavailable": "10%"}, (0, 1)),  # both 0 after rounding → unavailable 1
    (3, {"maxSurge": 0, "maxUnavailable": 0}, (0, 1)),
    (8, {"maxSurge": 2}, (2, 2)),  # the other one defaults to 25 %
    (8, {"maxSurge": None, "maxUnavailable": 1}, (2, 1)),  # null is unset: defaulted like the API server
])
def test_fenceposts(replicas: int, rolling: dict[str, Any] | None, expected: tuple[int, int]) -> None:
    assert ro.fenceposts(deployment(replicas, rolling)) == expected


def test_max_surge_and_unavailable_of_recreate_and_zero_replicas() -> None:
    assert (ro.max_surge(deployment(4, kind="Recreate")), ro.max_unavailable(deployment(4, kind="Recreate"))) == (0, 0)
    assert ro.max_unavailable(deployment(0)) == 0
    assert ro.max_unavailable(deployment(2, {"maxUnavailable": "100%"})) == 2


def test_templates_equal_ignoring_the_hash_label() -> None:
    base = {"metadata": {"labels": {"app": "a"}}, "spec": {"containers": [{"name": "c", "image": "i:1"}]}}
    hashed = {**base, "metadata": {"labels": {"app": "a", ro.HASH_LABEL: "abc"}}}
    assert ro.equal_ignore_hash(base, hashed)
    other = {**base, "spec": {"containers": [{"name": "c", "image": "i:2"}]}}
    assert not ro.equal_ignore_hash(hashed, other)
    bare = {"spec": base["spec"]}
    only_hash = {"metadata": {"labels": {ro.HASH_LABEL: "x"}}, "spec": base["spec"]}
    assert ro.equal_ignore_hash(bare, only_hash), "an emptied label map equals no label map"
    assert hashed["metadata"]["labels"][ro.HASH_LABEL] == "abc", "the inputs are not changed"


# ---- independence -------------------------------------------------------------------------------------
def test_the_sandbox_loads_none_of_the_products_rules() -> None:
    code = ("import sys, console.sandbox.server, console.sandbox.api, console.sandbox.faults, "
            "console.sandbox.controllers.manager, console.sandbox.table;"
            "print(sorted(m for m in sys.modules if m.startswith('console.') "
            "and not m.startswith(('console.sandbox', 'console.core'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip() == "[]"
