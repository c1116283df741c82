"""Render the values file into Kubernetes objects: plain data built in Python, dumped with yaml.safe_dump.

What is rendered (in the order it is applied; ``kubectl apply -f DIR`` keeps it, the files are numbered):

- ``Namespace``;
- ``PersistentVolumeClaim`` for the model weights (``storage.create``), mounted read-only at ``model.path``
  — the source article keeps weights on a volume, never in the image; its access mode from
  ``storage.accessMode`` (``auto``: ReadOnlyMany on a shared file system's StorageClass, else ReadWriteOnce;
  see console/deploy/values/derived.py);
- ``PodDisruptionBudget`` (policy/v1) per serving Deployment whose pods never drop below 2 (``minAvailable`` =
  that floor − 1, so a drain evicts one pod of the floor at a time; ``unhealthyPodEvictionPolicy: AlwaysAllow``
  so a crash-looping pod never blocks a drain); none for a single replica (it would block every drain), and
  left out with a warning when the cluster does not serve policy/v1 (:data:`OPTIONAL_KINDS`);
- ``Service`` per serving Deployment (and the router's, when the pools are on);
- the GPU ``Deployment``: the article's RollingUpdate maxSurge 1 / maxUnavailable 0, ``nvidia.com/gpu`` in
  requests and limits, memory request/limit sized from the weights with the 2 GiB buffer, a startup probe
  sized for slow model loads (``probes.startupSeconds``) before the readiness and liveness probes take over;
  spread across nodes (topologySpreadConstraints on ``kubernetes.io/hostname``, maxSkew 1,
  ``availability.spreadAcrossNodes``: ScheduleAnyway by default, so a scarce GPU pod is never left Pending
  for the sake of the spread, nor a drain stalled; ``matchLabelKeys: [pod-template-hash]`` spreads each
  revision on its own during a rolling update);
  ``/dev/shm`` as a Memory emptyDir (``resources.shmSize``, else 1 GiB per GPU, at least 2 GiB); the
  restricted Pod Security Standard (non-root uid/gid 10001 as in llmctl's Dockerfile template, no privilege
  escalation, every capability dropped, RuntimeDefault seccomp, a read-only root with emptyDirs for ``/tmp``
  and ``$HOME``); a preStop sleep (``serving.drainSeconds``) so endpoints stop sending before SIGTERM, and a
  grace period that outlasts the longest request;
- ``HorizontalPodAutoscaler`` (autoscaling/v2): CPU utilisation and the external ``gpu_utilization`` metric
  (AverageValue, selecting the Deployment's pods) as in the article, optionally a Pods metric on queue length;
  ``behavior``: scale up at once (no stabilisation, +100 % or +4 pods per 15 s), down slowly (after
  ``autoscaling.scaleDownStabilizationSeconds``, one pod a minute: each GPU pod costs a cold start to bring back);
- ``ServiceMonitor`` scraping the serving Services' ``/metrics``, and ``PrometheusRule`` ``NAME-alerts`` with
  manifests/prometheusrule.yaml's alerts scoped to this app (every series selector filtered by the namespace
  and the serving Deployments' pod names, console/deploy/promql.py; groups named ``GROUP/NS/NAME``; the
  alerts labelled ``llmctl_app: NAME``), so several apps never fire duplicate alerts;
- with ``pools.enabled``: the article's routing by prompt length — two GPU Deployments
  ``NAME-short-queue`` / ``NAME-long-queue`` (each with its Service and HPA) and a router Deployment whose
  ``SHORT_QUEUE_MAX_CHARS`` sends prompts shorter than ``pools.splitAtChars`` characters to the short pool.

Pure functions over :class:`~console.deploy.values.load.Values` and, when the preflight read them,
:class:`~console.deploy.values.derived.ClusterFacts` (the StorageClass, the kinds served); no cluster access.
"""

from __future__ import annotations

import copy
import math
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from console.core.paths import manifests_dir
from console.deploy.promql import scope_expr
from console.deploy.values import derived
from console.deploy.values.derived import ClusterFacts
from console.deploy.values.schema import Values

Obj = dict[str, Any]
MANAGED_BY = "llmctl"
GPU = "nvidia.com/gpu"
CONTAINER = "inference"
VOLUME = "model-store"
ROUTER_PORT = 8080
HOSTNAME = "kubernetes.io/hostname"
HOME = "/home/llm"  # $HOME on an emptyDir: caches (~/.cache, ~/.triton, ~/.config) need a writable place
SHM, TMP, HOME_VOLUME = "dshm", "tmp", "home"


@dataclass(frozen=True)
class KindInfo:
    api_version: str
    plural: str
    namespaced: bool
    order: int
    file: str  # the file `render -o DIR` writes objects of this kind to
    word: str  # kubectl's resource word: deployment.apps, service, ...


# Apply order (Helm's install order): the budget exists before its pods do, Services before the Deployments
# they front, the HPA after its target, monitoring last.
KINDS: dict[str, KindInfo] = {
    "Namespace": KindInfo("v1", "namespaces", False, 0, "00-namespace.yaml", "namespace"),
    "PersistentVolumeClaim": KindInfo("v1", "persistentvolumeclaims", True, 1, "10-persistentvolumeclaim.yaml",
                                      "persistentvolumeclaim"),
    "PodDisruptionBudget": KindInfo("policy/v1", "poddisruptionbudgets", True, 2, "15-poddisruptionbudget.yaml",
                                    "poddisruptionbudget.policy"),
    "Service": KindInfo("v1", "services", True, 3, "20-service.yaml", "service"),
    "Deployment": KindInfo("apps/v1", "deployments", True, 4, "30-deployment.yaml", "deployment.apps"),
    "HorizontalPodAutoscaler": KindInfo("autoscaling/v2", "horizontalpodautoscalers", True, 5,
                                        "40-horizontalpodautoscaler.yaml", "horizontalpodautoscaler.autoscaling"),
    "ServiceMonitor": KindInfo("monitoring.coreos.com/v1", "servicemonitors", True, 6, "50-servicemonitor.yaml",
                               "servicemonitor.monitoring.coreos.com"),
    "PrometheusRule": KindInfo("monitoring.coreos.com/v1", "prometheusrules", True, 7, "60-prometheusrule.yaml",
                               "prometheusrule.monitoring.coreos.com"),
}
# Kinds left out, with a warning, when the cluster does not serve them: the deployment works without them.
OPTIONAL_KINDS: dict[str, str] = {
    "PodDisruptionBudget": "a node drain may then evict every replica at once",
}


@dataclass(frozen=True)
class RenderedObject:
    """One object to apply; ``body`` is the full manifest (apiVersion, kind, metadata, spec)."""

    body: Obj

    @property
    def kind(self) -> str:
        return str(self.body["kind"])

    @property
    def name(self) -> str:
        return str(self.body["metadata"]["name"])

    @property
    def namespace(self) -> str | None:
        return self.body["metadata"].get("namespace")

    @property
    def info(self) -> KindInfo:
        return KINDS[self.kind]

    @property
    def ref(self) -> str:
        """kubectl's name for it: ``deployment.apps/claude-inference``."""
        return f"{self.info.word}/{self.name}"

    @property
    def group(self) -> str:
        api = self.info.api_version
        return api.split("/", 1)[0] if "/" in api else ""

    def path(self, with_name: bool = True) -> str:
        """The REST path of the object (``with_name=False``: of its collection)."""
        api = self.info.api_version
        base = f"/apis/{api}" if "/" in api else f"/api/{api}"
        if self.info.namespaced:
            base += f"/namespaces/{self.namespace}"
        base += f"/{self.info.plural}"
        return f"{base}/{self.name}" if with_name else base


@dataclass(frozen=True)
class Rendered:
    """The objects for one values file, in apply order."""

    values: Values
    objects: tuple[RenderedObject, ...]

    def by_kind(self, kind: str) -> list[RenderedObject]:
        return [o for o in self.objects if o.kind == kind]

    def yaml(self, header: str | None = None) -> str:
        """All objects as one multi-document YAML stream (what ``kubectl apply -f -`` reads)."""
        head = f"# {header}\n" if header else ""
        return head + "".join(f"---\n{dump(o.body)}" for o in self.objects)

    def files(self, header: str | None = None) -> dict[str, str]:
        """File name → multi-document YAML, one file per kind, numbered in apply order."""
        out: dict[str, list[RenderedObject]] = {}
        for o in self.objects:
            out.setdefault(o.info.file, []).append(o)
        head = f"# {header}\n" if header else ""
        return {name: head + "".join(f"---\n{dump(o.body)}" for o in objs) for name, objs in out.items()}

    def write(self, directory: str | Path, header: str | None = None) -> list[Path]:
        """Write :meth:`files` into ``directory`` (created if needed); returns the paths written."""
        target = Path(directory).expanduser()
        target.mkdir(parents=True, exist_ok=True)
        written = []
        for name, text in self.files(header).items():
            path = target / name
            path.write_text(text, encoding="utf-8")
            written.append(path)
        return written


def dump(obj: Obj) -> str:
    return yaml.safe_dump(obj, sort_keys=False, default_flow_style=False, allow_unicode=True, width=100)


# ---- labels ----------------------------------------------------------------------------------------
def common_labels(v: Values) -> dict[str, str]:
    return {"app.kubernetes.io/name": v.name, "app.kubernetes.io/managed-by": MANAGED_BY}


def pod_selector(v: Values, pool: str | None = None) -> dict[str, str]:
    """The labels a serving Deployment selects its pods by (and the external GPU metric selects on):
    the article's ``app`` label, the set's name, the component, and the pool when split."""
    labels = {"app": v.model.name, "app.kubernetes.io/name": v.name, "app.kubernetes.io/component": "inference"}
    if pool:
        labels["pool"] = pool
    return labels


def router_selector(v: Values) -> dict[str, str]:
    return {"app.kubernetes.io/name": v.name, "app.kubernetes.io/component": "router"}


def _meta(v: Values, name: str, labels: dict[str, str] | None = None, annotations: dict[str, str] | None = None
          ) -> Obj:
    meta: Obj = {"name": name, "namespace": v.namespace, "labels": {**common_labels(v), **(labels or {})}}
    if annotations:
        meta["annotations"] = annotations
    return meta


# ---- objects ---------------------------------------------------------------------------------------
def namespace(v: Values) -> Obj:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": v.namespace}}


def pvc(v: Values, cluster: ClusterFacts | None = None) -> Obj:
    s = v.storage
    spec: Obj = {"accessModes": [derived.access_mode(v, cluster)], "resources": {"requests": {"storage": s.size}}}
    if s.storage_class_name:
        spec["storageClassName"] = s.storage_class_name
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": _meta(v, s.claim_name, {"app.kubernetes.io/component": "model-weights"}), "spec": spec}


def pod_disruption_budget(v: Values, deployment: str, floor: int, pool: str | None = None) -> Obj | None:
    """The budget of one serving Deployment (None when it runs fewer than 2 pods: see derived.min_available)."""
    least = derived.min_available(floor)
    if least is None:
        return None
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
            "metadata": _meta(v, f"{deployment}-pdb", {"app.kubernetes.io/component": "inference"}),
            "spec": {"minAvailable": least, "selector": {"matchLabels": pod_selector(v, pool)},
                     # A pod that never became Ready serves nothing: evicting it must not wait for the budget.
                     "unhealthyPodEvictionPolicy": "AlwaysAllow"}}


def service(v: Values, name: str, selector: dict[str, str], component: str) -> Obj:
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": _meta(v, name, {"app.kubernetes.io/component": component}),
            "spec": {"type": "ClusterIP", "selector": dict(selector),
                     "ports": [{"name": "http", "port": v.port, "targetPort": "http", "protocol": "TCP"}]}}


def _http_probe(v: Values, period: int, failures: int) -> Obj:
    return {"httpGet": {"path": v.probes.path, "port": "http"}, "periodSeconds": period, "timeoutSeconds": 5,
            "failureThreshold": failures}


# ---- the restricted Pod Security Standard ----------------------------------------------------------------
def pod_security(v: Values) -> Obj:
    """Pod-level: non-root with the Dockerfile template's uid/gid, RuntimeDefault seccomp. No fsGroup: the
    kubelet would chown every file of the weights volume on each mount."""
    return {"runAsNonRoot": True, "runAsUser": v.security.run_as_user, "runAsGroup": v.security.run_as_group,
            "seccompProfile": {"type": "RuntimeDefault"}}


def container_security(v: Values) -> Obj:
    return {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
            "readOnlyRootFilesystem": v.security.read_only_root_filesystem}


def _scratch(name: str, size: str, medium: str | None = None) -> Obj:
    empty: Obj = {"medium": medium} if medium else {}
    return {"name": name, "emptyDir": {**empty, "sizeLimit": size}}


def inference_container(v: Values) -> Obj:
    env = {"MODEL_NAME": v.model.name, "MODEL_PATH": v.model.path, "HOME": HOME, **v.env}
    gpus = str(v.gpus_per_replica)
    request, limit = derived.memory(v)
    container: Obj = {
        "name": CONTAINER,
        "image": v.image,
        "imagePullPolicy": v.image_pull_policy,
    }
    if v.args:
        container["args"] = list(v.args)
    container.update({
        "ports": [{"name": "http", "containerPort": v.port, "protocol": "TCP"}],
        "env": [{"name": k, "value": val} for k, val in env.items()],
        "resources": {
            "requests": {"cpu": v.resources.cpu, "memory": request, GPU: gpus},
            "limits": {"memory": limit, GPU: gpus},
        },
        "volumeMounts": [{"name": VOLUME, "mountPath": v.model.path, "readOnly": v.storage.read_only},
                         {"name": SHM, "mountPath": "/dev/shm"}, {"name": TMP, "mountPath": "/tmp"},
                         {"name": HOME_VOLUME, "mountPath": HOME}],
        # The model load may take minutes: the startup probe holds liveness back until it succeeds.
        "startupProbe": _http_probe(v, 10, max(1, math.ceil(v.probes.startup_seconds / 10))),
        "readinessProbe": _http_probe(v, 10, 3),
        "livenessProbe": _http_probe(v, 20, 3),
        "securityContext": container_security(v),
    })
    if v.serving.drain_seconds:
        # Endpoints controllers and kube-proxy take a few seconds to stop sending to a terminating pod; the
        # server keeps answering meanwhile, and SIGTERM (then the in-flight requests' end) comes after.
        container["lifecycle"] = {"preStop": {"exec": {"command": ["sleep", str(v.serving.drain_seconds)]}}}
    return container


def _spread(v: Values, selector: dict[str, str]) -> list[Obj]:
    if v.availability.spread_across_nodes == "none":
        return []
    return [{"maxSkew": 1, "topologyKey": HOSTNAME, "whenUnsatisfiable": v.availability.spread_across_nodes,
             "labelSelector": {"matchLabels": dict(selector)}, "matchLabelKeys": ["pod-template-hash"]}]


def gpu_deployment(v: Values, name: str, replicas: int, pool: str | None = None) -> Obj:
    selector = pod_selector(v, pool)
    pod_spec: Obj = {"containers": [inference_container(v)],
                     "securityContext": pod_security(v),
                     "terminationGracePeriodSeconds": derived.grace_seconds(v)}
    if v.node_selector:
        pod_spec["nodeSelector"] = dict(v.node_selector)
    if v.tolerate_gpu_taint:
        pod_spec["tolerations"] = [{"key": GPU, "operator": "Exists", "effect": "NoSchedule"}]
    if spread := _spread(v, selector):
        pod_spec["topologySpreadConstraints"] = spread
    pod_spec["volumes"] = [{"name": VOLUME, "persistentVolumeClaim": {"claimName": v.storage.claim_name,
                                                                       "readOnly": v.storage.read_only}},
                           _scratch(SHM, derived.shm_size(v), "Memory"),
                           _scratch(TMP, v.security.scratch_size), _scratch(HOME_VOLUME, v.security.scratch_size)]
    cause = f"llmctl deploy: {v.image}" + (f" ({pool}-prompt pool)" if pool else "")
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": _meta(v, name, selector, {"kubernetes.io/change-cause": cause}),
        "spec": {
            "replicas": replicas,
            "progressDeadlineSeconds": v.strategy.progress_deadline_seconds,
            "selector": {"matchLabels": dict(selector)},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": v.strategy.max_surge,
                                                                     "maxUnavailable": v.strategy.max_unavailable}},
            "template": {"metadata": {"labels": {**selector, "app.kubernetes.io/managed-by": MANAGED_BY}},
                         "spec": pod_spec},
        },
    }


def router_deployment(v: Values) -> Obj:
    selector = router_selector(v)
    base = f"{v.namespace}.svc.cluster.local:{v.port}"
    container = {
        "name": "router", "image": v.pools.router_image, "imagePullPolicy": v.image_pull_policy,
        "ports": [{"name": "http", "containerPort": ROUTER_PORT, "protocol": "TCP"}],
        "env": [{"name": "SHORT_QUEUE_MAX_CHARS", "value": str(v.pools.split_at_chars)},
                {"name": "SHORT_QUEUE_URL", "value": f"http://{v.name}-short-queue.{base}"},
                {"name": "LONG_QUEUE_URL", "value": f"http://{v.name}-long-queue.{base}"}],
        "resources": {"requests": {"cpu": "500m", "memory": "512Mi"}, "limits": {"memory": "1Gi"}},
        "readinessProbe": {"tcpSocket": {"port": "http"}, "periodSeconds": 5, "timeoutSeconds": 2,
                           "failureThreshold": 3},
        "volumeMounts": [{"name": TMP, "mountPath": "/tmp"}],
        "securityContext": container_security(v),
    }
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": _meta(v, f"{v.name}-router", selector, {
            "kubernetes.io/change-cause": f"llmctl deploy: router, prompts < {v.pools.split_at_chars} chars → "
                                          "short pool"}),
        "spec": {
            "replicas": v.pools.router_replicas,
            "selector": {"matchLabels": dict(selector)},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
            "template": {"metadata": {"labels": {**selector, "app.kubernetes.io/managed-by": MANAGED_BY}},
                         "spec": {"containers": [container], "securityContext": pod_security(v),
                                  "volumes": [_scratch(TMP, "1Gi")]}},
        },
    }


def hpa_behavior(v: Values) -> Obj:
    """Up at once (double, or +4 pods, every 15 s: a queue builds in seconds), down slowly (after the
    stabilisation window, one pod a minute: each GPU pod costs a cold start to bring back)."""
    a = v.autoscaling
    return {"scaleUp": {"stabilizationWindowSeconds": a.scale_up_stabilization_seconds, "selectPolicy": "Max",
                        "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15},
                                     {"type": "Pods", "value": 4, "periodSeconds": 15}]},
            "scaleDown": {"stabilizationWindowSeconds": a.scale_down_stabilization_seconds, "selectPolicy": "Min",
                          "policies": [{"type": "Pods", "value": 1, "periodSeconds": 60}]}}


def hpa(v: Values, deployment: str, low: int, high: int, pool: str | None = None) -> Obj:
    a = v.autoscaling
    metrics: list[Obj] = []
    if a.cpu_utilization is not None:
        metrics.append({"type": "Resource", "resource": {"name": "cpu", "target": {
            "type": "Utilization", "averageUtilization": a.cpu_utilization}}})
    if a.gpu_utilization is not None:
        metrics.append({"type": "External", "external": {
            "metric": {"name": a.gpu_metric, "selector": {"matchLabels": pod_selector(v, pool)}},
            "target": {"type": "AverageValue", "averageValue": str(a.gpu_utilization)}}})
    if a.queue_length is not None:
        metrics.append({"type": "Pods", "pods": {"metric": {"name": a.queue_metric},
                                                 "target": {"type": "AverageValue",
                                                            "averageValue": str(a.queue_length)}}})
    return {
        "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
        "metadata": _meta(v, f"{deployment}-hpa", {"app.kubernetes.io/component": "inference"}),
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": deployment},
                 "minReplicas": low, "maxReplicas": high, "metrics": metrics, "behavior": hpa_behavior(v)},
    }


def service_monitor(v: Values) -> Obj:
    return {
        "apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor",
        "metadata": _meta(v, v.name, dict(v.monitoring.labels)),
        "spec": {
            "selector": {"matchLabels": {**common_labels(v), "app.kubernetes.io/component": "inference"}},
            "namespaceSelector": {"matchNames": [v.namespace]},
            "endpoints": [{"port": "http", "path": "/metrics", "interval": v.monitoring.interval}],
        },
    }


@lru_cache(maxsize=1)
def _rule_file() -> Obj:
    doc: Obj = yaml.safe_load((manifests_dir() / "prometheusrule.yaml").read_text(encoding="utf-8"))
    return doc


def serving_deployments(v: Values) -> list[str]:
    """The Deployments whose pods serve the model (and hold the GPUs): not the router."""
    return [d for d in v.deployments() if d != f"{v.name}-router"]


def alert_scope(v: Values) -> str:
    """The label matchers that confine an alert to this app's pods: its namespace, and pod names made by its
    serving Deployments (``DEPLOYMENT-<replicaset hash>-<suffix>``: two dash-free parts after the name, so
    ``claude`` never matches the pods of ``claude-inference``)."""
    names = serving_deployments(v)  # DNS labels: nothing in them is special to a regular expression
    prefix = names[0] if len(names) == 1 else "(" + "|".join(names) + ")"
    return f'namespace="{v.namespace}",pod=~"{prefix}-[a-z0-9]+-[a-z0-9]+"'


def alert_groups(v: Values | None = None) -> list[str]:
    """The rule group names of manifests/prometheusrule.yaml — as rendered for ``v`` (``GROUP/NS/NAME``, what
    ``verify`` looks for in Prometheus) when given."""
    names = [g["name"] for g in _rule_file()["spec"]["groups"]]
    return [f"{n}/{v.namespace}/{v.name}" for n in names] if v is not None else names


def prometheus_rule(v: Values) -> Obj:
    """manifests/prometheusrule.yaml's alerts as ``NAME-alerts`` in the values' namespace, scoped to this app."""
    base = copy.deepcopy(_rule_file())
    scope = alert_scope(v)
    groups = []
    for group in base["spec"]["groups"]:
        rules = []
        for rule in group["rules"]:
            one_line = re.sub(r"\s*\n\s*", " ", str(rule["expr"]).strip())  # our rules have no multi-line strings
            rule["expr"] = scope_expr(one_line, scope)
            rule["labels"] = {**(rule.get("labels") or {}), "llmctl_app": v.name}
            rules.append(rule)
        groups.append({**group, "name": f"{group['name']}/{v.namespace}/{v.name}", "rules": rules})
    labels = {**(base["metadata"].get("labels") or {}), **v.monitoring.labels}
    return {"apiVersion": base["apiVersion"], "kind": base["kind"],
            "metadata": _meta(v, f"{v.name}-alerts", labels), "spec": {"groups": groups}}


def render(v: Values, cluster: ClusterFacts | None = None) -> Rendered:
    """Every object the values describe, in apply order; ``cluster``: what the preflight read (the StorageClass
    for ``storage.accessMode: auto``, the optional kinds it does not serve, which are left out)."""
    objs: list[Obj | None] = [namespace(v)]
    if v.storage.create:
        objs.append(pvc(v, cluster))
    hpas: list[Obj] = []
    budget = v.availability.pod_disruption_budget
    if v.pools.enabled:
        objs.append(service(v, v.name, router_selector(v), "router"))
        for pool, spec in (("short", v.pools.short), ("long", v.pools.long)):
            dep = f"{v.name}-{pool}-queue"
            objs.append(service(v, dep, pod_selector(v, pool), "inference"))
            objs.append(gpu_deployment(v, dep, spec.replicas, pool))
            if budget:
                objs.append(pod_disruption_budget(v, dep, derived.replica_floor(v, pool), pool))
            if v.autoscaling.enabled:
                hpas.append(hpa(v, dep, spec.min_replicas, spec.max_replicas, pool))
        objs.append(router_deployment(v))
    else:
        objs.append(service(v, v.name, pod_selector(v), "inference"))
        objs.append(gpu_deployment(v, v.name, v.replicas))
        if budget:
            objs.append(pod_disruption_budget(v, v.name, derived.replica_floor(v)))
        if v.autoscaling.enabled:
            hpas.append(hpa(v, v.name, v.autoscaling.min_replicas, v.autoscaling.max_replicas))
    objs += hpas
    if v.monitoring.service_monitor:
        objs.append(service_monitor(v))
    if v.monitoring.prometheus_rule:
        objs.append(prometheus_rule(v))
    unserved = cluster.unserved if cluster else frozenset()
    kept = [o for o in objs if o is not None and o["kind"] not in unserved]
    ordered = sorted(kept, key=lambda o: KINDS[o["kind"]].order)  # stable: services before their Deployments
    return Rendered(v, tuple(RenderedObject(o) for o in ordered))
