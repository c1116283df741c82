"""Stack checks around the GPU workload, pure functions over raw Kubernetes JSON: Kubernetes ≥ 1.25, the
NVIDIA device plugin DaemonSet present and ready, a DCGM exporter present, the GPU Operator validator's state
where it runs, and per Deployment container: an ``nvidia.com/gpu`` limit, a memory limit ≥ request + 2Gi (the
source article's buffer: requests 12Gi, limits 14Gi) and an LD_LIBRARY_PATH that matches its image's CUDA.

Which nodes a Deployment's pods can land on is console.core.rollout.pod_can_run_on, shared with the GPU preflight.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from console.compat.facts import GPU, ImageFacts
from console.compat.rules import Level, Verdict
from console.core.units import MEMORY_BUFFER, binary_size, quantity_or_none

Obj = dict[str, Any]
MIN_KUBE = (1, 25)


@dataclass(frozen=True)
class Check:
    """One stack finding: what was checked (``subject``) and its verdict."""

    subject: str  # "kubernetes", "device-plugin", "llm/claude-inference/inference", …
    verdict: Verdict



# ---- cluster-wide -------------------------------------------------------------------------------------
def kube_version_check(version: Mapping[str, Any] | None, error: str = "") -> Check:
    if version is None:
        return Check("kubernetes", Verdict(Level.UNKNOWN, "kube-version-unknown",
                                           f"the API server's version could not be read: {error or 'no answer'}"))
    git = str(version.get("gitVersion") or "")
    major = re.match(r"[0-9]+", str(version.get("major") or ""))
    minor = re.match(r"[0-9]+", str(version.get("minor") or ""))  # EKS/GKE report e.g. "27+"
    from_git = re.match(r"v?([0-9]+)\.([0-9]+)", git)
    if major and minor:
        numbers = (int(major.group(0)), int(minor.group(0)))
    elif from_git:
        numbers = (int(from_git.group(1)), int(from_git.group(2)))
    else:
        return Check("kubernetes", Verdict(Level.UNKNOWN, "kube-version-unknown",
                                           f"unreadable API server version {git or dict(version)!r}"))
    shown = git or f"{numbers[0]}.{numbers[1]}"
    if numbers >= MIN_KUBE:
        return Check("kubernetes", Verdict(Level.OK, "ok", f"Kubernetes {shown} ≥ 1.25"))
    return Check("kubernetes", Verdict(Level.FAIL, "kube-too-old",
                                       f"Kubernetes {shown} is older than 1.25, which the GPU stack needs "
                                       "(device plugins, the source article's baseline)",
                                       "upgrade the cluster to Kubernetes ≥ 1.25"))


def _ds_matches(ds: Mapping[str, Any], words: Sequence[str]) -> bool:
    name = str((ds.get("metadata") or {}).get("name") or "")
    images = " ".join(str(c.get("image") or "") for c in
                      (((ds.get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers") or [])
    return any(w in name or w in images for w in words)


def _ds_name(ds: Mapping[str, Any]) -> str:
    meta = ds.get("metadata") or {}
    return f"{meta.get('namespace', '')}/{meta.get('name', '')}"


def daemonset_checks(daemonsets: Iterable[Mapping[str, Any]] | None, error: str = "") -> list[Check]:
    """The NVIDIA device plugin (present and every pod ready) and the DCGM exporter (present)."""
    if daemonsets is None:
        why = f"DaemonSets could not be listed: {error or 'no answer'}"
        return [Check("device-plugin", Verdict(Level.UNKNOWN, "unreadable", why)),
                Check("dcgm-exporter", Verdict(Level.UNKNOWN, "unreadable", why))]
    dss = list(daemonsets)
    out = []
    plugins = [d for d in dss if _ds_matches(d, ("nvidia-device-plugin", "k8s-device-plugin"))]
    if not plugins:
        out.append(Check("device-plugin", Verdict(
            Level.FAIL, "device-plugin-missing",
            "no NVIDIA device plugin DaemonSet: nodes advertise no nvidia.com/gpu and GPU pods stay Pending",
            "install the GPU Operator or the nvidia-device-plugin DaemonSet")))
    for ds in plugins:
        st = ds.get("status") or {}
        want, ready = int(st.get("desiredNumberScheduled") or 0), int(st.get("numberReady") or 0)
        if want and ready >= want:
            out.append(Check("device-plugin", Verdict(Level.OK, "ok", f"{_ds_name(ds)}: {ready}/{want} ready")))
        else:
            out.append(Check("device-plugin", Verdict(
                Level.WARN if ready else Level.FAIL, "device-plugin-not-ready",
                f"{_ds_name(ds)}: {ready}/{want} pods ready — GPUs on the other nodes are not advertised",
                f"kubectl -n {(ds.get('metadata') or {}).get('namespace', '')} describe daemonset "
                f"{(ds.get('metadata') or {}).get('name', '')}")))
    dcgm = [d for d in dss if _ds_matches(d, ("dcgm-exporter",))]
    if dcgm:
        names = ", ".join(_ds_name(d) for d in dcgm)
        out.append(Check("dcgm-exporter", Verdict(Level.OK, "ok", f"{names} present")))
    else:
        out.append(Check("dcgm-exporter", Verdict(
            Level.WARN, "dcgm-missing", "no DCGM exporter DaemonSet: no GPU memory or utilisation metrics",
            "install dcgm-exporter (the GPU Operator ships it)")))
    return out


def validator_check(pods: Iterable[Mapping[str, Any]] | None) -> Check | None:
    """The GPU Operator's nvidia-operator-validator pods, where the operator runs (None: not installed)."""
    found = list(pods or [])
    if not found:
        return None
    bad = []
    for pod in found:
        st = pod.get("status") or {}
        name = (pod.get("metadata") or {}).get("name", "")
        node = (pod.get("spec") or {}).get("nodeName", "")
        ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in st.get("conditions") or [])
        if st.get("phase") == "Running" and ready:
            continue
        failing = [c.get("name", "") for c in st.get("initContainerStatuses") or [] if not c.get("ready")]
        step = f" at {failing[0]}" if failing else ""
        bad.append(f"{name} on {node or '?'}: {st.get('phase', 'Unknown')}{step}")
    if not bad:
        return Check("gpu-operator-validator", Verdict(Level.OK, "ok", f"{len(found)} validator pods Running"))
    return Check("gpu-operator-validator", Verdict(
        Level.FAIL, "validator-failing", "GPU Operator validation not passing: " + "; ".join(bad[:5]),
        "kubectl -n gpu-operator logs POD -c <failing init container> (driver/toolkit/cuda/plugin validation)"))


# ---- per Deployment container -------------------------------------------------------------------------
def _env_value(container: Mapping[str, Any], key: str) -> str | None:
    for item in container.get("env") or []:
        if item.get("name") == key and "value" in item:
            return str(item.get("value") or "")
    return None


def ld_path_check(ld_path: str | None, facts: ImageFacts) -> Verdict | None:
    """A path entry naming /usr/local/cuda-X.Y must match the image's CUDA X.Y (reference.md §1's
    LD_LIBRARY_PATH=/usr/local/cuda-12.2/lib64 pitfall)."""
    want = facts.cuda_major_minor
    if not ld_path or not want:
        return None
    named = sorted({m.group(1) for m in re.finditer(r"/usr/local/cuda-([0-9]+\.[0-9]+)(?=/|:|$)", ld_path)})
    wrong = [v for v in named if v != want]
    if not wrong:
        return Verdict(Level.OK, "ok", f"LD_LIBRARY_PATH matches CUDA {want}") if named else None
    return Verdict(Level.WARN, "ld-library-path-mismatch",
                   f"LD_LIBRARY_PATH={ld_path} names CUDA {', '.join(wrong)} but the image has CUDA {facts.cuda}: the "
                   f"loader searches libraries of another toolkit first (or directories that do not exist)",
                   f"set LD_LIBRARY_PATH=/usr/local/cuda-{want}/lib64 (or drop it: the image sets its own)")


def container_checks(deployment: Mapping[str, Any], facts: Mapping[str, ImageFacts],
                     images: Mapping[str, str] | None = None) -> list[Check]:
    """GPU limit, memory buffer and LD_LIBRARY_PATH for each container of a Deployment that runs a CUDA image
    or asks for a GPU. ``images`` overrides a container's image (a set-image being planned)."""
    meta = deployment.get("metadata") or {}
    where = f"{meta.get('namespace', '')}/{meta.get('name', '')}"
    pod = ((deployment.get("spec") or {}).get("template") or {}).get("spec") or {}
    out = []
    for c in pod.get("containers") or []:
        name = c.get("name", "")
        image = (images or {}).get(name) or c.get("image", "")
        f = facts.get(image) or ImageFacts(image)
        res = c.get("resources") or {}
        limits, requests = res.get("limits") or {}, res.get("requests") or {}
        gpu_limit = quantity_or_none(limits.get(GPU)) or 0
        if not f.cuda and not gpu_limit and not quantity_or_none(requests.get(GPU)):
            continue  # a CPU container (or one whose image could not be read): nothing GPU to check
        subject = f"{where}/{name}"
        if gpu_limit:
            out.append(Check(subject, Verdict(Level.OK, "ok", f"{GPU} limit {int(gpu_limit)}")))
        else:
            out.append(Check(subject, Verdict(
                Level.FAIL, "no-gpu-limit",
                f"container {name} runs CUDA {f.cuda or '?'} but has no {GPU} limit: no GPU is mounted and it fails "
                "with \"Found no NVIDIA driver on your system\"" if f.cuda else
                f"container {name} requests {GPU} without a limit (GPUs are limits-only resources)",
                f"resources.limits: {{{GPU}: 1}}")))
        mem_req, mem_lim = quantity_or_none(requests.get("memory")), quantity_or_none(limits.get("memory"))
        if mem_lim is None:
            out.append(Check(subject, Verdict(Level.WARN, "no-memory-limit",
                                              f"container {name} has no memory limit: one leaking model server can "
                                              "starve the node", "set limits.memory = requests.memory + 2Gi")))
        elif mem_req is not None and mem_lim < mem_req + MEMORY_BUFFER:
            out.append(Check(subject, Verdict(
                Level.WARN, "memory-buffer",
                f"container {name}: memory limit {limits.get('memory')} < request {requests.get('memory')} + 2Gi — "
                "no buffer for load spikes, OOMKilled risk",
                f"set limits.memory ≥ {binary_size(mem_req + MEMORY_BUFFER)}")))
        else:
            out.append(Check(subject, Verdict(Level.OK, "ok", f"memory limit {limits.get('memory')} ≥ request "
                                                              f"{requests.get('memory') or '0'} + 2Gi")))
        ld = ld_path_check(_env_value(c, "LD_LIBRARY_PATH") or f.ld_library_path, f)
        if ld is not None:
            out.append(Check(subject, ld))
    return out
