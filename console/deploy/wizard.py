"""The guided deployment's (``llmctl deploy --guided``) logic that needs no screen: the form ↔ values mapping
with problems per field, the GPUs a model needs, which preflight failures block before the form, the images
the cluster's registry offers, where a saved progress resumes, and the files and commands of the summary.

The steps themselves are :class:`~console.deploy.engine.DeployEngine`'s; the wizard (screens/wizard/screen.py)
only drives them. Pure functions except :func:`registry_images` (the cluster's local registry, read with
console/compat/registry.py's client) and :func:`write_outputs` (writes the directory the user chose).
"""

from __future__ import annotations

import calendar
import copy
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from console.compat.registry import RegistryClient, RegistryError
from console.core.units import GIB
from console.deploy.checks import Check, Status
from console.deploy.progress import DeployProgress
from console.deploy.render import Rendered
from console.deploy.values.load import parse_values, values_to_dict
from console.deploy.values.nodes import NodeFacts, check_against_nodes, gpus_for_model
from console.deploy.values.schema import MODEL_OVERHEAD, Problem, Values, ValuesError

WIZARD_STEPS = ("Preflight", "Model & resources", "Build & push", "Render & apply", "Rollout & verify", "Summary")
VALUES_FILE = "values.yaml"
HEADER = "Rendered by llmctl deploy --guided from {source}: edit the values and render again, or own this file."

# form field → values key path (the Values validation names key paths; its problems land under these fields)
FIELDS: dict[str, str] = {
    "name": "name", "namespace": "namespace", "model_name": "model.name", "size": "model.sizeGiB",
    "image": "image", "gpus": "gpusPerReplica", "replicas": "replicas", "hpa": "autoscaling.enabled",
    "hpa_min": "autoscaling.minReplicas", "hpa_max": "autoscaling.maxReplicas",
}
PATH_FIELDS = {path: fid for fid, path in FIELDS.items()} | {"autoscaling": "hpa_min", "params": "size"}
INT_FIELDS = ("gpus", "replicas", "hpa_min", "hpa_max")
TEXT_FIELDS = ("name", "namespace", "model_name", "image")
PRECISIONS: dict[str, float] = {"bf16/fp16": 2.0, "fp8/int8": 1.0, "int4": 0.5, "fp32": 4.0}  # bytes/param

# Preflight checks whose outcome depends on what the form (step 2) sets: at step 1 their failures are shown but
# do not block (the form can fix them); the preflight is run again with the form's values before going on.
VALUE_CHECKS = frozenset({"image-compatibility", "gpus-per-replica", "gpu-capacity", "rollout-headroom",
                          "permissions", "model-volume"})


# ---- model size → GPUs ------------------------------------------------------------------------------
def size_from_params(params_billions: float, bytes_per_param: float) -> float:
    """The weights' size in GiB: parameters × bytes per parameter."""
    return params_billions * 1e9 * bytes_per_param / GIB


@dataclass(frozen=True)
class GpuSuggestion:
    gpus: int
    text: str


def suggest_gpus(size_gib: float | None, facts: NodeFacts) -> GpuSuggestion | None:
    """GPUs per replica for a model of ``size_gib`` on the GPU nodes described by ``facts`` (weights ×
    MODEL_OVERHEAD against one GPU's memory); None when the size or the GPU memory is unknown."""
    if not size_gib or size_gib <= 0:
        return None
    need = size_gib * MODEL_OVERHEAD
    if not facts.gpu_memory_mib:
        return GpuSuggestion(1, f"{size_gib:g} GiB × {MODEL_OVERHEAD} = {need:.1f} GiB; GPU memory of the nodes "
                                "unknown (no nvidia.com/gpu.memory label): check it yourself")
    gpus = gpus_for_model(size_gib, facts.gpu_memory_mib)
    per = facts.gpu_memory_mib / 1024
    text = f"{size_gib:g} GiB × {MODEL_OVERHEAD} = {need:.1f} GiB on {per:.0f} GiB GPUs → {gpus} per replica"
    if facts.max_gpus_per_node is not None and gpus > facts.max_gpus_per_node:
        text += f" — more than a node has ({facts.max_gpus_per_node}): quantise the model or use larger GPUs"
    return GpuSuggestion(gpus, text)


# ---- the form ---------------------------------------------------------------------------------------
def form_fields(values: Values) -> dict[str, Any]:
    """The form's initial contents for ``values``."""
    return {"name": values.name, "namespace": values.namespace, "model_name": values.model.name,
            "size": "" if values.model.size_gib is None else f"{values.model.size_gib:g}", "image": values.image,
            "gpus": str(values.gpus_per_replica), "replicas": str(values.replicas),
            "hpa": values.autoscaling.enabled, "hpa_min": str(values.autoscaling.min_replicas),
            "hpa_max": str(values.autoscaling.max_replicas)}


@dataclass(frozen=True)
class FormResult:
    """The form's values, or why not: problems per form field, and those of keys the form does not show."""

    values: Values | None
    errors: dict[str, list[str]] = field(default_factory=dict)
    general: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.values is not None


def field_for(path: str) -> str | None:
    """The form field a values key path is edited in (None: not on the form)."""
    if path in PATH_FIELDS:
        return PATH_FIELDS[path]
    for prefix, fid in PATH_FIELDS.items():
        if path.startswith(prefix + "."):
            return fid
    return None


def _set(data: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    node = data
    for key in parents:
        node = node.setdefault(key, {})
    node[last] = value


def _restore(data: dict[str, Any], base: Mapping[str, Any], path: str) -> None:
    """Put ``base``'s value (or nothing) back at a key path of ``data``."""
    keys = [k for k in path.split(".") if k]
    if not keys:
        return
    node: Any = base
    for key in keys:
        node = node.get(key) if isinstance(node, Mapping) else None
    target: Any = data
    for key in keys[:-1]:
        target = target.get(key) if isinstance(target, dict) else None
    if isinstance(target, dict):
        if node is None:
            target.pop(keys[-1], None)
        else:
            target[keys[-1]] = copy.deepcopy(node)


def form_values(base: Mapping[str, Any], form: Mapping[str, Any], facts: NodeFacts | None = None) -> FormResult:
    """Validate the form over ``base`` (a values mapping: the keys the form does not show keep their values)
    with the values file's own validation, and against the GPU nodes when ``facts`` are known."""
    data = copy.deepcopy(dict(base))
    errors: dict[str, list[str]] = {}
    for fid, path in FIELDS.items():
        if fid not in form:
            continue
        raw = form[fid]
        if fid == "hpa":
            _set(data, path, bool(raw))
            continue
        text = str(raw).strip()
        if fid in INT_FIELDS:
            try:
                _set(data, path, int(text))
            except ValueError:
                errors.setdefault(fid, []).append(f"{text!r} is not a whole number" if text else "required")
        elif fid == "size":
            try:
                _set(data, path, float(text) if text else None)
            except ValueError:
                errors.setdefault(fid, []).append(f"{text!r} is not a number of GiB (empty: skip the check)")
        else:
            _set(data, path, text)
    general: list[str] = []
    values: Values | None = None

    def place(problems: Iterable[Problem]) -> None:
        for p in problems:
            fid = field_for(p.path)
            if fid is None:
                general.append(p.text())
            elif fid not in errors:  # a field that does not parse already says so
                errors.setdefault(fid, []).append(p.message)
            elif p.message not in errors[fid] and not any("whole number" in e or "number of GiB" in e
                                                          for e in errors[fid]):
                errors[fid].append(p.message)

    try:
        values = parse_values(data)
    except ValuesError as exc:
        place(exc.problems)
        if facts is not None:  # still judge the rest against the nodes: the wrong keys back at their base values
            retry = copy.deepcopy(data)
            for p in exc.problems:
                _restore(retry, base, p.path)
            try:
                place(check_against_nodes(parse_values(retry), facts))
            except ValuesError:
                pass
    else:
        if facts is not None:
            place(check_against_nodes(values, facts))
    if errors or general:
        return FormResult(None, errors, general)
    return FormResult(values)


# ---- preflight at step 1 ----------------------------------------------------------------------------
def blocks_start(check: Check) -> bool:
    """A failure the form cannot fix (the cluster, its version, the device plugin, no GPU node at all)."""
    if check.status is not Status.FAIL:
        return False
    if check.name in VALUE_CHECKS:
        return False
    return not (check.name == "gpu-nodes" and check.message.startswith("no GPU node accepts"))


# ---- images -----------------------------------------------------------------------------------------
def registry_images(host: str, timeout: float = 3.0, limit: int = 40) -> list[str]:
    """``host/repository:tag`` of the images in a registry (the cluster's KEP-1755 local registry): its
    catalog and tag lists (Registry API v2, through :class:`~console.compat.registry.RegistryClient`, with the
    Docker config's credentials for it if any). Raises ValueError when it cannot be read."""
    try:
        return RegistryClient(timeout=timeout).images(host, limit)
    except RegistryError as exc:
        raise ValueError(str(exc)) from None


def known_images(*sources: Iterable[str]) -> list[str]:
    """Image references from several sources, first seen first, without duplicates or blanks."""
    seen: dict[str, None] = {}
    for source in sources:
        for ref in source:
            if ref and ref.strip():
                seen.setdefault(ref.strip(), None)
    return list(seen)


# ---- resuming ---------------------------------------------------------------------------------------
def resume_step(progress: DeployProgress) -> int | None:
    """The wizard step (1–6) to resume a saved progress at; None when it is complete."""
    last = progress.step
    if progress.next_step is None:
        return None
    if last in (None, "preflight"):
        return 3 if last == "preflight" else 2
    if last in ("render", "diff", "dry-run"):
        return 4
    return 5  # applied (or rolled out): follow the rollout and verify


def describe_progress(progress: DeployProgress, now: float | None = None) -> str:
    step = resume_step(progress)
    where = f"step {step} ({WIZARD_STEPS[step - 1]})" if step else "done"
    done = ", ".join(progress.completed) or "nothing yet"
    age = ""
    try:
        then = calendar.timegm(time.strptime(progress.updated, "%Y-%m-%dT%H:%M:%SZ"))
        minutes = max(0, int(((now or time.time()) - then) // 60))
        age = f", saved {minutes} min ago" if minutes else ", saved just now"
    except (ValueError, OverflowError):
        pass
    error = f"; it stopped at: {progress.error}" if progress.error else ""
    return (f"{progress.name} in namespace {progress.namespace} (context {progress.context}{age}): "
            f"done {done}{error} — resumes at {where}")


def pick_progress(saved: Iterable[DeployProgress], context: str, namespace: str | None = None,
                  name: str | None = None) -> DeployProgress | None:
    """The unfinished progress to offer: that of ``namespace``/``name`` when given, else the most recent
    unfinished one of the context (``saved`` is most recent first)."""
    for p in saved:
        if p.context != context or resume_step(p) is None:
            continue
        if (namespace is None or p.namespace == namespace) and (name is None or p.name == name):
            return p
    return None


# ---- the summary -------------------------------------------------------------------------------------
def default_directory(values: Values) -> str:
    return f"./llmctl-{values.name}"


def values_yaml(values: Values) -> str:
    head = ("# llmctl values written by the guided deployment (llmctl deploy --guided).\n"
            "# Deploy again with: llmctl deploy -f values.yaml   (manifests/values.example.yaml explains each key)\n")
    return head + yaml.safe_dump(values_to_dict(values), sort_keys=False, default_flow_style=False, width=100)


def write_outputs(rendered: Rendered, directory: str | Path) -> list[Path]:
    """The rendered manifests (one file per kind, numbered in apply order) and the values file."""
    target = Path(directory).expanduser()
    written = rendered.write(target, HEADER.format(source=VALUES_FILE))
    values_path = target / VALUES_FILE
    values_path.write_text(values_yaml(rendered.values), encoding="utf-8")
    return [*written, values_path]


def kubectl_equivalents(values: Values, directory: str, context: str | None) -> list[str]:
    ctx = f" --context {context}" if context else ""
    ns = f" -n {values.namespace}"
    out = [f"kubectl apply --server-side --field-manager=llmctl --force-conflicts -f {directory}{ctx}"
           "      # what apply sent (after a --dry-run=server of it)",
           f"kubectl diff --server-side --field-manager=llmctl --force-conflicts -f {directory}{ctx}"
           "       # what would change now"]
    out += [f"kubectl rollout status deployment/{d}{ns}{ctx}" for d in values.deployments()]
    out.append(f"kubectl get deploy,pods,svc,hpa,pdb,pvc{ns} -l app.kubernetes.io/name={values.name}{ctx}")
    return out


def next_steps(values: Values, directory: str, context: str | None) -> list[str]:
    ctx = f" --context {context}" if context else ""
    ns = f" -n {values.namespace}"
    first = values.deployments()[0]
    return [f"commit {directory} to git: the values file and manifests are yours",
            f"llmctl deploy -f {directory}/{VALUES_FILE}{ctx}   # after changing the values (shows the diff first)",
            f"llmctl status{ns}{ctx}; llmctl top latency{ns}   # serving, GPUs and latency",
            f"llmctl rollout set-image {first} IMAGE{ns}{ctx}   # the next release (compatibility-checked)"]


def created_and_changed(plan: Any) -> tuple[list[str], list[str], list[str]]:
    """refs of a DeployPlan's objects: (created, changed, unchanged or kept)."""
    made = [o.ref for o in plan.objects if o.state == "new"]
    changed = [o.ref for o in plan.objects if o.state == "changed"]
    same = [o.ref for o in plan.objects if o.state in ("unchanged", "kept")]
    return made, changed, same
