"""Facts from raw JSON (GFD node labels, image configs), the stack checks, placement and the matrix/gate
assembly — pure, no servers."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from console.compat.credentials import docker_credentials
from console.compat.facts import image_facts_from_config, node_facts, parse_arch_list
from console.compat.matrix import build_report, gate, pools_of
from console.compat.registry import RegistryError, is_loopback, parse_reference
from console.compat.rules import Level
from console.compat.stack import (
    container_checks,
    daemonset_checks,
    kube_version_check,
    validator_check,
)
from console.core.rollout import pod_can_run_on as can_schedule_on
from console.core.units import quantity_or_none


def gpu_node(name: str, product: str = "NVIDIA-A10G", driver: str = "535.104.05", cc: str = "8.6", gpus: int = 4,
             **extra_labels: str) -> dict[str, Any]:
    major, minor, *rev = driver.split(".")
    ccmaj, ccmin = cc.split(".")
    labels = {"nvidia.com/gpu.present": "true", "nvidia.com/gpu.product": product, "nvidia.com/gpu.count": str(gpus),
              "nvidia.com/gpu.memory": "23028", "nvidia.com/cuda.driver.major": major,
              "nvidia.com/cuda.driver.minor": minor, "nvidia.com/cuda.driver.rev": rev[0] if rev else "",
              "nvidia.com/cuda.runtime.major": "12", "nvidia.com/cuda.runtime.minor": "2",
              "nvidia.com/gpu.compute.major": ccmaj, "nvidia.com/gpu.compute.minor": ccmin, **extra_labels}
    return {"metadata": {"name": name, "labels": labels},
            "spec": {"taints": [{"key": "nvidia.com/gpu", "effect": "NoSchedule"}]},
            "status": {"allocatable": {"nvidia.com/gpu": str(gpus)},
                       "conditions": [{"type": "Ready", "status": "True"}]}}


def deployment(image: str, *, gpu: str | None = "1", request: str = "12Gi", limit: str | None = "14Gi",
               ld: str | None = "/usr/local/cuda-12.2/lib64", selector: dict[str, str] | None = None,
               tolerate: bool = True) -> dict[str, Any]:
    limits: dict[str, str] = {}
    if gpu:
        limits["nvidia.com/gpu"] = gpu
    if limit:
        limits["memory"] = limit
    container = {"name": "inference", "image": image,
                 "resources": {"requests": {"memory": request}, "limits": limits},
                 "env": [{"name": "LD_LIBRARY_PATH", "value": ld}] if ld else []}
    spec: dict[str, Any] = {"containers": [container], "nodeSelector": selector or {}}
    if tolerate:
        spec["tolerations"] = [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    return {"metadata": {"name": "claude-inference", "namespace": "llm"},
            "spec": {"template": {"spec": spec}}}


def config(env: list[str], labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {"architecture": "amd64", "os": "linux", "config": {"Env": env, "Labels": labels}}


# ---- nodes --------------------------------------------------------------------------------------------
def test_node_facts_from_gfd_labels() -> None:
    f = node_facts(gpu_node("n1"))
    assert (f.name, f.product, f.driver, f.cuda_driver) == ("n1", "NVIDIA-A10G", "535.104.05", "12.2")
    assert f.compute == (8, 6)
    assert (f.memory_mib, f.gpu_count, f.allocatable, f.ready, f.gfd) == (23028, 4, 4, True, True)
    assert f.data_center is True and f.pool_key == ("NVIDIA-A10G", "535.104.05", "8.6")
    two_part = node_facts(gpu_node("n2", driver="570.26"))
    assert two_part.driver == "570.26", "GFD leaves rev empty for a two-part driver version"


def test_node_without_labels_is_unknown_not_ok() -> None:
    bare = {"metadata": {"name": "bare"}, "status": {"allocatable": {"nvidia.com/gpu": "8"}}}
    f = node_facts(bare)
    assert f.driver is None and f.compute is None and f.is_gpu_node and not f.gfd
    cpu = node_facts({"metadata": {"name": "cpu"}, "status": {"allocatable": {"cpu": "8"}}})
    assert not cpu.is_gpu_node
    broken = gpu_node("b")
    broken["metadata"]["labels"]["nvidia.com/cuda.driver.minor"] = "x1"
    f = node_facts(broken)
    assert f.driver is None and f.problems and "not a version number" in f.problems[0]


# ---- images -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "expected"), [
    ("sm_80 sm_86 compute_90", ("sm_80", "sm_86", "compute_90")),
    ("7.0 7.5 8.0 8.6 9.0+PTX", ("sm_70", "sm_75", "sm_80", "sm_86", "sm_90", "compute_90")),
    ("8.0;8.6;9.0a", ("sm_80", "sm_86", "sm_90a")),
    ("80-real;90", ("sm_80", "sm_90", "compute_90")),
    ("86-virtual", ("compute_86",)),
    ("SM_86,sm_86", ("sm_86",)),
])
def test_arch_list_spellings(text: str, expected: tuple[str, ...]) -> None:
    assert parse_arch_list(text) == expected


@pytest.mark.parametrize("text", ["", "all", "native", "sm_8", "kepler", "8.6.1", "compute_"])
def test_arch_list_that_names_nothing(text: str) -> None:
    with pytest.raises(ValueError):
        parse_arch_list(text)


def test_image_facts_from_a_config_blob() -> None:
    f = image_facts_from_config("r/a:1", config(
        ["PATH=/bin", "CUDA_VERSION=12.2.2", "NVIDIA_REQUIRE_CUDA=cuda>=12.2 brand=tesla,driver>=470,driver<471",
         "LD_LIBRARY_PATH=/usr/local/cuda-12.2/lib64"], {"ai.llmctl.cuda.arch-list": "sm_80 sm_86"}), "test",
        "sha256:1")
    assert (f.cuda, f.cuda_from, f.arch_list, f.arch_from) == ("12.2.2", "CUDA_VERSION", ("sm_80", "sm_86"),
                                                                "label ai.llmctl.cuda.arch-list")
    assert not f.compat_package and f.digest == "sha256:1" and f.cuda_major_minor == "12.2"


def test_image_facts_fallbacks_and_compat_package() -> None:
    f = image_facts_from_config("r/b:1", {"Env": ["NVIDIA_REQUIRE_CUDA=cuda>=12.4 brand=tesla",
                                                  "TORCH_CUDA_ARCH_LIST=8.0 9.0+PTX",
                                                  "LD_LIBRARY_PATH=/usr/local/cuda/compat/lib:/usr/lib"]}, "engine")
    assert (f.cuda, f.cuda_from) == ("12.4", "NVIDIA_REQUIRE_CUDA"), "docker inspect's Config shape works too"
    assert f.arch_list == ("sm_80", "sm_90", "compute_90") and f.arch_from == "env TORCH_CUDA_ARCH_LIST"
    assert f.compat_package and f.compat_from == "LD_LIBRARY_PATH"
    ngc = image_facts_from_config("r/n:1", config(["CUDA_VERSION=13.0.0", "_CUDA_COMPAT_PATH=/usr/local/cuda/compat"]),
                                  "t")
    assert ngc.compat_package and ngc.arch_list is None
    label = image_facts_from_config("r/l:1", config([], {"ai.llmctl.cuda.compat": "true"}), "t")
    assert label.compat_package and label.cuda is None


def test_image_facts_problems_are_reported_not_guessed() -> None:
    f = image_facts_from_config("r/c:1", config(["CUDA_VERSION=12.x"], {"ai.llmctl.cuda.arch-list": "all",
                                                                          "com.nvidia.cuda.arch": "sm_86"}), "t")
    assert f.cuda is None and f.arch_list == ("sm_86",) and f.arch_from == "label com.nvidia.cuda.arch"
    assert any("CUDA_VERSION" in p for p in f.problems) and any("'all'" in p for p in f.problems)


@pytest.mark.parametrize(("ref", "registry", "repo", "reference"), [
    ("nginx:1", "docker.io", "library/nginx", "1"),
    ("nginx", "docker.io", "library/nginx", "latest"),
    ("llm/app:v1", "docker.io", "llm/app", "v1"),
    ("127.0.0.1:5000/llm/claude-inference:v1.0.0", "127.0.0.1:5000", "llm/claude-inference", "v1.0.0"),
    ("localhost/x", "localhost", "x", "latest"),
    ("nvcr.io/nvidia/pytorch:24.05-py3", "nvcr.io", "nvidia/pytorch", "24.05-py3"),
    ("r.io/a@sha256:" + "a" * 64, "r.io", "a", "sha256:" + "a" * 64),
])
def test_parse_reference(ref: str, registry: str, repo: str, reference: str) -> None:
    r = parse_reference(ref)
    assert (r.registry, r.repository, r.reference) == (registry, repo, reference)


def test_bad_references_and_loopback() -> None:
    for bad in ("Bad/Image", "x:!", "", "r.io/a@nope"):
        with pytest.raises(RegistryError):
            parse_reference(bad)
    assert is_loopback("127.0.0.1:5000") and is_loopback("localhost:5000") and not is_loopback("r.io:443")


def test_docker_config_credentials(tmp_path: Any) -> None:
    import base64
    import json

    path = tmp_path / "config.json"
    auth = base64.b64encode(b"alice:s3cret").decode()
    path.write_text(json.dumps({"auths": {"https://index.docker.io/v1/": {"auth": auth},
                                          "127.0.0.1:5000": {"auth": auth}, "broken": {"auth": "%%%"}}}))
    assert docker_credentials(path) == {"docker.io": ("alice", "s3cret"), "127.0.0.1:5000": ("alice", "s3cret")}
    assert docker_credentials(tmp_path / "missing.json") == {}


# ---- stack --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("version", "level"), [
    ({"major": "1", "minor": "30", "gitVersion": "v1.30.4"}, Level.OK),
    ({"major": "1", "minor": "27+", "gitVersion": "v1.27.9-eks-5e0fdde"}, Level.OK),
    ({"major": "1", "minor": "24", "gitVersion": "v1.24.17"}, Level.FAIL),
    ({"gitVersion": "v1.25.0"}, Level.OK),
    ({"gitVersion": "weird"}, Level.UNKNOWN),
    (None, Level.UNKNOWN),
])
def test_kubernetes_version(version: dict[str, str] | None, level: Level) -> None:
    assert kube_version_check(version, "refused").verdict.level is level


def ds(name: str, ready: int, desired: int, image: str = "nvcr.io/nvidia/k8s-device-plugin:v0.15.0") -> dict:
    return {"metadata": {"name": name, "namespace": "gpu-operator"},
            "spec": {"template": {"spec": {"containers": [{"image": image}]}}},
            "status": {"desiredNumberScheduled": desired, "numberReady": ready}}


def test_daemonset_checks() -> None:
    ok = {c.subject: c.verdict for c in daemonset_checks([ds("nvidia-device-plugin-daemonset", 4, 4),
                                                          ds("nvidia-dcgm-exporter", 4, 4, "dcgm-exporter:3")])}
    assert ok["device-plugin"].level is Level.OK and "4/4 ready" in ok["device-plugin"].reason
    assert ok["dcgm-exporter"].level is Level.OK
    partial = {c.subject: c.verdict for c in daemonset_checks([ds("plugin", 2, 4)])}
    assert partial["device-plugin"].level is Level.WARN and "2/4" in partial["device-plugin"].reason
    assert partial["dcgm-exporter"].level is Level.WARN
    none = {c.subject: c.verdict for c in daemonset_checks([])}
    assert none["device-plugin"].level is Level.FAIL and "stay Pending" in none["device-plugin"].reason
    forbidden = daemonset_checks(None, "no permission to list daemonsets cluster-wide")
    assert {c.verdict.level for c in forbidden} == {Level.UNKNOWN}


def test_validator_check() -> None:
    assert validator_check([]) is None
    running = {"metadata": {"name": "v1"}, "spec": {"nodeName": "n1"},
               "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}}
    assert validator_check([running]).verdict.level is Level.OK
    stuck = {"metadata": {"name": "v2"}, "spec": {"nodeName": "n2"},
             "status": {"phase": "Pending", "initContainerStatuses": [{"name": "driver-validation", "ready": True},
                                                                      {"name": "cuda-validation", "ready": False}]}}
    bad = validator_check([running, stuck]).verdict
    assert bad.level is Level.FAIL and "v2 on n2: Pending at cuda-validation" in bad.reason


def test_quantities() -> None:
    assert quantity_or_none("12Gi") == 12 * 2**30 and quantity_or_none("500M") == 5e8 and quantity_or_none("1") == 1
    assert quantity_or_none("1e9") == 1e9 and quantity_or_none("100m") == pytest.approx(0.1)
    assert quantity_or_none("12 Gi") is None and quantity_or_none(None) is None and quantity_or_none("Gi") is None


def test_container_checks() -> None:
    img = "r/a:1"
    facts = {img: image_facts_from_config(img, config(["CUDA_VERSION=12.2.2"]), "t")}
    good = container_checks(deployment(img), facts)
    assert [c.verdict.level for c in good] == [Level.OK, Level.OK, Level.OK]
    tight = {c.verdict.code for c in container_checks(deployment(img, limit="13Gi"), facts)}
    assert "memory-buffer" in tight
    nolimit = {c.verdict.code: c.verdict for c in container_checks(deployment(img, limit=None, gpu=None), facts)}
    assert nolimit["no-gpu-limit"].level is Level.FAIL and "no-memory-limit" in nolimit
    c13 = "r/c13:1"
    facts[c13] = image_facts_from_config(c13, config(["CUDA_VERSION=13.0.0"]), "t")
    mismatch = [c.verdict for c in container_checks(deployment(img), facts, {"inference": c13})]
    ld = next(v for v in mismatch if v.code == "ld-library-path-mismatch")
    assert ld.level is Level.WARN and "cuda-13.0" in ld.fix
    cpu = container_checks(deployment("r/cpu:1", gpu=None), {"r/cpu:1": image_facts_from_config("r/cpu:1", {}, "t")})
    assert cpu == [], "a CPU container is not checked"


def test_placement() -> None:
    node = gpu_node("n1", **{"pool": "a10g"})
    assert can_schedule_on(deployment("x")["spec"]["template"]["spec"], node)
    assert not can_schedule_on(deployment("x", tolerate=False)["spec"]["template"]["spec"], node), "GPU taint"
    assert not can_schedule_on(deployment("x", selector={"pool": "h100"})["spec"]["template"]["spec"], node)
    spec = deployment("x")["spec"]["template"]["spec"]
    spec["affinity"] = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "nvidia.com/gpu.product", "operator": "In", "values": ["NVIDIA-H100"]}]}]}}}
    assert not can_schedule_on(spec, node)
    spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"].append(
        {"matchExpressions": [{"key": "nvidia.com/gpu.count", "operator": "Gt", "values": ["2"]}]})
    assert can_schedule_on(spec, node), "terms are ORed"
    lost = copy.deepcopy(node)
    lost["spec"]["taints"].append({"key": "node.kubernetes.io/unreachable", "effect": "NoExecute"})
    # Issue 13: no longer "a passing condition": kube-scheduler puts no new pod on a lost node (its NoSchedule
    # taint, or its Ready=Unknown condition), and the GPU preflight never counted it.
    lost["status"]["conditions"] = [{"type": "Ready", "status": "Unknown"}]
    assert not can_schedule_on(deployment("x")["spec"]["template"]["spec"], lost), "a lost node takes no new pod"
    cpu_node = {"metadata": {"name": "cpu", "labels": {}}, "status": {"allocatable": {"cpu": "8"}}}
    assert not can_schedule_on(deployment("x", tolerate=False)["spec"]["template"]["spec"], cpu_node)


# ---- matrix and gate ------------------------------------------------------------------------------------
def mixed_cluster() -> list[dict[str, Any]]:
    return [gpu_node("a1"), gpu_node("a2"), gpu_node("h1", "NVIDIA-H100-80GB-HBM3", "550.90.07", "9.0", 8),
            {"metadata": {"name": "bare"}, "status": {"allocatable": {"nvidia.com/gpu": "1"}}},
            {"metadata": {"name": "cpu"}, "status": {"allocatable": {"cpu": "4"}}}]


def test_pools_group_by_product_driver_and_compute_capability() -> None:
    pools = pools_of(node_facts(n) for n in mixed_cluster())
    assert [(p.label, p.nodes, p.gpus) for p in pools] == [
        ("NVIDIA-A10G · 535.104.05 · CC 8.6", ("a1", "a2"), 8),
        ("NVIDIA-H100-80GB-HBM3 · 550.90.07 · CC 9.0", ("h1",), 8),
        ("no GFD labels", ("bare",), 1)]


def test_report_matrix_and_exit_codes() -> None:
    ok, hopper = "r/llm:v1", "r/llm:sm90"
    facts = {ok: image_facts_from_config(ok, config(["CUDA_VERSION=12.2.2"], {"ai.llmctl.cuda.arch-list":
                                                                               "sm_80 sm_86 sm_90"}), "t"),
             hopper: image_facts_from_config(hopper, config(["CUDA_VERSION=12.2.2"], {"ai.llmctl.cuda.arch-list":
                                                                                       "sm_90"}), "t")}
    nodes = mixed_cluster()[:3]
    report = build_report("llm", nodes=nodes, deployments=[deployment(ok)], facts=facts)
    assert report.level is Level.OK and report.exit_code == 0
    with_candidate = build_report("llm", nodes=nodes, deployments=[deployment(ok)], facts=facts, candidate=hopper)
    assert with_candidate.exit_code == 2 and [r.candidate for r in with_candidate.images] == [False, True]
    a10g, h100 = (p.key for p in with_candidate.pools)
    assert with_candidate.cell(hopper, a10g).headline.code == "arch-missing"
    assert with_candidate.cell(hopper, h100).level is Level.OK
    unlabelled = build_report("llm", nodes=mixed_cluster(), deployments=[deployment(ok)], facts=facts)
    assert unlabelled.exit_code == 1, "a node without GFD labels makes the report UNKNOWN, not OK"
    one = build_report("llm", nodes=mixed_cluster(), deployments=[deployment(ok)], facts=facts, node_name="h1")
    assert [p.nodes for p in one.pools] == [("h1",)] and one.exit_code == 0
    doc = with_candidate.to_json()
    assert doc["exit"] == 2 and doc["cells"][0]["verdicts"][0]["level"] == "OK"


def test_gate_judges_only_the_nodes_the_deployment_can_use() -> None:
    hopper = "r/llm:sm90"
    facts = image_facts_from_config(hopper, config(["CUDA_VERSION=12.2.2"], {"ai.llmctl.cuda.arch-list": "sm_90"}), "t")
    nodes = mixed_cluster()
    anywhere = gate(deployment("r/llm:v1"), "inference", hopper, nodes, facts)
    assert anywhere.blocked and anywhere.summary.startswith("FAIL on NVIDIA-A10G")
    assert any("no kernel image is available" in line for line in anywhere.lines())
    h100_only = deployment("r/llm:v1", selector={"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"})
    fine = gate(h100_only, "inference", hopper, nodes, facts)
    assert fine.level is Level.OK and not fine.blocked and len(fine.cells) == 1
    nowhere = gate(deployment("r/llm:v1", selector={"pool": "none"}), "inference", hopper, nodes, facts)
    assert nowhere.level is Level.UNKNOWN and "no GPU node matches" in nowhere.summary
