"""The sandbox's starting clusters, built straight into their steady state.

``default``: the source article's cluster (reference.md §1) — 4 nodes × 4 A10G, the NVIDIA device
plugin and DCGM exporter DaemonSets, and in namespace ``llm`` the ``claude-inference`` Deployment
(2 replicas, maxSurge 1 / maxUnavailable 0, 1 GPU each), its HPA 2–8 on CPU 70 % and the external
``gpu_utilization`` metric, the ``model-pvc`` PVC, a Service, the short/long queue pools and a router.

``large``: 250 nodes × 8 GPUs of four products and ~10,000 pods in ~20 namespaces, to show the
console stays fast on big clusters. Every pod is created Ready and bound (see controllers/steady.py),
so the build takes seconds and the controllers find nothing to do afterwards.
"""

from __future__ import annotations

import itertools
from typing import Any

from .api_defaults import apply_defaults
from .context import SandboxContext
from .controllers.nodes import PRESETS, gpu_product, make_node
from .controllers.steady import Placer, steady_daemonset, steady_deployment
from .store import Obj

SCENARIOS = ("default", "large")
INFERENCE_REPO = "llm/claude-inference"
DEVICE_PLUGIN_IMAGE = "nvcr.io/nvidia/k8s-device-plugin:v0.14.5"
DCGM_EXPORTER_IMAGE = "nvcr.io/nvidia/k8s/dcgm-exporter:3.3.5-3.4.0-ubuntu22.04"
COREDNS_IMAGE = "registry.k8s.io/coredns/coredns:v1.11.1"
KSM_IMAGE = "registry.k8s.io/kube-state-metrics/kube-state-metrics:v2.10.1"
SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease", "gpu-operator", "monitoring")
LARGE_NAMESPACES = ("llm-prod", "llm-staging", "llm-dev", "search", "ranking", "recsys", "vision", "speech",
                    "translation", "summarize", "embeddings", "agents", "eval", "batch-infer", "finetune", "rag",
                    "moderation", "ads", "research")
LARGE_GPU_APPS = ("llm-7b", "llm-13b", "llm-70b-shard", "embedder")
LARGE_CPU_APPS = ("api-gateway", "tokenizer", "router", "feature-store", "batcher", "cache", "reranker",
                  "metrics-agent", "queue-worker", "prompt-guard", "session-store", "ingest", "scheduler-svc",
                  "webhook")


class _Builder:
    """Creates objects with the API server's defaults, as if they had been applied with kubectl."""

    def __init__(self, ctx: SandboxContext) -> None:
        self.ctx = ctx
        self._cluster_ips = (f"10.96.{i // 250}.{i % 250 + 1}" for i in itertools.count(10))

    def create(self, plural: str, obj: Obj) -> Obj:
        apply_defaults(plural, obj)
        return self.ctx.store.create(plural, obj)

    def namespace(self, name: str) -> None:
        self.create("namespaces", {"metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name}},
                                   "status": {"phase": "Active"}})

    def service(self, ns: str, name: str, selector: dict[str, str], port: int, target: int | str | None = None,
                cluster_ip: str | None = None, labels: dict[str, str] | None = None) -> None:
        ip = cluster_ip or next(self._cluster_ips)
        ports = [{"name": "http" if port != 443 else "https", "port": port, "targetPort": target or port,
                  "protocol": "TCP"}]
        spec: dict[str, Any] = {"type": "ClusterIP", "clusterIP": ip, "clusterIPs": [ip], "ports": ports,
                                "sessionAffinity": "None", "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack",
                                "internalTrafficPolicy": "Cluster"}
        if selector:
            spec["selector"] = selector
        self.create("services", {"metadata": {"name": name, "namespace": ns, "labels": labels or {}},
                                 "spec": spec, "status": {"loadBalancer": {}}})

    def deployment(self, placer: Placer, obj: Obj, *, logs: bool = True) -> Obj:
        apply_defaults("deployments", obj)
        return steady_deployment(self.ctx, placer, obj, logs=logs)

    def daemonset(self, placer: Placer, obj: Obj, nodes: list[Obj], *, logs: bool = True) -> Obj:
        apply_defaults("daemonsets", obj)
        return steady_daemonset(self.ctx, placer, obj, nodes, logs=logs)


def _workload(name: str, ns: str, labels: dict[str, str], replicas: int, container: dict[str, Any], *,
              annotations: dict[str, str] | None = None, pod_spec: dict[str, Any] | None = None,
              strategy: dict[str, Any] | None = None) -> Obj:
    spec: dict[str, Any] = {
        "replicas": replicas,
        "selector": {"matchLabels": dict(labels)},
        "template": {"metadata": {"labels": dict(labels)}, "spec": {"containers": [container], **(pod_spec or {})}},
    }
    if strategy:
        spec["strategy"] = strategy
    return {"metadata": {"name": name, "namespace": ns, "labels": dict(labels), "annotations": annotations or {}},
            "spec": spec}


def inference_container(image: str, *, memory_limit: str = "14Gi") -> dict[str, Any]:
    """The article's inference container: 1 GPU, requests 12Gi / limits 14Gi, weights from /models."""
    return {
        "name": "inference",
        "image": image,
        "ports": [{"name": "http", "containerPort": 8000, "protocol": "TCP"}],
        "env": [{"name": "LD_LIBRARY_PATH", "value": "/usr/local/cuda-12.2/lib64"},
                {"name": "MODEL_PATH", "value": "/models"}],
        "resources": {"requests": {"cpu": "4", "memory": "12Gi", "nvidia.com/gpu": "1"},
                      "limits": {"memory": memory_limit, "nvidia.com/gpu": "1"}},
        "volumeMounts": [{"name": "model-store", "mountPath": "/models", "readOnly": True}],
        "readinessProbe": {"httpGet": {"path": "/health", "port": 8000, "scheme": "HTTP"}, "initialDelaySeconds": 30,
                           "periodSeconds": 10, "timeoutSeconds": 1, "successThreshold": 1, "failureThreshold": 3},
    }


_GPU_POD_SPEC = {
    "nodeSelector": {"nvidia.com/gpu.present": "true"},
    "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
    "volumes": [{"name": "model-store", "persistentVolumeClaim": {"claimName": "model-pvc", "readOnly": True}}],
}
_SURGE_ONE = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}


def _daemonset(name: str, image: str, port: int | None) -> Obj:
    labels = {"app": name}
    container: dict[str, Any] = {"name": name.removeprefix("nvidia-").removesuffix("-daemonset"), "image": image,
                                 "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}}}
    if port:
        container["ports"] = [{"name": "metrics", "containerPort": port, "protocol": "TCP"}]
    return {
        "metadata": {"name": name, "namespace": "gpu-operator", "labels": labels},
        "spec": {"selector": {"matchLabels": labels}, "template": {"metadata": {"labels": labels}, "spec": {
            "containers": [container], "priorityClassName": "system-node-critical",
            "nodeSelector": {"nvidia.com/gpu.present": "true"},
            "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]}}},
    }


def _system(b: _Builder, placer: Placer, nodes: list[Obj], *, logs: bool) -> None:
    """Namespaces, the API service, CoreDNS, the NVIDIA DaemonSets and kube-state-metrics."""
    for ns in SYSTEM_NAMESPACES:
        b.namespace(ns)
    # KEP-1755 "local registry hosting", as kind, k3d and minikube publish it: where this cluster's registry is.
    b.create("configmaps", {"metadata": {"name": "local-registry-hosting", "namespace": "kube-public"}, "data": {
        "localRegistryHosting.v1": f'host: "{b.ctx.catalog.registry_host}"\n'
                                   'help: "https://github.com/kubernetes/enhancements/tree/master/keps/'
                                   'sig-cluster-lifecycle/generic/1755-communicating-a-local-registry"\n'}})
    b.service("default", "kubernetes", {}, 443, 6443, cluster_ip="10.96.0.1",
              labels={"component": "apiserver", "provider": "kubernetes"})
    b.service("kube-system", "kube-dns", {"k8s-app": "kube-dns"}, 53, cluster_ip="10.96.0.10",
              labels={"k8s-app": "kube-dns"})
    b.deployment(placer, _workload("coredns", "kube-system", {"k8s-app": "kube-dns"}, 2, {
        "name": "coredns", "image": COREDNS_IMAGE, "args": ["-conf", "/etc/coredns/Corefile"],
        "resources": {"requests": {"cpu": "100m", "memory": "70Mi"}, "limits": {"memory": "170Mi"}}},
        pod_spec={"priorityClassName": "system-cluster-critical"}), logs=logs)
    b.daemonset(placer, _daemonset("nvidia-device-plugin-daemonset", DEVICE_PLUGIN_IMAGE, None), nodes, logs=logs)
    b.daemonset(placer, _daemonset("nvidia-dcgm-exporter", DCGM_EXPORTER_IMAGE, 9400), nodes, logs=logs)
    b.service("gpu-operator", "nvidia-dcgm-exporter", {"app": "nvidia-dcgm-exporter"}, 9400,
              labels={"app": "nvidia-dcgm-exporter"})
    b.deployment(placer, _workload("kube-state-metrics", "monitoring", {"app.kubernetes.io/name": "kube-state-metrics"},
                                   1, {"name": "kube-state-metrics", "image": KSM_IMAGE,
                                       "ports": [{"name": "http-metrics", "containerPort": 8080}],
                                       "resources": {"requests": {"cpu": "10m", "memory": "64Mi"}}}), logs=logs)


def _default(ctx: SandboxContext) -> None:
    b = _Builder(ctx)
    preset = gpu_product(ctx.config.gpu_product)
    gpus = 4 if ctx.config.gpus_per_node is None else ctx.config.gpus_per_node  # 0: nodes without GPUs
    now = ctx.clock.timestamp()
    nodes = [b.create("nodes", make_node(f"gpu-node-{i}", i, preset, gpus, now=now))
             for i in range(1, (ctx.config.nodes or 4) + 1)]
    placer = Placer(nodes)
    _system(b, placer, nodes, logs=True)
    b.namespace("llm")
    b.create("persistentvolumeclaims", {
        "metadata": {"name": "model-pvc", "namespace": "llm",
                     "annotations": {"pv.kubernetes.io/bind-completed": "yes"}},
        "spec": {"accessModes": ["ReadOnlyMany"], "resources": {"requests": {"storage": "100Gi"}},
                 "storageClassName": "efs-sc", "volumeMode": "Filesystem",
                 "volumeName": "pvc-6f1c2b7e-8d4a-4b1e-9c3f-2a5d7e9b0c41"},
        "status": {"phase": "Bound", "accessModes": ["ReadOnlyMany"], "capacity": {"storage": "100Gi"}},
    })
    image = ctx.catalog.ref(INFERENCE_REPO, "v1.0.0")
    b.deployment(placer, _workload(
        "claude-inference", "llm", {"app": "claude"}, 2, inference_container(image),
        annotations={"kubernetes.io/change-cause": "initial deploy: claude-inference v1.0.0 (CUDA 12.2)"},
        pod_spec=_GPU_POD_SPEC, strategy=_SURGE_ONE))
    for pool in ("short", "long"):
        b.deployment(placer, _workload(
            f"claude-{pool}-queue", "llm", {"app": "claude-queue", "pool": pool}, 1, inference_container(image),
            annotations={"kubernetes.io/change-cause": f"{pool}-prompt pool (requests "
                                                       f"{'< 256' if pool == 'short' else '>= 256'} chars)"},
            pod_spec=_GPU_POD_SPEC, strategy=_SURGE_ONE))
    b.deployment(placer, _workload("claude-router", "llm", {"app": "claude-router"}, 1, {
        "name": "router", "image": ctx.catalog.ref("llm/claude-router", "v1.0.0"),
        "ports": [{"name": "http", "containerPort": 8080}],
        "env": [{"name": "SHORT_QUEUE_MAX_CHARS", "value": "256"}],
        "resources": {"requests": {"cpu": "500m", "memory": "512Mi"}, "limits": {"memory": "1Gi"}}}))
    b.service("llm", "claude-inference", {"app": "claude"}, 8000, labels={"app": "claude"})
    b.service("llm", "claude-router", {"app": "claude-router"}, 80, 8080, labels={"app": "claude-router"})
    b.create("horizontalpodautoscalers", {
        "metadata": {"name": "claude-hpa", "namespace": "llm"},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "claude-inference"},
            "minReplicas": 2, "maxReplicas": 8,
            "metrics": [
                {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization",
                                                                            "averageUtilization": 70}}},
                {"type": "External", "external": {
                    "metric": {"name": "gpu_utilization", "selector": {"matchLabels": {"app": "claude"}}},
                    "target": {"type": "AverageValue", "averageValue": "60"}}},
            ],
        },
        "status": {"currentReplicas": 2, "desiredReplicas": 2},
    })


def _large(ctx: SandboxContext) -> None:
    b = _Builder(ctx)
    count = ctx.config.nodes or 250
    gpus = ctx.config.gpus_per_node or 8
    width = max(3, len(str(count)))
    mix = [PRESETS[k] for k in ("A100-SXM4-80GB", "A100-SXM4-80GB", "H100-80GB-HBM3", "A10G", "L4")]
    now = ctx.clock.timestamp()
    nodes = [b.create("nodes", make_node(f"gpu-node-{i:0{width}d}", i, mix[i % len(mix)], gpus, now=now,
                                         zone=f"us-east-1{'abc'[i % 3]}"))
             for i in range(1, count + 1)]
    placer = Placer(nodes)
    _system(b, placer, nodes, logs=False)
    # Sized to about 10,000 pods at 250 nodes with ~76 % of the GPUs in use (room for surges).
    gpu_per_app = max(1, int(count * gpus * 0.76) // (len(LARGE_NAMESPACES) * len(LARGE_GPU_APPS)))
    pods_target = 10_000 * count // 250
    cpu_pods = pods_target - 2 * count - gpu_per_app * len(LARGE_NAMESPACES) * len(LARGE_GPU_APPS)
    cpu_per_app = max(1, round(cpu_pods / (len(LARGE_NAMESPACES) * len(LARGE_CPU_APPS))))
    image = ctx.catalog.ref(INFERENCE_REPO, "v1.0.0")
    router = ctx.catalog.ref("llm/claude-router", "v1.0.0")
    for ns in LARGE_NAMESPACES:
        b.namespace(ns)
        for app in LARGE_GPU_APPS:
            container = inference_container(image)
            container["resources"]["requests"]["cpu"] = "2"
            pod_spec = {k: v for k, v in _GPU_POD_SPEC.items() if k != "volumes"}
            container.pop("volumeMounts")
            b.deployment(placer, _workload(app, ns, {"app": app}, gpu_per_app, container, pod_spec=pod_spec,
                                           strategy=_SURGE_ONE), logs=False)
        for app in LARGE_CPU_APPS:
            b.deployment(placer, _workload(app, ns, {"app": app}, cpu_per_app, {
                "name": app, "image": router, "ports": [{"name": "http", "containerPort": 8080}],
                "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}}}),
                logs=False)
        b.create("horizontalpodautoscalers", {
            "metadata": {"name": f"{LARGE_GPU_APPS[0]}-hpa", "namespace": ns},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": LARGE_GPU_APPS[0]},
                     "minReplicas": gpu_per_app, "maxReplicas": gpu_per_app + 4,
                     "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {
                         "type": "Utilization", "averageUtilization": 80}}}]},
            "status": {"currentReplicas": gpu_per_app, "desiredReplicas": gpu_per_app},
        })


def build(ctx: SandboxContext) -> None:
    """Fill the store with the scenario ``ctx.config.scenario`` names (call once, before controllers)."""
    scenario = ctx.config.scenario
    if scenario == "default":
        _default(ctx)
    elif scenario == "large":
        _large(ctx)
    else:
        raise ValueError(f"unknown scenario {scenario!r}; choose one of: {', '.join(SCENARIOS)}")
