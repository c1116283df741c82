"""Faults on demand, for drills: what goes wrong with LLM serving on GPU clusters, made to happen.

Each fault changes the cluster the way the real failure would — a node stops reporting, containers
get OOMKilled, a rollout ships an image whose CUDA build cannot run on the nodes — and the
controllers do the rest, so the console sees real symptoms (NotReady, CrashLoopBackOff with the
exact CUDA error in the log, ImagePullBackOff, a stuck rollout). ``latency-spike`` and
``gpu-memory-leak`` are only recorded: the simulation reads ``ctx.faults`` for those.

Targets: a Deployment as ``name`` (namespace ``llm``) or ``namespace/name``, default
``claude-inference``; a node name for ``node-loss``, default the first node. ``ctx.faults.active``
maps kind → target as stored (``name`` for ``llm``, else ``namespace/name``).
"""

from __future__ import annotations

from typing import Any

from .context import SandboxContext
from .controllers.base import DEFAULT_NAMESPACE, parse_workload_target
from .controllers.containers import node_driver, node_sm
from .controllers.nodes import EVICTION_SECONDS, UNREACHABLE, set_node_reachable
from .cuda import driver_table
from .errors import ApiError
from .store import Obj, copy_object

KINDS = ("node-loss", "oom", "cuda-too-new", "arch-missing", "image-pull-error", "latency-spike", "gpu-memory-leak")
INFERENCE_REPO = "llm/claude-inference"
IMAGE_FAULTS = {"cuda-too-new": "v2.0.0-cuda13", "arch-missing": "v1.2.0-sm90", "image-pull-error": "v9.9.9-missing"}
CHANGE_CAUSE = "kubernetes.io/change-cause"
_SAVED = "faults.saved-images"  # ctx.extras: [(kind, namespace, name, image, change-cause)] in apply order


def _bad(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def _notify(ctx: SandboxContext, kind: str, target: str | None) -> None:
    manager = ctx.extras.get("controllers")
    if manager is not None:
        manager.notify_fault(kind, target)


def _default_node(ctx: SandboxContext) -> str | None:
    names = sorted(n["metadata"]["name"] for n in ctx.store.iter_all("nodes"))
    return "gpu-node-1" if "gpu-node-1" in names else (names[0] if names else None)


def _any_node(ctx: SandboxContext) -> Obj | None:
    name = _default_node(ctx)
    return ctx.store.try_get("nodes", None, name) if name else None


def _node_loss(ctx: SandboxContext, target: str | None) -> tuple[str, str]:
    name = target or _default_node(ctx)
    if not name or ctx.store.try_get("nodes", None, name) is None:
        known = sorted(n["metadata"]["name"] for n in ctx.store.iter_all("nodes"))
        shown = ", ".join(known[:8]) + (", ..." if len(known) > 8 else "")
        raise _bad(f'unknown node "{name}" for fault node-loss; nodes: {shown or "none"}')
    set_node_reachable(ctx, name, False)
    return name, (f"node {name} stopped posting status: Ready=Unknown, tainted {UNREACHABLE}; its pods are "
                  f"evicted after {EVICTION_SECONDS:g}s (simulated) and rescheduled where GPUs are free")


def _image_fault(ctx: SandboxContext, kind: str, d: Obj) -> str:
    """Roll the Deployment's first container to the fault's image, remembering what it ran before."""
    tag = IMAGE_FAULTS[kind]
    ref = ctx.catalog.ref(INFERENCE_REPO, tag)
    ns, name = d["metadata"]["namespace"], d["metadata"]["name"]
    container = d["spec"]["template"]["spec"]["containers"][0]
    saved: list[tuple[str, str, str, str, str | None]] = ctx.extras.setdefault(_SAVED, [])
    saved.append((kind, ns, name, container["image"], (d["metadata"].get("annotations") or {}).get(CHANGE_CAUSE)))
    updated = copy_object(d)
    updated["spec"]["template"]["spec"]["containers"][0]["image"] = ref
    updated["metadata"].setdefault("annotations", {})[CHANGE_CAUSE] = f"sandbox fault {kind}: image {tag}"
    ctx.store.replace("deployments", updated, check_version=False)
    node = _any_node(ctx) or {}
    image = ctx.catalog.resolve(ref)
    if kind == "image-pull-error" or image is None:
        return f"{ns}/{name} rolls out {ref}, which the registry does not have: ErrImagePull, then ImagePullBackOff"
    if kind == "cuda-too-new":
        need = driver_table().minimum(image.cuda_version or "") or "a newer driver"
        return (f"{ns}/{name} rolls out {ref} (CUDA {image.cuda_version}, needs driver >= {need}); the nodes run "
                f"{node_driver(node) or 'an older driver'}: CrashLoopBackOff, 'CUDA driver version is "
                "insufficient for CUDA runtime version'")
    sm = node_sm(node)
    return (f"{ns}/{name} rolls out {ref}, built for {' '.join(image.arch_list)} only; the nodes' GPUs are "
            f"sm_{sm}: CrashLoopBackOff, 'no kernel image is available for execution on the device'")


def apply_fault(ctx: SandboxContext, kind: str, target: str | None = None) -> dict[str, Any]:
    """Start a fault; 400 BadRequest for an unknown kind or target. Returns what was done, in words."""
    if kind not in KINDS:
        raise _bad(f'unknown fault kind "{kind}"; valid kinds: {", ".join(KINDS)}')
    if kind == "node-loss":
        stored, message = _node_loss(ctx, target)
    else:
        ns, name = parse_workload_target(target)
        d = ctx.store.try_get("deployments", ns, name)
        if d is None:
            raise _bad(f'unknown deployment "{ns}/{name}" for fault {kind}; give a Deployment as NAME '
                       f"(namespace {DEFAULT_NAMESPACE}) or NAMESPACE/NAME")
        stored = name if ns == DEFAULT_NAMESPACE else f"{ns}/{name}"
        if kind in IMAGE_FAULTS:
            message = _image_fault(ctx, kind, d)
        elif kind == "oom":
            message = (f"containers of {ns}/{name} are OOMKilled (exit code 137) shortly after they start, "
                       "again after every restart, until the fault is cleared")
        elif kind == "latency-spike":
            message = f"request latency of {ns}/{name} rises (simulated) until the fault is cleared"
        else:
            message = f"GPU memory held by {ns}/{name}'s pods grows (simulated) until the fault is cleared"
    ctx.faults.active[kind] = stored
    _notify(ctx, kind, stored)
    return {"applied": kind, "target": stored, "message": message}


def clear_faults(ctx: SandboxContext) -> dict[str, Any]:
    """End every fault: lost nodes report again, OOM kills stop, image faults roll back to the image the
    Deployment ran before the first of them (a new revision, like `kubectl rollout undo`)."""
    active = dict(ctx.faults.active)
    node = active.get("node-loss")
    if node and ctx.store.try_get("nodes", None, node) is not None:
        set_node_reachable(ctx, node, True)
    restored: set[tuple[str, str]] = set()
    for _kind, ns, name, image, cause in ctx.extras.pop(_SAVED, []):
        if (ns, name) in restored:
            continue  # a later fault saved a faulty image; the first save holds the original
        restored.add((ns, name))
        d = ctx.store.try_get("deployments", ns, name)
        if d is None:
            continue
        updated = copy_object(d)
        updated["spec"]["template"]["spec"]["containers"][0]["image"] = image
        annotations = updated["metadata"].setdefault("annotations", {})
        if cause is None:
            annotations.pop(CHANGE_CAUSE, None)
        else:
            annotations[CHANGE_CAUSE] = cause
        ctx.store.replace("deployments", updated, check_version=False)
    ctx.faults.active.clear()
    for kind, target in active.items():
        _notify(ctx, kind, target)
    return {"cleared": list(active)}
