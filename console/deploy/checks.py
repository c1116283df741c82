"""The preflight's judgements, as pure functions over raw Kubernetes JSON (the reads are in deploy.py).

- GPU nodes and free GPUs for the pods the values ask for (a pod's GPUs all come from one node);
- the compatibility findings of :mod:`console.compat.checker` (the stack: Kubernetes ≥ 1.25, the
  NVIDIA device plugin DaemonSet ready, DCGM exporter; and the image on the GPU nodes the Deployment can
  land on) mapped onto the preflight's checks — :func:`compat_checks` is the one place that calls it;
- image references resolved as everywhere else (console/compat/resolve.py): a Docker Hub short name is
  looked up in the cluster's advertised local registry first (KEP-1755);
- what the cluster says that changes the manifests (:func:`read_cluster_facts`: the StorageClass the weights
  claim gets, and the optional kinds it serves) and the preflight's words for it (:func:`cluster_checks`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from console.core.gpus import GPU
from console.core.images import LocalRegistry
from console.core.rollout import free_gpus_by_node, node_accepts
from console.core.units import as_int
from console.deploy.render import KINDS, OPTIONAL_KINDS
from console.deploy.values import derived
from console.deploy.values.derived import ClusterFacts, StorageClassFacts
from console.deploy.values.nodes import NodeFacts, check_against_nodes
from console.deploy.values.schema import AUTO, Values
from console.kube.errors import KubeError

Obj = Mapping[str, Any]


class Status(StrEnum):
    OK = "ok"
    WARN = "warn"
    FAIL = "fail"
    SKIP = "skip"


@dataclass(frozen=True)
class Check:
    """One finding of a step: ``name`` says what was checked (``gpu-capacity``, ``permissions``, ...)."""

    name: str
    status: Status
    message: str
    fix: str = ""

    def line(self) -> str:
        return f"{self.status.upper():4} {self.name}: {self.message}" + (f" (fix: {self.fix})" if self.fix else "")


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def gpu_nodes(nodes: Iterable[Obj]) -> list[Obj]:
    """Nodes that advertise allocatable ``nvidia.com/gpu``."""
    return [n for n in nodes if as_int(((n.get("status") or {}).get("allocatable") or {}).get(GPU)) > 0]


def tolerations(values: Values) -> list[dict[str, str]]:
    return [{"key": GPU, "operator": "Exists", "effect": "NoSchedule"}] if values.tolerate_gpu_taint else []


def node_facts(values: Values, nodes: Iterable[Obj]) -> NodeFacts:
    """The GPU nodes the values' pods may land on: the most GPUs one has, their GPU memory."""
    accepting = [n for n in gpu_nodes(nodes) if node_accepts(n, values.node_selector, tolerations(values))]
    if not accepting:
        return NodeFacts(None, None, 0)
    most = max(as_int(((n.get("status") or {}).get("allocatable") or {}).get(GPU)) for n in accepting)
    memory = [as_int(((n.get("metadata") or {}).get("labels") or {}).get("nvidia.com/gpu.memory")) for n in accepting]
    known = [m for m in memory if m > 0]
    return NodeFacts(most, min(known) if known else None, len(accepting))


def _own(pod: Obj, values: Values) -> bool:
    meta = pod.get("metadata") or {}
    labels = meta.get("labels") or {}
    return meta.get("namespace") == values.namespace and labels.get("app.kubernetes.io/name") == values.name \
        and labels.get("app.kubernetes.io/managed-by") == "llmctl"


def gpu_checks(values: Values, nodes: Sequence[Obj], pods: Sequence[Obj]) -> list[Check]:
    """GPU nodes exist, some match the placement, a pod fits on one, and the starting pods fit now.

    The GPUs our own pods already hold (a re-run) count as free: the pods keep them."""
    out: list[Check] = []
    with_gpus = gpu_nodes(nodes)
    if not with_gpus:
        return [Check("gpu-nodes", Status.FAIL, f"no GPU nodes: none of the {_plural(len(nodes), 'node')} has "
                      f"allocatable {GPU}", "add GPU nodes, and check the NVIDIA device plugin runs on them")]
    accepting = [n for n in with_gpus if node_accepts(n, values.node_selector, tolerations(values))]
    if not accepting:
        selector = ", ".join(f"{k}={v}" for k, v in values.node_selector.items()) or "none"
        return [Check("gpu-nodes", Status.FAIL, f"no GPU node accepts the pods: {_plural(len(with_gpus), 'GPU node')}"
                      f", none Ready and schedulable with the labels of nodeSelector ({selector})"
                      + ("" if values.tolerate_gpu_taint else " and without an untolerated taint"),
                      "change nodeSelector in the values, or label the GPU nodes")]
    facts = node_facts(values, nodes)
    out.append(Check("gpu-nodes", Status.OK, f"{_plural(len(accepting), 'GPU node')} accept the pods "
                     f"(at most {facts.max_gpus_per_node} GPUs on one"
                     + (f", {facts.gpu_memory_mib // 1024} GiB each)" if facts.gpu_memory_mib else ")")))
    for problem in check_against_nodes(values, facts):
        out.append(Check("gpus-per-replica", Status.FAIL, f"{problem.path}: {problem.message}",
                         "lower gpusPerReplica, or add larger GPU nodes"))
    if any(c.status is Status.FAIL for c in out):
        return out
    others = [p for p in pods if not _own(p, values)]
    free = free_gpus_by_node(nodes, others, values.node_selector, tolerations(values))
    per = values.gpus_per_replica
    fit = sum(f // per for f in free.values())
    want = values.gpu_pods()
    total = sum(free.values())
    head = f"{_plural(want, 'GPU pod')} of {_plural(per, 'GPU')} each; {total} GPUs free on accepting nodes"
    if want == 0:
        out.append(Check("gpu-capacity", Status.OK, "no GPU pods at the start (replicas 0)"))
    elif fit >= want:
        out.append(Check("gpu-capacity", Status.OK, f"{head}: all fit"))
    elif fit > 0:
        out.append(Check("gpu-capacity", Status.WARN, f"{head}: only {fit} fit now, the other {want - fit} would "
                         f"stay Pending (Insufficient {GPU})", "free GPUs, or lower replicas"))
    else:
        out.append(Check("gpu-capacity", Status.FAIL, f"{head}: none fits — the pods would stay Pending "
                         f"(Insufficient {GPU})", "free GPUs, add GPU nodes, or lower gpusPerReplica"))
    surge = values.strategy.max_surge
    if isinstance(surge, int) and surge > 0 and fit >= want and fit < want + surge and want > 0:
        out.append(Check("rollout-headroom", Status.WARN, f"no free GPU left for a rolling update's surge pod "
                         f"(maxSurge {surge}): later rollouts would wait for one", "keep a GPU free, or use "
                         "maxSurge 0 / maxUnavailable 1 (llmctl rollout set-image offers it)"))
    return out


def compat_level_status(level: str) -> Status:
    return {"OK": Status.OK, "WARN": Status.WARN, "UNKNOWN": Status.WARN, "FAIL": Status.FAIL}.get(str(level),
                                                                                                  Status.WARN)


async def compat_checks(transport: Any, values: Values, deployment: Mapping[str, Any], container: str,
                        local_registry: LocalRegistry | None, stack: bool = True) -> list[Check]:
    """The compatibility findings for the values' image, from console.compat.checker (the one place
    the preflight calls it): the stack checks (Kubernetes version, device plugin, DCGM exporter, GPU
    Operator validator) and the image on the GPU nodes the Deployment can land on. ``local_registry``: the
    cluster's KEP-1755 registry as the preflight read it (console.compat.resolve.read_local_registry)."""
    from console.compat.checker import CompatChecker

    checker = CompatChecker(transport, local_registry=local_registry)
    out: list[Check] = []
    if stack:
        errors: list[str] = []
        for c in await checker.stack(errors):
            out.append(Check(c.subject, compat_level_status(c.verdict.level), c.verdict.reason, c.verdict.fix))
    verdict = await checker.gate(deployment, container, values.image)
    fix = next((line for line in verdict.lines() if "(fix:" in line), "")
    fix = fix.split("(fix:", 1)[1].rstrip(")").strip() if fix else ""
    out.append(Check("image-compatibility", compat_level_status(verdict.level), f"{values.image}: {verdict.summary}",
                     fix))
    return out


# ---- what the cluster says that changes the manifests ----------------------------------------------------
DEFAULT_CLASS_ANNOTATIONS = ("storageclass.kubernetes.io/is-default-class",
                             "storageclass.beta.kubernetes.io/is-default-class")
STORAGE_CLASSES = "/apis/storage.k8s.io/v1/storageclasses"


def default_storage_class(classes: Iterable[Obj]) -> Obj | None:
    """The class the DefaultStorageClass admission plugin gives a claim without one: the newest of those
    annotated as default (as the API server picks among several)."""
    marked = [c for c in classes if any(((c.get("metadata") or {}).get("annotations") or {}).get(a) == "true"
                                        for a in DEFAULT_CLASS_ANNOTATIONS)]
    marked.sort(key=lambda c: ((c.get("metadata") or {}).get("creationTimestamp") or "",
                               (c.get("metadata") or {}).get("name") or ""))
    return marked[-1] if marked else None


async def _storage_class(transport: Any, values: Values) -> tuple[StorageClassFacts | None, str]:
    name = values.storage.storage_class_name
    try:
        if name:
            found: Obj | None = await transport.get(f"{STORAGE_CLASSES}/{name}")
        else:
            found = default_storage_class(await transport.list(STORAGE_CLASSES))
            if found is None:
                return None, "the cluster has no default StorageClass"
    except KubeError as exc:
        if exc.code == 404:  # a type the server lacks: "the server could not find the requested resource"
            unserved = "could not find the requested resource" in exc.message or not name
            return None, ("the cluster serves no storage.k8s.io/v1 StorageClasses" if unserved
                          else f"StorageClass {name} does not exist (the claim would stay Pending)")
        return None, f"cannot read StorageClasses: {exc.message if exc.code != 403 else 'forbidden'}"
    meta = found.get("metadata") or {}
    return StorageClassFacts(str(meta.get("name") or name or "?"), str(found.get("provisioner") or "")), ""


async def _unserved(transport: Any) -> frozenset[str]:
    """Which of the optional kinds discovery does not list (unreadable: assumed served, so the preflight's
    served-kinds check still reports it)."""
    out = set()
    for kind in OPTIONAL_KINDS:
        api, plural = KINDS[kind].api_version, KINDS[kind].plural
        try:
            doc = await transport.get(f"/apis/{api}" if "/" in api else f"/api/{api}")
        except KubeError as exc:
            if exc.code == 404:
                out.add(kind)
            continue
        if plural not in {r.get("name") for r in doc.get("resources") or []}:
            out.add(kind)
    return frozenset(out)


async def read_cluster_facts(transport: Any, values: Values) -> ClusterFacts:
    """The StorageClass the weights claim gets (only when ``storage.accessMode`` is ``auto`` and llmctl creates
    the claim) and which of render's OPTIONAL_KINDS the cluster does not serve."""
    sc, note = None, ""
    if values.storage.create and values.storage.access_mode == AUTO:
        sc, note = await _storage_class(transport, values)
    return ClusterFacts(sc, note, await _unserved(transport))


def cluster_checks(values: Values, cluster: ClusterFacts) -> list[Check]:
    """The preflight's findings on :func:`read_cluster_facts`: the claim's access mode and why, and each optional
    kind left out, with what is lost without it."""
    out = []
    if values.storage.create:
        problem = derived.single_node_volume_problem(values, cluster)
        missing = "does not exist" in cluster.storage_class_note
        out.append(Check("volume-access", Status.WARN if problem or missing else Status.OK,
                         derived.access_mode_reason(values, cluster) + (f" — {problem}" if problem else "")))
    for kind in sorted(cluster.unserved & set(OPTIONAL_KINDS)):
        out.append(Check("optional-kinds", Status.WARN, f"the cluster does not serve {kind} "
                         f"({KINDS[kind].api_version}): left out of the manifests — {OPTIONAL_KINDS[kind]}",
                         "a Kubernetes ≥ 1.21 API server serves policy/v1" if kind == "PodDisruptionBudget" else ""))
    return out
