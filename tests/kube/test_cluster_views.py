"""The cluster service's derived views (a Deployment's ReplicaSets, pods and events; GPUs allocated per node; the
pods that may alert; the :pods rows in order) are indexes kept per watch event. Against a real sandbox under
changes — a scale, a new revision, a pod deleted — they must say at every moment exactly what a scan of the whole
store says."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

import pytest
from kubernetes import client, config

from console.alerts.model import cluster_alerts
from console.core.gpus import project_gpu_pod
from console.core.rollout import revision_history
from console.kube.cluster import KubeClusterService
from console.kube.rows import pod_row
from console.sandbox.server import SandboxThread

NS = "llm"
DEPLOYMENTS = ("claude-inference", "claude-short-queue", "claude-long-queue")


def owned(objs: list[dict[str, Any]], uids: set[str]) -> list[dict[str, Any]]:
    return [o for o in objs if any(r.get("uid") in uids for r in o["metadata"].get("ownerReferences") or [])]


def scanned(service: KubeClusterService, name: str) -> dict[str, Any]:
    """What one Deployment's detail holds, found by scanning every object of the store (the pre-index way)."""
    dep = next(d for d in service.raw("deployments") if d["metadata"]["name"] == name)
    rss = owned(service.raw("replicasets"), {dep["metadata"]["uid"]})
    pods = owned(service.raw("pods"), {rs["metadata"]["uid"] for rs in rss})
    involved = {("Deployment", name)} | {("ReplicaSet", rs["metadata"]["name"]) for rs in rss} \
        | {("Pod", p["metadata"]["name"]) for p in pods} \
        | {("HorizontalPodAutoscaler", h["metadata"]["name"]) for h in service.raw("horizontalpodautoscalers")
           if h["spec"]["scaleTargetRef"]["name"] == name}
    events = [e for e in service.raw("events")
              if (e["involvedObject"].get("kind"), e["involvedObject"].get("name")) in involved]
    return {"pods": sorted(p["metadata"]["name"] for p in pods),
            "revisions": revision_history(dep, rss),
            "events": Counter((e["involvedObject"]["kind"], e["involvedObject"]["name"], e.get("reason"),
                               e.get("message")) for e in events)}


def check(service: KubeClusterService) -> None:
    """The views against full scans, in one step of the event loop (no watch event can come between)."""
    for name in DEPLOYMENTS:
        detail = service.deployment_detail(name)
        assert detail is not None, name
        expect = scanned(service, name)
        assert [p.name for p in detail.pods] == expect["pods"], f"{name}: pods"
        assert list(detail.revisions) == expect["revisions"], f"{name}: revisions"
        got = Counter((*e.obj.split("/", 1), e.reason, e.message) for e in detail.events)
        assert len(detail.events) == min(30, sum(expect["events"].values())) and not got - expect["events"], \
            f"{name}: events"
    allocated: dict[str, int] = {}
    # what a full scan finds: the cluster-wide GPU pod watch's projections, or with every namespace watched (the
    # index then kept from the pods watch itself) every pod projected here
    for entry in service.raw("gpu-pods") if not service.all_namespaces else map(project_gpu_pod, service.raw("pods")):
        if entry is not None:
            allocated[entry[0]] = allocated.get(entry[0], 0) + entry[1]
    assert {n.name: n.allocated for n in service.snapshot().nodes} == \
        {n["metadata"]["name"]: allocated.get(n["metadata"]["name"], 0) for n in service.raw("nodes")}

    def summary(alerts: list[Any]) -> set[tuple[str, str, str, str]]:
        return {(a.name, str(a.target), a.severity, a.state) for a in alerts}
    assert summary(service.alerts()) == summary(cluster_alerts(service.raw("pods"), service.raw("deployments"),
                                                              service.raw("nodes")))
    by_namespace(service)
    first, second = service.snapshot(), service.snapshot()
    assert first.nodes is second.nodes and first.deployments is second.deployments, \
        "nothing changed between two snapshots: nothing was derived again"
    assert service.pods() is service.pods()
    assert list(service.pods()) == sorted((pod_row(p) for p in service.raw("pods")), key=lambda r: (r.namespace,
                                                                                                      r.name)), \
        ":pods: every pod's current row, by namespace and name"


class NoScan(dict):  # type: ignore[type-arg]
    """A store that refuses to be walked whole (what reading one namespace's objects must not need)."""

    def _refuse(self, *_: Any) -> Any:
        raise AssertionError("read every object of the store for one namespace's")

    values = items = keys = __iter__ = _refuse  # type: ignore[assignment]


def by_namespace(service: KubeClusterService) -> None:
    """raw(resource, namespace) is exactly a filter of the whole store; with every namespace watched it is read
    from the index, without walking the store."""
    for resource in ("deployments", "horizontalpodautoscalers", "replicasets", "pods", "events"):
        objects = service.raw(resource)
        for ns in {o["metadata"].get("namespace") for o in objects} | {NS, "no-such-namespace"}:
            expect = sorted(o["metadata"]["name"] for o in objects if o["metadata"].get("namespace") == ns)
            if service.all_namespaces:
                reflector = service._reflectors[resource]
                held, reflector.items = reflector.items, NoScan(reflector.items)
                try:
                    got = service.raw(resource, ns)
                finally:
                    reflector.items = held
            else:
                got = service.raw(resource, ns)
            assert sorted(o["metadata"]["name"] for o in got) == expect, (resource, ns)


def set_image(apps: client.AppsV1Api, name: str, image: str) -> None:
    container = apps.read_namespaced_deployment(name, NS).spec.template.spec.containers[0].name
    apps.patch_namespaced_deployment(name, NS, {"spec": {"template": {"spec": {"containers": [
        {"name": container, "image": image}]}}}})


@pytest.mark.parametrize("every", [False, True], ids=["namespace", "all-namespaces"])
async def test_derived_views_match_a_full_scan_through_changes(sb: SandboxThread, every: bool) -> None:
    service = KubeClusterService(sb.info.kubeconfig, None, NS, sandbox=True)
    if every:
        service.retarget(None, None, all_namespaces=True)
    task = asyncio.create_task(service.run(lambda: None))
    apps = client.AppsV1Api(config.new_client_from_config(sb.info.kubeconfig))
    core = client.CoreV1Api(config.new_client_from_config(sb.info.kubeconfig))

    async def watch_for(seconds: float) -> int:
        """Check the views every 50 ms while the cluster moves; how many checks were made."""
        checks, end = 0, time.monotonic() + seconds
        while time.monotonic() < end:
            check(service)
            checks += 1
            await asyncio.sleep(0.05)
        return checks

    try:
        deadline = time.monotonic() + 20
        while not {"nodes", "deployments", "replicasets", "pods", "events", "gpu-pods"} <= service.snapshot().synced:
            assert time.monotonic() < deadline, "the watches did not sync"
            await asyncio.sleep(0.05)
        await watch_for(0.5)
        await asyncio.to_thread(apps.patch_namespaced_deployment_scale, "claude-long-queue", NS,
                                {"spec": {"replicas": 3}})
        await watch_for(2)
        await asyncio.to_thread(apps.patch_namespaced_deployment, "claude-short-queue", NS, {"spec": {"template": {
            "metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": "2026-12-02T00:00:00Z"}}}}})
        await watch_for(2)
        # A pod that alerts (its image is not in the registry), then gone again with the rollback: the alerting
        # pods' index gains it and loses it.
        image = next(d.image for d in service.snapshot().deployments if d.name == "claude-short-queue")
        await asyncio.to_thread(set_image, apps, "claude-short-queue", "registry.invalid/llm/nothing:1")
        await watch_for(3)
        assert any(a.name == "ImagePullBackOff" for a in service.alerts()), "the bad image's pod alerts"
        await asyncio.to_thread(set_image, apps, "claude-short-queue", image)
        await watch_for(3)
        assert not any(a.name == "ImagePullBackOff" for a in service.alerts()), "rolled back: no pod alerts"
        victim = next(p.name for p in service.pods() if p.name.startswith("claude-inference-"))
        await asyncio.to_thread(core.delete_namespaced_pod, victim, NS)
        await watch_for(2)
        detail = service.deployment_detail("claude-short-queue")
        assert detail is not None and len(detail.revisions) >= 2, "the restart made a new revision, seen"
        long_queue = service.deployment_detail("claude-long-queue")
        assert long_queue is not None and len(long_queue.pods) >= 3, "the scale's new pods are in the view"
        assert victim not in [p.name for p in service.pods()]
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_a_pod_change_that_leaves_its_gpus_alone_wakes_nothing_in_the_gpu_index(sb: SandboxThread) -> None:
    """The cluster-wide GPU pod watch keeps (node, GPUs) per pod: a change of anything else (here a label) is read,
    and neither changes its version nor wakes the console."""
    service = KubeClusterService(sb.info.kubeconfig, None, NS, sandbox=True)
    task = asyncio.create_task(service.run(lambda: None))
    core = client.CoreV1Api(config.new_client_from_config(sb.info.kubeconfig))
    try:
        deadline = time.monotonic() + 20
        while not {"pods", "gpu-pods"} <= service.snapshot().synced:
            assert time.monotonic() < deadline, "the watches did not sync"
            await asyncio.sleep(0.05)
        gpu, pods = service._reflectors["gpu-pods"], service._reflectors["pods"]
        pod = next(p.name for p in service.pods() if p.name.startswith("claude-inference-"))
        for attempt in range(3):  # a window in which no GPU pod came or went (the HPA may scale meanwhile)
            kept, version = dict(gpu.items), gpu.version
            await asyncio.to_thread(core.patch_namespaced_pod, pod, NS, {"metadata": {"labels": {
                "touched": str(attempt)}}})
            deadline = time.monotonic() + 10
            while (pods.items.get(f"{NS}/{pod}") or {}).get("metadata", {}).get("labels", {}).get(
                    "touched") != str(attempt):
                assert time.monotonic() < deadline, "the label change never reached the namespace's pod watch"
                await asyncio.sleep(0.02)
            seen = int(pods.items[f"{NS}/{pod}"]["metadata"]["resourceVersion"])
            while int(gpu.resource_version or 0) < seen:  # the GPU watch has read the same event (or a later one)
                assert time.monotonic() < deadline, "the GPU pod watch never got the label change"
                await asyncio.sleep(0.02)
            if dict(gpu.items) == kept:
                assert gpu.version == version, "an unchanged projection bumped the GPU index's version"
                break
        else:
            raise AssertionError("GPU pods came or went in each of three windows")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
