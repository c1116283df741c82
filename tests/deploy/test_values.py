"""The values file: the example loads, every key has a sane default, and bad values are rejected with
messages that name the key path and the line (table-driven)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from console.core.paths import manifests_dir
from console.deploy.values.load import load_values_file, load_values_text, parse_values, values_to_dict
from console.deploy.values.nodes import NodeFacts, check_against_nodes, gpus_for_model
from console.deploy.values.schema import ValuesError

EXAMPLE = manifests_dir() / "values.example.yaml"
IMAGE = "llm/claude-inference:v1.1.0"


def problems(data: dict) -> list[str]:
    with pytest.raises(ValuesError) as err:
        parse_values({"image": IMAGE, **data})
    return [p.text() for p in err.value.problems]


def test_example_loads_with_the_articles_settings() -> None:
    v = load_values_file(EXAMPLE)
    # The one warning: the claim's mode is chosen from the StorageClass, unknown until a cluster is read.
    (warning,) = v.warnings
    assert warning.startswith("storage.accessMode auto → ReadWriteOnce unless llmctl deploy finds a shared file")
    assert (v.namespace, v.name, v.image, v.replicas, v.gpus_per_replica) == \
        ("llm-demo", "claude-inference", IMAGE, 2, 1)
    assert (v.strategy.max_surge, v.strategy.max_unavailable) == (1, 0)
    assert (v.resources.memory_request, v.resources.memory_limit) == (None, None)  # sized from model.sizeGiB
    a = v.autoscaling
    assert (a.min_replicas, a.max_replicas, a.cpu_utilization, a.gpu_utilization, a.gpu_metric) == \
        (2, 8, 70, 60, "gpu_utilization")
    assert v.storage.claim_name == "model-pvc" and v.pools.split_at_chars == 256 and not v.pools.enabled


def test_round_trip_through_a_dict_and_yaml() -> None:
    v = load_values_file(EXAMPLE)
    again = load_values_text(yaml.safe_dump(values_to_dict(v)))
    assert again == v
    assert parse_values({"image": IMAGE}).namespace == "llm"  # defaults fill everything else


BAD = [
    ({"replica": 2}, 'replica: unknown key "replica" at the top level — did you mean "replicas"?'),
    ({"gpus_per_replica": 2}, 'did you mean "gpusPerReplica"?'),
    ({"autoscaling": {"minReplica": 1}}, 'autoscaling.minReplica: unknown key "minReplica" in autoscaling — did you '
                                         'mean "minReplicas"?'),
    ({"replicas": "two"}, "replicas: must be a whole number, not a string ('two')"),
    ({"replicas": -1}, "replicas: -1 is too small: at least 0"),
    ({"replicas": 5000}, "replicas: 5000 is too large: at most 1000"),
    ({"gpusPerReplica": 0}, "gpusPerReplica: 0 is too small: at least 1"),
    ({"gpusPerReplica": 64}, "gpusPerReplica: 64 is too large: at most 16"),
    ({"gpusPerReplica": 1.5}, "gpusPerReplica: must be a whole number, not a number (1.5)"),
    ({"image": "LLM/App:v1"}, "image: invalid image reference 'LLM/App:v1': the repository name must be lowercase"),
    ({"image": "llm/app:bad tag"}, "image: invalid image reference 'llm/app:bad tag': it must not contain spaces"),
    ({"image": None}, "image: must be a string, not nothing (null)"),
    ({"autoscaling": {"minReplicas": 5, "maxReplicas": 3}},
     "autoscaling.minReplicas: 5 must not exceed autoscaling.maxReplicas (3)"),
    ({"replicas": 1}, "replicas: 1 is outside autoscaling.minReplicas–maxReplicas (2–8)"),
    ({"resources": {"memoryRequest": "12Gi", "memoryLimit": "13Gi"}},
     "resources.memoryLimit: 13Gi must be at least resources.memoryRequest (12Gi) + 2Gi = 14Gi"),
    ({"resources": {"memoryLimit": "14GB!"}}, "resources.memoryLimit: '14GB!' is not a size"),
    ({"resources": {"memoryLimit": 16000000000}}, "is a number of bytes; write a unit"),
    ({"resources": {"cpu": "5000"}}, "resources.cpu: 5000 is too large: at most 1024"),
    ({"resources": "big"}, "resources: must be a mapping of keys, not a string ('big')"),
    ({"strategy": {"maxSurge": 0, "maxUnavailable": 0}}, "strategy.maxUnavailable: maxSurge and maxUnavailable must "
                                                         "not both be 0"),
    ({"strategy": {"maxSurge": "150%"}}, "strategy.maxSurge: must be a whole number or a percentage"),
    ({"nodeSelector": {"nvidia.com/gpu.present": True}},
     'nodeSelector.nvidia.com/gpu.present: must be a string, not a boolean (true) (quote it: "true")'),
    ({"env": {"BATCH": 8}}, 'env.BATCH: must be a string, not an integer (8) (quote it: "8")'),
    ({"env": {"1BAD NAME": "x"}}, "is not a valid environment variable name"),
    ({"namespace": "LLM_prod"}, "namespace: 'LLM_prod' is not a valid namespace"),
    ({"name": "a" * 60}, "is longer than 47 characters"),
    ({"name": "9lives"}, "name: '9lives' is not a valid name"),
    ({"port": 70000}, "port: 70000 is too large: at most 65535"),
    ({"storage": {"accessMode": "ReadWriteOncePod"}}, "storage.accessMode: ReadWriteOncePod lets only one pod mount"),
    ({"storage": {"accessMode": "ReadAll"}}, "storage.accessMode: must be one of auto, ReadOnlyMany"),
    ({"autoscaling": {"cpuUtilization": None, "gpuUtilization": None}}, "autoscaling: enabled without a metric"),
    ({"autoscaling": {"cpuUtilization": 150}}, "autoscaling.cpuUtilization: 150 is too large: at most 100"),
    ({"monitoring": {"interval": "15 seconds"}}, "monitoring.interval: must be a duration"),
    ({"model": {"path": "models"}}, "model.path: 'models' must be an absolute path"),
    ({"model": {"sizeGiB": -3}}, "model.sizeGiB: -3 is too small"),
    ({"pools": {"enabled": True, "short": {"minReplicas": 3, "maxReplicas": 2}}},
     "pools.short.minReplicas: 3 must not exceed pools.short.maxReplicas (2)"),
    ({"pools": {"enabled": True, "splitAtChars": 0}}, "pools.splitAtChars: 0 is too small: at least 1"),
    ({"args": "--max-model-len 8192"}, "args: must be a list of strings"),
]


@pytest.mark.parametrize(("data", "expected"), BAD, ids=[str(i) for i in range(len(BAD))])
def test_bad_values_are_rejected_naming_the_key(data: dict, expected: str) -> None:
    found = problems(data)
    assert any(expected in p for p in found), found


def test_every_problem_is_reported_at_once_with_its_line() -> None:
    text = "namespace: llm-demo\nimage: llm/claude-inference:v1.1.0\nreplica: 3\nautoscaling:\n  minReplicas: x\n"
    with pytest.raises(ValuesError) as err:
        load_values_text(text, "values.yaml")
    lines = str(err.value).splitlines()
    assert lines == ['values.yaml:3: replica: unknown key "replica" at the top level — did you mean "replicas"?',
                     "values.yaml:5: autoscaling.minReplicas: must be a whole number, not a string ('x')"]


def test_malformed_yaml_and_duplicate_keys_name_the_line(tmp_path: Path) -> None:
    with pytest.raises(ValuesError) as err:
        load_values_text("image: llm/a:v1\nreplicas: [1, 2\nport: 80\n", "v.yaml")
    assert str(err.value).startswith("v.yaml:3: not valid YAML, column 5:")
    with pytest.raises(ValuesError) as err:
        load_values_text("image: llm/a:v1\nreplicas: 2\nreplicas: 3\n", "v.yaml")
    assert str(err.value) == "v.yaml:3: replicas: duplicate key (YAML would silently keep only the last one)"
    with pytest.raises(ValuesError, match="expected a mapping of keys"):
        load_values_text("- a\n- b\n")
    with pytest.raises(ValuesError, match="no values file at"):
        load_values_file(tmp_path / "nope.yaml")


def test_warnings_for_what_works_but_deserves_a_look() -> None:
    v = parse_values({"image": "llm/app:latest", "storage": {"accessMode": "ReadWriteOnce"}})
    assert any("latest" in w for w in v.warnings) and any("Multi-Attach" in w for w in v.warnings)


def test_checks_against_the_nodes() -> None:
    v = parse_values({"image": IMAGE, "gpusPerReplica": 8, "model": {"sizeGiB": 70}})
    found = [p.text() for p in check_against_nodes(v, NodeFacts(max_gpus_per_node=4, gpu_memory_mib=23028,
                                                                 gpu_nodes=4))]
    assert found[0].startswith("gpusPerReplica: 8 GPUs per replica, but the largest GPU node has 4 allocatable")
    assert check_against_nodes(v, NodeFacts()) == []  # nothing known, nothing judged
    small = parse_values({"image": IMAGE, "model": {"sizeGiB": 70}})
    (problem,) = check_against_nodes(small, NodeFacts(4, 23028, 4))
    assert problem.path == "model.sizeGiB" and "needs about 4 GPUs of 22 GiB" in problem.message
    assert gpus_for_model(13, 23028) == 1 and gpus_for_model(70, 81920) == 2


# ---- memory sized from the weights (the source article: 14.9 GiB of weights got 12Gi/14Gi, unwarned) ----------
@pytest.mark.parametrize(("size", "resources", "expected"), [
    (14.9, {}, ("15Gi", "17Gi")),  # the weights rounded up, then the article's 2 GiB buffer
    (13, {}, ("13Gi", "15Gi")),
    (0.5, {}, ("1Gi", "3Gi")),
    (None, {}, ("12Gi", "14Gi")),  # size unknown: the article's own figures
    (14.9, {"memoryRequest": "16Gi"}, ("16Gi", "18Gi")),  # the limit follows an explicit request
    (14.9, {"memoryRequest": "15872Mi"}, ("15872Mi", "17920Mi")),
    (14.9, {"memoryRequest": "20Gi", "memoryLimit": "32Gi"}, ("20Gi", "32Gi")),  # explicit and fitting: as written
])
def test_memory_is_sized_from_model_size(size: float | None, resources: dict, expected: tuple[str, str]) -> None:
    from console.deploy.render import render

    v = parse_values({"image": IMAGE, "model": {"sizeGiB": size}, "resources": resources})
    assert not any(w.startswith("resources") for w in v.warnings), v.warnings
    (dep,) = render(v).by_kind("Deployment")
    res = dep.body["spec"]["template"]["spec"]["containers"][0]["resources"]
    assert (res["requests"]["memory"], res["limits"]["memory"]) == expected


def test_explicit_memory_that_cannot_hold_the_weights_is_warned_about() -> None:
    v = parse_values({"image": IMAGE, "model": {"sizeGiB": 14.9},
                      "resources": {"memoryRequest": "12Gi", "memoryLimit": "14Gi"}})
    (warning,) = [w for w in v.warnings if w.startswith("resources")]
    assert warning.startswith("resources: memory request 12Gi and limit 14Gi are too small for 14.9 GiB of weights "
                              "(model.sizeGiB): loading streams the weights through host memory")
    assert "use at least 15Gi / 17Gi" in warning
    # The request alone short of the weights (a roomy limit does not help: the scheduler places by requests).
    v = parse_values({"image": IMAGE, "model": {"sizeGiB": 14.9},
                      "resources": {"memoryRequest": "14Gi", "memoryLimit": "20Gi"}})
    assert next(w for w in v.warnings if w.startswith("resources")).startswith(
        "resources: memory request 14Gi is too small for 14.9 GiB")
    fits = parse_values({"image": IMAGE, "model": {"sizeGiB": 14.9},
                         "resources": {"memoryRequest": "15Gi", "memoryLimit": "17Gi"}})
    assert not any(w.startswith("resources") for w in fits.warnings)


def test_memory_rules_that_are_errors() -> None:
    # A limit under request + 2 GiB breaks the article's OOM rule, also when the request is derived.
    assert problems({"model": {"sizeGiB": 13}, "resources": {"memoryLimit": "14Gi"}}) == [
        "resources.memoryLimit: 14Gi must be at least resources.memoryRequest (13Gi, from model.sizeGiB) + 2Gi "
        "= 15Gi: the source article's OOM rule keeps a 2 GiB buffer between request and limit"]
    assert problems({"resources": {"memoryLimit": "13Gi"}})[0].startswith(
        "resources.memoryLimit: 13Gi must be at least resources.memoryRequest (12Gi, the default) + 2Gi = 14Gi")


def test_shm_larger_than_the_memory_limit_is_warned_about() -> None:
    v = parse_values({"image": IMAGE, "model": {"sizeGiB": 13}, "resources": {"shmSize": "16Gi"}})
    assert any(w.startswith("resources.shmSize 16Gi is more than the memory limit 15Gi") for w in v.warnings)
