"""The disruption controller (kube-controller-manager's ``disruption``): keeps each PodDisruptionBudget's
status — expectedPods, desiredHealthy, currentHealthy, disruptionsAllowed, disruptedPods and the
``DisruptionAllowed`` condition — in step with the pods its selector matches, as v1.30 computes them:

- ``maxUnavailable`` (or a percentage ``minAvailable``): expectedPods is the sum of the scale of the pods'
  controllers (a Deployment's replicas for its ReplicaSets' pods, else the ReplicaSet's), desiredHealthy is
  expected − maxUnavailable (or minAvailable% of expected, rounded up); a pod without a controller or with
  one that has no scale (a DaemonSet) makes the sync fail (condition ``SyncFailed``, nothing allowed);
- integer ``minAvailable``: expectedPods is the number of matching pods, desiredHealthy the value;
- currentHealthy counts Ready pods that are not being deleted and not just evicted (``disruptedPods``,
  which the eviction API fills and which expire after two minutes);
- disruptionsAllowed = currentHealthy − desiredHealthy, never below 0, and 0 while no pod is expected.
"""

from __future__ import annotations

import math
from typing import Any

from ..clock import parse_timestamp
from ..selectors import selector_matches
from ..store import Obj, copy_object
from .base import Controller, pod_ready
from .events import record_event
from .hpa import _go_selector
from .keys import Key, controller_ref, key_of

COMPONENT = "controllermanager"
DELETION_TIMEOUT = 120.0  # seconds an evicted pod may take to get its deletionTimestamp


class SyncError(Exception):
    pass


def pdb_selects(pdb: Obj, pod: Obj) -> bool:
    """metav1.LabelSelectorAsSelector: a missing selector matches nothing, an empty one every pod."""
    selector = (pdb.get("spec") or {}).get("selector")
    if selector is None:
        return False
    if pod["metadata"].get("namespace") != pdb["metadata"].get("namespace"):
        return False
    if not selector.get("matchLabels") and not selector.get("matchExpressions"):
        return True
    return selector_matches(selector, pod["metadata"].get("labels") or {})


def scaled_value(value: Any, total: int, round_up: bool) -> int:
    """intstr.GetScaledValueFromIntOrPercent."""
    if isinstance(value, int):
        return value
    text = str(value)
    if not text.endswith("%"):
        raise SyncError("invalid value for IntOrString: invalid type: string is not a percentage")
    scaled = int(text[:-1]) * total / 100
    return math.ceil(scaled) if round_up else math.floor(scaled)


class DisruptionController(Controller):
    name = "disruption"
    plurals = ("poddisruptionbudgets", "pods", "deployments", "replicasets")

    def on_change(self, type_: str, plural: str, obj: Obj, old: Obj | None) -> None:
        if plural == "poddisruptionbudgets":
            if type_ != "DELETED":
                self.enqueue(key_of(obj))
            return
        ns = obj["metadata"].get("namespace")
        for pdb in self.store.list("poddisruptionbudgets", ns):
            if plural != "pods" or pdb_selects(pdb, obj) or (old is not None and pdb_selects(pdb, old)):
                self.enqueue(key_of(pdb))

    def initial_keys(self) -> list[Key]:
        return [key_of(p) for p in self.store.iter_all("poddisruptionbudgets")]

    # ---- expected pods ------------------------------------------------------------------------------
    def _controller_scale(self, pod: Obj) -> tuple[str, int] | None:
        """(uid, replicas) of the pod's scalable controller (finders: Deployment via ReplicaSet, ReplicaSet)."""
        ref = controller_ref(pod)
        if ref is None:
            return None
        ns = pod["metadata"].get("namespace")
        if ref.get("kind") != "ReplicaSet":
            raise SyncError(f'found no controllers for pod "{pod["metadata"]["name"]}"')
        rs = self.store.try_get("replicasets", ns, ref["name"])
        if rs is None or rs["metadata"].get("uid") != ref.get("uid"):
            raise SyncError(f'found no controllers for pod "{pod["metadata"]["name"]}"')
        owner = controller_ref(rs)
        if owner is not None and owner.get("kind") == "Deployment":
            d = self.store.try_get("deployments", ns, owner["name"])
            if d is not None and d["metadata"].get("uid") == owner.get("uid"):
                return d["metadata"]["uid"], int((d.get("spec") or {}).get("replicas", 1))
        return rs["metadata"]["uid"], int((rs.get("spec") or {}).get("replicas", 1))

    def _expected_scale(self, pods: list[Obj]) -> tuple[int, list[str]]:
        scales: dict[str, int] = {}
        unmanaged = []
        for pod in pods:
            found = self._controller_scale(pod)
            if found is None:
                unmanaged.append(pod["metadata"]["name"])
            else:
                scales[found[0]] = found[1]
        return sum(scales.values()), unmanaged

    def expected_and_desired(self, pdb: Obj, pods: list[Obj]) -> tuple[int, int, list[str]]:
        spec = pdb.get("spec") or {}
        if spec.get("maxUnavailable") is not None:
            expected, unmanaged = self._expected_scale(pods)
            desired = max(0, expected - scaled_value(spec["maxUnavailable"], expected, True))
            return expected, desired, unmanaged
        min_available = spec.get("minAvailable")
        if isinstance(min_available, int):
            return len(pods), min_available, []
        if min_available is not None:
            expected, unmanaged = self._expected_scale(pods)
            return expected, scaled_value(min_available, expected, True), unmanaged
        return 0, 0, []

    # ---- reconcile ----------------------------------------------------------------------------------
    def reconcile(self, key: Any) -> None:
        ns, name = key
        pdb = self.store.try_get("poddisruptionbudgets", ns, name)
        if pdb is None:
            return
        pods = [p for p in self.store.list("pods", ns) if pdb_selects(pdb, p)]
        if not pods:
            record_event(self.ctx, pdb, "NoPods", "No matching pods found", component=COMPONENT)
        try:
            expected, desired, unmanaged = self.expected_and_desired(pdb, pods)
        except SyncError as e:
            record_event(self.ctx, pdb, "CalculateExpectedPodCountFailed",
                         f"Failed to calculate the number of expected pods: {e}", "Warning", COMPONENT)
            self._write(pdb, self._fail_safe(pdb, str(e)))
            return
        if unmanaged:
            record_event(self.ctx, pdb, "UnmanagedPods",
                         "Pods selected by this PodDisruptionBudget (selector: "
                         f"{_go_selector((pdb.get('spec') or {}).get('selector'))}) were found to be unmanaged. "
                         "As a result, the status of the PDB cannot be calculated correctly, which may result in "
                         "undefined behavior. To account for these pods please set \".spec.minAvailable\" field "
                         "of the PDB to an integer value.", "Warning", COMPONENT)
        now = self.clock.now().timestamp()
        disrupted, recheck = self._disrupted(pdb, pods, now)
        healthy = 0
        for pod in pods:
            if pod["metadata"].get("deletionTimestamp") or pod["metadata"]["name"] in disrupted:
                continue
            if pod_ready(pod):
                healthy += 1
        allowed = healthy - desired
        if expected <= 0 or allowed <= 0:
            allowed = 0
        status = copy_object(pdb.get("status") or {})
        generation = pdb["metadata"].get("generation", 1)
        status.update(currentHealthy=healthy, desiredHealthy=desired, expectedPods=expected,
                      disruptionsAllowed=allowed, observedGeneration=generation)
        if disrupted:
            status["disruptedPods"] = disrupted
        else:
            status.pop("disruptedPods", None)
        set_allowed_condition(status, self.ctx.clock.timestamp())
        self._write(pdb, status)
        if recheck is not None:
            self.enqueue_after(max(0.0, recheck - now), key, timer_key=("recheck", key))

    def _disrupted(self, pdb: Obj, pods: list[Obj], now: float) -> tuple[dict[str, str], float | None]:
        """buildDisruptedPodMap: entries for live pods not yet deleted whose deadline has not passed."""
        known = (pdb.get("status") or {}).get("disruptedPods") or {}
        out: dict[str, str] = {}
        recheck: float | None = None
        for pod in pods:
            pname = pod["metadata"]["name"]
            if pod["metadata"].get("deletionTimestamp") or pname not in known:
                continue
            deadline = parse_timestamp(known[pname]).timestamp() + DELETION_TIMEOUT
            if deadline < now:
                record_event(self.ctx, pod, "NotDeleted",
                             f"Pod was expected by PDB {pdb['metadata']['namespace']}/"
                             f"{pdb['metadata']['namespace']} to be deleted but it wasn't", "Warning", COMPONENT)
                continue
            out[pname] = known[pname]
            recheck = deadline if recheck is None else min(recheck, deadline)
        return out, recheck

    def _fail_safe(self, pdb: Obj, message: str) -> Obj:
        status = copy_object(pdb.get("status") or {})
        status["disruptionsAllowed"] = 0
        set_condition(status, "False", "SyncFailed", message, self.ctx.clock.timestamp())
        return status

    def _write(self, pdb: Obj, status: Obj) -> None:
        if status == pdb.get("status"):
            return
        updated = copy_object(pdb)
        updated["status"] = status
        self.store.replace("poddisruptionbudgets", updated, check_version=False)


def set_condition(status: Obj, value: str, reason: str, message: str, now: str) -> None:
    """apimeta.SetStatusCondition for the ``DisruptionAllowed`` condition."""
    conditions = status.setdefault("conditions", [])
    cond = next((c for c in conditions if c.get("type") == "DisruptionAllowed"), None)
    fresh = {"type": "DisruptionAllowed", "status": value, "observedGeneration": status.get("observedGeneration", 0),
             "lastTransitionTime": now, "reason": reason, "message": message}
    if cond is None:
        conditions.append(fresh)
        return
    if cond.get("status") != value:
        cond["lastTransitionTime"] = now
    cond.update(status=value, reason=reason, message=message, observedGeneration=fresh["observedGeneration"])


def set_allowed_condition(status: Obj, now: str) -> None:
    """pdbhelper.UpdateDisruptionAllowedCondition."""
    if status.get("disruptionsAllowed", 0) > 0:
        set_condition(status, "True", "SufficientPods", "", now)
    else:
        set_condition(status, "False", "InsufficientPods", "", now)

