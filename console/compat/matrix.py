"""The compatibility matrix (images × node pools, with the stack checks) and the set-image gate, assembled
from raw Kubernetes JSON and image facts. Pure: the reads live in :mod:`console.compat.checker`.

A node pool is the nodes that share GPU product, driver and compute capability — they get the same verdict.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from console.compat.facts import GPU, ImageFacts, NodeFacts, node_facts
from console.compat.rules import Level, Verdict, judge, worst
from console.compat.stack import Check, container_checks
from console.core.rollout import NOT_READY, UNREACHABLE, UNSCHEDULABLE, pod_can_run_on
from console.core.units import quantity_or_none

Obj = dict[str, Any]
EXIT = {Level.OK: 0, Level.WARN: 1, Level.UNKNOWN: 1, Level.FAIL: 2}


@dataclass(frozen=True)
class NodePool:
    key: str  # "NVIDIA-A10G|535.104.05|8.6"
    facts: NodeFacts  # a representative node (same product, driver, compute capability)
    nodes: tuple[str, ...]
    gpus: int  # allocatable nvidia.com/gpu, summed

    @property
    def label(self) -> str:
        f = self.facts
        if not f.driver or not f.compute:
            return "no GFD labels"
        return f"{f.product or '?'} · {f.driver} · CC {f.cc_text}"

    @property
    def short(self) -> str:
        f = self.facts
        if not f.driver or not f.compute:
            return "no GFD labels"
        product = (f.product or "?").removeprefix("NVIDIA-").removeprefix("Tesla-").split("-")[0]
        return f"{product} {f.driver} sm_{f.compute[0]}{f.compute[1]}"


@dataclass(frozen=True)
class ImageRow:
    ref: str
    facts: ImageFacts
    used_by: tuple[str, ...] = ()  # "deployment/container"
    candidate: bool = False


@dataclass(frozen=True)
class Cell:
    image: str
    pool: str  # NodePool.key
    verdicts: tuple[Verdict, ...]  # most severe first

    @property
    def level(self) -> Level:
        return worst(v.level for v in self.verdicts)

    @property
    def headline(self) -> Verdict:
        return self.verdicts[0]


def _json(obj: Any) -> Any:
    return asdict(obj) if hasattr(obj, "__dataclass_fields__") else obj


@dataclass(frozen=True)
class CompatReport:
    namespace: str
    images: tuple[ImageRow, ...]
    pools: tuple[NodePool, ...]
    cells: tuple[Cell, ...]
    stack: tuple[Check, ...] = ()
    errors: tuple[str, ...] = ()  # reads that failed
    cpu_images: tuple[str, ...] = ()  # images with no CUDA in containers without GPUs: not judged
    _index: dict[tuple[str, str], Cell] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        self._index.update({(c.image, c.pool): c for c in self.cells})

    def cell(self, image: str, pool: str) -> Cell | None:
        return self._index.get((image, pool))

    @property
    def level(self) -> Level:
        levels = [c.level for c in self.cells] + [c.verdict.level for c in self.stack]
        if self.errors or not self.pools:
            levels.append(Level.UNKNOWN)
        return worst(levels)

    @property
    def exit_code(self) -> int:
        return EXIT[self.level]

    def to_json(self) -> dict[str, Any]:
        return {
            "namespace": self.namespace, "level": self.level, "exit": self.exit_code,
            "pools": [{"key": p.key, "label": p.label, "product": p.facts.product, "driver": p.facts.driver,
                       "cuda_driver": p.facts.cuda_driver, "compute": p.facts.cc_text or None,
                       "nodes": list(p.nodes), "gpus": p.gpus} for p in self.pools],
            "images": [{"ref": r.ref, "candidate": r.candidate, "used_by": list(r.used_by), "facts": _json(r.facts)}
                       for r in self.images],
            "cells": [{"image": c.image, "pool": c.pool, "level": c.level, "verdicts": [_json(v) for v in c.verdicts]}
                      for c in self.cells],
            "stack": [{"subject": c.subject, **_json(c.verdict)} for c in self.stack],
            "cpu_images": list(self.cpu_images), "errors": list(self.errors),
        }


def pools_of(nodes: Iterable[NodeFacts]) -> list[NodePool]:
    """GPU nodes grouped by (product, driver, compute capability); nodes without GFD labels are one pool."""
    groups: dict[str, list[NodeFacts]] = {}
    for n in nodes:
        if not n.is_gpu_node:
            continue
        key = "|".join(n.pool_key) if n.driver and n.compute else "unlabelled"
        groups.setdefault(key, []).append(n)
    pools = [NodePool(k, members[0], tuple(sorted(m.name for m in members)), sum(m.allocatable for m in members))
             for k, members in groups.items()]
    return sorted(pools, key=lambda p: (p.key == "unlabelled", p.label))


def _pod_spec(deployment: Mapping[str, Any]) -> Obj:
    return ((deployment.get("spec") or {}).get("template") or {}).get("spec") or {}


def _wants_gpu(container: Mapping[str, Any]) -> bool:
    res = container.get("resources") or {}
    return bool(quantity_or_none((res.get("limits") or {}).get(GPU)) or quantity_or_none((res.get("requests") or {})
                                                                                       .get(GPU)))


def workload_images(deployments: Iterable[Mapping[str, Any]],
                    with_namespace: bool = False) -> dict[str, list[tuple[str, bool]]]:
    """image → [("deployment/container", wants a GPU)] for every container of the Deployments
    ("namespace/deployment/container" ``with_namespace``: Deployments of several namespaces)."""
    out: dict[str, list[tuple[str, bool]]] = {}
    for d in deployments:
        meta = d.get("metadata") or {}
        name = f"{meta.get('namespace', '')}/{meta.get('name', '')}" if with_namespace else meta.get("name", "")
        for c in _pod_spec(d).get("containers") or []:
            out.setdefault(c.get("image", ""), []).append((f"{name}/{c.get('name', '')}", _wants_gpu(c)))
    return out


def matrix(images: Sequence[ImageRow], pools: Sequence[NodePool]) -> list[Cell]:
    return [Cell(r.ref, p.key, judge(r.facts, p.facts)) for r in images for p in pools]


def build_report(namespace: str, *, nodes: Iterable[Mapping[str, Any]], deployments: Iterable[Mapping[str, Any]],
                 facts: Mapping[str, ImageFacts], stack: Sequence[Check] = (), candidate: str | None = None,
                 node_name: str | None = None, deployment_name: str | None = None,
                 errors: Sequence[str] = ()) -> CompatReport:
    """The report for a namespace's GPU workloads (``namespace`` "": every namespace's; one Deployment's with
    ``deployment_name``) plus a candidate image, over the GPU node pools (one node with ``node_name``; with
    ``deployment_name``, the nodes that Deployment's pods can run on: Ready, schedulable, placement — as the GPU
    preflight counts them)."""
    deps = [d for d in deployments if not deployment_name or (d.get("metadata") or {}).get("name") == deployment_name]
    node_list = [n for n in nodes if not node_name or (n.get("metadata") or {}).get("name") == node_name]
    errors = list(errors)
    if node_name and not node_list:
        errors.append(f"node {node_name} not found")
    if deployment_name and not deps:
        errors.append(f"deployment {deployment_name} not found in namespace {namespace}")
    if deployment_name and deps:
        spec = _pod_spec(deps[0])
        node_list = [n for n in node_list if pod_can_run_on(spec, n)]
    rows, cpu = [], []
    for ref, users in workload_images(deps, with_namespace=not namespace).items():
        f = facts.get(ref) or ImageFacts(ref, error="not looked up")
        if any(gpu for _, gpu in users) or f.cuda:
            rows.append(ImageRow(ref, f, tuple(u for u, _ in users)))
        else:
            cpu.append(ref)
    rows.sort(key=lambda r: r.ref)
    if candidate:
        rows = [r for r in rows if r.ref != candidate] + [
            ImageRow(candidate, facts.get(candidate) or ImageFacts(candidate, error="not looked up"),
                     next((r.used_by for r in rows if r.ref == candidate), ()), True)]
    pools = pools_of(node_facts(n) for n in node_list)
    checks = list(stack)
    for d in deps:
        override = None
        if candidate and deployment_name:
            gpu_containers = [c.get("name", "") for c in _pod_spec(d).get("containers") or [] if _wants_gpu(c)]
            override = {gpu_containers[0]: candidate} if gpu_containers else None
        checks += container_checks(d, facts, override)
    return CompatReport(namespace, tuple(rows), tuple(pools), tuple(matrix(rows, pools)), tuple(checks),
                        tuple(errors), tuple(sorted(cpu)))


# ---- the set-image gate ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class CompatGate:
    """The compatibility verdict for a set-image: the new image on every pool the Deployment can schedule on."""

    image: str
    level: Level
    summary: str  # one line
    cells: tuple[tuple[str, Cell], ...] = ()  # (pool label, cell)
    checks: tuple[Check, ...] = ()

    @property
    def blocked(self) -> bool:
        return self.level is Level.FAIL

    def lines(self) -> list[str]:
        """Every non-OK finding, with its fix, as the user reads them."""
        out = []
        for label, cell in self.cells:
            for v in cell.verdicts:
                if v.level is not Level.OK:
                    out.append(f"{v.level} on {label}: {v.reason}" + (f" (fix: {v.fix})" if v.fix else ""))
        for c in self.checks:
            v = c.verdict
            if v.level is not Level.OK:
                out.append(f"{v.level} {c.subject}: {v.reason}" + (f" (fix: {v.fix})" if v.fix else ""))
        return out


def unknown_gate(image: str, why: str) -> CompatGate:
    return CompatGate(image, Level.UNKNOWN, f"compatibility unknown: {why}")


def gate(deployment: Mapping[str, Any], container: str, image: str, nodes: Iterable[Mapping[str, Any]],
         facts: ImageFacts) -> CompatGate:
    """Judge ``image`` (for ``container``) on the GPU nodes the Deployment's pods can run on now
    (:func:`console.core.rollout.pod_can_run_on`: Ready, not cordoned, placement and taints as kube-scheduler
    counts them — the nodes the GPU preflight counts). A NotReady or cordoned node gets no new pod, so its
    driver does not block."""
    spec = _pod_spec(deployment)
    nodes = list(nodes)
    reachable = [n for n in nodes if pod_can_run_on(spec, n)]
    pools = pools_of(node_facts(n) for n in reachable)
    checks = tuple(c for c in container_checks(deployment, {image: facts}, {container: image})
                   if c.subject.endswith(f"/{container}"))
    if not pools:
        level = worst([Level.UNKNOWN, *(c.verdict.level for c in checks)])
        # Nodes that would match but for their state (NotReady, unreachable, cordoned): say so.
        state = [{"key": k, "operator": "Exists"} for k in (NOT_READY, UNREACHABLE, UNSCHEDULABLE)]
        despite_state = {**spec, "tolerations": [*(spec.get("tolerations") or []), *state]}
        waiting = sum(1 for n in nodes if node_facts(n).is_gpu_node and pod_can_run_on(despite_state, n)
                      and not pod_can_run_on(spec, n))
        why = f"; {waiting} matching GPU node{'s are' if waiting != 1 else ' is'} NotReady or cordoned" \
            if waiting else ""
        return CompatGate(image, level, "compatibility unknown: no GPU node matches the Deployment's placement "
                                        f"(Ready and schedulable, nodeSelector, affinity, taints){why}", (), checks)
    cells = tuple((p.label + f" ({len(p.nodes)} node{'s' if len(p.nodes) != 1 else ''})",
                   Cell(image, p.key, judge(facts, p.facts))) for p in pools)
    level = worst([*(c.level for _, c in cells), *(c.verdict.level for c in checks)])
    bad = [(label, c) for label, c in cells if c.level is level]
    if level is Level.OK:
        summary = f"OK on {len(pools)} node pool{'s' if len(pools) != 1 else ''}: " + \
                  "; ".join(f"{label}: {c.headline.reason}" for label, c in cells[:2])
    elif bad:
        label, c = bad[0]
        summary = f"{level} on {label}: {c.headline.reason}"
    else:
        check = next(c for c in checks if c.verdict.level is level)
        summary = f"{level} {check.subject}: {check.verdict.reason}"
    return CompatGate(image, level, summary, cells, checks)
