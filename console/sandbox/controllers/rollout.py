"""Pure Deployment arithmetic, ported from kube-controller-manager's deployment/util so the sandbox
rolls out exactly as a real cluster: template hashes, revisions, maxSurge/maxUnavailable fenceposts,
status and conditions. No store access here; deployment.py does the I/O.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..store import Obj, copy_object
from .base import owner_reference

REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
HASH_LABEL = "pod-template-hash"
_SKIP_COPY = {
    "kubectl.kubernetes.io/last-applied-configuration", REVISION, REVISION_HISTORY, DESIRED_REPLICAS,
    MAX_REPLICAS, "deprecated.deployment.rollback.to",
}
_REV_HISTORY_CHARS = 2000  # kube-controller-manager's default --deployment-controller revision history
_ALPHANUMS = "bcdfghjklmnpqrstvwxz2456789"
_DEFAULT_FENCEPOST = "25%"  # what API defaulting puts in an unset maxSurge / maxUnavailable


# ---- hashing --------------------------------------------------------------------------------------
def _fnv32a(data: bytes) -> int:
    h = 0x811C9DC5
    for b in data:
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    return h


def template_hash(template: Mapping[str, Any], collision_count: int | None = None) -> str:
    """The pod-template-hash: fnv32a over the template, rendered like rand.SafeEncodeString."""
    data = json.dumps(template, sort_keys=True, separators=(",", ":")).encode()
    if collision_count:
        data += str(collision_count).encode()
    return "".join(_ALPHANUMS[b % len(_ALPHANUMS)] for b in str(_fnv32a(data)).encode())


# ---- spec accessors (tolerating objects the API layer did not default) ----------------------------
def replicas(obj: Mapping[str, Any]) -> int:
    value = obj.get("spec", {}).get("replicas")
    return 1 if value is None else int(value)


def is_rolling(d: Mapping[str, Any]) -> bool:
    return (d["spec"].get("strategy") or {}).get("type", "RollingUpdate") != "Recreate"


def progress_deadline(d: Mapping[str, Any]) -> int | None:
    value = d["spec"].get("progressDeadlineSeconds", 600)
    return None if value is None or value >= 2**31 - 1 else int(value)


def history_limit(d: Mapping[str, Any]) -> int:
    value = d["spec"].get("revisionHistoryLimit")
    return 10 if value is None else int(value)


def scaled_value(value: Any, total: int, round_up: bool) -> int:
    """intstr.GetScaledValueFromIntOrPercent: an int as is, "N%" of ``total`` rounded up or down. Exact
    integer arithmetic: Go's float64 product and quotient of such small numbers round the same way."""
    if isinstance(value, str) and value.strip().endswith("%"):
        share = int(value.strip()[:-1]) * total
        return -(-share // 100) if round_up else share // 100
    return int(value)  # an int, or a digit string (the sandbox's validation lets those through)


def fenceposts(d: Mapping[str, Any]) -> tuple[int, int]:
    """(maxSurge, maxUnavailable) resolved against spec.replicas, as deployment/util ResolveFenceposts
    does: surge rounds up, unavailable rounds down, and when both come to 0 unavailable becomes 1 so the
    rollout can move. The sandbox's own arithmetic, so the console's preflight is checked against it."""
    rolling = (d["spec"].get("strategy") or {}).get("rollingUpdate") or {}
    total = replicas(d)
    surge = scaled_value(_fencepost(rolling, "maxSurge"), total, round_up=True)
    unavailable = scaled_value(_fencepost(rolling, "maxUnavailable"), total, round_up=False)
    return (surge, 1) if surge == 0 and unavailable == 0 else (surge, unavailable)


def _fencepost(rolling: Mapping[str, Any], name: str) -> Any:
    value = rolling.get(name)
    return _DEFAULT_FENCEPOST if value is None else value


def without_hash(template: Mapping[str, Any]) -> dict[str, Any]:
    """A pod template minus the pod-template-hash label; a label map left empty is dropped, as Go's
    omitempty would. Shallow: only metadata and its labels are new objects."""
    meta = dict(template.get("metadata") or {})
    labels = {k: v for k, v in (meta.pop("labels", None) or {}).items() if k != HASH_LABEL}
    if labels:
        meta["labels"] = labels
    return {**template, "metadata": meta}


def equal_ignore_hash(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """deployment/util EqualIgnoreHash: two pod templates are the same but for the hash label."""
    return without_hash(a) == without_hash(b)


def max_surge(d: Mapping[str, Any]) -> int:
    return fenceposts(d)[0] if is_rolling(d) else 0


def max_unavailable(d: Mapping[str, Any]) -> int:
    if not is_rolling(d) or replicas(d) == 0:
        return 0
    return min(fenceposts(d)[1], replicas(d))


# ---- ReplicaSets ----------------------------------------------------------------------------------
def revision(obj: Mapping[str, Any]) -> int:
    try:
        return int((obj["metadata"].get("annotations") or {}).get(REVISION, "0"))
    except ValueError:
        return 0


def rs_replicas(rs: Mapping[str, Any]) -> int:
    return int(rs["spec"].get("replicas") or 0)


def rs_status(rs: Mapping[str, Any], field: str) -> int:
    return int((rs.get("status") or {}).get(field) or 0)


def set_replicas_annotations(rs: Obj, desired: int, max_total: int) -> bool:
    ann = rs["metadata"].setdefault("annotations", {})
    changed = ann.get(DESIRED_REPLICAS) != str(desired) or ann.get(MAX_REPLICAS) != str(max_total)
    ann[DESIRED_REPLICAS], ann[MAX_REPLICAS] = str(desired), str(max_total)
    return changed


def set_new_rs_annotations(d: Mapping[str, Any], rs: Obj, new_revision: int, exists: bool) -> bool:
    """SetNewReplicaSetAnnotations: copy the Deployment's annotations, raise the revision, and keep
    the numbers it had before in revision-history (that is how an undo shows up)."""
    ann = rs["metadata"].setdefault("annotations", {})
    changed = False
    for k, v in (d["metadata"].get("annotations") or {}).items():
        if k not in _SKIP_COPY and ann.get(k) != v:
            ann[k] = v
            changed = True
    old_text = ann.get(REVISION)
    old = int(old_text) if old_text and old_text.isdigit() else 0
    if old < new_revision:
        ann[REVISION] = str(new_revision)
        changed = True
        if old_text:
            history = [h for h in (ann.get(REVISION_HISTORY) or "").split(",") if h]
            history.append(old_text)
            while len(",".join(history)) > _REV_HISTORY_CHARS and len(history) > 1:
                history.pop(0)
            ann[REVISION_HISTORY] = ",".join(history)
    if not exists and set_replicas_annotations(rs, replicas(d), replicas(d) + max_surge(d)):
        changed = True
    return changed


def new_replica_set(d: Mapping[str, Any], hash_: str, new_revision: int, count: int) -> Obj:
    """The ReplicaSet a Deployment creates for its current template (before the store names it)."""
    template = copy_object(d["spec"]["template"])
    tmeta = template.setdefault("metadata", {})
    tmeta["labels"] = {**(tmeta.get("labels") or {}), HASH_LABEL: hash_}
    selector = copy_object(d["spec"].get("selector") or {})
    selector["matchLabels"] = {**(selector.get("matchLabels") or {}), HASH_LABEL: hash_}
    rs: Obj = {
        "metadata": {
            "name": f"{d['metadata']['name']}-{hash_}",
            "namespace": d["metadata"].get("namespace"),
            "labels": dict(tmeta["labels"]),
            "annotations": {},
            "ownerReferences": [owner_reference(d)],
        },
        "spec": {
            "replicas": count,
            "minReadySeconds": int(d["spec"].get("minReadySeconds") or 0),
            "selector": selector,
            "template": template,
        },
    }
    set_new_rs_annotations(d, rs, new_revision, exists=False)
    return rs


def new_rs_new_replicas(d: Mapping[str, Any], all_rss: Sequence[Mapping[str, Any]], new_rs: Mapping[str, Any]) -> int:
    """How far the new ReplicaSet may grow now without breaking maxSurge (NewRSNewReplicas)."""
    if not is_rolling(d):
        return replicas(d)
    current = sum(rs_replicas(rs) for rs in all_rss)
    max_total = replicas(d) + max_surge(d)
    if current >= max_total:
        return rs_replicas(new_rs)
    scale_up = min(max_total - current, replicas(d) - rs_replicas(new_rs))
    return rs_replicas(new_rs) + scale_up


def is_saturated(d: Mapping[str, Any], rs: Mapping[str, Any] | None) -> bool:
    if rs is None:
        return False
    desired = (rs["metadata"].get("annotations") or {}).get(DESIRED_REPLICAS)
    return (rs_replicas(rs) == replicas(d) and desired == str(replicas(d))
            and rs_status(rs, "availableReplicas") == replicas(d))


def active(rss: Iterable[Obj | None]) -> list[Obj]:
    return [rs for rs in rss if rs is not None and rs_replicas(rs) > 0]


def by_creation(rss: Iterable[Obj]) -> list[Obj]:
    return sorted(rss, key=lambda r: (r["metadata"].get("creationTimestamp", ""), r["metadata"]["name"]))


def proportional_sizes(d: Mapping[str, Any], rss: Sequence[Obj]) -> dict[str, int]:
    """scale(): spread a replica change over several active ReplicaSets in proportion to their
    size (larger first; newer first when growing, older first when shrinking), leftovers to the first."""
    want = replicas(d)
    allowed = want + max_surge(d) if want > 0 else 0
    to_add = allowed - sum(rs_replicas(rs) for rs in rss)
    ordered = by_creation(rss)
    if to_add > 0:
        ordered = sorted(reversed(ordered), key=lambda r: -rs_replicas(r))
    elif to_add < 0:
        ordered = sorted(ordered, key=lambda r: -rs_replicas(r))
    added, sizes = 0, {}
    for rs in ordered:
        share = _proportion(rs, d, to_add, added) if to_add else 0
        sizes[rs["metadata"]["name"]] = rs_replicas(rs) + share
        added += share
    if ordered and to_add:
        first = ordered[0]["metadata"]["name"]
        sizes[first] = max(0, sizes[first] + to_add - added)
    return sizes


def _proportion(rs: Obj, d: Mapping[str, Any], to_add: int, added: int) -> int:
    """getProportion: this ReplicaSet's share of a resize, bounded by what is left to distribute."""
    if rs_replicas(rs) == 0 or to_add == added:
        return 0
    if replicas(d) == 0:
        fraction = -rs_replicas(rs)
    else:
        max_text = (rs["metadata"].get("annotations") or {}).get(MAX_REPLICAS)
        status_replicas = int((d.get("status") or {}).get("replicas") or 0)
        annotated = int(max_text) if max_text and max_text.isdigit() else status_replicas
        if annotated <= 0:
            return 0
        fraction = int(rs_replicas(rs) * (replicas(d) + max_surge(d)) / annotated + 0.5) - rs_replicas(rs)
    allowed = to_add - added
    return min(fraction, allowed) if to_add > 0 else max(fraction, allowed)
