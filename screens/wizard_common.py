"""What the wizard's modules share: its constants, the values it starts from, and the engine connection."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from console.services.manifests_values import Values, ValuesError, values_to_dict

POLL_S = 0.5
ROLLOUT_TIMEOUT_S = 900.0
VERIFY_TIMEOUT_S = 60.0
FALLBACK_IMAGE = "registry.example.com/llm/inference:v1"
FORM_ORDER = ("name", "namespace", "model_name", "params", "size", "image", "gpus", "replicas", "hpa_min", "hpa_max")
LABELS = {"name": "Name", "namespace": "Namespace", "model_name": "Model name", "params": "Parameters (B)",
          "size": "Weights (GiB)", "image": "Image", "gpus": "GPUs / replica", "replicas": "Replicas",
          "hpa": "Autoscaling", "hpa_min": "HPA min", "hpa_max": "HPA max"}
PLACEHOLDERS = {"params": "e.g. 7 (billions) — fills Weights", "size": "weights size; empty: skip the check",
                "image": "type a reference, or pick one below"}
EngineFactory = Callable[[], Awaitable[Any]]


def starting_values(namespace: str | None = None) -> Values:
    """manifests/values.example.yaml (it deploys as is on the sandbox), else the defaults."""
    from console.paths import manifests_dir
    from console.services.manifests_values import default_values, load_values_file, parse_values

    try:
        values = load_values_file(manifests_dir() / "values.example.yaml")
    except ValuesError:
        values = default_values(FALLBACK_IMAGE)
    if namespace and namespace != values.namespace:
        try:
            values = parse_values({**values_to_dict(values), "namespace": namespace})
        except ValuesError:
            pass
    return values


async def connect_engine(app: Any) -> Any:
    """The deploy engine on the app's kubeconfig and context, its audit log and metrics source."""
    from console.cli_deploy import prometheus_rules_reader
    from console.services.audit import AuditLog
    from console.services.deploy import DeployEngine

    cluster = app.cluster
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 60
    while getattr(cluster, "sandbox", False) and getattr(cluster, "kubeconfig", None) is None:
        if loop.time() > deadline:  # the in-process sandbox writes its kubeconfig when it serves
            break
        await asyncio.sleep(0.1)
    audit = AuditLog(Path(app.settings.audit_log) if app.settings.audit_log else None)
    return await DeployEngine.connect(getattr(cluster, "kubeconfig", None), getattr(cluster, "context", None), audit,
                                      readonly=app.readonly, metrics=app.metrics,
                                      rules=prometheus_rules_reader(app.settings))
