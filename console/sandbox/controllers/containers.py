"""What happens inside a simulated container: how long it takes to come up, whether its CUDA build
can run on the node's driver and GPU, and the log lines a real inference server would print.

Pure functions over the image catalog entry and the node's GPU Feature Discovery labels. The CUDA
rules are the sandbox's own (console/sandbox/cuda.py), not the Compat panel's: the crash a user sees
here is what a real driver would do, so a wrong prediction by the panel is caught, not repeated.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..cuda import Kernel, Support, driver_table, kernel_for
from ..images import CatalogImage, ImageCatalog
from .pods import ContainerView, container_id, image_id

if TYPE_CHECKING:
    from ..context import SandboxContext

COLD_START_MEAN = 35.0  # reference.md §1: containers on Kubernetes cold-start in 35 s ± 5
COLD_START_SPREAD = 5.0
CPU_START = 2.0
INFRA_START = 1.0
PULL_BYTES_PER_SECOND = 400 * 1024**2  # a node pulling from a registry in the same region
DEFAULT_PULL_BYTES = 300 * 1024**2  # size assumed for an image outside the catalog

BACKOFF_START, BACKOFF_CAP = 10.0, 300.0

CUDA_DRIVER_ERROR = "RuntimeError: CUDA error: CUDA driver version is insufficient for CUDA runtime version"
NO_KERNEL_ERROR = "RuntimeError: CUDA error: no kernel image is available for execution on the device"
PTX_TOOLCHAIN_ERROR = "RuntimeError: CUDA error: the provided PTX was compiled with an unsupported toolchain."
NO_DRIVER_ERROR = ("RuntimeError: Found no NVIDIA driver on your system. Please check that you have an NVIDIA "
                   "GPU and installed a driver from http://www.nvidia.com/Download/index.aspx")


@dataclass(frozen=True)
class Outcome:
    """How a container start ends: ``ready`` after ``delay`` simulated seconds, or a crash."""

    kind: str  # "ready" | "crash"
    delay: float
    log: tuple[str, ...] = field(default_factory=tuple)  # lines printed before the crash


def normalize_image(ref: str) -> str:
    """Docker's reference normalisation: ``nginx:1.25`` is ``docker.io/library/nginx:1.25``."""
    first = ref.split("/", 1)[0]
    if "/" in ref and ("." in first or ":" in first or first == "localhost"):
        return ref
    return f"docker.io/{ref}" if "/" in ref else f"docker.io/library/{ref}"


def pull_size(catalog: ImageCatalog, ref: str) -> int | None:
    """Bytes to pull, or None when no registry the sandbox knows has this image (pull fails)."""
    found = catalog.resolve(ref)
    if found is not None:
        return found.size
    return DEFAULT_PULL_BYTES if catalog.is_prepulled(normalize_image(ref)) else None


def node_driver(node: Mapping[str, Any]) -> str | None:
    labels = node.get("metadata", {}).get("labels") or {}
    parts = [labels.get(f"nvidia.com/cuda.driver.{p}") for p in ("major", "minor", "rev")]
    return ".".join(p for p in parts if p) if parts[0] else None


def node_sm(node: Mapping[str, Any]) -> int | None:
    labels = node.get("metadata", {}).get("labels") or {}
    major, minor = labels.get("nvidia.com/gpu.compute.major"), labels.get("nvidia.com/gpu.compute.minor")
    return int(major) * 10 + int(minor) if major and minor else None


def node_kernel(image: CatalogImage, node: Mapping[str, Any]) -> Kernel:
    """Where the image's kernel for this node's GPU comes from. An image that declares no arch list, or a
    node without compute-capability labels, is not judged (as if built for everything)."""
    sm = node_sm(node)
    if sm is None or not image.arch_list:
        return Kernel.UNREAD
    return kernel_for(image.arch_list, (sm // 10, sm % 10))


def _traceback(line: int, call: str, error: str) -> tuple[str, ...]:
    return (
        "Traceback (most recent call last):",
        '  File "/app/server.py", line 27, in <module>',
        '    engine = InferenceEngine.from_pretrained("/models", device="cuda")',
        f'  File "/app/engine.py", line {line}, in from_pretrained',
        f"    {call}",
        error,
    )


def _kernel_crash(error: str) -> tuple[str, ...]:
    """A kernel launch failing in ``model.to``, with the notes PyTorch adds to asynchronous CUDA errors."""
    return (*_traceback(112, "model.to(device)", error),
            "CUDA kernel errors might be asynchronously reported at some other API call, so the "
            "stacktrace below might be incorrect.",
            "For debugging consider passing CUDA_LAUNCH_BLOCKING=1.",
            "Compile with `TORCH_USE_CUDA_DSA` to enable device-side assertions.")


def start_outcome(image: CatalogImage | None, node: Mapping[str, Any], wants_gpu: bool,
                  rng: random.Random) -> Outcome:
    """Decide how this start of a container ends (the rng is the sandbox's seeded one)."""
    if image is None:
        return Outcome("ready", INFRA_START)
    if not image.cuda_version:
        return Outcome("ready", CPU_START)
    if not wants_gpu:
        return Outcome("crash", 3.0, _traceback(61, "torch.cuda.init()", NO_DRIVER_ERROR))
    driver = node_driver(node)
    support = Support.FULL if driver is None else driver_table().support(image.cuda_version, driver)
    if support is Support.TOO_OLD:
        return Outcome("crash", rng.uniform(1.5, 2.5), _traceback(61, "torch.cuda.init()", CUDA_DRIVER_ERROR))
    kernel = node_kernel(image, node)
    if kernel is Kernel.NONE:
        return Outcome("crash", rng.uniform(4.0, 6.0), _kernel_crash(NO_KERNEL_ERROR))
    if kernel is Kernel.PTX and support is Support.MINOR and driver \
            and not driver_table().can_jit(image.cuda_version, driver):
        # Minor-version compatibility runs the app, but the older driver cannot JIT the newer PTX.
        return Outcome("crash", rng.uniform(4.0, 6.0), _kernel_crash(PTX_TOOLCHAIN_ERROR))
    return Outcome("ready", rng.uniform(COLD_START_MEAN - COLD_START_SPREAD, COLD_START_MEAN + COLD_START_SPREAD))


# ---- log lines ------------------------------------------------------------------------------------
def startup_lines(image_ref: str, image: CatalogImage | None, node: Mapping[str, Any],
                  gpus: str | None) -> list[str]:
    """What the container prints as it starts (before the model is loaded)."""
    if image is None:
        return [f"I0000 starting {image_ref.rsplit('/', 1)[-1]}"]
    if not image.cuda_version:
        return ["INFO:     Started server process [1]", "INFO:     Waiting for application startup."]
    labels = node.get("metadata", {}).get("labels") or {}
    product = str(labels.get("nvidia.com/gpu.product", "unknown")).replace("-", " ")
    sm = node_sm(node)
    cc = f"{sm // 10}.{sm % 10}" if sm else "?"
    lines = [f"INFO:     llm-server {image.tag} starting (CUDA {image.cuda_version}, "
             f"torch arch list: {' '.join(image.arch_list) or 'all'})"]
    for idx in (gpus or "0").split(","):
        lines.append(f"INFO:     GPU {idx}: {product}, compute capability {cc}, driver {node_driver(node)}, "
                     f"{labels.get('nvidia.com/gpu.memory', '?')} MiB")
    lines.append("INFO:     Loading model weights from /models ...")
    return lines


def ready_lines(image: CatalogImage | None, load_seconds: float, port: int = 8000) -> list[str]:
    """What the container prints once it serves."""
    if image is None:
        return ["I0000 serving"]
    lines = []
    if image.cuda_version:
        lines.append(f"INFO:     Model loaded in {load_seconds:.1f}s "
                     f"({image.gpu_memory_mib / 1024:.1f} GiB on GPU)")
        lines += ["INFO:     Started server process [1]", "INFO:     Waiting for application startup."]
    lines += ["INFO:     Application startup complete.",
              f"INFO:     Uvicorn running on http://0.0.0.0:{port} (Press CTRL+C to quit)"]
    return lines


def container_port(container: Mapping[str, Any]) -> int:
    for port in container.get("ports") or []:
        if port.get("containerPort"):
            return int(port["containerPort"])
    return 8000


# ---- runtime state (the kubelet's view of a container) ------------------------------------------
@dataclass
class ContainerRt:
    spec: dict[str, Any]
    stage: str = "creating"  # creating | pull-error | pull-backoff | starting | ready | crash-backoff
    restarts: int = 0
    started_at: str | None = None
    last_state: dict[str, Any] = field(default_factory=dict)
    waiting: dict[str, str] | None = None
    crash_backoff: float = 0.0
    pull_backoff: float = 0.0
    epoch: int = 0  # bumped at every transition: a timer from an older epoch is stale

    @property
    def name(self) -> str:
        return str(self.spec["name"])

    @property
    def image(self) -> str:
        return str(self.spec.get("image", ""))


@dataclass
class PodRt:
    uid: str
    node: str
    pod_ip: str | None
    start_time: str
    containers: list[ContainerRt]


def next_backoff(current: float) -> float:
    """The kubelet's back-off: 10 s, doubling, capped at 5 min (simulated)."""
    return BACKOFF_START if current <= 0 else min(current * 2, BACKOFF_CAP)


def container_view(ctx: SandboxContext, key: tuple[str, str], c: ContainerRt) -> ContainerView:
    """The containerStatus of a container in this runtime state."""
    view = ContainerView(name=c.name, image=c.image, restart_count=c.restarts, last_state=c.last_state)
    if c.stage in ("starting", "ready", "crash-backoff"):
        view.image_id = image_id(ctx, c.image)
        view.container_id = container_id(*key, c.name, c.restarts - (c.stage == "crash-backoff"))
    if c.stage in ("starting", "ready"):
        view.started, view.ready = True, c.stage == "ready"
        view.state = {"running": {"startedAt": c.started_at}}
    elif c.waiting:
        view.state = {"waiting": dict(c.waiting)}
    return view
