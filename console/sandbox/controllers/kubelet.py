"""The kubelet of every simulated node: image pulls, container starts, cold starts, crashes with
back-off, OOM kills, graceful termination — each a timer on the sandbox clock, each reported through
the pod's status, its Events and its container log, as a real kubelet would.

Only pods in motion hold runtime state; a steady Ready pod costs nothing (the large scenario's
10,000 pods sit idle). State is rebuilt from the pod's status when needed (a fault, a node back).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any

from ..context import GPU_ANNOTATION
from ..store import Obj, copy_object
from . import containers as ct
from .base import Controller, container_requests, node_ready, parse_workload_target
from .containers import ContainerRt, PodRt
from .events import record_event
from .keys import Key, controller_ref, key_of
from .pods import container_id, node_ip, pod_status

COMPONENT = "kubelet"
TERMINATION_SECONDS = 2.0  # simulated time from deletionTimestamp to the pod leaving the store
PULL_FAILURE_SECONDS = 1.5


class Kubelet(Controller):
    name = "kubelet"
    plurals = ("pods", "nodes")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._pods: dict[Key, PodRt] = {}
        self._images: set[tuple[str, str]] = set()  # (node, image) already on the node

    # ---- wiring ---------------------------------------------------------------------------------
    def on_change(self, type_: str, plural: str, obj: Obj, old: Obj | None) -> None:
        if plural == "pods":
            if obj.get("spec", {}).get("nodeName") or type_ == "DELETED" or key_of(obj) in self._pods:
                self.enqueue(key_of(obj))
        elif type_ == "MODIFIED" and old is not None and node_ready(old) != node_ready(obj):
            for key in self.index.pod_keys_on(obj["metadata"]["name"]):
                self.enqueue(key)

    def initial_keys(self) -> list[Key]:
        keys = []
        for pod in self.store.iter_all("pods"):
            node = pod.get("spec", {}).get("nodeName")
            if node:
                keys.append(key_of(pod))
                for cs in (pod.get("status") or {}).get("containerStatuses") or []:
                    if cs.get("imageID"):
                        self._images.add((node, cs.get("image", "")))
        return keys

    def on_fault(self, kind: str, target: str | None) -> None:
        """A fault changed: re-examine the pods it concerns (OOM kills are decided in reconcile)."""
        if kind != "oom":
            return
        ns, name = parse_workload_target(target)
        for pod in self.store.iter_all("pods"):
            if pod["metadata"].get("namespace") == ns and self._deployment_of(pod) == name:
                self.enqueue(key_of(pod))

    # ---- reconcile --------------------------------------------------------------------------------
    def reconcile(self, key: Hashable) -> None:
        assert isinstance(key, tuple)
        pod = self.store.try_get("pods", *key)
        if pod is None:
            if key in self._pods or self.has_timer(("term", *key)):
                self.ctx.logs.forget(*key)
            self._drop(key)
            self.cancel_timer(("term", *key))
            return
        if pod["metadata"].get("deletionTimestamp"):
            self._terminate(key, pod)
            return
        node_name = pod.get("spec", {}).get("nodeName")
        if not node_name or (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            return
        node = self.store.try_get("nodes", None, node_name)
        if node is None:  # the pod garbage collector removes pods of vanished nodes
            self.store.delete("pods", *key)
            return
        if not node_ready(node):  # an unreachable kubelet does nothing; the node controller reports
            self._drop(key)
            return
        rt = self._pods.get(key)
        if rt is not None and rt.uid != pod["metadata"]["uid"]:
            self._drop(key)
            rt = None
        if rt is None:
            if self._steady(pod):
                return
            rt = self._adopt(key, pod, node)
        if self._oom_for(pod):
            for c in rt.containers:
                if c.stage == "ready" and not self.has_timer(("c", *key, c.name)):
                    self._after(key, c, self.ctx.rng.uniform(1.0, 4.0), self._oom)
        self._write(key)

    def _steady(self, pod: Obj) -> bool:
        status = pod.get("status") or {}
        statuses = status.get("containerStatuses") or []
        return (status.get("phase") == "Running" and len(statuses) == len(pod["spec"].get("containers") or [])
                and all(cs.get("ready") for cs in statuses)
                and any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])
                and not self._oom_for(pod))

    def _adopt(self, key: Key, pod: Obj, node: Obj) -> PodRt:
        """Runtime state for a pod: fresh for a newly bound one, else rebuilt from its status."""
        status = pod.get("status") or {}
        statuses = {cs.get("name"): cs for cs in status.get("containerStatuses") or []}
        rt = PodRt(pod["metadata"]["uid"], node["metadata"]["name"], status.get("podIP"),
                   status.get("startTime") or self.clock.timestamp(),
                   [ContainerRt(spec=c) for c in pod["spec"].get("containers") or []])
        if not rt.pod_ip:
            rt.pod_ip = node_ip(node) if pod["spec"].get("hostNetwork") else self._alloc_ip(node)
        self._pods[key] = rt
        for c in rt.containers:
            cs = statuses.get(c.name)
            if cs is None:
                self._pull(key, c)
                continue
            c.restarts, c.last_state = int(cs.get("restartCount") or 0), cs.get("lastState") or {}
            running = (cs.get("state") or {}).get("running")
            if running and cs.get("ready"):
                c.stage, c.started_at = "ready", running.get("startedAt")
            elif (rt.node, c.image) in self._images or running:
                self._start(key, c)
            else:
                self._pull(key, c)
        return rt

    def _drop(self, key: Key) -> None:
        rt = self._pods.pop(key, None)
        for c in rt.containers if rt else ():
            self.cancel_timer(("c", *key, c.name))
            self.cancel_timer(("probe", *key, c.name))

    def _terminate(self, key: Key, pod: Obj) -> None:
        if self.has_timer(("term", *key)):
            return
        rt = self._pods.get(key)
        for c in rt.containers if rt else ():
            if c.stage in ("starting", "ready"):
                self._event(pod, c, "Killing", f"Stopping container {c.name}")
        self._drop(key)
        uid = pod["metadata"]["uid"]

        def finish() -> None:
            cur = self.store.try_get("pods", *key)
            if cur is not None and cur["metadata"]["uid"] == uid:
                self.store.delete("pods", *key)
            self.ctx.logs.forget(*key)

        self.call_after(TERMINATION_SECONDS, finish, ("term", *key))

    # ---- helpers ----------------------------------------------------------------------------------
    def _deployment_of(self, pod: Obj) -> str | None:
        ref = controller_ref(pod)
        if not ref or ref.get("kind") != "ReplicaSet":
            return None
        rs = self.store.try_get("replicasets", pod["metadata"].get("namespace"), ref["name"])
        owner = controller_ref(rs) if rs else None
        return owner["name"] if owner and owner.get("kind") == "Deployment" else None

    def _oom_for(self, pod: Obj) -> bool:
        if not self.ctx.faults.is_on("oom"):
            return False
        ns, name = parse_workload_target(self.ctx.faults.target("oom"))
        return pod["metadata"].get("namespace") == ns and self._deployment_of(pod) == name

    def _alloc_ip(self, node: Obj) -> str:
        cidr = node.get("spec", {}).get("podCIDR") or "10.244.0.0/24"
        prefix = cidr.split("/")[0].rsplit(".", 1)[0]
        name = node["metadata"]["name"]
        used = {(p.get("status") or {}).get("podIP") for p in self.index.pods_on(name)}
        used |= {rt.pod_ip for rt in self._pods.values() if rt.node == name}
        return next((f"{prefix}.{i}" for i in range(2, 255) if f"{prefix}.{i}" not in used), f"{prefix}.254")

    def _event(self, pod: Obj, c: ContainerRt | None, reason: str, message: str, type_: str = "Normal") -> None:
        record_event(self.ctx, pod, reason, message, type_, component=COMPONENT,
                     field_path=f"spec.containers{{{c.name}}}" if c else None, host=pod["spec"].get("nodeName"))

    def _log(self, key: Key, c: ContainerRt, lines: list[str] | tuple[str, ...]) -> None:
        for line in lines:
            self.ctx.logs.append(key[0], key[1], c.name, line)

    def _after(self, key: Key, c: ContainerRt, delay: float, fn: Callable[..., None], *args: Any,
               slot: str = "c") -> None:
        """Run ``fn(key, c, *args)`` after a simulated delay unless the container moved on meanwhile."""
        rt = self._pods[key]
        uid, epoch = rt.uid, c.epoch

        def run() -> None:
            cur = self._pods.get(key)
            if cur is None or cur.uid != uid or c.epoch != epoch:
                return
            if not node_ready(self.store.try_get("nodes", None, cur.node)):
                self._drop(key)
                return
            fn(key, c, *args)

        self.call_after(delay, run, (slot, *key, c.name))

    def _move(self, c: ContainerRt, stage: str, waiting: dict[str, str] | None = None) -> None:
        c.stage, c.waiting = stage, waiting
        c.epoch += 1

    # ---- transitions ------------------------------------------------------------------------------
    def _pull(self, key: Key, c: ContainerRt) -> None:
        pod, node = self._pod_node(key)
        if (node, c.image) in self._images or self.ctx.catalog.is_prepulled(ct.normalize_image(c.image)):
            self._event(pod, c, "Pulled", f'Container image "{c.image}" already present on machine')
            self._after(key, c, 0.3, self._start)
            return
        self._event(pod, c, "Pulling", f'Pulling image "{c.image}"')
        size = ct.pull_size(self.ctx.catalog, c.image)
        if size is None:
            self._after(key, c, PULL_FAILURE_SECONDS, self._pull_failed)
            return
        seconds = 0.5 + size / ct.PULL_BYTES_PER_SECOND
        self._after(key, c, seconds, self._pulled, seconds, size)

    def _pulled(self, key: Key, c: ContainerRt, seconds: float, size: int) -> None:
        pod, node = self._pod_node(key)
        self._images.add((node, c.image))
        self._event(pod, c, "Pulled", f'Successfully pulled image "{c.image}" in {seconds:.3f}s '
                                      f"({seconds:.3f}s including waiting). Image size: {size} bytes.")
        self._start(key, c)

    def _pull_failed(self, key: Key, c: ContainerRt) -> None:
        pod, _ = self._pod_node(key)
        ref = c.image
        detail = (f'rpc error: code = NotFound desc = failed to pull and unpack image "{ref}": '
                  f'failed to resolve reference "{ref}": {ref}: not found')
        self._move(c, "pull-error", {"reason": "ErrImagePull", "message": detail})
        self._event(pod, c, "Failed", f'Failed to pull image "{ref}": {detail}', "Warning")
        self._event(pod, c, "Failed", "Error: ErrImagePull", "Warning")
        self._write(key)
        self._after(key, c, 1.0, self._pull_backoff)

    def _pull_backoff(self, key: Key, c: ContainerRt) -> None:
        pod, _ = self._pod_node(key)
        c.pull_backoff = ct.next_backoff(c.pull_backoff)
        self._move(c, "pull-backoff", {"reason": "ImagePullBackOff", "message": f'Back-off pulling image "{c.image}"'})
        self._event(pod, c, "BackOff", f'Back-off pulling image "{c.image}"')
        self._event(pod, c, "Failed", "Error: ImagePullBackOff", "Warning")
        self._write(key)
        self._after(key, c, c.pull_backoff, self._pull)

    def _start(self, key: Key, c: ContainerRt) -> None:
        pod, node_name = self._pod_node(key)
        node = self.store.get("nodes", None, node_name)
        self._move(c, "starting")
        c.started_at = self.clock.timestamp()
        self._event(pod, c, "Created", f"Created container {c.name}")
        self._event(pod, c, "Started", f"Started container {c.name}")
        image = self.ctx.catalog.resolve(c.image)
        gpus = (pod["metadata"].get("annotations") or {}).get(GPU_ANNOTATION)
        self._log(key, c, ct.startup_lines(c.image, image, node, gpus))
        wants_gpu = container_requests(c.spec).get("nvidia.com/gpu", 0) > 0
        outcome = ct.start_outcome(image, node, wants_gpu, self.ctx.rng)
        if outcome.kind == "crash":
            self._after(key, c, outcome.delay, self._crash, 1, "Error", outcome.log)
        elif wants_gpu and self._oom_for(pod):
            at = min(outcome.delay * 0.5, self.ctx.rng.uniform(4.0, 10.0))
            self._after(key, c, at, self._oom, outcome.delay - at)
        else:
            self._after(key, c, outcome.delay, self._ready, outcome.delay)
            probe = (c.spec.get("readinessProbe") or {}).get("httpGet")
            if probe and outcome.delay > 10:
                self._after(key, c, outcome.delay * 0.4, self._probe_failed, probe, slot="probe")
        self._write(key)

    def _probe_failed(self, key: Key, c: ContainerRt, probe: dict[str, Any]) -> None:
        pod, _ = self._pod_node(key)
        ip = self._pods[key].pod_ip
        url = f"http://{ip}:{probe.get('port')}{probe.get('path', '/')}"
        self._event(pod, c, "Unhealthy", f'Readiness probe failed: Get "{url}": dial tcp {ip}:{probe.get("port")}: '
                                         "connect: connection refused", "Warning")

    def _ready(self, key: Key, c: ContainerRt, load_seconds: float) -> None:
        self._move(c, "ready")
        c.crash_backoff = 0.0
        self._log(key, c, ct.ready_lines(self.ctx.catalog.resolve(c.image), load_seconds, ct.container_port(c.spec)))
        self._write(key)
        pod, _ = self._pod_node(key)
        if self._oom_for(pod):
            self._after(key, c, self.ctx.rng.uniform(2.0, 6.0), self._oom)

    def _oom(self, key: Key, c: ContainerRt, load_left: float = 0.0) -> None:
        """The OOM killer strikes, unless the fault was cleared meanwhile (then loading just goes on)."""
        pod, _ = self._pod_node(key)
        if self._oom_for(pod):
            self._crash(key, c, 137, "OOMKilled", ())
        elif c.stage == "starting":
            self._after(key, c, max(load_left, 0.5), self._ready, load_left)

    def _crash(self, key: Key, c: ContainerRt, exit_code: int, reason: str, lines: tuple[str, ...]) -> None:
        pod, _ = self._pod_node(key)
        self._log(key, c, lines)
        c.last_state = {"terminated": {
            "exitCode": exit_code, "reason": reason, "startedAt": c.started_at,
            "finishedAt": self.clock.timestamp(), "containerID": container_id(*key, c.name, c.restarts),
        }}
        c.restarts += 1
        c.crash_backoff = ct.next_backoff(c.crash_backoff)
        ns, name = key
        uid = pod["metadata"]["uid"]
        self._move(c, "crash-backoff", {
            "reason": "CrashLoopBackOff",
            "message": f"back-off {int(c.crash_backoff)}s restarting failed container={c.name} pod={name}_{ns}({uid})",
        })
        self.cancel_timer(("probe", *key, c.name))
        self._event(pod, c, "BackOff", f"Back-off restarting failed container {c.name} in pod {name}_{ns}({uid})",
                    "Warning")
        self._write(key)
        self._after(key, c, c.crash_backoff, self._restart)

    def _restart(self, key: Key, c: ContainerRt) -> None:
        self.ctx.logs.restart(key[0], key[1], c.name)
        pod, _ = self._pod_node(key)
        self._event(pod, c, "Pulled", f'Container image "{c.image}" already present on machine')
        self._start(key, c)

    # ---- status -----------------------------------------------------------------------------------
    def _pod_node(self, key: Key) -> tuple[Obj, str]:
        return self.store.get("pods", *key), self._pods[key].node

    def _write(self, key: Key) -> None:
        pod, rt = self.store.try_get("pods", *key), self._pods.get(key)
        if pod is None or rt is None or pod["metadata"]["uid"] != rt.uid or pod["metadata"].get("deletionTimestamp"):
            return
        node = self.store.try_get("nodes", None, rt.node) or {}
        views = [ct.container_view(self.ctx, key, c) for c in rt.containers]
        status = pod_status(pod, views, now=self.clock.timestamp(), host_ip=node_ip(node), pod_ip=rt.pod_ip,
                            start_time=rt.start_time)
        if status != pod.get("status"):
            updated = copy_object(pod)
            updated["status"] = status
            self.store.replace("pods", updated, check_version=False)
