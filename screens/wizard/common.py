"""What the wizard's modules share: its constants, the values it starts from, and the engine connection."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from console.deploy.values.load import values_to_dict
from console.deploy.values.schema import Values, ValuesError

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
    from console.core.paths import manifests_dir
    from console.deploy.values.load import default_values, load_values_file, parse_values

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
