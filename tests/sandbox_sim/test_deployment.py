"""The deployment controller against what a real kube-controller-manager does (reference.md §4, §7)."""

from __future__ import annotations

from console.sandbox.api_defaults import apply_defaults
from console.sandbox.controllers import rollout as ro
from console.sandbox.store import Obj

from .conftest import DEPLOY, NS, Cluster, condition, rollout_done, wait_for


def _ready_serving(c: Cluster) -> int:
    return sum(1 for p in c.pods() if not p["metadata"].get("deletionTimestamp") and condition(p, "Ready")
               and condition(p, "Ready")["status"] == "True")


async def test_rolling_update_never_drops_below_replicas(cluster: Cluster) -> None:
    c = cluster
    seen: list[int] = []
    c.store.subscribe(lambda t, plural, o, old: seen.append(_ready_serving(c)) if plural == "pods" else None)
    c.set_image("v1.1.0")
    d = await wait_for(lambda: rollout_done(c.deployment()) and c.deployment(), what="rollout")
    assert min(seen) >= 2, f"serving pods dropped to {min(seen)} during a maxSurge 1 / maxUnavailable 0 rollout"
    rss = {ro.revision(rs): rs for rs in c.replicasets()}
    assert set(rss) == {1, 2}
    assert rss[2]["spec"]["replicas"] == 2 and rss[1]["spec"]["replicas"] == 0
    assert d["metadata"]["annotations"][ro.REVISION] == "2"
    assert condition(d, "Progressing")["reason"] == "NewReplicaSetAvailable"
    messages = [e["message"] for e in c.events("ScalingReplicaSet")]
    new, old = rss[2]["metadata"]["name"], rss[1]["metadata"]["name"]
    assert f"Scaled up replica set {new} to 1" in messages
    assert f"Scaled down replica set {old} to 1 from 2" in messages
    assert f"Scaled down replica set {old} to 0 from 1" in messages
    assert all(e["involvedObject"]["kind"] == "Deployment" for e in c.events("ScalingReplicaSet"))


def _new_deployment(c: Cluster, name: str, replicas: int = 2, **spec: object) -> Obj:
    image = c.ctx.catalog.ref("llm/claude-inference", "v1.0.0")
    d = {"metadata": {"name": name, "namespace": NS, "annotations": {"kubernetes.io/change-cause": "test"}},
         "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}}, **spec,
                  "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{
                      "name": "inference", "image": image,
                      "resources": {"limits": {"nvidia.com/gpu": "1"}}}]}}}}
    apply_defaults("deployments", d)
    return c.store.create("deployments", d)


async def test_status_and_annotations_after_create(cluster: Cluster) -> None:
    c = cluster
    _new_deployment(c, "fresh")
    d = await wait_for(lambda: (d := c.deployment("fresh")).get("status", {}).get("observedGeneration") and d)
    assert condition(d, "Available")["status"] == "False"
    assert condition(d, "Available")["reason"] == "MinimumReplicasUnavailable"
    assert (condition(d, "Progressing")["status"], condition(d, "Progressing")["reason"]) == ("True",
                                                                                              "ReplicaSetUpdated")
    assert d["status"]["unavailableReplicas"] == 2 and "availableReplicas" not in d["status"]
    [rs] = c.replicasets("fresh")
    h = rs["metadata"]["labels"]["pod-template-hash"]
    assert rs["metadata"]["name"] == f"fresh-{h}" and 6 <= len(h) <= 10
    assert rs["spec"]["selector"]["matchLabels"] == {"app": "fresh", "pod-template-hash": h}
    ref = rs["metadata"]["ownerReferences"][0]
    assert (ref["kind"], ref["name"], ref["controller"], ref["blockOwnerDeletion"]) == ("Deployment", "fresh", True,
                                                                                         True)
    ann = rs["metadata"]["annotations"]
    assert ann[ro.REVISION] == "1" and ann[ro.DESIRED_REPLICAS] == "2" and ann[ro.MAX_REPLICAS] == "3"
    assert ann["kubernetes.io/change-cause"] == "test"
    assert d["metadata"]["annotations"][ro.REVISION] == "1"
    d = await wait_for(lambda: rollout_done(c.deployment("fresh")) and c.deployment("fresh"), what="ready")
    assert condition(d, "Available")["reason"] == "MinimumReplicasAvailable"
    assert condition(d, "Progressing")["reason"] == "NewReplicaSetAvailable"
    assert "unavailableReplicas" not in d["status"]
    assert d["metadata"]["generation"] == 1 and d["status"]["observedGeneration"] == 1


async def test_undo_reuses_the_revision_one_replicaset(cluster: Cluster) -> None:
    c = cluster
    first = c.replicasets()[0]
    c.set_image("v1.1.0")
    await wait_for(lambda: rollout_done(c.deployment()), what="rollout to v1.1.0")
    template = {**first["spec"]["template"], "metadata": {
        **first["spec"]["template"]["metadata"],
        "labels": {k: v for k, v in first["spec"]["template"]["metadata"]["labels"].items()
                   if k != "pod-template-hash"}}}
    c.update_deployment(lambda d: d["spec"].update(template=template))  # what `kubectl rollout undo` sends
    d = await wait_for(lambda: rollout_done(c.deployment()) and c.deployment(), what="undo")
    rss = c.replicasets()
    assert len(rss) == 2, "undo must reuse the old ReplicaSet, not create a third"
    reused = next(rs for rs in rss if rs["metadata"]["uid"] == first["metadata"]["uid"])
    assert reused["metadata"]["annotations"][ro.REVISION] == "3"
    assert reused["metadata"]["annotations"][ro.REVISION_HISTORY] == "1"
    assert reused["spec"]["replicas"] == 2
    assert d["metadata"]["annotations"][ro.REVISION] == "3"


async def test_pause_holds_the_rollout_and_resume_finishes_it(cluster: Cluster) -> None:
    c = cluster
    c.update_deployment(lambda d: d["spec"].update(paused=True))
    d = await wait_for(lambda: (condition(c.deployment(), "Progressing") or {}).get("reason") == "DeploymentPaused"
                       and c.deployment())
    assert condition(d, "Progressing")["status"] == "Unknown"
    gen = c.set_image("v1.1.0")["metadata"]["generation"]
    await wait_for(lambda: c.deployment()["status"].get("observedGeneration") == gen, what="observedGeneration")
    await c.manager.settle()
    assert len(c.replicasets()) == 1, "a paused Deployment must not create a new ReplicaSet"
    c.update_deployment(lambda d: d["spec"].pop("paused"))
    await wait_for(lambda: len(c.replicasets()) == 2, what="new ReplicaSet after resume")
    assert condition(c.deployment(), "Progressing")["reason"] in ("DeploymentResumed", "ReplicaSetUpdated",
                                                                  "NewReplicaSetCreated")
    await wait_for(lambda: rollout_done(c.deployment()), what="rollout after resume")


async def test_progress_deadline_exceeded_for_a_crashing_image(cluster: Cluster) -> None:
    c = cluster
    c.update_deployment(lambda d: d["spec"].update(progressDeadlineSeconds=20))
    c.set_image("v2.0.0-cuda13")
    d = await wait_for(lambda: (condition(c.deployment(), "Progressing") or {}).get("reason")
                       == "ProgressDeadlineExceeded" and c.deployment(), what="ProgressDeadlineExceeded")
    cond = condition(d, "Progressing")
    assert cond["status"] == "False"
    assert cond["message"].endswith("has timed out progressing.")
    assert d["status"]["availableReplicas"] == 2, "maxUnavailable 0 keeps the old pods serving"
    assert d["status"]["updatedReplicas"] == 1


async def test_scale_bumps_generation_and_emits_event(cluster: Cluster) -> None:
    c = cluster
    d = c.update_deployment(lambda d: d["spec"].update(replicas=3))
    assert d["metadata"]["generation"] == 2
    await wait_for(lambda: rollout_done(c.deployment()), what="scale to 3")
    assert c.deployment()["status"]["observedGeneration"] == 2
    rs = c.replicasets()[0]
    assert rs["metadata"]["annotations"][ro.DESIRED_REPLICAS] == "3"
    assert f"Scaled up replica set {rs['metadata']['name']} to 3 from 2" in [
        e["message"] for e in c.events("ScalingReplicaSet")]


async def test_recreate_stops_old_pods_before_starting_new(cluster: Cluster) -> None:
    c = cluster
    _new_deployment(c, "batch", replicas=2, strategy={"type": "Recreate"})
    await wait_for(lambda: rollout_done(c.deployment("batch")), what="batch ready")
    old_uid = c.replicasets("batch")[0]["metadata"]["uid"]
    overlap: list[str] = []

    def watch(type_: str, plural: str, obj: Obj, old: Obj | None) -> None:
        if plural == "pods" and type_ == "ADDED" and obj["metadata"]["name"].startswith("batch-"):
            olds = [p for p in c.store.list("pods", NS) if p["metadata"]["ownerReferences"][0]["uid"] == old_uid]
            overlap.extend(p["metadata"]["name"] for p in olds)

    c.store.subscribe(watch)
    c.set_image("v1.1.0", name="batch")
    await wait_for(lambda: rollout_done(c.deployment("batch")), what="recreate rollout")
    assert not overlap, f"Recreate started new pods while old ones existed: {overlap}"


async def test_revision_history_limit_prunes_old_replicasets(cluster: Cluster) -> None:
    c = cluster
    c.update_deployment(lambda d: d["spec"].update(revisionHistoryLimit=1))
    for tag in ("v1.1.0", "v1.3.0-bigbatch"):
        c.set_image(tag)
        await wait_for(lambda: rollout_done(c.deployment()), what=f"rollout to {tag}")
    await wait_for(lambda: len(c.replicasets()) == 2, what="pruned history")
    assert sorted(ro.revision(rs) for rs in c.replicasets()) == [2, 3]


async def test_deleting_a_deployment_cascades(cluster: Cluster) -> None:
    c = cluster
    rs_names = [rs["metadata"]["name"] for rs in c.replicasets()]
    pod_names = [p["metadata"]["name"] for p in c.pods()]
    c.store.delete("deployments", NS, DEPLOY)
    await c.manager.settle()
    assert all(c.store.try_get("replicasets", NS, n) is None for n in rs_names)
    assert all(c.store.try_get("pods", NS, n) is None for n in pod_names)
    assert c.store.try_get("horizontalpodautoscalers", NS, "claude-hpa") is not None
