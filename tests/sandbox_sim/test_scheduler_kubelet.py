"""Scheduling against GPU capacity and the kubelet's pod lifecycle, as a user of kubectl would see them."""

from __future__ import annotations

from collections import Counter

from console.sandbox.context import GPU_ANNOTATION
from console.sandbox.controllers.events import record_event
from console.sandbox.controllers.nodes import gpu_product, make_node
from console.sandbox.controllers.pods import graceful_delete
from console.sandbox.store import Obj

from .conftest import NS, Cluster, condition, rollout_done, start_cluster, wait_for


def _pending(c: Cluster) -> list[Obj]:
    return [p for p in c.pods() if not p["spec"].get("nodeName")]


def _gpu_slots(c: Cluster) -> Counter[tuple[str, str]]:
    slots: Counter[tuple[str, str]] = Counter()
    for p in c.store.list("pods"):
        for idx in ((p["metadata"].get("annotations") or {}).get(GPU_ANNOTATION) or "").split(","):
            if idx and p["spec"].get("nodeName"):
                slots[(p["spec"]["nodeName"], idx)] += 1
    return slots


async def test_failed_scheduling_when_gpus_run_out(cluster: Cluster) -> None:
    c = cluster
    free = 16 - sum(_gpu_slots(c).values())
    assert free == 12  # 4 nodes × 4 A10G; claude-inference 2 + the two queue pools
    c.update_deployment(lambda d: d["spec"].update(replicas=2 + free + 1))
    [pod] = await wait_for(lambda: (p := _pending(c)) and condition(p[0], "PodScheduled") and p, what="pending pod")
    cond = condition(pod, "PodScheduled")
    assert (cond["status"], cond["reason"]) == ("False", "Unschedulable")
    assert cond["message"] == ("0/4 nodes are available: 4 Insufficient nvidia.com/gpu. preemption: 0/4 nodes are "
                               "available: 4 No preemption victims found for incoming pod.")
    ev = await wait_for(lambda: [e for e in c.events("FailedScheduling")
                                 if e["involvedObject"]["name"] == pod["metadata"]["name"]], what="event")
    assert ev[0]["type"] == "Warning" and ev[0]["message"] == cond["message"]
    # the scheduler's recorder is events.k8s.io's: a core/v1 reader sees eventTime only
    assert ev[0]["eventTime"] and ev[0]["lastTimestamp"] is None and ev[0]["reportingComponent"] == "default-scheduler"
    assert max(_gpu_slots(c).values()) == 1, "a GPU was handed to two pods"
    # Freeing a GPU (deleting a pool) lets the pending pod schedule without anyone poking it.
    c.store.delete("deployments", NS, "claude-short-queue")
    await wait_for(lambda: not _pending(c), what="pending pod to be scheduled")


async def test_pod_lifecycle_cold_start_logs_and_graceful_delete(cluster: Cluster) -> None:
    c = cluster
    c.update_deployment(lambda d: d["spec"].update(replicas=3))
    pod = await wait_for(lambda: [p for p in c.pods() if p.get("status", {}).get("containerStatuses")
                                  and condition(p, "Ready")["status"] != "True"], what="starting pod")
    name = pod[0]["metadata"]["name"]
    states: list[str] = []

    def record(type_: str, plural: str, obj: Obj, old: Obj | None) -> None:
        if plural == "pods" and obj["metadata"]["name"] == name:
            cs = (obj.get("status") or {}).get("containerStatuses") or [{}]
            states.append(type_ + ":" + next(iter(cs[0].get("state") or {"-": 0})))

    c.store.subscribe(record)
    p = await wait_for(lambda: (p := c.store.get("pods", NS, name)) and condition(p, "Ready")["status"] == "True"
                       and p, what="pod Ready")
    cs = p["status"]["containerStatuses"][0]
    assert cs["ready"] and cs["started"] and "running" in cs["state"] and p["status"]["podIP"].startswith("10.244.")
    assert p["status"]["phase"] == "Running" and p["status"]["startTime"]
    log = c.ctx.logs.lines(NS, name, "inference")
    assert "INFO:     Loading model weights from /models ..." in log
    assert any(line.startswith("INFO:     Model loaded in ") for line in log)
    assert log[-1].startswith("INFO:     Uvicorn running on http://0.0.0.0:8000")
    reasons = [e["reason"] for e in c.events() if e["involvedObject"]["name"] == name]
    assert {"Scheduled", "Created", "Started"} <= set(reasons)
    graceful_delete(c.ctx, p)
    assert c.store.get("pods", NS, name)["metadata"]["deletionTimestamp"]
    await wait_for(lambda: c.store.try_get("pods", NS, name) is None, what="pod removed after termination")
    assert states[-2:] == ["MODIFIED:running", "DELETED:running"]


async def test_missing_image_in_catalog_backs_off(cluster: Cluster) -> None:
    c = cluster
    c.set_image("v0.0.1-nope")
    pod = await wait_for(lambda: [p for p in c.pods() if ((p.get("status") or {}).get("containerStatuses") or [{}])[0]
                                  .get("state", {}).get("waiting", {}).get("reason") == "ImagePullBackOff"],
                         what="ImagePullBackOff")
    failed = [e["message"] for e in c.events("Failed") if e["involvedObject"]["name"] == pod[0]["metadata"]["name"]]
    assert any(m.startswith('Failed to pull image "127.0.0.1:5000/llm/claude-inference:v0.0.1-nope"')
               and m.endswith("not found") for m in failed)
    assert "Error: ErrImagePull" in failed


async def test_daemonsets_run_on_every_gpu_node_including_new_ones(cluster: Cluster) -> None:
    c = cluster
    for name in ("nvidia-device-plugin-daemonset", "nvidia-dcgm-exporter"):
        ds = c.store.get("daemonsets", "gpu-operator", name)
        assert ds["status"]["desiredNumberScheduled"] == ds["status"]["numberReady"] == 4
    c.store.create("nodes", make_node("gpu-node-5", 5, gpu_product("L4"), 4, now=c.ctx.clock.timestamp()))

    def ready_on_new() -> bool:
        ds = c.store.get("daemonsets", "gpu-operator", "nvidia-dcgm-exporter")
        return ds["status"].get("numberReady") == 5

    await wait_for(ready_on_new, what="daemon pod on the new node")
    pods = [p for p in c.store.list("pods", "gpu-operator") if p["spec"]["nodeName"] == "gpu-node-5"]
    assert len(pods) == 2 and all(condition(p, "Ready")["status"] == "True" for p in pods)


async def test_events_aggregate_like_the_event_recorder(cluster: Cluster) -> None:
    c = cluster
    d = c.deployment()
    first = record_event(c.ctx, d, "Drill", "same message", "Warning", component="test")
    second = record_event(c.ctx, d, "Drill", "same message", "Warning", component="test")
    assert first and second and first["metadata"]["name"] == second["metadata"]["name"]
    assert second["count"] == 2 and second["firstTimestamp"] <= second["lastTimestamp"]
    inv = second["involvedObject"]
    assert (inv["kind"], inv["namespace"], inv["name"], inv["uid"], inv["apiVersion"]) == (
        "Deployment", NS, d["metadata"]["name"], d["metadata"]["uid"], "apps/v1")
    assert second["source"] == {"component": "test"} and second["type"] == "Warning"


async def test_same_seed_same_cluster() -> None:
    names = []
    for _ in range(2):
        c = await start_cluster(seed=11)
        names.append(sorted(p["metadata"]["name"] for p in c.store.list("pods")))
        await c.manager.stop()
    assert names[0] == names[1]


async def test_small_cluster_leaves_pods_pending_with_a_reason() -> None:
    c = await start_cluster(nodes=1, gpus_per_node=2)
    try:
        pending = await wait_for(lambda: [p for p in c.store.list("pods", NS) if condition(p, "PodScheduled")
                                          and condition(p, "PodScheduled")["status"] == "False"], what="pending")
        assert condition(pending[0], "PodScheduled")["message"] == (
            "0/1 nodes are available: 1 Insufficient nvidia.com/gpu. preemption: 0/1 nodes are available: "
            "1 No preemption victims found for incoming pod.")
        assert not rollout_done(c.deployment("claude-long-queue"))
    finally:
        await c.manager.stop()
