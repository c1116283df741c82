"""Value sets the render and dry-run tests share: the example, and variations of it."""

from __future__ import annotations

import copy
from typing import Any

import yaml

from console.core.paths import manifests_dir
from console.deploy.values.load import parse_values
from console.deploy.values.schema import Values

EXAMPLE_TEXT = (manifests_dir() / "values.example.yaml").read_text()


def example_dict(**overrides: Any) -> dict[str, Any]:
    data = copy.deepcopy(yaml.safe_load(EXAMPLE_TEXT))
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return data


VALUE_SETS: dict[str, dict[str, Any]] = {
    "defaults": example_dict(),
    "pools": example_dict(pools={"enabled": True, "splitAtChars": 512}),
    "no-hpa": example_dict(autoscaling={"enabled": False}, monitoring={"serviceMonitor": False,
                                                                         "prometheusRule": False}),
    "queue": example_dict(autoscaling={"queueLength": 10, "gpuUtilization": None}, gpusPerReplica=2,
                          resources={"memoryRequest": "24Gi", "memoryLimit": "28Gi"}),
}


def values(name: str, **overrides: Any) -> Values:
    data = copy.deepcopy(VALUE_SETS[name])
    data.update(overrides)
    return parse_values(data)
