"""The Deployment controller: ReplicaSets per pod template, revisions, rolling update and Recreate,
pause/resume, proportional scaling, progress deadline and revision history — following
kube-controller-manager's pkg/controller/deployment step by step, so what `kubectl rollout status`
and the console read from the sandbox is what they would read from a real cluster.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from ..errors import ApiError
from ..store import Obj, copy_object
from . import deploystatus as st
from . import rollout as ro
from .base import Controller, get_condition
from .events import record_event
from .keys import Key, controller_ref, key_of

COMPONENT = "deployment-controller"


class DeploymentController(Controller):
    name = "deployment"
    plurals = ("deployments", "replicasets", "pods")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Simulated time of the last Progressing update per Deployment: lastUpdateTime has one-second
        # wall precision, useless for a deadline of a few simulated seconds at --speed 50.
        self._marks: dict[Key, float] = {}

    # ---- wiring ---------------------------------------------------------------------------------
    def on_change(self, type_: str, plural: str, obj: Obj, old: Obj | None) -> None:
        if plural == "deployments":
            self.enqueue(key_of(obj))
            return
        ref = controller_ref(obj)
        if not ref:
            return
        ns = obj["metadata"].get("namespace") or ""
        if plural == "replicasets" and ref.get("kind") == "Deployment":
            self.enqueue((ns, ref["name"]))
        elif plural == "pods" and type_ == "DELETED" and ref.get("kind") == "ReplicaSet":
            # Recreate waits for the old pods to be gone.
            rs = self.store.try_get("replicasets", ns, ref["name"])
            owner = controller_ref(rs) if rs else None
            if owner and owner.get("kind") == "Deployment":
                self.enqueue((ns, owner["name"]))

    def initial_keys(self) -> list[Key]:
        return [key_of(d) for d in self.store.iter_all("deployments")]

    def reconcile(self, key: Hashable) -> None:
        ns, name = key  # type: ignore[misc]
        stored = self.store.try_get("deployments", ns, name)
        if stored is None:
            self._marks.pop((ns, name), None)
            self.cancel_timer(("deadline", ns, name))
            return
        d = copy_object(stored)
        d.setdefault("status", {})
        self._sync((ns, name), d)
        if d != stored:
            self.store.replace("deployments", d)

    # ---- the sync loop (syncDeployment) ---------------------------------------------------------
    def _owned(self, d: Obj) -> list[Obj]:
        return ro.by_creation(self.index.owned("replicasets", d["metadata"]["uid"]))

    def _sync(self, key: Key, d: Obj) -> None:
        rss = self._owned(d)
        self._check_paused(key, d)
        if d["spec"].get("paused") or self._is_scaling_event(d, rss):
            self._sync_scale(key, d, rss)
        elif ro.is_rolling(d):
            self._rollout_rolling(key, d, rss)
        else:
            self._rollout_recreate(key, d, rss)

    def _mark(self, key: Key) -> None:
        self._marks[key] = self.clock.sim_elapsed()

    def _check_paused(self, key: Key, d: Obj) -> None:
        if ro.progress_deadline(d) is None:
            return
        cond = get_condition(d["status"], "Progressing")
        if cond and cond.get("reason") == st.TIMED_OUT:
            return  # a reported lack of progress is not overwritten by pausing
        paused_cond = bool(cond and cond.get("reason") == st.PAUSED)
        now = self.clock.timestamp()
        if d["spec"].get("paused") and not paused_cond:
            st.set_condition(d["status"], st.new_condition("Progressing", "Unknown", st.PAUSED,
                                                           "Deployment is paused", now))
            self._mark(key)
        elif not d["spec"].get("paused") and paused_cond:
            st.set_condition(d["status"], st.new_condition("Progressing", "Unknown", st.RESUMED,
                                                           "Deployment is resumed", now))
            self._mark(key)

    def _is_scaling_event(self, d: Obj, rss: list[Obj]) -> bool:
        for rs in ro.active(rss):
            desired = (rs["metadata"].get("annotations") or {}).get(ro.DESIRED_REPLICAS)
            if desired is not None and desired != str(ro.replicas(d)):
                return True
        return False

    def _fresh(self, rss: list[Obj | None]) -> list[Obj]:
        out = []
        for rs in rss:
            if rs is not None:
                cur = self.store.try_get("replicasets", *key_of(rs))
                if cur is not None:
                    out.append(cur)
        return out

    # ---- new ReplicaSet and revisions (getAllReplicaSetsAndSyncRevision) ------------------------
    def _get_all(self, key: Key, d: Obj, rss: list[Obj], create: bool) -> tuple[Obj | None, list[Obj]]:
        template = d["spec"]["template"]
        new_rs = next((rs for rs in rss if ro.equal_ignore_hash(rs["spec"]["template"], template)), None)
        olds = [rs for rs in rss if rs is not new_rs]
        new_revision = max((ro.revision(rs) for rs in olds), default=0) + 1
        ann = d["metadata"].setdefault("annotations", {})
        now = self.clock.timestamp()
        if new_rs is not None:
            rs_copy = copy_object(new_rs)
            changed = ro.set_new_rs_annotations(d, rs_copy, new_revision, exists=True)
            min_ready = int(d["spec"].get("minReadySeconds") or 0)
            if int(rs_copy["spec"].get("minReadySeconds") or 0) != min_ready:
                rs_copy["spec"]["minReadySeconds"] = min_ready
                changed = True
            if changed:
                new_rs = self.store.replace("replicasets", rs_copy, check_version=False)
            ann[ro.REVISION] = str(ro.revision(new_rs))
            if ro.progress_deadline(d) is not None and get_condition(d["status"], "Progressing") is None:
                st.set_condition(d["status"], st.new_condition(
                    "Progressing", "True", st.FOUND_NEW_RS, f'Found new replica set "{new_rs["metadata"]["name"]}"',
                    now))
                self._mark(key)
            return new_rs, olds
        if not create:
            return None, olds
        collisions = int(d["status"].get("collisionCount") or 0)
        rs = ro.new_replica_set(d, ro.template_hash(template, collisions), new_revision, 0)
        rs["spec"]["replicas"] = ro.new_rs_new_replicas(d, [*olds, rs], rs)
        try:
            created = self.store.create("replicasets", rs)
        except ApiError as err:
            if err.code != 409:
                raise
            existing = self.store.get("replicasets", d["metadata"].get("namespace"), rs["metadata"]["name"])
            ref = controller_ref(existing)
            if ref and ref["uid"] == d["metadata"]["uid"] and ro.equal_ignore_hash(
                    existing["spec"]["template"], template):
                return existing, olds
            d["status"]["collisionCount"] = collisions + 1  # a hash clash: retry with another name
            self.enqueue(key)
            return None, olds
        count = ro.rs_replicas(created)
        if count > 0:
            # v1.26+ words a new ReplicaSet's first scale without "from" (pkg/controller/deployment/sync.go)
            self._event(d, f"Scaled up replica set {created['metadata']['name']} to {count}")
        ann[ro.REVISION] = str(new_revision)
        if ro.progress_deadline(d) is not None:
            st.set_condition(d["status"], st.new_condition(
                "Progressing", "True", st.NEW_RS_CREATED, f'Created new replica set "{created["metadata"]["name"]}"',
                now))
            self._mark(key)
        return created, olds

    # ---- scaling ----------------------------------------------------------------------------------
    def _event(self, d: Obj, message: str) -> None:
        record_event(self.ctx, d, "ScalingReplicaSet", message, component=COMPONENT)

    def _scale_rs(self, d: Obj, rs: Obj, new_scale: int, *, annotations_only_if_scaled: bool = True) -> bool:
        """scaleReplicaSet: set replicas and the desired/max annotations; event when the size moved."""
        old_scale = ro.rs_replicas(rs)
        if annotations_only_if_scaled and old_scale == new_scale:
            return False
        rs_copy = copy_object(rs)
        rs_copy["spec"]["replicas"] = new_scale
        ann_changed = ro.set_replicas_annotations(rs_copy, ro.replicas(d), ro.replicas(d) + ro.max_surge(d))
        if old_scale == new_scale and not ann_changed:
            return False
        self.store.replace("replicasets", rs_copy, check_version=False)
        if old_scale != new_scale:
            op = "up" if new_scale > old_scale else "down"
            self._event(d, f"Scaled {op} replica set {rs['metadata']['name']} to {new_scale} from {old_scale}")
            return True
        return False

    def _sync_scale(self, key: Key, d: Obj, rss: list[Obj]) -> None:
        """sync(): paused Deployments and scaling events only resize, proportionally."""
        new_rs, olds = self._get_all(key, d, rss, create=False)
        self._proportional_scale(d, new_rs, olds)
        fresh_new = self._fresh([new_rs])
        new_rs, olds = (fresh_new[0] if fresh_new else None), self._fresh(list(olds))
        if d["spec"].get("paused"):
            self._cleanup(d, olds)
        all_rss = self._fresh([*olds, new_rs])
        d["status"] = st.compact_status(st.calculate_status(all_rss, new_rs, d, self.clock.timestamp()))
        self.cancel_timer(("deadline", *key))

    def _proportional_scale(self, d: Obj, new_rs: Obj | None, olds: list[Obj]) -> None:
        want = ro.replicas(d)
        newest_first = sorted(olds, key=lambda r: (r["metadata"].get("creationTimestamp", ""),
                                                   r["metadata"]["name"]), reverse=True)
        actives = ro.active([*newest_first, new_rs])
        if len(actives) <= 1:
            target = actives[0] if actives else (new_rs or (newest_first[0] if newest_first else None))
            if target is not None and ro.rs_replicas(target) != want:
                self._scale_rs(d, target, want)
            return
        if ro.is_saturated(d, new_rs):
            for rs in ro.active(olds):
                self._scale_rs(d, rs, 0)
            return
        if ro.is_rolling(d):
            rss = ro.active([*olds, new_rs])
            sizes = ro.proportional_sizes(d, rss)
            for rs in rss:
                self._scale_rs(d, rs, sizes[rs["metadata"]["name"]], annotations_only_if_scaled=False)

    # ---- rolling update ---------------------------------------------------------------------------
    def _rollout_rolling(self, key: Key, d: Obj, rss: list[Obj]) -> None:
        new_rs, olds = self._get_all(key, d, rss, create=True)
        if new_rs is None:
            return
        want = ro.replicas(d)
        if ro.rs_replicas(new_rs) != want:
            target = want if ro.rs_replicas(new_rs) > want else ro.new_rs_new_replicas(d, [*olds, new_rs], new_rs)
            if self._scale_rs(d, new_rs, target):
                self._sync_rollout_status(key, d, self._fresh([*olds, new_rs]), self._fresh([new_rs])[0])
                return
        new_rs = self._fresh([new_rs])[0]
        if self._reconcile_old(d, olds, new_rs):
            self._sync_rollout_status(key, d, self._fresh([*olds, new_rs]), new_rs)
            return
        if st.deployment_complete(d, d["status"]):
            self._cleanup(d, self._fresh(olds))
        self._sync_rollout_status(key, d, self._fresh([*olds, new_rs]), new_rs)

    def _reconcile_old(self, d: Obj, olds: list[Obj], new_rs: Obj) -> bool:
        """Scale old ReplicaSets down only as far as maxUnavailable and the new pods' availability allow."""
        olds = ro.active(olds)
        if not olds:
            return False
        all_pods = sum(ro.rs_replicas(rs) for rs in [*olds, new_rs])
        min_available = ro.replicas(d) - ro.max_unavailable(d)
        new_unavailable = ro.rs_replicas(new_rs) - ro.rs_status(new_rs, "availableReplicas")
        max_scaled_down = all_pods - min_available - new_unavailable
        if max_scaled_down <= 0:
            return False
        total = 0
        for rs in ro.by_creation(olds):  # first get rid of old pods that are not available anyway
            if total >= max_scaled_down:
                break
            unhealthy = ro.rs_replicas(rs) - ro.rs_status(rs, "availableReplicas")
            if ro.rs_replicas(rs) == 0 or unhealthy <= 0:
                continue
            n = min(max_scaled_down - total, unhealthy)
            self._scale_rs(d, rs, ro.rs_replicas(rs) - n)
            total += n
        olds = self._fresh(olds)  # type: ignore[arg-type]
        available = sum(ro.rs_status(rs, "availableReplicas") for rs in [*olds, new_rs])
        scaled = 0
        if available > min_available:
            budget = available - min_available
            for rs in ro.by_creation(olds):
                if scaled >= budget:
                    break
                if ro.rs_replicas(rs) == 0:
                    continue
                n = min(ro.rs_replicas(rs), budget - scaled)
                self._scale_rs(d, rs, ro.rs_replicas(rs) - n)
                scaled += n
        return total + scaled > 0

    # ---- Recreate ---------------------------------------------------------------------------------
    def _rollout_recreate(self, key: Key, d: Obj, rss: list[Obj]) -> None:
        new_rs, olds = self._get_all(key, d, rss, create=False)
        scaled_down = False
        for rs in ro.active(olds):
            scaled_down |= self._scale_rs(d, rs, 0)
        olds = self._fresh(olds)  # type: ignore[arg-type]
        if scaled_down or self._old_pods_running(new_rs, olds):
            self._sync_rollout_status(key, d, self._fresh([*olds, new_rs]), new_rs)
            return
        if new_rs is None:
            new_rs, olds = self._get_all(key, d, self._owned(d), create=True)
            if new_rs is None:
                return
        self._scale_rs(d, new_rs, ro.replicas(d))
        if st.deployment_complete(d, d["status"]):
            self._cleanup(d, olds)
        self._sync_rollout_status(key, d, self._fresh([*olds, new_rs]), self._fresh([new_rs])[0])

    def _old_pods_running(self, new_rs: Obj | None, olds: list[Obj]) -> bool:
        if sum(ro.rs_status(rs, "replicas") for rs in olds) > 0:
            return True
        for rs in olds:
            for pod in self.index.owned("pods", rs["metadata"]["uid"]):
                if (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed"):
                    return True
        return False

    # ---- history and status -----------------------------------------------------------------------
    def _cleanup(self, d: Obj, olds: list[Obj]) -> None:
        """Keep only revisionHistoryLimit old, empty ReplicaSets (oldest revisions go first)."""
        diff = len(olds) - ro.history_limit(d)
        if diff <= 0:
            return
        ordered = sorted(olds, key=lambda r: (ro.revision(r), r["metadata"].get("creationTimestamp", "")))
        for rs in ordered[:diff]:
            observed = int((rs.get("status") or {}).get("observedGeneration") or 0)
            if ro.rs_status(rs, "replicas") or ro.rs_replicas(rs) or rs["metadata"].get("generation", 1) > observed:
                continue
            self.store.delete("replicasets", *key_of(rs))

    def _sync_rollout_status(self, key: Key, d: Obj, all_rss: list[Obj], new_rs: Obj | None) -> None:
        deadline = ro.progress_deadline(d)
        status, progressed = st.rollout_status(d, all_rss, new_rs, self.clock.timestamp(), deadline,
                                               lambda s: self._timed_out(key, s, deadline or 0))
        if progressed:
            self._mark(key)
        d["status"] = status
        self._requeue_stuck(key, d, deadline)

    def _timed_out(self, key: Key, status: dict[str, Any], deadline: int) -> bool:
        cond = get_condition(status, "Progressing")
        if cond is None or cond.get("reason") == st.NEW_RS_AVAILABLE:
            return False
        if cond.get("reason") == st.TIMED_OUT:
            return True
        mark = self._marks.setdefault(key, self.clock.sim_elapsed())
        return self.clock.sim_elapsed() - mark > deadline

    def _requeue_stuck(self, key: Key, d: Obj, deadline: int | None) -> None:
        """Check again when the progress deadline would pass (requeueStuckDeployment)."""
        timer = ("deadline", *key)
        cond = get_condition(d["status"], "Progressing")
        if (deadline is None or cond is None or cond.get("reason") in (st.TIMED_OUT, st.NEW_RS_AVAILABLE)
                or st.deployment_complete(d, d["status"])):
            self.cancel_timer(timer)
            return
        mark = self._marks.setdefault(key, self.clock.sim_elapsed())
        remaining = mark + deadline - self.clock.sim_elapsed()
        self.enqueue_after(max(remaining, 0.0) + 0.5, key, timer_key=timer)
