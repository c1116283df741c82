"""The facts the compatibility rules judge: a node's GPU (from GPU Feature Discovery labels and allocatable
``nvidia.com/gpu``) and an image's CUDA build (from its image config). Pure functions over raw JSON.

Image config → facts:

- CUDA version: ``CUDA_VERSION`` (set by every nvidia/cuda base, e.g. ``12.2.2``), else the ``cuda>=X.Y``
  term of ``NVIDIA_REQUIRE_CUDA``.
- GPU architectures the binaries carry, first found of: labels ``ai.llmctl.cuda.arch-list`` (llmctl's own,
  documented in the README: ``"sm_80 sm_86 sm_90 compute_90"``), ``ai.llmctl.cuda.arch``,
  ``com.nvidia.cuda.arch``; env ``TORCH_CUDA_ARCH_LIST`` (PyTorch's ``"8.0 8.6 9.0+PTX"``), ``CUDAARCHS``
  (CMake's ``"80-real;90"``), ``CUDA_ARCH_LIST``. Not declared → None (the rules say UNKNOWN, never OK).
- Forward-compatibility package: label ``ai.llmctl.cuda.compat=true``, an ``LD_LIBRARY_PATH`` entry under
  ``/usr/local/cuda*/compat``, or NGC's ``_CUDA_COMPAT_PATH`` env.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from console.compat.versions import VersionError, driver_table, format_version, parse_arch, parse_version

GPU = "nvidia.com/gpu"
ARCH_LABELS = ("ai.llmctl.cuda.arch-list", "ai.llmctl.cuda.arch", "com.nvidia.cuda.arch")
ARCH_ENVS = ("TORCH_CUDA_ARCH_LIST", "CUDAARCHS", "CUDA_ARCH_LIST")
COMPAT_LABEL = "ai.llmctl.cuda.compat"
_REQUIRE = re.compile(r"(?:^|\s)cuda>=([0-9][0-9.]*)")
_UNDECIDABLE_ARCH = {"all", "all-major", "native"}


# ---- nodes ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class NodeFacts:
    name: str
    product: str | None  # nvidia.com/gpu.product
    driver: str | None  # nvidia.com/cuda.driver.major.minor.rev, e.g. "535.104.05"
    cuda_driver: str | None  # nvidia.com/cuda.runtime.major.minor: the newest CUDA the *driver* supports
    compute: tuple[int, int] | None  # nvidia.com/gpu.compute.major/minor
    memory_mib: int | None
    gpu_count: int | None  # nvidia.com/gpu.count
    allocatable: int  # allocatable nvidia.com/gpu
    ready: bool = True
    gfd: bool = False  # any GPU Feature Discovery label present
    problems: tuple[str, ...] = ()  # labels present but malformed

    @property
    def is_gpu_node(self) -> bool:
        return self.allocatable > 0 or self.gfd

    @property
    def data_center(self) -> bool | None:
        return driver_table().data_center(self.product)

    @property
    def cc_text(self) -> str:
        return f"{self.compute[0]}.{self.compute[1]}" if self.compute else ""

    @property
    def pool_key(self) -> tuple[str, str, str]:
        return self.product or "", self.driver or "", self.cc_text


def _int_or_none(value: Any) -> int | None:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return None


def _label_version(labels: Mapping[str, str], prefix: str, parts: tuple[str, ...], problems: list[str]) -> str | None:
    values = [str(labels.get(f"{prefix}.{p}", "") or "") for p in parts]
    if not values[0]:
        return None
    text = ".".join(v for v in values if v)
    try:
        parse_version(text)
    except VersionError as exc:
        problems.append(f"{prefix}.*: {exc}")
        return None
    return text


def node_facts(node: Mapping[str, Any]) -> NodeFacts:
    """A node's GPU facts from its GFD labels and allocatable nvidia.com/gpu (raw node JSON)."""
    meta, status = node.get("metadata") or {}, node.get("status") or {}
    labels = meta.get("labels") or {}
    problems: list[str] = []
    driver = _label_version(labels, "nvidia.com/cuda.driver", ("major", "minor", "rev"), problems)
    cuda = _label_version(labels, "nvidia.com/cuda.runtime", ("major", "minor"), problems)
    cc_text = _label_version(labels, "nvidia.com/gpu.compute", ("major", "minor"), problems)
    compute = None
    if cc_text:
        cc = parse_version(cc_text)
        compute = (cc[0], cc[1] if len(cc) > 1 else 0)
    conditions = status.get("conditions") or []
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
    return NodeFacts(
        name=meta.get("name", ""), product=labels.get("nvidia.com/gpu.product") or None, driver=driver,
        cuda_driver=cuda, compute=compute, memory_mib=_int_or_none(labels.get("nvidia.com/gpu.memory")),
        gpu_count=_int_or_none(labels.get("nvidia.com/gpu.count")),
        allocatable=_int_or_none((status.get("allocatable") or {}).get(GPU)) or 0, ready=ready,
        gfd=any(k.startswith(("nvidia.com/gpu.", "nvidia.com/cuda.")) and k != "nvidia.com/gpu.present"
                for k in labels),
        problems=tuple(problems))


# ---- images -----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ImageFacts:
    ref: str
    source: str = ""  # where the config came from: "registry 127.0.0.1:5000", "docker engine unix://…"
    cuda: str | None = None
    cuda_from: str | None = None  # "CUDA_VERSION" | "NVIDIA_REQUIRE_CUDA"
    require_cuda: str | None = None
    arch_list: tuple[str, ...] | None = None  # normalised: ("sm_80", "sm_86", "compute_90"); None: not declared
    arch_from: str | None = None  # "label ai.llmctl.cuda.arch-list", "env TORCH_CUDA_ARCH_LIST"
    compat_package: bool = False
    compat_from: str | None = None
    ld_library_path: str | None = None
    digest: str | None = None
    error: str | None = None  # the config could not be read: why
    problems: tuple[str, ...] = ()

    @property
    def cuda_major_minor(self) -> str | None:
        if not self.cuda:
            return None
        try:
            parts = parse_version(self.cuda)
        except VersionError:
            return None
        return format_version((*parts, 0)[:2])


def unreadable(ref: str, source: str, error: str) -> ImageFacts:
    return ImageFacts(ref, source, error=error)


def _arch_token(token: str) -> list[str]:
    """One token of any supported spelling → normalised arches; ValueError when it is none of them."""
    t = token.strip()
    low = t.lower()
    if low.startswith(("sm_", "compute_")):
        parse_arch(low)
        return [low]
    m = re.fullmatch(r"([0-9]{1,2})\.([0-9])([af]?)(\+ptx)?", low)  # PyTorch: 8.6, 9.0a, 8.6+PTX
    if m:
        num = f"{m.group(1)}{m.group(2)}{m.group(3)}"
        return [f"sm_{num}"] + ([f"compute_{num}"] if m.group(4) else [])
    m = re.fullmatch(r"([0-9]{2,3}[af]?)(-real|-virtual)?", low)  # CMake: 86 (both), 86-real, 90-virtual
    if m:
        num, suffix = m.group(1), m.group(2)
        out = [] if suffix == "-virtual" else [f"sm_{num}"]
        return out + ([] if suffix == "-real" else [f"compute_{num}"])
    raise ValueError(f"not a GPU architecture: {token!r} (expected sm_86, compute_90, 8.6, 8.6+PTX or 86-real)")


def parse_arch_list(text: str) -> tuple[str, ...]:
    """Any supported arch-list spelling, separated by spaces, commas or semicolons → normalised, in order,
    without repeats. Raises ValueError on a token it cannot read (or 'all'/'native', which name no list)."""
    out: list[str] = []
    tokens = [t for t in re.split(r"[\s,;]+", text.strip()) if t]
    if not tokens:
        raise ValueError("empty architecture list")
    for token in tokens:
        if token.lower() in _UNDECIDABLE_ARCH:
            raise ValueError(f"architecture list {text!r} says {token!r}, which depends on the build machine")
        for arch in _arch_token(token):
            if arch not in out:
                out.append(arch)
    return tuple(out)


def _env_map(env: Any) -> dict[str, str]:
    out = {}
    for item in env or []:
        key, sep, value = str(item).partition("=")
        if sep:
            out[key] = value
    return out


def _cuda_from_require(require: str) -> str | None:
    m = _REQUIRE.search(require)
    return m.group(1).rstrip(".") if m else None


def image_facts_from_config(ref: str, config: Mapping[str, Any], source: str, digest: str | None = None
                            ) -> ImageFacts:
    """Facts from an image config blob (``{"config": {"Env": …, "Labels": …}}``) or from ``docker inspect``'s
    ``Config`` (``{"Env": …, "Labels": …}``)."""
    cfg = config.get("config") or config.get("Config") or config
    env, labels = _env_map(cfg.get("Env")), {str(k): str(v) for k, v in (cfg.get("Labels") or {}).items()}
    problems: list[str] = []
    cuda, cuda_from = env.get("CUDA_VERSION") or None, "CUDA_VERSION"
    require = env.get("NVIDIA_REQUIRE_CUDA") or None
    if cuda is None and require:
        cuda, cuda_from = _cuda_from_require(require), "NVIDIA_REQUIRE_CUDA"
    if cuda is not None:
        try:
            parse_version(cuda)
        except VersionError as exc:
            problems.append(f"{cuda_from}: {exc}")
            cuda = None
    arch_list, arch_from = None, None
    candidates = [(f"label {k}", labels.get(k)) for k in ARCH_LABELS] + [(f"env {k}", env.get(k)) for k in ARCH_ENVS]
    for where, text in candidates:
        if not text:
            continue
        try:
            arch_list, arch_from = parse_arch_list(text), where
            break
        except ValueError as exc:
            problems.append(f"{where}: {exc}")
    ld_path = env.get("LD_LIBRARY_PATH")
    compat_from = None
    if labels.get(COMPAT_LABEL, "").lower() in ("true", "yes", "1"):
        compat_from = f"label {COMPAT_LABEL}"
    elif any(re.search(r"/cuda[^/:]*/compat(/|$)", p) for p in (ld_path or "").split(":")):
        compat_from = "LD_LIBRARY_PATH"
    elif env.get("_CUDA_COMPAT_PATH"):
        compat_from = "env _CUDA_COMPAT_PATH"
    return ImageFacts(ref=ref, source=source, cuda=cuda, cuda_from=cuda_from if cuda else None, require_cuda=require,
                      arch_list=arch_list, arch_from=arch_from, compat_package=compat_from is not None,
                      compat_from=compat_from, ld_library_path=ld_path, digest=digest, problems=tuple(problems))
