"""The sandbox's image catalog: what its registry serves and what its kubelet can pull.

Each image carries what a real image's config would: ``Env`` (CUDA_VERSION, NVIDIA_REQUIRE_CUDA),
labels (the GPU architectures the binaries were built for), layer sizes and created-by lines. The
kubelet uses it to decide pull errors, CUDA/driver crashes and missing-arch crashes; the registry
serves it over the Registry HTTP API v2.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

ARCH_LABEL = "ai.llmctl.cuda.arch-list"  # label holding the arch list, e.g. "sm_80 sm_86 compute_90"

# Images outside the sandbox registry that every node already has (infrastructure DaemonSets).
PREPULLED_PREFIXES = ("nvcr.io/", "registry.k8s.io/", "docker.io/library/")


@dataclass(frozen=True)
class Layer:
    created_by: str
    size: int


@dataclass(frozen=True)
class CatalogImage:
    repository: str  # e.g. "llm/claude-inference"
    tag: str
    cuda_version: str | None  # toolkit as CUDA_VERSION spells it, e.g. "12.2.2"; None = CPU image
    arch_list: tuple[str, ...]  # ("sm_80", "sm_86", "compute_90"); empty = not declared
    gpu_memory_mib: int  # framebuffer the model needs once loaded
    layers: tuple[Layer, ...]
    extra_env: tuple[tuple[str, str], ...] = ()
    extra_labels: tuple[tuple[str, str], ...] = ()
    compat_package: bool = False  # ships /usr/local/cuda/compat (forward compatibility)
    created: str = "2026-11-01T00:00:00Z"

    @property
    def size(self) -> int:
        return sum(layer.size for layer in self.layers)

    @property
    def env(self) -> list[str]:
        env = ["PATH=/usr/local/nvidia/bin:/usr/local/cuda/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin"]
        if self.cuda_version:
            major_minor = ".".join(self.cuda_version.split(".")[:2])
            env += [
                f"CUDA_VERSION={self.cuda_version}",
                f"NVIDIA_REQUIRE_CUDA=cuda>={major_minor}",
                f"LD_LIBRARY_PATH=/usr/local/cuda-{major_minor}/lib64:/usr/local/nvidia/lib64",
            ]
        env += [f"{k}={v}" for k, v in self.extra_env]
        return env

    @property
    def labels(self) -> dict[str, str]:
        labels = dict(self.extra_labels)
        if self.arch_list:
            labels[ARCH_LABEL] = " ".join(self.arch_list)
        return labels

    def config(self) -> dict[str, Any]:
        """The image config blob (application/vnd.docker.container.image.v1+json)."""
        return {
            "architecture": "amd64",
            "os": "linux",
            "created": self.created,
            "config": {"Env": self.env, "Labels": self.labels, "Cmd": ["python3", "-m", "server"]},
            "rootfs": {"type": "layers", "diff_ids": [self._digest(f"diff{i}") for i in range(len(self.layers))]},
            "history": [{"created": self.created, "created_by": layer.created_by} for layer in self.layers],
        }

    def config_bytes(self) -> bytes:
        return json.dumps(self.config(), sort_keys=True).encode()

    def config_digest(self) -> str:
        return "sha256:" + hashlib.sha256(self.config_bytes()).hexdigest()

    def layer_digest(self, index: int) -> str:
        return self._digest(f"layer{index}")

    def _digest(self, salt: str) -> str:
        return "sha256:" + hashlib.sha256(f"{self.repository}:{self.tag}:{salt}".encode()).hexdigest()

    def manifest(self) -> dict[str, Any]:
        """Docker manifest v2 schema 2."""
        return {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "size": len(self.config_bytes()),
                "digest": self.config_digest(),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                    "size": layer.size,
                    "digest": self.layer_digest(i),
                }
                for i, layer in enumerate(self.layers)
            ],
        }

    def manifest_bytes(self) -> bytes:
        return json.dumps(self.manifest(), indent=3).encode()

    def manifest_digest(self) -> str:
        return "sha256:" + hashlib.sha256(self.manifest_bytes()).hexdigest()


GB = 1024**3
MB = 1024**2


def _inference_layers(cuda: str, code_mb: int = 40) -> tuple[Layer, ...]:
    # The source article's three stages: CUDA base + python, dependencies, code. Weights on a volume.
    return (
        Layer(f"/bin/sh -c #(nop) ADD file:cuda-{cuda}-runtime-ubuntu22.04 in / ", int(1.2 * GB)),
        Layer("/bin/sh -c apt-get install -y python3.10 python3-pip", 310 * MB),
        Layer("/bin/sh -c pip install --no-cache-dir -r requirements.txt", int(0.55 * GB)),
        Layer("/bin/sh -c #(nop) COPY dir:app in /app ", code_mb * MB),
        Layer('/bin/sh -c #(nop)  VOLUME [/models]', 0),
    )


ALL_ARCHES = ("sm_70", "sm_75", "sm_80", "sm_86", "sm_89", "sm_90", "compute_90")


def default_images() -> list[CatalogImage]:
    """The default scenario's images, including those the faults roll out."""
    return [
        CatalogImage("llm/claude-inference", "v1.0.0", "12.2.2", ALL_ARCHES, 13_800, _inference_layers("12.2.2")),
        CatalogImage("llm/claude-inference", "v1.1.0", "12.2.2", ALL_ARCHES, 13_900,
                     _inference_layers("12.2.2", code_mb=42)),
        # Needs driver >= 580.65.06: CrashLoopBackOff on the default 535 nodes (fault cuda-too-new).
        CatalogImage("llm/claude-inference", "v2.0.0-cuda13", "13.0.0", ("sm_75", "sm_80", "sm_86", "sm_90"),
                     14_000, _inference_layers("13.0.0")),
        # Built for Hopper only: "no kernel image is available" on A10G sm_86 (fault arch-missing).
        CatalogImage("llm/claude-inference", "v1.2.0-sm90", "12.2.2", ("sm_90",), 13_900,
                     _inference_layers("12.2.2")),
        # Uses more memory than its limit allows (fault oom).
        CatalogImage("llm/claude-inference", "v1.3.0-bigbatch", "12.2.2", ALL_ARCHES, 21_500,
                     _inference_layers("12.2.2")),
        CatalogImage("llm/claude-router", "v1.0.0", None, (), 0,
                     (Layer("/bin/sh -c #(nop) ADD file:debian-slim in / ", 80 * MB),
                      Layer("/bin/sh -c pip install router", 60 * MB))),
    ]


def _docker_hub_path(reference: str) -> str | None:
    """``llm/app:v1`` or ``docker.io/llm/app:v1`` → ``llm/app:v1``; None for a reference naming another registry."""
    first, _, rest = reference.partition("/")
    if not rest:
        return None  # a one-part name is docker.io/library/NAME: never in the catalog
    if first in ("docker.io", "index.docker.io"):
        return rest
    if "." in first or ":" in first or first == "localhost":
        return None
    return reference


@dataclass
class ImageCatalog:
    """Images by (repository, tag); references resolve against the sandbox registry's host:port."""

    registry_host: str = "127.0.0.1:5000"
    images: dict[tuple[str, str], CatalogImage] = field(default_factory=dict)
    # Earlier addresses of the same registry (a sandbox restored from its state on another port): images
    # the stored pods name there still resolve, as a registry mirror would serve them.
    aliases: tuple[str, ...] = ()

    @classmethod
    def default(cls, registry_host: str) -> ImageCatalog:
        cat = cls(registry_host)
        for img in default_images():
            cat.add(img)
        return cat

    def add(self, image: CatalogImage) -> None:
        self.images[(image.repository, image.tag)] = image

    def ref(self, repository: str, tag: str) -> str:
        return f"{self.registry_host}/{repository}:{tag}"

    def resolve(self, reference: str) -> CatalogImage | None:
        """The catalog image a pod's image reference names, or None (pull fails).

        The sandbox's nodes use its registry as their Docker Hub mirror (as a containerd registry mirror
        for docker.io would), so ``llm/claude-inference:v1.1.0`` and ``docker.io/llm/...`` resolve too."""
        host, _, rest = reference.partition("/")
        if (host != self.registry_host and host not in self.aliases) or not rest:
            rest = _docker_hub_path(reference) or ""
            if not rest:
                return None
        if "@" in rest:
            repo, _, digest = rest.partition("@")
            return next((i for (r, _), i in self.images.items() if r == repo and i.manifest_digest() == digest),
                        None)
        repo, _, tag = rest.rpartition(":") if ":" in rest else (rest, "", "latest")
        return self.images.get((repo, tag or "latest"))

    @staticmethod
    def is_prepulled(reference: str) -> bool:
        return reference.startswith(PREPULLED_PREFIXES)

    def repositories(self) -> list[str]:
        return sorted({r for r, _ in self.images})

    def tags(self, repository: str) -> list[str]:
        return sorted(t for r, t in self.images if r == repository)
