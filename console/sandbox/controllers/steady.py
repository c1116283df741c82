"""Workloads built directly in their steady state: Deployment + ReplicaSet + Ready pods already bound
to nodes with GPUs assigned, written exactly as the controllers would have left them.

Why: a newcomer's first look must show a healthy cluster at once, and the large scenario's 10,000
pods could never go through scheduling and cold starts in a few seconds. Because every field comes
from the same functions the controllers use, the controllers find nothing to change at start.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from ..context import GPU_ANNOTATION
from ..store import Obj, copy_object
from . import containers as ct
from . import deploystatus as st
from . import rollout as ro
from .base import owner_reference, parse_quantity, pod_requests
from .daemonset import daemon_pod, daemonset_status
from .pods import node_ip, pod_from_template, pod_status, running_view, unique_pod_name
from .replicaset import replicaset_status

if TYPE_CHECKING:
    from ..context import SandboxContext

GPU = "nvidia.com/gpu"


@dataclass
class _NodeRoom:
    node: Obj
    gpus_free: list[int]
    cpu: float
    memory: float
    pods: int
    next_ip: int = 2
    prefix: str = field(default="")


class Placer:
    """Assigns pods to nodes round-robin where they fit, as a spreading scheduler would."""

    def __init__(self, nodes: list[Obj]) -> None:
        self._rooms = []
        for node in nodes:
            alloc = node["status"]["allocatable"]
            cidr = node["spec"].get("podCIDR", "10.244.0.0/24")
            self._rooms.append(_NodeRoom(
                node, list(range(int(parse_quantity(alloc.get(GPU, 0))))), parse_quantity(alloc.get("cpu")),
                parse_quantity(alloc.get("memory")), int(parse_quantity(alloc.get("pods", 110))),
                prefix=cidr.split("/")[0].rsplit(".", 1)[0]))
        self._cursor = {"gpu": 0, "cpu": 0}

    def place(self, requests: Mapping[str, float]) -> tuple[Obj, list[int], str]:
        """(node, GPU indexes, pod IP) for a pod with these requests; ValueError when nothing fits."""
        gpus = int(requests.get(GPU, 0))
        lane = "gpu" if gpus else "cpu"
        n = len(self._rooms)
        for step in range(n):
            room = self._rooms[(self._cursor[lane] + step) % n]
            if (len(room.gpus_free) >= gpus and room.cpu >= requests.get("cpu", 0)
                    and room.memory >= requests.get("memory", 0) and room.pods >= 1):
                self._cursor[lane] = (self._cursor[lane] + step + 1) % n
                taken, room.gpus_free = room.gpus_free[:gpus], room.gpus_free[gpus:]
                room.cpu -= requests.get("cpu", 0)
                room.memory -= requests.get("memory", 0)
                room.pods -= 1
                ip = f"{room.prefix}.{room.next_ip}"
                room.next_ip += 1
                return room.node, taken, ip
        raise ValueError(f"scenario does not fit the cluster: no node has room for {dict(requests)}")

    def reserve_ip(self, node_name: str) -> str:
        room = next(r for r in self._rooms if r.node["metadata"]["name"] == node_name)
        room.pods -= 1
        ip = f"{room.prefix}.{room.next_ip}"
        room.next_ip += 1
        return ip


STEADY_AGE = timedelta(hours=2)  # how long the scenario's workloads have been running when the sandbox starts


def _stamp(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _ready_pod(ctx: SandboxContext, pod: Obj, node: Obj, ip: str, born: datetime, logs: bool) -> Obj:
    """A pod created at ``born`` that became Ready one cold start (model load) later."""
    ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
    pod["spec"]["nodeName"] = node["metadata"]["name"]
    cold = ctx.rng.uniform(ct.COLD_START_MEAN - ct.COLD_START_SPREAD, ct.COLD_START_MEAN + ct.COLD_START_SPREAD)
    ready_at = _stamp(born + timedelta(seconds=cold))
    views = [running_view(ctx, ns, name, c, _stamp(born)) for c in pod["spec"]["containers"]]
    pod["status"] = pod_status(pod, views, now=ready_at, host_ip=node_ip(node), pod_ip=ip, start_time=_stamp(born))
    if logs:
        gpus = (pod["metadata"].get("annotations") or {}).get(GPU_ANNOTATION)
        for c in pod["spec"]["containers"]:
            image = ctx.catalog.resolve(c["image"])
            lines = ct.startup_lines(c["image"], image, node, gpus)
            lines += ct.ready_lines(image, cold, ct.container_port(c))
            for line in lines:
                ctx.logs.append(ns, name, c["name"], line)
    return pod


def steady_deployment(ctx: SandboxContext, placer: Placer, deployment: Obj, *, logs: bool = True) -> Obj:
    """Create a Deployment at revision 1 with its ReplicaSet and Ready pods; returns the Deployment."""
    store = ctx.store
    born = ctx.clock.now().replace(microsecond=0) - STEADY_AGE
    d = store.create("deployments", deployment, created=_stamp(born))
    rs = store.create("replicasets", ro.new_replica_set(d, ro.template_hash(d["spec"]["template"]), 1,
                                                        ro.replicas(d)), created=_stamp(born))
    ns, rs_name = rs["metadata"]["namespace"], rs["metadata"]["name"]
    now = ctx.clock.timestamp()
    owner = owner_reference(rs)
    pods = []
    for _ in range(ro.replicas(d)):
        pod = pod_from_template(rs["spec"]["template"], namespace=ns, name=unique_pod_name(ctx, ns, f"{rs_name}-"),
                                generate_name=f"{rs_name}-", owner_ref=owner)
        try:
            node, gpus, ip = placer.place(pod_requests(pod))
        except ValueError:  # a cluster configured too small: leave it Pending for the scheduler to explain
            pods.append(store.create("pods", pod))
            continue
        if gpus:
            pod["metadata"].setdefault("annotations", {})[GPU_ANNOTATION] = ",".join(map(str, gpus))
        pods.append(store.create("pods", _ready_pod(ctx, pod, node, ip, born, logs), created=_stamp(born)))
    rs_copy = copy_object(rs)
    rs_copy["status"] = replicaset_status(rs, pods)[0]
    rs = store.replace("replicasets", rs_copy)
    d_copy = copy_object(d)
    d_copy["metadata"].setdefault("annotations", {})[ro.REVISION] = "1"
    status = st.calculate_status([rs], rs, d, now)
    if st.deployment_complete(d, status):
        st.set_condition(status, st.new_condition("Progressing", "True", st.NEW_RS_AVAILABLE,
                                                  f'ReplicaSet "{rs_name}" has successfully progressed.', now))
    else:
        st.set_condition(status, st.new_condition("Progressing", "True", st.RS_UPDATED,
                                                  f'ReplicaSet "{rs_name}" is progressing.', now))
    d_copy["status"] = st.compact_status(status)
    return store.replace("deployments", d_copy)


def steady_daemonset(ctx: SandboxContext, placer: Placer, daemonset: Obj, nodes: list[Obj], *,
                     logs: bool = True) -> Obj:
    """Create a DaemonSet with a Ready pod on every node it selects."""
    from .daemonset import should_run

    store = ctx.store
    born = ctx.clock.now().replace(microsecond=0) - STEADY_AGE
    ds = store.create("daemonsets", daemonset, created=_stamp(born))
    ns, name = ds["metadata"]["namespace"], ds["metadata"]["name"]
    now = ctx.clock.timestamp()
    pods = []
    for node in nodes:
        if not should_run(ds, node)[0]:
            continue
        pod = daemon_pod(ds, node["metadata"]["name"], unique_pod_name(ctx, ns, f"{name}-"), now)
        ip = node_ip(node) if pod["spec"].get("hostNetwork") else placer.reserve_ip(node["metadata"]["name"])
        pods.append(store.create("pods", _ready_pod(ctx, pod, node, ip, born, logs), created=_stamp(born)))
    ds_copy = copy_object(ds)
    ds_copy["status"] = daemonset_status(ds, nodes, pods)
    return store.replace("daemonsets", ds_copy)
