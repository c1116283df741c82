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
    # A shared file system's claim, a hard spread, a bigger /dev/shm and a slower scale-down.
    "shared-storage": example_dict(storage={"accessMode": "ReadOnlyMany", "storageClassName": "nfs-client"},
                                   availability={"spreadAcrossNodes": "DoNotSchedule"},
                                   resources={"shmSize": "8Gi"}, autoscaling={"scaleDownStabilizationSeconds": 600}),
    # A 70 GiB model over 4 GPUs, memory sized from the weights; no HPA, so the budget follows replicas.
    "big-model": example_dict(model={"sizeGiB": 70}, gpusPerReplica=4, replicas=3, autoscaling={"enabled": False}),
    # The hardening turned down where an image needs it: a writable root, no drain, no budget, no spread.
    "relaxed": example_dict(security={"readOnlyRootFilesystem": False}, serving={"drainSeconds": 0},
                            availability={"podDisruptionBudget": False, "spreadAcrossNodes": "none"}),
}


def values(value_set: str, /, **overrides: Any) -> Values:
    """A value set, with top-level keys replaced (``name=...`` renames the app)."""
    data = copy.deepcopy(VALUE_SETS[value_set])
    data.update(overrides)
    return parse_values(data)
