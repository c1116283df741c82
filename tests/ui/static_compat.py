"""A compatibility report over fixed data (the Compat screen's snapshot and the README screenshot):
two A10G node pools' worth of the source article's cluster plus H100s and a node without GFD labels."""

from __future__ import annotations

from typing import Any

from console.compat.facts import image_facts_from_config
from console.compat.matrix import CompatReport, build_report
from console.compat.stack import daemonset_checks, kube_version_check
from tests.compat.test_facts import config, deployment, ds, gpu_node

REG = "registry.local"
IMAGES = {
    f"{REG}/llm/claude-inference:v1.0.0": (["CUDA_VERSION=12.2.2"], "sm_70 sm_75 sm_80 sm_86 sm_89 sm_90 compute_90"),
    f"{REG}/llm/claude-inference:v1.4.0-cu124": (["CUDA_VERSION=12.4.1"], "sm_80 sm_86 sm_90"),
    f"{REG}/llm/embedder:v0.3.1": (["CUDA_VERSION=12.2.2"], None),
    f"{REG}/llm/claude-inference:v1.2.0-sm90": (["CUDA_VERSION=12.2.2"], "sm_90"),
    f"{REG}/llm/claude-inference:v2.0.0-cuda13": (["CUDA_VERSION=13.0.0"], "sm_75 sm_80 sm_86 sm_90"),
}
CANDIDATE = f"{REG}/llm/claude-inference:v1.2.0-sm90"


def nodes() -> list[dict[str, Any]]:
    out = [gpu_node(f"gpu-node-{i}") for i in range(1, 5)]
    out += [gpu_node(f"gpu-h100-{i}", "NVIDIA-H100-80GB-HBM3", "550.90.07", "9.0", 8) for i in (1, 2)]
    ready = [{"type": "Ready", "status": "True"}]
    out.append({"metadata": {"name": "gpu-node-9", "labels": {}}, "spec": {},
                "status": {"allocatable": {"nvidia.com/gpu": "4"}, "conditions": ready}})
    return out


def deployments() -> list[dict[str, Any]]:
    main = deployment(f"{REG}/llm/claude-inference:v1.0.0")
    newer = deployment(f"{REG}/llm/claude-inference:v1.4.0-cu124", ld="/usr/local/cuda-12.2/lib64")
    newer["metadata"]["name"] = "claude-long-queue"
    emb = deployment(f"{REG}/llm/embedder:v0.3.1", limit="13Gi", ld=None)
    emb["metadata"]["name"] = "embedder"
    return [main, newer, emb]


def report(candidate: str | None) -> CompatReport:
    facts = {ref: image_facts_from_config(ref, config(env, {"ai.llmctl.cuda.arch-list": arch} if arch else {}),
                                          f"registry {REG}", "sha256:" + "0" * 64)
             for ref, (env, arch) in IMAGES.items()}
    stack = [kube_version_check({"major": "1", "minor": "30", "gitVersion": "v1.30.4"}),
             *daemonset_checks([ds("nvidia-device-plugin-daemonset", 7, 7),
                                ds("nvidia-dcgm-exporter", 7, 7, "nvcr.io/nvidia/k8s/dcgm-exporter:3.3.5")])]
    return build_report("llm", nodes=nodes(), deployments=deployments(), facts=facts, stack=stack, candidate=candidate)


class StaticCompat:
    """The screen's service protocol over :func:`report`."""

    def __init__(self) -> None:
        self.asked: list[tuple[str | None, str | None]] = []

    async def report(self, namespace: str | None, candidate: str | None = None) -> CompatReport:
        self.asked.append((namespace, candidate))
        return report(candidate)
