"""The compatibility rules, table-driven: every row of the CUDA driver table, and each verdict."""

from __future__ import annotations

import re

import pytest

from console.compat.facts import ImageFacts, NodeFacts
from console.compat.rules import (
    NO_KERNEL,
    Level,
    arch_runs,
    arch_verdict,
    cc_verdict,
    driver_verdict,
    judge,
    worst,
)
from console.compat.versions import driver_table, format_version, parse_version

# reference.md §2 (NVIDIA CUDA 13.2 Update 2 release notes, Table 3), verbatim: the asset must hold every row.
REFERENCE = """
13.2U2 595.71.05 · 13.2U1 595.58.03 · 13.2 595.45.04 · 13.1U1 590.48.01 · 13.1 590.44.01 ·
13.0U2 580.95.05 · 13.0U1 580.82.07 · 13.0 580.65.06 · 12.9U1 575.57.08 · 12.9 575.51.03 ·
12.8U1 570.124.06 · 12.8 570.26 · 12.6U3 560.35.05 · 12.6U2/U1 560.35.03 · 12.6 560.28.03 ·
12.5U1 555.42.06 · 12.5 555.42.02 · 12.4U1 550.54.15 · 12.4 550.54.14 · 12.3U1 545.23.08 ·
12.3 545.23.06 · 12.2U2 535.104.05 · 12.2U1 535.86.09 · 12.2 535.54.03 · 12.1(U1) 530.30.02 ·
12.0U1 525.85.12 · 12.0 525.60.13 · 11.8 520.61.05 · 11.7U1 515.48.07 · 11.7 515.43.04 ·
11.6U1/U2 510.47.03 · 11.6 510.39.01 · 11.5 495.29.05 · 11.4U3/U4 470.82.01 · 11.4U1/U2 470.57.02 ·
11.4 470.42.01 · 11.3 465.19.01 · 11.2U1/U2 460.32.03 · 11.2 460.27.03 · 11.1U1 455.32 ·
11.1 455.23 · 11.0.3 450.51.06 · 11.0.2 450.51.05 · 10.2 440.33 · 10.1 418.39 · 10.0 410.48
"""


def reference_rows() -> dict[tuple[int, int, int], str]:
    rows = {}
    for entry in (e.strip() for e in REFERENCE.replace("\n", " ").split("·")):
        name, driver = entry.split()
        if re.fullmatch(r"\d+\.\d+\.\d+", name):  # 11.0.3 / 11.0.2 are written with their patch number
            rows[tuple(parse_version(name))] = driver
            continue
        m = re.fullmatch(r"(\d+)\.(\d+)(.*)", name)
        assert m, entry
        major, minor, rest = int(m.group(1)), int(m.group(2)), m.group(3)
        updates = [int(u) for u in re.findall(r"U(\d)", rest)] or [0]
        if rest == "(U1)":
            updates = [0, 1]
        for u in updates:
            rows[(major, minor, u)] = driver
    return rows


TABLE = sorted(driver_table().toolkits.items())
NODE_A10G = NodeFacts("gpu-node-1", "NVIDIA-A10G", "535.104.05", "12.2", (8, 6), 23028, 4, 4, gfd=True)


def below(driver: str) -> str:
    """The nearest lower driver version (the one just too old)."""
    parts = list(parse_version(driver))
    for i in range(len(parts) - 1, -1, -1):
        if parts[i] > 0:
            parts[i] -= 1
            return format_version([*parts[:i + 1], *([99] * (len(parts) - i - 1))])
    raise AssertionError(driver)


def test_the_asset_holds_every_row_of_the_reference_table() -> None:
    assert driver_table().toolkits == reference_rows()
    assert driver_table().floors == {11: "450.80.02", 12: "525", 13: "580"}
    assert driver_table().min_compute == {13: (7, 5)}
    assert "Table 3" in driver_table().source


@pytest.mark.parametrize(("toolkit", "driver"), TABLE, ids=[format_version(k) for k, _ in TABLE])
def test_every_row_ok_at_its_driver_and_not_below(toolkit: tuple[int, int, int], driver: str) -> None:
    cuda = format_version(toolkit)
    assert driver_table().min_driver(cuda) == driver
    ok = driver_verdict(cuda, driver)
    assert (ok.level, ok.code) == (Level.OK, "ok") and driver in ok.reason
    newer = driver_verdict(cuda, format_version((parse_version(driver)[0] + 1, 0)))
    assert newer.level is Level.OK
    older = below(driver)
    verdict = driver_verdict(cuda, older)
    floor = driver_table().floor(toolkit[0])
    if floor is not None and parse_version(older) >= parse_version(floor):
        assert (verdict.level, verdict.code) == (Level.WARN, "minor-version-compat")
        assert f"floor {floor}" in verdict.reason and f"≥ {driver}" in verdict.fix
    else:
        assert (verdict.level, verdict.code) == (Level.FAIL, "driver-too-old")
        assert f"driver {older} too old for CUDA {cuda}, needs ≥ {driver}" in verdict.reason
        assert f"≥ {driver}" in verdict.fix


@pytest.mark.parametrize(("cuda", "driver", "level", "code", "words"), [
    ("12.2.2", "535.104.05", Level.OK, "ok", "≥ 535.104.05"),
    ("12.2", "535.54.03", Level.OK, "ok", "minimum for CUDA 12.2"),
    ("12.4.1", "535.104.05", Level.WARN, "minor-version-compat", "floor 525"),
    ("12.8.0", "525.60.13", Level.WARN, "minor-version-compat", "features newer than CUDA 12.0"),
    ("12.0.0", "520.61.05", Level.FAIL, "driver-too-old", "needs ≥ 525.60.13"),
    ("13.0.0", "535.104.05", Level.FAIL, "driver-too-old", "needs ≥ 580.65.06"),
    ("13.1.0", "580.65.06", Level.WARN, "minor-version-compat", "CUDA 13.x floor 580"),
    ("11.8.0", "450.80.02", Level.WARN, "minor-version-compat", "floor 450.80.02"),
    ("11.8.0", "450.51.06", Level.FAIL, "driver-too-old", "needs ≥ 520.61.05"),
    ("11.0", "450.51.05", Level.OK, "ok", "minimum for CUDA 11.0"),  # 11.0's GA row is 11.0.2
    ("12.6.4", "560.35.05", Level.OK, "ok", ""),  # an update newer than the table: its latest row
    ("14.0.0", "600.0", Level.UNKNOWN, "cuda-unknown", "not in the driver table"),
    ("12.x", "535.104.05", Level.UNKNOWN, "bad-version", "not a version number"),
])
def test_driver_verdicts(cuda: str, driver: str, level: Level, code: str, words: str) -> None:
    verdict = driver_verdict(cuda, driver)
    assert (verdict.level, verdict.code) == (level, code), verdict
    assert words in verdict.reason


@pytest.mark.parametrize(("product", "level", "code"), [
    ("NVIDIA-A10G", Level.WARN, "forward-compat"),
    ("NVIDIA-H100-80GB-HBM3", Level.WARN, "forward-compat"),
    ("Tesla-T4", Level.WARN, "forward-compat"),
    ("NVIDIA-L40S", Level.WARN, "forward-compat"),
    ("NVIDIA-GeForce-RTX-4090", Level.FAIL, "driver-too-old"),
    ("NVIDIA-TITAN-RTX", Level.FAIL, "driver-too-old"),
    ("Acme-Accelerator-9", Level.UNKNOWN, "forward-compat-unknown"),
    ("", Level.UNKNOWN, "forward-compat-unknown"),
])
def test_forward_compatibility_needs_the_package_and_a_data_center_gpu(product: str, level: Level,
                                                                       code: str) -> None:
    dc = driver_table().data_center(product)
    verdict = driver_verdict("13.0.0", "535.104.05", compat_package=True, data_center=dc, product=product)
    assert (verdict.level, verdict.code) == (level, code), verdict
    if code == "driver-too-old":
        assert "not a data-center GPU" in verdict.reason
    without = driver_verdict("13.0.0", "535.104.05", compat_package=False, data_center=dc, product=product)
    assert without.level is Level.FAIL, "no package: too old whatever the GPU"


def test_data_center_matching_by_tokens() -> None:
    table = driver_table()
    assert table.data_center("NVIDIA-A10G") and table.data_center("NVIDIA-A100-SXM4-80GB")
    assert table.data_center("NVIDIA-RTX-A6000") is True
    assert table.data_center("NVIDIA-RTX-A2000") is None, "A2 must not match A2000"
    assert table.data_center("NVIDIA-GeForce-RTX-3090") is False
    assert table.data_center(None) is None


@pytest.mark.parametrize(("arches", "cc", "ptx_jit", "expected"), [
    (("sm_86",), (8, 6), True, ("sass", "sm_86")),
    (("sm_80",), (8, 6), True, ("sass", "sm_80")),  # cubins run on later minors of the same major
    (("sm_80", "sm_86"), (8, 9), True, ("sass", "sm_86")),  # the closest cubin
    (("sm_90",), (8, 6), True, None),
    (("sm_86",), (9, 0), True, None),  # no cubin across majors
    (("compute_80",), (8, 6), True, ("ptx", "compute_80")),
    (("compute_80",), (9, 0), True, ("ptx", "compute_80")),
    (("compute_90",), (8, 6), True, None),
    (("compute_80",), (8, 6), False, ("ptx-no-jit", "compute_80")),
    (("sm_90a",), (9, 0), True, ("sass", "sm_90a")),
    (("sm_90a", "compute_90a"), (10, 0), True, None),  # arch-specific: exactly 9.0
    (("sm_100f",), (10, 3), True, ("sass", "sm_100f")),
    (("sm_120",), (12, 0), True, ("sass", "sm_120")),
    ((), (8, 6), True, None),
])
def test_arch_runs(arches: tuple[str, ...], cc: tuple[int, int], ptx_jit: bool, expected: object) -> None:
    assert arch_runs(arches, cc, ptx_jit) == expected


def test_arch_verdicts() -> None:
    missing = arch_verdict(("sm_90",), (8, 6), product="NVIDIA-A10G")
    assert (missing.level, missing.code) == (Level.FAIL, "arch-missing")
    assert NO_KERNEL in missing.reason and "sm_86" in missing.reason and "built for sm_90" in missing.reason
    assert 'TORCH_CUDA_ARCH_LIST="8.6"' in missing.fix
    ptx = arch_verdict(("compute_80",), (8, 6))
    assert ptx.level is Level.OK and "PTX compute_80" in ptx.reason
    no_jit = arch_verdict(("compute_80",), (8, 6), ptx_jit=False, cuda="12.4.1")
    assert (no_jit.level, no_jit.code) == (Level.FAIL, "ptx-too-new") and NO_KERNEL in no_jit.reason
    unknown = arch_verdict(None, (8, 6))
    assert (unknown.level, unknown.code) == (Level.UNKNOWN, "arch-unknown")
    assert "ai.llmctl.cuda.arch-list" in unknown.fix


@pytest.mark.parametrize(("cuda", "cc", "code"), [
    ("13.0.0", (7, 0), "cc-unsupported"),  # Volta
    ("13.2.2", (6, 1), "cc-unsupported"),  # Pascal
    ("13.0.0", (7, 5), None),
    ("12.8.0", (7, 0), None),
])
def test_cuda_13_drops_compute_capability_below_7_5(cuda: str, cc: tuple[int, int], code: str | None) -> None:
    verdict = cc_verdict(cuda, cc, "Tesla-V100-SXM2-16GB")
    assert (verdict.code if verdict else None) == code
    if verdict:
        assert verdict.level is Level.FAIL and "7.5" in verdict.reason and f"{cc[0]}.{cc[1]}" in verdict.reason


IMAGE_OK = ImageFacts("r/ok:1", "test", cuda="12.2.2", arch_list=("sm_80", "sm_86", "sm_90", "compute_90"))
V100 = NodeFacts("v", "Tesla-V100-SXM2-16GB", "580.95.05", "13.0", (7, 0), 16160, 8, 8, gfd=True)


@pytest.mark.parametrize(("image", "node", "level", "codes"), [
    (IMAGE_OK, NODE_A10G, Level.OK, {"ok"}),
    (ImageFacts("r/new:1", cuda="12.4.1", arch_list=("sm_86",)), NODE_A10G, Level.WARN, {"minor-version-compat", "ok"}),
    (ImageFacts("r/new:1", cuda="12.4.1", arch_list=("compute_80",)), NODE_A10G, Level.FAIL,
     {"minor-version-compat", "ptx-too-new"}),
    (ImageFacts("r/c13:1", cuda="13.0.0", arch_list=("sm_86",), compat_package=True), NODE_A10G, Level.WARN,
     {"forward-compat", "ok"}),
    (ImageFacts("r/c13:1", cuda="13.0.0", arch_list=("sm_86",)), NODE_A10G, Level.FAIL, {"driver-too-old", "ok"}),
    (ImageFacts("r/h:1", cuda="12.2.2", arch_list=("sm_90",)), NODE_A10G, Level.FAIL, {"arch-missing", "ok"}),
    (ImageFacts("r/c13:1", cuda="13.0.0", arch_list=("sm_70", "sm_80")), V100, Level.FAIL, {"cc-unsupported", "ok"}),
    (ImageFacts("r/x:1", cuda="12.2.2"), NODE_A10G, Level.UNKNOWN, {"arch-unknown", "ok"}),
    (ImageFacts("r/cpu:1"), NODE_A10G, Level.UNKNOWN, {"image-no-cuda"}),
    (ImageFacts("r/gone:1", error="tag gone not found"), NODE_A10G, Level.UNKNOWN, {"image-unreadable"}),
    (IMAGE_OK, NodeFacts("bare", None, None, None, None, None, None, 4), Level.UNKNOWN, {"node-unlabelled"}),
])
def test_judge_each_verdict(image: ImageFacts, node: NodeFacts, level: Level, codes: set[str]) -> None:
    verdicts = judge(image, node)
    assert worst(v.level for v in verdicts) is level
    assert verdicts[0].level is level, "most severe first"
    assert {v.code for v in verdicts} == codes
    assert all(v.reason for v in verdicts)
    assert all(v.fix for v in verdicts if v.level is not Level.OK), "every problem says how to fix it"


def test_worst_order() -> None:
    assert worst([]) is Level.OK
    assert worst([Level.WARN, Level.UNKNOWN]) is Level.UNKNOWN
    assert worst([Level.OK, Level.FAIL, Level.UNKNOWN]) is Level.FAIL
